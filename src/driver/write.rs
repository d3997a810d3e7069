//! Atomic output: every file goes into a temporary folder beside `--out`,
//! which replaces `--out` only when all of it was written. On any error the
//! previous output is untouched and no temporary folder is left behind.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Replace the folder `out` with exactly `files` (paths relative to `out`).
pub fn write_atomically(out: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<(), String> {
    let out = absolute(out)?;
    let parent = out
        .parent()
        .ok_or_else(|| format!("`{}` has no parent folder", out.display()))?;
    let name = out
        .file_name()
        .ok_or_else(|| format!("`{}` is not a folder name", out.display()))?;
    guard_existing(&out)?;
    fs::create_dir_all(parent).map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;

    let stamp = format!("{}-{}", std::process::id(), unique());
    let tmp = parent.join(format!(".{}.seg-tmp-{stamp}", name.to_string_lossy()));
    let result = write_tree(&tmp, files).and_then(|()| swap_in(&tmp, &out, &stamp));
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

fn absolute(p: &Path) -> Result<PathBuf, String> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current folder: {e}"))?;
    Ok(cwd.join(p))
}

/// Refuse to replace a folder seg did not write: `--out .` must never delete a project.
fn guard_existing(out: &Path) -> Result<(), String> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(format!("`{}` exists and is not a folder", out.display()));
    }
    let empty = fs::read_dir(out)
        .map_err(|e| format!("cannot read `{}`: {e}", out.display()))?
        .next()
        .is_none();
    let ours =
        fs::read_to_string(out.join("report.json")).is_ok_and(|r| r.contains("\"tool\": \"seg\""));
    if empty || ours {
        Ok(())
    } else {
        Err(format!(
            "refusing to replace `{}`: it is not empty and was not written by seg (no seg report.json)",
            out.display()
        ))
    }
}

fn write_tree(tmp: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<(), String> {
    fs::create_dir(tmp).map_err(|e| format!("cannot create `{}`: {e}", tmp.display()))?;
    for (rel, contents) in files {
        let path = tmp.join(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        }
        let mut f = fs::File::create(&path).map_err(|e| format!("cannot write `{rel}`: {e}"))?;
        f.write_all(contents)
            .map_err(|e| format!("cannot write `{rel}`: {e}"))?;
        f.sync_all()
            .map_err(|e| format!("cannot write `{rel}`: {e}"))?;
    }
    Ok(())
}

fn swap_in(tmp: &Path, out: &Path, stamp: &str) -> Result<(), String> {
    if !out.exists() {
        return fs::rename(tmp, out)
            .map_err(|e| format!("cannot move the output into `{}`: {e}", out.display()));
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let old = out.with_file_name(format!(".{name}.seg-old-{stamp}"));
    fs::rename(out, &old).map_err(|e| format!("cannot move the previous output aside: {e}"))?;
    if let Err(e) = fs::rename(tmp, out) {
        // Put the previous output back: it must survive a failed build.
        let _ = fs::rename(&old, out);
        return Err(format!(
            "cannot move the output into `{}`: {e}",
            out.display()
        ));
    }
    fs::remove_dir_all(&old)
        .map_err(|e| format!("cannot remove the previous output `{}`: {e}", old.display()))
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect()
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_previous_output_and_leaves_no_temporary_folder() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write_atomically(
            &out,
            &files(&[("report.json", "{\"tool\": \"seg\"}"), ("a/x.txt", "1")]),
        )
        .unwrap();
        write_atomically(
            &out,
            &files(&[("report.json", "{\"tool\": \"seg\"}"), ("b/y.txt", "2")]),
        )
        .unwrap();
        assert!(
            !out.join("a/x.txt").exists(),
            "stale files from the previous build are gone"
        );
        assert_eq!(fs::read_to_string(out.join("b/y.txt")).unwrap(), "2");
        assert_eq!(leftovers(dir.path()), ["out"]);
    }

    #[test]
    fn refuses_to_replace_a_folder_seg_did_not_write() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("seg.toml"), "x").unwrap();
        let err = write_atomically(dir.path(), &files(&[("report.json", "{}")])).unwrap_err();
        assert!(err.contains("refusing to replace"), "{err}");
        assert!(dir.path().join("seg.toml").exists());
    }

    #[test]
    fn a_failed_write_keeps_the_previous_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write_atomically(
            &out,
            &files(&[("report.json", "{\"tool\": \"seg\"}"), ("keep.txt", "old")]),
        )
        .unwrap();
        // A file and a folder with the same name cannot both be written.
        let bad = files(&[("report.json", "x"), ("x", "file"), ("x/y", "under a file")]);
        assert!(write_atomically(&out, &bad).is_err());
        assert_eq!(fs::read_to_string(out.join("keep.txt")).unwrap(), "old");
        assert_eq!(leftovers(dir.path()), ["out"]);
    }
}
