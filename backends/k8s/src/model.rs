//! Serde types of the Kubernetes objects seg writes: `networking.k8s.io/v1`
//! NetworkPolicy and the kustomize `Kustomization` that lists them.
//!
//! Only the fields seg sets exist here; optional ones are skipped when empty,
//! because in a NetworkPolicy an empty `ports` or `from` list means "all" and
//! must never be written by accident (render builds them non-empty).

use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicy {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: NetworkPolicySpec,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    pub pod_selector: LabelSelector,
    /// Always `[Ingress, Egress]`, in that order (some analyzers reject others).
    pub policy_types: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IngressRule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressRule>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LabelSelectorRequirement {
    pub key: String,
    /// Only `NotIn` is used: it excludes the pods of other identities.
    pub operator: &'static str,
    pub values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IngressRule {
    pub from: Vec<Peer>,
    /// `None`: every port and protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<Port>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EgressRule {
    pub to: Vec<Peer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<Port>>,
}

/// One entry of `from`/`to`: a namespace AND pod selector, or an ipBlock.
/// Written as its content alone (untagged).
#[derive(Clone, Debug, PartialEq)]
pub enum Peer {
    /// Built once per pod and shared by every rule that names it.
    Pods(Arc<PodPeer>),
    Block(BlockPeer),
}

impl Serialize for Peer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Peer::Pods(p) => p.as_ref().serialize(serializer),
            Peer::Block(b) => b.serialize(serializer),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodPeer {
    pub namespace_selector: LabelSelector,
    pub pod_selector: LabelSelector,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockPeer {
    pub ip_block: IpBlock,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IpBlock {
    pub cidr: String,
    /// Each strictly inside `cidr`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    pub protocol: &'static str,
    /// `None`: every port of the protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_port: Option<u16>,
}

/// `kustomization.yaml` at the root of the target folder.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Kustomization {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub resources: Vec<String>,
}
