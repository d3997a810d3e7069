//! W0420: a namespace under default-deny egress whose pods cannot reach DNS.
//!
//! Input: the [`Estate`] and the [`Access`]. Output: one warning per managed
//! namespace in which some pod has no `udp/53` egress to any peer (a pod or an
//! address), pointing at the first such pod's inventory entry.

use crate::access::Access;
use crate::names::shown;
use crate::select::Estate;
use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::{IdentityId, Program, Protocol};
use std::collections::BTreeSet;

pub fn check(program: &Program, estate: &Estate, access: &Access, diags: &mut Diagnostics) {
    let mut resolving: BTreeSet<IdentityId> = BTreeSet::new();
    for &((s, _), e) in &access.pairs {
        if access.entries[e as usize].ports.contains(Protocol::Udp, 53) {
            resolving.insert(s);
        }
    }
    for (&pod, pieces) in &access.egress_blocks {
        if pieces.iter().any(|p| p.ports.contains(Protocol::Udp, 53)) {
            resolving.insert(pod);
        }
    }
    // The cluster's DNS service, if the inventory has it, for the help line.
    let dns_service = program.identities.iter().find(|i| {
        i.name == "kube-dns"
            || i.kubernetes
                .as_ref()
                .is_some_and(|k| k.labels.get("k8s-app").is_some_and(|v| v == "kube-dns"))
    });
    for (namespace, pods) in &estate.namespaces {
        let lacking: Vec<IdentityId> = pods
            .iter()
            .copied()
            .filter(|p| !resolving.contains(p))
            .collect();
        let Some(&first) = lacking.first() else {
            continue;
        };
        let names: Vec<String> = lacking
            .iter()
            .map(|&p| format!("`{}`", shown(&program.identity(p).name)))
            .collect();
        let identity = program.identity(first);
        let source = if lacking.len() == 1 {
            seg_name(&identity.name)
        } else {
            format!(
                "[{}]",
                lacking
                    .iter()
                    .map(|&p| seg_name(&program.identity(p).name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        diags.push(
            Diagnostic::warning(
                Code::NoDnsEgress,
                format!("pods in namespace `{}` cannot reach dns", shown(namespace)),
            )
            .with_primary(identity.origin, "no egress to udp/53")
            .with_note(format!(
                "seg denies all egress from namespace `{}` except what rules allow",
                shown(namespace)
            ))
            .with_note(format!(
                "no rule lets {} send udp/53, so name resolution fails",
                names.join(", ")
            ))
            .with_help(match dns_service {
                Some(dns) if !lacking.contains(&dns.id) => {
                    format!("add `allow {source} -> {} on dns`", seg_name(&dns.name))
                }
                _ => format!("add `allow {source} -> network <resolver addresses> on dns`"),
            }),
        );
    }
}

/// How a policy refers to an identity: bare when it is a plain name, else quoted.
fn seg_name(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !name.contains("--")
        && !name.ends_with('-');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", shown(name))
    }
}
