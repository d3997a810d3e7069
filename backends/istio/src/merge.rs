//! A workload's lowered rules (one action) → as few Istio rules as the
//! union allows, without changing what they match.
//!
//! An Istio rule matches `from` × `to` (any source of `from` and any
//! operation of `to`), a rectangle; the rules of a policy are ORed. Merging
//! two rectangles is exact only when one side is equal, so:
//! - rules with the same sources become one, with the union of their
//!   operations: `S × T1 ∪ S × T2 = S × (T1 ∪ T2)`;
//! - rules with the same operations become one, with the union of their
//!   sources: `S1 × T ∪ S2 × T = (S1 ∪ S2) × T`;
//! - what a rule matches that a broader one already does is dropped: its
//!   ports where the same rule matches without HTTP constraints, or where
//!   the rule for every source matches (without HTTP constraints or with the
//!   same ones); a rule whose sources and operations another one covers.
//!
//! The first two alternate until nothing merges. Each step rewrites the
//! union exactly, so nothing is widened or narrowed (whatever Istio does
//! with HTTP fields on a port it treats as plain TCP, it does per entry),
//! and the output depends only on the set of rules, not on their order.
//! Rectangles rather than one rule per source keep a large port list that
//! a few sources extend from being written once per such source.

use crate::lower::{Http, Lowered, Ops, Peer, every_port};
use crate::model::{From, Operation, PolicyRule, Source, To};
use seg_ir::PortRanges;
use std::collections::{BTreeSet, HashMap};

/// One Istio rule being assembled; `peers` index the peer table (sorted,
/// without repeats: comparing, hashing and merging them is a walk over a slice).
struct Rect<'a> {
    peers: Vec<u32>,
    ops: Ops,
    ids: BTreeSet<&'a str>,
}

/// The table of every peer of `rules`, sorted, and each rule's peers as
/// indices into it (`Lowered::ids`). `Peer::Any` sorts first: when present
/// it is 0, and a rule naming it names it alone.
pub fn intern(rules: &mut [Lowered]) -> Vec<Peer> {
    let table: Vec<Peer> = rules
        .iter()
        .flat_map(|r| r.peers.iter().cloned())
        .collect::<BTreeSet<Peer>>()
        .into_iter()
        .collect();
    let index: HashMap<&Peer, u32> = table
        .iter()
        .enumerate()
        .map(|(i, p)| (p, i as u32))
        .collect();
    for r in rules.iter_mut() {
        r.ids = if r.peers.contains(&Peer::Any) {
            vec![index[&Peer::Any]]
        } else {
            let mut ids: Vec<u32> = r.peers.iter().map(|p| index[p]).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
    }
    table
}

/// Above this many rules on one workload, covered rules are not looked for
/// (a quadratic search); the output stays exact, only longer.
const COVER_LIMIT: usize = 512;

/// Rules of one action on one workload, and the ids of the seg rules each
/// comes from, in a stable order.
pub fn merge<'a>(
    rules: &[(&'a Lowered, &'a str)],
    table: &[Peer],
) -> Vec<(PolicyRule, BTreeSet<&'a str>)> {
    let any = table.first().filter(|p| **p == Peer::Any).map(|_| 0u32);
    // `Peer::Any` is index 0: the first of a sorted list.
    let is_any = |peers: &[u32]| any.is_some_and(|a| peers.first() == Some(&a));
    let mut rects: Vec<Rect<'a>> = rules
        .iter()
        .map(|(lowered, id)| Rect {
            peers: lowered.ids.clone(),
            ops: lowered.ops.clone(),
            ids: BTreeSet::from([*id]),
        })
        .collect();
    rects = by_peers(rects);
    let any_ops = rects
        .iter()
        .find(|r| is_any(&r.peers))
        .map(|r| r.ops.clone());
    for r in &mut rects {
        let covered = if is_any(&r.peers) {
            None
        } else {
            any_ops.as_ref()
        };
        simplify(&mut r.ops, covered);
    }
    // A rule the rule for every source covers entirely: its ids go there.
    let (mut rects, gone): (Vec<Rect>, Vec<Rect>) =
        rects.into_iter().partition(|r| !r.ops.is_empty());
    if let Some(a) = rects.iter_mut().find(|r| is_any(&r.peers)) {
        a.ids.extend(gone.into_iter().flat_map(|r| r.ids));
    }
    loop {
        let before = rects.len();
        rects = by_peers(by_ops(rects, any));
        if rects.len() == before {
            break;
        }
    }
    let rects = drop_covered(rects, any);
    let mut out: Vec<(Vec<u32>, PolicyRule, BTreeSet<&str>)> = rects
        .into_iter()
        .map(|r| {
            let peers = r.peers;
            let named: Vec<&Peer> = peers.iter().map(|&i| &table[i as usize]).collect();
            let rule = PolicyRule {
                from: from(&named),
                to: to(&r.ops),
            };
            (peers, rule, r.ids)
        })
        .collect();
    // Indices follow the sorted table: this orders by the sources themselves.
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.to.cmp(&b.1.to)));
    out.into_iter().map(|(_, r, ids)| (r, ids)).collect()
}

/// Rules with the same sources as one, with the union of their operations.
fn by_peers(rects: Vec<Rect<'_>>) -> Vec<Rect<'_>> {
    let mut out: Vec<Rect> = Vec::with_capacity(rects.len());
    let mut index: HashMap<Vec<u32>, usize> = HashMap::new();
    for r in rects {
        match index.get(&r.peers) {
            Some(&i) => {
                for (http, ports) in r.ops {
                    let e = out[i].ops.entry(http).or_default();
                    *e = e.union(&ports);
                }
                out[i].ids.extend(r.ids);
            }
            None => {
                index.insert(r.peers.clone(), out.len());
                out.push(r);
            }
        }
    }
    out
}

/// The sorted union of two sorted lists without repeats.
fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = [a, b].concat();
    // Two sorted runs: the stable sort finds them and merges them in one pass.
    out.sort();
    out.dedup();
    out
}

/// Whether every element of sorted `a` is in sorted `b`.
fn subset(a: &[u32], b: &[u32]) -> bool {
    let mut rest = b;
    a.iter().all(|x| match rest.binary_search(x) {
        Ok(at) => {
            rest = &rest[at + 1..];
            true
        }
        Err(_) => false,
    })
}

/// Rules with the same operations as one, with the union of their sources.
fn by_ops(rects: Vec<Rect<'_>>, any: Option<u32>) -> Vec<Rect<'_>> {
    let mut out: Vec<Rect> = Vec::with_capacity(rects.len());
    let mut index: HashMap<Ops, usize> = HashMap::new();
    for r in rects {
        match index.get(&r.ops) {
            Some(&i) => {
                let o = &mut out[i];
                o.peers = union(&o.peers, &r.peers);
                if let Some(a) = any.filter(|a| o.peers.first() == Some(a)) {
                    o.peers = vec![a];
                }
                o.ids.extend(r.ids);
            }
            None => {
                index.insert(r.ops.clone(), out.len());
                out.push(r);
            }
        }
    }
    out
}

/// Whether `inner` matches only what `outer` matches.
fn ops_within(inner: &Ops, outer: &Ops) -> bool {
    let plain = outer.get(&Http::default());
    inner.iter().all(|(http, ports)| {
        let mut rest = ports.clone();
        if let Some(p) = plain {
            rest = rest.difference(p);
        }
        if let Some(p) = outer.get(http) {
            rest = rest.difference(p);
        }
        rest.is_empty()
    })
}

/// Drop each rule whose sources and operations another rule covers (its
/// ids go to that rule).
fn drop_covered(mut rects: Vec<Rect<'_>>, any: Option<u32>) -> Vec<Rect<'_>> {
    if rects.len() > COVER_LIMIT {
        return rects;
    }
    let mut i = 0;
    while i < rects.len() {
        let cover = (0..rects.len()).find(|&j| {
            j != i
                && (any.is_some_and(|a| rects[j].peers.first() == Some(&a))
                    || subset(&rects[i].peers, &rects[j].peers))
                && ops_within(&rects[i].ops, &rects[j].ops)
        });
        match cover {
            Some(j) => {
                let gone = rects.remove(i);
                let j = if j > i { j - 1 } else { j };
                rects[j].ids.extend(gone.ids);
            }
            None => i += 1,
        }
    }
    rects
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
        Lowered {
            peers,
            ops,
            ids: Vec::new(),
        }
    }

    /// [`merge`] over rules named by id, interned together.
    fn run(rules: Vec<(Lowered, &str)>) -> Vec<(PolicyRule, Vec<String>)> {
        let (mut lowered, ids): (Vec<Lowered>, Vec<&str>) = rules.into_iter().unzip();
        let table = intern(&mut lowered);
        let list: Vec<(&Lowered, &str)> = lowered.iter().zip(ids).collect();
        merge(&list, &table)
            .into_iter()
            .map(|(r, ids)| (r, ids.into_iter().map(String::from).collect()))
            .collect()
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
        let merged = run(vec![
            (a.clone(), "p#1"),
            (b.clone(), "p#2"),
            (c.clone(), "p#3"),
        ]);
        assert_eq!(merged.len(), 2, "{merged:#?}");
        let (first, ids) = &merged[0];
        assert_eq!(
            first.from[0].source.principals,
            ["td/ns/n/sa/a", "td/ns/n/sa/b"]
        );
        assert_eq!(first.to[0].operation.ports, ["80", "443"]);
        assert_eq!(ids.clone(), ["p#1", "p#2"]);
        assert_eq!(merged[1].0.from[0].source.principals, ["td/ns/n/sa/c"]);
        assert_eq!(merged[1].0.to[0].operation.ports, ["80"]);
        // The order of the rules does not matter.
        let again = run(vec![
            (c.clone(), "p#3"),
            (b.clone(), "p#2"),
            (a.clone(), "p#1"),
        ]);
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
        let merged = run(vec![(any.clone(), "p#1"), (a.clone(), "p#2")]);
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
        let merged = run(vec![(all.clone(), "p#1"), (a.clone(), "p#2")]);
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
    fn a_port_list_that_some_sources_extend_is_written_once() {
        let many = lowered(
            vec![principal("a"), principal("b"), principal("c")],
            ops(&[(&[], PortRanges::range(30000, 30099))]),
        );
        let one = lowered(
            vec![principal("a")],
            ops(&[(&[], PortRanges::range(5432, 5432))]),
        );
        let same_ports = lowered(
            vec![principal("d")],
            ops(&[(&[], PortRanges::range(5432, 5432))]),
        );
        let inside = lowered(
            vec![principal("b")],
            ops(&[(&[], PortRanges::range(30000, 30001))]),
        );
        let merged = run(vec![
            (many.clone(), "p#1"),
            (one.clone(), "p#2"),
            (same_ports.clone(), "p#3"),
            (inside.clone(), "p#4"),
        ]);
        assert_eq!(merged.len(), 2, "{merged:#?}");
        let ports: usize = merged
            .iter()
            .map(|(r, _)| r.to[0].operation.ports.len())
            .sum();
        assert_eq!(ports, 101);
        // `a` and `d` share 5432; `b`'s rule is covered by the first one.
        let (big, ids) = merged
            .iter()
            .find(|(r, _)| r.to[0].operation.ports.len() == 100)
            .expect("the large rule");
        assert_eq!(big.from[0].source.principals.len(), 3);
        assert_eq!(ids.clone(), ["p#1", "p#4"]);
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
        let merged = run(vec![(r.clone(), "p#1")]);
        let from = &merged[0].0.from;
        assert_eq!(from.len(), 3);
        assert_eq!(from[0].source.principals, ["td/ns/n/sa/a"]);
        assert_eq!(from[1].source.namespaces, ["n"]);
        assert_eq!(from[2].source.ip_blocks, ["10.0.0.0/8"]);
    }
}
