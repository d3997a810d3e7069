//! Verification of the Istio backend with third-party tools.
//!
//! - Every object is validated against the `v1` `openAPIV3Schema` of its kind
//!   in the CRDs Istio publishes (`tests/schemas/istio/`, vendored with their
//!   licence) by the `jsonschema` package of the test venv; unknown fields are
//!   refused (a CRD would prune them silently).
//! - Structure the analyzer does not model: a `PeerAuthentication` in
//!   `STRICT` mode for every namespace with a policy (per workload in a
//!   system namespace), no `notPrincipals` or
//!   `notNamespaces` in an ALLOW policy, an ALLOW policy (the allow-nothing
//!   one at least) in every managed namespace.
//! - network-config-analyzer computes the TCP connectivity of the
//!   AuthorizationPolicies over pods generated from the inventory (each with
//!   its service account) and it must equal the reference evaluator on the
//!   program prepared for `istio`, for every ordered pair of pods and every TCP
//!   port where an answer can change, the connection being mutual TLS (STRICT
//!   mode makes it so between mesh pods). The analyzer knows only the trust
//!   domain `cluster.local`: identities keep the principal of their service
//!   account there (their SPIFFE ids are dropped for this test). Istio
//!   mediates TCP only, so the analyzer's non-TCP answers are not compared;
//!   addresses are not compared (the analyzer never matches pods by IP).
//!
//! Programs: the examples through the driver, pods with hostile names and
//! small random estates (`k8s/cases.rs`), each prepared for `istio` by the
//! shared capability pass.

mod k8s;

use k8s::cases;
use k8s::tools;
use seg_diag::Diagnostics;
use seg_ir::backend::{IstioOptions, KubernetesOptions};
use seg_ir::eval::decide;
use seg_ir::{Backend, Emission, Flow, FlowEndpoint, IdentityId, Program, Protocol, TargetOptions};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

struct Case {
    name: String,
    program: Program,
}

/// Identities as the analyzer can see them: a service account of their own,
/// principals in `cluster.local`.
fn meshed(mut program: Program) -> Program {
    for identity in program.identities.iter_mut() {
        identity.spiffe = None;
        if let Some(k) = &mut identity.kubernetes
            && k.service_account.is_none()
        {
            k.service_account = Some(format!("sa-{}", identity.id.0));
        }
    }
    program
}

fn prepare(program: &Program, layered: &[seg_ir::ConditionClass]) -> Program {
    let mut diags = Diagnostics::new();
    let p = seg_ir::capability::prepare(program, &seg_istio::Istio, layered, &mut diags);
    assert!(
        !diags.has_errors(),
        "capability pass: {:?}",
        diags.iter().collect::<Vec<_>>()
    );
    p.program.into_owned()
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for d in seg_tests::projects(&tools::repo().join("examples")) {
        let input = seg::driver::Input::from_args(Some(&d), &[]).expect("project");
        let comp = seg::driver::compile(&input, cases::now());
        let (Some(program), Some(manifest)) = (comp.program, comp.manifest) else {
            panic!("{} does not compile", d.display());
        };
        out.push(Case {
            name: d.display().to_string(),
            program: prepare(&meshed(program), &manifest.layered),
        });
    }
    out.push(l7_case());
    // Prepared for kubernetes without conditions: the same rules.
    let hostile = cases::hostile();
    out.push(Case {
        name: hostile.name,
        program: prepare(&meshed(hostile.program), &[]),
    });
    for c in cases::generated(6) {
        out.push(Case {
            name: c.name,
            program: prepare(&meshed(c.program), &[]),
        });
    }
    out
}

/// `tests/tests/istio/l7`: `request.method` and `request.path` conditions.
fn l7_case() -> Case {
    let dir = tools::repo().join("tests/tests/istio/l7");
    let input = seg::driver::Input::from_args(Some(&dir), &[]).expect("project");
    let comp = seg::driver::compile(&input, cases::now());
    let (Some(program), Some(manifest)) = (comp.program, comp.manifest) else {
        panic!("{} does not compile", dir.display());
    };
    Case {
        name: "tests/tests/istio/l7".into(),
        program: prepare(&meshed(program), &manifest.layered),
    }
}

fn emit(case: &Case) -> Emission {
    let mut diags = Diagnostics::new();
    let e = seg_istio::Istio.emit(
        &case.program,
        &TargetOptions::Istio(IstioOptions::default()),
        &mut diags,
    );
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{}: {errors:#?}", case.name);
    e
}

/// Whether a file holds an Istio object: not the kustomization, not the
/// ApplySet parent or its CRD (checked in `applyset_parent_prunes_istio_objects_only`).
fn is_istio_object(path: &str) -> bool {
    ![
        "kustomization.yaml",
        seg_k8s::applyset::CRD_FILE,
        seg_k8s::applyset::PARENT_FILE,
    ]
    .contains(&path)
}

/// Every Istio object of the emission as JSON.
fn objects(e: &Emission) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for a in &e.artifacts {
        if !is_istio_object(&a.path) {
            continue;
        }
        let text = String::from_utf8_lossy(&a.contents);
        let v = seg_tests::yaml::document(&text)
            .unwrap_or_else(|err| panic!("{}: not YAML: {err}", a.path));
        out.push((a.path.clone(), v));
    }
    out
}

const VALIDATE: &str = r#"
import json, sys, yaml, jsonschema
def closed(s):
    if isinstance(s, dict):
        if "properties" in s and "additionalProperties" not in s and not s.get("x-kubernetes-preserve-unknown-fields"):
            s["additionalProperties"] = False
        for v in s.values(): closed(v)
    elif isinstance(s, list):
        for v in s: closed(v)
schemas = {}
for path in sys.argv[1:3]:
    crd = yaml.safe_load(open(path))
    v1 = [v for v in crd["spec"]["versions"] if v["name"] == "v1"][0]
    schema = v1["schema"]["openAPIV3Schema"]
    closed(schema["properties"]["spec"])
    schemas[crd["spec"]["names"]["kind"]] = schema
bad = 0
for path in sys.argv[3:]:
    obj = json.load(open(path))
    for err in jsonschema.Draft7Validator(schemas[obj["kind"]]).iter_errors(obj):
        bad += 1
        print(f"{path}: {'/'.join(map(str, err.absolute_path))}: {err.message}")
sys.exit(1 if bad else 0)
"#;

#[test]
fn objects_match_the_istio_crd_schemas_and_structure() {
    let Some(python) = seg_tests::tools::venv_tool("python") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (n, case) in cases().iter().enumerate() {
        let e = emit(case);
        let objs = objects(&e);
        assert!(!objs.is_empty(), "{}: no object", case.name);
        let mut strict: BTreeSet<String> = BTreeSet::new();
        let mut allow_in: BTreeSet<String> = BTreeSet::new();
        let mut policy_in: BTreeSet<String> = BTreeSet::new();
        for (i, (path, v)) in objs.iter().enumerate() {
            let ns = v["metadata"]["namespace"]
                .as_str()
                .expect("namespace")
                .to_string();
            match v["kind"].as_str() {
                Some("PeerAuthentication") => {
                    assert_eq!(v["spec"]["mtls"]["mode"], "STRICT", "{path}");
                    // A system namespace is not taken over: STRICT per workload.
                    let system = KubernetesOptions::default().spares(&ns);
                    assert_eq!(
                        v["spec"].get("selector").is_some(),
                        system,
                        "{path}: whole namespace unless a system one"
                    );
                    strict.insert(ns);
                }
                Some("AuthorizationPolicy") => {
                    let action = v["spec"]["action"].as_str().unwrap_or("ALLOW");
                    if action == "ALLOW" {
                        allow_in.insert(ns.clone());
                        let text = v.to_string();
                        assert!(
                            !text.contains("notPrincipals") && !text.contains("notNamespaces"),
                            "{}: {path}: a not* source in an ALLOW admits plaintext traffic",
                            case.name
                        );
                    }
                    policy_in.insert(ns);
                }
                other => panic!("{}: {path}: unexpected kind {other:?}", case.name),
            }
            let file = tmp.path().join(format!("c{n}-{i}.json"));
            std::fs::write(&file, v.to_string()).expect("write");
            files.push(file.display().to_string());
        }
        assert_eq!(
            policy_in, strict,
            "{}: STRICT per namespace with policies",
            case.name
        );
        assert_eq!(
            policy_in, allow_in,
            "{}: an ALLOW policy per namespace",
            case.name
        );
    }
    let schemas = tools::repo().join("tests/schemas/istio");
    let mut args = vec![
        "-c".to_string(),
        VALIDATE.to_string(),
        schemas
            .join("authorizationpolicies.security.istio.io.yaml")
            .display()
            .to_string(),
        schemas
            .join("peerauthentications.security.istio.io.yaml")
            .display()
            .to_string(),
    ];
    args.extend(files.iter().cloned());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = tools::run(&python, &argv);
    assert_eq!(
        code,
        0,
        "{} objects: schema errors:\n{stdout}{stderr}",
        files.len()
    );
    // The validator refuses what it should.
    let bad = tmp.path().join("bad.json");
    std::fs::write(
        &bad,
        json!({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
               "metadata": {"name": "x", "namespace": "y"},
               "spec": {"action": "ALLOW", "rules": [{"from": [{"source": {"principal": ["a"]}}]}]}})
        .to_string(),
    )
    .expect("write");
    args.truncate(4);
    args.push(bad.display().to_string());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(
        tools::run(&python, &argv).0,
        1,
        "a misspelt field passes the schema"
    );
}

/// Namespaces and pods (two replicas per workload, each with its service
/// account) as the analyzer reads them; `namespace/pod` → identity.
fn topology(program: &Program, dir: &Path) -> (BTreeMap<String, IdentityId>, usize) {
    let mut items = Vec::new();
    let mut pods = BTreeMap::new();
    let mut namespaces = BTreeSet::new();
    for identity in program.identities.iter() {
        let Some(k) = &identity.kubernetes else {
            continue;
        };
        namespaces.insert(k.namespace.clone());
        for r in 0..2 {
            let name = format!("i{}-{r}", identity.id.0);
            items.push(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": k.namespace, "labels": k.labels},
                "spec": {"serviceAccountName": k.service_account,
                         "containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
            }));
            pods.insert(format!("{}/{name}", k.namespace), identity.id);
        }
    }
    for ns in &namespaces {
        items.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}));
    }
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(
        dir.join("topology.yaml"),
        json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
    )
    .expect("write");
    (pods, namespaces.len())
}

/// The TCP section of `txt_no_fw_rules`: (source pod, destination pod) →
/// ports allowed for every request; pairs whose connections carry methods or
/// paths are returned apart.
type Tcp = (BTreeMap<(String, String), Vec<(u16, u16)>>, Vec<String>);

fn tcp_connectivity(raw: &str) -> Result<Tcp, String> {
    let mut pairs: BTreeMap<(String, String), Vec<(u16, u16)>> = BTreeMap::new();
    let mut l7 = Vec::new();
    let mut in_tcp = false;
    for line in raw.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.ends_with("Connections:") {
            in_tcp = line == "TCP Connections:";
            continue;
        }
        if !in_tcp {
            continue;
        }
        let (ends, conn) = line.split_once(" : ").ok_or(format!("`{line}`"))?;
        let (s, d) = ends.split_once(" => ").ok_or(format!("`{line}`"))?;
        if !s.contains('/') || !d.contains('/') || s.contains('.') && s.contains('-') {
            continue; // an address range: not compared
        }
        let key = (s.to_string(), d.to_string());
        if conn == "All connections" {
            pairs.entry(key).or_default().push((1, 65535));
            continue;
        }
        for group in conn
            .split("},")
            .map(|g| g.trim_matches(|c| c == '{' || c == '}' || c == ','))
        {
            if group.contains("methods") || group.contains("paths") {
                l7.push(line.to_string());
                continue;
            }
            let ports = group
                .strip_prefix("dst_ports:")
                .ok_or(format!("unknown group `{group}` in `{line}`"))?;
            for item in ports.split(',') {
                let (lo, hi) = item.split_once('-').unwrap_or((item, item));
                let lo: u16 = lo.parse().map_err(|_| format!("port `{item}`"))?;
                let hi: u16 = hi.parse().map_err(|_| format!("port `{item}`"))?;
                pairs.entry(key.clone()).or_default().push((lo, hi));
            }
        }
    }
    Ok((pairs, l7))
}

/// Every TCP port where the program's answer or the analyzer's can change.
fn port_edges(
    program: &Program,
    analyzer: &BTreeMap<(String, String), Vec<(u16, u16)>>,
) -> Vec<u16> {
    let mut edges: BTreeSet<u16> = BTreeSet::from([1, 65535]);
    let mut add = |lo: u16, hi: u16| {
        edges.insert(lo.max(1));
        edges.insert(hi.max(1));
        edges.extend(hi.checked_add(1));
    };
    for r in &program.rules {
        r.services
            .tcp
            .ranges()
            .iter()
            .for_each(|&(lo, hi)| add(lo, hi));
    }
    analyzer
        .values()
        .flatten()
        .for_each(|&(lo, hi)| add(lo, hi));
    edges.into_iter().collect()
}

#[test]
fn the_analyzer_agrees_with_the_reference_pair_by_pair() {
    let Some(nca) = tools::nca() else {
        return;
    };
    let started = std::time::Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut compared = 0;
    let mut allowed = 0;
    for (n, case) in cases().iter().enumerate() {
        let e = emit(case);
        let dir = tmp.path().join(format!("c{n}"));
        let policies = dir.join("policies");
        for a in e.artifacts.iter().filter(|a| is_istio_object(&a.path)) {
            let path = policies.join(&a.path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &a.contents).expect("write");
        }
        let (pods, namespaces) = topology(&case.program, &dir.join("topology"));
        let out = dir.join("nca.txt");
        let (code, stdout, stderr) = tools::run(
            &nca,
            &[
                "--connectivity",
                "-r",
                &dir.join("topology").display().to_string(),
                "-r",
                &policies.display().to_string(),
                "-o",
                "txt_no_fw_rules",
                "--output_endpoints",
                "pods",
                "-f",
                &out.display().to_string(),
            ],
        );
        let said = format!("{}: exit {code}\n{stdout}\n{stderr}", case.name);
        assert_eq!(code, 0, "{said}");
        for habit in [
            "no match for principal",
            "complementary",
            "missing from the network",
            "rror",
        ] {
            assert!(
                !stdout.contains(habit) && !stderr.contains(habit),
                "`{habit}`: {said}"
            );
        }
        let census = format!(
            "cluster has {} unique endpoints, {namespaces} namespaces",
            pods.len()
        );
        assert!(stdout.contains(&census), "`{census}` expected: {said}");
        let raw = std::fs::read_to_string(&out).expect("nca output");
        let (tcp, l7) = tcp_connectivity(&raw).unwrap_or_else(|e| panic!("{said}\n{e}\n{raw}"));
        let ports = port_edges(&case.program, &tcp);
        let ambiguous: Vec<&str> = e
            .notes
            .iter()
            .filter(|n| n.contains("has no policy of its own"))
            .map(String::as_str)
            .collect();
        let mut wrong = Vec::new();
        for (a, &ia) in &pods {
            for (b, &ib) in &pods {
                if a == b {
                    continue;
                }
                let granted = tcp.get(&(a.clone(), b.clone()));
                let l7_pair = l7.iter().any(|l| l.starts_with(&format!("{a} => {b} :")));
                for &port in &ports {
                    let analyzer =
                        granted.is_some_and(|g| g.iter().any(|&(lo, hi)| lo <= port && port <= hi));
                    let flow = Flow {
                        src: FlowEndpoint::Identity(ia),
                        dst: FlowEndpoint::Identity(ib),
                        protocol: Protocol::Tcp,
                        port,
                        at: case.program.now,
                        mtls: true,
                        method: None,
                        path: None,
                        context: BTreeMap::new(),
                    };
                    let reference = decide(&case.program, &flow).allowed;
                    compared += 1;
                    allowed += usize::from(analyzer);
                    let name =
                        |i: IdentityId| case.program.identity(i).name.escape_debug().to_string();
                    let dst_ambiguous = ambiguous
                        .iter()
                        .any(|n| n.contains(&format!("`{}`", name(ib))));
                    if analyzer && !reference {
                        wrong.push(format!("{a} ({}) => {b} ({}) tcp/{port}: the analyzer allows, the reference denies", name(ia), name(ib)));
                    } else if reference && !analyzer && !dst_ambiguous && !l7_pair {
                        wrong.push(format!("{a} ({}) => {b} ({}) tcp/{port}: the reference allows, the analyzer denies", name(ia), name(ib)));
                    }
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{}:\n{}\n--- analyzer\n{raw}",
            case.name,
            wrong.join("\n")
        );
    }
    assert!(
        allowed > 0 && allowed < compared,
        "{allowed} of {compared} allowed"
    );
    eprintln!(
        "{compared} pod-pair TCP flows compared in {:?}",
        started.elapsed()
    );
}

/// Asks network-config-analyzer, through its Python API, whether each query
/// `[source pod, destination pod, TCP port, method, path]` (JSON on stdin) is
/// contained in the connectivity it computes for the resources of
/// `argv[1..]`; prints one boolean per query. Its text output describes
/// paths as set expressions over patterns, so single points are asked
/// instead: a method of its enumerated domain and an exact path.
const L7_PROBE: &str = r#"
import json, sys
from nca.NetworkConfig.ResourcesHandler import ResourcesHandler
from nca.CoreDS.ConnectivityProperties import ConnectivityProperties
from nca.CoreDS.Peer import PeerSet
from nca.CoreDS.PortSet import PortSet
from nca.CoreDS.ProtocolSet import ProtocolSet
from nca.CoreDS.MethodSet import MethodSet
from nca.CoreDS.MinDFA import MinDFA
import os
# The API does not descend into folders: every file, by name.
files = [os.path.join(r, f) for d in sys.argv[1:] for r, _, fs in os.walk(d) for f in sorted(fs)]
cfg = ResourcesHandler().get_network_config(None, None, None, files)
policies = sum(1 for f in files if "AuthorizationPolicy" in open(f).read())
assert len(cfg.policies_container.policies) == policies, (cfg.policies_container.policies, policies)
allowed = cfg.allowed_connections().all_allowed_conns
peers = {f"{p.namespace.name}/{p.name}": p for p in cfg.peer_container.get_all_peers_group()
         if getattr(p, "namespace", None) is not None}
def exact(path):
    return "".join(c if c.isalnum() or c == "/" else "[" + c + "]" for c in path)
out = []
for src, dst, port, method, path in json.load(sys.stdin):
    methods = MethodSet()
    methods.add_method(method)
    point = ConnectivityProperties.make_conn_props_from_dict({
        "src_peers": PeerSet({peers[src]}), "dst_peers": PeerSet({peers[dst]}),
        "protocols": ProtocolSet.get_protocol_set_with_single_protocol("TCP"),
        "dst_ports": PortSet.make_port_set_with_range(port, port),
        "methods": methods, "paths": MinDFA.dfa_from_regex(exact(path))})
    out.append(point.contained_in(allowed))
print(json.dumps(out))
"#;

/// Methods and paths: for every ordered pair of workloads of the L7 case,
/// every port it names, methods of the analyzer's domain and paths around
/// every literal of the policy, the analyzer's answer equals the reference
/// evaluator's, except where the lowering reported a narrowed allow or a
/// widened deny (W0402/W0403, destination `files` only): there the analyzer
/// may only deny more.
#[test]
fn http_methods_and_paths_agree_with_the_reference() {
    let (Some(_), Some(python)) = (tools::nca(), seg_tests::tools::venv_tool("python")) else {
        return;
    };
    let case = l7_case();
    let e = emit(&case);
    let tmp = tempfile::tempdir().expect("tempdir");
    let policies = tmp.path().join("policies");
    for a in e.artifacts.iter().filter(|a| is_istio_object(&a.path)) {
        let path = policies.join(&a.path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &a.contents).expect("write");
    }
    let (pods, _) = topology(&case.program, &tmp.path().join("topology"));
    let pods: Vec<(&String, IdentityId)> = pods
        .iter()
        .filter(|(p, _)| p.ends_with("-0"))
        .map(|(p, &i)| (p, i))
        .collect();
    let ports = [2049u16, 8080, 9090, 22];
    let methods = ["GET", "HEAD", "POST", "DELETE", "PUT"];
    let paths = [
        "/",
        "/api/x",
        "/api/orders",
        "/api/orders/1",
        "/api/secret",
        "/api/secrets/k",
        "/a.json",
        "/api/a.json",
        "/a/q/b",
        "/tmp/q/x",
        "/tmp/y",
    ];
    let mut queries = Vec::new();
    for &(a, ia) in &pods {
        for &(b, ib) in &pods {
            if ia == ib {
                continue;
            }
            for port in ports {
                for method in methods {
                    for path in paths {
                        queries.push((a.clone(), b.clone(), ia, ib, port, method, path));
                    }
                }
            }
        }
    }
    let input: Vec<Value> = queries
        .iter()
        .map(|(a, b, _, _, port, m, p)| json!([a, b, port, m, p]))
        .collect();
    let mut child = std::process::Command::new(&python)
        .args(["-c", L7_PROBE])
        .arg(tmp.path().join("topology"))
        .arg(&policies)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(Value::Array(input).to_string().as_bytes())
            .expect("queries");
    }
    let out = child.wait_with_output().expect("probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let said = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    let answers: Vec<bool> = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no answers: {said}"));
    assert_eq!(answers.len(), queries.len(), "{said}");
    let files = case.program.identity_by_name("files").expect("files").id;
    let (mut allowed, mut narrower, mut wrong) = (0, 0, Vec::new());
    for ((a, b, ia, ib, port, method, path), analyzer) in queries.iter().zip(answers) {
        let flow = Flow {
            src: FlowEndpoint::Identity(*ia),
            dst: FlowEndpoint::Identity(*ib),
            protocol: Protocol::Tcp,
            port: *port,
            at: case.program.now,
            mtls: true,
            method: Some(method.to_string()),
            path: Some(path.to_string()),
            context: BTreeMap::new(),
        };
        let reference = decide(&case.program, &flow).allowed;
        allowed += usize::from(analyzer);
        if analyzer && !reference {
            wrong.push(format!(
                "{a} => {b} tcp/{port} {method} {path}: the analyzer allows, the reference denies"
            ));
        } else if reference && !analyzer {
            if *ib == files && *port == 8080 {
                narrower += 1;
            } else {
                wrong.push(format!("{a} => {b} tcp/{port} {method} {path}: the reference allows, the analyzer denies"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        allowed > 0 && allowed < queries.len(),
        "{allowed} of {} allowed",
        queries.len()
    );
    // The reported approximations are seen: `/a/*/b` narrowed, `/tmp/*` widened.
    assert!(narrower > 0, "no narrowed answer on `files`");
    eprintln!("{} HTTP requests compared", queries.len());
}

#[path = "hostile/corpus.rs"]
mod corpus;

/// Reads `[value, written]` pairs: every written form, inside a flow
/// sequence, must load as the same string in PyYAML (YAML 1.1, the
/// analyzer's reader); every plain one must match none of the implicit
/// types of YAML 1.1 (the regular expressions of yaml.org/type, which go-yaml
/// follows) or of the YAML 1.2 core schema. The expressions are checked
/// against spellings they must match first, so that the check is not empty.
const PLAIN_TYPES: &str = r#"
import json, re, sys, yaml
pairs = json.load(open(sys.argv[1]))
types = {
    "1.1 bool": r"y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF",
    "1.1 null": r"~|null|Null|NULL|",
    "1.1 int": r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+",
    "1.1 float": r"[-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)",
    "1.1 timestamp": r"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?([Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](\.[0-9]*)?(([ \t]*)Z|[-+][0-9][0-9]?(:[0-9][0-9])?)?",
    "1.1 merge": r"<<",
    "1.1 value": r"=",
    "1.2 null": r"null|Null|NULL|~|",
    "1.2 bool": r"true|True|TRUE|false|False|FALSE",
    "1.2 int": r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+",
    "1.2 float": r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.nan|\.NaN|\.NAN",
}
types = {k: re.compile(v) for k, v in types.items()}
for must in ["yes", "OFF", "0777", "1:20", "190:20:30.15", "10.64.0.137", ".inf", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "<<", "=", "1e3", "0o17"]:
    assert any(t.fullmatch(must) for t in types.values()), must
bad = []
for value, written in pairs:
    if written == value:
        for name, t in types.items():
            if t.fullmatch(value):
                bad.append(f"{value!r} is written plain but is a YAML {name}")
text = "".join(f"- [{written}]\n" for _, written in pairs)
try:
    loaded = yaml.safe_load(text)
except yaml.YAMLError as e:
    loaded = None
    for value, written in pairs:
        try:
            yaml.safe_load(f"- [{written}]\n")
        except yaml.YAMLError as e:
            bad.append(f"{value!r} written {written}: {e}")
if loaded is not None:
    for (value, written), got in zip(pairs, loaded):
        if got != [value]:
            bad.append(f"{value!r} written {written} reads as {got!r}")
print("\n".join(bad[:40]))
sys.exit(1 if bad else 0)
"#;

/// Values a list of a source or an operation may hold, and look-alikes of
/// every implicit YAML type, with and without a `/`.
fn list_value_candidates() -> Vec<String> {
    let mut base: Vec<String> = [
        "yes",
        "No",
        "ON",
        "off",
        "y",
        "N",
        "true",
        "False",
        "null",
        "~",
        "",
        "<<",
        "=",
        "0777",
        "0b101",
        "0x1F",
        "0o17",
        "1_000",
        "1:20",
        "190:20:30.15",
        "1e3",
        "+1",
        "-1",
        ".5",
        "1.",
        "10.64.0.137",
        ".inf",
        "-.Inf",
        ".NaN",
        "nan",
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "2001-12-14 21:59:43.10 -5",
        "---",
        "...",
        "- a",
        "? a",
        ": a",
        "a: b",
        "a #b",
        "a,b",
        "[a]",
        "{a}",
        "*a",
        "&a",
        "!a",
        "%a",
        "@a",
        "`a",
        "'a",
        "\"a",
        "|a",
        ">a",
        "a\\b",
        "443",
        "GET",
        "/api/*",
        "*.css",
        "fd00::1/128",
        "10.0.0.0/8",
        "cluster.local",
        "cluster.local/ns/shop/sa/api",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    base.extend(corpus::values().into_iter().map(|v| v.text));
    let mut out = Vec::new();
    for v in &base {
        for form in [
            v.clone(),
            format!("{v}/"),
            format!("/{v}"),
            format!("{v}/x"),
            format!("x/{v}"),
            format!("cluster.local/ns/{v}/sa/api"),
        ] {
            out.push(form);
        }
    }
    // Every string of up to four characters over what the implicit types
    // are made of, and longer ones drawn from it.
    let alphabet: Vec<char> = "0159/.-_:eExbyYnNoO+ T".chars().collect();
    let mut words = vec![String::new()];
    for _ in 0..3 {
        let longer: Vec<String> = words
            .iter()
            .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
            .collect();
        out.extend(longer.iter().cloned());
        words = longer;
    }
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        let mut word = String::new();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = 4 + (state % 13) as usize;
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.push(alphabet[(state % alphabet.len() as u64) as usize]);
        }
        out.push(word);
    }
    out.sort();
    out.dedup();
    out
}

/// The values of principals, namespaces, CIDRs, ports, methods and paths are
/// written plain only where no YAML reader the output meets could take them
/// for anything but the same string (see `seg_istio::list_value`).
#[test]
fn list_values_written_plain_stay_strings_for_yaml_1_1_and_1_2_readers() {
    let Some(python) = seg_tests::tools::venv_tool("python") else {
        return;
    };
    let candidates = list_value_candidates();
    let pairs: Vec<(String, String)> = candidates
        .iter()
        .map(|v| (v.clone(), seg_istio::list_value(v)))
        .collect();
    let plain = pairs.iter().filter(|(v, w)| v == w).count();
    assert!(
        plain > 1_000 && plain < pairs.len(),
        "{plain} of {} written plain",
        pairs.len()
    );
    // YAML 1.2 (saphyr) reads each one back as the same string too.
    let text: String = pairs.iter().map(|(_, w)| format!("- [{w}]\n")).collect();
    let loaded = seg_tests::yaml::document(&text).expect("one YAML document");
    let expected: Vec<Value> = pairs.iter().map(|(v, _)| json!([v])).collect();
    assert_eq!(loaded, Value::Array(expected), "saphyr reads another value");
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("pairs.json");
    std::fs::write(&file, serde_json::to_string(&pairs).expect("json")).expect("write");
    let (code, stdout, stderr) =
        tools::run(&python, &["-c", PLAIN_TYPES, &file.display().to_string()]);
    assert_eq!(code, 0, "{} values:\n{stdout}{stderr}", pairs.len());
}
