//! Sets of IPv4 and IPv6 addresses, kept as sorted disjoint inclusive ranges so
//! union, intersection and difference are exact; turned back into the fewest
//! canonical CIDRs when a target needs prefixes.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A set of addresses of both families.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CidrSet {
    v4: Ranges<u32>,
    v6: Ranges<u128>,
}

/// Sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Ranges<T>(Vec<(T, T)>);

impl<T> Default for Ranges<T> {
    fn default() -> Self {
        Ranges(Vec::new())
    }
}

trait Bound: Copy + Ord {
    const MIN: Self;
    const MAX: Self;
    fn succ(self) -> Option<Self>;
    fn pred(self) -> Option<Self>;
}

macro_rules! bound {
    ($t:ty) => {
        impl Bound for $t {
            const MIN: Self = <$t>::MIN;
            const MAX: Self = <$t>::MAX;
            fn succ(self) -> Option<Self> {
                self.checked_add(1)
            }
            fn pred(self) -> Option<Self> {
                self.checked_sub(1)
            }
        }
    };
}
bound!(u32);
bound!(u128);

impl<T: Bound> Ranges<T> {
    fn from_unsorted(mut v: Vec<(T, T)>) -> Ranges<T> {
        v.sort_unstable();
        let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if last.1 >= lo || last.1.succ() == Some(lo) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Ranges(out)
    }

    fn union(&self, other: &Ranges<T>) -> Ranges<T> {
        Ranges::from_unsorted(self.0.iter().chain(&other.0).copied().collect())
    }

    fn complement(&self) -> Ranges<T> {
        let mut out = Vec::new();
        let mut next = Some(T::MIN);
        for &(lo, hi) in &self.0 {
            if let Some(start) = next
                && start < lo
                && let Some(end) = lo.pred()
            {
                out.push((start, end));
            }
            next = hi.succ();
        }
        if let Some(start) = next {
            out.push((start, T::MAX));
        }
        Ranges(out)
    }

    fn intersect(&self, other: &Ranges<T>) -> Ranges<T> {
        let (mut i, mut j, mut out) = (0, 0, Vec::new());
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            let lo = a.0.max(b.0);
            let hi = a.1.min(b.1);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a.1 < b.1 { i += 1 } else { j += 1 }
        }
        Ranges(out)
    }

    fn difference(&self, other: &Ranges<T>) -> Ranges<T> {
        self.intersect(&other.complement())
    }

    fn contains(&self, x: T) -> bool {
        match self.0.binary_search_by(|&(lo, _)| lo.cmp(&x)) {
            Ok(_) => true,
            Err(0) => false,
            Err(i) => self.0[i - 1].1 >= x,
        }
    }

    fn is_subset(&self, other: &Ranges<T>) -> bool {
        self.difference(other).0.is_empty()
    }
}

/// Split `[lo, hi]` into the fewest aligned prefixes: `(network, prefix_len)`.
fn prefixes(lo: u128, hi: u128, bits: u32) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    let mut cur = lo;
    loop {
        // Largest block aligned at `cur` that stays within `hi`.
        let align = if cur == 0 {
            bits
        } else {
            cur.trailing_zeros().min(bits)
        };
        let mut size = align;
        while size > 0 && block_end(cur, size).is_none_or(|end| end > hi) {
            size -= 1;
        }
        out.push((cur, (bits - size) as u8));
        match block_end(cur, size).and_then(|end| end.checked_add(1)) {
            Some(next) if next <= hi && (bits == 128 || next < (1u128 << bits)) => cur = next,
            _ => break,
        }
    }
    out
}

fn block_end(start: u128, size: u32) -> Option<u128> {
    if size >= 128 {
        Some(u128::MAX).filter(|_| start == 0)
    } else {
        start.checked_add((1u128 << size) - 1)
    }
}

impl CidrSet {
    pub fn empty() -> CidrSet {
        CidrSet::default()
    }

    /// Every IPv4 and IPv6 address.
    pub fn all() -> CidrSet {
        CidrSet {
            v4: Ranges(vec![(0, u32::MAX)]),
            v6: Ranges(vec![(0, u128::MAX)]),
        }
    }

    pub fn from_nets<'a>(nets: impl IntoIterator<Item = &'a IpNet>) -> CidrSet {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for net in nets {
            match net.trunc() {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        CidrSet {
            v4: Ranges::from_unsorted(v4),
            v6: Ranges::from_unsorted(v6),
        }
    }

    /// The addresses of inclusive ranges (`(first, last)`); a range whose ends
    /// are of different families, or whose first end is above its last, adds nothing.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (IpAddr, IpAddr)>) -> CidrSet {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for range in ranges {
            match range {
                (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => v4.push((u32::from(a), u32::from(b))),
                (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => v6.push((u128::from(a), u128::from(b))),
                _ => {}
            }
        }
        CidrSet {
            v4: Ranges::from_unsorted(v4),
            v6: Ranges::from_unsorted(v6),
        }
    }

    /// The lowest address of the set (IPv4 first).
    pub fn first(&self) -> Option<IpAddr> {
        match (self.v4.0.first(), self.v6.0.first()) {
            (Some(&(lo, _)), _) => Some(IpAddr::V4(lo.into())),
            (None, Some(&(lo, _))) => Some(IpAddr::V6(lo.into())),
            (None, None) => None,
        }
    }

    pub fn from_net(net: IpNet) -> CidrSet {
        CidrSet::from_nets([&net])
    }

    pub fn is_empty(&self) -> bool {
        self.v4.0.is_empty() && self.v6.0.is_empty()
    }

    pub fn has_v4(&self) -> bool {
        !self.v4.0.is_empty()
    }

    pub fn has_v6(&self) -> bool {
        !self.v6.0.is_empty()
    }

    pub fn union(&self, o: &CidrSet) -> CidrSet {
        CidrSet {
            v4: self.v4.union(&o.v4),
            v6: self.v6.union(&o.v6),
        }
    }

    pub fn intersect(&self, o: &CidrSet) -> CidrSet {
        CidrSet {
            v4: self.v4.intersect(&o.v4),
            v6: self.v6.intersect(&o.v6),
        }
    }

    pub fn difference(&self, o: &CidrSet) -> CidrSet {
        CidrSet {
            v4: self.v4.difference(&o.v4),
            v6: self.v6.difference(&o.v6),
        }
    }

    pub fn is_subset(&self, o: &CidrSet) -> bool {
        self.v4.is_subset(&o.v4) && self.v6.is_subset(&o.v6)
    }

    pub fn overlaps(&self, o: &CidrSet) -> bool {
        !self.intersect(o).is_empty()
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.v4.contains(u32::from(a)),
            IpAddr::V6(a) => self.v6.contains(u128::from(a)),
        }
    }

    /// Does the set cover every address of `net`?
    pub fn contains_net(&self, net: &IpNet) -> bool {
        CidrSet::from_net(*net).is_subset(self)
    }

    /// The fewest canonical CIDRs covering exactly this set: IPv4 first, each family ascending.
    pub fn to_cidrs(&self) -> Vec<IpNet> {
        let mut out = Vec::new();
        for &(lo, hi) in &self.v4.0 {
            for (net, len) in prefixes(u128::from(lo), u128::from(hi), 32) {
                let addr = Ipv4Addr::from(net as u32);
                out.extend(Ipv4Net::new(addr, len).ok().map(IpNet::V4));
            }
        }
        for &(lo, hi) in &self.v6.0 {
            for (net, len) in prefixes(lo, hi, 128) {
                out.extend(Ipv6Net::new(Ipv6Addr::from(net), len).ok().map(IpNet::V6));
            }
        }
        out
    }

    /// Number of CIDRs [`CidrSet::to_cidrs`] would return.
    pub fn cidr_count(&self) -> usize {
        self.to_cidrs().len()
    }

    /// Inclusive address ranges (IPv4 first), for targets and tests that think in ranges.
    pub fn ranges(&self) -> Vec<(IpAddr, IpAddr)> {
        let v4 = self
            .v4
            .0
            .iter()
            .map(|&(a, b)| (IpAddr::V4(a.into()), IpAddr::V4(b.into())));
        let v6 = self
            .v6
            .0
            .iter()
            .map(|&(a, b)| (IpAddr::V6(a.into()), IpAddr::V6(b.into())));
        v4.chain(v6).collect()
    }
}

impl Serialize for CidrSet {
    /// As the list of canonical CIDRs.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_cidrs().serialize(s)
    }
}

impl<'de> Deserialize<'de> for CidrSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CidrSet, D::Error> {
        let nets = Vec::<IpNet>::deserialize(d)?;
        Ok(CidrSet::from_nets(&nets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &[&str]) -> CidrSet {
        let nets: Vec<IpNet> = s.iter().map(|n| n.parse().expect("test CIDR")).collect();
        CidrSet::from_nets(&nets)
    }

    fn strs(s: &CidrSet) -> Vec<String> {
        s.to_cidrs().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn carving_a_hole_gives_minimal_canonical_cidrs() {
        let d = set(&["10.0.0.0/24"]).difference(&set(&["10.0.0.128/32"]));
        assert_eq!(
            strs(&d),
            [
                "10.0.0.0/25",
                "10.0.0.129/32",
                "10.0.0.130/31",
                "10.0.0.132/30",
                "10.0.0.136/29",
                "10.0.0.144/28",
                "10.0.0.160/27",
                "10.0.0.192/26"
            ]
        );
        assert!(!d.contains("10.0.0.128".parse().expect("ip")));
        assert!(d.contains("10.0.0.129".parse().expect("ip")));
    }

    #[test]
    fn whole_spaces_and_v6() {
        assert_eq!(strs(&CidrSet::all()), ["0.0.0.0/0", "::/0"]);
        let d = CidrSet::all().difference(&set(&["169.254.169.254/32", "fd00:ec2::254/128"]));
        assert_eq!(d.cidr_count(), 32 + 128);
        assert!(!d.contains("fd00:ec2::254".parse().expect("ip")));
        assert!(d.contains("fd00:ec2::255".parse().expect("ip")));
        assert_eq!(strs(&set(&["10.0.0.5/16"])), ["10.0.0.0/16"]);
        assert_eq!(
            strs(&set(&["10.0.0.0/25", "10.0.0.128/25"])),
            ["10.0.0.0/24"]
        );
        assert_eq!(strs(&set(&["255.255.255.255/32"])), ["255.255.255.255/32"]);
    }

    #[test]
    fn ranges_round_trip() {
        let s = set(&["10.0.0.0/24", "10.0.2.0/23", "fd00::/127"]);
        assert_eq!(CidrSet::from_ranges(s.ranges()), s);
        assert_eq!(s.first(), Some("10.0.0.0".parse().expect("ip")));
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let mixed = CidrSet::from_ranges([
            (ip("10.0.0.1"), ip("fd00::1")),
            (ip("10.0.0.9"), ip("10.0.0.1")),
        ]);
        assert!(mixed.is_empty());
        assert_eq!(CidrSet::empty().first(), None);
    }

    #[test]
    fn algebra() {
        let a = set(&["10.0.0.0/8"]);
        let b = set(&["10.1.0.0/16", "192.168.0.0/16"]);
        assert_eq!(strs(&a.intersect(&b)), ["10.1.0.0/16"]);
        assert!(set(&["10.1.2.3/32"]).is_subset(&a));
        assert!(a.overlaps(&b));
        assert!(!a.overlaps(&set(&["11.0.0.0/8"])));
        assert_eq!(a.union(&b).difference(&b).union(&b), a.union(&b));
    }
}
