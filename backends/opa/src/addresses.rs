//! Address classes: the address space cut into pieces that no endpoint set
//! splits, so an address endpoint is looked up once and then handled like an
//! identity.
//!
//! Input: the distinct endpoint sets of the rules and their *coverage* (the
//! set's networks plus the addresses of its member identities: an address is
//! in a set iff it lies in one of those, LANGUAGE.md "Membership"). Output:
//! classes `net:<n>`, each a union of elementary intervals sharing one
//! signature (the sets covering them), and for each family a map from a hex
//! prefix of the address to its class. A CIDR of length `l` becomes the keys
//! of length `ceil(l/4)` hex digits it covers (at most 8), so the policy tries
//! one key per prefix length in use. Classes are disjoint, so at most one key
//! matches any address.
//!
//! Invariant: class numbers follow address order (IPv4 first), so the output
//! depends only on the sets.

use seg_ir::CidrSet;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// IPv4 or IPv6, with the bit width of its addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn bits(self) -> u32 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    fn max(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }
}

/// The lookup tables of one family.
#[derive(Debug, Default, PartialEq)]
pub struct PrefixMap {
    /// Hex prefix → class key.
    pub keys: BTreeMap<String, String>,
    /// The prefix lengths (in hex digits) present in `keys`, ascending.
    pub lengths: BTreeSet<usize>,
}

/// The classes of a program's sets.
#[derive(Debug, Default, PartialEq)]
pub struct Classes {
    pub v4: PrefixMap,
    pub v6: PrefixMap,
    /// Class key → its CIDRs, for people reading the data.
    pub cidrs: BTreeMap<String, Vec<String>>,
    /// Per input set (by position): the class keys it covers.
    pub members: Vec<Vec<String>>,
}

/// The key of a class: `net:` and its first CIDR. Classes are disjoint, so
/// no two share a first CIDR, and a class keeps its key while it covers the
/// same addresses, whatever other sets the program has.
pub fn class_key(first_cidr: &str) -> String {
    format!("net:{first_cidr}")
}

/// Compute the classes of `coverages` (one per endpoint set).
pub fn classes(coverages: &[CidrSet]) -> Classes {
    let mut out = Classes {
        members: vec![Vec::new(); coverages.len()],
        ..Classes::default()
    };
    let mut ids: HashMap<Vec<u32>, usize> = HashMap::new();
    // Per class: its intervals, in address order, and the sets covering it.
    let mut intervals: Vec<Vec<(Family, u128, u128)>> = Vec::new();
    let mut covering: Vec<Vec<u32>> = Vec::new();
    for family in [Family::V4, Family::V6] {
        for (lo, hi, signature) in elementary(coverages, family) {
            let next = ids.len();
            let id = *ids.entry(signature.clone()).or_insert(next);
            if id == intervals.len() {
                intervals.push(Vec::new());
                covering.push(signature);
            }
            intervals[id].push((family, lo, hi));
        }
    }
    for (ivs, sets) in intervals.iter().zip(&covering) {
        let mut cidrs = Vec::new();
        let mut hexes = Vec::new();
        for &(family, lo, hi) in ivs {
            for (net, len) in prefixes(lo, hi, family.bits()) {
                cidrs.push(cidr_text(family, net, len));
                hexes.push((family, hex_keys(family, net, len)));
            }
        }
        let key = class_key(cidrs.first().map_or("", String::as_str));
        for (family, keys) in hexes {
            let map = match family {
                Family::V4 => &mut out.v4,
                Family::V6 => &mut out.v6,
            };
            for hex in keys {
                map.lengths.insert(hex.len());
                map.keys.insert(hex, key.clone());
            }
        }
        for &s in sets {
            out.members[s as usize].push(key.clone());
        }
        out.cidrs.insert(key, cidrs);
    }
    for m in &mut out.members {
        m.sort();
    }
    out
}

/// The intervals of one family where the set of covering sets is constant
/// and non-empty, with that set (ascending positions).
fn elementary(coverages: &[CidrSet], family: Family) -> Vec<(u128, u128, Vec<u32>)> {
    // (point, set, starts?) — an interval [lo, hi] starts at lo and ends before hi + 1.
    let mut events: Vec<(u128, u32, bool)> = Vec::new();
    for (i, cov) in coverages.iter().enumerate() {
        for (lo, hi) in cov.ranges() {
            let (Some(lo), Some(hi)) = (in_family(lo, family), in_family(hi, family)) else {
                continue;
            };
            events.push((lo, i as u32, true));
            if hi < family.max() {
                events.push((hi + 1, i as u32, false));
            }
        }
    }
    events.sort_unstable();
    let mut out = Vec::new();
    let mut active: BTreeSet<u32> = BTreeSet::new();
    let mut k = 0;
    while k < events.len() {
        let point = events[k].0;
        while k < events.len() && events[k].0 == point {
            let (_, set, starts) = events[k];
            if starts {
                active.insert(set);
            } else {
                active.remove(&set);
            }
            k += 1;
        }
        if active.is_empty() {
            continue;
        }
        let end = match events.get(k) {
            Some(&(next, _, _)) => next - 1,
            None => family.max(),
        };
        out.push((point, end, active.iter().copied().collect()));
    }
    out
}

fn in_family(addr: IpAddr, family: Family) -> Option<u128> {
    match (addr, family) {
        (IpAddr::V4(a), Family::V4) => Some(u128::from(u32::from(a))),
        (IpAddr::V6(a), Family::V6) => Some(u128::from(a)),
        _ => None,
    }
}

/// Split `[lo, hi]` into the fewest aligned prefixes `(network, length)`.
fn prefixes(lo: u128, hi: u128, bits: u32) -> Vec<(u128, u32)> {
    let mut out = Vec::new();
    let mut cur = lo;
    loop {
        // The largest block aligned at `cur` that ends within `hi`.
        let mut size = if cur == 0 {
            bits
        } else {
            cur.trailing_zeros().min(bits)
        };
        while size > 0 && block_last(cur, size).is_none_or(|last| last > hi) {
            size -= 1;
        }
        out.push((cur, bits - size));
        match block_last(cur, size).and_then(|last| last.checked_add(1)) {
            Some(next) if next <= hi => cur = next,
            _ => break,
        }
    }
    out
}

fn block_last(start: u128, size: u32) -> Option<u128> {
    if size >= 128 {
        (start == 0).then_some(u128::MAX)
    } else {
        start.checked_add((1u128 << size) - 1)
    }
}

fn cidr_text(family: Family, net: u128, len: u32) -> String {
    match family {
        Family::V4 => format!("{}/{len}", std::net::Ipv4Addr::from(net as u32)),
        Family::V6 => format!("{}/{len}", std::net::Ipv6Addr::from(net)),
    }
}

/// The address as the policy spells it: 8 (IPv4) or 32 (IPv6) lowercase hex digits.
pub fn hex(family: Family, addr: u128) -> String {
    match family {
        Family::V4 => format!("{:08x}", addr as u32),
        Family::V6 => format!("{addr:032x}"),
    }
}

/// The hex prefixes of length `ceil(len / 4)` covering the prefix `net/len`.
fn hex_keys(family: Family, net: u128, len: u32) -> Vec<String> {
    let digits = len.div_ceil(4) as usize;
    if digits == 0 {
        return vec![String::new()];
    }
    let full = hex(family, net);
    let stem = &full[..digits - 1];
    let shift = family.bits() - 4 * digits as u32;
    let last = ((net >> shift) & 0xf) as u32;
    let free = 4 * digits as u32 - len;
    (0..(1u32 << free))
        .map(|j| format!("{stem}{:x}", last | j))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;

    fn set(nets: &[&str]) -> CidrSet {
        let nets: Vec<IpNet> = nets.iter().map(|n| n.parse().expect("test CIDR")).collect();
        CidrSet::from_nets(&nets)
    }

    /// The class of an address by the same lookup the policy does.
    fn lookup(c: &Classes, addr: &str) -> Option<String> {
        let ip: IpAddr = addr.parse().expect("test address");
        let (map, h) = match ip {
            IpAddr::V4(a) => (&c.v4, hex(Family::V4, u128::from(u32::from(a)))),
            IpAddr::V6(a) => (&c.v6, hex(Family::V6, u128::from(a))),
        };
        let hits: Vec<&String> = map
            .lengths
            .iter()
            .filter_map(|&n| map.keys.get(&h[..n]))
            .collect();
        assert!(hits.len() <= 1, "{addr} is in several classes: {hits:?}");
        hits.first().map(|s| s.to_string())
    }

    #[test]
    fn overlapping_sets_cut_the_space_into_disjoint_classes() {
        let c = classes(&[
            set(&["10.0.0.0/8"]),
            set(&["10.1.0.0/16", "192.168.1.7/32"]),
            set(&["10.0.0.0/8"]),
        ]);
        assert_eq!(c.cidrs.len(), 3);
        let outer = lookup(&c, "10.200.0.1").expect("in 10/8");
        let inner = lookup(&c, "10.1.2.3").expect("in 10.1/16");
        let host = lookup(&c, "192.168.1.7").expect("the /32");
        assert_ne!(outer, inner);
        assert_ne!(host, inner);
        assert_eq!(lookup(&c, "10.0.255.255"), Some(outer.clone()));
        assert_eq!(lookup(&c, "10.2.0.0"), Some(outer.clone()));
        assert_eq!(lookup(&c, "192.168.1.8"), None);
        assert_eq!(lookup(&c, "11.0.0.0"), None);
        assert_eq!(c.members[0], vec![outer.clone(), inner.clone()]);
        assert_eq!(c.members[1], vec![inner.clone(), host.clone()]);
        assert_eq!(c.members[2], c.members[0]);
        assert_eq!(
            c.cidrs[&outer],
            [
                "10.0.0.0/16",
                "10.2.0.0/15",
                "10.4.0.0/14",
                "10.8.0.0/13",
                "10.16.0.0/12",
                "10.32.0.0/11",
                "10.64.0.0/10",
                "10.128.0.0/9"
            ]
        );
    }

    #[test]
    fn whole_families_and_odd_prefix_lengths() {
        let c = classes(&[
            set(&["0.0.0.0/0", "::/0"]),
            set(&["fd00::/9", "203.0.113.0/25"]),
        ]);
        assert_eq!(lookup(&c, "fd7f::1"), lookup(&c, "203.0.113.127"));
        assert_ne!(lookup(&c, "fd80::1"), lookup(&c, "fd7f::1"));
        assert_eq!(lookup(&c, "fd80::1"), lookup(&c, "8.8.8.8"));
        assert_eq!(lookup(&c, "203.0.113.128"), lookup(&c, "::1"));
        assert!(lookup(&c, "255.255.255.255").is_some());
        assert!(lookup(&c, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").is_some());
        // 203.0.113.0/25 needs 7 hex digits (two keys); its complement every shorter length.
        assert_eq!(
            c.v4.lengths.iter().copied().collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6, 7]
        );
        assert_eq!(c.v4.keys.get("cb00710"), c.v4.keys.get("cb00717"));
        assert_ne!(c.v4.keys.get("cb00710"), c.v4.keys.get("cb00718"));
        assert_eq!(
            classes(&[set(&["0.0.0.0/0"])]).v4.keys,
            BTreeMap::from([(String::new(), class_key("0.0.0.0/0"))])
        );
        assert_eq!(
            hex_keys(Family::V6, 0xfd00u128 << 112, 9),
            ["fd0", "fd1", "fd2", "fd3", "fd4", "fd5", "fd6", "fd7"]
        );
    }

    #[test]
    fn prefixes_cover_ranges_exactly() {
        assert_eq!(prefixes(0, u128::from(u32::MAX), 32), [(0, 0)]);
        assert_eq!(prefixes(0, u128::MAX, 128), [(0, 0)]);
        assert_eq!(prefixes(1, 6, 32), [(1, 32), (2, 31), (4, 31), (6, 32)]);
        assert_eq!(prefixes(u128::MAX, u128::MAX, 128), [(u128::MAX, 128)]);
    }
}
