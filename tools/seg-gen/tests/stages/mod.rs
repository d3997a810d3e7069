//! The compiler's front-end stages run one at a time on a generated estate
//! (the driver does the same with files from disk), for tests and benches.
#![allow(dead_code)]

use seg_check::inventory::Inventory;
use seg_check::{CheckInput, Unit};
use seg_diag::{Diagnostics, SourceMap};
use seg_ir::{Program, Timestamp};

/// "Now" of every stage run: before every date the generator writes.
pub fn now() -> Timestamp {
    Timestamp::parse("2026-11-24T00:00:00Z").expect("valid instant")
}

/// Every policy file of the estate, then the standard library, parsed.
pub fn parse(estate: &seg_gen::Estate, map: &mut SourceMap, diags: &mut Diagnostics) -> Vec<Unit> {
    let mut units = Vec::new();
    for (path, text) in &estate.policies {
        let file = map.add(path, text);
        match seg_syntax::parse(file, text) {
            Ok(ast) => units.push(Unit {
                file,
                path: path.clone(),
                module: None,
                ast: ast.into(),
            }),
            Err(d) => diags.push(d),
        }
    }
    for module in seg_stdlib::MODULES {
        let file = map.add(module.file_name, module.source);
        match seg_syntax::parse(file, module.source) {
            Ok(ast) => units.push(Unit {
                file,
                path: module.file_name.to_string(),
                module: Some(module.path.to_string()),
                ast: ast.into(),
            }),
            Err(d) => diags.push(d),
        }
    }
    units
}

pub fn inventory(
    estate: &seg_gen::Estate,
    map: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Option<Inventory> {
    let file = map.add("inventory.yaml", &estate.inventory_yaml);
    seg_check::inventory::load(
        &[(file, estate.inventory_yaml.as_str())],
        &seg_ir::Now::new(now()),
        diags,
    )
}

pub fn check(
    units: &[Unit],
    inventory: &Inventory,
    map: &SourceMap,
    diags: &mut Diagnostics,
) -> Option<Program> {
    let input = CheckInput {
        units,
        inventory,
        map,
        project: "gen",
        source_hash: "0",
        now: &seg_ir::Now::new(now()),
        jit: None,
    };
    seg_check::check(&input, diags)
}

/// All stages; the program and every diagnostic.
pub fn compile(estate: &seg_gen::Estate) -> (SourceMap, Option<Program>, Diagnostics) {
    let mut map = SourceMap::default();
    let mut diags = Diagnostics::new();
    let units = parse(estate, &mut map, &mut diags);
    let inventory = inventory(estate, &mut map, &mut diags);
    let program = inventory.and_then(|inv| check(&units, &inv, &map, &mut diags));
    (map, program, diags)
}
