//! GCP lowering: prepared rules → VPC firewall rules.
//!
//! Input: the prepared program. Output: [`Fw`] rules, unnamed. Per rule:
//! - inbound, on the destination's managed identities (`targetServiceAccounts`):
//!   one rule naming managed sources by `sourceServiceAccounts`, and rules
//!   naming every other source by `sourceRanges`, one address family each
//!   (GCP takes IPv4 or IPv6 ranges in a rule, not both);
//! - outbound, on the source's managed identities: `destinationRanges` only
//!   (GCP names egress destinations only by address), so a managed
//!   destination is named by its addresses; one without addresses cannot be
//!   reached by an outbound allow (reported, fail closed).
//!
//! Denies are rules of their own at [`DENY`], which wins over every allow at
//! [`ALLOW`]; [`DEFAULT_DENY`] closes the managed identities in both
//! directions (GCP's implied rules allow all egress). Service accounts and
//! tags are never mixed: seg uses no tags. Lists longer than GCP accepts in one
//! rule are split over several rules.
//!
//! Rules that name the same targets, sources and ranges with the same action
//! become one firewall rule whose protocols are the union of theirs (targets ×
//! sources × P1 ∪ targets × sources × P2 = targets × sources × (P1 ∪ P2)):
//! estates write one rule per port between the same segments, and each would
//! otherwise repeat the segments' address lists.

use super::model::ApiProtocol;
use crate::common::{Cover, Narrowings, covered, peers};
use indexmap::IndexMap;
use ipnet::IpNet;
use seg_diag::Diagnostics;
use seg_ir::net::CidrSet;
use seg_ir::ports::{PortRanges, PortSet};
use seg_ir::program::{Action, IdentityId, Program, RuleId};
use std::collections::BTreeSet;

/// Priority of seg's deny rules: above every allow.
pub const DENY: u32 = 1000;
/// Priority of seg's allow rules.
pub const ALLOW: u32 = 2000;
/// Priority of the deny-all rules of managed identities, just above GCP's implied rules.
pub const DEFAULT_DENY: u32 = 65534;
/// Per rule: service accounts (source and target each), ranges, port entries.
pub const MAX_ACCOUNTS: usize = 10;
pub const MAX_RANGES: usize = 256;
pub const MAX_PORTS: usize = 64;

/// One firewall rule before it is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fw {
    pub ingress: bool,
    pub deny: bool,
    pub priority: u32,
    pub targets: Vec<String>,
    pub source_accounts: Vec<String>,
    /// Source ranges (inbound) or destination ranges (outbound), one family.
    pub ranges: Vec<IpNet>,
    pub protocols: Vec<Protocol>,
    /// The rules it comes from, in rule order; empty for the default deny.
    pub rules: Vec<RuleId>,
}

/// An `IPProtocol` and its ports (empty: every port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    pub name: &'static str,
    pub ports: Vec<String>,
}

impl Protocol {
    pub fn api(&self) -> ApiProtocol {
        ApiProtocol {
            ip_protocol: self.name.to_string(),
            ports: self.ports.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    V4,
    V6,
    /// No ranges in the rule: both families can match.
    Both,
}

fn port_list(r: &PortRanges) -> Vec<String> {
    if r.is_all() {
        return Vec::new();
    }
    r.ranges()
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect()
}

/// The `allowed`/`denied` entries for `services` (without `other`), split so
/// that no entry list carries more than [`MAX_PORTS`] ports.
fn protocols(services: &PortSet, all: bool, family: Family) -> Vec<Vec<Protocol>> {
    if all {
        return vec![vec![Protocol {
            name: "all",
            ports: Vec::new(),
        }]];
    }
    let mut entries = Vec::new();
    for (name, ranges) in [
        ("tcp", &services.tcp),
        ("udp", &services.udp),
        ("sctp", &services.sctp),
    ] {
        if ranges.is_empty() {
            continue;
        }
        let ports = port_list(ranges);
        if ports.is_empty() {
            entries.push(Protocol {
                name,
                ports: Vec::new(),
            });
        }
        for chunk in ports.chunks(MAX_PORTS) {
            entries.push(Protocol {
                name,
                ports: chunk.to_vec(),
            });
        }
    }
    if services.icmp {
        if family != Family::V6 {
            entries.push(Protocol {
                name: "icmp",
                ports: Vec::new(),
            });
        }
        if family != Family::V4 {
            // ICMPv6 by protocol number: the `icmp` keyword is IPv4's.
            entries.push(Protocol {
                name: "58",
                ports: Vec::new(),
            });
        }
    }
    let mut out: Vec<Vec<Protocol>> = Vec::new();
    let mut used = 0;
    for e in entries {
        let n = e.ports.len().max(1);
        match out.last_mut() {
            Some(last) if used + n <= MAX_PORTS => last.push(e),
            _ => {
                out.push(vec![e]);
                used = 0;
            }
        }
        used += n;
    }
    out
}

fn by_family(cidrs: &CidrSet) -> [(Family, Vec<IpNet>); 2] {
    let (v4, v6): (Vec<IpNet>, Vec<IpNet>) = cidrs
        .to_cidrs()
        .into_iter()
        .partition(|n| matches!(n, IpNet::V4(_)));
    [(Family::V4, v4), (Family::V6, v6)]
}

/// What a firewall rule names, before its protocols are listed and its lists
/// chunked: direction, action, targets, source accounts, ranges.
type PartKey = (bool, bool, Vec<String>, Vec<String>, Vec<IpNet>);

/// The rules that name one [`PartKey`], merged.
struct Part {
    family: Family,
    services: PortSet,
    /// Every protocol (`all`), whatever `services` says.
    all: bool,
    rules: Vec<RuleId>,
}

struct Lowering<'p> {
    program: &'p Program,
    /// In the order of each part's first rule.
    parts: IndexMap<PartKey, Part>,
    out: Vec<Fw>,
}

impl Lowering<'_> {
    fn accounts(&self, ids: impl IntoIterator<Item = IdentityId>) -> Vec<String> {
        let set: BTreeSet<String> = ids
            .into_iter()
            .filter_map(|id| self.program.identities.get(id.0 as usize))
            .filter_map(|i| i.gcp.as_ref().map(|g| g.service_account.clone()))
            .collect();
        set.into_iter().collect()
    }

    /// Allow (or deny) `services` (every protocol when `all`) from `sources`
    /// and `ranges` to `targets` for `rule`, merged with what other rules
    /// allow between the same ends (see the module docs).
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        ingress: bool,
        deny: bool,
        targets: &[String],
        sources: &[String],
        (family, ranges): (Family, &[IpNet]),
        (services, all): (&PortSet, bool),
        rule: RuleId,
    ) {
        let key = (
            ingress,
            deny,
            targets.to_vec(),
            sources.to_vec(),
            ranges.to_vec(),
        );
        match self.parts.entry(key) {
            indexmap::map::Entry::Occupied(mut e) => {
                let part = e.get_mut();
                part.all |= all;
                if !part.all {
                    part.services = part.services.union(services);
                }
                if part.rules.last() != Some(&rule) {
                    part.rules.push(rule);
                }
            }
            indexmap::map::Entry::Vacant(e) => {
                e.insert(Part {
                    family,
                    services: services.clone(),
                    all,
                    rules: vec![rule],
                });
            }
        }
    }

    /// Every merged part as firewall rules, in the order of their first rule.
    fn flush(&mut self) {
        for ((ingress, deny, targets, sources, ranges), part) in std::mem::take(&mut self.parts) {
            let template = Fw {
                ingress,
                deny,
                priority: if deny { DENY } else { ALLOW },
                targets: Vec::new(),
                source_accounts: Vec::new(),
                ranges: Vec::new(),
                protocols: Vec::new(),
                rules: part.rules,
            };
            let protos = protocols(&part.services, part.all, part.family);
            self.push(&template, &targets, &sources, &ranges, &protos);
        }
    }

    /// One rule per chunk of targets × sources × ranges × protocol entries.
    fn push(
        &mut self,
        template: &Fw,
        targets: &[String],
        sources: &[String],
        ranges: &[IpNet],
        protos: &[Vec<Protocol>],
    ) {
        let chunks = |n: usize, len: usize| {
            if len == 0 {
                vec![(0, 0)]
            } else {
                (0..len).step_by(n).map(|s| (s, (s + n).min(len))).collect()
            }
        };
        for (t0, t1) in chunks(MAX_ACCOUNTS, targets.len()) {
            for (s0, s1) in chunks(MAX_ACCOUNTS, sources.len()) {
                for (r0, r1) in chunks(MAX_RANGES, ranges.len()) {
                    for p in protos {
                        self.out.push(Fw {
                            targets: targets[t0..t1].to_vec(),
                            source_accounts: sources[s0..s1].to_vec(),
                            ranges: ranges[r0..r1].to_vec(),
                            protocols: p.clone(),
                            ..template.clone()
                        });
                    }
                }
            }
        }
    }
}

/// Every firewall rule of the program, in rule order, then the default denies.
pub fn lower(program: &Program, narrowings: &mut Narrowings, diags: &mut Diagnostics) -> Vec<Fw> {
    let managed = |i: &seg_ir::Identity| i.gcp.is_some();
    let mut l = Lowering {
        program,
        parts: IndexMap::new(),
        out: Vec::new(),
    };
    for rule in &program.rules {
        if !narrowings.lowered(rule, diags) {
            continue;
        }
        let deny = rule.action == Action::Deny;
        let mut services = rule.services.clone();
        let mut all = services.is_any();
        if services.other && !all {
            if deny {
                all = true;
                narrowings.deny(program, rule.id, "it blocks every protocol: a rule cannot name the other IP protocols without `any`", diags);
            } else {
                services.other = false;
                narrowings.allow(
                    program,
                    rule.id,
                    "the other IP protocols without `any`",
                    diags,
                );
            }
        }
        if services.is_empty() && !all {
            continue;
        }
        let src = peers(program, &rule.src, managed);
        let dst = peers(program, &rule.dst, managed);
        let what = (&services, all);
        if !dst.managed.is_empty() {
            let targets = l.accounts(dst.managed.iter().copied());
            // A managed source whose addresses the ranges cover needs no account entry.
            let cover = Cover::new(&src.cidrs);
            let sources = l.accounts(
                src.managed
                    .iter()
                    .copied()
                    .filter(|id| !covered(program.identity(*id), &cover)),
            );
            if !sources.is_empty() {
                l.add(
                    true,
                    deny,
                    &targets,
                    &sources,
                    (Family::Both, &[]),
                    what,
                    rule.id,
                );
            }
            for (family, nets) in by_family(&src.cidrs) {
                if !nets.is_empty() {
                    l.add(true, deny, &targets, &[], (family, &nets), what, rule.id);
                }
            }
        }
        if !src.managed.is_empty() {
            let targets = l.accounts(src.managed.iter().copied());
            let mut dest = dst.cidrs.clone();
            for &id in &dst.managed {
                let identity = program.identity(id);
                if identity.addresses.is_empty() && !deny {
                    let what = format!(
                        "outbound traffic to `{}`, which has no addresses (GCP names egress destinations only by address)",
                        identity.name
                    );
                    narrowings.allow(program, rule.id, &what, diags);
                }
                dest = dest.union(&CidrSet::from_nets(&identity.addresses));
            }
            for (family, nets) in by_family(&dest) {
                if !nets.is_empty() {
                    l.add(false, deny, &targets, &[], (family, &nets), what, rule.id);
                }
            }
        }
    }
    l.flush();
    let all_managed = l.accounts(
        program
            .identities
            .iter()
            .filter(|i| managed(i))
            .map(|i| i.id),
    );
    if !all_managed.is_empty() {
        let closed = protocols(&PortSet::any(), true, Family::Both);
        for ingress in [true, false] {
            for whole in [
                CidrSet::all().intersect(&v4_space()),
                CidrSet::all().difference(&v4_space()),
            ] {
                let template = Fw {
                    ingress,
                    deny: true,
                    priority: DEFAULT_DENY,
                    targets: Vec::new(),
                    source_accounts: Vec::new(),
                    ranges: Vec::new(),
                    protocols: Vec::new(),
                    rules: Vec::new(),
                };
                l.push(&template, &all_managed, &[], &whole.to_cidrs(), &closed);
            }
        }
    }
    l.out
}

/// Every IPv4 address.
fn v4_space() -> CidrSet {
    CidrSet::from_net(IpNet::V4(ipnet::Ipv4Net::default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use seg_ir::Protocol as P;

    #[test]
    fn protocol_entries_per_family() {
        let s = PortSet::ports(P::Tcp, 80, 80)
            .union(&PortSet::icmp())
            .union(&PortSet::ports(P::Udp, 0, 65535));
        let v4 = protocols(&s, false, Family::V4);
        let names: Vec<_> = v4[0].iter().map(|p| (p.name, p.ports.clone())).collect();
        assert_eq!(
            names,
            vec![
                ("tcp", vec!["80".to_string()]),
                ("udp", vec![]),
                ("icmp", vec![])
            ]
        );
        let both = protocols(&s, false, Family::Both);
        assert_eq!(
            both[0].iter().map(|p| p.name).collect::<Vec<_>>(),
            ["tcp", "udp", "icmp", "58"]
        );
        assert_eq!(protocols(&s, true, Family::V6)[0][0].name, "all");
    }

    #[test]
    fn long_port_lists_split() {
        let mut s = PortSet::empty();
        for p in 0..100u16 {
            s = s.union(&PortSet::ports(P::Tcp, p * 2, p * 2));
        }
        let chunks = protocols(&s, false, Family::V4);
        assert_eq!(chunks.len(), 2);
        assert!(
            chunks
                .iter()
                .all(|c| c.iter().map(|p| p.ports.len()).sum::<usize>() <= MAX_PORTS)
        );
        assert_eq!(
            chunks
                .iter()
                .flatten()
                .map(|p| p.ports.len())
                .sum::<usize>(),
            100
        );
    }
}
