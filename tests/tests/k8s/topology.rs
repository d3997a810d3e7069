//! The cluster the analyzer reasons about, generated from the inventory:
//! one Namespace per managed namespace with its `kubernetes.io/metadata.name`
//! label (the analyzer would otherwise create it without labels), two pods
//! per identity with a valid binding (its labels and namespace; two, so flows
//! between replicas of one identity are checked too) and one unlabelled
//! canary pod per namespace that seg default-denies. Written as JSON, which is YAML.

use seg_ir::backend::KubernetesOptions;
use seg_ir::{IdentityId, Program};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What a pod of the topology stands for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pod {
    Identity(IdentityId),
    Canary,
}

#[derive(Debug, Default)]
pub struct Topology {
    /// `namespace/pod` → what it stands for.
    pub pods: BTreeMap<String, Pod>,
    /// Namespaces written.
    pub namespaces: usize,
}

impl Topology {
    /// Namespaces written.
    pub fn namespaces(&self) -> usize {
        self.namespaces
    }
}

pub const REPLICAS: usize = 2;

/// Write `dir/topology.yaml` for every identity with a binding (the callers
/// verify programs the backend accepted without errors).
pub fn write(program: &Program, dir: &Path) -> Topology {
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    let mut items: Vec<Value> = Vec::new();
    let mut topo = Topology::default();
    for identity in &program.identities {
        let Some(k) = &identity.kubernetes else {
            continue;
        };
        namespaces.insert(k.namespace.clone());
        for r in 0..REPLICAS {
            let name = format!("i{}-{r}", identity.id.0);
            items.push(pod(&k.namespace, &name, json!(k.labels)));
            topo.pods.insert(
                format!("{}/{name}", k.namespace),
                Pod::Identity(identity.id),
            );
        }
    }
    for ns in &namespaces {
        items.push(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
        }));
        // A canary must stay isolated where seg puts a namespace-wide default
        // deny; system namespaces (the default options) get none by design, so
        // a pod seg does not manage there is none of its business.
        if !KubernetesOptions::default().spares(ns) {
            items.push(pod(ns, "canary", json!({})));
            topo.pods.insert(format!("{ns}/canary"), Pod::Canary);
        }
    }
    topo.namespaces = namespaces.len();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    std::fs::create_dir_all(dir).expect("topology dir");
    std::fs::write(
        dir.join("topology.yaml"),
        serde_json::to_string_pretty(&list).expect("json"),
    )
    .expect("write topology");
    topo
}

fn pod(ns: &str, name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
    })
}
