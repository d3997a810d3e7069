//! Shared helpers for the end-to-end and oracle tests (see `tests/*.rs`).

/// proptest strategies: random small programs and flows aimed at their edges.
pub mod r#gen;

/// proptest strategies: random estates as source (seg.toml, policies,
/// inventory) and flows aimed at their boundaries, by name or address.
pub mod estate;

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
