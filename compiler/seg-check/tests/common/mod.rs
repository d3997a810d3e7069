//! Helpers shared by the inventory and manifest tests: load files into a
//! source map and render what came out, input first, as the snapshots show it.

#![allow(dead_code)]

use seg_check::inventory::{self, Inventory};
use seg_diag::{ColorChoice, Diagnostics, FileId, SourceMap, render_human};
use seg_ir::Timestamp;
use std::fmt::Write;

/// The build time of every inventory test: the bank's reporting key is stale then.
pub fn now() -> Timestamp {
    Timestamp::parse("2026-11-24T00:00:00Z").expect("valid timestamp")
}

pub struct Loaded {
    pub map: SourceMap,
    pub inventory: Option<Inventory>,
    pub diags: Diagnostics,
}

pub fn load(files: &[(&str, &str)]) -> Loaded {
    let mut map = SourceMap::new();
    let ids: Vec<FileId> = files
        .iter()
        .map(|(name, text)| map.add(*name, *text))
        .collect();
    let inputs: Vec<(FileId, &str)> = ids
        .iter()
        .zip(files)
        .map(|(id, (_, text))| (*id, *text))
        .collect();
    let mut diags = Diagnostics::new();
    let inventory = inventory::load(&inputs, &seg_ir::Now::new(now()), &mut diags);
    Loaded {
        map,
        inventory,
        diags,
    }
}

/// `----- SOURCE name` per file, then `----- DIAGNOSTICS`, then `----- RESULT`.
pub fn report(files: &[(&str, &str)]) -> String {
    let loaded = load(files);
    let mut out = String::new();
    for (name, text) in files {
        let _ = writeln!(out, "----- SOURCE {name}\n{}", text.trim_end());
    }
    let mut diags = loaded.diags.clone();
    diags.sort();
    let _ = writeln!(
        out,
        "----- DIAGNOSTICS\n{}",
        render_human(&loaded.map, &diags.into_vec(), ColorChoice::Never).trim_end()
    );
    let _ = writeln!(out, "----- RESULT\n{}", summary(loaded.inventory.as_ref()));
    out
}

pub fn summary(inventory: Option<&Inventory>) -> String {
    let Some(inv) = inventory else {
        return "no inventory (errors)".to_string();
    };
    let mut out = String::new();
    for (name, decl) in &inv.attributes {
        let _ = writeln!(out, "attribute {name}: {}", decl.ty.describe());
    }
    for (id, details) in inv.identities.iter().zip(&inv.details) {
        let addrs: Vec<String> = id.addresses.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "identity {:?} {} [{}]",
            id.name,
            id.kind.as_str(),
            addrs.join(", ")
        );
        // Validity windows only where written, so older snapshots stay as they were.
        for h in details.held.iter().filter(|h| h.windowed()) {
            let side = |t: Option<seg_ir::Timestamp>| t.map_or("-".to_string(), |t| t.to_string());
            let _ = writeln!(
                out,
                "  held {} from {} until {}",
                h.net,
                side(h.from),
                side(h.until)
            );
        }
    }
    out.trim_end().to_string()
}
