//! Programs for the cloud tests, prepared for one target (the verification
//! reference), with the flows to compare: the examples through the driver
//! (their `test` expectations), random programs from `seg_tests::gen`, and a
//! few hand-made edges (hostile names, quota spill-over).

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use seg_diag::{Diagnostics, FileId, Span};
use seg_ir::backend::{AwsFormat, AwsOptions, Backend, Emission, GcpOptions, TargetOptions};
use seg_ir::capability;
use seg_ir::{
    Action, AwsBinding, CidrSet, Condition, ConditionClass, EndpointSet, Flow, FlowEndpoint,
    GcpBinding, Identity, IdentityId, IdentityKind, PortSet, Program, Protocol, Provenance, Rule,
    RuleId, Timestamp,
};
use seg_tests::r#gen::{self, GenConfig};
use std::collections::{BTreeMap, BTreeSet};

/// A program prepared for one target, its options and the flows to compare.
pub struct Case {
    pub name: String,
    pub program: Program,
    pub options: TargetOptions,
    pub flows: Vec<Flow>,
}

impl Case {
    /// Emit; panic on any error diagnostic.
    pub fn emit(&self, backend: &dyn Backend) -> Emission {
        let (e, d) = self.try_emit(backend);
        let errors: Vec<_> = d.iter().filter(|x| x.is_error()).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", self.name);
        e
    }

    pub fn try_emit(&self, backend: &dyn Backend) -> (Emission, Diagnostics) {
        let mut d = Diagnostics::new();
        let e = backend.emit(&self.program, &self.options, &mut d);
        (e, d)
    }
}

pub fn aws_options(max_rules: usize) -> TargetOptions {
    TargetOptions::Aws(AwsOptions {
        formats: vec![AwsFormat::Terraform, AwsFormat::CloudFormation],
        max_rules_per_group: max_rules,
        max_groups_per_interface: 5,
        vpc_id: None,
    })
}

/// One group of up to 1000 rules per direction and family.
pub fn wide_aws_options() -> TargetOptions {
    TargetOptions::Aws(AwsOptions {
        formats: vec![AwsFormat::Terraform, AwsFormat::CloudFormation],
        max_rules_per_group: 1000,
        max_groups_per_interface: 1,
        vpc_id: None,
    })
}

pub fn gcp_options() -> TargetOptions {
    TargetOptions::Gcp(GcpOptions {
        network: "seg-test".into(),
    })
}

/// The capability pass for `backend`; `None` when it reports an error.
pub fn prepare(
    program: &Program,
    backend: &dyn Backend,
    layered: &[ConditionClass],
) -> Option<Program> {
    let mut d = Diagnostics::new();
    let p = capability::prepare(program, backend, layered, &mut d);
    (!d.has_errors()).then_some(p.program.into_owned())
}

/// Every `examples/*` project through the driver, prepared for `backend`,
/// with the flows of its `test` blocks.
pub fn examples(backend: &dyn Backend, now: Timestamp) -> Vec<Case> {
    let mut out = Vec::new();
    for d in seg_tests::projects(&super::tools::repo().join("examples")) {
        let input = seg::driver::Input::from_args(Some(&d), &[])
            .unwrap_or_else(|e| panic!("{}: {}", d.display(), e.message));
        let comp = seg::driver::compile(&input, now);
        let errors: Vec<_> = comp.diags.iter().filter(|x| x.is_error()).collect();
        let (Some(program), Some(manifest), true) =
            (comp.program, comp.manifest, errors.is_empty())
        else {
            panic!("{} does not compile: {errors:#?}", d.display());
        };
        let options = manifest
            .targets
            .get(backend.name())
            .cloned()
            .unwrap_or_else(|| match backend.name() {
                "aws" => aws_options(60),
                _ => gcp_options(),
            });
        let flows = program
            .tests
            .iter()
            .flat_map(|t| t.expectations.iter().map(|e| e.flow.clone()))
            .collect();
        let prepared = prepare(&program, backend, &manifest.layered)
            .unwrap_or_else(|| panic!("{}: capability pass failed", d.display()));
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Case {
            name,
            program: prepared,
            options,
            flows,
        });
    }
    out
}

/// `count` random programs (no identities sharing addresses: W0101 makes L3
/// targets ambiguous by design) with `flows` flows each, prepared for `backend`.
pub fn random(backend: &dyn Backend, count: usize, flows: usize, seed: u8) -> Vec<Case> {
    let cfg = GenConfig {
        max_identities: 7,
        max_rules: 8,
        overlapping_addresses: false,
        ..GenConfig::default()
    };
    let strategy = (r#gen::program_and_flows(cfg, flows), r#gen::layered());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let mut out = Vec::new();
    let mut attempts = 0;
    while out.len() < count && attempts < count * 4 {
        attempts += 1;
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let ((mut program, flows), layered) = tree.current();
        // Names in rules are implied here, so identities a target cannot
        // represent are left out rather than reported (E0401).
        for r in &mut program.rules {
            r.src.explicit.clear();
            r.dst.explicit.clear();
        }
        let Some(prepared) = prepare(&program, backend, &layered) else {
            continue;
        };
        // The quota has tests of its own: random programs only check reachability.
        let options = if backend.name() == "aws" {
            wide_aws_options()
        } else {
            gcp_options()
        };
        out.push(Case {
            name: format!("random #{}", out.len()),
            program: prepared,
            options,
            flows,
        });
    }
    out
}

fn span() -> Span {
    Span::new(FileId(0), 0, 0)
}

fn identity(
    id: u32,
    name: &str,
    addrs: &[&str],
    aws: Option<Option<&str>>,
    gcp: Option<String>,
) -> Identity {
    let mut addresses: Vec<ipnet::IpNet> =
        addrs.iter().map(|a| a.parse().expect("address")).collect();
    addresses.sort();
    Identity {
        id: IdentityId(id),
        name: name.to_string(),
        kind: IdentityKind::Workload,
        owner: None,
        attributes: BTreeMap::new(),
        labels: BTreeMap::new(),
        addresses,
        kubernetes: None,
        aws: aws.map(|sg| AwsBinding {
            security_group: sg.map(str::to_string),
        }),
        gcp: gcp.map(|service_account| GcpBinding { service_account }),
        spiffe: None,
        origin: span(),
    }
}

fn rule(
    id: u32,
    action: Action,
    src: EndpointSet,
    dst: EndpointSet,
    services: PortSet,
    label: &str,
    doc: &str,
) -> Rule {
    Rule {
        id: RuleId(id),
        action,
        src,
        dst,
        services,
        condition: Condition::True,
        expires: None,
        provenance: Provenance {
            label: label.to_string(),
            id: label.replace('/', "#"),
            file: "policy/edge.seg".into(),
            line: id + 1,
            column: 1,
            policy: "edge".into(),
            owner: None,
            doc: Some(doc.to_string()),
            reason: None,
            origin: span(),
        },
    }
}

fn ids(list: &[u32]) -> EndpointSet {
    EndpointSet {
        identities: list.iter().map(|i| IdentityId(*i)).collect(),
        explicit: BTreeSet::new(),
        networks: CidrSet::empty(),
    }
}

fn nets(list: &[&str], program_ids: &[Identity]) -> EndpointSet {
    let nets: Vec<ipnet::IpNet> = list.iter().map(|n| n.parse().expect("net")).collect();
    let networks = CidrSet::from_nets(&nets);
    let identities = program_ids
        .iter()
        .filter(|i| {
            i.addresses
                .iter()
                .any(|a| networks.overlaps(&CidrSet::from_net(*a)))
        })
        .map(|i| i.id)
        .collect();
    EndpointSet {
        identities,
        explicit: BTreeSet::new(),
        networks,
    }
}

/// Hostile identity names and provenance text, deny carving, ICMP both ways,
/// and enough peers to spill a created AWS group into parts.
pub fn edges(backend: &dyn Backend) -> Case {
    let evil = "\"quote\" ${var.x} %{if} \n/../sg-0 <b>&amp; \u{202e}";
    let mut identities = vec![
        identity(
            0,
            evil,
            &["10.10.0.1/32", "fd00:10::1/128"],
            Some(None),
            Some("evil@p.iam.gserviceaccount.com".into()),
        ),
        identity(
            1,
            "db",
            &["10.10.1.5/32"],
            Some(Some("sg-0123456789abcdef0")),
            Some("db@p.iam.gserviceaccount.com".into()),
        ),
        identity(
            2,
            "sg-lookalike",
            &[],
            Some(None),
            Some("look@p.iam.gserviceaccount.com".into()),
        ),
        identity(3, "plain-host", &["10.10.2.7/32"], None, None),
    ];
    for i in 0..14 {
        identities.push(identity(
            4 + i,
            &format!("w{i}"),
            &[&format!("10.20.{i}.1/32")],
            Some(None),
            Some(format!("w{i}@p.iam.gserviceaccount.com")),
        ));
    }
    let workers: Vec<u32> = (4..18).collect();
    let few: Vec<u32> = (4..7).collect();
    let mut all: Vec<u32> = (0..18).collect();
    all.sort();
    let mut program = r#gen::empty_program(identities.clone());
    program.project = "edge \"cases\"".into();
    let rules = vec![
        rule(
            0,
            Action::Allow,
            ids(&workers),
            ids(&[0]),
            PortSet::ports(Protocol::Tcp, 5432, 5432),
            "edge/1",
            "workers -> db",
        ),
        rule(
            1,
            Action::Allow,
            nets(&["10.0.0.0/8", "fd00::/16"], &identities),
            ids(&[0, 2]),
            PortSet::ports(Protocol::Tcp, 8000, 8099).union(&PortSet::icmp()),
            "edge/2",
            evil,
        ),
        rule(
            2,
            Action::Deny,
            nets(&["10.10.2.0/24"], &identities),
            ids(&[0, 2]),
            PortSet::ports(Protocol::Tcp, 8050, 8050),
            "edge/3",
            "no 8050 from the lab",
        ),
        rule(
            3,
            Action::Allow,
            ids(&[0]),
            ids(&all),
            PortSet::any(),
            "edge/4",
            "the odd one may reach everyone",
        ),
        rule(
            4,
            Action::Deny,
            ids(&[0]),
            ids(&[3]),
            PortSet::ports(Protocol::Tcp, 22, 22),
            "edge/5",
            "but not by ssh to the plain host",
        ),
        rule(
            5,
            Action::Allow,
            ids(&few),
            ids(&[1]),
            PortSet::ports(Protocol::Tcp, 5432, 5432),
            "edge/6",
            "a few workers -> db",
        ),
        rule(
            6,
            Action::Allow,
            ids(&[2]),
            nets(&["192.0.2.0/24", "2001:db8::/32"], &identities),
            PortSet::ports(Protocol::Udp, 53, 53),
            "edge/7",
            "dns out",
        ),
    ];
    for r in rules {
        r#gen::push_rule(&mut program, r);
    }
    // Keep the hostile label and doc of rule 2.
    program.rules[1].provenance.label = "edge/\"2\"\n".into();
    program.rules[1].provenance.doc = Some(evil.into());
    let prepared = prepare(&program, backend, &[]).expect("edges prepare");
    let mut flows = Vec::new();
    let eps: Vec<FlowEndpoint> = (0..18)
        .map(|i| FlowEndpoint::Identity(IdentityId(i)))
        .chain(
            [
                "10.10.2.7",
                "10.10.2.8",
                "10.99.0.1",
                "192.0.2.9",
                "2001:db8::9",
                "fd00:10::1",
                "10.20.3.1",
            ]
            .iter()
            .map(|a| FlowEndpoint::Address(a.parse().expect("ip"))),
        )
        .collect();
    let services = [
        (Protocol::Tcp, 5432),
        (Protocol::Tcp, 8050),
        (Protocol::Tcp, 8051),
        (Protocol::Tcp, 22),
        (Protocol::Udp, 53),
        (Protocol::Icmp, 0),
        (Protocol::Other(47), 0),
        (Protocol::Sctp, 9),
    ];
    for (i, s) in eps.iter().enumerate() {
        for (j, d) in eps.iter().enumerate() {
            let (proto, port) = services[(i * 7 + j * 3) % services.len()];
            flows.push(flow(*s, *d, proto, port, program.now));
            flows.push(flow(
                *s,
                *d,
                Protocol::Tcp,
                8000 + (i * j % 100) as u16,
                program.now,
            ));
        }
    }
    // 14 peers + 1 network over a quota of 8 spills the created groups.
    let options = match backend.name() {
        "aws" => TargetOptions::Aws(AwsOptions {
            formats: vec![AwsFormat::Terraform, AwsFormat::CloudFormation],
            max_rules_per_group: 8,
            max_groups_per_interface: 16,
            vpc_id: None,
        }),
        _ => gcp_options(),
    };
    Case {
        name: "edges".into(),
        program: prepared,
        options,
        flows,
    }
}

pub fn flow(
    src: FlowEndpoint,
    dst: FlowEndpoint,
    protocol: Protocol,
    port: u16,
    at: Timestamp,
) -> Flow {
    Flow {
        src,
        dst,
        protocol,
        port,
        at,
        mtls: false,
        method: None,
        path: None,
        context: BTreeMap::new(),
    }
}
