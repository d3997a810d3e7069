//! An unchanged rebuild leaves `--out` as it is. While every file handed
//! over matches the previous output, `report.json` aside (it holds the
//! build's time), nothing is linked into the new tree: each match is only
//! recorded, and a report that differs is written there. At the commit, if
//! the previous output holds exactly the recorded files, a report and
//! nothing else, it is the new build but for the report, which one rename
//! replaces in place: `--out` holds the old build or the new one at every
//! moment. Otherwise (or at any other file that differs) the recorded files
//! are linked into the new tree as usual.

use super::{open_plain, read_plain};
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;
use std::sync::Mutex;

/// One file of the previous output found equal to the new one.
pub(super) struct Matched {
    rel: String,
    len: usize,
    /// Of the new bytes: the file is read again before it is linked later.
    hash: blake3::Hash,
    /// Its inode, size and times when it was compared: a file replaced or
    /// edited since is not kept.
    seen: Seen,
}

/// What identifies one state of a file without reading it again: a file
/// written in place changes its size or its times, one created anew (even on
/// a freed inode number) has its own inode change time.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Seen {
    ino: u64,
    len: u64,
    ctime: (i64, i64),
    mtime: (i64, i64),
}

/// Files matched so far and the one that differed, while no other did
/// (`None` once one did).
pub(super) struct Deferred(Mutex<Option<Found>>);

#[derive(Default)]
pub(super) struct Found {
    pub(super) matched: Vec<Matched>,
    /// The report, when it differs: written into the new tree.
    pub(super) changed: Option<String>,
}

impl Deferred {
    /// Deferring when there is a previous output to keep.
    pub(super) fn new(previous: bool) -> Deferred {
        Deferred(Mutex::new(previous.then(Found::default)))
    }

    pub(super) fn deferring(&self) -> bool {
        self.lock().is_some()
    }

    /// Whether `rel` is a plain file of `old` (the previous output) with
    /// exactly `contents`, recorded for the commit. `false` when it is not,
    /// or when deferring ended meanwhile.
    pub(super) fn record(&self, old: &Path, rel: &str, contents: &[u8]) -> bool {
        let Some((file, meta)) = open_plain(&old.join(rel), contents.len()) else {
            return false;
        };
        if read_plain(file, contents.len()).is_none_or(|b| b != contents) {
            return false;
        }
        let matched = Matched {
            rel: rel.to_string(),
            len: contents.len(),
            hash: blake3::hash(contents),
            seen: Seen::of(&meta),
        };
        match self.lock().as_mut() {
            Some(found) => {
                found.matched.push(matched);
                true
            }
            None => false,
        }
    }

    /// Whether `rel` (the report), which differs, is the first file to:
    /// then it is written into the new tree and deferring goes on.
    pub(super) fn first_change(&self, rel: &str) -> bool {
        match self.lock().as_mut() {
            Some(found) if found.changed.is_none() => {
                found.changed = Some(rel.to_string());
                true
            }
            _ => false,
        }
    }

    /// Deferring again with `found`, to be linked by [`Deferred::stop`].
    pub(super) fn resume(found: Found) -> Deferred {
        Deferred(Mutex::new(Some(found)))
    }

    /// Stop deferring: the files matched so far (to be linked now) and the
    /// one that differed; `None` when deferring had stopped.
    pub(super) fn stop(&self) -> Option<Found> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Found>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Matched {
    pub(super) fn rel(&self) -> &str {
        &self.rel
    }

    /// Link the previous output's file (`old`) as `new`, after reading it
    /// again: it was compared earlier, and must still hold those bytes. A
    /// link the file system refuses is written from the bytes read.
    pub(super) fn link(&self, old: &Path, new: &Path) -> Result<bool, String> {
        let bytes = open_plain(old, self.len).and_then(|(f, _)| read_plain(f, self.len));
        let Some(bytes) = bytes.filter(|b| blake3::hash(b) == self.hash) else {
            return Err(format!(
                "cannot write `{}`: the previous output's file changed during the build",
                self.rel
            ));
        };
        if fs::hard_link(old, new).is_ok() {
            return Ok(true);
        }
        super::write_new(new, &bytes).map_err(|e| format!("cannot write `{}`: {e}", self.rel))?;
        Ok(false)
    }
}

/// Whether the folder `out` holds exactly the `found` files, each matched
/// one still the file that was compared (inode, size, times), the changed
/// one a plain file, and nothing else: no other file, link or folder, no
/// folder on another file system or with another mode or owner than `fresh`
/// (a folder this build created, as it would create every folder).
pub(super) fn holds_exactly(out: &Path, fresh: &Path, found: &Found) -> bool {
    let Ok(fresh) = fs::symlink_metadata(fresh) else {
        return false;
    };
    // The changed file (`None`) was never compared: any plain file.
    let mut files: HashMap<&str, Option<Seen>> = HashMap::with_capacity(found.matched.len() + 1);
    let mut folders = BTreeSet::new();
    let listed = found.matched.iter().map(|m| (m.rel.as_str(), Some(m.seen)));
    for (rel, seen) in listed.chain(found.changed.as_deref().map(|c| (c, None))) {
        if files.insert(rel, seen).is_some() {
            // The same path handed over twice: the usual path refuses it.
            return false;
        }
        let mut at = rel;
        while let Some((up, _)) = at.rsplit_once('/') {
            folders.insert(up.to_string());
            at = up;
        }
    }
    let mut seen = (0, 0);
    let mut todo = vec![String::new()];
    while let Some(rel) = todo.pop() {
        let path = if rel.is_empty() {
            out.to_path_buf()
        } else {
            out.join(&rel)
        };
        let Ok(meta) = fs::symlink_metadata(&path) else {
            return false;
        };
        if !meta.is_dir() || !like(&meta, &fresh) {
            return false;
        }
        let Ok(entries) = fs::read_dir(&path) else {
            return false;
        };
        for entry in entries {
            let Ok(entry) = entry else { return false };
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                return false;
            };
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            match entry.file_type() {
                Ok(t) if t.is_dir() && folders.contains(&child) => {
                    seen.1 += 1;
                    todo.push(child);
                }
                Ok(t)
                    if t.is_file()
                        && files.get(child.as_str()).is_some_and(|seen| {
                            seen.is_none_or(|seen| unchanged(&entry, seen))
                        }) =>
                {
                    seen.0 += 1;
                }
                _ => return false,
            }
        }
    }
    seen == (files.len(), folders.len())
}

impl Seen {
    #[cfg(unix)]
    fn of(meta: &fs::Metadata) -> Seen {
        use std::os::unix::fs::MetadataExt;
        Seen {
            ino: meta.ino(),
            len: meta.len(),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }

    // Without inode numbers a replaced file cannot be told apart: never kept.
    #[cfg(not(unix))]
    fn of(_: &fs::Metadata) -> Seen {
        Seen {
            ino: 0,
            len: 0,
            ctime: (0, 0),
            mtime: (0, 0),
        }
    }
}

/// Whether the file `entry` names is still the one compared (`seen`).
#[cfg(unix)]
fn unchanged(entry: &fs::DirEntry, seen: Seen) -> bool {
    entry
        .metadata()
        .is_ok_and(|m| m.is_file() && Seen::of(&m) == seen)
}

#[cfg(not(unix))]
fn unchanged(_: &fs::DirEntry, _: Seen) -> bool {
    false
}

/// Same file system, permissions and owner.
#[cfg(unix)]
fn like(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.mode() == b.mode() && a.uid() == b.uid() && a.gid() == b.gid()
}

#[cfg(not(unix))]
fn like(_: &fs::Metadata, _: &fs::Metadata) -> bool {
    false
}
