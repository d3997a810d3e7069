//! Port atoms: the coarsest partition of the (protocol, port) space that
//! every given [`PortSet`] is a union of.

use seg_ir::{PortRanges, PortSet, Protocol};
use std::collections::BTreeMap;

/// One atom and the indices of the sets holding it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortAtom {
    pub ports: PortSet,
    /// Ascending indices into the slice given to [`atoms`].
    pub members: Vec<usize>,
}

/// The atoms inside at least one of `sets`, each the union of every piece
/// of the port space held by exactly the same sets (so two atoms never have
/// the same members). Ordered by members.
pub fn atoms(sets: &[&PortSet]) -> Vec<PortAtom> {
    let mut by_members: BTreeMap<Vec<usize>, PortSet> = BTreeMap::new();
    let mut add = |members: Vec<usize>, piece: PortSet| {
        if members.is_empty() {
            return;
        }
        let entry = by_members.entry(members).or_default();
        *entry = entry.union(&piece);
    };
    for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
        fn ranges(s: &PortSet, protocol: Protocol) -> &PortRanges {
            match protocol {
                Protocol::Tcp => &s.tcp,
                Protocol::Udp => &s.udp,
                _ => &s.sctp,
            }
        }
        let mut cuts: Vec<u32> = Vec::new();
        for s in sets {
            for &(lo, hi) in ranges(s, protocol).ranges() {
                cuts.push(u32::from(lo));
                cuts.push(u32::from(hi) + 1);
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        for w in cuts.windows(2) {
            let (lo, hi) = (w[0] as u16, (w[1] - 1) as u16);
            let members = (0..sets.len())
                .filter(|&i| ranges(sets[i], protocol).contains(lo))
                .collect();
            add(members, PortSet::ports(protocol, lo, hi));
        }
    }
    let flag = |f: fn(&PortSet) -> bool| (0..sets.len()).filter(|&i| f(sets[i])).collect();
    add(flag(|s| s.icmp), PortSet::icmp());
    add(
        flag(|s| s.other),
        PortSet {
            other: true,
            ..PortSet::default()
        },
    );
    by_members
        .into_iter()
        .map(|(members, ports)| PortAtom { ports, members })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_split_at_every_edge_and_join_what_is_held_alike() {
        let a = PortSet::ports(Protocol::Tcp, 8000, 8099);
        let b = PortSet::ports(Protocol::Tcp, 8050, 8050).union(&PortSet::icmp());
        let any = PortSet::any();
        let got = atoms(&[&a, &b, &any]);
        let text: Vec<(String, Vec<usize>)> = got
            .iter()
            .map(|x| (x.ports.to_string(), x.members.clone()))
            .collect();
        assert_eq!(
            text,
            [
                ("tcp/8050".to_string(), vec![0, 1, 2]),
                ("tcp/8000-8049, tcp/8051-8099".to_string(), vec![0, 2]),
                ("icmp".to_string(), vec![1, 2]),
                (
                    "tcp/0-7999, tcp/8100-65535, udp/0-65535, sctp/0-65535, other protocols"
                        .to_string(),
                    vec![2]
                ),
            ]
        );
        assert!(atoms(&[&PortSet::empty()]).is_empty());
        let edge = PortSet::ports(Protocol::Udp, 65535, 65535);
        assert_eq!(atoms(&[&edge])[0].ports.to_string(), "udp/65535");
    }
}
