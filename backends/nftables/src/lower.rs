//! One rule → the lines it contributes to a chain, independent of the host.
//!
//! A rule `SRC -> DST on SERVICES when C expires D` becomes, on every host in
//! DST, lines of an input chain matching the addresses of SRC, and on every
//! host in SRC, lines of an output chain matching the addresses of DST (a
//! host is its identity: no address of its own is matched). The lines are
//! peer (per family) × protocol × time window: `meta hour`/`meta day` from
//! [`seg_ir::schedule`], `meta time < END` for `expires`.
//!
//! Fail closed, with a diagnostic, where something cannot be expressed: an
//! allow loses it (never gains), a deny gains.

use crate::names;
use crate::text::{Family, Key, Peer, Proto, Side, Time};
use ipnet::IpNet;
use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::capability::{Approximation, ApproximationKind};
use seg_ir::schedule::{self, ALL_DAYS, Schedule, Unsupported};
use seg_ir::{Action, CidrSet, EndpointSet, PortSet, Program, Protocol, Rule};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// The last whole second `meta time` can hold: it counts nanoseconds in a
/// signed 64-bit number (2262-04-11T23:47:16Z).
pub const LAST_TIME: i64 = i64::MAX / 1_000_000_000;

/// A protocol of a rule and its ports (empty: every port of it).
type ProtoPorts = (Proto, Vec<(u16, u16)>);

/// What a rule lowers to apart from addresses.
pub struct Shape {
    /// Per family.
    protos: [Vec<ProtoPorts>; 2],
    times: Vec<Option<Time>>,
}

/// One line of one rule: its key and its ports.
#[derive(Clone, Debug)]
pub struct RuleLine {
    pub key: Rc<Key>,
    pub ports: Vec<(u16, u16)>,
}

/// The lines of one rule in one direction, shared by every host.
pub struct Block {
    pub rule: usize,
    pub lines: Vec<RuleLine>,
    /// The named sets the lines use.
    pub sets: Vec<String>,
}

/// A rule side as the peer cache knows it: its identities and networks.
type PeerKey<'p> = (
    &'p std::collections::BTreeSet<seg_ir::IdentityId>,
    &'p CidrSet,
);

/// Lowering state: caches and every named set made.
pub struct Lowering<'p> {
    pub program: &'p Program,
    threshold: usize,
    peers: HashMap<PeerKey<'p>, Rc<[Option<Peer>; 2]>>,
    keys: HashMap<Key, Rc<Key>>,
    /// Every named set, by name: family and members.
    pub sets: BTreeMap<String, (Family, Vec<IpNet>)>,
    pub approximations: Vec<Approximation>,
}

impl<'p> Lowering<'p> {
    pub fn new(program: &'p Program, threshold: usize) -> Self {
        Lowering {
            program,
            threshold: threshold.max(1),
            peers: HashMap::new(),
            keys: HashMap::new(),
            sets: BTreeMap::new(),
            approximations: Vec::new(),
        }
    }

    fn approximate(&mut self, rule: &Rule, kind: ApproximationKind, reason: impl Into<String>) {
        self.approximations
            .push(Approximation::of("nftables", rule, kind, reason));
    }

    /// The protocols and time matches of a rule; `None` when it emits nothing.
    pub fn shape(&mut self, rule: &Rule, diags: &mut Diagnostics) -> Option<Shape> {
        let p = &rule.provenance;
        let schedule = match schedule::schedule(&rule.condition) {
            Ok(s) => s,
            Err(Unsupported(class)) if rule.action == Action::Allow => {
                diags.push(
                    Diagnostic::warning(
                        Code::RuleOmitted,
                        format!(
                            "rule `{}` omitted on `nftables`: cannot enforce `{class}`",
                            p.label
                        ),
                    )
                    .with_primary(p.origin, "omitted on nftables")
                    .with_note("nftables matches addresses, ports and the kernel clock only")
                    .with_help(format!(
                        "declare `{class}` layered in seg.toml if another layer enforces it"
                    )),
                );
                self.approximate(
                    rule,
                    ApproximationKind::Omitted,
                    format!("cannot enforce `{class}`"),
                );
                return None;
            }
            Err(Unsupported(class)) => {
                diags.push(
                    Diagnostic::warning(
                        Code::DenyWidened,
                        format!(
                            "deny `{}` applied unconditionally on `nftables`: cannot see `{class}`",
                            p.label
                        ),
                    )
                    .with_primary(p.origin, "unconditional on nftables")
                    .with_help("this is the fail-closed choice; nothing to do if it is intended"),
                );
                self.approximate(
                    rule,
                    ApproximationKind::DenyWidened,
                    format!("applied unconditionally: cannot see `{class}`"),
                );
                Schedule::Always
            }
        };
        let until = match rule.expires {
            None => None,
            // Gone before the epoch: never live on a kernel clock.
            Some(e) if e.end().0 <= 0 => return None,
            Some(e) if e.end().0 > LAST_TIME => {
                let (code, kind, what) = match rule.action {
                    Action::Allow => (
                        Code::RuleNarrowed,
                        ApproximationKind::Narrowed,
                        "ends in 2262 on `nftables`",
                    ),
                    Action::Deny => (
                        Code::DenyWidened,
                        ApproximationKind::DenyWidened,
                        "never expires on `nftables`",
                    ),
                };
                self.approximate(
                    rule,
                    kind,
                    format!("{what}: `meta time` counts nanoseconds up to 2262-04-11T23:47:16Z, the rule expires {e}"),
                );
                diags.push(
                    Diagnostic::warning(code, format!("rule `{}` {what}", p.label))
                        .with_primary(p.origin, "expiry not representable")
                        .with_note(format!("`meta time` holds instants up to 2262-04-11T23:47:16Z; the rule expires {e}"))
                        .with_help("choose an earlier `expires`"),
                );
                (rule.action == Action::Allow).then_some(LAST_TIME)
            }
            Some(e) => Some(e.end().0),
        };
        let times: Vec<Option<Time>> = match schedule {
            Schedule::Never => return None,
            Schedule::Always => vec![until.map(|u| Time {
                hours: None,
                days: None,
                until: Some(u),
            })],
            Schedule::Windows(ws) => ws
                .iter()
                .map(|w| {
                    Some(Time {
                        hours: (!w.whole_day())
                            .then(|| (u32::from(w.start_min) * 60, u32::from(w.end_min) * 60 - 1)),
                        days: (w.days != ALL_DAYS).then(|| nft_days(w.days)),
                        until,
                    })
                })
                .collect(),
        };
        let protos = [
            protocols(&rule.services, Family::V4),
            protocols(&rule.services, Family::V6),
        ];
        if protos[0].is_empty() {
            return None;
        }
        Some(Shape { protos, times })
    }

    /// How the addresses of `set` are matched in each family (`None`: that
    /// family has none of them).
    fn peers(&mut self, set: &'p EndpointSet) -> Rc<[Option<Peer>; 2]> {
        if let Some(p) = self.peers.get(&(&set.identities, &set.networks)) {
            return Rc::clone(p);
        }
        let addrs = if set.networks == CidrSet::all() {
            CidrSet::all()
        } else {
            let nets: Vec<&IpNet> = set
                .identities
                .iter()
                .filter_map(|id| self.program.identities.get(id.0 as usize))
                .flat_map(|i| i.addresses.iter())
                .collect();
            CidrSet::from_nets(nets).union(&set.networks)
        };
        let peers = Rc::new([self.peer(&addrs, Family::V4), self.peer(&addrs, Family::V6)]);
        self.peers
            .insert((&set.identities, &set.networks), Rc::clone(&peers));
        peers
    }

    fn peer(&mut self, addrs: &CidrSet, family: Family) -> Option<Peer> {
        let whole: IpNet = match family {
            Family::V4 => IpNet::V4(Default::default()),
            Family::V6 => IpNet::V6(Default::default()),
        };
        if addrs.contains_net(&whole) {
            return Some(Peer::Family(family));
        }
        let nets: Vec<IpNet> = addrs
            .to_cidrs()
            .into_iter()
            .filter(|n| (family == Family::V6) == n.addr().is_ipv6())
            .collect();
        if nets.is_empty() {
            return None;
        }
        if nets.len() < self.threshold {
            return Some(Peer::Nets(family, nets));
        }
        let texts: Vec<String> = nets.iter().map(ToString::to_string).collect();
        let name = names::set_name(family == Family::V6, &texts);
        self.sets.entry(name.clone()).or_insert((family, nets));
        Some(Peer::Set(family, name))
    }

    fn intern(&mut self, key: Key) -> Rc<Key> {
        if let Some(k) = self.keys.get(&key) {
            return Rc::clone(k);
        }
        let k = Rc::new(key.clone());
        self.keys.insert(key, Rc::clone(&k));
        k
    }

    /// The lines of rule `index` matching the peer set `peer` from `side`.
    pub fn block(
        &mut self,
        index: usize,
        shape: &Shape,
        peer: &'p EndpointSet,
        side: Side,
    ) -> Option<Block> {
        let peers = self.peers(peer);
        let mut lines = Vec::new();
        let mut sets = Vec::new();
        let both = matches!(
            (&peers[0], &peers[1]),
            (Some(Peer::Family(_)), Some(Peer::Family(_)))
        );
        for (f, family_peer) in peers.iter().enumerate() {
            let Some(family_peer) = family_peer else {
                continue;
            };
            if let Peer::Set(_, name) = family_peer {
                sets.push(name.clone());
            }
            for (proto, ports) in &shape.protos[f] {
                // Every address of both families: one line for both where the
                // protocol does not depend on the family.
                let shared = both && !matches!(proto, Proto::Icmp(_) | Proto::Other(_));
                if shared && f == 1 {
                    continue;
                }
                let peer = (!shared).then(|| (side, family_peer.clone()));
                for time in &shape.times {
                    let key = self.intern(Key {
                        peer: peer.clone(),
                        proto: *proto,
                        ported: !ports.is_empty(),
                        time: time.clone(),
                    });
                    lines.push(RuleLine {
                        key,
                        ports: ports.clone(),
                    });
                }
            }
        }
        (!lines.is_empty()).then_some(Block {
            rule: index,
            lines,
            sets,
        })
    }
}

/// Seg weekdays (bit 0 = Monday) as nft weekday numbers (0 = Sunday).
fn nft_days(mask: u8) -> Vec<u8> {
    let mut days: Vec<u8> = (0..7u8)
        .filter(|d| mask & (1 << d) != 0)
        .map(|d| (d + 1) % 7)
        .collect();
    days.sort_unstable();
    days
}

/// Protocols and port ranges of a service set for one family, in a fixed order.
fn protocols(services: &PortSet, family: Family) -> Vec<ProtoPorts> {
    if services.is_any() {
        return vec![(Proto::Any, vec![])];
    }
    let mut out = Vec::new();
    for (protocol, ranges) in services.by_protocol() {
        let proto = match protocol {
            Protocol::Tcp => Proto::Tcp,
            Protocol::Udp => Proto::Udp,
            _ => Proto::Sctp,
        };
        if ranges.is_empty() {
            continue;
        }
        let ports = if ranges.is_all() {
            vec![]
        } else {
            ranges.ranges().to_vec()
        };
        out.push((proto, ports));
    }
    if services.icmp {
        out.push((Proto::Icmp(family), vec![]));
    }
    if services.other {
        out.push((Proto::Other(family), vec![]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays_count_from_sunday() {
        assert_eq!(nft_days(0b000_0001), [1]); // Monday
        assert_eq!(nft_days(0b100_0000), [0]); // Sunday
        assert_eq!(nft_days(0b110_0000), [0, 6]);
    }
}
