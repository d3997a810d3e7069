//! Which identities are pods, which are plain addresses, and the label
//! selector that picks each pod and no other inventory pod.
//!
//! Input: the program's identities. Output: an [`Estate`] plus E0402 for
//! bindings Kubernetes would reject or that cannot be told apart.
//!
//! Invariants:
//! - A pod's selector selects no other inventory pod: `matchLabels` are its
//!   `kubernetes.labels`; when another pod of the namespace carries all of
//!   those labels and more, a `NotIn` requirement on one of its extra labels
//!   excludes it (narrower, never broader).
//! - Two pods of one namespace with identical labels cannot be told apart:
//!   both are left out (nothing is granted to or from them) and reported.
//! - An identity with an invalid namespace, label key or label value is left
//!   out the same way.

use crate::model::{LabelSelector, LabelSelectorRequirement};
use crate::names::{is_dns_label, label_key_problem, label_value_problem, shown};
use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::{CidrSet, Identity, IdentityId, Program};
use std::collections::{BTreeMap, BTreeSet};

/// How the target sees one identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// A pod: selected by namespace and labels.
    Pod {
        namespace: String,
        selector: LabelSelector,
    },
    /// Not a pod, but has addresses: an `ipBlock` peer.
    Host(CidrSet),
    /// Nothing to refer to, or left out after an error.
    Absent,
}

#[derive(Clone, Debug)]
pub struct Estate {
    /// Indexed by `IdentityId`.
    pub roles: Vec<Role>,
    /// Managed namespaces, each with its pods in inventory order (only those
    /// that stayed `Role::Pod`).
    pub namespaces: BTreeMap<String, Vec<IdentityId>>,
    /// Facts for the report (selector exclusions).
    pub notes: Vec<String>,
}

impl Estate {
    pub fn role(&self, id: IdentityId) -> &Role {
        self.roles.get(id.0 as usize).unwrap_or(&Role::Absent)
    }

    pub fn is_pod(&self, id: IdentityId) -> bool {
        matches!(self.role(id), Role::Pod { .. })
    }
}

pub fn estate(program: &Program, diags: &mut Diagnostics) -> Estate {
    let mut roles = Vec::with_capacity(program.identities.len());
    let mut namespaces: BTreeMap<String, Vec<IdentityId>> = BTreeMap::new();
    for identity in &program.identities {
        let role = match &identity.kubernetes {
            Some(binding) => {
                let ns_ok = is_dns_label(&binding.namespace);
                if !ns_ok {
                    diags.push(invalid(identity, "namespace", &binding.namespace, "a namespace is a DNS-1123 label: at most 63 lowercase alphanumerics or `-`, starting and ending with an alphanumeric"));
                }
                let mut labels_ok = true;
                for (key, value) in &binding.labels {
                    if let Some(problem) = label_key_problem(key) {
                        diags.push(invalid(identity, "label key", key, problem));
                        labels_ok = false;
                    }
                    if let Some(problem) = label_value_problem(value) {
                        diags.push(invalid(identity, "label value", value, problem));
                        labels_ok = false;
                    }
                }
                if ns_ok {
                    let pods = namespaces.entry(binding.namespace.clone()).or_default();
                    if labels_ok {
                        pods.push(identity.id);
                    }
                }
                if ns_ok && labels_ok {
                    let selector = LabelSelector {
                        match_labels: binding.labels.clone(),
                        match_expressions: Vec::new(),
                    };
                    Role::Pod {
                        namespace: binding.namespace.clone(),
                        selector,
                    }
                } else {
                    Role::Absent
                }
            }
            None if !identity.addresses.is_empty() => {
                Role::Host(CidrSet::from_nets(&identity.addresses))
            }
            None => Role::Absent,
        };
        roles.push(role);
    }
    let mut notes = Vec::new();
    for pods in namespaces.values_mut() {
        separate(program, pods, &mut roles, &mut notes, diags);
    }
    Estate {
        roles,
        namespaces,
        notes,
    }
}

fn invalid(identity: &Identity, what: &str, value: &str, rule: &str) -> Diagnostic {
    Diagnostic::error(
        Code::InvalidTargetValue,
        format!(
            "kubernetes {what} `{}` of `{}` is invalid",
            shown(value),
            shown(&identity.name)
        ),
    )
    .with_primary(identity.origin, format!("invalid kubernetes {what}"))
    .with_note(format!("the Kubernetes API rejects it: {rule}"))
    .with_note("nothing is emitted to or from this identity on `kubernetes`")
    .with_help(format!(
        "fix the `kubernetes` binding of `{}` in the inventory",
        shown(&identity.name)
    ))
}

/// Make the selectors of one namespace's pods disjoint over the inventory.
fn separate(
    program: &Program,
    pods: &mut Vec<IdentityId>,
    roles: &mut [Role],
    notes: &mut Vec<String>,
    diags: &mut Diagnostics,
) {
    let labels = |id: IdentityId| -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        program
            .identity(id)
            .kubernetes
            .as_ref()
            .map_or(&EMPTY, |k| &k.labels)
    };
    // Identical label sets: report every later one against the first.
    let mut first_with: BTreeMap<&BTreeMap<String, String>, IdentityId> = BTreeMap::new();
    let mut clashing: BTreeSet<IdentityId> = BTreeSet::new();
    for &id in pods.iter() {
        match first_with.get(labels(id)) {
            Some(&first) => {
                let (a, b) = (program.identity(first), program.identity(id));
                diags.push(
                    Diagnostic::error(
                        Code::InvalidTargetValue,
                        format!("`{}` and `{}` have the same kubernetes labels", shown(&a.name), shown(&b.name)),
                    )
                    .with_primary(b.origin, "same namespace and labels")
                    .with_secondary(a.origin, "as this identity")
                    .with_note("a NetworkPolicy selects pods by namespace and labels only, so these two cannot be told apart")
                    .with_note("nothing is emitted to or from either of them on `kubernetes`")
                    .with_help(format!("give `{}` a distinguishing label in `kubernetes.labels`", shown(&b.name))),
                );
                clashing.insert(first);
                clashing.insert(id);
            }
            None => {
                first_with.insert(labels(id), id);
            }
        }
    }
    pods.retain(|id| !clashing.contains(id));
    for id in &clashing {
        roles[id.0 as usize] = Role::Absent;
    }
    // Index: label pair -> pods carrying it.
    let mut carrying: BTreeMap<(&str, &str), Vec<IdentityId>> = BTreeMap::new();
    for &id in pods.iter() {
        for (k, v) in labels(id) {
            carrying
                .entry((k.as_str(), v.as_str()))
                .or_default()
                .push(id);
        }
    }
    for &a in pods.iter() {
        let own = labels(a);
        // Pods that carry every label of `a` (its selector would pick them).
        let lists: Option<Vec<&Vec<IdentityId>>> = own
            .iter()
            .map(|(k, v)| carrying.get(&(k.as_str(), v.as_str())))
            .collect();
        let supersets: Vec<IdentityId> =
            match lists.as_deref().map(|l| l.iter().min_by_key(|l| l.len())) {
                Some(None) => pods.iter().copied().filter(|&b| b != a).collect(),
                Some(Some(smallest)) => smallest
                    .iter()
                    .copied()
                    .filter(|&b| b != a && own.iter().all(|(k, v)| labels(b).get(k) == Some(v)))
                    .collect(),
                None => Vec::new(),
            };
        if supersets.is_empty() {
            continue;
        }
        let mut excluded: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for &b in &supersets {
            // Labels differ, so `b` has a pair `a` lacks; `a` has no such key
            // at all (else `b` would not carry all of `a`'s pairs).
            if let Some((k, v)) = labels(b).iter().find(|(k, _)| !own.contains_key(*k)) {
                excluded.entry(k.clone()).or_default().insert(v.clone());
            }
        }
        let names: Vec<String> = supersets
            .iter()
            .map(|&b| format!("`{}`", shown(&program.identity(b).name)))
            .collect();
        notes.push(format!(
            "selector of `{}` excludes {} (their labels include all of its labels)",
            shown(&program.identity(a).name),
            names.join(", ")
        ));
        if let Role::Pod { selector, .. } = &mut roles[a.0 as usize] {
            selector.match_expressions = excluded
                .into_iter()
                .map(|(key, values)| LabelSelectorRequirement {
                    key,
                    operator: "NotIn",
                    values: values.into_iter().collect(),
                })
                .collect();
        }
    }
}
