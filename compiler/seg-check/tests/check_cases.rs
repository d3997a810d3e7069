//! The checker's cases in `tests/cases/` (one mini project per code) report
//! their code when checked directly, without the driver. The driver-level
//! glob test in `tests/tests/diagnostics.rs` snapshots them.

mod check_util;

use std::fs;
use std::path::Path;

#[test]
fn every_checker_case_reports_its_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases");
    let mut failures = Vec::new();
    let mut seen = 0;
    for entry in fs::read_dir(&root).expect("tests/cases") {
        let dir = entry.expect("entry").path();
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let is_ours = ["E02", "E03", "W02", "W03"]
            .iter()
            .any(|p| name.starts_with(p));
        if !is_ours || !dir.join("policy/main.seg").is_file() {
            continue;
        }
        seen += 1;
        let manifest = fs::read_to_string(dir.join("seg.toml")).expect("seg.toml");
        let first = manifest.lines().next().unwrap_or_default();
        let code = first
            .strip_prefix("# expect:")
            .map(str::trim)
            .unwrap_or_else(|| panic!("{name}: first line is `# expect: CODE`"));
        let inventory = fs::read_to_string(dir.join("inventory.yaml")).expect("inventory");
        let policy = fs::read_to_string(dir.join("policy/main.seg")).expect("policy");
        let out = check_util::run(&inventory, &[("policy/main.seg", &policy)]);
        if !out.codes().contains(&code) {
            failures.push(format!(
                "{name}: expected {code}, got {:?}\n{}",
                out.codes(),
                out.rendered()
            ));
        }
        if std::env::var_os("SHOW_CASES").is_some() {
            println!("== {name}\n{}", out.rendered());
        }
    }
    assert!(seen >= 27, "expected a case per checker code, found {seen}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
