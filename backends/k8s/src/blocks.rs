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
//! go to the split, which needs no `except`). Large sets skip the search.

use ipnet::IpNet;
use seg_ir::CidrSet;

/// One `ipBlock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub cidr: IpNet,
    pub except: Vec<IpNet>,
}

/// Above this many CIDRs the set is written as plain blocks.
const SEARCH_LIMIT: usize = 256;

pub fn cover(set: &CidrSet) -> Vec<Block> {
    if set.cidr_count() > SEARCH_LIMIT {
        return plain(set);
    }
    let roots: [IpNet; 2] = [
        IpNet::V4(ipnet::Ipv4Net::default()),
        IpNet::V6(ipnet::Ipv6Net::default()),
    ];
    roots.iter().flat_map(|root| best(set, *root)).collect()
}

fn plain(set: &CidrSet) -> Vec<Block> {
    set.to_cidrs()
        .into_iter()
        .map(|cidr| Block {
            cidr,
            except: Vec::new(),
        })
        .collect()
}

fn cost(blocks: &[Block]) -> usize {
    blocks.iter().map(|b| 1 + b.except.len()).sum()
}

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
    let holes = whole.difference(&inside).to_cidrs();
    let with_except = vec![Block {
        cidr: node,
        except: holes,
    }];
    let halves: Vec<IpNet> = match node.subnets(node.prefix_len().saturating_add(1)) {
        Ok(it) => it.collect(),
        Err(_) => Vec::new(),
    };
    if halves.len() != 2 {
        return with_except;
    }
    let split: Vec<Block> = halves.iter().flat_map(|h| best(&inside, *h)).collect();
    if cost(&split) <= cost(&with_except) {
        split
    } else {
        with_except
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
