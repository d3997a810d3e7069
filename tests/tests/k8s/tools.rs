//! The third-party tools, from the project's venv (`SEG_VENV`, default
//! `<repo>/.venv`, filled by `scripts/install-test-deps` from
//! `scripts/requirements/k8s.txt`). A missing tool skips the test with a
//! message, or fails it under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Command;

// Not every test binary that includes this file uses it (tests/tests/hostile does not).
#[allow(unused_imports)]
pub use seg_tests::tools::repo;

/// Kubernetes versions the objects are validated against (schemas shipped in
/// the pinned kubernetes-validate): the oldest we document and the newest.
pub const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];

fn require(tool: &str) -> Option<PathBuf> {
    seg_tests::tools::venv_tool(tool)
}

pub fn kubernetes_validate() -> Option<PathBuf> {
    require("kubernetes-validate")
}

pub fn nca() -> Option<PathBuf> {
    require("nca")
}

/// Run a command; (exit code, stdout, stderr).
pub fn run(program: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `kubernetes-validate --strict` on every file, for every version: each file
/// must print an `INFO ... passed` line per version and nothing else (an
/// unknown kind or missing apiVersion only prints WARN and exits 0).
pub fn validate(tool: &Path, files: &[PathBuf]) -> Result<(), String> {
    let mut args: Vec<String> = vec!["--strict".into()];
    for v in KUBERNETES_VERSIONS {
        args.extend(["-k".into(), v.into()]);
    }
    args.extend(files.iter().map(|f| f.display().to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = run(tool, &argv);
    let mut problems = Vec::new();
    if code != 0 {
        problems.push(format!("exit code {code}"));
    }
    if !stderr.trim().is_empty() {
        problems.push(format!("stderr: {stderr}"));
    }
    for line in stdout.lines() {
        let resource = [
            " passed for resource networkpolicy/",
            " passed for resource customresourcedefinition/",
        ];
        if !(line.starts_with("INFO ") && resource.iter().any(|r| line.contains(r))) {
            problems.push(format!("unexpected: {line}"));
        }
    }
    for f in files {
        let passed = stdout
            .lines()
            .filter(|l| l.starts_with(&format!("INFO {} passed", f.display())))
            .count();
        if passed != KUBERNETES_VERSIONS.len() {
            problems.push(format!(
                "{}: {passed} passing validations, expected {}",
                f.display(),
                KUBERNETES_VERSIONS.len()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}
