//! The programs verified: the examples through the driver, small random
//! estates from `seg_tests::gen` given Kubernetes-specific shapes, and a
//! hand-made program with hostile names. Each is prepared for `kubernetes`
//! by the shared capability pass (the verification reference).

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use seg_diag::{Diagnostics, FileId, Span};
use seg_ir::{
    Action, CidrSet, ConditionClass, EndpointSet, Identity, IdentityId, IdentityKind,
    KubernetesBinding, PortSet, Program, Protocol, Provenance, Rule, RuleId, Timestamp, capability,
};
use seg_tests::r#gen::{self, GenConfig};
use std::collections::{BTreeMap, BTreeSet};

pub struct Case {
    pub name: String,
    pub program: Program,
}

/// Friday 2026-11-20 12:00 UTC: every example rule is live.
pub fn now() -> Timestamp {
    r#gen::now()
}

pub fn prepare(program: &Program, layered: &[ConditionClass]) -> Result<Program, Diagnostics> {
    let mut diags = Diagnostics::new();
    let p = capability::prepare(program, &seg_k8s::Kubernetes, layered, &mut diags);
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(p.program.into_owned())
    }
}

/// Every `examples/*` project, compiled by the driver.
pub fn examples() -> Vec<Case> {
    let root = super::tools::repo().join("examples");
    let dirs = seg_tests::projects(&root);
    assert!(!dirs.is_empty(), "no example under {}", root.display());
    dirs.iter()
        .map(|d| {
            let input = seg::driver::Input::from_args(Some(d), &[])
                .unwrap_or_else(|e| panic!("{}: {}", d.display(), e.message));
            let comp = seg::driver::compile(&input, now());
            let errors: Vec<_> = comp.diags.iter().filter(|x| x.is_error()).collect();
            let (Some(program), Some(manifest), true) =
                (comp.program, comp.manifest, errors.is_empty())
            else {
                panic!("{} does not compile: {errors:#?}", d.display());
            };
            let program = prepare(&program, &manifest.layered).unwrap_or_else(|e| {
                panic!(
                    "{}: capability pass: {:?}",
                    d.display(),
                    e.iter().collect::<Vec<_>>()
                )
            });
            Case {
                name: format!(
                    "examples/{}",
                    d.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default()
                ),
                program,
            }
        })
        .collect()
}

/// Kubernetes shapes on top of a generated program: a third namespace, and
/// pods whose labels are a superset of another pod's in their namespace (the
/// selector of the other pod must exclude them).
fn shape(program: &mut Program) {
    let mut first_in: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for identity in &mut program.identities {
        let i = identity.id.0;
        let Some(k) = &mut identity.kubernetes else {
            continue;
        };
        if i % 4 == 3 {
            k.namespace = "ops".into();
        }
        match first_in.get(&k.namespace) {
            Some(labels) if i % 3 == 2 => {
                k.labels = labels.clone();
                k.labels.insert("track".into(), format!("t{i}"));
            }
            Some(_) => {}
            None => {
                first_in.insert(k.namespace.clone(), k.labels.clone());
            }
        }
    }
}

/// `count` random estates that pass the capability pass for `kubernetes`
/// and manage at least one pod.
pub fn generated(count: usize) -> Vec<Case> {
    // Conditions are the capability pass's business (checked elsewhere): here
    // they would mostly remove rules.
    let cfg = GenConfig {
        max_identities: 7,
        max_rules: 8,
        conditions: false,
        ..GenConfig::default()
    };
    let strategy = (r#gen::program(cfg), r#gen::layered());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let mut out = Vec::new();
    for attempt in 0..500 {
        if out.len() == count {
            break;
        }
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let (mut program, layered): (Program, Vec<ConditionClass>) = tree.current();
        shape(&mut program);
        let pods = program
            .identities
            .iter()
            .filter(|i| i.kubernetes.is_some())
            .count();
        if pods < 2 {
            continue;
        }
        let Ok(prepared) = prepare(&program, &layered) else {
            continue;
        };
        if prepared.rules.is_empty() {
            continue;
        }
        out.push(Case {
            name: format!("generated #{attempt} (layered {layered:?})"),
            program: prepared,
        });
    }
    assert_eq!(
        out.len(),
        count,
        "the generator gave too few usable programs"
    );
    out
}

/// Pods with names that must never change the output's structure.
pub fn hostile() -> Case {
    let names = [
        "../../etc/passwd",
        "a\nkind: Secret",
        "\"quoted\" 'x' \\ #c",
        "yes",
        "ÄÖÜ-\u{202e}rtl",
        "0777",
    ];
    let mut identities: Vec<Identity> = names
        .iter()
        .enumerate()
        .map(|(i, n)| pod(i, n, "hostile", &[("app", &format!("h{i}"))]))
        .collect();
    identities.push(pod(
        names.len(),
        &"z".repeat(300),
        "hostile",
        &[("app", "long"), ("tier", "on")],
    ));
    let everyone: BTreeSet<IdentityId> = identities.iter().map(|i| i.id).collect();
    let set = EndpointSet {
        identities: everyone.clone(),
        explicit: everyone,
        networks: CidrSet::empty(),
    };
    let mut program = r#gen::empty_program(identities);
    program.rules.push(Rule {
        id: RuleId(0),
        action: Action::Allow,
        src: set.clone(),
        dst: set,
        services: PortSet::ports(Protocol::Tcp, 80, 80).union(&PortSet::ports(
            Protocol::Udp,
            53,
            53,
        )),
        condition: seg_ir::Condition::True,
        expires: None,
        provenance: Provenance {
            label: "hostile/1".into(),
            id: "hostile#1".into(),
            file: "policy/\"odd\"\n.seg".into(),
            line: 1,
            column: 1,
            policy: "hostile".into(),
            owner: None,
            doc: Some("a doc with `yes`, 'quotes', \"more\"\nand a newline: key: value".into()),
            reason: Some("- not a list".into()),
            origin: Span::new(FileId(0), 0, 1),
        },
    });
    let program =
        prepare(&program, &[]).unwrap_or_else(|e| panic!("{:?}", e.iter().collect::<Vec<_>>()));
    Case {
        name: "hostile names".into(),
        program,
    }
}

fn pod(i: usize, name: &str, ns: &str, labels: &[(&str, &str)]) -> Identity {
    Identity {
        id: IdentityId(i as u32),
        name: name.into(),
        kind: IdentityKind::Workload,
        owner: None,
        attributes: BTreeMap::new(),
        labels: BTreeMap::new(),
        addresses: Vec::new(),
        kubernetes: Some(KubernetesBinding {
            namespace: ns.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            service_account: None,
        }),
        aws: None,
        gcp: None,
        spiffe: None,
        origin: Span::new(FileId(1), i, i + 1),
    }
}
