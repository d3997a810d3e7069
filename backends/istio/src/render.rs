//! Objects: per managed namespace an allow-nothing AuthorizationPolicy (every
//! workload of the namespace has an ALLOW policy, so nothing is allowed that
//! no rule allows) and a STRICT PeerAuthentication, both named after the
//! project (two seg projects sharing a namespace keep their own); per
//! workload an ALLOW policy with its allows and a DENY policy with its denies
//! (Istio evaluates DENY before ALLOW: any matching deny wins, as in the
//! semantics).
//!
//! A system namespace (see [`KubernetesOptions::spares`]) is not isolated
//! as a whole: the cluster's own components run there. Each workload seg
//! manages there gets its own STRICT PeerAuthentication and ALLOW policy
//! (empty when nothing is allowed to it), selected by its labels, which
//! isolates it alone.

use crate::estate::Estate;
use crate::lower::{Lowered, Lowerer};
use crate::merge::{intern, merge};
use crate::model::{AuthorizationPolicy, Mtls, Object, ObjectMeta, PeerAuthentication, Selector};
use seg_diag::Diagnostics;
use seg_ir::backend::KubernetesOptions;
use seg_ir::{Action, IdentityId, Program};
use seg_k8s::PROJECT_LABEL;
use seg_k8s::names::{object_name, project_label};
use std::collections::{BTreeMap, BTreeSet};

pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "seg");
/// The label of what the apply procedure applies first: DENY policies and
/// PeerAuthentications.
pub const APPLY_FIRST: (&str, &str) = ("seg.dev/apply-first", "true");
/// `seg-default-deny-<project>`, `seg-strict-<project>`; in a system
/// namespace `seg-strict-<workload>`.
pub const DEFAULT_DENY_PREFIX: &str = "seg-default-deny-";
pub const STRICT_PREFIX: &str = "seg-strict-";

pub enum Rendered {
    Policy(Object<AuthorizationPolicy>),
    Peer(Object<PeerAuthentication>),
}

pub struct Output {
    pub objects: Vec<Rendered>,
    pub rules: usize,
    pub lowerer_approximations: Vec<seg_ir::capability::Approximation>,
}

fn meta(name: String, namespace: &str, annotations: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name,
        namespace: namespace.to_string(),
        labels: BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())]),
        annotations,
    }
}

/// A STRICT PeerAuthentication: namespace-wide, or for one workload (its
/// identity and selector).
fn strict(name: String, namespace: &str, workload: Option<(&str, Option<Selector>)>) -> Rendered {
    let mut annotations = BTreeMap::from([(
        "seg.dev/description".to_string(),
        "mutual TLS required: principals and namespaces in the policies match only mTLS connections".to_string(),
    )]);
    let selector = workload.and_then(|(identity, selector)| {
        annotations.insert("seg.dev/identity".to_string(), identity.to_string());
        selector
    });
    Rendered::Peer(Object {
        api_version: "security.istio.io/v1",
        kind: "PeerAuthentication",
        metadata: meta(name, namespace, annotations),
        spec: PeerAuthentication {
            selector,
            mtls: Mtls { mode: "STRICT" },
        },
    })
}

pub fn render(
    program: &Program,
    estate: &Estate,
    cluster: &KubernetesOptions,
    diags: &mut Diagnostics,
) -> Output {
    let mut lowerer = Lowerer {
        program,
        estate,
        approximations: Vec::new(),
    };
    // Each rule lowered once; then given to every workload it protects.
    let mut lowered: Vec<(Lowered, &str)> = Vec::new();
    let mut per_workload: BTreeMap<IdentityId, [Vec<usize>; 2]> = BTreeMap::new();
    for rule in &program.rules {
        let targets: Vec<IdentityId> = rule
            .dst
            .identities
            .iter()
            .copied()
            .filter(|&id| {
                let role = estate.role(id);
                role.workload.is_some() && !role.ambiguous
            })
            .collect();
        if targets.is_empty() {
            continue;
        }
        let Some(l) = lowerer.lower(rule, diags) else {
            continue;
        };
        let slot = usize::from(rule.action == Action::Deny);
        for id in targets {
            per_workload.entry(id).or_default()[slot].push(lowered.len());
        }
        lowered.push((l, rule.provenance.id.as_str()));
    }
    let (mut rules_lowered, rule_ids): (Vec<Lowered>, Vec<&str>) = lowered.into_iter().unzip();
    let table = intern(&mut rules_lowered);
    // Rules dropped from an ambiguous workload's policy, for the report.
    for rule in &program.rules {
        let ambiguous: Vec<&str> = rule
            .dst
            .identities
            .iter()
            .filter(|&&id| estate.role(id).workload.is_some() && estate.role(id).ambiguous)
            .map(|&id| program.identity(id).name.as_str())
            .collect();
        if rule.action == Action::Allow && !ambiguous.is_empty() {
            lowerer.approximations.push(seg_ir::capability::Approximation::of(
                "istio",
                rule,
                seg_ir::capability::ApproximationKind::IdentityDropped,
                format!(
                    "destination workloads another workload's labels include, left out (Istio selectors match labels only): {}",
                    ambiguous.join(", ")
                ),
            ));
        }
    }
    let mut out = Vec::new();
    let mut rules = 0;
    for (namespace, workloads) in &estate.namespaces {
        let spared = cluster.spares(namespace);
        if !spared {
            out.push(Rendered::Policy(Object {
                api_version: "security.istio.io/v1",
                kind: "AuthorizationPolicy",
                metadata: meta(
                    object_name(DEFAULT_DENY_PREFIX, &program.project),
                    namespace,
                    BTreeMap::from([(
                        "seg.dev/description".to_string(),
                        "every workload of the namespace: an ALLOW policy that matches nothing, so only what a seg-allow policy allows is allowed".to_string(),
                    )]),
                ),
                spec: AuthorizationPolicy {
                    selector: None,
                    action: None,
                    rules: Vec::new(),
                },
            }));
            out.push(strict(
                object_name(STRICT_PREFIX, &program.project),
                namespace,
                None,
            ));
        }
        for &id in workloads {
            let role = estate.role(id);
            let Some((_, labels)) = &role.workload else {
                continue;
            };
            let selector = (!labels.is_empty()).then(|| Selector {
                match_labels: labels.clone(),
            });
            let identity = program.identity(id);
            let lists = if role.ambiguous {
                None
            } else {
                per_workload.remove(&id)
            };
            if spared {
                out.push(strict(
                    object_name(STRICT_PREFIX, &identity.name),
                    namespace,
                    Some((&identity.name, selector.clone())),
                ));
                // An ambiguous workload's selector also selects the workload
                // that carries its labels: an ALLOW that matches nothing
                // adds nothing there (ALLOW policies are ORed).
                if lists.as_ref().is_none_or(|l| l[0].is_empty()) {
                    out.push(Rendered::Policy(Object {
                        api_version: "security.istio.io/v1",
                        kind: "AuthorizationPolicy",
                        metadata: meta(
                            object_name("seg-allow-", &identity.name),
                            namespace,
                            BTreeMap::from([(
                                "seg.dev/identity".to_string(),
                                identity.name.clone(),
                            )]),
                        ),
                        spec: AuthorizationPolicy {
                            selector: selector.clone(),
                            action: Some("ALLOW"),
                            rules: Vec::new(),
                        },
                    }));
                }
            }
            let Some(lists) = lists else {
                continue;
            };
            let identity = program.identity(id);
            for (slot, list) in lists.into_iter().enumerate() {
                if list.is_empty() {
                    continue;
                }
                let (action, prefix) = if slot == 0 {
                    ("ALLOW", "seg-allow-")
                } else {
                    ("DENY", "seg-deny-")
                };
                let list: Vec<(&Lowered, &str)> = list
                    .into_iter()
                    .map(|i| (&rules_lowered[i], rule_ids[i]))
                    .collect();
                let merged = merge(&list, &table);
                let mut annotations = BTreeMap::new();
                annotations.insert("seg.dev/identity".to_string(), identity.name.clone());
                annotations.insert(
                    "seg.dev/rules".to_string(),
                    provenance(merged.iter().map(|(_, ids)| ids)),
                );
                rules += merged.len();
                out.push(Rendered::Policy(Object {
                    api_version: "security.istio.io/v1",
                    kind: "AuthorizationPolicy",
                    metadata: meta(
                        object_name(prefix, &identity.name),
                        namespace_of(role),
                        annotations,
                    ),
                    spec: AuthorizationPolicy {
                        selector: selector.clone(),
                        action: Some(action),
                        rules: merged.into_iter().map(|(r, _)| r).collect(),
                    },
                }));
            }
        }
    }
    label(&mut out, &program.project);
    Output {
        objects: out,
        rules,
        lowerer_approximations: lowerer.approximations,
    }
}

/// Every object carries the project's label (what a label-selector prune
/// selects on, as for the kubernetes target: `managed-by: seg` is shared by
/// every seg project), and every DENY policy and PeerAuthentication
/// `seg.dev/apply-first: "true"`, so that the apply procedure can put the new
/// denies in place before the allows they carve (docs/backends/istio.md,
/// "Applying and pruning"). A PeerAuthentication only narrows, and there is
/// one wherever anything is written, so the first step never has nothing to
/// apply (kubectl refuses an apply of no objects).
fn label(objects: &mut [Rendered], project: &str) {
    let project = project_label(project);
    for o in objects {
        let (metadata, first) = match o {
            Rendered::Policy(p) => (&mut p.metadata, p.spec.action == Some("DENY")),
            Rendered::Peer(p) => (&mut p.metadata, true),
        };
        metadata
            .labels
            .insert(PROJECT_LABEL.to_string(), project.clone());
        if first {
            metadata
                .labels
                .insert(APPLY_FIRST.0.to_string(), APPLY_FIRST.1.to_string());
        }
    }
}

/// `seg.dev/rules`: per written rule `i`, the ids of the seg rules it comes
/// from, one line per policy, the policy named once: `i: <policy>#<h1>,<h2>`
/// stands for `<policy>#<h1>` and `<policy>#<h2>`. A rule id is
/// `<policy>#<hash>` and its hash part holds no `#`, so the policy is what
/// precedes the last `#` of the line. At scale a workload is reached by
/// thousands of rules of a few policies: naming the policy once per line
/// halves the annotation.
fn provenance<'a>(rules: impl Iterator<Item = &'a BTreeSet<&'a str>>) -> String {
    let mut out = String::new();
    for (i, ids) in rules.enumerate() {
        // `<policy>#` → the hash parts (an id without `#` stands alone).
        let mut by_policy: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for id in ids {
            let cut = id.rfind('#').map_or(id.len(), |at| at + 1);
            by_policy.entry(&id[..cut]).or_default().push(&id[cut..]);
        }
        for (policy, hashes) in by_policy {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("{i}: {policy}{}", hashes.join(",")));
        }
    }
    out
}

fn namespace_of(role: &crate::estate::Role) -> &str {
    role.workload
        .as_ref()
        .map(|(n, _)| n.as_str())
        .unwrap_or_default()
}
