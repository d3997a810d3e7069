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
use seg_ir::fasthash::FastMap;
use seg_ir::{Action, CidrSet, Condition, EndpointSet, IdentityId, PortSet, Program, Rule, RuleId};
use std::collections::{BTreeMap, BTreeSet};

/// Ports allowed between two pods, and the allows behind them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
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
    /// (source pod, destination pod) → index in `entries`, ascending by
    /// pair; only pairs with some port allowed.
    pub pairs: Vec<((IdentityId, IdentityId), u32)>,
    /// The distinct entries of the pairs (and of the steps that led to
    /// them): many pairs share one, so each is built and read once.
    pub entries: Vec<Entry>,
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
    let mut steps = Steps::default();
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
        steps.add(rule, true, &src_pods, dst_pods);
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
        steps.add(rule, false, &src_pods, dst_pods);
    }
    (access.pairs, access.entries) = steps.pairs(program.identities.len());
    access.ingress_blocks = partition_all(ingress);
    access.egress_blocks = partition_all(egress);
    access
}

/// [`partition`] per pod, once per distinct list: in one direction a
/// contribution's set and ports follow from its rule and kind, so pods named
/// by the same rules (a group's members) get the same pieces.
fn partition_all(
    by_pod: BTreeMap<IdentityId, Vec<Contribution>>,
) -> BTreeMap<IdentityId, Vec<Piece>> {
    let mut done: FastMap<Vec<(RuleId, bool)>, Vec<Piece>> = FastMap::default();
    by_pod
        .into_iter()
        .map(|(pod, c)| {
            let key = c.iter().map(|c| (c.rule, c.grant)).collect();
            let pieces = done.entry(key).or_insert_with(|| partition(c));
            (pod, pieces.clone())
        })
        .collect()
}

/// The pod-pair part of [`compute`]: each pair's entry is what its allows
/// (in rule order) then its denies (in rule order) make of an empty entry,
/// exactly as if every rule updated every pair it names. Per source pod, each
/// destination collects the rules naming the pair (an index push per rule and
/// pair); the entry is then built once per distinct list, with the ports of
/// the allows unioned once per distinct service set.
#[derive(Default)]
struct Steps<'p> {
    /// Per source pod (by `IdentityId`), the indices in `rules` of the rules
    /// naming it as a source: allows first, each kind in rule order.
    by_source: Vec<Vec<u32>>,
    /// A rule, its kind, its service set's index in `services`, and its
    /// destination pods.
    rules: Vec<(&'p Rule, bool, usize, Vec<IdentityId>)>,
    services: Vec<&'p PortSet>,
    service_index: FastMap<&'p PortSet, usize>,
}

impl<'p> Steps<'p> {
    fn add(&mut self, rule: &'p Rule, grant: bool, src: &[IdentityId], dst: Vec<IdentityId>) {
        if src.is_empty() || dst.is_empty() {
            return;
        }
        let index = self.rules.len() as u32;
        let services = &mut self.services;
        let service = *self.service_index.entry(&rule.services).or_insert_with(|| {
            services.push(&rule.services);
            services.len() - 1
        });
        self.rules.push((rule, grant, service, dst));
        for s in src {
            let s = s.0 as usize;
            if self.by_source.len() <= s {
                self.by_source.resize_with(s + 1, Vec::new);
            }
            self.by_source[s].push(index);
        }
    }

    /// Pairs (ascending, only those with ports) and their entries.
    #[allow(clippy::type_complexity)]
    fn pairs(self, identities: usize) -> (Vec<((IdentityId, IdentityId), u32)>, Vec<Entry>) {
        let mut entries = Vec::new();
        let mut known: FastMap<Vec<u32>, u32> = FastMap::default();
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); identities];
        let mut touched: Vec<u32> = Vec::new();
        let mut out = Vec::new();
        for (s, rules) in self.by_source.iter().enumerate() {
            for &r in rules {
                let (_, grant, _, dst) = &self.rules[r as usize];
                for d in dst {
                    let Some(list) = lists.get_mut(d.0 as usize) else {
                        continue;
                    };
                    // A deny matters only where an allow made a pair.
                    if list.is_empty() {
                        if !grant {
                            continue;
                        }
                        touched.push(d.0);
                    }
                    list.push(r);
                }
            }
            touched.sort_unstable();
            for &d in &touched {
                let list = std::mem::take(&mut lists[d as usize]);
                let e = match known.get(&list) {
                    Some(&e) => e,
                    None => {
                        entries.push(self.entry(&list));
                        let e = entries.len() as u32 - 1;
                        known.insert(list, e);
                        e
                    }
                };
                if !entries[e as usize].ports.is_empty() {
                    out.push(((IdentityId(s as u32), IdentityId(d)), e));
                }
            }
            touched.clear();
        }
        (out, entries)
    }

    /// The entry of a pair named by `list` (allows then denies, rule order):
    /// the allows' ports and ids; then each deny that takes some of the
    /// ports left takes them and adds its id.
    fn entry(&self, list: &[u32]) -> Entry {
        let mut services: Vec<usize> = Vec::new();
        let mut rules = BTreeSet::new();
        let mut denies = Vec::new();
        for &r in list {
            let (rule, grant, service, _) = &self.rules[r as usize];
            if *grant {
                services.push(*service);
                rules.insert(rule.id);
            } else {
                denies.push(*rule);
            }
        }
        services.sort_unstable();
        services.dedup();
        let mut ports = services
            .iter()
            .fold(PortSet::empty(), |acc, &i| acc.union(self.services[i]));
        for rule in denies {
            if !ports.intersect(&rule.services).is_empty() {
                ports = ports.difference(&rule.services);
                rules.insert(rule.id);
            }
        }
        Entry { ports, rules }
    }
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
            if rest.is_empty() {
                next.push(piece);
                continue;
            }
            // One intersection serves as the overlap test too.
            let inside = piece.region.intersect(&rest);
            if inside.is_empty() {
                next.push(piece);
                continue;
            }
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

    /// `Steps` against every rule updating every pair it names (the former
    /// loop), on random rules over a few pods; deterministic.
    #[test]
    fn steps_give_what_updating_every_pair_gives() {
        let mut state = 0x5eed_u64;
        let mut next = move |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let services = [
            PortSet::any(),
            PortSet::empty(),
            PortSet::ports(Protocol::Tcp, 80, 80),
            PortSet::ports(Protocol::Tcp, 80, 443),
            PortSet::ports(Protocol::Udp, 53, 53),
        ];
        for _ in 0..200 {
            let mut rules = Vec::new();
            for i in 0..1 + next(12) {
                let mut pods = || -> Vec<IdentityId> {
                    let mut v: Vec<IdentityId> =
                        (0..6).filter(|_| next(3) == 0).map(IdentityId).collect();
                    v.dedup();
                    v
                };
                let (src, dst) = (pods(), pods());
                let grant = next(3) != 0;
                let rule = Rule {
                    id: RuleId(i as u32),
                    action: if grant { Action::Allow } else { Action::Deny },
                    src: EndpointSet::default(),
                    dst: EndpointSet::default(),
                    services: services[next(5) as usize].clone(),
                    condition: Condition::True,
                    expires: None,
                    provenance: seg_ir::Provenance {
                        label: format!("p/{i}"),
                        id: format!("p#{i}"),
                        file: "p.seg".into(),
                        line: 1,
                        column: 1,
                        policy: "p".into(),
                        owner: None,
                        doc: None,
                        reason: None,
                        origin: seg_diag::Span::new(seg_diag::FileId(0), 0, 1),
                    },
                };
                rules.push((rule, src, dst));
            }
            // Allows first, as `compute` adds them.
            rules.sort_by_key(|(r, _, _)| r.action != Action::Allow);
            let mut naive: BTreeMap<(IdentityId, IdentityId), Entry> = BTreeMap::new();
            let mut steps = Steps::default();
            for (rule, src, dst) in &rules {
                let grant = rule.action == Action::Allow;
                for &s in src {
                    for &d in dst {
                        if grant {
                            let e = naive.entry((s, d)).or_default();
                            e.ports = e.ports.union(&rule.services);
                            e.rules.insert(rule.id);
                        } else if let Some(e) = naive.get_mut(&(s, d))
                            && !e.ports.intersect(&rule.services).is_empty()
                        {
                            e.ports = e.ports.difference(&rule.services);
                            e.rules.insert(rule.id);
                        }
                    }
                }
                steps.add(rule, grant, src, dst.clone());
            }
            naive.retain(|_, e| !e.ports.is_empty());
            let (pairs, entries) = steps.pairs(6);
            let got: BTreeMap<(IdentityId, IdentityId), Entry> = pairs
                .iter()
                .map(|&(k, e)| (k, entries[e as usize].clone()))
                .collect();
            assert_eq!(got, naive);
            assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
        }
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
