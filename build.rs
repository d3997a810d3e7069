//! Embeds `docs/diagnostics/*.md` so `seg explain-code CODE` works offline.

use std::fmt::Write;

fn main() {
    let dir = std::path::Path::new("docs/diagnostics");
    println!("cargo:rerun-if-changed=docs/diagnostics");
    let mut pages: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let code = name.strip_suffix(".md")?.to_string();
                    let path = std::fs::canonicalize(e.path()).ok()?;
                    Some((code, path.to_string_lossy().into_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    pages.sort();
    let mut out = String::from("pub const DIAGNOSTIC_PAGES: &[(&str, &str)] = &[\n");
    for (code, path) in pages {
        let _ = writeln!(out, "    ({code:?}, include_str!({path:?})),");
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap_or_default())
        .join("diagnostic_pages.rs");
    std::fs::write(dest, out).unwrap_or_else(|e| panic!("cannot write diagnostic_pages.rs: {e}"));
}
