//! Objects: per managed namespace an allow-nothing AuthorizationPolicy (every
//! workload of the namespace has an ALLOW policy, so nothing is allowed that
//! no rule allows) and a STRICT PeerAuthentication; per workload an ALLOW
//! policy with its allows and a DENY policy with its denies (Istio evaluates
//! DENY before ALLOW: any matching deny wins, as in the semantics).

use crate::estate::Estate;
use crate::lower::{Lowered, Lowerer};
use crate::merge::merge;
use crate::model::{AuthorizationPolicy, Mtls, Object, ObjectMeta, PeerAuthentication, Selector};
use seg_diag::Diagnostics;
use seg_ir::{Action, IdentityId, Program};
use seg_k8s::names::object_name;
use std::collections::BTreeMap;

pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "seg");
pub const DEFAULT_DENY: &str = "seg-default-deny";
pub const STRICT: &str = "seg-strict";

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

pub fn render(program: &Program, estate: &Estate, diags: &mut Diagnostics) -> Output {
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
        out.push(Rendered::Policy(Object {
            api_version: "security.istio.io/v1",
            kind: "AuthorizationPolicy",
            metadata: meta(
                DEFAULT_DENY.into(),
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
        out.push(Rendered::Peer(Object {
            api_version: "security.istio.io/v1",
            kind: "PeerAuthentication",
            metadata: meta(
                STRICT.into(),
                namespace,
                BTreeMap::from([(
                    "seg.dev/description".to_string(),
                    "mutual TLS required: principals and namespaces in the policies match only mTLS connections".to_string(),
                )]),
            ),
            spec: PeerAuthentication {
                mtls: Mtls { mode: "STRICT" },
            },
        }));
        for &id in workloads {
            let role = estate.role(id);
            let (Some((_, labels)), false) = (&role.workload, role.ambiguous) else {
                continue;
            };
            let Some(lists) = per_workload.remove(&id) else {
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
                    .map(|i| (&lowered[i].0, lowered[i].1))
                    .collect();
                let merged = merge(&list);
                let mut annotations = BTreeMap::new();
                annotations.insert("seg.dev/identity".to_string(), identity.name.clone());
                let lines: Vec<String> = merged
                    .iter()
                    .enumerate()
                    .map(|(i, (_, ids))| {
                        let ids: Vec<&str> = ids.iter().copied().collect();
                        format!("{i}: {}", ids.join(", "))
                    })
                    .collect();
                annotations.insert("seg.dev/rules".to_string(), lines.join("\n"));
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
                        selector: (!labels.is_empty()).then(|| Selector {
                            match_labels: labels.clone(),
                        }),
                        action: Some(action),
                        rules: merged.into_iter().map(|(r, _)| r).collect(),
                    },
                }));
            }
        }
    }
    Output {
        objects: out,
        rules,
        lowerer_approximations: lowerer.approximations,
    }
}

fn namespace_of(role: &crate::estate::Role) -> &str {
    role.workload
        .as_ref()
        .map(|(n, _)| n.as_str())
        .unwrap_or_default()
}
