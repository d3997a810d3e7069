//! How the mesh sees each identity: its principal (`TRUST_DOMAIN/ns/N/sa/A`),
//! and for identities with a `kubernetes` binding, the workload selector of
//! its policies.
//!
//! Invariants:
//! - a principal is made only of a valid trust domain, a DNS-label namespace
//!   and a Kubernetes service account name (a DNS subdomain), so it holds no
//!   `*` (which Istio reads as a wildcard), no `/` beyond its own and no space;
//! - a workload's selector selects none of the inventory's other workloads:
//!   Istio selectors have only `matchLabels`, so an identity whose labels
//!   another identity of its namespace also carries (with more) cannot be
//!   selected alone; it gets no policy of its own (the namespace's
//!   allow-nothing policy covers it) and is reported.

use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::{Identity, IdentityId, Program};
use seg_k8s::names::{is_dns_label, label_key_problem, label_value_problem, shown};
use std::collections::{BTreeMap, BTreeSet};

/// What the target knows about one identity.
#[derive(Clone, Debug, Default)]
pub struct Role {
    pub principal: Option<String>,
    /// A workload the target writes policies for: its namespace and labels.
    pub workload: Option<(String, BTreeMap<String, String>)>,
    /// A workload whose labels another workload of its namespace also has.
    pub ambiguous: bool,
}

pub struct Estate {
    pub roles: Vec<Role>,
    /// Managed namespaces: every namespace with a valid workload, with its
    /// workloads in inventory order.
    pub namespaces: BTreeMap<String, Vec<IdentityId>>,
    /// Principal → the identities that have it (several: none can be told apart).
    pub by_principal: BTreeMap<String, BTreeSet<IdentityId>>,
    pub notes: Vec<String>,
}

impl Estate {
    pub fn role(&self, id: IdentityId) -> &Role {
        &self.roles[id.0 as usize]
    }
}

/// A Kubernetes service account name: a DNS subdomain.
fn is_service_account(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_trust_domain(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// `TD/ns/N/sa/A` from `spiffe://TD/ns/N/sa/A`, if the id has that form.
pub fn istio_principal(spiffe: &str) -> Option<String> {
    let rest = spiffe.strip_prefix("spiffe://")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [td, "ns", ns, "sa", sa]
            if is_trust_domain(td) && is_dns_label(ns) && is_service_account(sa) =>
        {
            Some(rest.to_string())
        }
        _ => None,
    }
}

/// The identity's principal: its SPIFFE id in Istio's form, else its
/// binding's namespace and service account in `trust_domain`.
pub fn principal(identity: &Identity, trust_domain: &str) -> Option<String> {
    if let Some(p) = identity.spiffe.as_deref().and_then(istio_principal) {
        return Some(p);
    }
    let k = identity.kubernetes.as_ref()?;
    let sa = k.service_account.as_deref()?;
    (is_dns_label(&k.namespace) && is_service_account(sa) && is_trust_domain(trust_domain))
        .then(|| format!("{trust_domain}/ns/{}/sa/{sa}", k.namespace))
}

fn invalid(identity: &Identity, what: &str, value: &str, problem: &str) -> Diagnostic {
    Diagnostic::error(
        Code::InvalidTargetValue,
        format!(
            "`{}` has an invalid {what} for `istio`: `{}`",
            shown(&identity.name),
            shown(value)
        ),
    )
    .with_primary(identity.origin, format!("invalid {what}"))
    .with_note(problem.to_string())
    .with_help("fix the binding in the inventory; nothing is emitted to or from this identity on `istio` until then")
}

pub fn estate(program: &Program, trust_domain: &str, diags: &mut Diagnostics) -> Estate {
    let mut roles: Vec<Role> = Vec::with_capacity(program.identities.len());
    let mut namespaces: BTreeMap<String, Vec<IdentityId>> = BTreeMap::new();
    let mut by_principal: BTreeMap<String, BTreeSet<IdentityId>> = BTreeMap::new();
    for identity in &program.identities {
        let mut role = Role {
            principal: principal(identity, trust_domain),
            ..Role::default()
        };
        if let Some(p) = &role.principal {
            by_principal
                .entry(p.clone())
                .or_default()
                .insert(identity.id);
        }
        if let Some(k) = &identity.kubernetes {
            let mut ok = true;
            if !is_dns_label(&k.namespace) {
                diags.push(invalid(identity, "namespace", &k.namespace, "a namespace is a DNS-1123 label: at most 63 lowercase alphanumerics or `-`, starting and ending with an alphanumeric"));
                ok = false;
            }
            for (key, value) in &k.labels {
                if let Some(p) = label_key_problem(key) {
                    diags.push(invalid(identity, "label key", key, p));
                    ok = false;
                }
                if let Some(p) = label_value_problem(value) {
                    diags.push(invalid(identity, "label value", value, p));
                    ok = false;
                }
            }
            if ok {
                role.workload = Some((k.namespace.clone(), k.labels.clone()));
                namespaces
                    .entry(k.namespace.clone())
                    .or_default()
                    .push(identity.id);
            }
        }
        roles.push(role);
    }
    let mut notes = Vec::new();
    for pods in namespaces.values() {
        for &a in pods {
            let Some((_, la)) = roles[a.0 as usize].workload.clone() else {
                continue;
            };
            let other = pods.iter().copied().find(|&b| {
                b != a
                    && roles[b.0 as usize]
                        .workload
                        .as_ref()
                        .is_some_and(|(_, lb)| la.iter().all(|(k, v)| lb.get(k) == Some(v)))
            });
            if let Some(b) = other {
                roles[a.0 as usize].ambiguous = true;
                notes.push(format!(
                    "workload `{}` has no policy of its own: `{}` carries all of its labels (Istio selectors match labels only), so only the namespace's allow-nothing policy covers it",
                    shown(&program.identity(a).name),
                    shown(&program.identity(b).name)
                ));
            }
        }
    }
    Estate {
        roles,
        namespaces,
        by_principal,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spiffe_ids_of_istio_form() {
        assert_eq!(
            istio_principal("spiffe://cluster.local/ns/shop/sa/web").as_deref(),
            Some("cluster.local/ns/shop/sa/web")
        );
        for bad in [
            "spiffe://cluster.local/ns/shop/sa/*",
            "spiffe://cluster.local/ns/shop/sa/web/x",
            "spiffe://Cluster/ns/shop/sa/web",
            "spiffe://td/workload/x",
            "cluster.local/ns/shop/sa/web",
            "spiffe://td/ns/shop/sa/a b",
            "spiffe://td/ns/-x/sa/web",
        ] {
            assert_eq!(istio_principal(bad), None, "{bad}");
        }
    }
}
