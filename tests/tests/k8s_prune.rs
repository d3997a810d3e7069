//! Pruning Kubernetes objects across versions, by the documented selector and
//! by the ApplySet of the command `seg build` prints.
//!
//! Version 1 and version 2 of a project (v2 drops two rules and an identity,
//! and with them a whole namespace) are built by `seg build`; a second seg
//! project has pods in the same namespace, and two hand-written policies sit
//! there too (one even labelled `managed-by: seg`). On the cluster after v2 is
//! applied (every object of v1, v2, the other project and the hand-written
//! ones), what kubectl would prune must be exactly the v1 objects absent from
//! v2, for both ways of pruning:
//!
//! - `kubectl apply --prune -l SELECTOR --prune-allowlist=...`: the selector
//!   and allowlist are read from docs/backends/kubernetes.md and evaluated by
//!   the label-selector grammar of Kubernetes (apimachinery `labels.Parse`),
//!   implemented here, not by seg's code that writes the labels.
//! - `KUBECTL_APPLYSET=true kubectl apply -k . --prune --applyset=PARENT`: the
//!   parent is read from the printed command, and kubectl's algorithm is
//!   replayed: each apply labels the objects of the kustomization
//!   `applyset.kubernetes.io/part-of: <the parent's id>` and records their
//!   group-kinds and namespaces on the parent; the prune deletes the objects
//!   of the recorded group-kinds and namespaces whose `part-of` selector
//!   matches and that the apply did not contain.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

const NOW: &str = "2026-11-24T00:00:00Z";

/// An object on the cluster: kind, namespace, name and labels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Obj {
    group_kind: String,
    namespace: String,
    name: String,
    labels: BTreeMap<String, String>,
}

impl Obj {
    fn key(&self) -> (String, String, String) {
        (
            self.group_kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
        )
    }
}

fn obj(doc: &Value) -> Obj {
    let kind = doc["kind"].as_str().expect("kind");
    let group_kind = match doc["apiVersion"]
        .as_str()
        .expect("apiVersion")
        .split_once('/')
    {
        Some((group, _)) => format!("{kind}.{group}"),
        None => kind.to_string(),
    };
    let meta = &doc["metadata"];
    Obj {
        group_kind,
        namespace: meta["namespace"].as_str().unwrap_or_default().to_string(),
        name: meta["name"].as_str().expect("name").to_string(),
        labels: meta["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("label").to_string()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn read_obj(path: &Path) -> Obj {
    let text = std::fs::read_to_string(path).expect("read object");
    let docs = seg_tests::yaml::documents(&text).expect("YAML");
    assert_eq!(docs.len(), 1, "{}", path.display());
    obj(&docs[0])
}

/// One build: what `kubectl apply -k .` applies (the kustomization's
/// resources), every object file, and the printed apply command.
struct Build {
    applied: Vec<Obj>,
    all: Vec<Obj>,
    command: String,
}

fn project(dir: &Path, name: &str, inventory: &str, policy: &str) {
    std::fs::create_dir_all(dir.join("policy")).expect("mkdir");
    std::fs::write(
        dir.join("seg.toml"),
        format!(
            "[project]\nname = \"{name}\"\ninventory = [\"inventory.yaml\"]\nsources = [\"policy/**/*.seg\"]\n\n[targets.kubernetes]\n"
        ),
    )
    .expect("seg.toml");
    std::fs::write(dir.join("inventory.yaml"), inventory).expect("inventory");
    std::fs::write(dir.join("policy/main.seg"), policy).expect("policy");
}

fn build(dir: &Path) -> Build {
    let out = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_seg-cli"))
        .args(["build", "--now", NOW, "--out"])
        .arg(&out)
        .arg(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run seg");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let root = out.join("kubernetes");
    let kustomization =
        std::fs::read_to_string(root.join("kustomization.yaml")).expect("kustomization");
    let kustomization = &seg_tests::yaml::documents(&kustomization).expect("YAML")[0];
    let listed: Vec<&str> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("path"))
        .collect();
    let mut all = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("ls").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.ends_with("kustomization.yaml") {
                all.push(read_obj(&p));
            }
        }
    }
    all.sort();
    let mut applied: Vec<Obj> = listed.iter().map(|f| read_obj(&root.join(f))).collect();
    applied.sort();
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report"))
            .expect("report JSON");
    let command = report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["target"] == "kubernetes")
        .and_then(|t| t["apply"].as_str())
        .expect("the kubernetes apply command")
        .to_string();
    Build {
        applied,
        all,
        command,
    }
}

/// One requirement of a label selector (apimachinery `labels.Requirement`).
#[derive(Debug)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A label selector as kubectl's `-l` takes it: requirements separated by
/// commas outside parentheses, each `k`, `!k`, `k=v`, `k==v`, `k!=v`,
/// `k in (v1,v2)` or `k notin (v1,v2)`; all must hold.
fn parse_selector(s: &str) -> Vec<Requirement> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    let values = |list: &str| -> Vec<String> {
        let inner = list
            .trim()
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .unwrap_or_else(|| panic!("a value list in parentheses: {list}"));
        inner.split(',').map(|v| v.trim().to_string()).collect()
    };
    parts
        .into_iter()
        .map(|p| {
            let p = p.trim();
            if let Some((k, v)) = p.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, list)) = p.split_once(" notin ") {
                Requirement::NotIn(k.trim().into(), values(list))
            } else if let Some((k, list)) = p.split_once(" in ") {
                Requirement::In(k.trim().into(), values(list))
            } else if let Some(k) = p.strip_prefix('!') {
                Requirement::DoesNotExist(k.trim().into())
            } else {
                assert!(!p.is_empty() && !p.contains(' '), "selector part {p:?}");
                Requirement::Exists(p.into())
            }
        })
        .collect()
}

fn selects(selector: &[Requirement], labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|r| r.matches(labels))
}

#[test]
fn the_selector_parser_follows_kubernetes() {
    let labels = BTreeMap::from([
        ("app".to_string(), "web".to_string()),
        ("tier".to_string(), "1".to_string()),
    ]);
    for (selector, want) in [
        ("app=web", true),
        ("app==web,tier=1", true),
        ("app=web,tier=2", false),
        ("app!=db", true),
        ("missing!=x", true),
        ("app in (db, web)", true),
        ("app notin (db,web)", false),
        ("missing notin (x)", true),
        ("tier", true),
        ("!tier", false),
        ("!missing,app=web", true),
    ] {
        assert_eq!(
            selects(&parse_selector(selector), &labels),
            want,
            "{selector}"
        );
    }
}

/// The selector and allowlist of the documented label-selector command.
fn documented_selector(project: &str) -> (String, String) {
    let page =
        std::fs::read_to_string(seg_tests::tools::repo().join("docs/backends/kubernetes.md"))
            .expect("docs/backends/kubernetes.md");
    let block = page
        .split("```")
        .find(|b| b.starts_with("sh\n") && b.contains(" --prune-allowlist="))
        .expect("a sh block with the label-selector prune command");
    let words: Vec<&str> = block.split_whitespace().collect();
    let after = |flag: &str| -> String {
        let i = words
            .iter()
            .position(|w| *w == flag || w.starts_with(&format!("{flag}=")))
            .unwrap_or_else(|| panic!("{flag} in {block}"));
        match words[i].split_once('=') {
            Some((_, v)) => v.to_string(),
            None => words[i + 1].to_string(),
        }
    };
    (
        after("-l").replace("<project>", project),
        after("--prune-allowlist"),
    )
}

/// The group-kind of an allowlist entry `group/version/Kind` (`core/v1/Kind`).
fn allowlisted_group_kind(entry: &str) -> String {
    let parts: Vec<&str> = entry.split('/').collect();
    assert_eq!(parts.len(), 3, "{entry}");
    if parts[0] == "core" {
        parts[2].to_string()
    } else {
        format!("{}.{}", parts[2], parts[0])
    }
}

/// The `--applyset=<resource>.<group>/<name>` of a printed command, as the
/// parent object it names among a build's objects (kind and group of the CRD
/// whose plural is `<resource>`).
fn applyset_parent<'a>(command: &str, b: &'a Build) -> &'a Obj {
    let flag = command
        .split_whitespace()
        .find_map(|w| w.strip_prefix("--applyset="))
        .unwrap_or_else(|| panic!("no --applyset in {command}"));
    let (resource, name) = flag.split_once('/').expect("RESOURCE.GROUP/NAME");
    let crd = b
        .all
        .iter()
        .find(|o| {
            o.group_kind == "CustomResourceDefinition.apiextensions.k8s.io" && o.name == resource
        })
        .unwrap_or_else(|| panic!("no CRD {resource} in the output"));
    let group = crd.name.split_once('.').expect("plural.group").1;
    b.all
        .iter()
        .find(|o| {
            o.name == name && o.group_kind.ends_with(&format!(".{group}")) && o.namespace.is_empty()
        })
        .unwrap_or_else(|| panic!("no parent {flag} in the output"))
}

/// What kubectl's ApplySet apply does to the cluster and the parent: the
/// applied objects get the `part-of` label; the parent records their
/// group-kinds and namespaces.
struct ApplySetState {
    id: String,
    group_kinds: BTreeSet<String>,
    namespaces: BTreeSet<String>,
}

fn apply_with_applyset(
    cluster: &mut BTreeMap<(String, String, String), Obj>,
    b: &Build,
) -> ApplySetState {
    let parent = applyset_parent(&b.command, b);
    let id = parent.labels["applyset.kubernetes.io/id"].clone();
    let mut state = ApplySetState {
        id: id.clone(),
        group_kinds: BTreeSet::new(),
        namespaces: BTreeSet::new(),
    };
    for o in &b.applied {
        // kubectl refuses input that already carries the label.
        assert!(
            !o.labels.contains_key("applyset.kubernetes.io/part-of"),
            "{o:?}"
        );
        let mut o = o.clone();
        o.labels
            .insert("applyset.kubernetes.io/part-of".into(), id.clone());
        state.group_kinds.insert(o.group_kind.clone());
        state.namespaces.insert(o.namespace.clone());
        cluster.insert(o.key(), o);
    }
    state
}

#[test]
fn the_prune_selectors_match_exactly_what_the_new_version_removes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pod = |name: &str, ns: &str| {
        format!(
            "  - name: {name}\n    kind: workload\n    owner: team-shop\n    kubernetes: {{ namespace: {ns}, labels: {{ app: {name} }} }}\n"
        )
    };
    let shop = |v: u8| {
        let mut inventory = String::from("version: 1\nidentities:\n");
        for p in ["web", "api", "db"] {
            inventory.push_str(&pod(p, "store"));
        }
        let mut policy =
            String::from("policy shop {\n  owner \"team-shop\"\n  allow web -> api on tcp/8080\n");
        if v == 1 {
            // Dropped in v2, with the `report` identity: db loses its only
            // ingress, `batch` its only pod.
            inventory.push_str(&pod("report", "batch"));
            policy.push_str("  allow api -> db on tcp/5432\n  allow report -> db on tcp/5432\n");
        }
        policy.push_str("}\n");
        let root = dir.path().join(format!("shop-v{v}"));
        project(&root, "shop", &inventory, &policy);
        build(&root)
    };
    let (v1, v2) = (shop(1), shop(2));
    let billing = {
        let root = dir.path().join("billing");
        let inventory = format!(
            "version: 1\nidentities:\n{}{}",
            pod("invoices", "store"),
            pod("ledger", "store")
        );
        project(
            &root,
            "billing",
            &inventory,
            "policy billing {\n  owner \"team-shop\"\n  allow invoices -> ledger on tcp/9000\n}\n",
        );
        build(&root)
    };
    assert!(billing.applied.iter().any(|o| o.namespace == "store"));
    let hand_written = [
        Obj {
            group_kind: "NetworkPolicy.networking.k8s.io".into(),
            namespace: "store".into(),
            name: "allow-monitoring".into(),
            labels: BTreeMap::from([("app.kubernetes.io/managed-by".into(), "seg".into())]),
        },
        Obj {
            group_kind: "NetworkPolicy.networking.k8s.io".into(),
            namespace: "store".into(),
            name: "allow-ingress-controller".into(),
            labels: BTreeMap::new(),
        },
    ];
    let removed: BTreeSet<(String, String, String)> = {
        let kept: BTreeSet<_> = v2.applied.iter().map(Obj::key).collect();
        v1.applied
            .iter()
            .map(Obj::key)
            .filter(|k| !kept.contains(k))
            .collect()
    };
    let np = "NetworkPolicy.networking.k8s.io".to_string();
    assert_eq!(
        removed,
        BTreeSet::from([
            (np.clone(), "batch".into(), "seg-allow-report".into()),
            (np.clone(), "batch".into(), "seg-default-deny-shop".into()),
            (np.clone(), "store".into(), "seg-allow-db".into()),
        ])
    );
    // The ApplySet files are applied before, not as members.
    for b in [&v1, &v2, &billing] {
        assert!(
            b.applied.iter().all(|o| o.group_kind == np),
            "{:?}",
            b.applied
        );
        assert_eq!(b.all.len(), b.applied.len() + 2);
    }

    // Label selector: the cluster holds v1, v2, billing and the hand-written
    // policies; every name is one object, owned once.
    let mut cluster: BTreeMap<(String, String, String), Obj> = BTreeMap::new();
    for o in v1
        .applied
        .iter()
        .chain(&billing.applied)
        .chain(&hand_written)
        .chain(&v2.applied)
    {
        if let Some(previous) = cluster.insert(o.key(), o.clone()) {
            assert_eq!(previous.labels, o.labels, "{o:?} has two owners");
        }
    }
    let (selector, allowlist) = documented_selector("shop");
    let selector = parse_selector(&selector);
    let allowed_kind = allowlisted_group_kind(&allowlist);
    let applied: BTreeSet<_> = v2.applied.iter().map(Obj::key).collect();
    let pruned: BTreeSet<_> = cluster
        .values()
        .filter(|o| o.group_kind == allowed_kind && selects(&selector, &o.labels))
        .map(Obj::key)
        .filter(|k| !applied.contains(k))
        .collect();
    assert_eq!(pruned, removed, "label selector");
    for o in billing.applied.iter().chain(&hand_written) {
        assert!(!selects(&selector, &o.labels), "{o:?} matches the selector");
    }

    // ApplySet: v1 and billing applied by the printed command, then v2.
    let mut cluster: BTreeMap<(String, String, String), Obj> = BTreeMap::new();
    for o in &hand_written {
        cluster.insert(o.key(), o.clone());
    }
    let first = apply_with_applyset(&mut cluster, &v1);
    let other = apply_with_applyset(&mut cluster, &billing);
    let second = apply_with_applyset(&mut cluster, &v2);
    assert_eq!(
        first.id, second.id,
        "the parent is the same across versions"
    );
    assert_ne!(first.id, other.id, "another project has another parent");
    // kubectl prunes in the group-kinds and namespaces the parent recorded
    // before this apply (those of v1), with `part-of=<id>`.
    let selector = parse_selector(&format!("applyset.kubernetes.io/part-of={}", second.id));
    let pruned: BTreeSet<_> = cluster
        .values()
        .filter(|o| {
            first.group_kinds.contains(&o.group_kind)
                && first.namespaces.contains(&o.namespace)
                && selects(&selector, &o.labels)
        })
        .map(Obj::key)
        .filter(|k| !applied.contains(k))
        .collect();
    assert_eq!(pruned, removed, "ApplySet");
    for o in billing.applied.iter().chain(&hand_written) {
        assert!(
            !selects(&selector, &cluster[&o.key()].labels),
            "{o:?} is a member"
        );
    }
    assert!(second.namespaces.is_subset(&first.namespaces));
}
