//! Hosts and their files: which identities are hosts (and their file stems),
//! chain names per policy, and the assembly of one host's rules files and
//! ipset file from the rule blocks [`crate::render`] built and the chains
//! [`crate::chain`] merges and prints.
//!
//! Invariants: every host gets `<stem>.rules`; `<stem>.ip6.rules` when its
//! IPv6 ruleset has a chain of its own, else its `<stem>.rules` names the
//! shared [`names::SHARED_IP6`] file (the base rules alone), which is emitted
//! whenever a host uses it; `<stem>.ipset` exactly when its rules use a set.
//! The entry chains `seg-input` and `seg-output` accept loopback and replies
//! first (and IPv6 neighbour discovery), then jump to every deny chain, then
//! to every allow chain, then drop. A host on the shared file keeps its own
//! IPv6 objects in the report (under `<stem>.ip6.rules`, the ruleset
//! `seg-apply.sh` loads for it), so they change when its IPv6 rules do.

use crate::apply::APPLY_SCRIPT;
use crate::chain::ChainCache;
use crate::model::{
    Chain, Family, IpsetFile, Line, Match, Proto, RulesFile, SafeText, Target, print_entry,
};
use crate::names;
use crate::render::{Ctx, FAMILIES};
use seg_diag::Diagnostics;
use seg_ir::fasthash::FastMap;
use seg_ir::{Action, Artifact, Emission, IdentityId, Object, Program};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Dir {
    In,
    Out,
}

pub(crate) struct Host {
    pub id: IdentityId,
    pub stem: String,
    /// Indices into [`Ctx::blocks`], by family, then direction, in rule order.
    pub blocks: [[Vec<u32>; 2]; 2],
}

impl Host {
    /// Whether the host's IPv6 ruleset is the base rules alone (no rule of
    /// its own in that family), which every such host shares.
    pub fn on_shared_ip6(&self) -> bool {
        self.blocks[Family::V6 as usize].iter().all(Vec::is_empty)
    }
}

/// What the files of every host share, made once per build instead of once
/// per host: the base rules of the entry chains as printed (per family), the
/// header's fixed lines, and the IPv6 ruleset of every host without IPv6
/// rules of its own (the shared file, and the objects each such host holds
/// once it is applied).
pub(crate) struct Common {
    /// Per family, the base lines of `seg-input` and `seg-output`.
    base: [[Arc<str>; 2]; 2],
    /// The first two lines of every header (version, meaning) and its last.
    head: [SafeText; 2],
    tail: SafeText,
    shared_ip6: String,
    /// The shared file's entry chains' objects, without a file (each
    /// host's is its own).
    shared_objects: Vec<Object>,
}

impl Common {
    pub fn new(cx: &Ctx<'_>) -> Common {
        let base = FAMILIES.map(|family| print_entry(&base_lines(family)).map(Arc::from));
        let head = [
            SafeText::new(&format!(
                "seg {}: generated: do not edit",
                env!("CARGO_PKG_VERSION")
            )),
            SafeText::new(&format!("meaning: sha256 {}", cx.meaning)),
        ];
        let tail = SafeText::new(
            "seg-input and seg-output drop what no rule allows; every deny chain runs before every allow chain; other chains and rules of the table are untouched",
        );
        let mut header = head.to_vec();
        header.extend([
            SafeText::new(
                "IPv6 base rules, shared by every host without IPv6 rules of its own (its <host>.rules names this file): loopback, replies, neighbour discovery, then drop",
            ),
            SafeText::new(&format!(
                "IPv6: sh {APPLY_SCRIPT} <host> (loads the sets, then ip6tables-restore --noflush < {}, pruning seg's chains and sets of an older version)",
                names::SHARED_IP6
            )),
        ]);
        let rules = RulesFile {
            header,
            family: Family::V6,
            base: base[Family::V6 as usize].clone(),
            entry: Vec::new(),
            chains: Vec::new(),
        };
        let entry_chains = rules.entry_chains();
        let shared_objects = entry_chains
            .iter()
            .map(|(chain, text)| Object::new("chain", chain.as_str(), "", text.as_bytes()))
            .collect();
        Common {
            shared_ip6: rules.print_with(&entry_chains),
            shared_objects,
            base,
            head,
            tail,
        }
    }

    /// The shared file, when one of `hosts` loads it.
    pub fn artifact(self, hosts: &[Host]) -> Option<Artifact> {
        hosts.iter().any(Host::on_shared_ip6).then(|| Artifact {
            path: names::SHARED_IP6.to_string(),
            contents: self.shared_ip6.into_bytes(),
        })
    }
}

/// Every identity with addresses, with its file stem.
pub(crate) fn hosts(program: &Program, diags: &mut Diagnostics) -> Vec<Host> {
    seg_ir::names::host_stems(program, "iptables", diags)
        .into_iter()
        .map(|(id, stem)| Host {
            id,
            stem,
            blocks: Default::default(),
        })
        .collect()
}

/// Policy names in order of first appearance.
pub(crate) fn policy_names(program: &Program) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for r in &program.rules {
        if seen.insert(r.provenance.policy.as_str()) {
            out.push(r.provenance.policy.clone());
        }
    }
    out
}

const PREFIXES: [&str; 4] = ["in-allow", "in-deny", "out-allow", "out-deny"];

pub(crate) fn prefix_index(dir: Dir, action: Action) -> usize {
    match (dir, action) {
        (Dir::In, Action::Allow) => 0,
        (Dir::In, Action::Deny) => 1,
        (Dir::Out, Action::Allow) => 2,
        (Dir::Out, Action::Deny) => 3,
    }
}

/// Four chain names per policy, unique across the program: the hash grows
/// until no two policies share a name (8 hex digits virtually always suffice).
pub(crate) fn chain_names(policies: &[String]) -> Vec<[String; 4]> {
    for hash_len in [8, 12, 16] {
        let names: Vec<[String; 4]> = policies
            .iter()
            .map(|p| PREFIXES.map(|prefix| names::chain_name(prefix, p, hash_len)))
            .collect();
        let distinct: BTreeSet<&String> = names.iter().flatten().collect();
        if distinct.len() == names.len() * 4 {
            return names;
        }
    }
    // Still colliding: number the chains, which is unique by construction.
    (0..policies.len())
        .map(|i| PREFIXES.map(|prefix| format!("{prefix}-{i}")))
        .collect()
}

fn base_line(matches: Vec<Match>, comment: &str, notes: &[&str]) -> Line {
    Line {
        notes: notes.iter().map(|n| SafeText::new(n)).collect(),
        matches,
        comment: SafeText::new(comment),
        target: Target::Accept,
    }
}

/// Loopback, replies and (IPv6) neighbour discovery, before any policy.
fn base_lines(family: Family) -> Vec<(Chain, Line)> {
    let mut out = vec![
        (
            Chain::Input,
            base_line(
                vec![Match::InLoopback],
                "seg: loopback",
                &["the host talking to itself"],
            ),
        ),
        (
            Chain::Input,
            base_line(
                vec![Match::Replies],
                "seg: replies and related errors",
                &[
                    "packets of connections an allow rule let through (stateful: replies, not new flows)",
                ],
            ),
        ),
        (
            Chain::Output,
            base_line(vec![Match::OutLoopback], "seg: loopback", &[]),
        ),
        (
            Chain::Output,
            base_line(vec![Match::Replies], "seg: replies and related errors", &[]),
        ),
    ];
    if family == Family::V6 {
        let nd_note = [
            "neighbour discovery: IPv6's ARP. Without it no IPv6 address on the link resolves",
            "and no flow works; conntrack does not track these messages, so ESTABLISHED does not",
            "cover them. Hop limit 255 (RFC 4861) means they came from the link, not routed;",
            "MLD (hop limit 1) keeps multicast-snooping switches forwarding solicitations.",
        ];
        // (chain, ICMPv6 type, hop limit)
        let nd: [(Chain, u8, u8, &str); 9] = [
            (Chain::Input, 133, 255, "router solicitation"),
            (Chain::Input, 134, 255, "router advertisement"),
            (Chain::Input, 135, 255, "neighbour solicitation"),
            (Chain::Input, 136, 255, "neighbour advertisement"),
            (Chain::Input, 130, 1, "multicast listener query"),
            (Chain::Output, 133, 255, "router solicitation"),
            (Chain::Output, 135, 255, "neighbour solicitation"),
            (Chain::Output, 136, 255, "neighbour advertisement"),
            (Chain::Output, 143, 1, "multicast listener report v2"),
        ];
        for (i, (chain, ty, hl, what)) in nd.into_iter().enumerate() {
            let notes: &[&str] = if i == 0 { &nd_note } else { &[] };
            let matches = vec![
                Match::Proto(Proto::Icmpv6),
                Match::Icmpv6Type(ty),
                Match::HopLimit(hl),
            ];
            out.push((chain, base_line(matches, &format!("seg: {what}"), notes)));
        }
    }
    out
}

pub(crate) fn emit_host(
    cx: &Ctx<'_>,
    host: &Host,
    set_texts: &FastMap<&str, Arc<str>>,
    common: &Common,
    cache: &mut ChainCache,
    emission: &mut Emission,
) {
    let identity = cx.program.identity(host.id);
    let addresses: Vec<String> = identity.addresses.iter().map(ToString::to_string).collect();
    let mut used_sets: Vec<&str> = Vec::new();
    let own_ip6 = format!("{}.ip6.rules", host.stem);
    let on_shared = host.on_shared_ip6();
    for (f, family) in FAMILIES.into_iter().enumerate() {
        let (file, tool) = match family {
            Family::V4 => (format!("{}.rules", host.stem), "iptables-restore"),
            Family::V6 if on_shared => {
                // The host's IPv6 ruleset is the shared file's; its objects
                // are still the host's own.
                for o in &common.shared_objects {
                    emission.objects.push(Object {
                        file: own_ip6.clone(),
                        ..o.clone()
                    });
                }
                continue;
            }
            Family::V6 => (own_ip6.clone(), "ip6tables-restore"),
        };
        let mut entry = Vec::new();
        let mut chains = Vec::new();
        for (d, dir) in [Dir::In, Dir::Out].into_iter().enumerate() {
            let blocks = &host.blocks[f][d];
            // Blocks grouped by (action, policy) in one pass, deny chains first.
            let mut groups: Vec<(Action, usize, Vec<u32>)> = Vec::new();
            let mut index: FastMap<(Action, usize), usize> = FastMap::default();
            for action in [Action::Deny, Action::Allow] {
                for &b in blocks {
                    let block = &cx.blocks[b as usize];
                    if block.action != action {
                        continue;
                    }
                    let i = *index.entry((action, block.policy)).or_insert_with(|| {
                        groups.push((action, block.policy, Vec::new()));
                        groups.len() - 1
                    });
                    groups[i].2.push(b);
                    used_sets.extend(block.sets.iter().map(String::as_str));
                }
            }
            for (action, policy, members) in groups {
                let name = Chain::User(cx.chain_names[policy][prefix_index(dir, action)].clone());
                let entry_chain = match dir {
                    Dir::In => Chain::Input,
                    Dir::Out => Chain::Output,
                };
                let act = if action == Action::Deny {
                    "deny"
                } else {
                    "allow"
                };
                let (printed, lines) = cache.get(cx, (f, dir, action, policy, members), &name);
                emission.rules += lines;
                let jump_comment = format!("seg: policy {} {act}", cx.policies[policy]);
                entry.push((
                    entry_chain,
                    Line {
                        notes: Vec::new(),
                        matches: Vec::new(),
                        comment: SafeText::new(&jump_comment),
                        target: Target::Jump(name),
                    },
                ));
                chains.push(printed);
            }
        }
        // seg-input lines first, then seg-output, each in the order built.
        entry.sort_by_key(|(c, _)| *c == Chain::Output);
        let mut header = header(
            common,
            &identity.name,
            &addresses,
            &host.stem,
            family,
            tool,
            &file,
        );
        if family == Family::V4 {
            header.push(SafeText::new(&ip6_rules_line(&own_ip6, on_shared)));
        }
        for c in chains.iter() {
            emission.objects.push(Object::new(
                "chain",
                c.name.as_str(),
                &file,
                c.text.as_bytes(),
            ));
        }
        let rules = RulesFile {
            header,
            family,
            base: common.base[f].clone(),
            entry,
            chains,
        };
        let entry_chains = rules.entry_chains();
        for (chain, text) in &entry_chains {
            emission
                .objects
                .push(Object::new("chain", chain.as_str(), &file, text.as_bytes()));
        }
        let text = rules.print_with(&entry_chains);
        emission.artifacts.push(Artifact {
            path: file,
            contents: text.into_bytes(),
        });
    }
    let mut seen = HashSet::new();
    used_sets.retain(|n| seen.insert(*n));
    if used_sets.is_empty() {
        return;
    }
    let file = format!("{}.ipset", host.stem);
    let sets = used_sets
        .into_iter()
        .filter_map(|name| {
            let text = set_texts.get(name)?;
            emission
                .objects
                .push(Object::new("ipset", name, &file, text.as_bytes()));
            Some(text.clone())
        })
        .collect();
    let header = vec![
        SafeText::new(&format!(
            "seg {}: generated: do not edit",
            env!("CARGO_PKG_VERSION")
        )),
        SafeText::new(&format!("meaning: sha256 {}", cx.meaning)),
        SafeText::new(&format!("host: {}", identity.name)),
        SafeText::new(&if on_shared {
            format!(
                "address sets for {0}.rules (sh {APPLY_SCRIPT} {0} loads them first)",
                host.stem
            )
        } else {
            format!(
                "address sets for {0}.rules and {0}.ip6.rules (sh {APPLY_SCRIPT} {0} loads them first)",
                host.stem
            )
        }),
    ];
    let text = IpsetFile { header, sets }.print();
    emission.artifacts.push(Artifact {
        path: file,
        contents: text.into_bytes(),
    });
}

/// The line of a host's `<stem>.rules` that names its IPv6 file;
/// `seg-apply.sh` loads the shared file only for a host whose line is
/// exactly [`names::SHARED_IP6_LINE`].
fn ip6_rules_line(own: &str, on_shared: bool) -> String {
    if on_shared {
        names::SHARED_IP6_LINE.to_string()
    } else {
        format!("IPv6 rules: {own}")
    }
}

fn header(
    common: &Common,
    name: &str,
    addresses: &[String],
    stem: &str,
    family: Family,
    tool: &str,
    file: &str,
) -> Vec<SafeText> {
    vec![
        common.head[0].clone(),
        common.head[1].clone(),
        SafeText::new(&format!("host: {name} ({})", addresses.join(", "))),
        SafeText::new(&format!(
            "{}: sh {APPLY_SCRIPT} {stem} (loads the sets, then {tool} --noflush < {file}, pruning seg's chains and sets of an older version)",
            family.label()
        )),
        common.tail.clone(),
    ]
}
