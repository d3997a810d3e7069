//! One user chain of one host: the lines of every rule of one policy, action
//! and direction that applies to the host, merged, with their provenance.
//!
//! Merging: lines of the chain whose matches are equal except for the
//! destination ports (the same [`LineKey`]) become one line matching the union
//! of their ports, coalesced and packed into `multiport` lines of at most 15
//! slots; lines without ports and with equal keys become one line. Every line
//! of a chain has the same target (the chain holds one policy's allows, or its
//! denies, for one direction), so a packet matches the merged lines exactly
//! when it matches one of the original lines: the merge changes no verdict.
//!
//! Provenance: each line's comment names every rule it came from by its
//! stable id (never by position or line, so a chain changes only when its
//! meaning does): `<policy>#<hash>` for one rule, `<policy>#<h1>,<h2>` for
//! several, never longer than the 255 bytes iptables keeps (a line is split
//! instead); `report.json` maps ids to `file:line`. The chain's `#` notes
//! name the policy and its usual owner once, then the whole provenance of each
//! rule that has more to say (another owner, a doc comment, a reason).
//!
//! Hosts whose chain holds the same rules share one printed chain ([`ChainCache`]);
//! a chain holding a block of one host alone is printed without being kept.

use crate::host::Dir;
use crate::model::{Chain, Match, PrintedChain, PrintedMatches, SafeText, Target, UserChain};
use crate::names;
use crate::render::{Ctx, LineKey, rule_notes};
use seg_ir::fasthash::FastMap;
use seg_ir::{Action, Rule};

/// `multiport` takes at most 15 ports, a range counting as two.
pub(crate) const MULTIPORT_SLOTS: usize = 15;

/// What makes two host chains print the same: family, direction, action,
/// policy and the blocks (rules) in it.
pub(crate) type ChainId = (usize, Dir, Action, usize, Vec<u32>);

/// One line of a group: its port ranges and its rules.
type Packed = (Vec<(u16, u16)>, Vec<usize>);

/// Printed chains by content, with their number of lines.
#[derive(Default)]
pub(crate) struct ChainCache(FastMap<ChainId, (PrintedChain, usize)>);

impl ChainCache {
    /// The printed chain `name` with the content `id`, and its number of lines.
    pub(crate) fn get(&mut self, cx: &Ctx<'_>, id: ChainId, name: &Chain) -> (PrintedChain, usize) {
        if let Some(found) = self.0.get(&id) {
            return found.clone();
        }
        let (_, dir, action, policy, blocks) = &id;
        let printed = build(cx, blocks, *dir, *action, *policy, name).finish();
        // No other host's chain can hold a block of this host alone: keeping
        // such chains held every chain of a job whose rules are all pairs.
        if blocks.iter().any(|&b| cx.blocks[b as usize].hosts < 2) {
            return printed;
        }
        self.0.insert(id, printed.clone());
        printed
    }
}

#[cfg(test)]
impl ChainCache {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// The rules of `blocks`, in program order, without repeats.
fn rules_of(cx: &Ctx<'_>, blocks: &[u32]) -> Vec<usize> {
    let mut rules: Vec<usize> = blocks.iter().map(|&b| cx.blocks[b as usize].rule).collect();
    rules.sort_unstable();
    rules.dedup();
    rules
}

fn build(
    cx: &Ctx<'_>,
    blocks: &[u32],
    dir: Dir,
    action: Action,
    policy: usize,
    name: &Chain,
) -> UserChain {
    let rules = rules_of(cx, blocks);
    let target = match action {
        Action::Allow => Target::Accept,
        Action::Deny => Target::Drop,
    };
    let policy_name = &cx.policies[policy];
    let owner = usual_owner(cx, &rules);
    let (verb, act) = match (dir, action) {
        (Dir::In, Action::Allow) => ("to", "allow"),
        (Dir::In, Action::Deny) => ("to", "deny"),
        (Dir::Out, Action::Allow) => ("from", "allow"),
        (Dir::Out, Action::Deny) => ("from", "deny"),
    };
    let owned = owner.map(|o| format!(", owner {o}")).unwrap_or_default();
    let mut notes = vec![SafeText::new(&format!(
        "policy {policy_name}: {act} rules for traffic {verb} this host{owned}"
    ))];
    for &r in &rules {
        let p = &cx.program.rules[r].provenance;
        if p.doc.is_some() || p.reason.is_some() || p.owner.as_deref() != owner {
            notes.extend(rule_notes(&cx.program.rules[r]));
        }
    }
    let groups = groups(cx, blocks, policy_name);
    let mut chain = UserChain::new(name.clone(), &notes, groups.len());
    for group in groups {
        let index = group.key;
        let key = &cx.keys[index as usize];
        for (ports, rules) in pack(cx, key, group, policy_name) {
            line(cx, &mut chain, index, ports, &rules, policy_name, &target);
        }
    }
    chain
}

/// The owner most of the rules have (the first of equals), if any.
fn usual_owner<'p>(cx: &Ctx<'p>, rules: &[usize]) -> Option<&'p str> {
    let mut counts: Vec<(Option<&str>, usize)> = Vec::new();
    for &r in rules {
        let owner = cx.program.rules[r].provenance.owner.as_deref();
        match counts.iter_mut().find(|(o, _)| *o == owner) {
            Some((_, n)) => *n += 1,
            None => counts.push((owner, 1)),
        }
    }
    let mut best: Option<(Option<&str>, usize)> = None;
    for (o, n) in counts {
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((o, n));
        }
    }
    best.and_then(|(o, _)| o)
}

/// Lines that may share a line: one key, ids `<policy>#…`.
struct Group {
    key: u32,
    /// (first port, last port, rule); ports are 0 when the key has none.
    entries: Vec<(u32, u32, usize)>,
}

fn mergeable(rule: &Rule, policy: &str) -> bool {
    rule.provenance
        .id
        .strip_prefix(policy)
        .is_some_and(|rest| rest.starts_with('#'))
}

/// The chain's lines grouped by key, in order of first appearance; a rule
/// whose id does not name its policy gets groups of its own.
fn groups(cx: &Ctx<'_>, blocks: &[u32], policy: &str) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    let mut index: FastMap<u32, usize> = FastMap::default();
    for &b in blocks {
        let block = &cx.blocks[b as usize];
        let rule = &cx.program.rules[block.rule];
        let alone = !mergeable(rule, policy);
        for l in &block.lines {
            let slot = if alone {
                None
            } else {
                index.get(&l.key).copied()
            };
            let i = match slot {
                Some(i) => i,
                None => {
                    out.push(Group {
                        key: l.key,
                        entries: Vec::new(),
                    });
                    if !alone {
                        index.insert(l.key, out.len() - 1);
                    }
                    out.len() - 1
                }
            };
            let entries = &mut out[i].entries;
            if l.ports.is_empty() {
                entries.push((0, 0, block.rule));
            } else {
                entries.extend(
                    l.ports
                        .iter()
                        .map(|&(lo, hi)| (u32::from(lo), u32::from(hi), block.rule)),
                );
            }
        }
    }
    out
}

/// The comment naming `rules` (ascending, at least one).
fn comment(cx: &Ctx<'_>, rules: &[usize], policy: &str) -> String {
    let first = &cx.program.rules[rules[0]].provenance;
    if rules.len() == 1 {
        return first.id.clone();
    }
    let mut hashes = String::new();
    for (i, &r) in rules.iter().enumerate() {
        let p = &cx.program.rules[r].provenance;
        if i > 0 {
            hashes.push(',');
        }
        // `mergeable` holds for every rule of a group of several.
        hashes.push_str(p.id.get(policy.len() + 1..).unwrap_or(&p.id));
    }
    format!("{policy}#{hashes}")
}

fn fits(cx: &Ctx<'_>, rules: &[usize], policy: &str) -> bool {
    rules.len() <= 1 || names::comment_fits(&comment(cx, rules, policy))
}

/// Sorted union of two ascending rule lists.
fn union(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = a.iter().chain(b).copied().collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The lines of one group: (port ranges, rules), each within the multiport
/// and comment limits.
fn pack(cx: &Ctx<'_>, key: &LineKey, mut group: Group, policy: &str) -> Vec<Packed> {
    let mut out = Vec::new();
    if !key.ported {
        let rules = union(&[], &group.entries.iter().map(|e| e.2).collect::<Vec<_>>());
        for rules in split_rules(cx, &rules, policy) {
            out.push((Vec::new(), rules));
        }
        return out;
    }
    // Coalesce overlapping and adjacent ranges, keeping who asked for them.
    group.entries.sort_unstable();
    let mut ranges: Vec<(u32, u32, Vec<usize>)> = Vec::new();
    for (lo, hi, rule) in group.entries {
        match ranges.last_mut() {
            Some(last) if lo <= last.1 + 1 => {
                last.1 = last.1.max(hi);
                last.2.push(rule);
            }
            _ => ranges.push((lo, hi, vec![rule])),
        }
    }
    let mut ports: Vec<(u16, u16)> = Vec::new();
    let mut rules: Vec<usize> = Vec::new();
    let mut slots = 0;
    for (lo, hi, mut who) in ranges {
        who.sort_unstable();
        who.dedup();
        let range = (narrow(lo), narrow(hi));
        let cost = if lo == hi { 1 } else { 2 };
        let joined = union(&rules, &who);
        if !ports.is_empty() && (slots + cost > MULTIPORT_SLOTS || !fits(cx, &joined, policy)) {
            out.push((std::mem::take(&mut ports), std::mem::take(&mut rules)));
            slots = 0;
        }
        if ports.is_empty() && !fits(cx, &who, policy) {
            // Too many rules for one comment even on a single range.
            for part in split_rules(cx, &who, policy) {
                out.push((vec![range], part));
            }
            continue;
        }
        rules = union(&rules, &who);
        ports.push(range);
        slots += cost;
    }
    if !ports.is_empty() {
        out.push((ports, rules));
    }
    out
}

fn narrow(port: u32) -> u16 {
    u16::try_from(port).unwrap_or(u16::MAX)
}

/// Ascending rules cut into runs whose comments fit.
fn split_rules(cx: &Ctx<'_>, rules: &[usize], policy: &str) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut run: Vec<usize> = Vec::new();
    for &r in rules {
        run.push(r);
        if run.len() > 1 && !fits(cx, &run, policy) {
            run.pop();
            out.push(std::mem::replace(&mut run, vec![r]));
        }
    }
    if !run.is_empty() {
        out.push(run);
    }
    out
}

/// Appends the line of key `index` on `ports` for `rules`: the key's head, the
/// ports, the key's time match.
fn line(
    cx: &Ctx<'_>,
    chain: &mut UserChain,
    index: u32,
    ports: Vec<(u16, u16)>,
    rules: &[usize],
    policy: &str,
    target: &Target,
) {
    let key = &cx.keys[index as usize];
    let mut tail = Vec::new();
    match ports.as_slice() {
        [] => {}
        [(lo, hi)] => tail.push(Match::Port(*lo, *hi)),
        _ => tail.push(Match::Ports(ports)),
    }
    tail.extend(key.time.clone().map(Match::Time));
    let comment = SafeText::new(&comment(cx, rules, policy));
    match cx.heads.get(index as usize) {
        Some(head) => chain.line(head, &tail, &comment, target),
        None => chain.line(&PrintedMatches::of(&key.head), &tail, &comment, target),
    }
}
