//! W0101: two identities whose addresses overlap. L3 targets identify a peer
//! by address, so an address shared by two identities makes both of them
//! match the same packets.
//!
//! CIDRs are either nested or disjoint, so one sorted sweep with a stack of
//! the networks that contain the current one finds every overlapping pair in
//! O(n log n + pairs). One warning per pair of identities, at the first
//! overlapping pair of addresses; at most [`MAX_REPORTED`] warnings, then one
//! that says how the list was cut. Addresses held in windows that share no
//! instant (an address reused by another identity later) do not overlap.

use super::model::HeldAddress;
use seg_diag::{Code, Diagnostic, Diagnostics, Span};
use std::collections::BTreeSet;
use std::net::IpAddr;

pub const MAX_REPORTED: usize = 100;

/// An address of an identity: (network, index of the identity, where it is written).
pub struct Entry<'a> {
    /// The address with its validity window.
    pub held: HeldAddress,
    pub identity: usize,
    pub name: &'a str,
    pub span: Span,
}

pub fn check(mut entries: Vec<Entry<'_>>, diags: &mut Diagnostics) {
    entries.sort_by_key(|e| (key(e.held.net.network()), e.held.net.prefix_len(), e.span));
    let mut stack: Vec<usize> = Vec::new();
    let mut pairs: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut reported = 0;
    for (i, e) in entries.iter().enumerate() {
        while let Some(&top) = stack.last() {
            if entries[top].held.net.contains(&e.held.net) {
                break;
            }
            stack.pop();
        }
        for &s in &stack {
            let other = &entries[s];
            if other.identity == e.identity || !other.held.meets(&e.held) {
                continue;
            }
            let pair = (
                other.identity.min(e.identity),
                other.identity.max(e.identity),
            );
            if !pairs.insert(pair) {
                continue;
            }
            if reported == MAX_REPORTED {
                diags.push(
                    Diagnostic::warning(
                        Code::OverlappingAddresses,
                        "more identities have overlapping addresses",
                    )
                    .with_primary(e.span, "one more overlap here")
                    .with_note(format!(
                        "only the first {MAX_REPORTED} overlapping pairs are reported"
                    )),
                );
                return;
            }
            reported += 1;
            diags.push(warning(other, e));
        }
        stack.push(i);
    }
}

fn warning(wider: &Entry<'_>, inner: &Entry<'_>) -> Diagnostic {
    // The later one in the files is primary, the earlier one is the context.
    let (first, second) = if wider.span <= inner.span {
        (wider, inner)
    } else {
        (inner, wider)
    };
    Diagnostic::warning(
        Code::OverlappingAddresses,
        format!("addresses of `{}` and `{}` overlap", first.name, second.name),
    )
    .with_primary(second.span, format!("overlaps `{}`", first.held.net))
    .with_secondary(first.span, format!("address of `{}`", first.name))
    .with_note("targets that match peers by address (iptables, security groups) cannot tell the two identities apart there")
    .with_help("give each identity its own addresses, or merge the two into one identity")
}

/// Sort key: IPv4 before IPv6, then the network address.
fn key(addr: IpAddr) -> (u8, u128) {
    match addr {
        IpAddr::V4(a) => (4, u128::from(u32::from(a))),
        IpAddr::V6(a) => (6, u128::from(a)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seg_diag::FileId;

    fn held(net: &str) -> HeldAddress {
        HeldAddress {
            net: net.parse().expect("net"),
            from: None,
            until: None,
        }
    }

    fn run(nets: &[(&str, usize)]) -> Vec<(usize, usize)> {
        let names = ["a", "b", "c", "d"];
        let entries = nets
            .iter()
            .enumerate()
            .map(|(i, (n, id))| Entry {
                held: held(n),
                identity: *id,
                name: names[*id],
                span: Span::new(FileId(0), i * 10, i * 10 + 5),
            })
            .collect();
        let mut diags = Diagnostics::new();
        check(entries, &mut diags);
        diags
            .iter()
            .map(|d| {
                let names: Vec<usize> = d
                    .labels
                    .iter()
                    .map(|l| l.span.start as usize / 10)
                    .collect();
                (names[1], names[0])
            })
            .collect()
    }

    #[test]
    fn nested_and_equal_networks_overlap_disjoint_ones_do_not() {
        assert_eq!(
            run(&[("10.0.0.0/8", 0), ("10.1.0.0/16", 1), ("10.2.0.0/16", 2)]),
            vec![(0, 1), (0, 2)]
        );
        assert_eq!(run(&[("10.0.0.1/32", 0), ("10.0.0.1/32", 1)]), vec![(0, 1)]);
        assert!(
            run(&[
                ("10.0.0.0/24", 0),
                ("10.0.1.0/24", 1),
                ("fd00::/8", 2),
                ("10.0.0.0/25", 0)
            ])
            .is_empty()
        );
        assert!(
            run(&[("0.0.0.0/0", 0), ("::/0", 1)]).is_empty(),
            "families never overlap"
        );
    }

    #[test]
    fn one_warning_per_pair_of_identities() {
        assert_eq!(
            run(&[("10.0.0.1/32", 0), ("10.0.0.2/32", 0), ("10.0.0.0/24", 1)]).len(),
            1
        );
    }

    #[test]
    fn output_is_capped() {
        let nets: Vec<String> = (0..300)
            .map(|i| format!("10.0.{}.{}/32", i / 256, i % 256))
            .collect();
        let mut entries: Vec<Entry<'_>> = nets
            .iter()
            .enumerate()
            .map(|(i, n)| Entry {
                held: held(n),
                identity: i + 1,
                name: "x",
                span: Span::new(FileId(0), i + 1, i + 2),
            })
            .collect();
        entries.push(Entry {
            held: held("10.0.0.0/8"),
            identity: 0,
            name: "wide",
            span: Span::new(FileId(0), 0, 1),
        });
        let mut diags = Diagnostics::new();
        check(entries, &mut diags);
        assert_eq!(diags.len(), MAX_REPORTED + 1);
    }
}
