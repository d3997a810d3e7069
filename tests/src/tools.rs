//! Third-party tools the tests run, installed by `scripts/install-test-deps`: Python tools
//! in the venv (`SEG_VENV`, default `<repo>/.venv`) and npm tools under `tests/node/<tool>/`.
//! A missing tool skips the test with a message, or fails it under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

pub fn venv() -> PathBuf {
    std::env::var_os("SEG_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"))
}

/// `Some(path)` when the file exists; else skip (or fail under CI).
pub fn require(what: &str, path: PathBuf) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    unavailable(&format!(
        "{what} not found at {}: run scripts/install-test-deps",
        path.display()
    ))
}

/// Report a missing tool: `None` (the test skips), or a failure under `CI=true`.
pub fn unavailable<T>(msg: &str) -> Option<T> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    None
}

/// A command of the venv (`bin/<name>`).
pub fn venv_tool(name: &str) -> Option<PathBuf> {
    require(name, venv().join("bin").join(name))
}

/// `node <repo>/tests/node/<folder>/<script>`, once `npm ci` has filled the folder.
pub fn node_script(folder: &str, script: &str) -> Option<Command> {
    let dir = repo().join("tests/node").join(folder);
    require(&format!("{folder} (npm)"), dir.join("node_modules"))?;
    if Command::new("node").arg("--version").output().is_err() {
        return unavailable("node not found on PATH");
    }
    let mut cmd = Command::new("node");
    cmd.arg(dir.join(script));
    Some(cmd)
}

/// A command found on PATH (Debian packages of `scripts/apt/`).
pub fn system_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    match std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
    {
        Some(p) => Some(p),
        None => unavailable(&format!(
            "{name} not found on PATH: run scripts/install-test-deps"
        )),
    }
}
