//! Kubernetes as an engine of the differential: the NetworkPolicies the
//! build wrote, analysed by network-config-analyzer over a topology
//! generated from the inventory, with the analyzer's habits guarded as in
//! `k8s_verify` (`tests/tests/k8s/`: topology, run and parse, lookup).
//!
//! A flow's ends as the analyzer sees them: an identity with a Kubernetes
//! binding is its pods (every replica; a flow to itself goes between two
//! replicas), another identity its sample addresses (first and last of each
//! network), an address itself. Left out (answer `None`): flows with no pod
//! end (not this target's business), an end with nothing to place (no
//! binding, no address), an address that is a pod identity's inventory
//! address (the analyzer never places pods on addresses, and the backend
//! never grants a pod's own addresses as an `ipBlock`: k8s/compare.rs), and
//! TCP/UDP/SCTP port 0 (NetworkPolicy ports start at 1). ICMP and other
//! protocols come only with "all connections", so those answers are inexact.
//! A canary pod (one per namespace, matching no selector) that gets any
//! connectivity is an over-permissive complaint of its own.

use crate::engines::Answer;
use crate::k8s::analyzer;
use crate::k8s::compare::{self, Side};
use crate::k8s::{tools, topology};
use seg_ir::{Flow, FlowEndpoint, Program, Protocol};
use std::collections::{BTreeMap, BTreeSet};

/// Answers for `flows` (by index) and complaints, from one analyzer run.
pub fn answers(
    files: &BTreeMap<String, Vec<u8>>,
    program: &Program,
    flows: &[Flow],
) -> Result<(Vec<Option<Answer>>, Vec<String>), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let topo = topology::write(program, &dir.path().join("topology"));
    if topo.pods.is_empty() {
        // No pod: nothing the target manages.
        return Ok((vec![None; flows.len()], Vec::new()));
    }
    let nca = tools::nca().ok_or("network-config-analyzer (nca) is not installed")?;
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).map_err(|e| e.to_string())?;
    for (path, bytes) in files {
        let Some(rel) = path.strip_prefix("kubernetes/") else {
            continue;
        };
        // The analyzer reads policies only: not the kustomization, nor the
        // ApplySet parent and its CRD.
        if [
            "kustomization.yaml",
            seg_k8s::applyset::CRD_FILE,
            seg_k8s::applyset::PARENT_FILE,
        ]
        .contains(&rel)
        {
            continue;
        }
        let to = policies.join(rel);
        std::fs::create_dir_all(to.parent().unwrap_or(&policies))
            .and_then(|()| std::fs::write(&to, bytes))
            .map_err(|e| format!("{}: {e}", to.display()))?;
    }
    let out = analyzer::run(
        &nca,
        &dir.path().join("topology"),
        &policies,
        topo.pods.len(),
        topo.namespaces(),
    )?;
    let answers = flows.iter().map(|f| answer(program, &out, f)).collect();
    Ok((answers, compare::stray_pods(&topo, &out)))
}

/// Where the analyzer sees an end; `None` when it cannot place it.
fn sides(program: &Program, e: FlowEndpoint) -> Option<Vec<Side>> {
    let pod_owned = |a: std::net::IpAddr| {
        program
            .identities
            .iter()
            .any(|i| i.kubernetes.is_some() && i.addresses.iter().any(|n| n.contains(&a)))
    };
    let v: Vec<Side> = match e {
        FlowEndpoint::Address(a) if pod_owned(a) => return None,
        FlowEndpoint::Address(a) => vec![Side::Address(a)],
        FlowEndpoint::Identity(id) => {
            let i = program.identity(id);
            match &i.kubernetes {
                Some(k) => (0..topology::REPLICAS)
                    .map(|r| Side::Pod(format!("{}/i{}-{r}", k.namespace, id.0)))
                    .collect(),
                None => {
                    let mut v: Vec<Side> = i
                        .addresses
                        .iter()
                        .flat_map(|n| [n.network(), n.broadcast()])
                        .map(Side::Address)
                        .collect();
                    v.dedup_by(
                        |a, b| matches!((a, b), (Side::Address(x), Side::Address(y)) if x == y),
                    );
                    v
                }
            }
        }
    };
    (!v.is_empty()).then_some(v)
}

fn answer(program: &Program, out: &analyzer::Output, flow: &Flow) -> Option<Answer> {
    let ported = matches!(
        flow.protocol,
        Protocol::Tcp | Protocol::Udp | Protocol::Sctp
    );
    if ported && flow.port == 0 {
        return None;
    }
    let (srcs, dsts) = (sides(program, flow.src)?, sides(program, flow.dst)?);
    let mut a = Answer {
        inexact: !ported,
        ..Answer::default()
    };
    for s in &srcs {
        for d in &dsts {
            match (s, d) {
                (Side::Pod(x), Side::Pod(y)) if x == y => continue,
                (Side::Address(_), Side::Address(_)) => continue,
                _ => {}
            }
            let got = compare::analyzer_allows(out, s, d, flow.protocol, flow.port);
            a.packets += 1;
            a.allowed |= got;
            a.denied |= !got;
        }
    }
    (a.packets > 0).then_some(a)
}

/// The planted bug: an allow-all NetworkPolicy in every namespace the build
/// wrote objects for.
pub fn plant_allow_all(files: &mut BTreeMap<String, Vec<u8>>) {
    let namespaces: BTreeSet<String> = files
        .keys()
        .filter_map(|p| p.strip_prefix("kubernetes/"))
        .filter_map(|rel| rel.split_once('/').map(|(ns, _)| ns.to_string()))
        .collect();
    for ns in namespaces {
        let object = serde_json::json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "planted-allow-all", "namespace": ns},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{}],
                "egress": [{}],
            },
        });
        files.insert(
            format!("kubernetes/{ns}/planted-allow-all.yaml"),
            object.to_string().into_bytes(),
        );
    }
}
