//! Serde types of the objects this target writes: `security.istio.io/v1`
//! AuthorizationPolicy and PeerAuthentication, and the kustomize
//! `Kustomization` that lists them. Only the fields seg sets exist; empty
//! lists are never written (in Istio an absent field means "any"). The
//! value lists of sources and operations are written in flow style
//! (`[a, b]`): they hold thousands of principals or ports at scale, and a
//! block list spends nine bytes of indentation on each.

use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Object<S> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: S,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuthorizationPolicy {
    /// Absent: every workload of the namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    /// `ALLOW` or `DENY`; absent on the allow-nothing policy (`{}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<PolicyRule>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    pub match_labels: BTreeMap<String, String>,
}

/// One rule: matches when a source of `from` and an operation of `to`
/// match (an absent list matches anything).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct PolicyRule {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<From>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<To>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct From {
    pub source: Source,
}

/// Fields are ANDed; seg sets exactly one per source (sources are ORed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "flow")]
    pub principals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "flow")]
    pub namespaces: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "flow")]
    pub ip_blocks: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct To {
    pub operation: Operation,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "flow")]
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "flow")]
    pub not_ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "flow")]
    pub methods: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "flow")]
    pub not_methods: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "flow")]
    pub paths: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "flow")]
    pub not_paths: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeerAuthentication {
    /// Absent: every workload of the namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    pub mtls: Mtls,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mtls {
    pub mode: &'static str,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Kustomization {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub resources: Vec<String>,
}

/// A list in flow style (see the module docs).
fn flow<S: Serializer>(values: &[String], s: S) -> Result<S::Ok, S::Error> {
    serde_saphyr::FlowSeq(values).serialize(s)
}
