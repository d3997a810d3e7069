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
