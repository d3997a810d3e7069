//! An address set as few `ipBlock`s as possible, using `except` for holes.
//!
//! Input: a [`CidrSet`]. Output: blocks `(cidr, except)` whose union, each
//! block minus its excepts, is exactly the set. Every `cidr` is canonical,
//! every `except` is canonical and strictly inside its `cidr` (the API server
//! rejects anything else; validators do not check it).
//!
//! Method: walk the prefix tree from `0.0.0.0/0` and `::/0`; at each prefix
//! choose the cheaper of "split into the two halves" and "this prefix minus
//! the canonical CIDRs of what is missing" (cost = CIDR strings written; ties
//! go to the split, which needs no `except`). Only prefixes the set partly
//! covers are visited, and the number of holes is summed up from the halves
//! (a hole CIDR never straddles them), so the walk is linear in the number of
//! ranges times the address width, without building sets on the way.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use seg_ir::CidrSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One `ipBlock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub cidr: IpNet,
    pub except: Vec<IpNet>,
}

pub fn cover(set: &CidrSet) -> Vec<Block> {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for (lo, hi) in set.ranges() {
        match (lo, hi) {
            (IpAddr::V4(lo), IpAddr::V4(hi)) => {
                v4.push((u128::from(u32::from(lo)), u128::from(u32::from(hi))));
            }
            (IpAddr::V6(lo), IpAddr::V6(hi)) => v6.push((u128::from(lo), u128::from(hi))),
            _ => {}
        }
    }
    let mut out = Vec::new();
    Family::V4.best(&v4, Node { base: 0, size: 32 }, &mut out);
    Family::V6.best(&v6, Node { base: 0, size: 128 }, &mut out);
    out
}

#[derive(Clone, Copy)]
enum Family {
    V4,
    V6,
}

/// A prefix: `2^size` addresses from `base`.
#[derive(Clone, Copy)]
struct Node {
    base: u128,
    size: u32,
}

impl Node {
    fn end(self) -> u128 {
        if self.size >= 128 {
            u128::MAX
        } else {
            self.base + ((1u128 << self.size) - 1)
        }
    }

    /// The two halves (`size > 0`).
    fn halves(self) -> (Node, Node) {
        let size = self.size - 1;
        let mid = self.base + (1u128 << size);
        (
            Node {
                base: self.base,
                size,
            },
            Node { base: mid, size },
        )
    }
}

/// How `ranges` (sorted, disjoint, non-adjacent, each meeting `node`) fill `node`.
enum Fill {
    Empty,
    Full,
    Part,
}

fn fill(ranges: &[(u128, u128)], node: Node) -> Fill {
    match ranges {
        [] => Fill::Empty,
        [(lo, hi)] if *lo <= node.base && *hi >= node.end() => Fill::Full,
        _ => Fill::Part,
    }
}

/// Inclusive address ranges, sorted.
type Ranges<'a> = &'a [(u128, u128)];

/// The ranges that meet each half of `node`.
fn split(ranges: Ranges<'_>, node: Node) -> (Ranges<'_>, Ranges<'_>) {
    let (_, right) = node.halves();
    let left_end = ranges.partition_point(|r| r.0 < right.base);
    let right_start = ranges.partition_point(|r| r.1 < right.base);
    (&ranges[..left_end], &ranges[right_start..])
}

impl Family {
    fn net(self, node: Node) -> IpNet {
        match self {
            Family::V4 => {
                let addr = Ipv4Addr::from(node.base as u32);
                IpNet::V4(Ipv4Net::new(addr, (32 - node.size) as u8).expect("prefix fits"))
            }
            Family::V6 => {
                let addr = Ipv6Addr::from(node.base);
                IpNet::V6(Ipv6Net::new(addr, (128 - node.size) as u8).expect("prefix fits"))
            }
        }
    }

    /// Append the cheapest blocks for `ranges` within `node`; returns their
    /// cost and how many CIDRs the holes of `node` take.
    fn best(self, ranges: &[(u128, u128)], node: Node, out: &mut Vec<Block>) -> (usize, usize) {
        match fill(ranges, node) {
            Fill::Empty => (0, 1),
            Fill::Full => {
                out.push(Block {
                    cidr: self.net(node),
                    except: Vec::new(),
                });
                (1, 0)
            }
            Fill::Part => {
                // A partly filled node has more than one address.
                let (l, r) = node.halves();
                let (in_l, in_r) = split(ranges, node);
                let start = out.len();
                let (cost_l, holes_l) = self.best(in_l, l, out);
                let (cost_r, holes_r) = self.best(in_r, r, out);
                let (split_cost, holes) = (cost_l + cost_r, holes_l + holes_r);
                if 1 + holes < split_cost {
                    out.truncate(start);
                    let mut except = Vec::with_capacity(holes);
                    self.holes(ranges, node, &mut except);
                    out.push(Block {
                        cidr: self.net(node),
                        except,
                    });
                    (1 + holes, holes)
                } else {
                    (split_cost, holes)
                }
            }
        }
    }

    /// The canonical CIDRs of `node` minus `ranges`, ascending.
    fn holes(self, ranges: &[(u128, u128)], node: Node, out: &mut Vec<IpNet>) {
        match fill(ranges, node) {
            Fill::Empty => out.push(self.net(node)),
            Fill::Full => {}
            Fill::Part => {
                let (l, r) = node.halves();
                let (in_l, in_r) = split(ranges, node);
                self.holes(in_l, l, out);
                self.holes(in_r, r, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(blocks: &[Block]) -> usize {
        blocks.iter().map(|b| 1 + b.except.len()).sum()
    }

    /// The search written plainly with set operations at every prefix (the
    /// former implementation): the fast walk must choose the same blocks.
    fn reference(set: &CidrSet) -> Vec<Block> {
        fn best(set: &CidrSet, node: IpNet) -> Vec<Block> {
            let whole = CidrSet::from_net(node);
            let inside = set.intersect(&whole);
            if inside.is_empty() {
                return Vec::new();
            }
            if inside == whole {
                return vec![Block {
                    cidr: node,
                    except: Vec::new(),
                }];
            }
            let with_except = vec![Block {
                cidr: node,
                except: whole.difference(&inside).to_cidrs(),
            }];
            let halves: Vec<IpNet> = node.subnets(node.prefix_len() + 1).unwrap().collect();
            let split: Vec<Block> = halves.iter().flat_map(|h| best(&inside, *h)).collect();
            if cost(&split) <= cost(&with_except) {
                split
            } else {
                with_except
            }
        }
        ["0.0.0.0/0", "::/0"]
            .iter()
            .flat_map(|root| best(set, root.parse().unwrap()))
            .collect()
    }

    /// Random sets of a few ranges, clustered so that holes and neighbours
    /// occur at every depth; deterministic.
    #[test]
    fn fast_walk_chooses_what_the_plain_search_chooses() {
        let mut state = 0x5eed_u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        for _ in 0..300 {
            let mut nets = Vec::new();
            for _ in 0..1 + next() % 8 {
                let v4 = next() % 3 != 0;
                let len = next() % 9;
                let text = if v4 {
                    format!("10.0.{}.{}/{}", next() % 4, next() % 256, 24 + len.min(8))
                } else {
                    format!("fd00::{:x}/{}", next() % 1024, 118 + len)
                };
                let net: IpNet = text.parse().unwrap();
                nets.push(net.trunc());
            }
            let mut s = CidrSet::from_nets(&nets);
            if next() % 2 == 0 {
                s = set(&["10.0.0.0/22", "fd00::/118"]).difference(&s);
            }
            if next() % 4 == 0 {
                s = CidrSet::all().difference(&s);
            }
            assert_eq!(cover(&s), reference(&s), "{:?}", s.to_cidrs());
        }
    }

    fn set(nets: &[&str]) -> CidrSet {
        let nets: Vec<IpNet> = nets.iter().map(|n| n.parse().unwrap()).collect();
        CidrSet::from_nets(&nets)
    }

    fn text(blocks: &[Block]) -> Vec<String> {
        blocks
            .iter()
            .map(|b| {
                let ex: Vec<String> = b.except.iter().map(ToString::to_string).collect();
                if ex.is_empty() {
                    b.cidr.to_string()
                } else {
                    format!("{} except {}", b.cidr, ex.join(" "))
                }
            })
            .collect()
    }

    fn union(blocks: &[Block]) -> CidrSet {
        blocks.iter().fold(CidrSet::empty(), |acc, b| {
            acc.union(&CidrSet::from_net(b.cidr).difference(&CidrSet::from_nets(&b.except)))
        })
    }

    #[test]
    fn everything_but_one_address_is_one_block_with_except() {
        let s = CidrSet::all().difference(&set(&["169.254.169.254/32"]));
        assert_eq!(
            text(&cover(&s)),
            ["0.0.0.0/0 except 169.254.169.254/32", "::/0"]
        );
    }

    #[test]
    fn plain_sets_stay_plain() {
        let s = set(&["10.0.0.0/8", "192.168.1.0/24", "fd00::/8"]);
        assert_eq!(
            text(&cover(&s)),
            ["10.0.0.0/8", "192.168.1.0/24", "fd00::/8"]
        );
        assert!(cover(&CidrSet::empty()).is_empty());
    }

    #[test]
    fn holes_inside_a_network() {
        let s = set(&["10.0.0.0/8"]).difference(&set(&["10.1.2.10/32", "10.1.2.11/32"]));
        assert_eq!(text(&cover(&s)), ["10.0.0.0/8 except 10.1.2.10/31"]);
        // A half-open hole is cheaper as the other half.
        let s = set(&["10.0.0.0/8"]).difference(&set(&["10.128.0.0/9"]));
        assert_eq!(text(&cover(&s)), ["10.0.0.0/9"]);
    }

    #[test]
    fn covers_are_exact_and_excepts_strictly_inside() {
        let cases = [
            CidrSet::all().difference(&set(&[
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "fd00::/8",
            ])),
            set(&["10.0.0.0/24"]).difference(&set(&["10.0.0.128/32"])),
            set(&["1.2.3.4/32", "1.2.3.6/31", "5.0.0.0/8"]).difference(&set(&["5.5.5.5/32"])),
            set(&["0.0.0.0/1"]).difference(&set(&["0.0.0.0/32"])),
        ];
        for s in cases {
            let blocks = cover(&s);
            assert_eq!(union(&blocks), s, "{:?}", text(&blocks));
            for b in &blocks {
                assert_eq!(b.cidr, b.cidr.trunc());
                for e in &b.except {
                    assert!(b.cidr.contains(e) && *e != b.cidr, "{b:?}");
                    assert_eq!(*e, e.trunc());
                }
            }
            assert!(cost(&blocks) <= s.cidr_count());
        }
    }
}
