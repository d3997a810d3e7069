//! Access → NetworkPolicy objects.
//!
//! Input: the program, the [`Estate`] and the [`Access`]. Output: per managed
//! namespace a default-deny policy (`seg-default-deny`, every pod, ingress and
//! egress) and per pod with grants one allow policy (`seg-allow-<identity>`)
//! with its ingress and egress rules, plus what could not be expressed.
//!
//! Invariants: a `from`/`to` list is never empty and `ports` is either absent
//! (only when every protocol and port is allowed) or non-empty, because in a
//! NetworkPolicy an empty list means "all". ICMP and other protocols can only
//! be allowed together with everything else; when they are not, they are
//! dropped (fail closed) and the allows that lose them are reported.

use crate::access::{Access, Entry, Piece};
use crate::blocks::cover;
use crate::model::{
    BlockPeer, EgressRule, IngressRule, IpBlock, LabelSelector, NetworkPolicy, NetworkPolicySpec,
    ObjectMeta, Peer, PodPeer, Port,
};
use crate::names::{object_name, project_label, shown};
use crate::select::{Estate, Role};
use indexmap::IndexMap;
use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::backend::KubernetesOptions;
use seg_ir::capability::{Approximation, ApproximationKind};
use seg_ir::fasthash::FastState;
use seg_ir::{Action, CidrSet, IdentityId, PortRanges, PortSet, Program, Protocol, Rule, RuleId};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::Arc;

pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "seg");
/// The label naming the seg project an object belongs to: what pruning
/// selects on (`managed-by: seg` alone is shared by every seg project).
pub const PROJECT_LABEL: &str = "seg.dev/project";
pub const NAMESPACE_LABEL: &str = "kubernetes.io/metadata.name";
/// The default deny of a namespace is `seg-default-deny-<project>`: two seg
/// projects sharing a namespace each keep (and prune) their own.
pub const DEFAULT_DENY_PREFIX: &str = "seg-default-deny-";
pub const ALLOW_PREFIX: &str = "seg-allow-";

/// What the lowering decided, before any object is built: each policy's
/// groups, the rules narrowed or emitted, with their diagnostics. `seg check`
/// stops here; [`render`] builds the objects from it.
#[derive(Debug, Default)]
pub struct Plan {
    /// Per namespace: its default deny (`pod` is `None`) unless the
    /// namespace is spared, then the pods' policies in inventory order.
    policies: Vec<Planned>,
    /// Ingress and egress rules to write.
    pub rules: usize,
    /// Allows that lost ICMP or other protocols somewhere.
    pub narrowed: BTreeSet<RuleId>,
    /// Allows that appear in some policy.
    pub emitted: BTreeSet<RuleId>,
    /// The narrowed and omitted allows, for the build report.
    pub approximations: Vec<Approximation>,
}

/// One policy to build: a namespace's default deny (no pod) or a pod's.
#[derive(Debug)]
struct Planned {
    namespace: String,
    pod: Option<PodPlan>,
}

#[derive(Debug)]
struct PodPlan {
    pod: IdentityId,
    ingress: Groups,
    egress: Groups,
}

#[derive(Debug, Default)]
pub struct Rendered {
    /// Policies whose provenance annotations were shortened to fit the API
    /// server's limit.
    pub shortened: usize,
}

/// The API server refuses an object whose annotations (keys plus values)
/// exceed 256 KiB; stay well below it to leave room for `kubectl apply`'s
/// own `last-applied-configuration` copy of the object's metadata.
pub const ANNOTATION_BUDGET: usize = 96 * 1024;

/// Shortens the longest annotation values, at entry boundaries, until all of
/// them fit `budget` bytes; true when anything was cut. Only provenance is
/// cut: the policy's rules are untouched, and the full provenance stays in the
/// build's `ir` target and `report.json`.
pub fn shorten_annotations(annotations: &mut BTreeMap<String, String>, budget: usize) -> bool {
    let size =
        |a: &BTreeMap<String, String>| a.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    let mut excess = size(annotations).saturating_sub(budget);
    if excess == 0 {
        return false;
    }
    let mut cut_any = false;
    let mut keys: Vec<String> = annotations.keys().cloned().collect();
    keys.sort_by_key(|k| std::cmp::Reverse(annotations[k].len()));
    for key in keys {
        if excess == 0 {
            break;
        }
        let Some(value) = annotations.get_mut(&key) else {
            continue;
        };
        // Room for the "… N more" tail.
        let keep = value.len().saturating_sub(excess + 64);
        let cut = shorten(value, keep);
        if cut.len() >= value.len() {
            continue;
        }
        excess = excess.saturating_sub(value.len() - cut.len());
        *value = cut;
        cut_any = true;
    }
    cut_any
}

/// `value` cut to at most `keep` bytes at a line or `, ` boundary, followed by
/// how many entries were left out.
fn shorten(value: &str, keep: usize) -> String {
    let lines = value.contains('\n');
    let separator = if lines { "\n" } else { ", " };
    let entries: Vec<&str> = value.split(separator).collect();
    let mut kept = 0;
    let mut len = 0;
    for e in &entries {
        let next = len + e.len() + if kept > 0 { separator.len() } else { 0 };
        if next > keep {
            break;
        }
        len = next;
        kept += 1;
    }
    let more = entries.len() - kept;
    let tail = format!(
        "… {more} more {} (the full list: `seg build --target ir`)",
        if more == 1 { "rule" } else { "rules" }
    );
    if kept == 0 {
        return tail;
    }
    format!("{}{separator}{tail}", entries[..kept].join(separator))
}

/// One ingress or egress rule being assembled: ports → peers.
#[derive(Debug, Default)]
struct Group {
    pods: Vec<IdentityId>,
    region: CidrSet,
    rules: BTreeSet<RuleId>,
}

/// Every policy's groups, the narrowed rules (W0401/W0402) and the names
/// taken twice in a namespace (an error, the second policy left out).
pub fn plan(
    program: &Program,
    options: &KubernetesOptions,
    estate: &Estate,
    access: &Access,
    diags: &mut Diagnostics,
) -> Plan {
    let mut out = Plan::default();
    let mut ingress_by_pod: BTreeMap<IdentityId, Vec<(IdentityId, u32)>> = BTreeMap::new();
    let mut egress_by_pod: BTreeMap<IdentityId, Vec<(IdentityId, u32)>> = BTreeMap::new();
    for &((s, d), e) in &access.pairs {
        ingress_by_pod.entry(d).or_default().push((s, e));
        egress_by_pod.entry(s).or_default().push((d, e));
    }
    let mut memo = Memo::new(access.entries.len());
    let none_pairs = Vec::new();
    let none_pieces = Vec::new();
    for (namespace, pods) in &estate.namespaces {
        // A system namespace is not isolated as a whole (its other pods run
        // the cluster); each pod seg manages there gets its own policy,
        // rules or not, which isolates it both ways.
        let spared = options.spares(namespace);
        if !spared {
            out.policies.push(Planned {
                namespace: namespace.clone(),
                pod: None,
            });
        }
        for &pod in pods {
            let Role::Pod { .. } = estate.role(pod) else {
                continue;
            };
            let ingress = groups(
                program,
                &access.entries,
                &mut memo,
                ingress_by_pod.get(&pod).unwrap_or(&none_pairs),
                access.ingress_blocks.get(&pod).unwrap_or(&none_pieces),
                &mut out,
            );
            let egress = groups(
                program,
                &access.entries,
                &mut memo,
                egress_by_pod.get(&pod).unwrap_or(&none_pairs),
                access.egress_blocks.get(&pod).unwrap_or(&none_pieces),
                &mut out,
            );
            if ingress.is_empty() && egress.is_empty() && !spared {
                continue;
            }
            out.rules += ingress.len() + egress.len();
            for group in ingress.values().chain(egress.values()) {
                out.emitted.extend(&group.rules);
            }
            out.policies.push(Planned {
                namespace: namespace.clone(),
                pod: Some(PodPlan {
                    pod,
                    ingress,
                    egress,
                }),
            });
        }
    }
    for &r in &out.narrowed {
        let emitted = out.emitted.contains(&r);
        diags.push(narrowed(program, r, emitted));
        if let Some(rule) = program.rules.get(r.0 as usize) {
            out.approximations.push(narrowing(rule, emitted));
        }
    }
    unique_names(program, &mut out.policies, diags);
    out
}

impl Planned {
    fn name(&self, program: &Program) -> String {
        match &self.pod {
            None => object_name(DEFAULT_DENY_PREFIX, &program.project),
            Some(p) => object_name(ALLOW_PREFIX, &program.identity(p.pod).name),
        }
    }
}

/// Two identities whose sanitised names meet in one namespace: keep the
/// first, report the second (distinct names get distinct hashes, so this
/// takes a deliberate collision).
fn unique_names(program: &Program, policies: &mut Vec<Planned>, diags: &mut Diagnostics) {
    let mut seen = BTreeSet::new();
    policies.retain(|p| {
        let name = p.name(program);
        let key = (p.namespace.clone(), name.clone());
        if seen.insert(key) {
            return true;
        }
        let who = p
            .pod
            .as_ref()
            .map(|pod| program.identity(pod.pod).name.clone())
            .unwrap_or_default();
        let mut d = Diagnostic::error(
            Code::InvalidTargetValue,
            format!(
                "NetworkPolicy name `{name}` is taken twice in namespace `{}`",
                p.namespace
            ),
        )
        .with_note(format!(
            "`{}` maps to a name another identity already uses",
            shown(&who)
        ))
        .with_help("rename one of the identities in the inventory");
        if let Some(i) = program.identity_by_name(&who) {
            d = d.with_primary(i.origin, "name collides on kubernetes");
        }
        diags.push(d);
        false
    });
}

/// The objects of `plan`, in its order.
/// The policies, each handed to `each` as soon as it is made: per namespace,
/// the default deny first, then the pods' policies in inventory order.
pub fn render(
    program: &Program,
    estate: &Estate,
    plan: Plan,
    each: &mut dyn FnMut(NetworkPolicy),
) -> Rendered {
    let mut out = Rendered::default();
    let denies = denies_by_pod(program, estate);
    let mut pod_peers: PodPeers = vec![None; program.identities.len()];
    for planned in plan.policies {
        let Some(PodPlan {
            pod,
            ingress,
            egress,
        }) = planned.pod
        else {
            each(default_deny(program, &planned.namespace));
            continue;
        };
        let Role::Pod { selector, .. } = estate.role(pod) else {
            continue;
        };
        let mut annotations = BTreeMap::new();
        let identity = program.identity(pod);
        annotations.insert("seg.dev/identity".into(), identity.name.clone());
        let mut cited: BTreeSet<RuleId> = BTreeSet::new();
        let mut spec = NetworkPolicySpec {
            pod_selector: selector.clone(),
            policy_types: vec!["Ingress", "Egress"],
            ingress: Vec::new(),
            egress: Vec::new(),
        };
        for (i, (ports, group)) in ingress.into_iter().enumerate() {
            annotations.insert(
                format!("seg.dev/ingress-{i}"),
                labels(program, &group.rules),
            );
            cited.extend(&group.rules);
            spec.ingress.push(IngressRule {
                from: peers(estate, &group, &mut pod_peers),
                ports: k8s_ports(&ports),
            });
        }
        for (i, (ports, group)) in egress.into_iter().enumerate() {
            annotations.insert(format!("seg.dev/egress-{i}"), labels(program, &group.rules));
            cited.extend(&group.rules);
            spec.egress.push(EgressRule {
                to: peers(estate, &group, &mut pod_peers),
                ports: k8s_ports(&ports),
            });
        }
        cited.extend(denies.get(&pod).into_iter().flatten());
        annotations.insert("seg.dev/rules".into(), provenance(program, &cited));
        if shorten_annotations(&mut annotations, ANNOTATION_BUDGET) {
            out.shortened += 1;
        }
        each(NetworkPolicy {
            api_version: "networking.k8s.io/v1",
            kind: "NetworkPolicy",
            metadata: ObjectMeta {
                name: object_name(ALLOW_PREFIX, &identity.name),
                namespace: planned.namespace,
                labels: managed_labels(program),
                annotations,
            },
            spec,
        });
    }
    out
}

fn default_deny(program: &Program, namespace: &str) -> NetworkPolicy {
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "seg.dev/description".into(),
        "every pod of the namespace: no ingress and no egress unless a seg-allow policy grants it"
            .into(),
    );
    NetworkPolicy {
        api_version: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: ObjectMeta {
            name: object_name(DEFAULT_DENY_PREFIX, &program.project),
            namespace: namespace.into(),
            labels: managed_labels(program),
            annotations,
        },
        spec: NetworkPolicySpec {
            pod_selector: LabelSelector::default(),
            policy_types: vec!["Ingress", "Egress"],
            ingress: Vec::new(),
            egress: Vec::new(),
        },
    }
}

fn managed_labels(program: &Program) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
        (PROJECT_LABEL.to_string(), project_label(&program.project)),
    ])
}

/// A pod's groups by their ports, in the order they were made (the rules'
/// order in the output); hashed fast and keyed (the ports are the
/// author's), the order is the map's own.
type Groups = IndexMap<PortSet, Group, FastState>;

/// Group a pod's entries and address pieces by the ports NetworkPolicy can
/// express; record what had to be dropped.
///
/// `memo.fitted[e]` memoizes `fit` of entry `e` (shared by many pairs, and
/// `fit` depends on the entry alone).
fn groups(
    program: &Program,
    entries: &[Entry],
    memo: &mut Memo,
    pairs: &[(IdentityId, u32)],
    pieces: &[Piece],
    out: &mut Plan,
) -> Groups {
    let mut groups = Groups::default();
    // Entry → its group, so that each entry's rules join a group once.
    let mut seen: Vec<u32> = Vec::new();
    for &(peer, e) in pairs {
        let e = e as usize;
        if memo.slot[e] == Memo::UNSEEN {
            let entry = &entries[e];
            let ports =
                memo.fitted[e].get_or_insert_with(|| fit(program, &entry.ports, &entry.rules, out));
            memo.slot[e] = match ports {
                Some(ports) => {
                    let index = match groups.get_index_of(ports) {
                        Some(index) => index,
                        None => groups.insert_full(ports.clone(), Group::default()).0,
                    };
                    groups[index].rules.extend(&entry.rules);
                    index as u32
                }
                None => Memo::NO_GROUP,
            };
            seen.push(e as u32);
        }
        if let Some(group) = groups.get_index_mut(memo.slot[e] as usize) {
            group.1.pods.push(peer);
        }
    }
    for e in seen {
        memo.slot[e as usize] = Memo::UNSEEN;
    }
    for piece in pieces {
        if let Some(ports) = fit(program, &piece.ports, &piece.rules, out) {
            let g = groups.entry(ports).or_default();
            g.region = g.region.union(&piece.region);
            g.rules.extend(&piece.rules);
        }
    }
    groups
}

/// Per entry of the access: its fitted ports once computed, and the group
/// it joined in the map [`groups`] is building (a lookup by index, not a
/// hash per pair; reset when the map is done).
struct Memo {
    fitted: Vec<Option<Option<PortSet>>>,
    slot: Vec<u32>,
}

impl Memo {
    const UNSEEN: u32 = u32::MAX;
    /// Nothing of the entry is expressible (never a group index: a pod has
    /// far fewer groups).
    const NO_GROUP: u32 = u32::MAX - 1;

    fn new(entries: usize) -> Memo {
        Memo {
            fitted: vec![None; entries],
            slot: vec![Memo::UNSEEN; entries],
        }
    }
}

/// The part of `ports` a NetworkPolicy can express (`None` when nothing is
/// left); marks the rules that lost ICMP or other protocols.
fn fit(
    program: &Program,
    ports: &PortSet,
    rules: &BTreeSet<RuleId>,
    out: &mut Plan,
) -> Option<PortSet> {
    let fitted = expressible(ports);
    if (ports.icmp && !fitted.icmp) || (ports.other && !fitted.other) {
        for &r in rules {
            if program
                .rules
                .get(r.0 as usize)
                .is_some_and(|rule| rule.services.icmp || rule.services.other)
            {
                out.narrowed.insert(r);
            }
        }
    }
    (!fitted.is_empty()).then_some(fitted)
}

/// ICMP and other protocols only with everything else; no port 0 (not a
/// destination port; NetworkPolicy ports start at 1) unless all ports.
pub fn expressible(p: &PortSet) -> PortSet {
    if p.is_any() {
        return p.clone();
    }
    let real = |r: &PortRanges| {
        if r.is_all() {
            r.clone()
        } else {
            r.difference(&PortRanges::range(0, 0))
        }
    };
    PortSet {
        tcp: real(&p.tcp),
        udp: real(&p.udp),
        sctp: real(&p.sctp),
        icmp: false,
        other: false,
    }
}

/// `None` = every protocol and port (the `ports` field left out).
fn k8s_ports(p: &PortSet) -> Option<Vec<Port>> {
    if p.is_any() {
        return None;
    }
    let mut out = Vec::new();
    for (protocol, ranges) in p.by_protocol() {
        let name = match protocol {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            _ => "SCTP",
        };
        if ranges.is_all() {
            out.push(Port {
                protocol: name,
                port: None,
                end_port: None,
            });
            continue;
        }
        for &(lo, hi) in ranges.ranges() {
            let lo = lo.max(1);
            if lo > hi {
                continue;
            }
            out.push(Port {
                protocol: name,
                port: Some(lo),
                end_port: (hi > lo).then_some(hi),
            });
        }
    }
    // `fit` never yields an empty set, and an empty list would mean "all".
    (!out.is_empty()).then_some(out)
}

/// Each pod's peer entry, built the first time a rule names the pod.
type PodPeers = Vec<Option<Arc<PodPeer>>>;

fn peers(estate: &Estate, group: &Group, pod_peers: &mut PodPeers) -> Vec<Peer> {
    let mut out = Vec::with_capacity(group.pods.len());
    for &pod in &group.pods {
        if let Role::Pod {
            namespace,
            selector,
        } = estate.role(pod)
        {
            let make = || {
                Arc::new(PodPeer {
                    namespace_selector: LabelSelector {
                        match_labels: BTreeMap::from([(
                            NAMESPACE_LABEL.to_string(),
                            namespace.clone(),
                        )]),
                        match_expressions: Vec::new(),
                    },
                    pod_selector: selector.clone(),
                })
            };
            let peer = match pod_peers.get_mut(pod.0 as usize) {
                Some(slot) => Arc::clone(slot.get_or_insert_with(make)),
                None => make(),
            };
            out.push(Peer::Pods(peer));
        }
    }
    for block in cover(&group.region) {
        out.push(Peer::Block(BlockPeer {
            ip_block: IpBlock {
                cidr: block.cidr.to_string(),
                except: block.except.iter().map(ToString::to_string).collect(),
            },
        }));
    }
    out
}

/// Per pod, the denies that name it as source or destination.
fn denies_by_pod(program: &Program, estate: &Estate) -> BTreeMap<IdentityId, BTreeSet<RuleId>> {
    let mut out: BTreeMap<IdentityId, BTreeSet<RuleId>> = BTreeMap::new();
    for rule in program.rules.iter().filter(|r| r.action == Action::Deny) {
        for &id in rule.src.identities.iter().chain(&rule.dst.identities) {
            if estate.is_pod(id) {
                out.entry(id).or_default().insert(rule.id);
            }
        }
    }
    out
}

fn rule(program: &Program, id: RuleId) -> Option<&Rule> {
    program.rules.get(id.0 as usize).filter(|r| r.id == id)
}

/// `ledger-access#e54f28f4, ledger-access#73c3e2b0`: rule ids (never
/// positions or lines, so the object changes only when its meaning does).
fn labels(program: &Program, rules: &BTreeSet<RuleId>) -> String {
    let names: Vec<&str> = rules
        .iter()
        .filter_map(|&r| rule(program, r))
        .map(|r| r.provenance.id.as_str())
        .collect();
    names.join(", ")
}

/// One line per rule: `id action[, expires D][: doc][ (reason: r)]`.
fn provenance(program: &Program, rules: &BTreeSet<RuleId>) -> String {
    let mut out = String::new();
    for r in rules.iter().filter_map(|&r| rule(program, r)) {
        let p = &r.provenance;
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&p.id);
        out.push_str(match r.action {
            Action::Allow => " allow",
            Action::Deny => " deny",
        });
        if let Some(d) = r.expires {
            let _ = write!(out, ", expires {d}");
        }
        if let Some(doc) = &p.doc {
            out.push_str(": ");
            one_line(doc, &mut out);
        }
        if let Some(reason) = &p.reason {
            out.push_str(" (reason: ");
            one_line(reason, &mut out);
            out.push(')');
        }
    }
    out
}

/// `s`'s words, one space apart, appended to `out`.
fn one_line(s: &str, out: &mut String) {
    for (i, word) in s.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// What an allow that lost protocols lost.
fn lost(rule: &Rule) -> &'static str {
    match (rule.services.icmp, rule.services.other) {
        (true, true) => "`icmp` and other protocols",
        (true, false) => "`icmp`",
        _ => "other protocols",
    }
}

/// The report's entry for an allow that lost ICMP or other protocols.
fn narrowing(rule: &Rule, emitted: bool) -> Approximation {
    let (kind, reason) = if emitted {
        (
            ApproximationKind::Narrowed,
            format!(
                "loses {}: NetworkPolicy ports name only TCP, UDP and SCTP",
                lost(rule)
            ),
        )
    } else {
        (
            ApproximationKind::Omitted,
            format!(
                "allows only {}, which NetworkPolicy ports cannot name",
                lost(rule)
            ),
        )
    };
    Approximation::of("kubernetes", rule, kind, reason)
}

/// W0401/W0402 for an allow that lost ICMP or other protocols.
fn narrowed(program: &Program, rule: seg_ir::RuleId, emitted: bool) -> Diagnostic {
    let Some(r) = program.rules.get(rule.0 as usize) else {
        return Diagnostic::bug(format!("narrowed rule {rule:?} is not in the program"));
    };
    let lost = lost(r);
    let (code, message, label) = if emitted {
        (
            Code::RuleNarrowed,
            format!("rule `{}` loses {lost} on `kubernetes`", r.provenance.label),
            "narrowed on kubernetes",
        )
    } else {
        (
            Code::RuleOmitted,
            format!(
                "rule `{}` omitted on `kubernetes`: it allows only {lost}",
                r.provenance.label
            ),
            "omitted on kubernetes",
        )
    };
    Diagnostic::of(code, message)
        .with_primary(r.provenance.origin, label)
        .with_note("NetworkPolicy ports name only TCP, UDP and SCTP; other protocols are allowed only by a rule without ports, which allows every protocol")
        .with_help("allow the flow `on any` if every protocol is meant, or enforce it on another target")
}
