//! What the AWS and GCP dialects share: which rules reach the lowering, how a
//! set of endpoints becomes peers, provenance text, stable hashes, the file
//! header and the fail-closed reports.
//!
//! Peers: an identity the provider manages is named by its group or service
//! account; every other member identity and every network is named by
//! addresses (canonical CIDRs, from [`CidrSet::to_cidrs`]). Hence a peer set is
//! exact for identity flows and address flows alike as long as no two
//! identities share an address (W0101).

use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::backend::{Artifact, Bugs, Emission};
use seg_ir::capability::{Approximation, ApproximationKind};
use seg_ir::net::CidrSet;
use seg_ir::objects::Object;
use seg_ir::program::{
    Action, Condition, EndpointSet, Identity, IdentityId, Program, Rule, RuleId,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// `seg 0.1.0`.
pub const TOOL: &str = concat!("seg ", env!("CARGO_PKG_VERSION"));

/// The one-line header every output file carries: the hash of the program's
/// meaning for the target (`seg_ir::meaning::digest`), never the sources'.
pub fn header(meaning: &str) -> String {
    format!("{TOOL} | meaning sha256:{meaning} | generated: do not edit")
}

/// Serialise one output file of `target` (pretty JSON and a final newline)
/// into the emission, with the objects it holds.
pub fn push_json(
    target: &str,
    emission: &mut Emission,
    path: &str,
    value: &impl serde::Serialize,
    bugs: &mut Bugs,
) {
    let written = serde_json::to_value(value).and_then(|v| {
        let mut contents = serde_json::to_vec_pretty(&v)?;
        contents.push(b'\n');
        Ok((v, contents))
    });
    match written {
        Ok((value, contents)) => {
            emission.objects.extend(objects_in(path, &value));
            emission.artifacts.push(Artifact {
                path: path.to_string(),
                contents,
            });
        }
        Err(e) => bugs.push(format!("cannot serialise `{target}/{path}`: {e}")),
    }
}

/// The objects a file describes: Terraform resources (`resource.<type>.<name>`,
/// named `<type>.<name>`), CloudFormation resources (`Resources.<logical id>`,
/// of their `Type`) and the items of a compute `firewallList` (by `name`).
/// Each digest covers the object's JSON, which never holds the file header.
fn objects_in(path: &str, file: &Value) -> Vec<Object> {
    let json = |v: &Value| serde_json::to_vec(v).unwrap_or_default();
    let mut out = Vec::new();
    if let Some(Value::Object(types)) = file.get("resource") {
        for (kind, resources) in types {
            for (name, body) in resources.as_object().into_iter().flatten() {
                out.push(Object::new(
                    kind,
                    format!("{kind}.{name}"),
                    path,
                    &json(body),
                ));
            }
        }
    }
    if let Some(Value::Object(resources)) = file.get("Resources") {
        for (name, body) in resources {
            let kind = body
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("resource");
            out.push(Object::new(kind, name, path, &json(body)));
        }
    }
    if file.get("kind").and_then(Value::as_str) == Some("compute#firewallList") {
        for item in file
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
            out.push(Object::new("firewall", name, path, &json(item)));
        }
    }
    out
}

/// The first `len` hex digits of the SHA-256 of `parts` (each length-prefixed,
/// so `["ab", "c"]` and `["a", "bc"]` differ).
pub fn hash_hex(parts: &[&str], len: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out.truncate(len.min(64));
    out
}

/// How one endpoint set is named on a provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peers {
    /// Member identities the provider manages (named by group / service account).
    pub managed: BTreeSet<IdentityId>,
    /// The set's networks and the addresses of its other member identities.
    pub cidrs: CidrSet,
}

/// Split `set` into managed identities and addresses (see the module docs).
pub fn peers(program: &Program, set: &EndpointSet, managed: impl Fn(&Identity) -> bool) -> Peers {
    let mut out = Peers {
        managed: BTreeSet::new(),
        cidrs: set.networks.clone(),
    };
    let mut addrs = Vec::new();
    for &id in &set.identities {
        let Some(identity) = program.identities.get(id.0 as usize) else {
            continue;
        };
        if managed(identity) {
            out.managed.insert(id);
        } else {
            addrs.extend(identity.addresses.iter());
        }
    }
    if !addrs.is_empty() {
        out.cidrs = out.cidrs.union(&CidrSet::from_nets(addrs));
    }
    out
}

/// The cloud instance metadata addresses (AWS IMDS over IPv4 and IPv6; GCP's
/// metadata server is the IPv4 one): no security group or VPC firewall rule
/// filters traffic to them.
pub fn metadata_service() -> CidrSet {
    let nets = [
        ipnet::IpNet::V4(std::net::Ipv4Addr::new(169, 254, 169, 254).into()),
        ipnet::IpNet::V6(std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254).into()),
    ];
    CidrSet::from_nets(&nets)
}

/// Whether some deny names the metadata service as a destination.
pub fn denies_metadata(program: &Program) -> bool {
    let metadata = metadata_service();
    let cover = Cover::new(&metadata);
    program.rules.iter().any(|r| {
        r.action == Action::Deny
            && (r.dst.networks.overlaps(&metadata)
                || r.dst.identities.iter().any(|i| {
                    program
                        .identities
                        .get(i.0 as usize)
                        .is_some_and(|i| covered(i, &cover))
                }))
    })
}

/// A [`CidrSet`] as sorted disjoint ranges per family, for many membership
/// questions (a binary search instead of a set operation per question).
pub struct Cover {
    /// IPv4 then IPv6 ranges, as numbers.
    families: [Vec<(u128, u128)>; 2],
}

/// The family (0 = IPv4) and number of an address.
fn key(a: std::net::IpAddr) -> (usize, u128) {
    match a {
        std::net::IpAddr::V4(v) => (0, u128::from(u32::from(v))),
        std::net::IpAddr::V6(v) => (1, u128::from(v)),
    }
}

impl Cover {
    pub fn new(set: &CidrSet) -> Cover {
        let mut families: [Vec<(u128, u128)>; 2] = [Vec::new(), Vec::new()];
        for (a, b) in set.ranges() {
            let ((f, lo), (_, hi)) = (key(a), key(b));
            families[f].push((lo, hi));
        }
        for f in &mut families {
            f.sort_unstable();
        }
        Cover { families }
    }

    /// Whether every address of `net` is in the set.
    pub fn contains_net(&self, net: &ipnet::IpNet) -> bool {
        let ((f, lo), (_, hi)) = (key(net.network()), key(net.broadcast()));
        let ranges = &self.families[f];
        let i = ranges.partition_point(|&(start, _)| start <= lo);
        i.checked_sub(1).is_some_and(|i| ranges[i].1 >= hi)
    }
}

/// Whether every address of the identity lies in the set (false without addresses).
pub fn covered(identity: &Identity, cidrs: &Cover) -> bool {
    !identity.addresses.is_empty() && identity.addresses.iter().all(|n| cidrs.contains_net(n))
}

/// Address families an identity's traffic can use: those of its addresses,
/// both when it has none (its addresses are unknown).
pub fn families(identity: &Identity) -> (bool, bool) {
    if identity.addresses.is_empty() {
        return (true, true);
    }
    let v4 = identity
        .addresses
        .iter()
        .any(|n| matches!(n, ipnet::IpNet::V4(_)));
    let v6 = identity
        .addresses
        .iter()
        .any(|n| matches!(n, ipnet::IpNet::V6(_)));
    (v4, v6)
}

/// The fail-closed choices made while lowering for one provider: each is a
/// warning (once per rule and reason) and an entry of the build report.
pub struct Narrowings {
    target: &'static str,
    seen: BTreeSet<(RuleId, String)>,
    approximations: Vec<Approximation>,
}

impl Narrowings {
    pub fn new(target: &'static str) -> Self {
        Narrowings {
            target,
            seen: BTreeSet::new(),
            approximations: Vec::new(),
        }
    }

    /// What the report lists, in the order met.
    pub fn into_approximations(self) -> Vec<Approximation> {
        self.approximations
    }

    /// Whether the rule is lowered, as an unconditional rule. The capability
    /// pass leaves only unconditional rules for these targets; anything else
    /// is met fail closed: an allow is left out, a deny applies unconditionally.
    pub fn lowered(&mut self, rule: &Rule, diags: &mut Diagnostics) -> bool {
        if rule.condition == Condition::True {
            return true;
        }
        let (target, label) = (self.target, &rule.provenance.label);
        let allow = rule.action == Action::Allow;
        let (kind, reason) = if allow {
            (ApproximationKind::Omitted, "it has a runtime condition")
        } else {
            (
                ApproximationKind::DenyWidened,
                "it has a runtime condition: applied unconditionally",
            )
        };
        if !self.first(rule.id, reason) {
            return !allow;
        }
        diags.push(if allow {
            Diagnostic::warning(Code::RuleOmitted, format!("rule omitted on `{target}`: {reason}"))
                .with_primary(rule.provenance.origin, format!("omitted on `{target}`"))
                .with_note(format!("`{target}` enforces no runtime condition; rule `{label}` is left out (fail closed)"))
        } else {
            Diagnostic::warning(Code::DenyWidened, format!("deny applied unconditionally on `{target}`"))
                .with_primary(rule.provenance.origin, format!("widened on `{target}`"))
                .with_note(format!("`{target}` enforces no runtime condition; deny `{label}` holds always (fail closed)"))
        });
        self.approximations
            .push(Approximation::of(target, rule, kind, reason));
        !allow
    }

    /// An allow loses the flows `what` (e.g. "sctp port ranges"): W0402.
    pub fn allow(&mut self, program: &Program, rule: RuleId, what: &str, diags: &mut Diagnostics) {
        let target = self.target;
        let Some(rule) = program.rules.get(rule.0 as usize) else {
            return;
        };
        if !self.first(rule.id, what) {
            return;
        }
        diags.push(
            Diagnostic::warning(Code::RuleNarrowed, format!("rule narrowed on `{target}`: cannot express {what}"))
                .with_primary(rule.provenance.origin, format!("narrowed on `{target}`"))
                .with_note(format!("`{target}` has no way to allow {what}; rule `{}` allows the rest (fail closed)", rule.provenance.label))
                .with_help("list the protocols and ports the rule needs instead of a range the provider cannot hold"),
        );
        self.approximations.push(Approximation::of(
            target,
            rule,
            ApproximationKind::Narrowed,
            format!("cannot express {what}"),
        ));
    }

    /// A deny covers more than written (`what`): W0403.
    pub fn deny(&mut self, program: &Program, rule: RuleId, what: &str, diags: &mut Diagnostics) {
        let target = self.target;
        let Some(rule) = program.rules.get(rule.0 as usize) else {
            return;
        };
        if !self.first(rule.id, what) {
            return;
        }
        diags.push(
            Diagnostic::warning(
                Code::DenyWidened,
                format!("deny widened on `{target}`: {what}"),
            )
            .with_primary(rule.provenance.origin, format!("widened on `{target}`"))
            .with_note(format!(
                "deny `{}` covers more on `{target}` than written (fail closed)",
                rule.provenance.label
            ))
            .with_help("narrow the deny's services if this traffic must stay open"),
        );
        self.approximations.push(Approximation::of(
            target,
            rule,
            ApproximationKind::DenyWidened,
            what,
        ));
    }

    /// Whether `(rule, reason)` is met for the first time.
    fn first(&mut self, rule: RuleId, reason: &str) -> bool {
        self.seen.insert((rule, reason.to_string()))
    }
}

/// The rules' ids (`ledger-access#e54f28f4`: never positions or lines, so
/// the text changes only with meaning), then the doc comment or reason of a lone rule; each
/// item passed through `clean`, joined with `; `, cut to `limit` characters
/// with a `(+N more)` tail when rules had to be left out of the text.
pub fn provenance_text(
    program: &Program,
    rules: &[RuleId],
    limit: usize,
    clean: impl Fn(&str) -> String,
) -> String {
    let items: Vec<String> = rules
        .iter()
        .filter_map(|r| program.rules.get(r.0 as usize))
        .map(|r| clean(&r.provenance.id))
        .collect();
    let mut text = String::from("seg:");
    let mut used = 0;
    for (i, item) in items.iter().enumerate() {
        let rest = items.len() - i - 1;
        let tail = if rest > 0 {
            format!(" (+{rest} more)").len()
        } else {
            0
        };
        let sep = if i == 0 { " " } else { "; " };
        if text.chars().count() + sep.len() + item.chars().count() + tail > limit {
            break;
        }
        text.push_str(sep);
        text.push_str(item);
        used += 1;
    }
    if used < items.len() {
        let more = format!(" (+{} more)", items.len() - used);
        truncate_chars(&mut text, limit.saturating_sub(more.len()));
        text.push_str(&more);
    } else if let [one] = rules
        && let Some(rule) = program.rules.get(one.0 as usize)
        && let Some(note) = rule
            .provenance
            .doc
            .as_deref()
            .or(rule.provenance.reason.as_deref())
    {
        let note = clean(note);
        let room = limit.saturating_sub(text.chars().count() + 3);
        if room >= 8 && !note.trim().is_empty() {
            text.push_str(" - ");
            let mut note = note.trim().to_string();
            if note.chars().count() > room {
                truncate_chars(&mut note, room.saturating_sub(3));
                note.push_str("...");
            }
            text.push_str(&note);
        }
    }
    truncate_chars(&mut text, limit);
    text
}

/// Keep at most `n` characters.
pub fn truncate_chars(s: &mut String, n: usize) {
    if let Some((i, _)) = s.char_indices().nth(n) {
        s.truncate(i);
    }
}

/// Terraform template escapes (`${` → `$${`, `%{` → `%%{`): the text stays
/// literal, so no input can become an interpolation or a directive.
pub fn tf_literal(s: &str) -> String {
    s.replace("${", "$${").replace("%{", "%%{")
}

/// Replace every character `ok` rejects: whitespace by a space, anything else
/// by `_`; runs of spaces collapse to one.
pub fn restrict_chars(s: &str, ok: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if ok(c) {
            c
        } else if c.is_whitespace() {
            ' '
        } else {
            '_'
        };
        if c == ' ' && out.ends_with(' ') {
            continue;
        }
        out.push(c);
    }
    out
}

/// Lowercase ASCII letters, digits and single `sep`s from `s`, at most `max`
/// characters, trimmed of `sep` at both ends.
pub fn slug(s: &str, sep: char, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(sep) {
            out.push(sep);
        }
        if out.len() >= max {
            break;
        }
    }
    out.truncate(max);
    out.trim_matches(sep).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_length_prefixed_and_stable() {
        assert_ne!(hash_hex(&["ab", "c"], 16), hash_hex(&["a", "bc"], 16));
        assert_eq!(hash_hex(&["x"], 8).len(), 8);
        assert_eq!(hash_hex(&["x"], 8), hash_hex(&["x"], 8));
    }

    #[test]
    fn cover_answers_like_the_set() {
        let nets: Vec<ipnet::IpNet> = [
            "10.0.0.0/24",
            "10.0.2.0/23",
            "fd00::/64",
            "255.255.255.255/32",
        ]
        .iter()
        .map(|n| n.parse().expect("net"))
        .collect();
        let set = CidrSet::from_nets(&nets);
        let cover = Cover::new(&set);
        for probe in [
            "10.0.0.0/24",
            "10.0.0.128/25",
            "10.0.1.0/24",
            "10.0.2.0/23",
            "10.0.3.255/32",
            "10.0.0.0/22",
            "fd00::1/128",
            "fd00::/63",
            "0.0.0.0/0",
            "::/0",
            "255.255.255.255/32",
            "::ffff:10.0.0.1/128",
        ] {
            let n: ipnet::IpNet = probe.parse().expect("net");
            assert_eq!(
                cover.contains_net(&n),
                set.contains_net(&n),
                "contains {probe}"
            );
        }
    }

    #[test]
    fn terraform_templates_stay_literal() {
        assert_eq!(tf_literal("a${b}"), "a$${b}");
        assert_eq!(tf_literal("%{if x}"), "%%{if x}");
        assert_eq!(tf_literal("$${x"), "$$${x");
        assert_eq!(tf_literal("plain $ { %"), "plain $ { %");
    }

    #[test]
    fn slugs_and_restricted_text() {
        assert_eq!(slug("Payments API/../x\n", '-', 63), "payments-api-x");
        assert_eq!(slug("---", '-', 10), "");
        assert_eq!(slug("ab\u{430}cd", '-', 10), "ab-cd");
        assert_eq!(
            restrict_chars("a ->\"b\"\n\tc", |c| c.is_ascii_alphanumeric() || c == ' '),
            "a ___b_ c"
        );
        let mut s = "héllo".to_string();
        truncate_chars(&mut s, 2);
        assert_eq!(s, "hé");
    }
}
