//! Unit tests of the whole emission on small hand-built programs.

use super::*;
use ipnet::IpNet;
use seg_diag::Code;
use seg_diag::{FileId, Span};
use seg_ir::backend::OpaOptions;
use seg_ir::backend::SigningKey;
use seg_ir::time::{Date, TimeOfDay, Timestamp};
use seg_ir::{
    Action, Atom, CidrSet, Condition, EndpointSet, Expectation, Flow, FlowEndpoint, IdentityId,
    IdentityKind, PortSet, Protocol, Provenance, Rule, RuleId, Test,
};
use std::collections::{BTreeMap, BTreeSet};

fn span() -> Span {
    Span::new(FileId(0), 0, 0)
}

fn identity(id: u32, name: &str, spiffe: Option<&str>, addresses: &[&str]) -> Identity {
    Identity {
        id: IdentityId(id),
        name: name.into(),
        kind: IdentityKind::Workload,
        owner: Some("team-a".into()),
        attributes: BTreeMap::new(),
        labels: BTreeMap::new(),
        addresses: addresses
            .iter()
            .map(|a| a.parse::<IpNet>().expect("test address"))
            .collect(),
        kubernetes: None,
        aws: None,
        gcp: None,
        spiffe: spiffe.map(str::to_string),
        origin: span(),
    }
}

fn ids(v: &[u32]) -> EndpointSet {
    let s: BTreeSet<IdentityId> = v.iter().map(|&i| IdentityId(i)).collect();
    EndpointSet {
        identities: s.clone(),
        explicit: s,
        networks: CidrSet::empty(),
    }
}

fn rule(
    n: u32,
    action: Action,
    src: EndpointSet,
    dst: EndpointSet,
    port: u16,
    condition: Condition,
) -> Rule {
    Rule {
        id: RuleId(n),
        action,
        src,
        dst,
        services: PortSet::ports(Protocol::Tcp, port, port),
        condition,
        expires: None,
        provenance: Provenance {
            label: format!("p/{}", n + 1),
            id: format!("p#{}", n + 1),
            file: "policy/p.seg".into(),
            line: 10 + n,
            column: 3,
            policy: "p".into(),
            owner: Some("team-a".into()),
            doc: None,
            reason: None,
            origin: span(),
        },
    }
}

/// api -> db on 5432 with mtls; job -> db at night until 2026-12-31;
/// partners -> api; deny anything -> metadata; one test block.
fn program() -> Program {
    let identities = vec![
        identity(0, "api", Some("spiffe://x/api"), &["10.0.0.1/32"]),
        identity(1, "db", Some("spiffe://x/db"), &["10.0.0.2/32"]),
        identity(2, "job", None, &["10.0.9.0/30"]),
        identity(3, "metadata", None, &["169.254.169.254/32"]),
    ];
    let partners = EndpointSet {
        networks: CidrSet::from_net("203.0.113.0/24".parse().expect("net")),
        ..EndpointSet::default()
    };
    let mut night = rule(
        1,
        Action::Allow,
        ids(&[2]),
        ids(&[1]),
        5432,
        Condition::Atom(Atom::Time {
            start: TimeOfDay(60),
            end: TimeOfDay(180),
        }),
    );
    night.expires = Date::new(2026, 12, 31).map(Into::into);
    night.provenance.reason = Some("ticket \"OPS-1\"\n".into());
    let mut any = ids(&[0, 1, 2, 3]);
    any.explicit.clear();
    any.networks = CidrSet::all();
    let now = Timestamp(Date::new(2026, 11, 20).expect("date").start().0 + 12 * 3600);
    let flow = |src, dst, mtls, at: Timestamp| Flow {
        src,
        dst,
        protocol: Protocol::Tcp,
        port: 5432,
        at,
        mtls,
        method: None,
        path: None,
        context: BTreeMap::new(),
    };
    let expect = |decision, flow, line| Expectation {
        decision,
        flow,
        at_given: false,
        file: "policy/p.seg".into(),
        line,
        origin: span(),
    };
    let id = |i| FlowEndpoint::Identity(IdentityId(i));
    Program {
        project: "unit".into(),
        source_hash: "ab".repeat(32),
        now,
        identities: identities.into(),
        rules: vec![
            rule(
                0,
                Action::Allow,
                ids(&[0]),
                ids(&[1]),
                5432,
                Condition::Atom(Atom::Mtls),
            ),
            night,
            rule(2, Action::Allow, partners, ids(&[0]), 8443, Condition::True),
            rule(3, Action::Deny, any, ids(&[3]), 80, Condition::True),
        ],
        omitted: Vec::new(),
        contexts: BTreeMap::new(),
        tests: vec![Test {
            name: "ledger: access".into(),
            expectations: vec![
                expect(Action::Allow, flow(id(0), id(1), true, now), 30),
                expect(Action::Deny, flow(id(0), id(1), false, now), 31),
                expect(
                    Action::Allow,
                    flow(id(2), id(1), false, Timestamp(now.0 - 10 * 3600)),
                    32,
                ),
            ],
        }],
    }
}

fn emit(program: &Program, signing: Option<SigningKey>) -> (Emission, Diagnostics) {
    let mut diags = Diagnostics::new();
    let e = Opa.emit(
        program,
        &TargetOptions::Opa(OpaOptions { signing }),
        &mut diags,
    );
    (e, diags)
}

fn file<'e>(e: &'e Emission, path: &str) -> &'e str {
    let a = e
        .artifacts
        .iter()
        .find(|a| a.path == path)
        .unwrap_or_else(|| panic!("no artifact {path}"));
    std::str::from_utf8(&a.contents).expect("utf-8")
}

#[test]
fn bundle_files_snapshot() {
    let (e, diags) = emit(&program(), None);
    assert!(diags.is_empty(), "{:?}", diags.iter().collect::<Vec<_>>());
    let paths: Vec<&str> = e.artifacts.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "bundle.tar.gz",
            "bundle/.manifest",
            "bundle/input.schema.json",
            "bundle/seg/authz.rego",
            "bundle/seg/authz_test.rego",
            "bundle/seg/data.json",
            "bundle/seg/envoy.rego",
            "bundle/seg/tests/data.json",
        ]
    );
    let mut out = String::new();
    for path in [
        "bundle/.manifest",
        "bundle/seg/data.json",
        "bundle/seg/tests/data.json",
    ] {
        let mut doc: serde_json::Value = serde_json::from_str(file(&e, path)).expect("json");
        // The fixed octet table (0..=255 → hex) is checked below, not snapshotted.
        if let Some(octets) = doc.pointer_mut("/addresses/octets") {
            assert_eq!(octets["0"], "00");
            assert_eq!(octets["255"], "ff");
            assert_eq!(octets.as_object().map(|o| o.len()), Some(256));
            *octets = serde_json::json!("(0..=255 → two hex digits)");
        }
        out.push_str(&format!(
            "//// {path}\n{}\n",
            serde_json::to_string_pretty(&doc).expect("pretty")
        ));
    }
    out.push_str(&format!(
        "//// bundle/seg/authz_test.rego\n{}",
        file(&e, "bundle/seg/authz_test.rego")
    ));
    insta::assert_snapshot!(out);
}

#[test]
fn input_schema_snapshot() {
    let (e, _) = emit(&program(), None);
    insta::assert_snapshot!(file(&e, "bundle/input.schema.json"));
}

#[test]
fn structured_files_are_canonical_and_headed() {
    let (e, _) = emit(&program(), None);
    for path in [
        "bundle/.manifest",
        "bundle/seg/data.json",
        "bundle/seg/tests/data.json",
    ] {
        let text = file(&e, path);
        let v: serde_json::Value = serde_json::from_str(text).expect("json");
        assert_eq!(canonical::to_string(&v), text, "{path} is not canonical");
        assert!(
            text.contains(&format!(
                "seg {} · meaning {}",
                env!("CARGO_PKG_VERSION"),
                seg_ir::meaning::digest(
                    &program(),
                    Some(&TargetOptions::Opa(OpaOptions { signing: None }))
                )
            )),
            "{path}"
        );
        assert!(text.contains("generated: do not edit"), "{path}");
    }
    for path in [
        "bundle/seg/authz.rego",
        "bundle/seg/envoy.rego",
        "bundle/seg/authz_test.rego",
    ] {
        assert!(file(&e, path).starts_with("# seg "), "{path}");
    }
    assert!(file(&e, "bundle/input.schema.json").contains("generated: do not edit"));
}

#[test]
fn output_is_deterministic_and_the_revision_follows_content() {
    let (a, _) = emit(&program(), None);
    let (b, _) = emit(&program(), None);
    assert_eq!(a.artifacts, b.artifacts);
    let mut changed = program();
    changed.rules[0].services = PortSet::ports(Protocol::Tcp, 5433, 5433);
    let (c, _) = emit(&changed, None);
    let revision = |e: &Emission| -> String {
        let m: serde_json::Value = serde_json::from_str(file(e, "bundle/.manifest")).expect("json");
        m["revision"].as_str().expect("revision").to_string()
    };
    assert_ne!(revision(&a), revision(&c));
    // The build time does not enter the bundle unless a test depends on it.
    let mut later = program();
    later.now = Timestamp(later.now.0 + 86_400);
    later.tests.clear();
    let mut base = program();
    base.tests.clear();
    assert_eq!(
        emit(&later, None).0.artifacts,
        emit(&base, None).0.artifacts
    );
}

#[test]
fn hostile_names_stay_data() {
    let mut p = program();
    let evil = "x\"}\n]package evil\nallow := true # \u{0}\u{2028}../../etc";
    p.identities[2].name = evil.into();
    p.identities[2].spiffe = None;
    p.identities[3].name = "y".repeat(10_000);
    p.tests[0].name = evil.into();
    p.rules[1].provenance.label = evil.into();
    let (e, diags) = emit(&p, None);
    assert!(!diags.has_errors());
    for a in &e.artifacts {
        assert!(!a.path.contains(".."), "{}", a.path);
        if a.path.ends_with(".rego") {
            let text = std::str::from_utf8(&a.contents).expect("utf-8");
            let code: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect();
            assert_eq!(
                code.iter().filter(|l| l.starts_with("package ")).count(),
                1,
                "{}",
                a.path
            );
            assert!(
                !code
                    .iter()
                    .any(|l| l.contains("allow := true") || l.contains("yyy")),
                "{} carries a name as code",
                a.path
            );
            assert!(
                text.lines().all(|l| l.chars().count() <= 400),
                "{} has a very long line",
                a.path
            );
        }
    }
    let data: serde_json::Value =
        serde_json::from_str(file(&e, "bundle/seg/data.json")).expect("json");
    assert_eq!(data["principals"][evil]["key"], format!("id:{evil}"));
    assert!(data["identities"][&"y".repeat(10_000)].is_object());
}

#[test]
fn shared_principals_are_an_error() {
    let mut p = program();
    p.identities[2].name = "spiffe://x/api".into();
    let (_, diags) = emit(&p, None);
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, Some(Code::InvalidTargetValue));
    assert!(
        errors[0].message.contains("`api` and `spiffe://x/api`"),
        "{}",
        errors[0].message
    );
}

#[test]
fn large_rules_are_indexed_by_set_pair() {
    let mut p = program();
    let many: Vec<u32> = (4..104).collect();
    for &i in &many {
        p.identities.push(identity(i, &format!("w{i}"), None, &[]));
    }
    p.rules.push(rule(
        4,
        Action::Allow,
        ids(&[0, 1]),
        ids(&many),
        80,
        Condition::True,
    ));
    let (e, _) = emit(&p, None);
    let data: serde_json::Value =
        serde_json::from_str(file(&e, "bundle/seg/data.json")).expect("json");
    let ix = &data["index"];
    let (src, dst) = (
        data["rules"]["p#5"]["src"]
            .as_str()
            .expect("set name")
            .to_string(),
        data["rules"]["p#5"]["dst"]
            .as_str()
            .expect("set name")
            .to_string(),
    );
    assert_eq!(ix["set_pairs"][&src][&dst][0]["rule"], "p#5");
    let api_src = data["principals"]["spiffe://x/api"]["src"]
        .as_array()
        .expect("src sets")
        .clone();
    assert!(api_src.contains(&serde_json::json!(src)), "{api_src:?}");
    assert_eq!(data["principals"]["w50"]["dst"], serde_json::json!([dst]));
    assert_eq!(data["principals"]["w50"]["src"], serde_json::json!([]));
    // Small rules stay pair by pair.
    assert_eq!(ix["pairs"]["id:api"]["id:db"][0]["rule"], "p#1");
    assert_eq!(ix["pairs"]["id:api"]["id:db"][0]["plain"], false);
    // The partners' network is one class, named by its first CIDR.
    assert_eq!(
        data["addresses"]["classes"]["net:203.0.113.0/24"],
        serde_json::json!(["203.0.113.0/24"])
    );
    assert_eq!(
        ix["pairs"]["net:203.0.113.0/24"]["id:api"][0]["plain"],
        true
    );
}

#[test]
fn signing_lists_every_file_but_the_signature() {
    let key = SigningKey {
        algorithm: "HS256".into(),
        key: b"secret".to_vec(),
        key_id: Some("k1".into()),
    };
    let (e, diags) = emit(&program(), Some(key));
    assert!(diags.is_empty());
    let sig: serde_json::Value =
        serde_json::from_str(file(&e, "bundle/.signatures.json")).expect("json");
    let jws = sig["signatures"][0].as_str().expect("jws");
    let payload = jws.split('.').nth(1).expect("payload");
    let payload = base64_url_decode(payload);
    let payload: serde_json::Value = serde_json::from_slice(&payload).expect("payload json");
    let names: Vec<&str> = payload["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    let mut expected: Vec<&str> = e
        .artifacts
        .iter()
        .filter_map(|a| a.path.strip_prefix("bundle/"))
        .filter(|p| *p != SIGNATURES)
        .collect();
    expected.sort_unstable();
    assert_eq!(names, expected);
    for f in payload["files"].as_array().expect("files") {
        let name = f["name"].as_str().expect("name");
        assert_eq!(f["algorithm"], "SHA-256");
        assert_eq!(
            f["hash"].as_str(),
            Some(sign::sha256_hex(file(&e, &format!("bundle/{name}")).as_bytes()).as_str())
        );
    }
    assert_eq!(payload["keyid"], "k1");
}

#[test]
fn unusable_keys_are_e0404() {
    for (algorithm, key) in [
        ("RS256", b"not a pem".to_vec()),
        ("HS256", Vec::new()),
        ("ES512", b"x".to_vec()),
    ] {
        let key = SigningKey {
            algorithm: algorithm.into(),
            key,
            key_id: None,
        };
        let (e, diags) = emit(&program(), Some(key));
        let codes: Vec<_> = diags.iter().map(|d| d.code).collect();
        assert_eq!(codes, [Some(Code::InvalidTargetOption)], "{algorithm}");
        assert!(
            e.artifacts.is_empty(),
            "{algorithm}: a bundle was written with a bad key"
        );
    }
}

/// The bodies of `allow` and `_other` differ only in how they find the
/// endpoints and the protocol: an edit to one must be made to the others.
#[test]
fn allow_bodies_agree_from_the_candidates_on() {
    let text = include_str!("rego/authz.rego");
    let bodies = |head: &str| -> Vec<String> {
        text.split(head)
            .skip(1)
            .map(|b| b[..b.find("\n}\n").expect("end of body")].to_string())
            .collect()
    };
    let allow = bodies("\nallow if {\n");
    let other = bodies("\n_other if {\n");
    assert_eq!(allow.len(), 3, "allow has three bodies");
    assert_eq!(other.len(), 1, "_other has one body");
    assert!(allow[2].ends_with("\t_other"), "{}", allow[2]);
    let gate = "\tevery _ in {false: [0], true: []}[c.plain] {\n\t\t_admits(c)\n\t}\n";
    let tail = |b: &str| b[b.find(gate).expect("_admits gate")..].to_string();
    assert_eq!(tail(&allow[0]), tail(&allow[1]));
    assert_eq!(tail(&allow[0]), tail(&other[0]));
    // The candidates are found alike too.
    let cands = |b: &str| {
        let from = b.find("\tcands := ").expect("cands");
        b[from..b.find(gate).expect("_admits gate")]
            .replace("\tpr := _protocol.name\n\tpt := port\n", "")
    };
    let inline = "\tpi := data.seg.protocols[input.protocol]\n\tpi.ports == true\n\tpt := input.port\n\tfloor(pt) == pt\n\tpr := pi.name\n";
    assert_eq!(cands(&allow[0]), cands(&allow[1]));
    assert_eq!(cands(&allow[0]).replace(inline, ""), cands(&other[0]));
    assert!(allow[0].contains("data.seg.principals[ps]"));
    assert!(allow[1].contains("data.seg.addresses.v4_lengths"));
    assert!(other[0].contains("s := _src") && other[0].contains("d := _dst"));
}

fn base64_url_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64url") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
