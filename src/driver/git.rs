//! A project as it was at a git revision, read from the repository's
//! objects (`git ls-tree`, `git cat-file --batch`) into a temporary folder:
//! the work tree, the index and the refs are never touched.

use seg_diag::Diagnostic;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

/// A project folder extracted from a revision; removed when dropped.
pub struct Revision {
    /// Holds the extracted files (the project is its root).
    dir: tempfile::TempDir,
    /// The full commit id `REV` names.
    pub commit: String,
    /// Whether the revision has a `seg.toml` where the project is.
    pub has_project: bool,
}

impl Revision {
    /// The project folder, as it was at the revision.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `git`: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes)
        .trim_end_matches(['\n', '\r'])
        .to_string()
}

/// The project at `path` (a folder in a git work tree) as it was at `rev`.
pub fn checkout(path: &Path, rev: &str) -> Result<Revision, Diagnostic> {
    let fail = |what: String| Diagnostic::plain(what);
    if !path.is_dir() {
        return Err(fail(format!("`{}` is not a folder", path.display())));
    }
    let top = git(path, &["rev-parse", "--show-toplevel"]).map_err(|e| {
        fail(format!(
            "`{}` is not in a git repository: {e}",
            path.display()
        ))
        .with_help(
            "`--base` reads the old version from git; compare two folders with `seg diff OLD NEW`",
        )
    })?;
    let top = PathBuf::from(text(top));
    let prefix = text(git(path, &["rev-parse", "--show-prefix"]).map_err(fail)?);
    if rev.starts_with('-') {
        return Err(fail(format!("`{rev}` is not a revision")));
    }
    let commit = git(&top, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
        .map_err(|_| {
            fail(format!("`{rev}` is not a commit of this repository"))
                .with_help("name a branch, tag or commit, e.g. `--base origin/main` (fetch it first in a shallow CI clone)")
        })?;
    let commit = text(commit);
    let mut args = vec!["ls-tree", "-r", "-z", "--full-tree", commit.as_str()];
    if !prefix.is_empty() {
        args.extend(["--", prefix.as_str()]);
    }
    let listing = git(&top, &args).map_err(fail)?;
    let dir = tempfile::Builder::new()
        .prefix("seg-diff-")
        .tempdir()
        .map_err(|e| fail(format!("cannot create a temporary folder: {e}")))?;
    let mut blobs: Vec<(String, PathBuf)> = Vec::new();
    for entry in listing.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        let Some((meta, file)) = entry.split_once('\t') else {
            continue;
        };
        let mut meta = meta.split(' ');
        let (mode, kind, object) = (meta.next(), meta.next(), meta.next());
        // Regular files only: no symlinks (120000), no submodules (commit).
        if kind != Some("blob") || !matches!(mode, Some("100644" | "100755")) {
            continue;
        }
        let Some(rel) = file.strip_prefix(prefix.as_str()) else {
            continue;
        };
        if let (Some(object), Some(target)) = (object, safe_join(dir.path(), rel)) {
            blobs.push((object.to_string(), target));
        }
    }
    let has_project = blobs.iter().any(|(_, p)| p == &dir.path().join("seg.toml"));
    extract(&top, &blobs).map_err(|e| fail(format!("cannot read `{rev}` from git: {e}")))?;
    Ok(Revision {
        dir,
        commit,
        has_project,
    })
}

/// `root/rel` for a relative path of plain components outside hidden and
/// build folders (which a project never reads from); else `None`.
fn safe_join(root: &Path, rel: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let plain = matches!(
            Path::new(part).components().next(),
            Some(Component::Normal(_))
        ) && Path::new(part).components().count() == 1;
        let skipped =
            !last && (part.starts_with('.') || *part == "target" || *part == "node_modules");
        if !plain || part.contains('\\') || skipped {
            return None;
        }
        out.push(part);
    }
    Some(out)
}

/// Write each blob's contents to its path, through one `git cat-file --batch`.
fn extract(top: &Path, blobs: &[(String, PathBuf)]) -> Result<(), String> {
    if blobs.is_empty() {
        return Ok(());
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(top)
        .args(["cat-file", "--batch"])
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run `git`: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let ids: String = blobs.iter().map(|(o, _)| format!("{o}\n")).collect();
    // Written from another thread: git's output could fill the pipe first.
    let writer = std::thread::spawn(move || stdin.write_all(ids.as_bytes()));
    let mut out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut result = Ok(());
    for (object, target) in blobs {
        let mut header = String::new();
        out.read_line(&mut header).map_err(|e| e.to_string())?;
        let mut fields = header.split_whitespace();
        let (id, kind, size) = (fields.next(), fields.next(), fields.next());
        let size: usize = match (id, kind, size.and_then(|s| s.parse().ok())) {
            (Some(id), Some("blob"), Some(size)) if id == object => size,
            _ => {
                result = Err(format!("unexpected answer from git: `{}`", header.trim()));
                break;
            }
        };
        let mut body = vec![0u8; size];
        out.read_exact(&mut body).map_err(|e| e.to_string())?;
        let mut newline = [0u8; 1];
        out.read_exact(&mut newline).map_err(|e| e.to_string())?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(target, body).map_err(|e| e.to_string())?;
    }
    let _ = writer.join();
    let _ = child.kill();
    let _ = child.wait();
    result
}
