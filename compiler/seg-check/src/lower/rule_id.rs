//! Stable rule ids: `<policy>#<hash>`, from the policy's name and what the
//! rule says, never from where it is written.
//!
//! The hash covers the action, both sets, the arrow, the services and the
//! `when` condition as parsed (spans, quoting and layout ignored), so a rule
//! keeps its id when comments, whitespace, other rules, its position or its
//! file change, and also when its doc comment, owner, reason or expiry date
//! change (those are about the rule, not what it matches). Targets name
//! objects after these ids, so an object keeps its name while its rule does.
//!
//! Collisions are resolved deterministically: two rules of one policy whose
//! hashes share the first 8 hex digits get 16 (or all 64); rules that say
//! exactly the same thing get `-2`, `-3`… in the order of their remaining
//! text (expiry, reason, owner, doc), then of position, which only decides
//! between rules that are identical in every respect.

use seg_syntax::ast;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The id of every rule of one policy, in the policy's order.
pub(crate) fn policy_rule_ids(policy: &ast::PolicyDef) -> Vec<String> {
    let name = &policy.name.node.text;
    let hashes: Vec<String> = policy.rules.iter().map(|r| content_hash(name, r)).collect();
    // How many hex digits each hash needs to stay apart from the others.
    let mut width = vec![8usize; hashes.len()];
    for w in [8usize, 16] {
        let mut by_prefix: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, h) in hashes.iter().enumerate() {
            if width[i] == w {
                by_prefix.entry(&h[..w]).or_default().push(i);
            }
        }
        for group in by_prefix.values() {
            let distinct = group.iter().any(|&i| hashes[i] != hashes[group[0]]);
            if distinct {
                for &i in group {
                    width[i] = if w == 8 { 16 } else { 64 };
                }
            }
        }
    }
    // Identical content: number the copies by their remaining text.
    let mut copies: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, h) in hashes.iter().enumerate() {
        copies.entry(h).or_default().push(i);
    }
    let mut suffix = vec![String::new(); hashes.len()];
    for group in copies.values().filter(|g| g.len() > 1) {
        let mut ordered = group.clone();
        ordered.sort_by_key(|&i| (metadata(&policy.rules[i]), i));
        for (n, &i) in ordered.iter().enumerate().skip(1) {
            suffix[i] = format!("-{}", n + 1);
        }
    }
    hashes
        .iter()
        .enumerate()
        .map(|(i, h)| format!("{name}#{}{}", &h[..width[i]], suffix[i]))
        .collect()
}

/// SHA-256 (hex) of the policy name and the rule's matching content.
fn content_hash(policy: &str, rule: &ast::RuleDef) -> String {
    let content = serde_json::json!({
        "policy": policy,
        "action": rule.action,
        "src": rule.src,
        "arrow": rule.arrow,
        "dst": rule.dst,
        "services": rule.services,
        "when": rule.when,
    });
    let text = canonical(content).to_string();
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The parts of a rule that do not change what it matches.
fn metadata(rule: &ast::RuleDef) -> String {
    let text = serde_json::json!([
        rule.expires.as_ref().map(|e| e.node.to_string()),
        rule.reason.as_ref().map(|r| &r.node),
        rule.owner.as_ref().map(|o| &o.node),
        rule.doc.as_ref().map(|d| &d.node),
    ]);
    text.to_string()
}

/// The serialised AST without spans and without the bare/quoted distinction
/// of names: `{"node": x, "span": …}` becomes `x`, `{"text": t, "quoted": …}`
/// becomes `t`, and every other `span` field is dropped.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(mut map) => {
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            if keys == ["node", "span"] {
                return canonical(map.remove("node").unwrap_or(Value::Null));
            }
            if keys == ["text", "quoted"] {
                return map.remove("text").unwrap_or(Value::Null);
            }
            map.remove("span");
            Value::Object(map.into_iter().map(|(k, v)| (k, canonical(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seg_diag::FileId;

    fn ids(src: &str) -> Vec<String> {
        let file = seg_syntax::parse(FileId(0), src).expect("parses");
        let policy = file
            .items
            .iter()
            .find_map(|i| match i {
                ast::Item::Policy(p) => Some(p),
                _ => None,
            })
            .expect("a policy");
        policy_rule_ids(policy)
    }

    #[test]
    fn ids_ignore_position_layout_quoting_and_metadata() {
        let a = ids("policy p {\n  allow a -> b on tcp/1\n  deny c -> d on any\n}\n");
        let b = ids(
            "// moved around\npolicy p {\n  /// documented\n  deny   c ->\n d on any  reason \"x\" owner \"o\"\n\n  allow \"a\" -> b on tcp/1 expires 2030-01-01\n}\n",
        );
        assert_eq!(a, [b[1].clone(), b[0].clone()]);
        assert!(
            a[0].starts_with("p#") && a[0].len() == "p#".len() + 8,
            "{a:?}"
        );
    }

    #[test]
    fn ids_change_with_what_the_rule_matches_and_with_the_policy() {
        let base = ids("policy p {\n  allow a -> b on tcp/1\n}\n");
        for other in [
            "policy p {\n  deny a -> b on tcp/1\n}\n",
            "policy p {\n  allow a <-> b on tcp/1\n}\n",
            "policy p {\n  allow a -> c on tcp/1\n}\n",
            "policy p {\n  allow a -> b on tcp/2\n}\n",
            "policy p {\n  allow a -> b on tcp/1 when mtls\n}\n",
        ] {
            assert_ne!(ids(other), base, "{other}");
        }
        let q = ids("policy q {\n  allow a -> b on tcp/1\n}\n");
        assert_ne!(
            q[0][2..],
            base[0][2..],
            "the policy name is part of the hash"
        );
    }

    #[test]
    fn identical_rules_are_numbered_by_their_metadata_not_their_position() {
        let a = ids(
            "policy p {\n  allow a -> b on tcp/1 reason \"y\"\n  allow a -> b on tcp/1 reason \"x\"\n}\n",
        );
        let b = ids(
            "policy p {\n  allow a -> b on tcp/1 reason \"x\"\n  allow a -> b on tcp/1 reason \"y\"\n}\n",
        );
        assert_eq!(a[1], b[0]);
        assert_eq!(a[0], b[1]);
        assert_eq!(a[0], format!("{}-2", a[1]));
    }
}
