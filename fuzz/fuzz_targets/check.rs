//! The whole front end and the checker on one policy file.
//!
//! Two modes, chosen by the input:
//! - `POLICY NUL INVENTORY`: both fuzzed; the inventory must load before the
//!   checker runs (as in the driver);
//! - no NUL: the whole input is the policy, checked against a fixed valid
//!   inventory (`fixtures/inventory.yaml`, the bank example's), so most
//!   executions reach name resolution, typing, lints and lowering.
//!
//! The standard-library units are always present, as in the driver.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seg_check::{CheckInput, Unit};
use seg_diag::{Diagnostics, FileId, SourceMap};
use seg_fuzz::{NOW, assert_all, split, text};
use std::sync::OnceLock;

const INVENTORY: &str = include_str!("../fixtures/inventory.yaml");

/// The stdlib ASTs, parsed once; their files are the first ones of every map.
fn stdlib() -> &'static [Unit] {
    static UNITS: OnceLock<Vec<Unit>> = OnceLock::new();
    UNITS.get_or_init(|| {
        seg_stdlib::MODULES
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let file = FileId(u32::try_from(i).ok()?);
                let ast = seg_syntax::parse(file, m.source).ok()?;
                Some(Unit {
                    file,
                    path: m.file_name.to_string(),
                    module: Some(m.path.to_string()),
                    ast: ast.into(),
                })
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let (policy, inventory) = split(text);
    let inventory = inventory.unwrap_or(INVENTORY);

    let mut map = SourceMap::new();
    for m in seg_stdlib::MODULES {
        map.add(m.file_name, m.source);
    }
    let std_units = stdlib();
    assert_eq!(
        std_units.len(),
        seg_stdlib::MODULES.len(),
        "a stdlib module does not parse"
    );
    let policy_file = map.add("policy/fuzz.seg", policy);
    let inventory_file = map.add("inventory.yaml", inventory);

    let mut diags = Diagnostics::new();
    let ast = match seg_syntax::parse(policy_file, policy) {
        Ok(ast) => ast,
        Err(d) => {
            diags.push(d);
            assert_all(&map, &diags, true);
            return;
        }
    };
    let Some(inv) = seg_check::inventory::load(&[(inventory_file, inventory)], NOW, &mut diags)
    else {
        assert_all(&map, &diags, true);
        return;
    };
    if diags.has_errors() {
        assert_all(&map, &diags, true);
        return;
    }
    let mut units = vec![Unit {
        file: policy_file,
        path: "policy/fuzz.seg".to_string(),
        module: None,
        ast: ast.into(),
    }];
    units.extend(std_units.iter().cloned());
    let input = CheckInput {
        units: &units,
        inventory: &inv,
        map: &map,
        project: "fuzz",
        source_hash: "0",
        now: NOW,
        jit: None,
    };
    let program = seg_check::check(&input, &mut diags);
    assert_all(&map, &diags, program.is_none());
});
