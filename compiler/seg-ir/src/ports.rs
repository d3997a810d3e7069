//! Sets of (protocol, port): exact union, intersection and difference.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::program::Protocol;

/// Sorted, disjoint, non-adjacent inclusive port ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortRanges(Vec<(u16, u16)>);

impl PortRanges {
    pub fn empty() -> PortRanges {
        PortRanges(Vec::new())
    }

    pub fn all() -> PortRanges {
        PortRanges(vec![(0, u16::MAX)])
    }

    pub fn range(lo: u16, hi: u16) -> PortRanges {
        PortRanges::from_unsorted(vec![(lo.min(hi), lo.max(hi))])
    }

    pub fn from_unsorted(mut v: Vec<(u16, u16)>) -> PortRanges {
        v.sort_unstable();
        let mut out: Vec<(u16, u16)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if u32::from(last.1) + 1 >= u32::from(lo) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        PortRanges(out)
    }

    /// The inclusive ranges, ascending.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_all(&self) -> bool {
        self.0 == [(0, u16::MAX)]
    }

    pub fn contains(&self, port: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= port && port <= hi)
    }

    pub fn union(&self, o: &PortRanges) -> PortRanges {
        PortRanges::from_unsorted(self.0.iter().chain(&o.0).copied().collect())
    }

    pub fn complement(&self) -> PortRanges {
        let mut out = Vec::new();
        let mut next: u32 = 0;
        for &(lo, hi) in &self.0 {
            if next < u32::from(lo) {
                out.push((next as u16, lo - 1));
            }
            next = u32::from(hi) + 1;
        }
        if next <= u32::from(u16::MAX) {
            out.push((next as u16, u16::MAX));
        }
        PortRanges(out)
    }

    pub fn intersect(&self, o: &PortRanges) -> PortRanges {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            for &(c, d) in &o.0 {
                let (lo, hi) = (a.max(c), b.min(d));
                if lo <= hi {
                    out.push((lo, hi));
                }
            }
        }
        PortRanges::from_unsorted(out)
    }

    pub fn difference(&self, o: &PortRanges) -> PortRanges {
        self.intersect(&o.complement())
    }
}

/// Which protocols and ports a rule covers. `other` stands for every IP
/// protocol that is not TCP, UDP, SCTP or ICMP; `any` sets every field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortSet {
    pub tcp: PortRanges,
    pub udp: PortRanges,
    pub sctp: PortRanges,
    /// ICMP for IPv4 flows, ICMPv6 for IPv6 flows.
    pub icmp: bool,
    pub other: bool,
}

impl PortSet {
    pub fn empty() -> PortSet {
        PortSet::default()
    }

    /// `any`: every protocol and port.
    pub fn any() -> PortSet {
        PortSet {
            tcp: PortRanges::all(),
            udp: PortRanges::all(),
            sctp: PortRanges::all(),
            icmp: true,
            other: true,
        }
    }

    pub fn icmp() -> PortSet {
        PortSet {
            icmp: true,
            ..PortSet::default()
        }
    }

    /// One protocol with an inclusive port range. `Icmp` ignores the ports;
    /// `Other` gives the `other` flag.
    pub fn ports(protocol: Protocol, lo: u16, hi: u16) -> PortSet {
        let mut s = PortSet::default();
        match protocol {
            Protocol::Tcp => s.tcp = PortRanges::range(lo, hi),
            Protocol::Udp => s.udp = PortRanges::range(lo, hi),
            Protocol::Sctp => s.sctp = PortRanges::range(lo, hi),
            Protocol::Icmp => s.icmp = true,
            Protocol::Other(_) => s.other = true,
        }
        s
    }

    pub fn is_empty(&self) -> bool {
        self.tcp.is_empty()
            && self.udp.is_empty()
            && self.sctp.is_empty()
            && !self.icmp
            && !self.other
    }

    pub fn is_any(&self) -> bool {
        *self == PortSet::any()
    }

    pub fn contains(&self, protocol: Protocol, port: u16) -> bool {
        match protocol {
            Protocol::Tcp => self.tcp.contains(port),
            Protocol::Udp => self.udp.contains(port),
            Protocol::Sctp => self.sctp.contains(port),
            Protocol::Icmp => self.icmp,
            Protocol::Other(_) => self.other,
        }
    }

    fn zip(
        &self,
        o: &PortSet,
        ranges: impl Fn(&PortRanges, &PortRanges) -> PortRanges,
        flag: impl Fn(bool, bool) -> bool,
    ) -> PortSet {
        PortSet {
            tcp: ranges(&self.tcp, &o.tcp),
            udp: ranges(&self.udp, &o.udp),
            sctp: ranges(&self.sctp, &o.sctp),
            icmp: flag(self.icmp, o.icmp),
            other: flag(self.other, o.other),
        }
    }

    pub fn union(&self, o: &PortSet) -> PortSet {
        self.zip(o, PortRanges::union, |a, b| a || b)
    }

    pub fn intersect(&self, o: &PortSet) -> PortSet {
        self.zip(o, PortRanges::intersect, |a, b| a && b)
    }

    pub fn difference(&self, o: &PortSet) -> PortSet {
        self.zip(o, PortRanges::difference, |a, b| a && !b)
    }

    pub fn is_subset(&self, o: &PortSet) -> bool {
        self.difference(o).is_empty()
    }

    /// The port-carrying protocols with their ranges, in a fixed order.
    pub fn by_protocol(&self) -> [(Protocol, &PortRanges); 3] {
        [
            (Protocol::Tcp, &self.tcp),
            (Protocol::Udp, &self.udp),
            (Protocol::Sctp, &self.sctp),
        ]
    }
}

impl fmt::Display for PortSet {
    /// `tcp/80, tcp/8000-8099, udp/53, icmp` or `any`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            return f.write_str("any");
        }
        let mut parts = Vec::new();
        for (p, r) in self.by_protocol() {
            let name = match p {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                _ => "sctp",
            };
            for &(lo, hi) in r.ranges() {
                parts.push(if lo == hi {
                    format!("{name}/{lo}")
                } else {
                    format!("{name}/{lo}-{hi}")
                });
            }
        }
        if self.icmp {
            parts.push("icmp".into());
        }
        if self.other {
            parts.push("other protocols".into());
        }
        if parts.is_empty() {
            return f.write_str("nothing");
        }
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difference_splits_ranges_at_the_edges() {
        let a = PortSet::ports(Protocol::Tcp, 8000, 8099);
        let b = PortSet::ports(Protocol::Tcp, 8050, 8050);
        assert_eq!(a.difference(&b).to_string(), "tcp/8000-8049, tcp/8051-8099");
        assert_eq!(
            PortSet::any()
                .difference(&PortSet::ports(Protocol::Tcp, 0, 65535))
                .to_string(),
            "udp/0-65535, sctp/0-65535, icmp, other protocols"
        );
        assert!(
            PortSet::ports(Protocol::Tcp, 0, 0)
                .difference(&PortSet::any())
                .is_empty()
        );
        assert_eq!(
            PortRanges::range(0, 10).complement().ranges(),
            [(11, 65535)]
        );
        assert_eq!(PortRanges::all().complement().ranges(), []);
    }
}
