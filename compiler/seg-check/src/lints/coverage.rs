//! W0306 (a rule covered by another of the same action) and W0307 (an allow
//! cancelled by unconditional denies), over the lowered IR rules.
//!
//! S covers R when R's sources, destinations and services are subsets of S's,
//! S's condition is `true` or the same as R's, and S lives at least as long.
//! A source rule is reported when every IR rule it lowered to is covered by
//! rules of other source rules; of two identical rules only the later one is
//! reported (as a duplicate).
//!
//! An allow is cancelled when unconditional denies that live as long cover
//! every flow of it: one deny alone, or several whose union covers it along
//! one dimension (ports, destinations or sources) while each covers the other
//! two. Coverage split along several dimensions at once is not detected.
//!
//! Work is bounded: a rule that covers R contains R's first destination
//! identity, so candidates come from an index by destination identity, and at
//! most [`MAX_CANDIDATES`] are examined per rule. The cheap, selective tests
//! (ports, condition, identity sets) run before any address arithmetic, and
//! before them a per-rule summary kept in one dense array (protocol flags,
//! port bounds, condition, expiry) rejects most candidates without touching
//! the rules themselves.

use crate::idset::IdSet;
use crate::index::InvIndex;
use crate::lower::Lowered;
use crate::problems;
use seg_diag::{Diagnostics, Span};
use seg_ir::{
    Action, CidrSet, Condition, EndpointSet, Expiry, PortRanges, PortSet, Rule, Timestamp,
};
use std::cell::OnceCell;

const MAX_CANDIDATES: usize = 128;
/// Destinations up to which union coverage along destinations is looked for.
const MAX_UNION_DESTINATIONS: usize = 16;

struct Cx<'l> {
    low: &'l Lowered,
    index: &'l InvIndex<'l>,
    /// Per rule: addresses of its source and destination identities (lazy).
    addrs: Vec<[OnceCell<CidrSet>; 2]>,
    /// Per action, per destination identity: the rules whose destinations hold it.
    by_dst: [Buckets; 2],
    /// Per action: the rules with destination networks.
    net_dst: [Vec<u32>; 2],
    /// Per rule: what the cheap tests read, in one dense array.
    sums: Vec<Summary>,
}

const TCP: u8 = 1;
const UDP: u8 = 2;
const SCTP: u8 = 4;
const ICMP: u8 = 8;
const OTHER: u8 = 16;
/// The condition is `true`.
const UNCONDITIONAL: u8 = 32;

/// A rule's services as protocol bits and per-protocol port bounds, its
/// condition's triviality and its expiry: necessary conditions for coverage
/// and overlap, decided without reaching into the rule.
#[derive(Clone, Copy)]
struct Summary {
    bits: u8,
    /// Lowest and highest port of TCP, UDP and SCTP (meaningful when the bit is set).
    bounds: [(u16, u16); 3],
    /// The first instant the rule is gone, if it expires.
    ends: Option<Timestamp>,
}

impl Summary {
    fn of(rule: &Rule) -> Summary {
        Summary::new(
            &rule.services,
            rule.condition == Condition::True,
            rule.expires.map(Expiry::end),
        )
    }

    fn new(p: &PortSet, unconditional: bool, ends: Option<Timestamp>) -> Summary {
        let mut bits = 0;
        let mut bounds = [(0, 0); 3];
        for (k, (bit, ranges)) in [(TCP, &p.tcp), (UDP, &p.udp), (SCTP, &p.sctp)]
            .into_iter()
            .enumerate()
        {
            let r = ranges.ranges();
            if let (Some(first), Some(last)) = (r.first(), r.last()) {
                bits |= bit;
                bounds[k] = (first.0, last.1);
            }
        }
        if p.icmp {
            bits |= ICMP;
        }
        if p.other {
            bits |= OTHER;
        }
        if unconditional {
            bits |= UNCONDITIONAL;
        }
        Summary { bits, bounds, ends }
    }

    /// False when `self`'s services cannot lie inside `o`'s (`ports_subset`'s
    /// necessary condition: every protocol present in `o`, within its bounds).
    fn ports_may_be_within(&self, o: &Summary) -> bool {
        let need = self.bits & !UNCONDITIONAL;
        need & !o.bits == 0
            && (0..3).all(|k| {
                self.bits & (1 << k) == 0
                    || (o.bounds[k].0 <= self.bounds[k].0 && self.bounds[k].1 <= o.bounds[k].1)
            })
    }

    /// False when the services cannot share a port (`ports_overlap`'s necessary condition).
    fn ports_may_overlap(&self, o: &Summary) -> bool {
        let both = self.bits & o.bits;
        both & (ICMP | OTHER) != 0
            || (0..3).any(|k| {
                both & (1 << k) != 0
                    && self.bounds[k].0 <= o.bounds[k].1
                    && o.bounds[k].0 <= self.bounds[k].1
            })
    }

    /// `lives_as_long` on the summaries.
    fn lives_as_long(&self, r: &Summary) -> bool {
        match (self.ends, r.ends) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => a >= b,
        }
    }
}

#[derive(Clone, Copy)]
enum End {
    Src = 0,
    Dst = 1,
}

fn slot(a: Action) -> usize {
    match a {
        Action::Allow => 0,
        Action::Deny => 1,
    }
}

/// Rule indexes per identity, in one flat array (counting sort), at most
/// [`MAX_CANDIDATES`] per identity.
struct Buckets {
    starts: Vec<u32>,
    items: Vec<u32>,
}

impl Buckets {
    fn build(n: usize, rules: &[(u32, &IdSet)]) -> Buckets {
        let mut starts = vec![0u32; n + 1];
        for (_, ids) in rules {
            for id in ids.iter() {
                let c = &mut starts[id as usize + 1];
                *c = (*c + 1).min(MAX_CANDIDATES as u32);
            }
        }
        for i in 0..n {
            starts[i + 1] += starts[i];
        }
        let mut fill: Vec<u32> = starts[..n].to_vec();
        let mut items = vec![0u32; starts[n] as usize];
        for (r, ids) in rules {
            for id in ids.iter() {
                let id = id as usize;
                if fill[id] < starts[id + 1] {
                    items[fill[id] as usize] = *r;
                    fill[id] += 1;
                }
            }
        }
        Buckets { starts, items }
    }

    fn get(&self, id: u32) -> &[u32] {
        let i = id as usize;
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.items[a as usize..b as usize],
            _ => &[],
        }
    }
}

pub(crate) fn check(low: &Lowered, index: &InvIndex, diags: &mut Diagnostics) {
    let n = index.n as usize;
    let mut per_action: [Vec<(u32, &IdSet)>; 2] = [Vec::new(), Vec::new()];
    let mut net_dst: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
    for (i, (r, f)) in low.rules.iter().zip(&low.facts).enumerate() {
        let a = slot(r.action);
        per_action[a].push((i as u32, &f.dst));
        if !r.dst.networks.is_empty() && net_dst[a].len() < MAX_CANDIDATES {
            net_dst[a].push(i as u32);
        }
    }
    let by_dst = [
        Buckets::build(n, &per_action[0]),
        Buckets::build(n, &per_action[1]),
    ];
    let addrs = low
        .rules
        .iter()
        .map(|_| [OnceCell::new(), OnceCell::new()])
        .collect();
    let cx = Cx {
        low,
        index,
        addrs,
        by_dst,
        net_dst,
        sums: low.rules.iter().map(Summary::of).collect(),
    };
    let mut by_source: Vec<Vec<usize>> = vec![Vec::new(); low.sources.len()];
    for (i, f) in low.facts.iter().enumerate() {
        by_source[f.source].push(i);
    }
    for (s, rules) in by_source.iter().enumerate() {
        // A rule whose members are in doubt could look covered for want of them.
        if !low.sources[s].certain {
            continue;
        }
        shadowed(&cx, s, rules, diags);
        if low.rules[rules[0]].action == Action::Allow {
            cancelled(&cx, s, rules, diags);
        }
    }
}

impl Cx<'_> {
    fn end(&self, i: usize, e: End) -> (&EndpointSet, &IdSet) {
        let (r, f) = (&self.low.rules[i], &self.low.facts[i]);
        match e {
            End::Src => (&r.src, &f.src),
            End::Dst => (&r.dst, &f.dst),
        }
    }

    fn addresses(&self, i: usize, e: End) -> &CidrSet {
        self.addrs[i][e as usize].get_or_init(|| self.index.addresses_of(self.end(i, e).1))
    }

    /// Is end `e` of rule `a` inside end `e` of rule `b`? An address is in a
    /// set if it lies in one of its networks or is one of its identities' addresses.
    fn end_covered(&self, a: usize, b: usize, e: End) -> bool {
        let ((ea, ia), (eb, ib)) = (self.end(a, e), self.end(b, e));
        if !ia.is_subset(ib) {
            return false;
        }
        ea.networks.is_empty()
            || ea.networks.is_subset(&eb.networks)
            || ea
                .networks
                .is_subset(&eb.networks.union(self.addresses(b, e)))
    }

    /// Can rules `a` and `b` match a common flow (ignoring ports and conditions)?
    fn ends_overlap(&self, a: usize, b: usize) -> bool {
        [End::Src, End::Dst].into_iter().all(|e| {
            let ((ea, ia), (eb, ib)) = (self.end(a, e), self.end(b, e));
            ia.overlaps(ib)
                || (!ea.networks.is_empty()
                    && (ea.networks.overlaps(&eb.networks)
                        || ea.networks.overlaps(self.addresses(b, e))))
                || (!eb.networks.is_empty() && eb.networks.overlaps(self.addresses(a, e)))
        })
    }

    /// Rules of `action` that may cover rule `r`: they hold its first destination.
    fn candidates(&self, r: usize, action: Action) -> &[u32] {
        let a = slot(action);
        match self.low.facts[r].dst.first() {
            Some(id) => self.by_dst[a].get(id),
            None => &self.net_dst[a],
        }
    }

    /// Does rule `s` cover rule `r` (same action; see the module docs)?
    fn covers(&self, s: usize, r: usize) -> bool {
        let (ss, sr) = (&self.sums[s], &self.sums[r]);
        if !(sr.ports_may_be_within(ss) && ss.lives_as_long(sr)) {
            return false;
        }
        let (rs, rr) = (&self.low.rules[s], &self.low.rules[r]);
        ports_subset(&rr.services, &rs.services)
            && (rs.condition == Condition::True || rs.condition == rr.condition)
            && lives_as_long(rs, rr)
            && self.end_covered(r, s, End::Dst)
            && self.end_covered(r, s, End::Src)
    }
}

fn lives_as_long(s: &Rule, r: &Rule) -> bool {
    match (s.expires, r.expires) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => a.end() >= b.end(),
    }
}

/// Every range of `a` lies inside one range of `b` (both sorted, disjoint, merged).
fn ranges_subset(a: &PortRanges, b: &PortRanges) -> bool {
    let b = b.ranges();
    let mut j = 0;
    a.ranges().iter().all(|&(lo, hi)| {
        while j < b.len() && b[j].1 < lo {
            j += 1;
        }
        j < b.len() && b[j].0 <= lo && hi <= b[j].1
    })
}

fn ranges_overlap(a: &PortRanges, b: &PortRanges) -> bool {
    let (a, b) = (a.ranges(), b.ranges());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].1 < b[j].0 {
            i += 1;
        } else if b[j].1 < a[i].0 {
            j += 1;
        } else {
            return true;
        }
    }
    false
}

/// `PortSet::is_subset` without allocating.
fn ports_subset(a: &PortSet, b: &PortSet) -> bool {
    (!a.icmp || b.icmp)
        && (!a.other || b.other)
        && ranges_subset(&a.tcp, &b.tcp)
        && ranges_subset(&a.udp, &b.udp)
        && ranges_subset(&a.sctp, &b.sctp)
}

fn ports_overlap(a: &PortSet, b: &PortSet) -> bool {
    (a.icmp && b.icmp)
        || (a.other && b.other)
        || ranges_overlap(&a.tcp, &b.tcp)
        || ranges_overlap(&a.udp, &b.udp)
        || ranges_overlap(&a.sctp, &b.sctp)
}

fn shadowed(cx: &Cx, s: usize, rules: &[usize], diags: &mut Diagnostics) {
    let facts = &cx.low.facts;
    let mut first: Option<(usize, bool)> = None;
    for &r in rules {
        let action = cx.low.rules[r].action;
        let found = cx
            .candidates(r, action)
            .iter()
            .map(|&c| c as usize)
            .find(|&c| {
                facts[c].source != s && cx.covers(c, r) && !(facts[c].source > s && cx.covers(r, c))
            });
        match found {
            Some(c) => {
                first.get_or_insert((c, cx.covers(r, c)));
            }
            None => return,
        }
    }
    if let Some((c, duplicate)) = first {
        let by = &cx.low.sources[facts[c].source];
        diags.push(problems::shadowed_rule(
            cx.low.sources[s].head,
            by.head,
            &by.label,
            duplicate,
        ));
    }
}

fn cancelled(cx: &Cx, s: usize, rules: &[usize], diags: &mut Diagnostics) {
    let mut denies: Vec<usize> = Vec::new();
    for &r in rules {
        match cancelling_denies(cx, r) {
            Some(ds) => denies.extend(ds),
            None => return,
        }
    }
    let mut shown: Vec<(Span, String)> = Vec::new();
    for d in denies {
        let src = &cx.low.sources[cx.low.facts[d].source];
        if shown.len() < 3 && !shown.iter().any(|(_, l)| *l == src.label) {
            shown.push((src.head, src.label.clone()));
        }
    }
    diags.push(problems::cancelled_allow(cx.low.sources[s].head, &shown));
}

/// The unconditional denies that together cover every flow of allow `r`.
fn cancelling_denies(cx: &Cx, r: usize) -> Option<Vec<usize>> {
    let rules = &cx.low.rules;
    let allow = &rules[r];
    let sr = &cx.sums[r];
    let usable = |d: usize| {
        let sd = &cx.sums[d];
        if !(sd.bits & UNCONDITIONAL != 0 && sd.lives_as_long(sr) && sd.ports_may_overlap(sr)) {
            return false;
        }
        let deny = &rules[d];
        deny.condition == Condition::True
            && lives_as_long(deny, allow)
            && ports_overlap(&deny.services, &allow.services)
            && cx.ends_overlap(r, d)
    };
    let ports_ok = |d: usize| ports_subset(&allow.services, &rules[d].services);
    let src_ok = |d: usize| cx.end_covered(r, d, End::Src);
    let dst_ok = |d: usize| cx.end_covered(r, d, End::Dst);
    // A deny covering all of r's destinations holds its first one.
    let cands: Vec<usize> = cx
        .candidates(r, Action::Deny)
        .iter()
        .map(|&d| d as usize)
        .filter(|&d| usable(d))
        .collect();
    if let Some(&d) = cands
        .iter()
        .find(|&&d| ports_ok(d) && src_ok(d) && dst_ok(d))
    {
        return Some(vec![d]);
    }
    // Union along the ports, then along the sources.
    let along: Vec<usize> = cands
        .iter()
        .copied()
        .filter(|&d| src_ok(d) && dst_ok(d))
        .collect();
    let ports = along
        .iter()
        .fold(PortSet::empty(), |acc, &d| acc.union(&rules[d].services));
    if !along.is_empty() && ports_subset(&allow.services, &ports) {
        return Some(along);
    }
    let along: Vec<usize> = cands
        .iter()
        .copied()
        .filter(|&d| ports_ok(d) && dst_ok(d))
        .collect();
    if union_covers(cx, r, &along, End::Src) {
        return Some(along);
    }
    // Union along the destinations: each deny holds some of them.
    let dst = &cx.low.facts[r].dst;
    if dst.len() > MAX_UNION_DESTINATIONS || !allow.dst.networks.is_empty() {
        return None;
    }
    let mut along: Vec<usize> = dst
        .iter()
        .flat_map(|id| cx.by_dst[1].get(id).iter().map(|&d| d as usize))
        .filter(|&d| usable(d) && ports_ok(d) && src_ok(d))
        .collect();
    along.sort_unstable();
    along.dedup();
    union_covers(cx, r, &along, End::Dst).then_some(along)
}

/// Do the given rules' ends `e` together hold all of rule `r`'s end `e`?
fn union_covers(cx: &Cx, r: usize, rules: &[usize], e: End) -> bool {
    if rules.is_empty() {
        return false;
    }
    let mut ids = IdSet::empty();
    let mut nets = CidrSet::empty();
    let (ep, f) = cx.end(r, e);
    for &d in rules {
        let (dep, df) = cx.end(d, e);
        ids = ids.union(df);
        if !ep.networks.is_empty() {
            nets = nets.union(&dep.networks).union(cx.addresses(d, e));
        }
    }
    f.is_subset(&ids) && (ep.networks.is_empty() || ep.networks.is_subset(&nets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use seg_ir::Protocol;

    /// The summary tests only ever reject what the exact tests reject.
    #[test]
    fn summaries_are_necessary_conditions() {
        let tcp = |lo, hi| PortSet::ports(Protocol::Tcp, lo, hi);
        let sets = [
            PortSet::empty(),
            PortSet::any(),
            PortSet::icmp(),
            tcp(80, 80),
            tcp(80, 90),
            tcp(85, 85),
            tcp(80, 80).union(&tcp(443, 443)),
            tcp(100, 100).union(&tcp(8000, 8000)),
            tcp(0, 65535),
            PortSet::ports(Protocol::Udp, 53, 53),
            PortSet::ports(Protocol::Udp, 53, 53).union(&tcp(53, 53)),
            PortSet::ports(Protocol::Sctp, 1, 9),
            PortSet::icmp().union(&tcp(22, 22)),
        ];
        let mut rejected = (0, 0);
        for a in &sets {
            for b in &sets {
                let (sa, sb) = (Summary::new(a, true, None), Summary::new(b, true, None));
                if ports_subset(a, b) {
                    assert!(sa.ports_may_be_within(&sb), "{a:?} within {b:?}");
                } else if !sa.ports_may_be_within(&sb) {
                    rejected.0 += 1;
                }
                if ports_overlap(a, b) {
                    assert!(sa.ports_may_overlap(&sb), "{a:?} overlaps {b:?}");
                } else if !sa.ports_may_overlap(&sb) {
                    rejected.1 += 1;
                }
            }
        }
        assert!(rejected.0 > 50 && rejected.1 > 50, "{rejected:?}");
        let day = |d| Some(seg_ir::Date::parse(d).expect("date").end());
        let (late, early) = (
            Summary::new(&sets[1], true, day("2030-01-02")),
            Summary::new(&sets[1], true, day("2030-01-01")),
        );
        let never = Summary::new(&sets[1], true, None);
        assert!(late.lives_as_long(&early) && !early.lives_as_long(&late));
        assert!(never.lives_as_long(&late) && !late.lives_as_long(&never));
    }
}
