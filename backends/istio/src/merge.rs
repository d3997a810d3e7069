//! A workload's lowered rules (one action) → as few Istio rules as the
//! union allows, without changing what they match.
//!
//! An Istio rule matches `from` × `to` (any source of `from` and any
//! operation of `to`), and the rules of a policy are ORed, so what a list of
//! rules matches is, per source, the union of the operations of the rules
//! that name it. This module computes that union per source, drops what a
//! broader entry already matches, and writes one rule per distinct union
//! with all its sources. Each step is an exact rewriting of the union:
//! - `{a} × T1 ∪ {a} × T2 = {a} × (T1 ∪ T2)`;
//! - `S1 × T ∪ S2 × T = (S1 ∪ S2) × T`;
//! - an entry (ports with HTTP constraints) is dropped on the ports where the
//!   same source, or every source, is matched without HTTP constraints or with
//!   the same ones (its match is a subset there).
//!
//! So the output neither widens nor narrows the rules (whatever Istio does
//! with HTTP fields on a port it treats as plain TCP, it does per entry), and
//! it depends only on the set of rules, not on their order.

use crate::lower::{Http, Lowered, Ops, Peer, every_port};
use crate::model::{From, Operation, PolicyRule, Source, To};
use seg_ir::PortRanges;
use std::collections::{BTreeSet, HashMap};

/// Rules of one action on one workload, and the ids of the seg rules each
/// comes from, in a stable order.
pub fn merge<'a>(rules: &[(&'a Lowered, &'a str)]) -> Vec<(PolicyRule, BTreeSet<&'a str>)> {
    // Per source, the rules that name it; sources named by the same rules
    // have the same union, computed once.
    let mut by_peer: HashMap<&Peer, Vec<usize>> = HashMap::new();
    for (i, (lowered, _)) in rules.iter().enumerate() {
        for peer in &lowered.peers {
            let list = by_peer.entry(peer).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    let mut by_rules: HashMap<Vec<usize>, Vec<&Peer>> = HashMap::new();
    for (peer, list) in by_peer {
        by_rules.entry(list).or_default().push(peer);
    }
    let mut unions: Vec<(Vec<&Peer>, Ops, Vec<usize>)> = by_rules
        .into_iter()
        .map(|(list, peers)| {
            let mut ops = Ops::new();
            for &i in &list {
                for (http, ports) in &rules[i].0.ops {
                    let e = ops.entry(http.clone()).or_default();
                    *e = e.union(ports);
                }
            }
            (peers, ops, list)
        })
        .collect();
    let any = unions
        .iter()
        .find(|(peers, _, _)| peers.contains(&&Peer::Any))
        .map(|(_, ops, _)| ops.clone());
    for (peers, ops, _) in &mut unions {
        let covered = if peers.contains(&&Peer::Any) {
            None
        } else {
            any.as_ref()
        };
        simplify(ops, covered);
    }
    // Sources with equal unions share one rule.
    let mut by_ops: HashMap<Ops, (Vec<&Peer>, BTreeSet<&str>)> = HashMap::new();
    for (peers, ops, list) in unions {
        if ops.is_empty() {
            continue;
        }
        let slot = by_ops.entry(ops).or_default();
        slot.0.extend(peers);
        slot.1.extend(list.iter().map(|&i| rules[i].1));
    }
    let mut out: Vec<(Vec<&Peer>, PolicyRule, BTreeSet<&str>)> = by_ops
        .into_iter()
        .map(|(ops, (mut peers, ids))| {
            peers.sort();
            let rule = PolicyRule {
                from: from(&peers),
                to: to(&ops),
            };
            (peers, rule, ids)
        })
        .collect();
    // Each source is in one rule only: the first source orders the rules.
    out.sort_by(|a, b| a.0.first().cmp(&b.0.first()));
    out.into_iter().map(|(_, r, ids)| (r, ids)).collect()
}

/// Drop from `ops` what its entry without HTTP constraints, or `covered`
/// (what every source is matched on), already matches.
fn simplify(ops: &mut Ops, covered: Option<&Ops>) {
    let plain = Http::default();
    let own_plain = ops.get(&plain).cloned().unwrap_or_default();
    for (http, ports) in ops.iter_mut() {
        if let Some(c) = covered {
            if let Some(p) = c.get(&plain) {
                *ports = ports.difference(p);
            }
            if *http != plain
                && let Some(p) = c.get(http)
            {
                *ports = ports.difference(p);
            }
        }
        if *http != plain {
            *ports = ports.difference(&own_plain);
        }
    }
    ops.retain(|_, ports| !ports.is_empty());
}

/// `from` for sorted sources: absent for any source, else one source per
/// kind (the fields of one source are ANDed, the sources ORed).
fn from(peers: &[&Peer]) -> Vec<From> {
    if peers.contains(&&Peer::Any) {
        return Vec::new();
    }
    let mut source = [Source::default(), Source::default(), Source::default()];
    for peer in peers {
        match peer {
            Peer::Any => {}
            Peer::Principal(p) => source[0].principals.push(p.clone()),
            Peer::Namespace(n) => source[1].namespaces.push(n.clone()),
            Peer::Block(b) => source[2].ip_blocks.push(b.clone()),
        }
    }
    source
        .into_iter()
        .filter(|s| *s != Source::default())
        .map(|source| From { source })
        .collect()
}

/// `to` for a union of operations: absent when it matches every operation.
fn to(ops: &Ops) -> Vec<To> {
    if ops
        .get(&Http::default())
        .is_some_and(|p| *p == every_port())
    {
        return Vec::new();
    }
    ops.iter()
        .map(|(http, ports)| {
            let (ports, not_ports) = port_lists(ports);
            To {
                operation: Operation {
                    ports,
                    not_ports,
                    methods: http.methods.clone(),
                    not_methods: http.not_methods.clone(),
                    paths: http.paths.clone(),
                    not_paths: http.not_paths.clone(),
                },
            }
        })
        .collect()
}

/// Ports 1–65535 as Istio `ports` or `notPorts` (single ports, whichever
/// list is shorter; both empty: every port).
fn port_lists(ports: &PortRanges) -> (Vec<String>, Vec<String>) {
    let count = |r: &PortRanges| -> usize {
        r.ranges()
            .iter()
            .map(|(lo, hi)| usize::from(hi - lo) + 1)
            .sum()
    };
    let list = |r: &PortRanges| -> Vec<String> {
        r.ranges()
            .iter()
            .flat_map(|&(lo, hi)| (lo..=hi).map(|p| p.to_string()))
            .collect()
    };
    let missing = every_port().difference(ports);
    if missing.is_empty() {
        (Vec::new(), Vec::new())
    } else if count(&missing) < count(ports) {
        (Vec::new(), list(&missing))
    } else {
        (list(ports), Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(p: &str) -> Peer {
        Peer::Principal(format!("td/ns/n/sa/{p}"))
    }

    fn ops(entries: &[(&[&str], PortRanges)]) -> Ops {
        entries
            .iter()
            .map(|(methods, ports)| {
                (
                    Http {
                        methods: methods.iter().map(|m| m.to_string()).collect(),
                        ..Http::default()
                    },
                    ports.clone(),
                )
            })
            .collect()
    }

    fn lowered(peers: Vec<Peer>, ops: Ops) -> Lowered {
        Lowered { peers, ops }
    }

    #[test]
    fn ports_take_the_shorter_form() {
        assert_eq!(
            port_lists(&PortRanges::range(80, 81)),
            (vec!["80".into(), "81".into()], vec![])
        );
        assert_eq!(port_lists(&every_port()), (vec![], vec![]));
        assert_eq!(
            port_lists(&PortRanges::range(2, 65535)),
            (vec![], vec!["1".into()])
        );
    }

    #[test]
    fn sources_with_the_same_union_share_one_rule() {
        let a = lowered(
            vec![principal("a"), principal("b")],
            ops(&[(&[], PortRanges::range(80, 80))]),
        );
        let b = lowered(
            vec![principal("a"), principal("b")],
            ops(&[(&[], PortRanges::range(443, 443))]),
        );
        let c = lowered(
            vec![principal("c")],
            ops(&[(&[], PortRanges::range(80, 80))]),
        );
        let merged = merge(&[(&a, "p#1"), (&b, "p#2"), (&c, "p#3")]);
        assert_eq!(merged.len(), 2, "{merged:#?}");
        let (first, ids) = &merged[0];
        assert_eq!(
            first.from[0].source.principals,
            ["td/ns/n/sa/a", "td/ns/n/sa/b"]
        );
        assert_eq!(first.to[0].operation.ports, ["80", "443"]);
        assert_eq!(ids.iter().copied().collect::<Vec<_>>(), ["p#1", "p#2"]);
        assert_eq!(merged[1].0.from[0].source.principals, ["td/ns/n/sa/c"]);
        assert_eq!(merged[1].0.to[0].operation.ports, ["80"]);
        // The order of the rules does not matter.
        let again = merge(&[(&c, "p#3"), (&b, "p#2"), (&a, "p#1")]);
        assert_eq!(merged, again);
    }

    #[test]
    fn what_a_broader_entry_matches_is_dropped() {
        // Any source on 80 with GET, `a` on 80 without HTTP constraints and
        // on 80–81 with GET: `a` keeps 80 (all methods) and 81 with GET.
        let any = lowered(
            vec![Peer::Any],
            ops(&[(&["GET"], PortRanges::range(80, 80))]),
        );
        let a = lowered(
            vec![principal("a")],
            ops(&[
                (&[], PortRanges::range(80, 80)),
                (&["GET"], PortRanges::range(80, 81)),
            ]),
        );
        let merged = merge(&[(&any, "p#1"), (&a, "p#2")]);
        assert_eq!(merged.len(), 2);
        assert!(merged[0].0.from.is_empty());
        let ops_a = &merged[1].0.to;
        assert_eq!(ops_a.len(), 2, "{ops_a:#?}");
        assert_eq!(ops_a[0].operation.ports, ["80"]);
        assert!(ops_a[0].operation.methods.is_empty());
        assert_eq!(ops_a[1].operation.ports, ["81"]);
        assert_eq!(ops_a[1].operation.methods, ["GET"]);
        // Every port for any source: `to` is absent and `a` is redundant.
        let all = lowered(vec![Peer::Any], ops(&[(&[], every_port())]));
        let merged = merge(&[(&all, "p#1"), (&a, "p#2")]);
        assert_eq!(merged.len(), 1);
        assert_eq!(
            merged[0].0,
            PolicyRule {
                from: vec![],
                to: vec![]
            }
        );
    }

    #[test]
    fn kinds_of_sources_stay_apart_in_one_rule() {
        let r = lowered(
            vec![
                Peer::Block("10.0.0.0/8".into()),
                Peer::Namespace("n".into()),
                principal("a"),
            ],
            ops(&[(&[], PortRanges::range(22, 22))]),
        );
        let merged = merge(&[(&r, "p#1")]);
        let from = &merged[0].0.from;
        assert_eq!(from.len(), 3);
        assert_eq!(from[0].source.principals, ["td/ns/n/sa/a"]);
        assert_eq!(from[1].source.namespaces, ["n"]);
        assert_eq!(from[2].source.ip_blocks, ["10.0.0.0/8"]);
    }
}
