//! The Kubernetes backend: NetworkPolicy objects for the identities with a
//! `kubernetes` binding (see docs/backends/kubernetes.md).
//!
//! Input: a program prepared by the capability pass for this target. Output:
//! `<namespace>/<name>.yaml` per object and a root `kustomization.yaml`:
//! a default deny (ingress and egress) per managed namespace, and per pod an
//! allow policy whose peers are namespace AND pod selectors (pods) or
//! `ipBlock`s (networks and identities with addresses but no binding).
//!
//! Stages: [`select`] (roles and disjoint selectors) → [`access`] (grants
//! with the denies carved out, per pod pair and per address region) →
//! [`render`] (the plan of each policy, then its object) → [`files`];
//! [`dns`] checks name resolution.
//! Nothing here ever allows more than the reference semantics.

mod access;
pub mod applyset;
mod blocks;
mod dns;
mod files;
mod model;
pub mod names;
mod render;
mod select;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_yaml;
mod yaml;

use seg_diag::Diagnostics;
use seg_ir::backend::KubernetesOptions;
use seg_ir::{Backend, Capabilities, Emission, Identity, Lowered, Program, TargetOptions};

pub use render::{MANAGED_BY, PROJECT_LABEL, expressible};

/// The `kubernetes` target.
pub struct Kubernetes;

impl Backend for Kubernetes {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            deny: false,
            time: false,
            mtls: false,
            request: false,
            context: false,
            honours_layered: true,
            clock: false,
        }
    }

    fn manages(&self, identity: &Identity) -> bool {
        identity.kubernetes.is_some()
    }

    fn representable(&self, identity: &Identity) -> Result<(), String> {
        if identity.kubernetes.is_some() || !identity.addresses.is_empty() {
            Ok(())
        } else {
            Err("no `kubernetes` binding and no addresses".into())
        }
    }

    fn lower<'p>(
        &self,
        program: &'p Program,
        options: &'p TargetOptions,
        diags: &mut Diagnostics,
    ) -> Lowered<'p> {
        let estate = select::estate(program, diags);
        if estate.namespaces.is_empty() {
            return Lowered::nothing(vec![
                "no identity with a `kubernetes` binding: nothing written".into(),
            ]);
        }
        let mut access = access::compute(program, &estate, diags);
        dns::check(program, options, &estate, &access, diags);
        let defaults = KubernetesOptions::default();
        let k8s = match options {
            TargetOptions::Kubernetes(k) => k,
            _ => &defaults,
        };
        // The decisions and their diagnostics now; the objects only when
        // rendered (`seg check` does not build them).
        let mut plan = render::plan(program, k8s, &estate, &access, diags);
        let mut approximations = std::mem::take(&mut access.approximations);
        approximations.append(&mut plan.approximations);
        let k8s = k8s.clone();
        Lowered::streaming(approximations, move |bugs, sink| {
            let rules = plan.rules;
            let meaning = seg_ir::meaning::digest(program, Some(options));
            let mut files = files::Files::new(&meaning, sink);
            let shortened = render::render(program, &estate, plan, &mut |policy| {
                files.add(policy, bugs)
            })
            .shortened;
            let objects = files.finish(program, bugs);
            let policies = objects.iter().filter(|o| o.kind == "NetworkPolicy").count();
            let mut notes = vec![format!(
                "{policies} NetworkPolicies in {} namespaces",
                estate.namespaces.len()
            )];
            notes.extend(estate.notes);
            if shortened > 0 {
                notes.push(format!(
                    "provenance annotations of {shortened} NetworkPolicies shortened to {} KiB (the API server refuses more than 256 KiB)",
                    render::ANNOTATION_BUDGET / 1024
                ));
            }
            for ns in estate.namespaces.keys() {
                if k8s.spares(ns) {
                    notes.push(format!(
                        "system namespace `{ns}`: no namespace-wide default deny; only the pods seg manages there are isolated"
                    ));
                } else if k8s.default_deny_system_namespaces
                    && (seg_ir::backend::SYSTEM_NAMESPACES.contains(&ns.as_str())
                        || k8s.system_namespaces.contains(ns))
                {
                    notes.push(format!(
                        "system namespace `{ns}` is managed as a whole (default-deny-system-namespaces): its default deny isolates every pod in it, not only the inventory's"
                    ));
                }
            }
            Emission {
                artifacts: Vec::new(),
                rules,
                notes,
                approximations: Vec::new(),
                objects,
            }
        })
    }

    fn apply_command(&self, program: &Program, _: &TargetOptions) -> Option<String> {
        Some(applyset::apply_command(&program.project))
    }
}
