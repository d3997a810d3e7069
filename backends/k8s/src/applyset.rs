//! ApplySet metadata (KEP-3659) for `kubectl apply --prune --applyset`.
//!
//! kubectl prunes the objects labelled `applyset.kubernetes.io/part-of: <id>`
//! that an apply no longer contains, where `<id>` is derived from a parent
//! object. Seg's objects span namespaces, and a namespaced parent (kubectl's
//! default Secret, or a ConfigMap) needs `-n`, which kubectl then enforces on
//! every object; so the parent is cluster-scoped, of a custom resource type
//! seg defines (`applysets.seg.dev`, marked as an allowed parent type), one
//! parent per project (its name is the project's; the istio target's is
//! `<project>-istio`, see [`parent_of`]).
//!
//! Written here: the CRD and the parent, with the id label, the `tooling`
//! annotation kubectl accepts (`kubectl/<version>`: kubectl refuses a parent
//! managed by another tool) and `contains-group-kinds` (kubectl refuses a
//! parent without it). Not written, on purpose:
//! - the members' `part-of` label: kubectl adds it and refuses input that
//!   already carries it ("ApplySet label ... already set in input data");
//! - `additional-namespaces`: kubectl keeps it (the union of old and new
//!   namespaces before the apply, the new ones after the prune); a value in
//!   the file, applied again, could drop a namespace the previous version
//!   used, and kubectl would never prune there.

use crate::names::{object_name, project_label};
use crate::render::{MANAGED_BY, PROJECT_LABEL};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const GROUP: &str = "seg.dev";
pub const KIND: &str = "ApplySet";
pub const PLURAL: &str = "applysets";
pub const VERSION: &str = "v1";
/// The CRD's file and the parent's, at the root of the target folder (a
/// namespace folder never has a dot in its name).
pub const CRD_FILE: &str = "applyset-crd.yaml";
pub const PARENT_FILE: &str = "applyset.yaml";

pub const ID_LABEL: &str = "applyset.kubernetes.io/id";
pub const PARENT_TYPE_LABEL: &str = "applyset.kubernetes.io/is-parent-type";
pub const TOOLING: (&str, &str) = ("applyset.kubernetes.io/tooling", "kubectl/v1.27.0");
pub const GROUP_KINDS: (&str, &str) = (
    "applyset.kubernetes.io/contains-group-kinds",
    "NetworkPolicy.networking.k8s.io",
);

/// The CRD's name, `<plural>.<group>`.
pub fn crd_name() -> String {
    format!("{PLURAL}.{GROUP}")
}

/// The project's parent: a DNS label, stable while the project name is.
pub fn parent_name(project: &str) -> String {
    object_name("", project)
}

/// What `--applyset=` names: `<plural>.<group>/<name>`.
pub fn parent_ref(project: &str) -> String {
    format!("{}/{}", crd_name(), parent_name(project))
}

/// The ApplySet id of a parent, as kubectl computes it:
/// `applyset-` + unpadded URL-safe base64 (RFC 4648) of
/// SHA-256(`<name>.<namespace>.<kind>.<group>`) + `-v1`.
pub fn id(name: &str, namespace: &str, kind: &str, group: &str) -> String {
    let digest = Sha256::digest(format!("{name}.{namespace}.{kind}.{group}").as_bytes());
    format!("applyset-{}-v1", URL_SAFE_NO_PAD.encode(digest))
}

/// The id of the project's parent (cluster-scoped: no namespace).
pub fn project_id(project: &str) -> String {
    id(&parent_name(project), "", KIND, GROUP)
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterMeta {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// The parent object.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplySet {
    pub api_version: String,
    pub kind: &'static str,
    pub metadata: ClusterMeta,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Crd {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ClusterMeta,
    pub spec: CrdSpec,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrdSpec {
    pub group: &'static str,
    pub names: CrdNames,
    pub scope: &'static str,
    pub versions: Vec<CrdVersion>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdNames {
    pub kind: &'static str,
    pub list_kind: String,
    pub plural: &'static str,
    pub singular: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrdVersion {
    pub name: &'static str,
    pub served: bool,
    pub storage: bool,
    pub schema: CrdSchema,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdSchema {
    #[serde(rename = "openAPIV3Schema")]
    pub open_api_v3_schema: Schema,
}

/// An object with no fields of its own: all a parent holds is metadata.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Schema {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub description: &'static str,
}

/// The CRD, the same for every seg project (shared in a cluster, so it
/// carries no project label).
pub fn crd() -> Crd {
    Crd {
        api_version: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: ClusterMeta {
            name: crd_name(),
            labels: BTreeMap::from([
                (PARENT_TYPE_LABEL.to_string(), "true".to_string()),
                (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
            ]),
            annotations: BTreeMap::from([(
                "seg.dev/description".to_string(),
                "the parent objects of seg projects' ApplySets (kubectl apply --prune --applyset)"
                    .to_string(),
            )]),
        },
        spec: CrdSpec {
            group: GROUP,
            names: CrdNames {
                kind: KIND,
                list_kind: format!("{KIND}List"),
                plural: PLURAL,
                singular: KIND.to_lowercase(),
            },
            scope: "Cluster",
            versions: vec![CrdVersion {
                name: VERSION,
                served: true,
                storage: true,
                schema: CrdSchema {
                    open_api_v3_schema: Schema {
                        kind: "object",
                        description: "An ApplySet parent: its labels and annotations say which objects belong to the set.",
                    },
                },
            }],
        },
    }
}

/// The project's parent object.
pub fn parent(project: &str) -> ApplySet {
    parent_of(&parent_name(project), project, GROUP_KINDS.1)
}

/// A parent named `name` (a DNS label) of the project's objects of
/// `group_kinds` (kubectl's form: `Kind.group`, comma-separated, sorted).
/// Another target writing Kubernetes objects (Istio) has its own parent, so
/// that applying one target never prunes the other's objects.
pub fn parent_of(name: &str, project: &str, group_kinds: &str) -> ApplySet {
    ApplySet {
        api_version: format!("{GROUP}/{VERSION}"),
        kind: KIND,
        metadata: ClusterMeta {
            name: name.to_string(),
            labels: BTreeMap::from([
                (ID_LABEL.to_string(), id(name, "", KIND, GROUP)),
                (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
                (PROJECT_LABEL.to_string(), project_label(project)),
            ]),
            annotations: BTreeMap::from([
                (TOOLING.0.to_string(), TOOLING.1.to_string()),
                (GROUP_KINDS.0.to_string(), group_kinds.to_string()),
            ]),
        },
    }
}

/// What applies the output and prunes, run in the target folder: the CRD
/// (idempotent), the parent only when missing (kubectl keeps its
/// annotations from then on; applying the file again would reset them),
/// then the objects as an ApplySet.
pub fn apply_command(project: &str) -> String {
    format!(
        "{} && {}",
        parent_ready(),
        prune_apply(&parent_name(project))
    )
}

/// The CRD (idempotent), then the parent only when missing.
pub fn parent_ready() -> String {
    format!(
        "kubectl apply -f {CRD_FILE} && kubectl wait --for=condition=Established crd/{crd} && (kubectl get -f {PARENT_FILE} -o name || kubectl create -f {PARENT_FILE})",
        crd = crd_name(),
    )
}

/// Every object of the folder's kustomization applied as the ApplySet of
/// parent `name`, pruning the members the folder no longer has.
pub fn prune_apply(name: &str) -> String {
    format!(
        "KUBECTL_APPLYSET=true kubectl apply -k . --prune --applyset={}/{name}",
        crd_name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kubectl's own test fixtures (staging/src/k8s.io/kubectl/pkg/cmd/apply/
    /// apply_test.go): the Secret `my-set` in namespace `test`, and the
    /// cluster-scoped `ApplySet` `my-set` of group `company.com`.
    #[test]
    fn ids_equal_kubectls_fixtures() {
        assert_eq!(
            id("my-set", "test", "Secret", ""),
            "applyset-0eFHV8ySqp7XoShsGvyWFQD3s96yqwHmzc4e0HR1dsY-v1"
        );
        assert_eq!(
            id("my-set", "", "ApplySet", "company.com"),
            "applyset-rhp1a-HVAVT_dFgyEygyA1BEB82HPp2o10UiFTpqtAs-v1"
        );
    }

    #[test]
    fn ids_are_valid_label_values_and_differ_per_project() {
        for project in ["bank", "shop", "Payments_API.v2", "", "a/b"] {
            let v = project_id(project);
            assert!(
                crate::names::label_value_problem(&v).is_none(),
                "{project}: {v}"
            );
            assert!(
                crate::names::is_dns_label(&parent_name(project)),
                "{project}"
            );
        }
        assert_ne!(project_id("bank"), project_id("shop"));
        assert_eq!(parent_ref("bank"), "applysets.seg.dev/bank");
    }
}
