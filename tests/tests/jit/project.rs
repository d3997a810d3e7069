//! Scratch projects: a copy of `examples/bank` with extra policy files.

use std::path::{Path, PathBuf};

pub fn bank() -> PathBuf {
    seg_tests::tools::repo().join("examples/bank")
}

/// A copy of the bank example in a fresh folder, plus `extra` files
/// (path relative to the project, text).
pub fn bank_copy(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&bank(), dir.path());
    for (path, text) in extra {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, text).expect("write");
    }
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            if entry.file_name() == "out" {
                continue;
            }
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// The project's `out/report.json`, parsed.
pub fn report(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("JSON")
}

/// The report entry of one target.
pub fn target<'r>(report: &'r serde_json::Value, name: &str) -> &'r serde_json::Value {
    report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["target"] == name)
        .unwrap_or_else(|| panic!("no target `{name}` in the report"))
}
