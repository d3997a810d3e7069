//! Golden cases of the inventory loader: every file under
//! `fixtures/inventory/` is loaded on its own and snapshotted with its source,
//! the rendered diagnostics and a summary of what was loaded.

mod common;

use std::path::Path;

#[test]
fn fixtures() {
    insta::glob!("fixtures/inventory/*.{yaml,json}", |path| {
        let text = std::fs::read_to_string(path).expect("fixture is UTF-8");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("file name");
        insta::assert_snapshot!(common::report(&[(name, &text)]));
    });
}

#[test]
fn bank_inventory_loads_with_its_two_credential_warnings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/bank/inventory.yaml");
    let text = std::fs::read_to_string(path).expect("bank inventory");
    let loaded = common::load(&[("examples/bank/inventory.yaml", &text)]);
    assert!(!loaded.diags.has_errors(), "{:?}", loaded.diags);
    let inv = loaded.inventory.as_ref().expect("loaded");
    assert_eq!(inv.identities.len(), 9);
    let codes: Vec<&str> = loaded
        .diags
        .iter()
        .filter_map(|d| d.code)
        .map(|c| c.as_str())
        .collect();
    assert_eq!(codes, ["W0102", "W0103"]);
    insta::assert_snapshot!(common::report(&[("examples/bank/inventory.yaml", &text)]));
}

#[test]
fn attributes_declared_in_one_file_apply_to_every_file() {
    let types = "version: 1\nattributes:\n  team: string\n  env: enum[dev, prod]\n";
    let workloads = "version: 1\nidentities:\n  - name: payments-api\n    kind: workload\n    attributes: { team: payments, env: prod }\n";
    let json = r#"{"version": 1, "identities": [{"name": "ci", "kind": "ci_job", "attributes": {"env": "dev"}}]}"#;
    let loaded = common::load(&[
        ("inventory/types.yaml", types),
        ("inventory/workloads.yaml", workloads),
        ("inventory/ci.json", json),
    ]);
    assert!(loaded.diags.is_empty(), "{:?}", loaded.diags);
    let inv = loaded.inventory.expect("loaded");
    let names: Vec<&str> = inv.identities.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        ["payments-api", "ci"],
        "file order, then entry order"
    );
    assert_eq!(inv.get("ci").map(|(i, _)| i.attributes.len()), Some(1));
}

#[test]
fn problems_across_files_point_at_both_files() {
    let a = "version: 1\nattributes:\n  tier: int\nidentities:\n  - name: payments-api\n    kind: workload\n    addresses: [10.1.2.0/24]\n";
    let b = "version: 1\nattributes:\n  tier: string\nidentities:\n  - name: payments-api\n    kind: agent\n  - name: payments-canary\n    kind: workload\n    addresses: [10.1.2.7]\n";
    let loaded = common::load(&[("inventory/a.yaml", a), ("inventory/b.yaml", b)]);
    assert!(loaded.inventory.is_none());
    let codes: Vec<&str> = loaded
        .diags
        .iter()
        .filter_map(|d| d.code)
        .map(|c| c.as_str())
        .collect();
    assert_eq!(codes, ["E0109", "E0104", "W0101"]);
    for d in loaded.diags.iter() {
        let files: std::collections::BTreeSet<_> = d.labels.iter().map(|l| l.span.file).collect();
        assert_eq!(files.len(), 2, "{d:?}");
    }
    insta::assert_snapshot!(common::report(&[
        ("inventory/a.yaml", a),
        ("inventory/b.yaml", b)
    ]));
}

#[test]
fn every_file_is_checked_even_after_a_broken_one() {
    let broken = "version: 1\nidentities: [\n";
    let bad = "version: 1\nidentities:\n  - name: x\n    kind: wrkload\n";
    let loaded = common::load(&[("a.yaml", broken), ("b.yaml", bad), ("c.yaml", "")]);
    let codes: Vec<&str> = loaded
        .diags
        .iter()
        .filter_map(|d| d.code)
        .map(|c| c.as_str())
        .collect();
    assert_eq!(codes, ["E0101", "E0103", "E0107"]);
}

#[test]
fn no_files_is_an_empty_inventory() {
    let loaded = common::load(&[]);
    assert_eq!(loaded.inventory.map(|i| i.identities.len()), Some(0));
}

#[test]
fn inventory_facts_reach_the_model() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/inventory/ok_full_identity.yaml"),
    )
    .expect("fixture");
    let inv = common::load(&[("inv.yaml", &text)])
        .inventory
        .expect("loads");
    let (id, details) = inv.get("payments-api").expect("identity");
    assert_eq!(id.id, seg_ir::IdentityId(0));
    assert_eq!(&text[id.origin.range()], "payments-api");
    assert!(text[details.span.range()].starts_with("name: payments-api"));
    assert!(
        text[details.span.range()]
            .trim_end()
            .ends_with("expires: 2027-06-30")
    );
    assert_eq!(id.owner.as_deref(), Some("team-payments"));
    assert_eq!(id.attributes.get("tier"), Some(&seg_ir::Value::Int(1)));
    assert_eq!(id.attributes.get("pci"), Some(&seg_ir::Value::Bool(true)));
    assert_eq!(
        id.labels.get("app").map(String::as_str),
        Some("payments-api")
    );
    let k8s = id.kubernetes.as_ref().expect("binding");
    assert_eq!(
        (k8s.namespace.as_str(), k8s.service_account.as_deref()),
        ("payments", Some("payments-api"))
    );
    assert_eq!(
        id.aws.as_ref().and_then(|a| a.security_group.as_deref()),
        Some("sg-0a1b2c3d4e5f60718")
    );
    assert_eq!(
        id.gcp.as_ref().map(|g| g.service_account.as_str()),
        Some("payments-api@bank-prod.iam.gserviceaccount.com")
    );
    let cred = details.credential.as_ref().expect("credential");
    assert_eq!(
        (cred.kind.as_deref(), cred.max_age, cred.shared),
        (Some("x509"), Some(90 * 86_400), false)
    );
    assert_eq!(
        cred.rotated.map(|d| d.to_string()).as_deref(),
        Some("2026-10-01")
    );
    assert_eq!(
        details.expires.map(|d| d.to_string()).as_deref(),
        Some("2027-06-30")
    );
    assert_eq!(details.status, seg_check::inventory::Status::Active);
    assert!(seg_check::inventory::has_network_presence(id));
    let (batch, batch_details) = inv.get("svc:legacy/batch").expect("quoted name");
    assert_eq!(batch.id, seg_ir::IdentityId(1));
    assert_eq!(batch_details.status, seg_check::inventory::Status::Disabled);
    assert!(!seg_check::inventory::has_network_presence(batch));
}

#[test]
fn a_broken_declaration_is_reported_once() {
    let text = "version: 1\nattributes:\n  tier: integer\n  Team: string\nidentities:\n  - name: a\n    kind: workload\n    attributes: { tier: 1, Team: x }\n  - name: b\n    kind: workload\n    attributes: { tier: 2 }\n";
    let loaded = common::load(&[("inv.yaml", text)]);
    let codes: Vec<&str> = loaded
        .diags
        .iter()
        .filter_map(|d| d.code)
        .map(|c| c.as_str())
        .collect();
    assert_eq!(codes, ["E0109", "E0107"]);
    let loaded = common::load(&[(
        "inv.yaml",
        "version: 1\nattributes: [tier]\nidentities:\n  - name: a\n    kind: workload\n    attributes: { tier: 1 }\n",
    )]);
    let codes: Vec<&str> = loaded
        .diags
        .iter()
        .filter_map(|d| d.code)
        .map(|c| c.as_str())
        .collect();
    assert_eq!(codes, ["E0106"]);
}
