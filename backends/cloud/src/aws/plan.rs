//! AWS lowering: grants (allows with every deny carved out) → the inbound and
//! outbound rules of each managed identity's security group.
//!
//! Input: the prepared program. Output: per managed identity, sorted,
//! duplicate-free [`SgRule`]s with their provenance. An inbound rule sits on
//! the destination's group, an outbound rule on the source's group; a rule
//! is emitted for an identity only when the identity itself (not just some of
//! its addresses) is a member of the grant's set, because a group's rules
//! apply to every address of the instances in it.
//!
//! Invariants: every [`Proto`] is one AWS can hold (`-1` only for `any`, SCTP
//! only with every port, other protocols never); a rule covered by another
//! rule of the same group and direction is left out (AWS rejects exact
//! duplicates); CIDRs are canonical.

use crate::common::{Cover, Narrowings, covered, families, peers};
use ipnet::IpNet;
use seg_diag::Diagnostics;
use seg_ir::grants::subtract_denies;
use seg_ir::net::CidrSet;
use seg_ir::ports::PortSet;
use seg_ir::program::{Action, Identity, IdentityId, Program, RuleId};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// A protocol and port range as one AWS rule holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// `-1`: every protocol and port.
    All,
    Tcp(u16, u16),
    Udp(u16, u16),
    /// Protocol number 132, every port (AWS ignores ports for numbered protocols).
    Sctp,
    /// Every ICMP type and code (IPv4).
    Icmp,
    /// Every ICMPv6 type and code.
    Icmpv6,
}

impl Proto {
    /// The `IpProtocol` / `ip_protocol` value.
    pub fn ip_protocol(self) -> &'static str {
        match self {
            Proto::All => "-1",
            Proto::Tcp(..) => "tcp",
            Proto::Udp(..) => "udp",
            Proto::Sctp => "132",
            Proto::Icmp => "icmp",
            Proto::Icmpv6 => "icmpv6",
        }
    }

    /// `FromPort`/`ToPort`: the range for tcp/udp, ICMP type and code `-1`
    /// (all) for icmp; none for `-1`, numbered protocols and icmpv6, where
    /// AWS ignores them (no range means every ICMPv6 type and code).
    pub fn ports(self) -> Option<(i32, i32)> {
        match self {
            Proto::Tcp(lo, hi) | Proto::Udp(lo, hi) => Some((i32::from(lo), i32::from(hi))),
            Proto::Icmp => Some((-1, -1)),
            Proto::All | Proto::Sctp | Proto::Icmpv6 => None,
        }
    }
}

/// Who a rule admits (inbound) or reaches (outbound).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    /// The (first) security group of a managed identity.
    Group(IdentityId),
    Cidr(IpNet),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SgRule {
    pub peer: Peer,
    pub proto: Proto,
    /// The allow rules it comes from, ascending.
    pub rules: Vec<RuleId>,
}

impl SgRule {
    /// Rules it counts against the quota: (IPv4, IPv6). A group reference counts for both.
    pub fn weight(&self) -> (usize, usize) {
        match self.peer {
            Peer::Group(_) => (1, 1),
            Peer::Cidr(IpNet::V4(_)) => (1, 0),
            Peer::Cidr(IpNet::V6(_)) => (0, 1),
        }
    }
}

/// Inbound and outbound rules of one managed identity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentityRules {
    pub ingress: Vec<SgRule>,
    pub egress: Vec<SgRule>,
}

/// Services before the ICMP family split (`All` sorts first, `Icmp` last).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    All,
    Tcp(u16, u16),
    Udp(u16, u16),
    Sctp,
    Icmp,
}

impl Key {
    /// Whether every flow `other` admits, `self` admits.
    fn covers(self, other: Key) -> bool {
        match (self, other) {
            (Key::All, _) => true,
            (Key::Tcp(a, b), Key::Tcp(c, d)) | (Key::Udp(a, b), Key::Udp(c, d)) => a <= c && d <= b,
            (x, y) => x == y,
        }
    }

    fn proto(self, v6: bool) -> Proto {
        match self {
            Key::All => Proto::All,
            Key::Tcp(a, b) => Proto::Tcp(a, b),
            Key::Udp(a, b) => Proto::Udp(a, b),
            Key::Sctp => Proto::Sctp,
            Key::Icmp if v6 => Proto::Icmpv6,
            Key::Icmp => Proto::Icmp,
        }
    }
}

/// The keys of a port set, and what of it AWS cannot hold.
fn keys(services: &PortSet) -> (Vec<Key>, Vec<&'static str>) {
    if services.is_any() {
        return (vec![Key::All], Vec::new());
    }
    let mut keys: Vec<Key> = services
        .tcp
        .ranges()
        .iter()
        .map(|&(a, b)| Key::Tcp(a, b))
        .collect();
    keys.extend(services.udp.ranges().iter().map(|&(a, b)| Key::Udp(a, b)));
    let mut lost = Vec::new();
    if services.sctp.is_all() {
        keys.push(Key::Sctp);
    } else if !services.sctp.is_empty() {
        lost.push("sctp port ranges (a numbered protocol opens every port)");
    }
    if services.icmp {
        keys.push(Key::Icmp);
    }
    if services.other {
        lost.push(
            "the other IP protocols without `any` (only `-1` opens them, with everything else)",
        );
    }
    (keys, lost)
}

/// The address sets of peers, each stored once however many groups use it,
/// with its ranges for provenance lookups.
#[derive(Default)]
struct Arena {
    sets: Vec<(CidrSet, Vec<(IpAddr, IpAddr)>)>,
}

impl Arena {
    fn add(&mut self, set: &CidrSet) -> Option<usize> {
        if set.is_empty() {
            return None;
        }
        self.sets.push((set.clone(), set.ranges()));
        Some(self.sets.len() - 1)
    }
}

/// The union of many sets, merged pairwise so that big sets are not copied
/// once per small one.
fn union_all(mut sets: Vec<CidrSet>) -> CidrSet {
    while sets.len() > 1 {
        let mut next = Vec::with_capacity(sets.len() / 2 + 1);
        let mut it = sets.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => a.union(&b),
                None => a,
            });
        }
        sets = next;
    }
    sets.pop().unwrap_or_default()
}

/// What one direction of one group collects before it becomes rules.
#[derive(Default)]
struct Acc {
    /// Per key: peer address sets (arena indices) and the rule each comes from.
    cidrs: BTreeMap<Key, Vec<(usize, RuleId)>>,
    /// Per group peer and key: the rules, ascending, possibly repeated
    /// (a vector: one entry per peer and key makes a set per entry costly).
    groups: BTreeMap<(IdentityId, Key), Vec<RuleId>>,
}

impl Acc {
    fn add(
        &mut self,
        managed: &BTreeSet<IdentityId>,
        cidrs: Option<usize>,
        keys: &[Key],
        rule: RuleId,
    ) {
        for &k in keys {
            if let Some(i) = cidrs {
                self.cidrs.entry(k).or_default().push((i, rule));
            }
            for &m in managed {
                let rules = self.groups.entry((m, k)).or_default();
                if rules.last() != Some(&rule) {
                    rules.push(rule);
                }
            }
        }
    }

    /// Sorted rules with covered ones left out (see the module docs).
    /// `capacity`: the most rules one identity can hold per address family;
    /// beyond it the build fails (E0403), so the rules come without provenance.
    fn finish(
        self,
        program: &Program,
        owner: &Identity,
        arena: &Arena,
        capacity: usize,
    ) -> Vec<SgRule> {
        let unions: BTreeMap<Key, CidrSet> = self
            .cidrs
            .iter()
            .map(|(k, parts)| {
                let distinct: BTreeSet<usize> = parts.iter().map(|(i, _)| *i).collect();
                (
                    *k,
                    union_all(
                        distinct
                            .into_iter()
                            .map(|i| arena.sets[i].0.clone())
                            .collect(),
                    ),
                )
            })
            .collect();
        let covers: BTreeMap<Key, Cover> =
            unions.iter().map(|(k, u)| (*k, Cover::new(u))).collect();
        let mut out = Vec::new();
        // Per key: the nets kept, by their position in the key's nets.
        let mut kept: Vec<(Key, Vec<IpNet>, Vec<usize>, usize)> = Vec::new();
        for (&k, union) in &unions {
            let nets = union.to_cidrs();
            let wider: Vec<&Cover> = covers
                .iter()
                .filter(|&(&k2, _)| k2 != k && k2.covers(k))
                .map(|(_, c)| c)
                .collect();
            let keep: Vec<usize> = (0..nets.len())
                .filter(|&j| !wider.iter().any(|c| c.contains_net(&nets[j])))
                .collect();
            let first = out.len();
            out.extend(keep.iter().map(|&j| SgRule {
                peer: Peer::Cidr(nets[j]),
                proto: k.proto(nets[j].addr().is_ipv6()),
                rules: Vec::new(),
            }));
            kept.push((k, nets, keep, first));
        }
        let (own4, own6) = families(owner);
        // Per key of this group and direction, the other keys that cover it:
        // computed once here rather than for every peer.
        let keys: BTreeSet<Key> = self
            .cidrs
            .keys()
            .copied()
            .chain(self.groups.keys().map(|&(_, k)| k))
            .collect();
        let wider_keys: BTreeMap<Key, Vec<Key>> = keys
            .iter()
            .map(|&k| {
                let w = keys.iter().copied().filter(|&k2| k2 != k && k2.covers(k));
                (k, w.collect())
            })
            .collect();
        // Whether a peer's addresses lie in the CIDR peers of a key, asked once per peer and key.
        let mut in_cidrs: BTreeMap<(IdentityId, Key), bool> = BTreeMap::new();
        for (&(id, k), rules) in &self.groups {
            let Some(peer) = program.identities.get(id.0 as usize) else {
                continue;
            };
            let wider = wider_keys.get(&k).map_or(&[][..], Vec::as_slice);
            let by_cidr = !peer.addresses.is_empty()
                && std::iter::once(&k)
                    .chain(wider)
                    .filter_map(|k2| covers.get(k2).map(|c| (*k2, c)))
                    .any(|(k2, c)| *in_cidrs.entry((id, k2)).or_insert_with(|| covered(peer, c)));
            let by_group = wider.iter().any(|&k2| self.groups.contains_key(&(id, k2)));
            if by_cidr || by_group {
                continue;
            }
            let mut rules = rules.clone();
            rules.sort_unstable();
            rules.dedup();
            if k == Key::Icmp {
                // One rule per address family the two ends can share.
                let (p4, p6) = families(peer);
                for (v6, ok) in [(false, p4 && own4), (true, p6 && own6)] {
                    if ok {
                        out.push(SgRule {
                            peer: Peer::Group(id),
                            proto: k.proto(v6),
                            rules: rules.clone(),
                        });
                    }
                }
            } else {
                out.push(SgRule {
                    peer: Peer::Group(id),
                    proto: k.proto(false),
                    rules,
                });
            }
        }
        let (v4, v6) = out.iter().fold((0, 0), |(a, b), r| {
            let (x, y) = r.weight();
            (a + x, b + y)
        });
        if v4.max(v6) > capacity {
            return out;
        }
        // Provenance of the CIDR rules: the rules whose peers overlap each net
        // (nets are disjoint and ascending, so each range finds its nets by search).
        for (k, nets, keep, first) in kept {
            let mut rules: Vec<BTreeSet<RuleId>> = vec![BTreeSet::new(); nets.len()];
            for &(i, rule) in &self.cidrs[&k] {
                for &(lo, hi) in &arena.sets[i].1 {
                    let start = nets.partition_point(|n| n.broadcast() < lo);
                    for (j, n) in nets.iter().enumerate().skip(start) {
                        if n.network() > hi {
                            break;
                        }
                        rules[j].insert(rule);
                    }
                }
            }
            for (slot, j) in keep.into_iter().enumerate() {
                out[first + slot].rules = std::mem::take(&mut rules[j]).into_iter().collect();
            }
        }
        out.sort_by_key(|r| (r.peer, r.proto));
        out
    }
}

/// The rules of every managed identity (identities without rules included),
/// keyed by identity in inventory order.
pub fn lower(
    program: &Program,
    capacity: usize,
    narrowings: &mut Narrowings,
    diags: &mut Diagnostics,
) -> BTreeMap<IdentityId, IdentityRules> {
    let managed = |i: &Identity| i.aws.is_some();
    let mut keep = vec![false; program.rules.len()];
    for rule in &program.rules {
        let ok = narrowings.lowered(rule, diags);
        if let Some(k) = keep.get_mut(rule.id.0 as usize) {
            *k = ok && rule.action == Action::Allow;
        }
    }
    let mut arena = Arena::default();
    let mut inbound: BTreeMap<IdentityId, Acc> = BTreeMap::new();
    let mut outbound: BTreeMap<IdentityId, Acc> = BTreeMap::new();
    for grant in subtract_denies(program) {
        if !keep.get(grant.rule.0 as usize).copied().unwrap_or(false) {
            continue;
        }
        let (keys, lost) = keys(&grant.services);
        for what in lost {
            narrowings.allow(program, grant.rule, what, diags);
        }
        if keys.is_empty() {
            continue;
        }
        let src = peers(program, &grant.src, managed);
        let dst = peers(program, &grant.dst, managed);
        let (src_cidrs, dst_cidrs) = (arena.add(&src.cidrs), arena.add(&dst.cidrs));
        for id in &dst.managed {
            inbound
                .entry(*id)
                .or_default()
                .add(&src.managed, src_cidrs, &keys, grant.rule);
        }
        for id in &src.managed {
            outbound
                .entry(*id)
                .or_default()
                .add(&dst.managed, dst_cidrs, &keys, grant.rule);
        }
    }
    let mut out = BTreeMap::new();
    for identity in program.identities.iter().filter(|i| managed(i)) {
        let finish = |acc: &mut BTreeMap<IdentityId, Acc>| {
            acc.remove(&identity.id)
                .map(|a| a.finish(program, identity, &arena, capacity))
                .unwrap_or_default()
        };
        let ingress = finish(&mut inbound);
        let egress = finish(&mut outbound);
        out.insert(identity.id, IdentityRules { ingress, egress });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_only_what_aws_can() {
        let (k, lost) = keys(&PortSet::any());
        assert_eq!((k, lost.len()), (vec![Key::All], 0));
        let any_but_ssh = PortSet::any().difference(&PortSet::ports(seg_ir::Protocol::Tcp, 22, 22));
        let (k, lost) = keys(&any_but_ssh);
        assert_eq!(
            k,
            vec![
                Key::Tcp(0, 21),
                Key::Tcp(23, 65535),
                Key::Udp(0, 65535),
                Key::Sctp,
                Key::Icmp
            ]
        );
        assert_eq!(lost.len(), 1, "other protocols are lost");
        let sctp = PortSet::ports(seg_ir::Protocol::Sctp, 5000, 5001);
        assert_eq!(keys(&sctp).0, vec![]);
        assert_eq!(keys(&sctp).1.len(), 1);
    }

    #[test]
    fn coverage_between_keys() {
        assert!(Key::All.covers(Key::Icmp));
        assert!(Key::Tcp(0, 100).covers(Key::Tcp(5, 5)));
        assert!(!Key::Tcp(0, 100).covers(Key::Udp(5, 5)));
        assert!(!Key::Tcp(6, 100).covers(Key::Tcp(5, 5)));
        assert!(!Key::Icmp.covers(Key::All));
    }
}
