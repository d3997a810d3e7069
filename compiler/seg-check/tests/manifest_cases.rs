//! `seg.toml` parsing: defaults, every key, and a snapshot (source and
//! rendered diagnostics) for each kind of mistake.

use seg_check::manifest::{self, Manifest};
use seg_diag::{Code, ColorChoice, Diagnostics, LintLevel, SourceMap, render_human};
use seg_ir::ConditionClass;
use seg_ir::backend::{AwsFormat, TargetOptions};

fn parse(text: &str) -> (Option<Manifest>, Diagnostics, SourceMap) {
    let mut map = SourceMap::new();
    let id = map.add("seg.toml", text);
    let mut diags = Diagnostics::new();
    let m = manifest::parse(id, text, &mut diags);
    assert_eq!(m.is_none(), diags.has_errors());
    (m, diags, map)
}

fn report(text: &str) -> String {
    let (m, mut diags, map) = parse(text);
    diags.sort();
    let rendered = render_human(&map, &diags.into_vec(), ColorChoice::Never);
    format!(
        "----- SOURCE seg.toml\n{}\n----- DIAGNOSTICS\n{}----- RESULT\n{}\n",
        text.trim_end(),
        rendered,
        if m.is_some() {
            "parsed"
        } else {
            "no manifest (errors)"
        }
    )
}

#[test]
fn defaults_fill_what_is_not_written() {
    let (m, diags, _) =
        parse("[project]\nname = \"shop\"\n\n[targets.iptables]\n[targets.aws]\n[targets.opa]\n");
    assert!(diags.is_empty(), "{diags:?}");
    let m = m.expect("parsed");
    assert_eq!(m.name, "shop");
    assert_eq!(m.inventory, ["inventory.yaml"]);
    assert_eq!(m.sources, ["**/*.seg"]);
    let names: Vec<&str> = m.targets.keys().map(String::as_str).collect();
    assert_eq!(names, ["iptables", "aws", "opa"]);
    let TargetOptions::Iptables(ipt) = &m.targets["iptables"] else {
        panic!("iptables")
    };
    assert_eq!(ipt.ipset_threshold, 8);
    let TargetOptions::Aws(aws) = &m.targets["aws"] else {
        panic!("aws")
    };
    assert_eq!(
        aws.formats,
        [AwsFormat::Terraform, AwsFormat::CloudFormation]
    );
    assert_eq!(
        (
            aws.max_rules_per_group,
            aws.max_groups_per_interface,
            aws.vpc_id.as_deref()
        ),
        (60, 5, None)
    );
    assert_eq!(m.opa_signing, None);
    assert!(m.layered.is_empty() && m.lints.is_empty());
    assert_eq!(
        m.inventory_spans,
        [m.span],
        "the default glob points at `[project]`"
    );
}

#[test]
fn every_key_is_read() {
    let text = r#"
[project]
name = "bank"
inventory = ["inventory/*.yaml", "extra.json"]
sources = ["policy/**/*.seg"]

[targets.opa]
signing-key = "keys/bundle.pem"
signing-algorithm = "ES256"
signing-key-id = "k1"

[targets.gcp]
network = "bank-prod"

[targets.kubernetes]

[targets.aws]
formats = ["cloudformation"]
max-rules-per-group = 100
max-groups-per-interface = 16
vpc-id = "vpc-0a1b2c3d4e5f60718"

[targets.iptables]
ipset-threshold = 3

[enforcement]
layered = ["mtls", "request"]

[lints]
missing-owner = "deny"
over-broad = "allow"
shadowed-rule = "warn"
"#;
    let (m, diags, _) = parse(text);
    assert!(diags.is_empty(), "{diags:?}");
    let m = m.expect("parsed");
    assert_eq!(m.inventory, ["inventory/*.yaml", "extra.json"]);
    assert_eq!(&text[m.inventory_spans[1].range()], "\"extra.json\"");
    assert_eq!(m.sources, ["policy/**/*.seg"]);
    let names: Vec<&str> = m.targets.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["opa", "gcp", "kubernetes", "aws", "iptables"],
        "file order"
    );
    let signing = m.opa_signing.as_ref().expect("signing");
    assert_eq!(
        (
            signing.key_path.as_str(),
            signing.algorithm.as_str(),
            signing.key_id.as_deref()
        ),
        ("keys/bundle.pem", "ES256", Some("k1"))
    );
    let TargetOptions::Gcp(gcp) = &m.targets["gcp"] else {
        panic!("gcp")
    };
    assert_eq!(gcp.network, "bank-prod");
    let TargetOptions::Aws(aws) = &m.targets["aws"] else {
        panic!("aws")
    };
    assert_eq!(aws.formats, [AwsFormat::CloudFormation]);
    assert_eq!(
        (aws.max_rules_per_group, aws.max_groups_per_interface),
        (100, 16)
    );
    assert_eq!(aws.vpc_id.as_deref(), Some("vpc-0a1b2c3d4e5f60718"));
    let TargetOptions::Iptables(ipt) = &m.targets["iptables"] else {
        panic!("iptables")
    };
    assert_eq!(ipt.ipset_threshold, 3);
    assert_eq!(m.layered, [ConditionClass::Mtls, ConditionClass::Request]);
    assert_eq!(m.lints.get("missing-owner"), Some(&LintLevel::Deny));
    assert_eq!(m.lints.get("over-broad"), Some(&LintLevel::Allow));
    assert_eq!(m.lints.get("shadowed-rule"), Some(&LintLevel::Warn));
    assert_eq!(&text[m.span.range()], "project");
}

#[test]
fn the_example_manifests_parse() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(examples)
        .expect("examples folder")
        .flatten()
    {
        let Ok(text) = std::fs::read_to_string(entry.path().join("seg.toml")) else {
            continue;
        };
        let (m, diags, _) = parse(&text);
        assert!(diags.is_empty(), "{}: {diags:?}", entry.path().display());
        assert!(m.is_some_and(|m| !m.targets.is_empty()));
        seen += 1;
    }
    assert!(seen >= 1, "at least the bank example");
}

#[test]
fn the_bank_manifest_lists_every_target() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/bank/seg.toml"),
    )
    .expect("bank");
    let m = parse(&text).0.expect("parsed");
    assert_eq!(m.name, "bank");
    assert_eq!(
        m.targets.keys().map(String::as_str).collect::<Vec<_>>(),
        ["iptables", "kubernetes", "aws", "gcp", "opa"]
    );
    assert_eq!(m.layered, [ConditionClass::Mtls]);
    assert_eq!(m.lints.get("missing-owner"), Some(&LintLevel::Deny));
}

#[test]
fn every_lint_name_is_accepted() {
    let mut text = String::from("[project]\nname = \"x\"\n[lints]\n");
    for name in Code::lint_names() {
        text.push_str(&format!("{name} = \"deny\"\n"));
    }
    let (m, diags, _) = parse(&text);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(m.map(|m| m.lints.len()), Some(Code::lint_names().len()));
}

#[test]
fn inventory_not_found_points_at_the_glob() {
    let text = "[project]\nname = \"bank\"\ninventory = [\"inventory/*.yaml\"]\n";
    let (m, _, map) = parse(text);
    let m = m.expect("parsed");
    let d = m.inventory_not_found(0);
    assert_eq!(d.code, Some(Code::InventoryNotFound));
    assert_eq!(
        &text[d.primary_span().expect("span").range()],
        "\"inventory/*.yaml\""
    );
    let default = parse("[project]\nname = \"bank\"\n")
        .0
        .expect("parsed")
        .inventory_not_found(0);
    insta::assert_snapshot!(format!(
        "----- SOURCE seg.toml\n{text}----- DIAGNOSTICS\n{}{}",
        render_human(&map, &[d], ColorChoice::Never),
        default.help.unwrap_or_default()
    ));
}

macro_rules! mistakes {
    ($($name:ident: $text:expr;)*) => {$(
        #[test]
        fn $name() {
            let text: &str = $text;
            let (_, diags, _) = parse(text);
            assert!(diags.has_errors(), "{text}");
            assert!(diags.iter().all(|d| d.code == Some(Code::InvalidManifest)), "{diags:?}");
            insta::assert_snapshot!(report(text));
        }
    )*};
}

mistakes! {
    toml_syntax_errors: "[project\nname = \"bank\"\n[lints]\nmissing-owner = deny\n";
    unknown_tables_and_keys: "[project]\nname = \"bank\"\nsource = [\"*.seg\"]\n\n[target.iptables]\n\n[targets.k8s]\n\n[targets.aws]\nmax-rules-per-grop = 50\n\n[targets.kubernetes]\nnamespace = \"x\"\n";
    missing_project_and_gcp_network: "[targets.gcp]\n";
    missing_project_name: "[project]\ninventory = [\"inventory.yaml\"]\n";
    wrong_types: "[project]\nname = 7\ninventory = \"inventory.yaml\"\nsources = []\n\n[targets.iptables]\nipset-threshold = \"8\"\n\nlints = \"deny\"\n";
    bad_values: "[project]\nname = \"bank\"\ninventory = [\"inv/[a.yaml\"]\n\n[targets.aws]\nformats = [\"terraform\", \"pulumi\", \"terraform\"]\nmax-rules-per-group = 0\nvpc-id = \"vpc-xyz\"\n\n[targets.gcp]\nnetwork = \"Bank_Prod\"\n\n[targets.opa]\nsigning-algorithm = \"rs256\"\n";
    kubernetes_settings: "[project]\nname = \"bank\"\n[targets.kubernetes]\nsystem-namespaces = [\"istio-system\", \"Bad_NS\", 7]\ndefault-deny-system-namespaces = \"yes\"\n";
    signing_settings_without_a_key: "[project]\nname = \"bank\"\n[targets.opa]\nsigning-key-id = \"k1\"\n";
    audit_settings: "[project]\nname = \"bank\"\n\n[audit]\nwould-brake = \"error\"\nunused-rule = \"deny\"\nover-broad = \"loud\"\nexpiring-within = \"2 weeks\"\nephemeral-ports = \"60000-1024\"\nmax-gap = 600\n";
    audit_nodata: "[project]\nname = \"bank\"\n\n[audit]\nnodata = \"sometimes\"\n";
    enforcement_and_lints: "[project]\nname = \"bank\"\n\n[enforcement]\nlayered = [\"mtls\", \"time\", \"mTLS\", \"mtls\", \"l7\"]\n\n[lints]\nmissing-owners = \"deny\"\nW0305 = \"allow\"\nover-broad = \"error\"\n";
}

#[test]
fn integers_may_use_underscores_and_other_bases() {
    let (m, diags, _) = parse(
        "[project]\nname = \"x\"\n[targets.iptables]\nipset-threshold = 1_0\n[targets.aws]\nmax-rules-per-group = 0x10\n",
    );
    assert!(diags.is_empty(), "{diags:?}");
    let m = m.expect("parsed");
    let TargetOptions::Iptables(ipt) = &m.targets["iptables"] else {
        panic!("iptables")
    };
    assert_eq!(ipt.ipset_threshold, 10);
    let TargetOptions::Aws(aws) = &m.targets["aws"] else {
        panic!("aws")
    };
    assert_eq!(aws.max_rules_per_group, 16);
}

const TOKENS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "project",
    "targets",
    ".",
    "aws",
    "gcp",
    "opa",
    "lints",
    "enforcement",
    "name",
    "=",
    " ",
    "\n",
    "\"",
    "'",
    "\"x\"",
    "1",
    "-1",
    "0x1f",
    "1_000",
    "true",
    "{",
    "}",
    ",",
    "#",
    "formats",
    "layered",
    "\"mtls\"",
    "\"deny\"",
    "missing-owner",
    "network",
    "signing-key",
    "inventory",
    "[\"*.yaml\"]",
    "é",
    "\u{0}",
    "\r\n",
    "\"\"\"",
    "1979-05-27",
    "inf",
    "nan",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, failure_persistence: None, ..Default::default() })]

    #[test]
    fn manifest_parsing_never_panics(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..80),
    ) {
        for text in [String::from_utf8_lossy(&bytes).into_owned(), tokens.concat()] {
            let (_, diags, map) = parse(&text);
            for d in diags.iter() {
                proptest::prop_assert_eq!(d.code, Some(Code::InvalidManifest));
                for l in &d.labels {
                    proptest::prop_assert!(l.span.end as usize <= text.len());
                }
            }
            let _ = render_human(&map, &diags.into_vec(), ColorChoice::Never);
        }
    }
}

/// The project name lands in every generated header: it refuses the same
/// characters as inventory names (controls, bidirectional overrides).
#[test]
fn project_name_refuses_controls_and_bidi_overrides() {
    for name in ["a\\u0007b", "a\\u202Eb", "a\\u2066b", "a\\u2028b"] {
        let (m, diags, _) = parse(&format!("[project]\nname = \"{name}\"\n"));
        assert!(m.is_none(), "{name} was accepted");
        assert!(
            diags.iter().any(
                |d| d.code == Some(Code::InvalidManifest) && d.message.contains("project name")
            ),
            "{name}: {diags:?}"
        );
    }
    let (m, _, _) = parse("[project]\nname = \"b\u{e4}nk \u{43a}\"\n");
    assert_eq!(m.expect("other Unicode is data").name, "b\u{e4}nk \u{43a}");
}

#[test]
fn audit_levels_and_settings_are_read_with_defaults() {
    use seg_check::manifest::{AUDIT_FINDINGS, AuditSettings, FindingLevel, NoDataMeaning};
    let (m, diags, _) = parse("[project]\nname = \"shop\"\n");
    assert!(diags.is_empty(), "{diags:?}");
    let m = m.expect("parsed");
    assert_eq!(m.audit, AuditSettings::default());
    assert_eq!(m.audit.level("would-break"), FindingLevel::Error);
    assert_eq!(m.audit.level("unused-rule"), FindingLevel::Warning);

    let (m, diags, _) = parse(
        "[project]\nname = \"shop\"\n[audit]\nwould-break = \"warning\"\nunused-rule = \"error\"\ncoverage-gap = \"off\"\nexpiring-within = \"30d\"\nephemeral-ports = \"49152-65535\"\nmax-gap = \"1h\"\n",
    );
    assert!(diags.is_empty(), "{diags:?}");
    let a = m.expect("parsed").audit;
    assert_eq!(a.level("would-break"), FindingLevel::Warning);
    assert_eq!(a.level("unused-rule"), FindingLevel::Error);
    assert_eq!(a.level("coverage-gap"), FindingLevel::Off);
    assert_eq!(a.level("over-broad"), FindingLevel::Warning);
    assert_eq!(a.expiring_within, 30 * 86_400);
    assert_eq!(a.ephemeral_ports, (49_152, 65_535));
    assert_eq!(a.max_gap, 3600);
    assert_eq!(a.levels.len(), AUDIT_FINDINGS.len());
    assert_eq!(a.nodata, NoDataMeaning::Gap, "NODATA is a gap by default");

    let (m, diags, _) = parse("[project]\nname = \"shop\"\n[audit]\nnodata = \"idle\"\n");
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(m.expect("parsed").audit.nodata, NoDataMeaning::Idle);
}

#[test]
fn kubernetes_system_namespaces() {
    let (m, diags, _) = parse(
        "[project]\nname = \"x\"\n[targets.kubernetes]\nsystem-namespaces = [\"istio-system\"]\ndefault-deny-system-namespaces = true\n",
    );
    assert!(diags.is_empty(), "{diags:?}");
    let m = m.expect("parsed");
    let TargetOptions::Kubernetes(k) = &m.targets["kubernetes"] else {
        panic!("kubernetes")
    };
    assert_eq!(k.system_namespaces, ["istio-system"]);
    assert!(k.default_deny_system_namespaces);
    assert!(!k.spares("istio-system"), "opted in");
    let default = seg_ir::backend::KubernetesOptions::default();
    assert!(default.spares("kube-system") && default.spares("kube-node-lease"));
    assert!(!default.spares("istio-system") && !default.spares("payments"));
}

#[test]
fn istio_system_namespaces_follow_the_kubernetes_rule() {
    let (m, diags, _) = parse(
        "[project]\nname = \"x\"\n[targets.istio]\ntrust-domain = \"mesh.example\"\nsystem-namespaces = [\"istio-system\"]\n",
    );
    assert!(diags.is_empty(), "{diags:?}");
    let m = m.expect("parsed");
    let TargetOptions::Istio(i) = &m.targets["istio"] else {
        panic!("istio")
    };
    assert_eq!(i.trust_domain, "mesh.example");
    assert!(i.cluster.spares("istio-system") && i.cluster.spares("kube-system"));
    assert!(!i.cluster.spares("payments"));
    let (m, diags, _) = parse(
        "[project]\nname = \"x\"\n[targets.istio]\nsystem-namespaces = [\"Bad_NS\"]\ndefault-deny-system-namespaces = 1\n",
    );
    assert!(m.is_none() || !m.expect("m").targets.contains_key("istio"));
    assert_eq!(
        diags.iter().filter(|d| d.is_error()).count(),
        2,
        "{diags:?}"
    );
}
