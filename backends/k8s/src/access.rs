//! Who may reach whom on the target, with the denies already carved out.
//!
//! Input: a prepared program and the [`Estate`]. Output: [`Access`]: for each
//! (source pod, destination pod) the ports allowed, and for each pod the
//! address regions it may receive from and send to, each with the allow
//! rules it comes from.
//!
//! Denies are carved here rather than through `seg_ir::grants` because the
//! target sees only two kinds of endpoint, and both carve exactly and in
//! time linear in the rules' sets: pod pairs (ports of the allows minus
//! ports of the denies naming both pods) and, per pod, address regions
//! (partition refinement of the allows' address sets, then of the denies').
//! Invariants:
//! - pod-to-pod entries come only from identity membership (selectors);
//! - an allow's addresses are its `networks` and the addresses of its
//!   non-pod identities; a deny's are its `networks` and the addresses of
//!   every member identity (LANGUAGE.md §4 membership). A pod's own inventory
//!   addresses are never granted as an `ipBlock` (pod IPs are reused; the
//!   selector is the pod's identity): narrower than the reference, never
//!   broader;
//! - an allow whose condition is not statically true is left out (the
//!   capability pass has normally removed every such condition); a deny is
//!   carved unless its condition is statically false (fail closed).

use crate::select::{Estate, Role};
use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::capability::{Approximation, ApproximationKind};
use seg_ir::{Action, CidrSet, Condition, EndpointSet, IdentityId, PortSet, Program, Rule, RuleId};
use std::collections::{BTreeMap, BTreeSet};

/// Ports allowed between two pods, and the allows behind them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub ports: PortSet,
    pub rules: BTreeSet<RuleId>,
}

/// Addresses with the same allowed ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub region: CidrSet,
    pub ports: PortSet,
    pub rules: BTreeSet<RuleId>,
}

#[derive(Clone, Debug, Default)]
pub struct Access {
    /// (source pod, destination pod) → entry.
    pub pairs: BTreeMap<(IdentityId, IdentityId), Entry>,
    /// Pod → the addresses it may receive from.
    pub ingress_blocks: BTreeMap<IdentityId, Vec<Piece>>,
    /// Pod → the addresses it may send to.
    pub egress_blocks: BTreeMap<IdentityId, Vec<Piece>>,
    /// Allows left out for a condition NetworkPolicy cannot hold, for the
    /// build report.
    pub approximations: Vec<Approximation>,
}

/// A condition that is known without a flow: `Some(true)`, `Some(false)`, or
/// `None` when it depends on the flow's context.
pub fn static_truth(c: &Condition) -> Option<bool> {
    match c {
        Condition::True => Some(true),
        Condition::False => Some(false),
        Condition::Not(c) => static_truth(c).map(|b| !b),
        Condition::And(cs) => {
            let vs: Vec<Option<bool>> = cs.iter().map(static_truth).collect();
            if vs.contains(&Some(false)) {
                Some(false)
            } else if vs.iter().all(|v| *v == Some(true)) {
                Some(true)
            } else {
                None
            }
        }
        Condition::Or(cs) => {
            let vs: Vec<Option<bool>> = cs.iter().map(static_truth).collect();
            if vs.contains(&Some(true)) {
                Some(true)
            } else if vs.iter().all(|v| *v == Some(false)) {
                Some(false)
            } else {
                None
            }
        }
        Condition::Atom(_) => None,
    }
}

pub fn compute(program: &Program, estate: &Estate, diags: &mut Diagnostics) -> Access {
    let mut access = Access::default();
    let mut ingress: BTreeMap<IdentityId, Vec<Contribution>> = BTreeMap::new();
    let mut egress: BTreeMap<IdentityId, Vec<Contribution>> = BTreeMap::new();
    let (allows, denies): (Vec<&Rule>, Vec<&Rule>) = program
        .rules
        .iter()
        .partition(|r| r.action == Action::Allow);
    for rule in allows {
        match static_truth(&rule.condition) {
            Some(true) => {}
            Some(false) => continue,
            None => {
                diags.push(conditional_allow(rule));
                access.approximations.push(Approximation::of(
                    "kubernetes",
                    rule,
                    ApproximationKind::Omitted,
                    "its condition cannot be enforced by a NetworkPolicy",
                ));
                continue;
            }
        }
        let (src_pods, dst_pods) = (pods(estate, &rule.src), pods(estate, &rule.dst));
        for &s in &src_pods {
            for &d in &dst_pods {
                let e = access.pairs.entry((s, d)).or_default();
                e.ports = e.ports.union(&rule.services);
                e.rules.insert(rule.id);
            }
        }
        contribute(
            &mut ingress,
            &dst_pods,
            host_addresses(estate, &rule.src),
            rule,
            true,
        );
        contribute(
            &mut egress,
            &src_pods,
            host_addresses(estate, &rule.dst),
            rule,
            true,
        );
    }
    let addrs: Vec<CidrSet> = program
        .identities
        .iter()
        .map(|i| CidrSet::from_nets(&i.addresses))
        .collect();
    for rule in denies {
        if static_truth(&rule.condition) == Some(false) {
            continue;
        }
        let (src_pods, dst_pods) = (pods(estate, &rule.src), pods(estate, &rule.dst));
        for &s in &src_pods {
            for &d in &dst_pods {
                if let Some(e) = access.pairs.get_mut(&(s, d))
                    && !e.ports.intersect(&rule.services).is_empty()
                {
                    e.ports = e.ports.difference(&rule.services);
                    e.rules.insert(rule.id);
                }
            }
        }
        contribute(
            &mut ingress,
            &dst_pods,
            all_addresses(&addrs, &rule.src),
            rule,
            false,
        );
        contribute(
            &mut egress,
            &src_pods,
            all_addresses(&addrs, &rule.dst),
            rule,
            false,
        );
    }
    access.pairs.retain(|_, e| !e.ports.is_empty());
    access.ingress_blocks = ingress
        .into_iter()
        .map(|(pod, c)| (pod, partition(c)))
        .collect();
    access.egress_blocks = egress
        .into_iter()
        .map(|(pod, c)| (pod, partition(c)))
        .collect();
    access
}

/// An allow (`grant`) or deny's address set and ports, for one pod.
struct Contribution<'p> {
    set: CidrSet,
    ports: &'p PortSet,
    rule: RuleId,
    grant: bool,
}

fn contribute<'p>(
    into: &mut BTreeMap<IdentityId, Vec<Contribution<'p>>>,
    pods: &[IdentityId],
    set: CidrSet,
    rule: &'p Rule,
    grant: bool,
) {
    if set.is_empty() || rule.services.is_empty() {
        return;
    }
    for pod in pods {
        // A deny only matters where some allow already contributed.
        if !grant && !into.contains_key(pod) {
            continue;
        }
        into.entry(*pod).or_default().push(Contribution {
            set: set.clone(),
            ports: &rule.services,
            rule: rule.id,
            grant,
        });
    }
}

fn pods(estate: &Estate, set: &EndpointSet) -> Vec<IdentityId> {
    set.identities
        .iter()
        .copied()
        .filter(|&id| estate.is_pod(id))
        .collect()
}

/// The addresses an allow grants: its networks and the addresses of its
/// non-pod members.
fn host_addresses(estate: &Estate, set: &EndpointSet) -> CidrSet {
    set.identities
        .iter()
        .fold(set.networks.clone(), |acc, &id| match estate.role(id) {
            Role::Host(addrs) => acc.union(addrs),
            _ => acc,
        })
}

/// The addresses a deny covers: its networks and every member's addresses.
fn all_addresses(addrs: &[CidrSet], set: &EndpointSet) -> CidrSet {
    set.identities
        .iter()
        .filter_map(|id| addrs.get(id.0 as usize))
        .fold(set.networks.clone(), |acc, a| acc.union(a))
}

/// Disjoint regions, each with the ports the allows covering it grant minus
/// the ports the denies covering it take; regions with equal ports merged.
/// Allows come before denies in `contributions`.
fn partition(contributions: Vec<Contribution>) -> Vec<Piece> {
    let mut pieces: Vec<Piece> = Vec::new();
    for c in contributions {
        let mut rest = c.set;
        let mut next = Vec::with_capacity(pieces.len() + 1);
        for piece in pieces {
            if rest.is_empty() || !piece.region.overlaps(&rest) {
                next.push(piece);
                continue;
            }
            let inside = piece.region.intersect(&rest);
            let outside = piece.region.difference(&rest);
            rest = rest.difference(&inside);
            if !outside.is_empty() {
                next.push(Piece {
                    region: outside,
                    ports: piece.ports.clone(),
                    rules: piece.rules.clone(),
                });
            }
            let ports = if c.grant {
                piece.ports.union(c.ports)
            } else {
                piece.ports.difference(c.ports)
            };
            let mut rules = piece.rules;
            if c.grant || ports != piece.ports {
                rules.insert(c.rule);
            }
            next.push(Piece {
                region: inside,
                ports,
                rules,
            });
        }
        if c.grant && !rest.is_empty() {
            next.push(Piece {
                region: rest,
                ports: c.ports.clone(),
                rules: BTreeSet::from([c.rule]),
            });
        }
        pieces = next;
    }
    let mut merged: Vec<Piece> = Vec::new();
    for piece in pieces.into_iter().filter(|p| !p.ports.is_empty()) {
        match merged.iter_mut().find(|m| m.ports == piece.ports) {
            Some(m) => {
                m.region = m.region.union(&piece.region);
                m.rules.extend(piece.rules);
            }
            None => merged.push(piece),
        }
    }
    merged
}

fn conditional_allow(rule: &Rule) -> Diagnostic {
    let p = &rule.provenance;
    Diagnostic::warning(
        Code::RuleOmitted,
        format!(
            "rule `{}` omitted on `kubernetes`: its condition cannot be enforced",
            p.label
        ),
    )
    .with_primary(p.origin, "omitted on kubernetes")
    .with_note("a NetworkPolicy has no time windows, mTLS, request or context conditions")
    .with_help("declare the condition `layered` in seg.toml if another layer enforces it")
}
#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;
    use seg_ir::Protocol;

    fn set(nets: &[&str]) -> CidrSet {
        let nets: Vec<IpNet> = nets.iter().map(|n| n.parse().unwrap()).collect();
        CidrSet::from_nets(&nets)
    }

    #[test]
    fn partition_unions_ports_over_overlaps() {
        let tcp80 = PortSet::ports(Protocol::Tcp, 80, 80);
        let tcp443 = PortSet::ports(Protocol::Tcp, 443, 443);
        let c = |set, ports, rule, grant| Contribution {
            set,
            ports,
            rule: RuleId(rule),
            grant,
        };
        let pieces = partition(vec![
            c(set(&["10.0.0.0/8"]), &tcp80, 0, true),
            c(set(&["10.1.0.0/16"]), &tcp443, 1, true),
        ]);
        assert_eq!(pieces.len(), 2);
        assert_eq!(
            pieces[0].region,
            set(&["10.0.0.0/8"]).difference(&set(&["10.1.0.0/16"]))
        );
        assert_eq!(pieces[0].ports, tcp80);
        assert_eq!(pieces[1].region, set(&["10.1.0.0/16"]));
        assert_eq!(pieces[1].ports, tcp80.union(&tcp443));
        assert_eq!(pieces[1].rules, BTreeSet::from([RuleId(0), RuleId(1)]));
    }

    #[test]
    fn partition_carves_denied_ports_and_cites_only_effective_denies() {
        let any = PortSet::any();
        let tcp22 = PortSet::ports(Protocol::Tcp, 22, 22);
        let udp53 = PortSet::ports(Protocol::Udp, 53, 53);
        let c = |set, ports, rule, grant| Contribution {
            set,
            ports,
            rule: RuleId(rule),
            grant,
        };
        let pieces = partition(vec![
            c(set(&["10.0.0.0/8"]), &tcp22, 0, true),
            c(set(&["10.0.0.0/9"]), &any, 1, false),
            c(set(&["10.200.0.0/16"]), &udp53, 2, false),
        ]);
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].region, set(&["10.128.0.0/9"]));
        assert_eq!(pieces[0].rules, BTreeSet::from([RuleId(0)]));
    }

    #[test]
    fn static_truth_of_trees() {
        use Condition::*;
        assert_eq!(
            static_truth(&And(vec![True, Or(vec![False, True])])),
            Some(true)
        );
        assert_eq!(
            static_truth(&And(vec![Atom(seg_ir::Atom::Mtls), False])),
            Some(false)
        );
        assert_eq!(
            static_truth(&Or(vec![Atom(seg_ir::Atom::Mtls), False])),
            None
        );
        assert_eq!(static_truth(&Not(Box::new(False))), Some(true));
    }
}
