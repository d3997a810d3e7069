//! The Istio backend: AuthorizationPolicy objects (`security.istio.io/v1`)
//! that authorise by the peer's SPIFFE principal, with PeerAuthentication in
//! STRICT mode so that every connection has one (see docs/backends/istio.md).
//!
//! Input: a program prepared by the capability pass for this target (its
//! conditions hold only `mtls` and `request.*` atoms). Output: per managed
//! namespace an allow-nothing policy and a STRICT PeerAuthentication, per
//! workload (identity with a `kubernetes` binding) an ALLOW and a DENY
//! policy, and a `kustomization.yaml`.
//!
//! Stages: [`estate`] (principals, workloads and their selectors) →
//! [`lower`] (rules → Istio sources and operations) → [`merge`] (per
//! workload, as few Istio rules as exact) → [`render`] (objects) → [`files`].
//! Nothing here ever allows more than the reference semantics: what the
//! mesh cannot name or match is left out of an allow and widened in a deny.

mod estate;
mod files;
mod lower;
mod merge;
mod model;
mod render;
mod rules_yaml;
#[cfg(test)]
mod tests;

pub use estate::{istio_principal, principal};

/// How a value of a source or operation list (a principal, namespace,
/// CIDR, port, method or path) is written inside its flow sequence: plain
/// when it is provably the same string for YAML 1.1 and 1.2 readers,
/// double-quoted otherwise (see the rule in `rules_yaml::plain`).
pub fn list_value(value: &str) -> String {
    let mut out = String::new();
    rules_yaml::scalar(value, &mut out);
    out
}

use seg_diag::{Diagnostic, Diagnostics};
use seg_ir::backend::IstioOptions;
use seg_ir::{Backend, Capabilities, Emission, Identity, Lowered, Program, TargetOptions};

/// The `istio` target.
pub struct Istio;

impl Backend for Istio {
    fn name(&self) -> &'static str {
        "istio"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            deny: true,
            time: false,
            // Principals match only mTLS peers, and STRICT refuses the rest.
            mtls: true,
            request: true,
            context: false,
            honours_layered: true,
            clock: false,
        }
    }

    fn manages(&self, identity: &Identity) -> bool {
        identity.kubernetes.is_some()
    }

    fn representable(&self, identity: &Identity) -> Result<(), String> {
        let principal = identity
            .spiffe
            .as_deref()
            .and_then(istio_principal)
            .is_some();
        if identity.kubernetes.is_some() || principal || !identity.addresses.is_empty() {
            Ok(())
        } else {
            Err("no `kubernetes` binding, no SPIFFE id of Istio's form and no addresses".into())
        }
    }

    fn lower<'p>(
        &self,
        program: &'p Program,
        options: &'p TargetOptions,
        diags: &mut Diagnostics,
    ) -> Lowered<'p> {
        let options = match options {
            TargetOptions::Istio(o) => o.clone(),
            _ => {
                diags.push(Diagnostic::bug(
                    "the istio backend was given another target's options",
                ));
                IstioOptions::default()
            }
        };
        let estate = estate::estate(program, &options.trust_domain, diags);
        if estate.namespaces.is_empty() {
            return Lowered::nothing(vec![
                "no identity with a `kubernetes` binding: nothing written".into(),
            ]);
        }
        let mut rendered = render::render(program, &estate, &options.cluster, diags);
        files::unique_paths(&mut rendered.objects, diags);
        let approximations = std::mem::take(&mut rendered.lowerer_approximations);
        Lowered::new(approximations, move |bugs| {
            let meaning =
                seg_ir::meaning::digest(program, Some(&TargetOptions::Istio(options.clone())));
            let (artifacts, objects) =
                files::artifacts(rendered.objects, &program.project, &meaning, bugs);
            let mut notes = vec![format!(
                "{} objects in {} namespaces; principals in trust domain `{}` unless an identity's SPIFFE id names another",
                objects.len(),
                estate.namespaces.len(),
                options.trust_domain
            )];
            notes.extend(estate.notes);
            for ns in estate.namespaces.keys() {
                if options.cluster.spares(ns) {
                    notes.push(format!(
                        "system namespace `{ns}`: no namespace-wide allow-nothing policy or STRICT mode; only the workloads seg manages there are isolated"
                    ));
                } else if options.cluster.is_system(ns) {
                    notes.push(format!(
                        "system namespace `{ns}` is managed as a whole (default-deny-system-namespaces): its allow-nothing policy and STRICT mode cover every workload in it, not only the inventory's"
                    ));
                }
            }
            Emission {
                artifacts,
                rules: rendered.rules,
                notes,
                approximations: Vec::new(),
                objects,
            }
        })
    }

    /// The denies (and STRICT modes) first, labelled `seg.dev/apply-first`,
    /// so that no allow is in place before the deny that carves it; then every object as the
    /// project's ApplySet, pruning what the previous output had (see
    /// docs/backends/istio.md for the one case that needs a hand).
    fn apply_command(&self, program: &Program, _: &TargetOptions) -> Option<String> {
        Some(format!(
            "{} && kubectl apply -k . -l {}={} && {}",
            seg_k8s::applyset::parent_ready(),
            render::APPLY_FIRST.0,
            render::APPLY_FIRST.1,
            seg_k8s::applyset::prune_apply(&files::parent_name(&program.project)),
        ))
    }
}
