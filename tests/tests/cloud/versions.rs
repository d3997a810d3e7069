//! One project in three versions, each built by the real `seg build` into
//! the same output folder in turn, as a CI job does:
//!
//! - v1: web → api on 80 and 443, partners (an IPv4 and an IPv6 network) →
//!   api on 8443, apps (web, api) → db on 5432 with web carved out by a deny,
//!   ops → db on 22;
//! - v2: web → api narrowed to 443, the partners rule removed, db → api on
//!   9100 added;
//! - v3: the identity ops and its rule removed.
//!
//! Each version keeps its output files, what `seg build` printed (the
//! removal summary against the previous output) and its compiled program,
//! and gives the flows to compare with the reference: every ordered pair of
//! ends of any version on every port any version names.

use super::cases::Case;
use seg_ir::backend::{Artifact, Backend, Emission, TargetOptions};
use seg_ir::{Flow, FlowEndpoint, Program, Protocol, Timestamp};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

pub const NOW: &str = "2026-11-24T00:00:00Z";

const MANIFEST: &str = r#"[project]
name = "shop"
inventory = ["inventory.yaml"]
sources = ["policy.seg"]

[targets.aws]
formats = ["terraform", "cloudformation"]
[targets.gcp]
network = "shop-net"
"#;

/// Every identity of any version and its address.
const IDENTITIES: [(&str, &str); 4] = [
    ("web", "10.70.1.10"),
    ("api", "10.70.2.10"),
    ("db", "10.70.3.10"),
    ("ops", "10.70.9.10"),
];

const PARTNERS: [&str; 2] = ["203.0.113.7", "2001:db8:70::7"];

const PORTS: [u16; 7] = [22, 80, 443, 5432, 8443, 9100, 9999];

fn inventory(n: u8) -> String {
    let mut s = String::from("version: 1\nidentities:\n");
    for (name, addr) in IDENTITIES
        .iter()
        .filter(|(name, _)| n < 3 || *name != "ops")
    {
        // api has an IPv6 address too, for the partners' IPv6 network.
        let v6 = if *name == "api" {
            ", 2001:db8:1::10/128"
        } else {
            ""
        };
        s.push_str(&format!(
            "  - name: {name}\n    kind: workload\n    owner: team-{name}\n    addresses: [{addr}/32{v6}]\n    aws: {{}}\n    gcp: {{ service_account: {name}@shop.iam.gserviceaccount.com }}\n"
        ));
    }
    s
}

fn policy(n: u8) -> String {
    let mut s = String::from("segment apps = [web, api]\n");
    if n == 1 {
        s.push_str("segment partners = network 203.0.113.0/24, 2001:db8:70::/48\n");
    }
    s.push_str("\npolicy front {\n  owner \"team-web\"\n");
    if n == 1 {
        s.push_str("  allow web -> api on tcp/80, tcp/443\n  allow partners -> api on tcp/8443\n");
    } else {
        s.push_str("  allow web -> api on tcp/443\n");
    }
    s.push_str("}\n\npolicy data {\n  owner \"team-data\"\n  allow apps -> db on tcp/5432\n  deny web -> db on any\n");
    if n < 3 {
        s.push_str("  allow ops -> db on tcp/22\n");
    }
    s.push_str("}\n");
    if n > 1 {
        s.push_str("\npolicy metrics {\n  owner \"team-ops\"\n  allow db -> api on tcp/9100\n}\n");
    }
    s
}

pub struct Version {
    pub name: String,
    /// As compiled (before any target's capability pass).
    pub program: Program,
    pub options: BTreeMap<String, TargetOptions>,
    pub layered: Vec<seg_ir::ConditionClass>,
    /// Output files, by path relative to `--out`.
    pub files: BTreeMap<String, Vec<u8>>,
    /// What `seg build` printed on stdout.
    pub summary: String,
}

impl Version {
    /// A target's files as an emission (paths relative to its folder).
    pub fn emission(&self, target: &str) -> Emission {
        let prefix = format!("{target}/");
        Emission {
            artifacts: self
                .files
                .iter()
                .filter_map(|(p, c)| {
                    p.strip_prefix(&prefix).map(|path| Artifact {
                        path: path.to_string(),
                        contents: c.clone(),
                    })
                })
                .collect(),
            ..Emission::default()
        }
    }

    /// The version prepared for `backend`, with its [`flows`].
    pub fn case(&self, backend: &dyn Backend) -> Case {
        Case {
            name: format!("versions {}", self.name),
            program: super::cases::prepare(&self.program, backend, &self.layered)
                .expect("capability pass"),
            options: self.options[backend.name()].clone(),
            flows: flows(self),
        }
    }

    /// The objects the removal summary names for `target`: the items of
    /// its `<target>: … to prune: a, b, …` line (none without one).
    pub fn pruned(&self, target: &str) -> Vec<String> {
        let Some(line) = self
            .summary
            .lines()
            .find(|l| l.starts_with(&format!("{target}: ")))
        else {
            return Vec::new();
        };
        let (_, names) = line
            .split_once(" to prune: ")
            .unwrap_or_else(|| panic!("{}: not a removal line: {line}", self.name));
        let names = names.split(" and ").next().unwrap_or_default();
        names.split(", ").map(str::to_string).collect()
    }
}

/// Write and build v1, v2, v3 under `dir`, in turn into `dir/out`.
pub fn build(dir: &Path) -> Vec<Version> {
    let out = dir.join("out");
    (1..=3)
        .map(|n| {
            let src = dir.join(format!("v{n}"));
            std::fs::create_dir_all(&src).expect("mkdir");
            for (file, text) in [
                ("seg.toml", MANIFEST.to_string()),
                ("inventory.yaml", inventory(n)),
                ("policy.seg", policy(n)),
            ] {
                std::fs::write(src.join(file), text).expect("write");
            }
            let run = Command::new(env!("CARGO_BIN_EXE_seg-cli"))
                .arg("build")
                .arg(&src)
                .arg("--out")
                .arg(&out)
                .args(["--now", NOW, "--deny-warnings", "--color", "never"])
                .output()
                .expect("run seg build");
            let summary = String::from_utf8_lossy(&run.stdout).into_owned();
            assert!(
                run.status.success(),
                "seg build v{n}: {}\n{summary}\n{}",
                run.status,
                String::from_utf8_lossy(&run.stderr)
            );
            let mut files = BTreeMap::new();
            for target in ["aws", "gcp"] {
                for entry in std::fs::read_dir(out.join(target)).expect("target folder") {
                    let path = entry.expect("entry").path();
                    let name = path.file_name().expect("name").to_string_lossy();
                    files.insert(
                        format!("{target}/{name}"),
                        std::fs::read(&path).expect("read"),
                    );
                }
            }
            let input = seg::driver::Input::from_args(Some(&src), &[]).expect("project");
            let comp = seg::driver::compile(&input, Timestamp::parse(NOW).expect("now"));
            let (Some(program), Some(manifest)) = (comp.program, comp.manifest) else {
                panic!("v{n} does not compile");
            };
            Version {
                name: format!("v{n}"),
                program,
                options: manifest.targets.clone().into_iter().collect(),
                layered: manifest.layered.clone(),
                files,
                summary,
            }
        })
        .collect()
}

/// Flows between every two ends of any version (an identity absent from
/// `v` is its address there) and from the partners' addresses, on TCP.
pub fn flows(v: &Version) -> Vec<Flow> {
    let end = |name: &str| -> FlowEndpoint {
        if let Some(i) = v.program.identity_by_name(name) {
            return FlowEndpoint::Identity(i.id);
        }
        let addr = IDENTITIES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| a.parse::<IpAddr>().expect("address"))
            .expect("a known identity");
        FlowEndpoint::Address(addr)
    };
    let ends: Vec<FlowEndpoint> = IDENTITIES.iter().map(|(name, _)| end(name)).collect();
    let sources: Vec<FlowEndpoint> = ends
        .iter()
        .copied()
        .chain(
            PARTNERS
                .iter()
                .map(|a| FlowEndpoint::Address(a.parse().expect("address"))),
        )
        .collect();
    let mut out = Vec::new();
    for &src in &sources {
        for &dst in &ends {
            if src == dst {
                continue;
            }
            for port in PORTS {
                out.push(Flow {
                    src,
                    dst,
                    protocol: Protocol::Tcp,
                    port,
                    at: v.program.now,
                    mtls: false,
                    method: None,
                    path: None,
                    context: BTreeMap::new(),
                });
            }
        }
    }
    out
}
