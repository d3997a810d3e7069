//! AWS security groups: which groups exist, what they are called, and how
//! the rules of one identity fit the per-group quota.
//!
//! Input: each managed identity's rules ([`super::plan`]) and the options.
//! Output: the physical [`Group`]s, or E0403 when an identity needs more
//! groups than an interface may carry (or an existing group, which seg cannot
//! split, more rules than the quota).
//!
//! Quota: at most `max_rules_per_group` inbound and as many outbound rules
//! per group, counted separately for IPv4 and IPv6; a group reference counts
//! for both. With CloudFormation one outbound IPv4 slot holds the
//! "match nothing" placeholder. A created group that needs more rules spills
//! into `-part2`, `-part3`... groups, all meant for the same instances.
//!
//! Names (group name, Terraform label, CloudFormation logical id) are stable,
//! injective and within AWS's character sets: readable when the identity name
//! allows it, else a cleaned prefix plus a hash of the name.

use super::plan::{IdentityRules, SgRule};
use crate::common::{TOOL, hash_hex, restrict_chars, slug, truncate_chars};
use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::backend::{AwsFormat, AwsOptions};
use seg_ir::program::{Identity, IdentityId, Program};
use std::collections::{BTreeMap, BTreeSet};

/// Characters AWS accepts in VPC security group names and descriptions
/// (`&` left out: some rule descriptions reject it).
pub fn aws_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=;{}!$*".contains(c)
}

/// AWS's length limit for names and descriptions.
pub const MAX_TEXT: usize = 255;

/// How seg refers to one identity in labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labels {
    /// Terraform label base: `[a-z0-9_]`, e.g. `payments_api`.
    pub tf: String,
    /// CloudFormation logical id base: `[A-Za-z0-9]`, e.g. `PaymentsApi`.
    pub cfn: String,
}

/// A group seg creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub name: String,
    pub description: String,
    /// `aws_security_group.<tf>`.
    pub tf: String,
    /// CloudFormation logical id.
    pub cfn: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupRef {
    Created(Created),
    /// An existing group id from the inventory (`sg-…`).
    Existing(String),
}

/// One physical security group and its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub owner: IdentityId,
    /// 0 for an identity's first group; peers reference the first group.
    pub part: usize,
    pub group: GroupRef,
    pub labels: Labels,
    pub ingress: Vec<SgRule>,
    pub egress: Vec<SgRule>,
}

/// Split `rules` into bins (first fit, in order) under the limits.
///
/// Weights are (1, 0), (0, 1) or (1, 1) and bins only fill, so the first bin
/// with room for a weight never moves back: one cursor per weight makes first
/// fit linear instead of rules × bins.
fn pack(rules: Vec<SgRule>, limit4: usize, limit6: usize) -> Vec<Vec<SgRule>> {
    let mut bins: Vec<(usize, usize, Vec<SgRule>)> = Vec::new();
    let mut first = [0usize; 3];
    for rule in rules {
        let (w4, w6) = rule.weight();
        let cursor = &mut first[usize::from(w4 > 0) + 2 * usize::from(w6 > 0) - 1];
        while bins
            .get(*cursor)
            .is_some_and(|(a, b, _)| a + w4 > limit4 || b + w6 > limit6)
        {
            *cursor += 1;
        }
        if *cursor == bins.len() {
            bins.push((0, 0, Vec::new()));
        }
        let bin = &mut bins[*cursor];
        bin.0 += w4;
        bin.1 += w6;
        bin.2.push(rule);
    }
    bins.into_iter().map(|b| b.2).collect()
}

/// How the rules of the managed identities fit the quotas, refused ones
/// included: the facts behind the build report, and behind E0403's summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fit {
    pub identities: usize,
    /// Groups needed at `max_rules_per_group`, spill-over parts included.
    pub groups: usize,
    pub inbound: usize,
    pub outbound: usize,
    /// Identities whose rules do not fit one group.
    pub over_one_group: usize,
    /// Identities refused with E0403.
    pub refused: usize,
}

/// Rules per address family: (IPv4, IPv6).
fn count(rules: &[SgRule]) -> (usize, usize) {
    rules.iter().fold((0, 0), |(a, b), r| {
        let (x, y) = r.weight();
        (a + x, b + y)
    })
}

/// The physical groups of every managed identity, in inventory order, and
/// how the rules fit.
pub fn build(
    program: &Program,
    rules: BTreeMap<IdentityId, IdentityRules>,
    options: &AwsOptions,
    diags: &mut Diagnostics,
) -> (Vec<Group>, Fit) {
    let max = options.max_rules_per_group;
    let placeholder = usize::from(options.formats.contains(&AwsFormat::CloudFormation));
    let labels = labels(program, rules.keys().copied());
    let names = group_names(program, rules.keys().copied());
    let mut out = Vec::new();
    let mut fit = Fit::default();
    for (id, r) in rules {
        let identity = program.identity(id);
        fit.identities += 1;
        fit.inbound += r.ingress.len();
        fit.outbound += r.egress.len();
        let (in4, in6) = count(&r.ingress);
        let (out4, out6) = count(&r.egress);
        let inbound = pack(r.ingress, max, max);
        let outbound = pack(r.egress, max.saturating_sub(placeholder), max);
        let parts = inbound.len().max(outbound.len()).max(1);
        fit.groups += parts;
        fit.over_one_group += usize::from(parts > 1);
        let counts = format!(
            "inbound: {in4} IPv4 and {in6} IPv6 rules; outbound: {out4} IPv4 and {out6} IPv6 rules{}",
            if placeholder > 0 {
                " plus the CloudFormation placeholder"
            } else {
                ""
            }
        );
        let existing = identity.aws.as_ref().and_then(|a| a.security_group.clone());
        if let Some(sg) = &existing
            && parts > 1
        {
            diags.push(
                Diagnostic::error(Code::TargetQuotaExceeded, format!("security group `{sg}` needs more than {max} rules in one direction"))
                    .with_primary(identity.origin, format!("group of `{}`", identity.name))
                    .with_note(counts)
                    .with_note(format!("AWS allows {max} rules per group, direction and address family (`max-rules-per-group`); a group reference counts for IPv4 and IPv6"))
                    .with_help("let seg create the groups (`aws: {}`) so the rules can spread over several groups, or narrow the rules"),
            );
            fit.refused += 1;
            continue;
        }
        if parts > options.max_groups_per_interface {
            let name = names.get(&id).map_or("", String::as_str);
            diags.push(
                Diagnostic::error(Code::TargetQuotaExceeded, format!("identity `{}` needs {parts} security groups", identity.name))
                    .with_primary(identity.origin, format!("needs {parts} groups"))
                    .with_note(format!("group `{name}` would hold {counts}"))
                    .with_note(format!(
                        "at most {max} rules fit one group per direction and address family, and an interface carries at most {} groups (`max-groups-per-interface`)",
                        options.max_groups_per_interface
                    ))
                    .with_help("merge rules into wider networks or port ranges, or raise the quotas in seg.toml after raising them in AWS"),
            );
            fit.refused += 1;
            continue;
        }
        let l = labels.get(&id).cloned().unwrap_or_else(|| Labels {
            tf: "x".into(),
            cfn: "X".into(),
        });
        let mut inbound = inbound.into_iter();
        let mut outbound = outbound.into_iter();
        for part in 0..parts {
            let group = match &existing {
                Some(sg) => GroupRef::Existing(sg.clone()),
                None => GroupRef::Created(created(
                    identity,
                    names.get(&id).map_or("seg", String::as_str),
                    &l,
                    part,
                    parts,
                )),
            };
            out.push(Group {
                owner: id,
                part,
                group,
                labels: l.clone(),
                ingress: inbound.next().unwrap_or_default(),
                egress: outbound.next().unwrap_or_default(),
            });
        }
    }
    (out, fit)
}

fn created(identity: &Identity, base: &str, l: &Labels, part: usize, parts: usize) -> Created {
    let clean = restrict_chars(&identity.name, aws_char);
    let (name, tf, cfn, of) = if part == 0 {
        (
            base.to_string(),
            format!("sg_{}", l.tf),
            format!("Sg{}", l.cfn),
            String::new(),
        )
    } else {
        let n = part + 1;
        (
            format!("{base}-part{n}"),
            format!("sg_{}_part{n}", l.tf),
            format!("Sg{}Part{n}", l.cfn),
            format!(" (part {n} of {parts})"),
        )
    };
    let mut description = format!("{TOOL}: security group of identity ");
    let room = MAX_TEXT.saturating_sub(description.len() + of.len());
    let mut who = clean;
    truncate_chars(&mut who, room);
    description.push_str(&who);
    description.push_str(&of);
    Created {
        name,
        description,
        tf,
        cfn,
    }
}

/// Whether a name can be used as it is in labels.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn camel(s: &str) -> String {
    s.split(['-', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Labels for every managed identity: readable when [`plain`], else a slug
/// plus a hash; any clash falls back to a longer hash.
fn labels(
    program: &Program,
    ids: impl Iterator<Item = IdentityId>,
) -> BTreeMap<IdentityId, Labels> {
    let mut out = BTreeMap::new();
    for id in ids {
        let name = &program.identity(id).name;
        let l = if plain(name) {
            Labels {
                tf: name.replace('-', "_"),
                cfn: camel(name),
            }
        } else {
            let h = hash_hex(&[name], 8);
            let s = slug(name, '-', 32);
            Labels {
                tf: format!(
                    "{}{h}",
                    if s.is_empty() {
                        String::new()
                    } else {
                        format!("{}_", s.replace('-', "_"))
                    }
                ),
                cfn: format!("{}{h}", camel(&s)),
            }
        };
        out.insert(id, l);
    }
    let dup_tf = duplicates(out.values().map(|l| l.tf.clone()));
    let dup_cfn = duplicates(out.values().map(|l| l.cfn.to_ascii_lowercase()));
    for (id, l) in &mut out {
        if dup_tf.contains(&l.tf) || dup_cfn.contains(&l.cfn.to_ascii_lowercase()) {
            let h = hash_hex(&[&program.identity(*id).name], 16);
            *l = Labels {
                tf: format!("h{h}"),
                cfn: format!("H{h}"),
            };
        }
    }
    out
}

/// `seg-<project>-<identity>` for created groups, cleaned to AWS's set.
fn group_names(
    program: &Program,
    ids: impl Iterator<Item = IdentityId>,
) -> BTreeMap<IdentityId, String> {
    let part = |s: &str, max: usize| {
        let ok = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        if !s.is_empty() && s.len() <= max && s.chars().all(ok) {
            s.to_string()
        } else {
            let mut clean: String = s.chars().map(|c| if ok(c) { c } else { '_' }).collect();
            truncate_chars(&mut clean, max.min(64));
            format!("{clean}-{}", hash_hex(&[s], 8))
        }
    };
    let project = part(&program.project, 48);
    let mut out: BTreeMap<IdentityId, String> = BTreeMap::new();
    for id in ids {
        if program
            .identity(id)
            .aws
            .as_ref()
            .is_some_and(|a| a.security_group.is_none())
        {
            out.insert(
                id,
                format!("seg-{project}-{}", part(&program.identity(id).name, 160)),
            );
        }
    }
    let dups = duplicates(out.values().map(|n| n.to_ascii_lowercase()));
    for (id, n) in &mut out {
        if dups.contains(&n.to_ascii_lowercase()) {
            *n = format!(
                "seg-{project}-{}",
                hash_hex(&[&program.identity(*id).name], 16)
            );
        }
    }
    out
}

fn duplicates(items: impl Iterator<Item = String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut dup = BTreeSet::new();
    for s in items {
        if !seen.insert(s.clone()) {
            dup.insert(s);
        }
    }
    dup
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::plan::{Peer, Proto};

    fn rule(net: &str) -> SgRule {
        SgRule {
            peer: Peer::Cidr(net.parse().expect("cidr")),
            proto: Proto::Tcp(1, 1),
            rules: vec![],
        }
    }

    #[test]
    fn packing_counts_families_separately() {
        let rules = vec![
            rule("10.0.0.1/32"),
            rule("10.0.0.2/32"),
            rule("fd00::1/128"),
            rule("10.0.0.3/32"),
        ];
        let bins = pack(rules, 2, 2);
        assert_eq!(bins.len(), 2);
        assert_eq!(count(&bins[0]), (2, 1));
        assert_eq!(count(&bins[1]), (1, 0));
        let g = SgRule {
            peer: Peer::Group(IdentityId(0)),
            proto: Proto::All,
            rules: vec![],
        };
        assert_eq!(g.weight(), (1, 1));
    }

    #[test]
    fn packing_is_first_fit() {
        // The cursors must give what scanning every bin gives.
        fn naive(rules: &[SgRule], l4: usize, l6: usize) -> Vec<Vec<SgRule>> {
            let mut bins: Vec<(usize, usize, Vec<SgRule>)> = Vec::new();
            for r in rules {
                let (w4, w6) = r.weight();
                match bins
                    .iter_mut()
                    .find(|(a, b, _)| a + w4 <= l4 && b + w6 <= l6)
                {
                    Some(bin) => {
                        bin.0 += w4;
                        bin.1 += w6;
                        bin.2.push(r.clone());
                    }
                    None => bins.push((w4, w6, vec![r.clone()])),
                }
            }
            bins.into_iter().map(|b| b.2).collect()
        }
        let mut x: u64 = 7;
        for case in 0..200u64 {
            let rules: Vec<SgRule> = (0..(case % 40) * 3)
                .map(|i| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    match (x >> 33) % 3 {
                        0 => rule(&format!("10.0.{}.{}/32", i / 256, i % 256)),
                        1 => rule(&format!("fd00::{i:x}/128")),
                        _ => SgRule {
                            peer: Peer::Group(IdentityId(i as u32)),
                            proto: Proto::All,
                            rules: vec![],
                        },
                    }
                })
                .collect();
            let (l4, l6) = ((case % 5) as usize, (case / 5 % 4) as usize + 1);
            assert_eq!(
                pack(rules.clone(), l4, l6),
                naive(&rules, l4, l6),
                "case {case}"
            );
        }
    }

    #[test]
    fn camel_and_plain_names() {
        assert_eq!(camel("payments-api"), "PaymentsApi");
        assert!(plain("payments-api"));
        assert!(!plain("Payments"));
        assert!(!plain("a--b"));
        assert!(!plain("x/y"));
    }
}
