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

use super::canonical;
use seg_syntax::ast;
use sha2::{Digest, Sha256};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The id of every rule of one policy, in the policy's order.
pub(crate) fn policy_rule_ids(policy: &ast::PolicyDef) -> Vec<String> {
    let name = &policy.name.node.text;
    let hashes: Vec<String> = policy.rules.iter().map(|r| content_hash(name, r)).collect();
    ids_from_hashes(policy, &hashes)
}

/// Rules per share of [`RuleIds`]' work.
const CHUNK: usize = 256;

/// The rule ids of every policy of a project, their hashes (most of the
/// work, and independent rule by rule) computed by every thread that calls
/// [`RuleIds::work`], in shares of [`CHUNK`] rules. The ids are the same
/// whatever the threads and their timing.
pub(crate) struct RuleIds<'a> {
    policies: Vec<&'a ast::PolicyDef>,
    /// Policy index and range of rules, per share.
    shares: Vec<(usize, std::ops::Range<usize>)>,
    next: AtomicUsize,
    done: Mutex<Vec<Option<Vec<String>>>>,
}

impl<'a> RuleIds<'a> {
    /// The policies of `units`, in the order [`super::policies`] lowers them.
    pub fn new(units: &'a [crate::Unit]) -> RuleIds<'a> {
        let policies: Vec<&ast::PolicyDef> = units
            .iter()
            .flat_map(|u| &u.ast.items)
            .filter_map(|item| match item {
                ast::Item::Policy(p) => Some(p),
                _ => None,
            })
            .collect();
        let mut shares = Vec::new();
        for (i, p) in policies.iter().enumerate() {
            let mut start = 0;
            while start < p.rules.len() {
                let end = (start + CHUNK).min(p.rules.len());
                shares.push((i, start..end));
                start = end;
            }
        }
        let done = Mutex::new(shares.iter().map(|_| None).collect());
        RuleIds {
            policies,
            shares,
            next: AtomicUsize::new(0),
            done,
        }
    }

    /// How many rules the policies hold.
    pub fn rules(&self) -> usize {
        self.shares.iter().map(|(_, r)| r.len()).sum()
    }

    /// Hash shares of rules until none is left.
    pub fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.shares.len() {
                return;
            }
            let hashes = self.hash_share(i);
            let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
            done[i] = Some(hashes);
        }
    }

    /// The hashes of the rules of share `i`.
    fn hash_share(&self, i: usize) -> Vec<String> {
        let (p, range) = &self.shares[i];
        let policy = self.policies[*p];
        policy.rules[range.clone()]
            .iter()
            .map(|r| content_hash(&policy.name.node.text, r))
            .collect()
    }

    /// Every policy, in order, with its rule ids (what is left of the hashing
    /// is done here).
    pub fn finish(&self) -> Vec<(&'a ast::PolicyDef, Vec<String>)> {
        self.work();
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let mut hashes: Vec<Vec<String>> = self.policies.iter().map(|_| Vec::new()).collect();
        for (i, (p, _)) in self.shares.iter().enumerate() {
            // Every share is done once the threads that took one have returned.
            let share = done[i].take().unwrap_or_else(|| self.hash_share(i));
            hashes[*p].extend(share);
        }
        self.policies
            .iter()
            .zip(&hashes)
            .map(|(&policy, hashes)| (policy, ids_from_hashes(policy, hashes)))
            .collect()
    }
}

/// The ids of a policy's rules from their content hashes. Hashes that share
/// a prefix, and copies, are next to each other once sorted: each group is a
/// run of that order (one sort instead of a map of groups per pass).
fn ids_from_hashes(policy: &ast::PolicyDef, hashes: &[String]) -> Vec<String> {
    let name = &policy.name.node.text;
    let mut order: Vec<usize> = (0..hashes.len()).collect();
    order.sort_unstable_by(|&a, &b| hashes[a].cmp(&hashes[b]).then(a.cmp(&b)));
    // The runs of `order` whose hashes agree on their first `digits`.
    let prefix = |i: usize, digits: usize| &hashes[i][..digits.min(hashes[i].len())];
    let runs = |digits: usize| order.chunk_by(move |&a, &b| prefix(a, digits) == prefix(b, digits));
    // How many hex digits each hash needs to stay apart from the others: a
    // group sharing a prefix but not the whole hash gets 16, then 64. (The
    // hashes sharing 16 digits share 8, so a run has one width.)
    let mut width = vec![8usize; hashes.len()];
    for w in [8usize, 16] {
        for run in runs(w) {
            let (first, last) = (run[0], run[run.len() - 1]);
            if width[first] == w && hashes[first] != hashes[last] {
                for &i in run {
                    width[i] = if w == 8 { 16 } else { 64 };
                }
            }
        }
    }
    // Identical content: number the copies by their remaining text.
    let mut suffix = vec![String::new(); hashes.len()];
    for run in runs(usize::MAX).filter(|r| r.len() > 1) {
        let mut ordered = run.to_vec();
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
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(content_text(policy, rule));
    let mut hex = String::with_capacity(2 * digest.len());
    for b in digest {
        hex.push(HEX[usize::from(b >> 4)] as char);
        hex.push(HEX[usize::from(b & 15)] as char);
    }
    hex
}

/// What a rule's id hashes, as canonical JSON ([`canonical`]).
fn content_text(policy: &str, rule: &ast::RuleDef) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Content<'a> {
        policy: &'a str,
        action: &'a ast::Spanned<ast::Action>,
        src: &'a ast::SetExpr,
        arrow: &'a ast::Spanned<ast::Arrow>,
        dst: &'a ast::SetExpr,
        services: &'a [ast::ServiceRef],
        when: &'a Option<ast::Cond>,
    }
    canonical::to_vec(&Content {
        policy,
        action: &rule.action,
        src: &rule.src,
        arrow: &rule.arrow,
        dst: &rule.dst,
        services: &rule.services,
        when: &rule.when,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use seg_diag::FileId;
    use serde_json::Value;

    /// The definition of the hashed text: the rule serialised to a
    /// `serde_json::Value`, canonicalised, written compactly.
    fn reference_text(policy: &str, rule: &ast::RuleDef) -> String {
        let content = serde_json::json!({
            "policy": policy,
            "action": rule.action,
            "src": rule.src,
            "arrow": rule.arrow,
            "dst": rule.dst,
            "services": rule.services,
            "when": rule.when,
        });
        reference_canonical(content).to_string()
    }

    /// The serialised AST without spans and without the bare/quoted distinction
    /// of names: `{"node": x, "span": …}` becomes `x`, `{"text": t, "quoted": …}`
    /// becomes `t`, and every other `span` field is dropped.
    fn reference_canonical(value: Value) -> Value {
        match value {
            Value::Object(mut map) => {
                let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                if keys == ["node", "span"] {
                    return reference_canonical(map.remove("node").unwrap_or(Value::Null));
                }
                if keys == ["text", "quoted"] {
                    return map.remove("text").unwrap_or(Value::Null);
                }
                map.remove("span");
                Value::Object(
                    map.into_iter()
                        .map(|(k, v)| (k, reference_canonical(v)))
                        .collect(),
                )
            }
            Value::Array(items) => {
                Value::Array(items.into_iter().map(reference_canonical).collect())
            }
            other => other,
        }
    }

    /// Shapes the syntax tree does not have today (a `span` before other
    /// fields, variants around objects and arrays, repeated map keys) are
    /// canonicalised as the `Value`-built text is.
    #[test]
    fn uncommon_shapes_match_the_value_built_text() {
        #[derive(serde::Serialize)]
        struct Mid {
            a: u8,
            span: (u8, u8),
            b: &'static str,
        }
        #[derive(serde::Serialize)]
        enum E {
            Tuple(u8, Mid),
            Struct { span: u8, x: Vec<Mid> },
            Newtype(Mid),
            Unit,
        }
        let value = (
            vec![
                E::Tuple(
                    1,
                    Mid {
                        a: 2,
                        span: (3, 4),
                        b: "q\"",
                    },
                ),
                E::Struct {
                    span: 5,
                    x: vec![Mid {
                        a: 6,
                        span: (7, 8),
                        b: "",
                    }],
                },
                E::Newtype(Mid {
                    a: 9,
                    span: (0, 0),
                    b: "n",
                }),
                E::Unit,
            ],
            [("k", 1), ("k", 2), ("span", 3), ("z", 4)]
                .into_iter()
                .collect::<Vec<_>>(),
        );
        let map: Vec<std::collections::BTreeMap<&str, u8>> =
            vec![[("span", 1), ("a", 2)].into_iter().collect()];
        for text in [
            String::from_utf8(canonical::to_vec(&value)).expect("UTF-8"),
            String::from_utf8(canonical::to_vec(&map)).expect("UTF-8"),
        ] {
            let reference = if text.starts_with("[[") {
                reference_canonical(serde_json::to_value(&value).expect("value"))
            } else {
                reference_canonical(serde_json::to_value(&map).expect("value"))
            };
            assert_eq!(text, reference.to_string());
        }
    }

    /// Hashed in shares on several threads, the ids are each policy's own,
    /// copies far apart in a policy (in different shares) numbered as one.
    #[test]
    fn ids_hashed_on_several_threads_are_the_policies_own() {
        let mut units = Vec::new();
        for (f, policies) in [(0, ["a", "b"]), (1, ["c", "d"])] {
            let mut src = String::new();
            for (k, name) in policies.iter().enumerate() {
                src += &format!("policy {name} {{\n");
                for i in 0..(CHUNK * 2 + 17) * k + 3 {
                    src += &format!("  allow h{} -> h{} on tcp/{}\n", i % 7, i % 5, i % 30 + 1);
                }
                src += "}\n";
            }
            units.push(crate::Unit {
                file: FileId(f),
                path: format!("p{f}.seg"),
                module: None,
                ast: seg_syntax::parse(FileId(f), &src).expect("parses").into(),
            });
        }
        let expected: Vec<Vec<String>> = units
            .iter()
            .flat_map(|u| &u.ast.items)
            .filter_map(|i| match i {
                ast::Item::Policy(p) => Some(policy_rule_ids(p)),
                _ => None,
            })
            .collect();
        assert!(
            expected[1].iter().any(|id| id.ends_with("-2")),
            "copies numbered"
        );
        for threads in [1, 2, 3] {
            let rule_ids = RuleIds::new(&units);
            std::thread::scope(|s| {
                for _ in 1..threads {
                    s.spawn(|| rule_ids.work());
                }
            });
            let finished: Vec<Vec<String>> =
                rule_ids.finish().into_iter().map(|(_, ids)| ids).collect();
            assert_eq!(finished, expected, "{threads} threads");
        }
    }

    /// Crafted hashes that share 8 and 16 digits, and copies with other
    /// metadata: the ids are those of the grouping by maps.
    #[test]
    fn ids_from_sorted_hashes_are_those_of_the_grouping_by_maps() {
        let mut src = String::from("policy p {\n");
        for i in 0..40 {
            src += &format!("  allow a -> b on tcp/{} reason \"r{}\"\n", i + 1, i % 3);
        }
        src += "}\n";
        let file = seg_syntax::parse(FileId(0), &src).expect("parses");
        let Some(ast::Item::Policy(policy)) = file.items.first() else {
            panic!("a policy");
        };
        let mut seed: u64 = 7;
        let mut pick = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..300 {
            let rules = 1 + pick(40) as usize;
            let hashes: Vec<String> = (0..rules)
                .map(|_| {
                    format!(
                        "{}{}{}",
                        ["aaaaaaaa", "aaaaaaab", "bbbbbbbb"][pick(3) as usize],
                        ["00000000", "00000001"][pick(2) as usize],
                        ["c".repeat(48), "d".repeat(48)][pick(2) as usize],
                    )
                })
                .collect();
            assert_eq!(
                ids_from_hashes(policy, &hashes),
                reference_ids(policy, &hashes),
                "{hashes:?}"
            );
        }
    }

    /// The grouping by maps, as it was first written: the reference.
    fn reference_ids(policy: &ast::PolicyDef, hashes: &[String]) -> Vec<String> {
        use std::collections::BTreeMap;
        let name = &policy.name.node.text;
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

    /// Every rule of every `.seg` file of the repository (examples, test
    /// cases, fuzz seeds) and some shapes written here: the streamed text
    /// is byte for byte the `Value`-built one.
    #[test]
    fn streamed_text_is_the_value_built_text() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut texts: Vec<String> = vec![
            "policy \"q p\" {\n  allow \"a\\\"b\" -> identities where labels.app == \"x\" and tier >= 2 on tcp/1-9, udp/53 when mtls and time in 09:00-17:00 mon-fri\n  deny 10.0.0.0/8 <-> [x, y] on any\n}\n".into(),
        ];
        let mut dirs = vec![
            root.join("examples"),
            root.join("tests"),
            root.join("fuzz/seeds"),
            root.join("stdlib"),
        ];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "seg") {
                    texts.extend(std::fs::read_to_string(&path));
                }
            }
        }
        let mut rules = 0;
        for text in &texts {
            let Ok(file) = seg_syntax::parse(FileId(0), text) else {
                continue;
            };
            for item in &file.items {
                let ast::Item::Policy(p) = item else { continue };
                for rule in &p.rules {
                    let name = &p.name.node.text;
                    let streamed = String::from_utf8(content_text(name, rule)).expect("UTF-8");
                    assert_eq!(streamed, reference_text(name, rule));
                    rules += 1;
                }
            }
        }
        assert!(rules > 150, "only {rules} rules found");
    }
}
