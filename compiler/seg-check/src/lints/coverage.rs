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
//! Work is bounded: candidates come from an index by destination identity
//! (a covering rule must contain R's first destination identity), and at most
//! [`MAX_CANDIDATES`] are examined per rule.

use crate::idset::IdSet;
use crate::index::InvIndex;
use crate::lower::Lowered;
use crate::problems;
use seg_diag::{Diagnostics, Span};
use seg_ir::{Action, CidrSet, Condition, EndpointSet, PortSet, Rule};
use std::cell::OnceCell;
use std::collections::HashMap;

const MAX_CANDIDATES: usize = 128;
/// Destination identities whose buckets are searched for union coverage.
const MAX_UNION_BUCKETS: usize = 64;

struct Cx<'l> {
    low: &'l Lowered,
    index: &'l InvIndex<'l>,
    /// Per rule: addresses of its source and destination identities (lazy).
    addrs: Vec<[OnceCell<CidrSet>; 2]>,
    /// Per action: rules by destination identity, and rules with destination networks.
    by_dst: [HashMap<u32, Vec<u32>>; 2],
    net_dst: [Vec<u32>; 2],
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

pub(crate) fn check(low: &Lowered, index: &InvIndex, diags: &mut Diagnostics) {
    let mut by_dst: [HashMap<u32, Vec<u32>>; 2] = [HashMap::new(), HashMap::new()];
    let mut net_dst: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
    for (i, (r, f)) in low.rules.iter().zip(&low.facts).enumerate() {
        let a = slot(r.action);
        for id in f.dst.iter() {
            by_dst[a].entry(id).or_default().push(i as u32);
        }
        if !r.dst.networks.is_empty() {
            net_dst[a].push(i as u32);
        }
    }
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
    };
    let mut by_source: Vec<Vec<usize>> = vec![Vec::new(); low.sources.len()];
    for (i, f) in low.facts.iter().enumerate() {
        by_source[f.source].push(i);
    }
    for (s, rules) in by_source.iter().enumerate() {
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
            !ia.intersect(ib).is_empty()
                || ea.networks.overlaps(&eb.networks)
                || ea.networks.overlaps(self.addresses(b, e))
                || eb.networks.overlaps(self.addresses(a, e))
        })
    }

    fn candidates(&self, r: usize, action: Action) -> &[u32] {
        let a = slot(action);
        let bucket = match self.low.facts[r].dst.first() {
            Some(id) => self.by_dst[a].get(&id).map_or(&[][..], Vec::as_slice),
            None => &self.net_dst[a],
        };
        &bucket[..bucket.len().min(MAX_CANDIDATES)]
    }

    /// Does rule `s` cover rule `r` (same action; see the module docs)?
    fn covers(&self, s: usize, r: usize) -> bool {
        let (rs, rr) = (&self.low.rules[s], &self.low.rules[r]);
        (rs.condition == Condition::True || rs.condition == rr.condition)
            && lives_as_long(rs, rr)
            && self.end_covered(r, s, End::Dst)
            && self.end_covered(r, s, End::Src)
            && rr.services.is_subset(&rs.services)
    }
}

fn lives_as_long(s: &Rule, r: &Rule) -> bool {
    match (s.expires, r.expires) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => a >= b,
    }
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
    let mut cands: Vec<u32> = Vec::new();
    for id in cx.low.facts[r].dst.iter().take(MAX_UNION_BUCKETS) {
        if let Some(b) = cx.by_dst[1].get(&id) {
            cands.extend(b.iter().take(MAX_CANDIDATES));
        }
    }
    if !allow.dst.networks.is_empty() {
        cands.extend(cx.net_dst[1].iter().take(MAX_CANDIDATES));
    }
    cands.sort_unstable();
    cands.dedup();
    cands.truncate(MAX_CANDIDATES);
    let cands: Vec<usize> = cands
        .into_iter()
        .map(|c| c as usize)
        .filter(|&d| {
            let deny = &rules[d];
            deny.condition == Condition::True
                && lives_as_long(deny, allow)
                && !deny.services.intersect(&allow.services).is_empty()
                && cx.ends_overlap(r, d)
        })
        .collect();
    let ports_ok = |d: usize| allow.services.is_subset(&rules[d].services);
    let (src_ok, dst_ok) = (
        |d: usize| cx.end_covered(r, d, End::Src),
        |d: usize| cx.end_covered(r, d, End::Dst),
    );
    if let Some(&d) = cands
        .iter()
        .find(|&&d| ports_ok(d) && src_ok(d) && dst_ok(d))
    {
        return Some(vec![d]);
    }
    // Union along the ports.
    let along: Vec<usize> = cands
        .iter()
        .copied()
        .filter(|&d| src_ok(d) && dst_ok(d))
        .collect();
    let ports = along
        .iter()
        .fold(PortSet::empty(), |acc, &d| acc.union(&rules[d].services));
    if !along.is_empty() && allow.services.is_subset(&ports) {
        return Some(along);
    }
    // Union along destinations, then along sources.
    for (e, other) in [(End::Dst, End::Src), (End::Src, End::Dst)] {
        let along: Vec<usize> = cands
            .iter()
            .copied()
            .filter(|&d| ports_ok(d) && cx.end_covered(r, d, other))
            .collect();
        if along.is_empty() {
            continue;
        }
        let mut ids = IdSet::empty();
        let mut nets = CidrSet::empty();
        for &d in &along {
            let (ep, f) = cx.end(d, e);
            ids = ids.union(f);
            nets = nets.union(&ep.networks).union(cx.addresses(d, e));
        }
        let (ep, f) = cx.end(r, e);
        if f.is_subset(&ids) && ep.networks.is_subset(&nets) {
            return Some(along);
        }
    }
    None
}
