//! Serde types of the objects this target writes: `security.istio.io/v1`
//! AuthorizationPolicy and PeerAuthentication, and the kustomize
//! `Kustomization` that lists them. Only the fields seg sets exist; empty
//! lists are never written (in Istio an absent field means "any"). A
//! policy's `rules` are written by [`crate::rules_yaml`], the rest by serde:
//! the value lists of sources and operations hold thousands of principals
//! or ports at scale, and are written in flow style (`[a,b]`).

use serde::Serialize;
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
    /// Written after the fields serde writes, by [`crate::rules_yaml`]: it is
    /// the last field of the object.
    #[serde(skip)]
    pub rules: Vec<PolicyRule>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    pub match_labels: BTreeMap<String, String>,
}

/// One rule: matches when a source of `from` and an operation of `to`
/// match (an absent list matches anything).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyRule {
    pub from: Vec<From>,
    pub to: Vec<To>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct From {
    pub source: Source,
}

/// Fields are ANDed; seg sets exactly one per source (sources are ORed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Source {
    pub principals: Vec<String>,
    pub namespaces: Vec<String>,
    pub ip_blocks: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct To {
    pub operation: Operation,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operation {
    pub ports: Vec<String>,
    pub not_ports: Vec<String>,
    pub methods: Vec<String>,
    pub not_methods: Vec<String>,
    pub paths: Vec<String>,
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
