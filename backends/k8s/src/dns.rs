//! W0420: a namespace under default-deny egress whose pods cannot reach DNS.
//!
//! Input: the [`Estate`] and the [`Access`]. Output: one warning per managed
//! namespace in which some pod has no `udp/53` egress to any peer (a pod or an
//! address), pointing at the first such pod's inventory entry.

use crate::access::Access;
use crate::names::shown;
use crate::select::Estate;
use seg_diag::{Code, Diagnostic, Diagnostics, SHOWN_MEMBERS, summarise};
use seg_ir::backend::KubernetesOptions;
use seg_ir::{IdentityId, Program, Protocol, TargetOptions};
use std::collections::BTreeSet;

pub fn check(
    program: &Program,
    options: &TargetOptions,
    estate: &Estate,
    access: &Access,
    diags: &mut Diagnostics,
) {
    let spares = |ns: &str| match options {
        TargetOptions::Kubernetes(k) => k.spares(ns),
        _ => KubernetesOptions::default().spares(ns),
    };
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
        let quoted: Vec<String> = lacking
            .iter()
            .map(|&p| format!("`{}`", shown(&program.identity(p).name)))
            .collect();
        let identity = program.identity(first);
        // A large namespace is summarised (a count and the first few pods);
        // the JSON output lists every pod.
        let many = lacking.len() > SHOWN_MEMBERS + 1;
        let sources: Vec<String> = lacking
            .iter()
            .take(if many { SHOWN_MEMBERS } else { lacking.len() })
            .map(|&p| seg_name(&program.identity(p).name))
            .collect();
        let source = match (sources.len(), many) {
            (1, false) => sources[0].clone(),
            (_, false) => format!("[{}]", sources.join(", ")),
            (_, true) => format!("[{}, …]", sources.join(", ")),
        };
        let target = match dns_service {
            Some(dns) if !lacking.contains(&dns.id) => seg_name(&dns.name),
            _ => "network <resolver addresses>".to_string(),
        };
        let mut help = format!("add `allow {source} -> {target} on dns`");
        if many {
            help.push_str(&format!(
                " naming all {} pods (every one is listed in `--format json`)",
                lacking.len()
            ));
        }
        let who = if many {
            format!("{} pods ({})", lacking.len(), summarise(&quoted))
        } else {
            quoted.join(", ")
        };
        diags.push(
            Diagnostic::warning(
                Code::NoDnsEgress,
                format!("pods in namespace `{}` cannot reach dns", shown(namespace)),
            )
            .with_primary(identity.origin, "no egress to udp/53")
            .with_note(if spares(namespace) {
                format!(
                    "seg isolates the pods it manages in system namespace `{}`: no egress but what rules allow",
                    shown(namespace)
                )
            } else {
                format!(
                    "seg denies all egress from namespace `{}` except what rules allow",
                    shown(namespace)
                )
            })
            .with_note(format!(
                "no rule lets {who} send udp/53, so name resolution fails"
            ))
            .with_help(help)
            .with_members(if many {
                lacking
                    .iter()
                    .map(|&p| program.identity(p).name.clone())
                    .collect()
            } else {
                Vec::new()
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
