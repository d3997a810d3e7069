//! Shared helpers for the end-to-end and oracle tests (see `tests/*.rs`).

/// proptest strategies: random small programs and flows aimed at their edges.
pub mod r#gen;

/// proptest strategies: random estates as source (seg.toml, policies,
/// inventory) and flows aimed at their boundaries, by name or address.
pub mod estate;

/// A diff checked against the reference evaluator on every boundary flow.
pub mod diffcheck;

/// Third-party tools the tests run (venv, npm, system), skipped or failing under CI when missing.
pub mod tools;

/// YAML read as JSON values.
pub mod yaml;

use std::path::{Path, PathBuf};

/// The project folders (holding a `seg.toml`) directly under `root`, sorted;
/// none when `root` cannot be read.
pub fn projects(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("seg.toml").is_file())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// Every `.seg` file below `root` (hidden folders, `target` and `node_modules`
/// skipped), sorted.
pub fn seg_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    walk(&p, out);
                }
            } else if name.ends_with(".seg") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out.sort();
    out
}
