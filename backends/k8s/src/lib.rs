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
//! [`render`] (objects) → [`files`]; [`dns`] checks name resolution.
//! Nothing here ever allows more than the reference semantics.

mod access;
mod blocks;
mod dns;
mod files;
mod model;
mod names;
mod render;
mod select;
#[cfg(test)]
mod tests;

use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::{Backend, Capabilities, Emission, Identity, Program, TargetOptions};
use std::collections::BTreeSet;

pub use render::expressible;

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

    fn emit(
        &self,
        program: &Program,
        _options: &TargetOptions,
        diags: &mut Diagnostics,
    ) -> Emission {
        let estate = select::estate(program, diags);
        if estate.namespaces.is_empty() {
            return Emission {
                notes: vec!["no identity with a `kubernetes` binding: nothing written".into()],
                ..Emission::default()
            };
        }
        let access = access::compute(program, &estate, diags);
        dns::check(program, &estate, &access, diags);
        let mut rendered = render::render(program, &estate, &access);
        unique_names(program, &mut rendered.policies, diags);
        for &r in &rendered.narrowed {
            diags.push(narrowed(program, r, rendered.emitted.contains(&r)));
        }
        let mut notes = vec![format!(
            "{} NetworkPolicies in {} namespaces",
            rendered.policies.len(),
            estate.namespaces.len()
        )];
        notes.extend(estate.notes);
        Emission {
            artifacts: files::artifacts(program, &rendered.policies, diags),
            rules: rendered.rules,
            notes,
        }
    }
}

/// Two identities whose sanitised names meet in one namespace: keep the
/// first, report the second (distinct names get distinct hashes, so this
/// takes a deliberate collision).
fn unique_names(
    program: &Program,
    policies: &mut Vec<model::NetworkPolicy>,
    diags: &mut Diagnostics,
) {
    let mut seen = BTreeSet::new();
    policies.retain(|p| {
        let key = (p.metadata.namespace.clone(), p.metadata.name.clone());
        if seen.insert(key) {
            return true;
        }
        let who = p
            .metadata
            .annotations
            .get("seg.dev/identity")
            .cloned()
            .unwrap_or_default();
        let mut d = Diagnostic::error(
            Code::InvalidTargetValue,
            format!(
                "NetworkPolicy name `{}` is taken twice in namespace `{}`",
                p.metadata.name, p.metadata.namespace
            ),
        )
        .with_note(format!(
            "`{}` maps to a name another identity already uses",
            names::shown(&who)
        ))
        .with_help("rename one of the identities in the inventory");
        if let Some(i) = program.identity_by_name(&who) {
            d = d.with_primary(i.origin, "name collides on kubernetes");
        }
        diags.push(d);
        false
    });
}

fn narrowed(program: &Program, rule: seg_ir::RuleId, emitted: bool) -> Diagnostic {
    let Some(r) = program.rules.get(rule.0 as usize) else {
        return Diagnostic::bug(format!("narrowed rule {rule:?} is not in the program"));
    };
    let lost = match (r.services.icmp, r.services.other) {
        (true, true) => "`icmp` and other protocols",
        (true, false) => "`icmp`",
        _ => "other protocols",
    };
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
#[cfg(test)]
mod tests_yaml;
