//! Running the real `seg` binary and the scratch folders the tests need.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const NOW: &str = "2026-11-24T00:00:00Z";

/// The `seg` binary under test (this package's build of `src/main.rs`).
pub fn seg_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_seg-cli"))
}

/// `seg ARGS` in `cwd`, without colour and with the clock unfixed.
pub fn seg_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(seg_exe())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        // Some run in the source tree: no compiled-program cache is left
        // there (reach_cache.rs tests the cache in a copy).
        .env("SEG_NO_CACHE", "1")
        .current_dir(cwd)
        .output()
        .expect("run seg")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A command's exit code and its output, for assertion messages.
pub fn shown(o: &Output) -> String {
    format!("exit {}\n{}{}", code(o), stdout(o), stderr(o))
}

/// `git ARGS` in `cwd`; panics when git fails.
pub fn git(cwd: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run git");
    assert!(o.status.success(), "git {args:?}: {}", shown(&o));
    stdout(&o).trim().to_string()
}

/// A fresh git repository (an empty folder with `git init`).
pub fn git_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    git(dir.path(), &["init", "-q"]);
    dir
}
