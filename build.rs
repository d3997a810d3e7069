//! Build-time facts the binary carries:
//! - `docs/diagnostics/*.md`, embedded so `seg explain-code CODE` and SARIF rule help work offline;
//! - where seg is installed from (`SEG_INSTALL_REPOSITORY`, `SEG_INSTALL_REV`), for the CI
//!   workflow `seg init` writes (see docs/ci.md).

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

fn main() {
    diagnostic_pages();
    install_source();
}

fn diagnostic_pages() {
    let dir = Path::new("docs/diagnostics");
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
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("diagnostic_pages.rs");
    std::fs::write(dest, out).unwrap_or_else(|e| panic!("cannot write diagnostic_pages.rs: {e}"));
}

/// The repository and revision `cargo install --locked --git REPO --rev REV seg` builds this
/// very source from. The repository is `[package] repository` of Cargo.toml; the revision is
/// the commit being built (from git, or from `.cargo_vcs_info.json` in a packaged crate),
/// else the release tag `v<version>`. `SEG_INSTALL_REPOSITORY` and `SEG_INSTALL_REV` in the
/// build's environment override both (a mirror, a fork, a distribution's own tag).
fn install_source() {
    println!("cargo:rerun-if-env-changed=SEG_INSTALL_REPOSITORY");
    println!("cargo:rerun-if-env-changed=SEG_INSTALL_REV");
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let repository = from_env("SEG_INSTALL_REPOSITORY")
        .or_else(|| from_env("CARGO_PKG_REPOSITORY"))
        .unwrap_or_default();
    let rev = from_env("SEG_INSTALL_REV")
        .or_else(git_commit)
        .or_else(packaged_commit)
        .unwrap_or_else(|| {
            format!(
                "v{}",
                std::env::var("CARGO_PKG_VERSION").unwrap_or_default()
            )
        });
    println!(
        "cargo:rustc-env=SEG_INSTALL_REPOSITORY={}",
        repository.trim()
    );
    println!("cargo:rustc-env=SEG_INSTALL_REV={}", rev.trim());
}

/// The commit checked out in this source tree; the build reruns when it moves.
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    // Only this package's own repository counts, not one that happens to enclose it.
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let here = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    if !same_dir(Path::new(&top), Path::new(&here)) {
        return None;
    }
    let commit = git(&["rev-parse", "HEAD"])?;
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])?];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch])?);
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"])?);
    for path in watched.iter().filter(|p| Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={path}");
    }
    (commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())).then_some(commit)
}

/// `cargo package` records the commit in `.cargo_vcs_info.json`.
fn packaged_commit() -> Option<String> {
    let text = std::fs::read_to_string(".cargo_vcs_info.json").ok()?;
    let at = text.find("\"sha1\"")?;
    let rest = &text[at + 6..];
    let start = rest.find('"')? + 1;
    let len = rest[start..].find('"')?;
    let sha = &rest[start..start + len];
    (sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sha.to_string())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
