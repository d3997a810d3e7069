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
    /// A single `.seg` file checked against `--inventory` files, without `seg.toml`.
    File {
        /// The deepest folder holding the source and every inventory file.
        root: PathBuf,
        /// The source, relative to `root` (`/`-separated).
        source: String,
        /// The inventory files, relative to `root`.
        inventory: Vec<String>,
    },
}

/// What the command line says about the input.
#[derive(Clone, Debug, Default)]
pub struct Locate<'a> {
    /// PATH: a project folder, its `seg.toml`, or one `.seg` file.
    pub path: Option<&'a Path>,
    /// `--inventory FILE`: with a single `.seg` file.
    pub inventory: &'a [PathBuf],
    /// `--manifest-path FILE`: the project's `seg.toml`.
    pub manifest_path: Option<&'a Path>,
}

const MANIFEST: &str = "seg.toml";

impl Input {
    /// Resolve the command line's PATH (a project folder or a single `.seg` file).
    pub fn from_args(path: Option<&Path>, inventory: &[PathBuf]) -> Result<Input, Diagnostic> {
        Input::locate(&Locate {
            path,
            inventory,
            manifest_path: None,
        })
    }

    /// Resolve the input as cargo does: `--manifest-path`, else PATH, else the nearest
    /// folder at or above the current one that holds `seg.toml`. Relative paths are taken
    /// from the current folder.
    pub fn locate(args: &Locate) -> Result<Input, Diagnostic> {
        if let Some(manifest) = args.manifest_path {
            if args.path.is_some() {
                return Err(Diagnostic::plain(
                    "pass a project PATH or `--manifest-path`, not both",
                ));
            }
            return Input::manifest(manifest, args.inventory);
        }
        let Some(path) = args.path else {
            no_inventory(args.inventory, Path::new("."))?;
            return discover();
        };
        if path.is_dir() {
            no_inventory(args.inventory, path)?;
            if path.join(MANIFEST).is_file() {
                return Ok(Input::Project(path.to_path_buf()));
            }
            let mut d = Diagnostic::plain(format!("no `seg.toml` in `{}`", path.display()));
            d = match enclosing_project(path) {
                Some(project) => d.with_help(format!(
                    "the project is `{}`: pass that folder, or run seg anywhere inside it without a PATH",
                    project.display()
                )),
                None => d.with_help(
                    "pass a project folder, or one `.seg` file with `--inventory FILE`",
                ),
            };
            return Err(d);
        }
        if path.is_file() {
            if path.file_name().is_some_and(|n| n == MANIFEST) {
                return Input::manifest(path, args.inventory);
            }
            if args.inventory.is_empty() {
                let mut d = Diagnostic::plain(format!(
                    "`{}` is a file: a single `.seg` file needs `--inventory FILE`",
                    path.display()
                ));
                let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
                if let Some(project) = enclosing_project(folder.unwrap_or(Path::new("."))) {
                    d = d.with_help(format!(
                        "it is part of the project `{}`: run `seg` there without a PATH to check the whole project",
                        project.display()
                    ));
                }
                return Err(d);
            }
            return single_file(path, args.inventory);
        }
        Err(Diagnostic::plain(format!(
            "`{}` does not exist",
            path.display()
        )))
    }

    fn manifest(manifest: &Path, inventory: &[PathBuf]) -> Result<Input, Diagnostic> {
        if manifest.file_name().is_none_or(|n| n != MANIFEST) || !manifest.is_file() {
            return Err(Diagnostic::plain(format!(
                "`--manifest-path {}` is not a `seg.toml` file",
                manifest.display()
            )));
        }
        let root = match manifest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        no_inventory(inventory, &root)?;
        Ok(Input::Project(root))
    }

    /// The folder that relative names are taken from.
    pub fn root(&self) -> PathBuf {
        match self {
            Input::Project(dir) => dir.clone(),
            Input::File { root, .. } => root.clone(),
        }
    }
}

fn no_inventory(inventory: &[PathBuf], project: &Path) -> Result<(), Diagnostic> {
    if inventory.is_empty() {
        return Ok(());
    }
    Err(Diagnostic::plain(format!(
        "`--inventory` goes with a single `.seg` file, not the project `{}`",
        project.display()
    ))
    .with_help("list inventory files in `seg.toml [project] inventory` instead"))
}

/// The nearest folder at or above the current one holding `seg.toml`, as a relative path
/// (`.`, `..`, `../..`) so that what seg prints stays short.
fn discover() -> Result<Input, Diagnostic> {
    let cwd = std::env::current_dir()
        .map_err(|e| Diagnostic::plain(format!("cannot read the current folder: {e}")))?;
    for (up, dir) in cwd.ancestors().enumerate() {
        if dir.join(MANIFEST).is_file() {
            let rel = if up == 0 {
                PathBuf::from(".")
            } else {
                (0..up).map(|_| "..").collect()
            };
            return Ok(Input::Project(rel));
        }
    }
    Err(Diagnostic::plain(format!(
        "no `seg.toml` in `{}` or any folder above it",
        cwd.display()
    ))
    .with_help("run seg inside a project (`seg init` makes one), pass its folder or `--manifest-path`, or pass one `.seg` file with `--inventory FILE`"))
}

/// The nearest folder at or above `dir` holding `seg.toml`.
fn enclosing_project(dir: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(dir).ok()?;
    absolute
        .ancestors()
        .find(|d| d.join(MANIFEST).is_file())
        .map(Path::to_path_buf)
}

/// A single file and its inventories, named from their deepest common folder.
fn single_file(source: &Path, inventory: &[PathBuf]) -> Result<Input, Diagnostic> {
    let canonical = |p: &Path| {
        p.canonicalize()
            .map_err(|e| Diagnostic::plain(format!("cannot read `{}`: {e}", p.display())))
    };
    let source_abs = canonical(source)?;
    let mut inventory_abs = Vec::new();
    for inv in inventory {
        if !inv.is_file() {
            return Err(Diagnostic::plain(format!(
                "inventory `{}` does not exist",
                inv.display()
            )));
        }
        inventory_abs.push(canonical(inv)?);
    }
    let mut root = source_abs
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    for inv in &inventory_abs {
        while !inv.starts_with(&root) {
            if !root.pop() {
                break;
            }
        }
    }
    let name = |p: &Path| {
        relative(&root, p)
            .ok_or_else(|| Diagnostic::plain(format!("`{}` is not a plain file name", p.display())))
    };
    Ok(Input::File {
        source: name(&source_abs)?,
        inventory: inventory_abs
            .iter()
            .map(|p| name(p))
            .collect::<Result<_, _>>()?,
        root,
    })
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
    match read_text(root, rel) {
        Ok(text) => Some(Loaded {
            file: map.add(rel, text),
        }),
        Err(d) => {
            diags.push(d);
            None
        }
    }
}

/// The text of the file `rel` under `root`, or the diagnostic [`read`] reports.
pub fn read_text(root: &Path, rel: &str) -> Result<String, Diagnostic> {
    let full = root.join(rel);
    match std::fs::metadata(&full) {
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            return Err(Diagnostic::error(
                Code::InputTooLarge,
                format!("`{rel}` is larger than 64 MiB"),
            )
            .with_note(format!("the file has {} bytes", m.len())));
        }
        Ok(_) => {}
        Err(e) => return Err(Diagnostic::plain(format!("cannot read `{rel}`: {e}"))),
    }
    match std::fs::read(&full) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            Diagnostic::error(Code::NotText, format!("`{rel}` is not UTF-8 text"))
                .with_note(format!("the first invalid byte is at offset {at}"))
        }),
        Err(e) => Err(Diagnostic::plain(format!("cannot read `{rel}`: {e}"))),
    }
}

/// The globs of `patterns` as [`expand_globs`] matches them (`*` stays within a
/// folder), for paths that are not on disk yet; `None` when one is invalid.
pub fn glob_set(patterns: &[String]) -> Option<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        let glob = globset::GlobBuilder::new(p.trim_start_matches("./"))
            .literal_separator(true)
            .build()
            .ok()?;
        builder.add(glob);
    }
    builder.build().ok()
}

/// Files under `root` matching any of `patterns` (relative, `/`-separated, sorted).
/// Hidden folders, `target` and the build output are never searched.
pub fn expand_globs(
    root: &Path,
    patterns: &[String],
    skip: &[PathBuf],
) -> Result<Vec<String>, String> {
    expand(root, patterns, skip, Within::of(patterns))
}

/// [`expand_globs`], reading only the folders of `within`.
fn expand(
    root: &Path,
    patterns: &[String],
    skip: &[PathBuf],
    within: Within,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut builder = GlobSetBuilder::new();
    let mut globs = 0;
    for p in patterns {
        // A plain path names one file: no need to walk the tree for it.
        let plain = p.trim_start_matches("./");
        if !plain.contains(['*', '?', '[', ']', '{', '}', '\\'])
            && plain
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..")
        {
            if root
                .join(plain)
                .symlink_metadata()
                .is_ok_and(|m| m.is_file())
            {
                out.push(plain.to_string());
            }
            continue;
        }
        globs += 1;
        let glob = globset::GlobBuilder::new(p.trim_start_matches("./"))
            .literal_separator(true)
            .build()
            .map_err(|e| format!("invalid glob `{p}`: {e}"))?;
        builder.add(glob);
    }
    let set: GlobSet = builder.build().map_err(|e| e.to_string())?;
    if globs > 0 {
        walk(root, root, &set, &within, skip, &mut out, 0);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The folders the globs can match files in: each glob's leading folders
/// written without glob syntax (`policy` for `policy/**/*.seg`). A folder
/// outside all of them cannot hold a match (a literal component matches only
/// itself), so it is not read: a build output inside the project holds
/// thousands of files.
struct Within {
    /// Each glob's literal leading folders; `None` when one glob starts with
    /// glob syntax (every folder may hold a match).
    prefixes: Option<Vec<Vec<String>>>,
}

impl Within {
    fn of(patterns: &[String]) -> Within {
        let mut prefixes = Vec::new();
        for p in patterns {
            let parts: Vec<&str> = p.trim_start_matches("./").split('/').collect();
            // The last part names files; the folders before it, up to the first glob syntax.
            let folders = &parts[..parts.len().saturating_sub(1)];
            let prefix: Vec<String> = folders
                .iter()
                .take_while(|c| !c.contains(['*', '?', '[', ']', '{', '}', '\\']))
                .map(|c| c.to_string())
                .collect();
            if prefix.is_empty() {
                return Within { prefixes: None };
            }
            prefixes.push(prefix);
        }
        Within {
            prefixes: Some(prefixes),
        }
    }

    /// Whether the folder `rel` (its components under the root) may hold a
    /// match: it leads to a glob's folders, or lies within them.
    fn may_hold(&self, rel: &[String]) -> bool {
        let Some(prefixes) = &self.prefixes else {
            return true;
        };
        prefixes.iter().any(|p| {
            let n = p.len().min(rel.len());
            p[..n] == rel[..n]
        })
    }
}

fn walk(
    root: &Path,
    dir: &Path,
    set: &GlobSet,
    within: &Within,
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
            let wanted = || {
                path.strip_prefix(root).is_ok_and(|rel| {
                    let rel: Vec<String> = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    within.may_hold(&rel)
                })
            };
            if !hidden && wanted() && !skip.iter().any(|s| same_path(s, &path)) {
                walk(root, &path, set, within, skip, out, depth + 1);
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

/// Defaults for a single-file run (no `seg.toml`). The names are paths, not globs.
pub fn single_file_manifest(source: &str, inventory: &[String], span: seg_diag::Span) -> Manifest {
    Manifest {
        name: Path::new(source)
            .file_stem()
            .map_or_else(|| "seg".into(), |s| s.to_string_lossy().into_owned()),
        inventory: inventory.iter().map(|i| globset::escape(i)).collect(),
        sources: vec![globset::escape(source)],
        targets: Default::default(),
        opa_signing: None,
        layered: Vec::new(),
        lints: Default::default(),
        audit: Default::default(),
        reach: seg_check::manifest::ReachConfig::unset(span),
        jit: seg_check::manifest::Jit::new(span),
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

    /// Leaving out the folders no glob can match in finds what reading
    /// every folder finds, and does leave them out.
    #[test]
    fn globs_find_the_same_files_without_reading_folders_they_cannot_match() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let files = [
            "a.seg",
            "policy/a.seg",
            "policy/b.txt",
            "policy/sub/b.seg",
            "policy/sub/deep/c.seg",
            "policyx/f.seg",
            "pol/e.seg",
            "lib/g.seg",
            "other/d.seg",
            "out/iptables/x.seg",
            "weird{dir}/h.seg",
            ".hidden/i.seg",
        ];
        for f in files {
            let path = root.join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let cases: [&[&str]; 11] = [
            &["policy/**/*.seg"],
            &["./policy/**/*.seg"],
            &["policy/*.seg", "lib/*.seg"],
            &["policy/sub/**/*.seg", "other/d.seg"],
            &["**/*.seg"],
            &["*.seg"],
            &["{policy,lib}/**/*.seg"],
            &["pol*/*.seg"],
            &["policy/**/deep/*.seg"],
            &["weird{dir}/*.seg", "policy//a.seg"],
            &["/policy/*.seg", "../policy/*.seg"],
        ];
        for case in cases {
            let patterns: Vec<String> = case.iter().map(|p| p.to_string()).collect();
            let every = Within { prefixes: None };
            let all = expand(root, &patterns, &[], every).unwrap();
            assert_eq!(expand_globs(root, &patterns, &[]).unwrap(), all, "{case:?}");
        }
        let policy = vec!["policy/**/*.seg".to_string()];
        assert_eq!(
            expand_globs(root, &policy, &[]).unwrap(),
            ["policy/a.seg", "policy/sub/b.seg", "policy/sub/deep/c.seg"]
        );
        let within = Within::of(&policy);
        assert!(within.may_hold(&["policy".into(), "sub".into()]));
        assert!(!within.may_hold(&["out".into()]));
        assert!(!within.may_hold(&["policyx".into()]));
    }
}
