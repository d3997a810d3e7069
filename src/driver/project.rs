//! Finding and reading a project: `seg.toml`, the `.seg` sources (globs and
//! `use ./file.seg` imports), the stdlib and the inventory files. All file I/O
//! of a compilation happens here; the core crates only see text.

use globset::{GlobSet, GlobSetBuilder};
use seg_check::manifest::Manifest;
use seg_diag::{Code, Diagnostic, Diagnostics, FileId, SourceMap};
use std::path::{Component, Path, PathBuf};

/// Largest input file accepted (policy, inventory or manifest).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// What the user pointed at.
#[derive(Clone, Debug)]
pub enum Input {
    /// A folder holding `seg.toml`.
    Project(PathBuf),
    /// A single `.seg` file checked against `--inventory` files.
    File {
        source: PathBuf,
        inventory: Vec<PathBuf>,
    },
}

impl Input {
    /// Resolve the command line's PATH (default: the current folder).
    pub fn from_args(path: Option<&Path>, inventory: &[PathBuf]) -> Result<Input, Diagnostic> {
        let path = path.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        if path.is_dir() {
            if !inventory.is_empty() {
                return Err(Diagnostic::plain(
                    "`--inventory` goes with a single `.seg` file, not a project folder",
                )
                .with_help("list inventory files in `seg.toml [project] inventory` instead"));
            }
            if !path.join("seg.toml").is_file() {
                return Err(Diagnostic::plain(format!("no `seg.toml` in `{}`", path.display()))
                    .with_help("run seg in a project folder, pass its path, or pass one `.seg` file with `--inventory FILE`"));
            }
            return Ok(Input::Project(path));
        }
        if path.is_file() {
            if inventory.is_empty() {
                return Err(Diagnostic::plain(format!(
                    "`{}` is a file: it needs `--inventory FILE`",
                    path.display()
                )));
            }
            return Ok(Input::File {
                source: path,
                inventory: inventory.to_vec(),
            });
        }
        Err(Diagnostic::plain(format!(
            "`{}` does not exist",
            path.display()
        )))
    }

    /// The folder that relative names are taken from.
    pub fn root(&self) -> PathBuf {
        match self {
            Input::Project(dir) => dir.clone(),
            Input::File { source, .. } => source
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        }
    }
}

/// A file read from disk and registered in the source map.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub file: FileId,
}

/// Read a file into the source map. Problems are diagnostics (I/O errors have no code
/// and make the run exit 2; non-text and oversized files are E0004/E0003).
pub fn read(
    map: &mut SourceMap,
    root: &Path,
    rel: &str,
    diags: &mut Diagnostics,
) -> Option<Loaded> {
    let full = root.join(rel);
    match std::fs::metadata(&full) {
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            diags.push(
                Diagnostic::error(
                    Code::InputTooLarge,
                    format!("`{rel}` is larger than 64 MiB"),
                )
                .with_note(format!("the file has {} bytes", m.len())),
            );
            return None;
        }
        Ok(_) => {}
        Err(e) => {
            diags.push(Diagnostic::plain(format!("cannot read `{rel}`: {e}")));
            return None;
        }
    }
    match std::fs::read(&full) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(Loaded {
                file: map.add(rel, text),
            }),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                diags.push(
                    Diagnostic::error(Code::NotText, format!("`{rel}` is not UTF-8 text"))
                        .with_note(format!("the first invalid byte is at offset {at}")),
                );
                None
            }
        },
        Err(e) => {
            diags.push(Diagnostic::plain(format!("cannot read `{rel}`: {e}")));
            None
        }
    }
}

/// Files under `root` matching any of `patterns` (relative, `/`-separated, sorted).
/// Hidden folders, `target` and the build output are never searched.
pub fn expand_globs(
    root: &Path,
    patterns: &[String],
    skip: &[PathBuf],
) -> Result<Vec<String>, String> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        let glob = globset::GlobBuilder::new(p.trim_start_matches("./"))
            .literal_separator(true)
            .build()
            .map_err(|e| format!("invalid glob `{p}`: {e}"))?;
        builder.add(glob);
    }
    let set: GlobSet = builder.build().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    walk(root, root, &set, skip, &mut out, 0);
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(
    root: &Path,
    dir: &Path,
    set: &GlobSet,
    skip: &[PathBuf],
    out: &mut Vec<String>,
    depth: usize,
) {
    if depth > 32 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        // Symlinks are not followed: a link loop must not hang a build.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let hidden = name.starts_with('.') || name == "target" || name == "node_modules";
            if !hidden && !skip.iter().any(|s| same_path(s, &path)) {
                walk(root, &path, set, skip, out, depth + 1);
            }
        } else if kind.is_file()
            && let Some(rel) = relative(root, &path)
            && set.is_match(&rel)
        {
            out.push(rel);
        }
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `root/x/y.seg` → `x/y.seg`.
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    Some(parts.join("/"))
}

/// Resolve `./other.seg` written in `from` (a project-relative path) to a
/// project-relative path; `None` when it leaves the project.
pub fn resolve_import(from: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for seg in target.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Defaults for a single-file run (no `seg.toml`).
pub fn single_file_manifest(
    source: &str,
    inventory: Vec<String>,
    span: seg_diag::Span,
) -> Manifest {
    Manifest {
        name: Path::new(source)
            .file_stem()
            .map_or_else(|| "seg".into(), |s| s.to_string_lossy().into_owned()),
        inventory,
        sources: vec![source.to_string()],
        targets: Default::default(),
        opa_signing: None,
        layered: Vec::new(),
        lints: Default::default(),
        audit: Default::default(),
        inventory_spans: Vec::new(),
        span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_resolve_relative_to_the_importing_file() {
        assert_eq!(
            resolve_import("policy/a.seg", "./common.seg").as_deref(),
            Some("policy/common.seg")
        );
        assert_eq!(
            resolve_import("policy/a.seg", "../shared/x.seg").as_deref(),
            Some("shared/x.seg")
        );
        assert_eq!(resolve_import("a.seg", "../../etc/passwd"), None);
    }
}
