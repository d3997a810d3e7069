//! An unchanged rebuild leaves `--out` as it is. While every file handed
//! over matches the previous output, `report.json` aside (it holds the
//! build's time), nothing is linked into the new tree: each match is only
//! recorded, and a report that differs is written there. At the commit, if
//! the previous output holds exactly the recorded files, a report and
//! nothing else, it is the new build but for the report, which one rename
//! replaces in place: `--out` holds the old build or the new one at every
//! moment. Otherwise (or at any other file that differs) the recorded files
//! are linked into the new tree as usual.

use super::{Owner, child_of, in_parallel, link_same, open_plain, read_plain, under};
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

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

pub(super) struct Found {
    /// Seconds since the epoch two seconds before the build began: files
    /// written since are [`Matched::recent`].
    since: i64,
    pub(super) matched: Vec<Matched>,
    /// The report, when it differs: written into the new tree.
    pub(super) changed: Option<String>,
}

impl Deferred {
    /// Deferring when there is a previous output to keep.
    pub(super) fn new(previous: bool) -> Deferred {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Deferred(Mutex::new(previous.then(|| Found {
            since: now.saturating_sub(2),
            matched: Vec::new(),
            changed: None,
        })))
    }

    pub(super) fn deferring(&self) -> bool {
        self.lock().is_some()
    }

    /// Whether `rel` is a plain file of `old` (the previous output) with
    /// exactly `contents`, recorded for the commit. `false` when it is not,
    /// or when deferring ended meanwhile.
    /// `twin`: see [`open_plain`].
    pub(super) fn record(
        &self,
        old: &Path,
        rel: &str,
        contents: &[u8],
        owner: Owner,
        twin: Option<&Path>,
    ) -> bool {
        let Some((file, meta)) = open_plain(&old.join(rel), contents.len(), owner, twin) else {
            return false;
        };
        if read_plain(&file, contents.len()).is_none_or(|b| b != contents) {
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

    /// `old` opened and its bytes, when it still has the compared size and owner.
    fn read_again(
        &self,
        old: &Path,
        owner: Owner,
        twin: Option<&Path>,
    ) -> Option<(fs::File, fs::Metadata, Vec<u8>)> {
        let (file, meta) = open_plain(old, self.len, owner, twin)?;
        let bytes = read_plain(&file, self.len)?;
        Some((file, meta, bytes))
    }

    /// Whether the file was last written so recently that a later write of
    /// the same size could carry the same times: file times move only once
    /// per clock tick (a second or two on some file systems), so such a file
    /// is read again at the commit instead of trusted by its times.
    fn recent(&self, since: i64) -> bool {
        self.seen.ctime.0 >= since || self.seen.mtime.0 >= since
    }

    /// Link the previous output's file (`old`) as `new`, after reading it
    /// again: it was compared earlier, and must still hold those bytes. A
    /// link the file system refuses, or a name that no longer points at the
    /// file read, is written from the bytes read by `write`. `spare`: see
    /// [`link_same`].
    pub(super) fn link(
        &self,
        old: &Path,
        new: &Path,
        owner: Owner,
        spare: Option<&AtomicUsize>,
        write: impl FnOnce(&[u8]) -> Result<(), String>,
    ) -> Result<bool, String> {
        let read = self.read_again(old, owner, spare.is_some().then_some(new));
        let Some((_open, meta, bytes)) = read.filter(|(_, _, b)| blake3::hash(b) == self.hash)
        else {
            return Err(format!(
                "cannot write `{}`: the previous output's file changed during the build",
                self.rel
            ));
        };
        if link_same(old, new, &meta, spare) {
            return Ok(true);
        }
        write(&bytes)?;
        Ok(false)
    }
}

/// Whether the folder `out` holds exactly the `found` files, each matched
/// one still the file that was compared (inode, size, times), the changed
/// one a plain file, and nothing else: no other file, link or folder, no
/// folder on another file system or with another mode or owner than `fresh`
/// (a folder this build created, as it would create every folder). Files
/// written shortly before the build are read again (see [`Matched::recent`]).
/// `twins`: the spare, where each file may have its one other name (see
/// [`open_plain`]).
pub(super) fn holds_exactly(
    out: &Path,
    fresh: &fs::Metadata,
    found: &Found,
    owner: Owner,
    twins: Option<&Path>,
) -> bool {
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
    // The compared files' times, checked from several threads once every
    // folder is listed (one `fstatat` each, on the main thread alone before).
    // Held by name, not as `DirEntry`: each of those keeps its folder open,
    // and a folder per namespace can pass the limit of open files (then no
    // folder can be listed and the output is never kept).
    let mut compared: Vec<(String, Seen)> = Vec::with_capacity(found.matched.len());
    let mut todo = vec![String::new()];
    while let Some(rel) = todo.pop() {
        let path = under(out, &rel);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            return false;
        };
        if !meta.is_dir() || !like(&meta, fresh) {
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
            let child = child_of(&rel, name);
            match entry.file_type() {
                Ok(t) if t.is_dir() && folders.contains(&child) => {
                    seen.1 += 1;
                    todo.push(child);
                }
                Ok(t) if t.is_file() => match files.get(child.as_str()) {
                    Some(Some(was)) => {
                        seen.0 += 1;
                        compared.push((child, *was));
                    }
                    Some(None) => seen.0 += 1,
                    None => return false,
                },
                _ => return false,
            }
        }
    }
    if seen != (files.len(), folders.len()) {
        return false;
    }
    let still = in_parallel(&compared, |(rel, was)| {
        unchanged(&out.join(rel), *was)
            .then_some(())
            .ok_or_else(|| format!("`{rel}` changed"))
    });
    if still.is_err() {
        return false;
    }
    // Read again from several threads (reading and hashing them took the
    // main thread alone): every recent file must still hold its bytes.
    let recent: Vec<&Matched> = found
        .matched
        .iter()
        .filter(|m| m.recent(found.since))
        .collect();
    in_parallel(&recent, |m| {
        let twin = twins.map(|t| t.join(&m.rel));
        m.read_again(&out.join(&m.rel), owner, twin.as_deref())
            .is_some_and(|(_, _, b)| blake3::hash(&b) == m.hash)
            .then_some(())
            .ok_or_else(|| format!("`{}` changed", m.rel))
    })
    .is_ok()
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

/// Whether the file at `path` (not followed if a link) is still the one
/// compared (`seen`).
#[cfg(unix)]
fn unchanged(path: &Path, seen: Seen) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && Seen::of(&m) == seen)
}

#[cfg(not(unix))]
fn unchanged(_: &Path, _: Seen) -> bool {
    false
}

/// Same file system, permissions and owner.
#[cfg(unix)]
pub(super) fn like(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.mode() == b.mode() && a.uid() == b.uid() && a.gid() == b.gid()
}

#[cfg(not(unix))]
pub(super) fn like(_: &fs::Metadata, _: &fs::Metadata) -> bool {
    false
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A file edited to the same size within the clock tick of its
    /// comparison keeps its times; when it was written shortly before the
    /// build, its bytes are read again and the output is not kept.
    #[test]
    fn a_recent_file_is_read_again_when_its_times_did_not_move() {
        let dir = tempfile::tempdir().unwrap();
        let (out, fresh) = (dir.path().join("out"), dir.path().join("fresh"));
        fs::create_dir_all(out.join("iptables")).unwrap();
        fs::create_dir(&fresh).unwrap();
        let owner = Owner::of_files_in(&fresh);
        let fresh = fs::symlink_metadata(&fresh).unwrap();
        fs::write(out.join("iptables/a.rules"), "a").unwrap();
        let deferred = Deferred::new(true);
        assert!(deferred.record(&out, "iptables/a.rules", b"a", owner, None));
        let mut found = deferred.stop().unwrap();
        assert!(holds_exactly(&out, &fresh, &found, owner, None));
        fs::write(out.join("iptables/a.rules"), "x").unwrap();
        // Times that did not move: those seen now stand for those seen then.
        let now = fs::symlink_metadata(out.join("iptables/a.rules")).unwrap();
        found.matched[0].seen = Seen::of(&now);
        assert!(!holds_exactly(&out, &fresh, &found, owner, None));
        // Written long before the build, it is trusted by its times.
        found.since = i64::MAX;
        assert!(holds_exactly(&out, &fresh, &found, owner, None));
    }

    /// 300 files over `folders` folders in `out`, each recorded as compared
    /// with the bytes it holds: the temporary folder (kept alive by the
    /// caller), `out`, a new folder's metadata, the owner and what was found.
    fn compared_files(
        folders: usize,
    ) -> (
        tempfile::TempDir,
        std::path::PathBuf,
        fs::Metadata,
        Owner,
        Found,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (out, fresh) = (dir.path().join("out"), dir.path().join("fresh"));
        fs::create_dir(&fresh).unwrap();
        let owner = Owner::of_files_in(&fresh);
        let fresh = fs::symlink_metadata(&fresh).unwrap();
        let deferred = Deferred::new(true);
        for i in 0..300 {
            let rel = format!("f{}/{i:03}.rules", i % folders);
            fs::create_dir_all(out.join(&rel).parent().unwrap()).unwrap();
            fs::write(out.join(&rel), &rel).unwrap();
            assert!(deferred.record(&out, &rel, rel.as_bytes(), owner, None));
        }
        let found = deferred.stop().unwrap();
        (dir, out, fresh, owner, found)
    }

    /// Many files written long before the build are checked by their inode,
    /// size and times from several threads: any one of them replaced since
    /// it was compared (each in turn, wherever the walk meets it) means the
    /// output is not kept; as if compared after, it is kept again.
    #[test]
    fn every_compared_file_is_checked_again_among_many() {
        let (_dir, out, fresh, owner, mut found) = compared_files(3);
        // Trusted by their times: nothing is read again.
        found.since = i64::MAX;
        assert!(holds_exactly(&out, &fresh, &found, owner, None));
        for at in 0..found.matched.len() {
            let rel = found.matched[at].rel.clone();
            let was = found.matched[at].seen;
            // The same bytes in a new inode, renamed over the compared one.
            let other = out.join(format!("{rel}.new"));
            fs::write(&other, &rel).unwrap();
            fs::rename(&other, out.join(&rel)).unwrap();
            assert!(!holds_exactly(&out, &fresh, &found, owner, None), "{rel}");
            found.matched[at].seen = Seen::of(&fs::symlink_metadata(out.join(&rel)).unwrap());
            assert!(found.matched[at].seen != was, "{rel}");
            assert!(holds_exactly(&out, &fresh, &found, owner, None), "{rel}");
        }
    }

    /// Many recent files are read again from several threads: any one of
    /// them edited within its clock tick, first, in the middle or last,
    /// still means the output is not kept.
    #[test]
    fn every_recent_file_is_read_again_among_many() {
        let (_dir, out, fresh, owner, mut found) = compared_files(7);
        assert!(holds_exactly(&out, &fresh, &found, owner, None));
        for at in [0, 150, 299] {
            let rel = found.matched[at].rel.clone();
            let before = fs::read(out.join(&rel)).unwrap();
            let mut edited = before.clone();
            edited[0] ^= 1;
            fs::write(out.join(&rel), &edited).unwrap();
            // Times that did not move: those seen now stand for those seen then.
            found.matched[at].seen = Seen::of(&fs::symlink_metadata(out.join(&rel)).unwrap());
            assert!(!holds_exactly(&out, &fresh, &found, owner, None), "{rel}");
            fs::write(out.join(&rel), &before).unwrap();
            found.matched[at].seen = Seen::of(&fs::symlink_metadata(out.join(&rel)).unwrap());
            assert!(holds_exactly(&out, &fresh, &found, owner, None), "{rel}");
        }
    }
}
