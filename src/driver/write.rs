//! Atomic, durable output: every file goes into a temporary folder beside
//! `--out`, which replaces `--out` only when all of it was written. On any
//! error the previous output is untouched, and the temporary folder is
//! removed or, when the build began in the spare (below), given back as it.
//!
//! Durability is paid once, not per file: the files are written without
//! syncing, then one `syncfs` makes the whole new tree (contents, inodes and
//! directory entries) durable, the new tree is exchanged with the old one in
//! a single `renameat2(RENAME_EXCHANGE)`, and the parent folder is synced so
//! that the exchange itself survives a crash. After a crash `--out` holds the
//! old build or the new one, complete (see docs/cli.md, "The output folder").
//!
//! A file whose bytes the previous output already holds is hard-linked from
//! it instead of written: the old inode is durable already, only the new
//! folder entry is synced, and removing the old tree afterwards frees no
//! inode and no block (the most expensive part of replacing an output).
//! When every file matches (`report.json`, which holds the time, aside) and
//! the previous output holds nothing else, it is kept in place and made
//! durable, the report replaced by one rename (see `kept`).
//!
//! The previous output, once replaced, is not removed but kept beside
//! `--out` as the spare (`.<name>.seg-spare`), and the next build begins in
//! it: a file that changed is written over the spare's file of that name
//! instead of created, and the old tree is not unlinked, the two most
//! expensive steps of a rebuild in which every file changes. Whatever the
//! spare holds that the build did not put is removed before the sync, and a
//! name of the spare is written over only when it is a plain file with a
//! single name and this build's mode and owner (see `spare`), so the
//! exchanged tree holds exactly the new build, as it would new. The
//! temporary folder is locked (`flock`) while its build runs: one left by a
//! killed build is taken as the spare or removed by the next. A build that
//! fails gives the spare it began in back, whatever it wrote into it (the
//! next build treats it as any spare); `--out` is untouched. With
//! [`Spare::Remove`] (`seg build --no-spare`) no spare is kept: the build
//! still begins in one an earlier build left, but the tree it replaces (or,
//! when it fails or keeps `--out`, its own) is removed and the removal synced.

mod kept;
mod spare;

use seg_ir::{Artifact, Sink};
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

/// What writing the output took, phase by phase (`seg build -v`).
#[derive(Clone, Debug, Default)]
pub struct WriteStats {
    pub files: usize,
    pub bytes: u64,
    /// Files of the previous output with the same bytes, linked, not written.
    pub reused: usize,
    /// From the first file written to the last (streamed: while the targets render).
    pub write: Duration,
    /// Making the new tree durable.
    pub sync: Duration,
    /// Exchanging it with the old output and syncing the parent folder.
    pub swap: Duration,
    /// Removing the old output.
    pub remove: Duration,
    /// The previous output held exactly this build and was kept as it was.
    pub kept: bool,
    /// The build began in the spare (the output before the previous one).
    pub recycled: bool,
    /// No spare is kept (`--no-spare`): the old output was removed.
    pub no_spare: bool,
    /// Files of the spare written again in place (or found to hold these bytes).
    pub rewritten: usize,
    /// Files created anew.
    pub created: usize,
    /// Files and folders of the spare this build had no use for, removed.
    pub cleared: usize,
}

/// Whether the output a build replaces is kept beside `--out` as the spare,
/// for the next build to write over, or removed (`seg build --no-spare`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spare {
    Keep,
    Remove,
}

/// Replace the folder `out` with exactly `files` (paths relative to `out`).
pub fn write_atomically(
    out: &Path,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<WriteStats, String> {
    let staging = Staging::begin(out)?;
    let files: Vec<(&String, &Vec<u8>)> = files.iter().collect();
    in_parallel(&files, |(rel, contents)| staging.put(rel, contents))?;
    staging.commit().map_err(|e| e.message)
}

/// Why [`Staging::commit`] failed, and whether `--out` holds the new build
/// all the same (a failure after the exchange: syncing its folder, removing
/// the previous output), so that nobody is told nothing was written.
#[derive(Debug)]
pub struct CommitError {
    pub message: String,
    pub replaced: bool,
}

impl CommitError {
    fn replaced(message: String) -> CommitError {
        CommitError {
            message,
            replaced: true,
        }
    }
}

impl From<String> for CommitError {
    fn from(message: String) -> CommitError {
        CommitError {
            message,
            replaced: false,
        }
    }
}

/// A new output tree, written beside `--out` as its files come (from any
/// thread, in any order), that replaces `--out` on [`Staging::commit`].
/// Dropped without a commit (a failed build, an error), `--out` stays as it
/// was, and the tree is removed, or given back as the spare when it began
/// as one and a spare is kept.
pub struct Staging {
    out: PathBuf,
    tmp: PathBuf,
    stamp: String,
    /// The previous output, checked by `guard_existing`: its unchanged files are reused.
    previous: Option<PathBuf>,
    /// Folders of the new tree made so far, relative to it.
    folders: Mutex<HashSet<String>>,
    /// Folders of the previous output found to be folders, not links.
    old_folders: Mutex<HashSet<String>>,
    /// The failure of the first file in path order, whatever the threads' timing.
    first_error: Mutex<Option<(String, String)>>,
    files: AtomicUsize,
    bytes: AtomicU64,
    reused: AtomicUsize,
    began: Instant,
    /// Nanoseconds after `began` at which the first file began and the last ended.
    first_file: AtomicU64,
    last_file: AtomicU64,
    /// Files found unchanged, linked only once one differs.
    deferred: kept::Deferred,
    /// The mode and owner this build gives a file it writes.
    owner: Owner,
    /// A folder this build made: the mode, owner and file system a folder
    /// of the spare must have to be used.
    fresh: fs::Metadata,
    /// Where the previous output goes once replaced, for the next build.
    spare: PathBuf,
    /// Whether it goes there, or is removed.
    keep: Spare,
    /// The temporary tree began as the spare: its names may be taken.
    recycled: bool,
    /// Files put so far: a path given twice is refused.
    written: Mutex<HashSet<String>>,
    /// The spare's files not taken yet by [`Staging::take_unput`], once listed.
    unput: Mutex<Option<Vec<String>>>,
    rewritten: AtomicUsize,
    created: AtomicUsize,
    cleared: AtomicUsize,
    /// The temporary folder, locked while the build runs (see `spare`).
    _lock: Option<fs::File>,
    committed: bool,
}

impl Staging {
    /// Check that `out` may be replaced (refusing a folder seg did not
    /// write) and create the temporary tree beside it; nothing else is
    /// written before that check. The replaced output becomes the spare.
    pub fn begin(out: &Path) -> Result<Staging, String> {
        Staging::begin_with(out, Spare::Keep)
    }

    /// [`Staging::begin`], the replaced output kept as the spare or removed.
    pub fn begin_with(out: &Path, keep: Spare) -> Result<Staging, String> {
        let out = absolute(out)?;
        // A link to a folder: that folder is the output (the guard reads it
        // too). Exchanged, the link itself would end up under the temporary
        // name, its removal fail, and the build report an error after all.
        let out = match fs::symlink_metadata(&out) {
            Ok(m) if m.file_type().is_symlink() => fs::canonicalize(&out)
                .map_err(|e| format!("cannot follow the link `{}`: {e}", out.display()))?,
            _ => out,
        };
        let parent = out
            .parent()
            .ok_or_else(|| format!("`{}` has no parent folder", out.display()))?;
        let name = out
            .file_name()
            .ok_or_else(|| format!("`{}` is not a folder name", out.display()))?;
        guard_existing(&out)?;
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
        let name = name.to_string_lossy();
        let stamp = format!("{}-{}", std::process::id(), unique());
        let tmp = parent.join(format!(".{name}.seg-tmp-{stamp}"));
        let spare = parent.join(format!(".{name}.seg-spare"));
        // The tree of a build that was killed: its lock went with it.
        spare::reclaim_stale(parent, &format!(".{name}.seg-tmp-"), &spare);
        // Made and locked under another name, then renamed: a folder under
        // the temporary names is locked as long as its build runs.
        let new = parent.join(format!(".{name}.seg-new-{stamp}"));
        fs::create_dir(&new).map_err(|e| format!("cannot create `{}`: {e}", new.display()))?;
        let made = (|| {
            let owner = Owner::of_files_in(&new);
            let fresh = fs::symlink_metadata(&new)
                .map_err(|e| format!("cannot read `{}`: {e}", new.display()))?;
            let recycled = spare::claim(&spare, &new, &fresh)?;
            // Held for a moment by whoever gave the spare back: wait, never
            // run unlocked (a build at work could take an unlocked tree as stale).
            let lock = if cfg!(unix) {
                let held = spare::lock_waiting(&new, Duration::from_secs(5))
                    .ok_or_else(|| format!("cannot lock `{}`", new.display()))?;
                Some(held)
            } else {
                None
            };
            fs::rename(&new, &tmp)
                .map_err(|e| format!("cannot create `{}`: {e}", tmp.display()))?;
            Ok((owner, fresh, recycled, lock))
        })();
        let (owner, fresh, recycled, lock) = made.inspect_err(|_: &String| {
            let _ = spare::remove_any(&new);
        })?;
        let previous = out.is_dir().then(|| out.clone());
        Ok(Staging {
            _lock: lock,
            deferred: kept::Deferred::new(previous.is_some()),
            owner,
            fresh,
            spare,
            keep,
            recycled,
            written: Mutex::new(HashSet::new()),
            unput: Mutex::new(None),
            rewritten: AtomicUsize::new(0),
            created: AtomicUsize::new(0),
            cleared: AtomicUsize::new(0),
            previous,
            out,
            tmp,
            stamp,
            folders: Mutex::new(HashSet::new()),
            old_folders: Mutex::new(HashSet::new()),
            first_error: Mutex::new(None),
            files: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            reused: AtomicUsize::new(0),
            began: Instant::now(),
            first_file: AtomicU64::new(u64::MAX),
            last_file: AtomicU64::new(0),
            committed: false,
        })
    }

    /// Write one file (`rel` relative to the output), creating its folders,
    /// or link it from the previous output when that holds the same bytes.
    /// A failure is also kept for [`Staging::commit`].
    pub fn put(&self, rel: &str, contents: &[u8]) -> Result<(), String> {
        let began = self.since_began();
        let first = self
            .written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(rel.to_string());
        // Given twice, a path would be written over (the spare's files are
        // written in place) or linked twice: refused.
        let result = if first {
            self.place(rel, contents)
        } else {
            Err(format!(
                "cannot write `{rel}`: the build gave this path twice"
            ))
        };
        self.files.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(contents.len() as u64, Ordering::Relaxed);
        self.first_file.fetch_min(began, Ordering::Relaxed);
        self.last_file
            .fetch_max(self.since_began(), Ordering::Relaxed);
        if let Err(e) = &result {
            self.failed(rel, e);
        }
        result
    }

    /// Record an unchanged file while no file differed; otherwise link it
    /// from the previous output or write it.
    fn place(&self, rel: &str, contents: &[u8]) -> Result<(), String> {
        if let Some(old) = &self.previous
            && self.deferred.deferring()
        {
            if self.real_folders(old, rel)
                && self
                    .deferred
                    .record(old, rel, contents, self.owner, self.twin(rel).as_deref())
            {
                self.reused.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            if rel == REPORT && self.deferred.first_change(rel) {
                self.folders_for(rel)?;
                return self.write(rel, contents);
            }
            // A failure of a file matched earlier is kept for `commit`.
            self.link_deferred();
        }
        self.folders_for(rel)?;
        let path = self.tmp.join(rel);
        if self.previous.as_ref().is_some_and(|old| {
            self.real_folders(old, rel)
                && reuse(&old.join(rel), &path, contents, self.owner, self.clearing())
        }) {
            self.reused.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.write(rel, contents)
    }

    /// Write `rel` into the new tree: over the spare's file of that name
    /// when it may be written in place (see [`spare::rewrite`]), else as a
    /// new file, whatever the spare held there removed first.
    fn write(&self, rel: &str, contents: &[u8]) -> Result<(), String> {
        let path = self.tmp.join(rel);
        let failed = |e: std::io::Error| format!("cannot write `{rel}`: {e}");
        // The spare's file of this name, else one of its files this build
        // has not put, renamed here: an inode written over, not created.
        if self.recycled
            && (self.over_spare(&path, contents).map_err(failed)?
                || (self.take_unput(rel) && self.over_spare(&path, contents).map_err(failed)?))
        {
            return Ok(());
        }
        write_new(&path, contents).map_err(failed)?;
        self.created.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Whether the spare's file at `path` was written over with `contents`
    /// (see [`spare::rewrite`]); what was in the way is removed.
    fn over_spare(&self, path: &Path, contents: &[u8]) -> std::io::Result<bool> {
        match spare::rewrite(path, contents, self.owner)? {
            spare::Found::Used => {
                self.rewritten.fetch_add(1, Ordering::Relaxed);
                return Ok(true);
            }
            spare::Found::Cleared(n) => {
                self.cleared.fetch_add(n, Ordering::Relaxed);
            }
            spare::Found::Absent => {}
        }
        Ok(false)
    }

    /// Rename a file of the spare that this build has not put to `rel`
    /// (free: nothing is there): whether one was. Under the lock of the
    /// paths put, so that no file is taken while, or after, it is put; one
    /// taken before is put as a new file. The files are listed once, at the
    /// first need.
    fn take_unput(&self, rel: &str) -> bool {
        let written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let mut unput = self.unput.lock().unwrap_or_else(|p| p.into_inner());
        let unput = unput.get_or_insert_with(|| spare::files(&self.tmp));
        // Folders made are not files to take, and none is made meanwhile.
        let made = self.folders.lock().unwrap_or_else(|p| p.into_inner());
        let to = self.tmp.join(rel);
        while let Some(file) = unput.pop() {
            if !written.contains(&file)
                && !made.contains(&file)
                && fs::symlink_metadata(self.tmp.join(&file)).is_ok_and(|m| m.is_file())
                && spare::rename_free(&self.tmp.join(&file), &to)
            {
                return true;
            }
        }
        false
    }

    /// The name `rel` has in the spare, when the tree began as it: the one
    /// other name a file of the previous output may have and still be
    /// shared (see [`open_plain`]).
    fn twin(&self, rel: &str) -> Option<PathBuf> {
        self.recycled.then(|| self.tmp.join(rel))
    }

    /// The count of the spare's names removed, when the tree began as the
    /// spare: a name in the way of a link may then be removed.
    fn clearing(&self) -> Option<&AtomicUsize> {
        self.recycled.then_some(&self.cleared)
    }

    /// Whether the folders above `rel` in the previous output are folders,
    /// not links to folders elsewhere whose files must not be shared.
    fn real_folders(&self, old: &Path, rel: &str) -> bool {
        // Parents first: a folder is remembered once every folder above it was checked.
        let ends = rel.match_indices('/').map(|(i, _)| i);
        for up in ends.map(|i| &rel[..i]) {
            let seen = self.old_folders.lock().unwrap_or_else(|p| p.into_inner());
            if seen.contains(up) {
                continue;
            }
            drop(seen);
            if !fs::symlink_metadata(old.join(up)).is_ok_and(|m| m.is_dir()) {
                return false;
            }
            let mut seen = self.old_folders.lock().unwrap_or_else(|p| p.into_inner());
            seen.insert(up.to_string());
        }
        true
    }

    /// Stop deferring: link the files matched so far into the new tree,
    /// each read again first, from several threads (they were read and
    /// hashed on the threads that put them). Every file is tried; a failure
    /// is kept for `commit` (the first in path order, as any other).
    fn link_deferred(&self) {
        let Some(old) = &self.previous else {
            return;
        };
        let matched = self.deferred.stop().map(|f| f.matched).unwrap_or_default();
        let _ = in_parallel(&matched, |m| {
            let linked = self.folders_for(m.rel()).and_then(|()| {
                m.link(
                    &old.join(m.rel()),
                    &self.tmp.join(m.rel()),
                    self.owner,
                    self.clearing(),
                    |bytes| self.write(m.rel(), bytes),
                )
            });
            match linked {
                Ok(true) => {}
                Ok(false) => {
                    self.reused.fetch_sub(1, Ordering::Relaxed);
                }
                Err(e) => self.failed(m.rel(), &e),
            }
            // Not an error here: the other files are linked all the same.
            Ok(())
        });
    }

    /// Keep the failure of the first file in path order.
    fn failed(&self, rel: &str, e: &str) {
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.as_ref().is_none_or(|(at, _)| rel < at.as_str()) {
            *first = Some((rel.to_string(), e.to_string()));
        }
    }

    /// Run `f` with a [`Sink`] whose files are written by [`FILE_THREADS`]
    /// threads as they come: whoever hands a file over only waits when
    /// [`QUEUED_FILES`] are already waiting, so memory holds a few files,
    /// not the output.
    pub fn writing<R>(&self, f: impl FnOnce(&dyn Sink) -> R) -> R {
        let (queue, files) = std::sync::mpsc::sync_channel::<Artifact>(QUEUED_FILES);
        let files = Mutex::new(files);
        std::thread::scope(|scope| {
            for _ in 0..FILE_THREADS {
                scope.spawn(|| {
                    loop {
                        let next = files.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok(file) = next else { break };
                        // A failure is kept for `commit`.
                        let _ = self.put(&file.path, &file.contents);
                    }
                });
            }
            // Dropped before the scope waits for the writers, even on a panic.
            let queue = Queue(queue);
            f(&queue)
        })
    }

    /// Make the new tree durable and exchange it with `--out` (see the
    /// module doc); the error of the first failed file, if any, instead.
    pub fn commit(mut self) -> Result<WriteStats, CommitError> {
        if let Some(e) = self.first_error() {
            return Err(e.into());
        }
        if let Some(stats) = self.keep()? {
            return Ok(stats);
        }
        self.link_deferred();
        if let Some(e) = self.first_error() {
            return Err(e.into());
        }
        let began = Instant::now();
        if self.recycled {
            // Whatever of the spare this build did not put must not reach `--out`.
            let written = self.written.lock().unwrap_or_else(|p| p.into_inner());
            let folders = self.folders.lock().unwrap_or_else(|p| p.into_inner());
            let swept = spare::sweep(&self.tmp, &written, &folders)
                .map_err(|e| format!("cannot clear `{}`: {e}", self.tmp.display()))?;
            self.cleared.fetch_add(swept, Ordering::Relaxed);
        }
        let mut stats = self.stats(false);
        sync_tree(&self.tmp)?;
        // The sweep counts as part of making the tree ready.
        stats.sync = began.elapsed();
        let spare = (self.keep == Spare::Keep).then_some(self.spare.as_path());
        swap_in(&self.tmp, &self.out, spare, &self.stamp, &mut stats)?;
        self.committed = true;
        Ok(stats)
    }

    fn first_error(&self) -> Option<String> {
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        first.take().map(|(_, e)| e)
    }

    /// When every file but the report matched the previous output and it
    /// holds nothing else, keep it: it is the new build but for the report,
    /// which is made durable in the new tree, then renamed over the old one
    /// (see `kept`). The whole output is made durable too, in case it was
    /// not (a copy, say); the temporary folder, left with no file, goes.
    fn keep(&mut self) -> Result<Option<WriteStats>, CommitError> {
        let Some(old) = &self.previous else {
            return Ok(None);
        };
        let Some(found) = self.deferred.stop() else {
            return Ok(None);
        };
        let twins = self.recycled.then_some(self.tmp.as_path());
        // Held while it is checked and the report renamed into it: no other
        // build exchanges `--out` meanwhile (see `swap_in`), so the report
        // goes into the tree that was checked, not into another build's.
        let held = spare::lock_named(old);
        if (cfg!(unix) && held.is_none())
            || !kept::holds_exactly(old, &self.fresh, &found, self.owner, twins)
        {
            self.deferred = kept::Deferred::resume(found);
            return Ok(None);
        }
        let mut stats = self.stats(true);
        let began = Instant::now();
        // The new tree is on the same file system: one sync for both.
        sync_tree(old)?;
        #[cfg(not(target_os = "linux"))]
        sync_tree(&self.tmp)?;
        stats.sync = began.elapsed();
        let began = Instant::now();
        if let Some(rel) = &found.changed {
            let to = old.join(rel);
            fs::rename(self.tmp.join(rel), &to)
                .map_err(|e| format!("cannot move `{rel}` into `{}`: {e}", old.display()))?;
            sync_folder(to.parent().unwrap_or(old)).map_err(CommitError::replaced)?;
        }
        stats.swap = began.elapsed();
        drop(held);
        self.committed = true;
        let began = Instant::now();
        // The spare claimed goes back, as it is; a folder made new goes, and
        // so does the spare when none is kept.
        let given_back =
            self.recycled && self.keep == Spare::Keep && spare::give_back(&self.tmp, &self.spare);
        if !given_back {
            remove_tree(&self.tmp).map_err(|e| {
                CommitError::replaced(format!("cannot remove `{}`: {e}", self.tmp.display()))
            })?;
            if self.keep == Spare::Remove {
                sync_folder(self.parent()).map_err(CommitError::replaced)?;
            }
        }
        stats.remove = began.elapsed();
        Ok(Some(stats))
    }

    /// The figures so far.
    fn stats(&self, kept: bool) -> WriteStats {
        WriteStats {
            files: self.files.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
            write: self.write_time(),
            kept,
            recycled: self.recycled,
            no_spare: self.keep == Spare::Remove,
            rewritten: self.rewritten.load(Ordering::Relaxed),
            created: self.created.load(Ordering::Relaxed),
            cleared: self.cleared.load(Ordering::Relaxed),
            ..WriteStats::default()
        }
    }

    fn write_time(&self) -> Duration {
        let first = self.first_file.load(Ordering::Relaxed);
        let last = self.last_file.load(Ordering::Relaxed);
        Duration::from_nanos(last.saturating_sub(first))
    }

    fn since_began(&self) -> u64 {
        u64::try_from(self.began.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The folder that holds `--out`, the spare and the temporary trees.
    fn parent(&self) -> &Path {
        self.out.parent().unwrap_or(Path::new("/"))
    }

    /// Create the folders above `rel` that are not made yet, parents first.
    fn folders_for(&self, rel: &str) -> Result<(), String> {
        let Some((dir, _)) = rel.rsplit_once('/') else {
            return Ok(());
        };
        let mut made = self.folders.lock().unwrap_or_else(|p| p.into_inner());
        if made.contains(dir) {
            return Ok(());
        }
        let mut missing = vec![dir];
        let mut at = dir;
        while let Some((up, _)) = at.rsplit_once('/') {
            if made.contains(up) {
                break;
            }
            missing.push(up);
            at = up;
        }
        for dir in missing.into_iter().rev() {
            let path = self.tmp.join(dir);
            if self.recycled {
                let found = spare::adopt_folder(&path, &self.fresh)
                    .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
                match found {
                    spare::Found::Used => {
                        made.insert(dir.to_string());
                        continue;
                    }
                    spare::Found::Cleared(n) => {
                        self.cleared.fetch_add(n, Ordering::Relaxed);
                    }
                    spare::Found::Absent => {}
                }
            }
            fs::create_dir(&path)
                .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
            made.insert(dir.to_string());
        }
        Ok(())
    }
}

impl Drop for Staging {
    /// A build that failed: `--out` is as it was. The spare it began in goes
    /// back, with whatever this build wrote into it (it is swept and checked
    /// like any spare by the next build, and never was `--out`), still
    /// locked meanwhile; a folder made new goes, and so does the spare when
    /// none is kept.
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let given_back =
            self.recycled && self.keep == Spare::Keep && spare::give_back(&self.tmp, &self.spare);
        if !given_back {
            let _ = remove_tree(&self.tmp);
            if self.keep == Spare::Remove {
                let _ = sync_folder(self.parent());
            }
        }
    }
}

/// Without a spare (`seg build --no-spare`), for a build that stops before
/// it writes anything (policy errors): the spare an earlier build left beside
/// `out` goes all the same, claimed, removed and the removal synced as by a
/// build that fails. Nothing is done when there is no spare, or when `out`
/// may not be replaced (a folder seg did not write).
pub fn remove_spare(out: &Path) {
    let Ok(out) = absolute(out) else { return };
    let out = match fs::symlink_metadata(&out) {
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(&out) {
            Ok(named) => named,
            Err(_) => return,
        },
        _ => out,
    };
    let (Some(parent), Some(name)) = (out.parent(), out.file_name()) else {
        return;
    };
    let spare = parent.join(format!(".{}.seg-spare", name.to_string_lossy()));
    if fs::symlink_metadata(spare).is_ok() {
        drop(Staging::begin_with(&out, Spare::Remove));
    }
}

/// Files handed over to [`Staging::writing`]'s threads.
struct Queue(SyncSender<Artifact>);

impl Sink for Queue {
    fn put(&self, artifact: Artifact) {
        // The writers stop only once the queue is dropped.
        let _ = self.0.send(artifact);
    }
}

/// The build's report, which holds its time: the one file an otherwise
/// unchanged output may differ in and still be kept (see `kept`).
const REPORT: &str = "report.json";

/// Files waiting for a writer thread at most (see [`Staging::writing`]).
const QUEUED_FILES: usize = 64;

/// Replace (or create) one file with `contents`: written beside it under a
/// temporary name, then renamed over it, so a reader sees the old file or the
/// new one, never a part. Creates missing parent folders.
pub fn replace_file(path: &Path, contents: &[u8]) -> Result<(), String> {
    let path = absolute(path)?;
    let dir = path
        .parent()
        .ok_or_else(|| format!("`{}` has no parent folder", path.display()))?;
    let name = path
        .file_name()
        .ok_or_else(|| format!("`{}` is not a file name", path.display()))?;
    fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.seg-tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        unique()
    ));
    let written = (|| {
        let mut f = fs::File::create(&tmp).map_err(|e| e.to_string())?;
        f.write_all(contents).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        fs::rename(&tmp, &path).map_err(|e| e.to_string())
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(format!("cannot write `{}`: {e}", path.display()));
    }
    Ok(())
}

/// `rel` (relative, `""` for the root itself) under `root`; the root as it
/// is, not `root/`, which would follow `root` when it is a link.
fn under(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// The relative path of `name` in the folder `rel` (`""` for the root).
fn child_of(rel: &str, name: String) -> String {
    if rel.is_empty() {
        name
    } else {
        format!("{rel}/{name}")
    }
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

/// Whether `old` (a file of the previous output) holds exactly `contents`;
/// then it becomes `new` too, as a hard link: no new inode, no data to write,
/// and removing the previous output later frees nothing. Any doubt (not a
/// plain file, another size, unreadable, a link the file system refuses)
/// answers no, and the file is written as usual.
fn reuse(
    old: &Path,
    new: &Path,
    contents: &[u8],
    owner: Owner,
    spare: Option<&AtomicUsize>,
) -> bool {
    let twin = spare.is_some().then_some(new);
    let Some((file, meta)) = open_plain(old, contents.len(), owner, twin) else {
        return false;
    };
    read_plain(&file, contents.len()).is_some_and(|bytes| bytes == contents)
        && link_same(old, new, &meta, spare)
}

/// Link `old` as `new` when that name still points at the file compared
/// through an open descriptor (`opened`, still open: its inode number cannot
/// pass to another file meanwhile). A rename between the comparison and the
/// link would otherwise put a file nobody compared into the new output.
/// With `spare` (the count of its names removed), `new` may be a name the
/// spare holds: the compared file already (it was unchanged two builds in a
/// row), kept; anything else, removed first.
fn link_same(old: &Path, new: &Path, opened: &fs::Metadata, spare: Option<&AtomicUsize>) -> bool {
    match (fs::hard_link(old, new), spare) {
        (Ok(()), _) => {}
        (Err(e), Some(cleared)) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if fs::symlink_metadata(new).is_ok_and(|m| m.is_file() && same_inode(&m, opened)) {
                return true;
            }
            match spare::remove_any(new) {
                Ok(n) => cleared.fetch_add(n, Ordering::Relaxed),
                Err(_) => return false,
            };
            if fs::hard_link(old, new).is_err() {
                return false;
            }
        }
        (Err(_), _) => return false,
    }
    let same = fs::symlink_metadata(new).is_ok_and(|m| same_inode(&m, opened));
    if !same {
        let _ = fs::remove_file(new);
    }
    same
}

#[cfg(unix)]
fn same_inode(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_inode(_: &fs::Metadata, _: &fs::Metadata) -> bool {
    false
}

/// `path` opened to read when it is a plain file with a single name (a file
/// with other names may be written through them, so it is not shared with
/// the new output), or whose one other name is `twin` (its name in the
/// spare, which seg never writes through: see `spare`), of `len` bytes: one
/// open that refuses a symbolic link and
/// never waits (a FIFO or a device in the folder must not block the build),
/// one `fstat` of what was opened. Its mode and owner must be those this build
/// gives a file (`owner`): a file made writable by others, say, is written anew.
#[cfg(target_os = "linux")]
fn open_plain(
    path: &Path,
    len: usize,
    owner: Owner,
    twin: Option<&Path>,
) -> Option<(fs::File, fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    let plain = meta.file_type().is_file()
        && meta.len() == len as u64
        && single_link(&meta, twin)
        && owner.fits(&meta);
    plain.then_some((file, meta))
}

/// See the Linux version; here the name is checked before it is opened.
#[cfg(not(target_os = "linux"))]
fn open_plain(
    path: &Path,
    len: usize,
    owner: Owner,
    twin: Option<&Path>,
) -> Option<(fs::File, fs::Metadata)> {
    let meta = fs::symlink_metadata(path).ok()?;
    let plain = meta.file_type().is_file()
        && meta.len() == len as u64
        && single_link(&meta, twin)
        && owner.fits(&meta);
    plain.then_some(())?;
    Some((fs::File::open(path).ok()?, meta))
}

/// The permissions and owner of a file this build writes: those of a folder
/// it made (the umask and the parent's group apply alike) without the
/// execute bits. `None` when that folder cannot be read: nothing fits then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owner(Option<(u32, u32, u32)>);

impl Owner {
    #[cfg(unix)]
    fn of_files_in(folder: &Path) -> Owner {
        use std::os::unix::fs::MetadataExt;
        Owner(
            fs::symlink_metadata(folder)
                .ok()
                .map(|m| (m.mode() & 0o666, m.uid(), m.gid())),
        )
    }

    #[cfg(not(unix))]
    fn of_files_in(_: &Path) -> Owner {
        Owner(None)
    }

    #[cfg(unix)]
    fn fits(self, meta: &fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.0 == Some((meta.mode() & 0o7777, meta.uid(), meta.gid()))
    }

    #[cfg(not(unix))]
    fn fits(self, _: &fs::Metadata) -> bool {
        false
    }
}

/// The first `len` bytes of `file` (its size, checked by [`open_plain`]).
fn read_plain(mut file: &fs::File, len: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut bytes = vec![0; len];
    file.read_exact(&mut bytes).ok()?;
    Some(bytes)
}

/// Create `path`, never open one already there, and write `contents`.
fn write_new(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    // The same path given twice would otherwise truncate the first one's
    // inode, which may be linked from the previous output.
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(contents))
}

/// Whether the file `m` has one name, or two of which the other is `twin`.
#[cfg(unix)]
fn single_link(m: &fs::Metadata, twin: Option<&Path>) -> bool {
    use std::os::unix::fs::MetadataExt;
    m.nlink() == 1
        || (m.nlink() == 2
            && twin.is_some_and(|t| fs::symlink_metadata(t).is_ok_and(|t| same_inode(&t, m))))
}

#[cfg(not(unix))]
fn single_link(_: &fs::Metadata, _: Option<&Path>) -> bool {
    false
}

/// Threads for file creation and removal. Creating and unlinking files
/// mostly waits in the file system (its journal), not on a core, so more
/// threads than cores overlap those waits.
const FILE_THREADS: usize = 8;

/// Run `f` on every item from [`FILE_THREADS`] threads; the error of the
/// first failing item in `items`' order, whatever the threads' timing.
fn in_parallel<T: Sync>(
    items: &[T],
    f: impl Fn(&T) -> Result<(), String> + Sync,
) -> Result<(), String> {
    use std::sync::atomic::AtomicBool;
    const CHUNK: usize = 32;
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<(usize, String)>> = Mutex::new(None);
    let threads = FILE_THREADS.min(items.len().div_ceil(CHUNK)).max(1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                    if start >= items.len() {
                        break;
                    }
                    let end = (start + CHUNK).min(items.len());
                    for (i, item) in items[start..end].iter().enumerate() {
                        if let Err(e) = f(item) {
                            failed.store(true, Ordering::Relaxed);
                            let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
                            if first.as_ref().is_none_or(|(at, _)| start + i < *at) {
                                *first = Some((start + i, e));
                            }
                            break;
                        }
                    }
                }
            });
        }
    });
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Remove a folder seg wrote (or began to write): its files from several
/// threads, then its folders, deepest first. Links are removed, not followed.
fn remove_tree(root: &Path) -> std::io::Result<usize> {
    let mut folders = vec![root.to_path_buf()];
    // Each file's folder (an index into `folders`) and name, in folder order.
    let mut files = Vec::new();
    let mut i = 0;
    while i < folders.len() {
        for entry in fs::read_dir(&folders[i])? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                folders.push(entry.path());
            } else {
                files.push((i, entry.file_name()));
            }
        }
        i += 1;
    }
    // A bounded number of folders open at once, whatever the tree's width.
    const OPEN_FOLDERS: usize = 64;
    let removed = files.len() + folders.len();
    let mut files = files.as_slice();
    for (round, paths) in folders.chunks(OPEN_FOLDERS).enumerate() {
        let first = round * OPEN_FOLDERS;
        let open: Vec<Folder> = paths.iter().map(Folder::open).collect::<Result<_, _>>()?;
        let here = files.partition_point(|(at, _)| *at < first + paths.len());
        in_parallel(&files[..here], |(at, name)| {
            let folder = &open[at - first];
            folder
                .remove_file(name)
                .map_err(|e| format!("{}: {e}", folder.path.join(name).display()))
        })
        .map_err(std::io::Error::other)?;
        files = &files[here..];
    }
    // Breadth-first order lists every folder after its parent.
    for dir in folders.iter().rev() {
        fs::remove_dir(dir)?;
    }
    Ok(removed)
}

/// A folder whose files are being removed. On Linux its entries are removed
/// relative to one open descriptor of it (`unlinkat`), so the kernel does
/// not walk the whole path again for every file.
struct Folder<'a> {
    path: &'a Path,
    #[cfg(target_os = "linux")]
    fd: fs::File,
}

impl<'a> Folder<'a> {
    #[cfg(target_os = "linux")]
    fn open(path: &'a PathBuf) -> std::io::Result<Folder<'a>> {
        use std::os::unix::fs::OpenOptionsExt;
        let fd = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(path)?;
        Ok(Folder { path, fd })
    }

    #[cfg(not(target_os = "linux"))]
    fn open(path: &'a PathBuf) -> std::io::Result<Folder<'a>> {
        Ok(Folder { path })
    }

    #[cfg(target_os = "linux")]
    fn remove_file(&self, name: &std::ffi::OsStr) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::CString::new(name.as_bytes())?;
        // SAFETY: `fd` is open while `self` lives; `name` is NUL-terminated.
        if unsafe { libc::unlinkat(self.fd.as_raw_fd(), name.as_ptr(), 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn remove_file(&self, name: &std::ffi::OsStr) -> std::io::Result<()> {
        fs::remove_file(self.path.join(name))
    }
}

/// Make the new tree durable before it becomes `--out`.
#[cfg(target_os = "linux")]
fn sync_tree(tmp: &Path) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    // One writeback of the file system that holds the tree, including every
    // folder entry, instead of a journal commit per file.
    let dir = fs::File::open(tmp).map_err(|e| format!("cannot open `{}`: {e}", tmp.display()))?;
    // SAFETY: `dir` is an open descriptor for the duration of the call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!("cannot sync `{}` to disk: {e}", tmp.display()));
    }
    Ok(())
}

/// Make the new tree durable before it becomes `--out`: every file, then
/// every folder (deepest first), so that each entry is on disk.
#[cfg(not(target_os = "linux"))]
fn sync_tree(tmp: &Path) -> Result<(), String> {
    let sync = |p: &Path| {
        fs::File::open(p)
            .and_then(|f| f.sync_all())
            .map_err(|e| format!("cannot sync `{}` to disk: {e}", p.display()))
    };
    let mut folders = vec![tmp.to_path_buf()];
    let mut i = 0;
    while i < folders.len() {
        let entries = fs::read_dir(&folders[i])
            .map_err(|e| format!("cannot read `{}`: {e}", folders[i].display()))?;
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                folders.push(entry.path());
            } else {
                sync(&entry.path())?;
            }
        }
        i += 1;
    }
    folders.iter().rev().try_for_each(|d| sync(d))
}

/// Exchange the new tree `tmp` with `out` (see the module doc); the old
/// output becomes `spare`, or is removed when there is none to keep.
fn swap_in(
    tmp: &Path,
    out: &Path,
    spare: Option<&Path>,
    stamp: &str,
    stats: &mut WriteStats,
) -> Result<(), CommitError> {
    let began = Instant::now();
    let parent = out.parent().unwrap_or(Path::new("/"));
    if !out.exists() {
        fs::rename(tmp, out)
            .map_err(|e| format!("cannot move the output into `{}`: {e}", out.display()))?;
        sync_folder(parent).map_err(CommitError::replaced)?;
        stats.swap = began.elapsed();
        return Ok(());
    }
    // The previous output goes under the temporary name: held, as that tree
    // was. Waited for: a build that keeps `--out` holds it while it checks
    // it and renames its report into it.
    let held = spare::lock_named(out);
    if cfg!(unix) && held.is_none() {
        return Err(format!("cannot lock `{}`", out.display()).into());
    }
    if exchange(tmp, out)? {
        // `tmp` now names the previous output.
        sync_folder(parent).map_err(CommitError::replaced)?;
        stats.swap = began.elapsed();
        let began = Instant::now();
        retire(tmp, spare)?;
        stats.remove = began.elapsed();
        return Ok(());
    }
    // No atomic exchange on this file system: two renames, with a moment
    // between them when `--out` is missing.
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let old = out.with_file_name(format!(".{name}.seg-old-{stamp}"));
    fs::rename(out, &old).map_err(|e| format!("cannot move the previous output aside: {e}"))?;
    if let Err(e) = fs::rename(tmp, out) {
        // Put the previous output back: it must survive a failed build.
        let _ = fs::rename(&old, out);
        return Err(format!("cannot move the output into `{}`: {e}", out.display()).into());
    }
    sync_folder(parent).map_err(CommitError::replaced)?;
    stats.swap = began.elapsed();
    let began = Instant::now();
    retire(&old, spare)?;
    stats.remove = began.elapsed();
    Ok(())
}

/// The previous output, replaced: kept as the spare for the next build to
/// write over, or removed when a spare is there already. Without a spare to
/// keep (`None`), removed, and the removal synced: after a crash it does not
/// come back.
fn retire(old: &Path, spare: Option<&Path>) -> Result<(), CommitError> {
    if spare.is_some_and(|spare| spare::give_back(old, spare)) {
        return Ok(());
    }
    remove_tree(old).map_err(|e| {
        CommitError::replaced(format!(
            "cannot remove the previous output `{}`: {e}",
            old.display()
        ))
    })?;
    if spare.is_none() {
        sync_folder(old.parent().unwrap_or(Path::new("/"))).map_err(CommitError::replaced)?;
    }
    Ok(())
}

/// Swap the two folders in one step; `Ok(false)` when the file system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> Result<bool, String> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| format!("`{}` contains a NUL byte", p.display()))
    };
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: both are NUL-terminated paths that live across the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => Ok(false),
        _ => Err(format!(
            "cannot move the output into `{}`: {e}",
            b.display()
        )),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> Result<bool, String> {
    Ok(false)
}

/// Sync a folder's entries (a rename into it) to disk.
fn sync_folder(dir: &Path) -> Result<(), String> {
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot sync `{}` to disk: {e}", dir.display()))
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
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
    }

    #[test]
    fn many_files_from_several_threads_hold_exactly_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut many = files(&[("report.json", "{\"tool\": \"seg\"}")]);
        for i in 0..700 {
            let path = format!("t{}/h{:03}/{}.rules", i % 3, i % 50, i);
            many.insert(path, format!("file {i}\n").repeat(i % 7).into_bytes());
        }
        write_atomically(&out, &many).unwrap();
        write_atomically(&out, &many).unwrap();
        let mut found = 0;
        for (rel, contents) in &many {
            assert_eq!(&fs::read(out.join(rel)).unwrap(), contents, "{rel}");
            found += 1;
        }
        assert_eq!(found, 701);
        assert_eq!(leftovers(dir.path()), ["out"]);
    }

    #[test]
    fn the_first_error_in_order_is_reported_whatever_the_timing() {
        let items: Vec<usize> = (0..1000).collect();
        for _ in 0..20 {
            let err = in_parallel(&items, |&i| {
                if i % 97 == 40 {
                    Err(format!("item {i}"))
                } else {
                    Ok(())
                }
            });
            // 40 is the first failing item; a thread may stop before later ones.
            assert_eq!(err, Err("item 40".to_string()));
        }
    }

    /// The names of `out`'s file `rel` but its name in the spare (the
    /// output before), which may be the same file.
    #[cfg(unix)]
    fn own_names(out: &Path, rel: &str) -> u64 {
        let (ino, names) = inode(&out.join(rel));
        let name = out.file_name().unwrap().to_string_lossy();
        let twin = out.with_file_name(format!(".{name}.seg-spare")).join(rel);
        names
            - u64::from(fs::symlink_metadata(twin).is_ok_and(|m| {
                use std::os::unix::fs::MetadataExt;
                m.ino() == ino
            }))
    }

    #[cfg(unix)]
    fn inode(p: &Path) -> (u64, u64) {
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(p).unwrap();
        (m.ino(), m.nlink())
    }

    #[cfg(unix)]
    #[test]
    fn unchanged_files_are_linked_from_the_previous_output_changed_ones_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = files(&[
            ("report.json", "{\"tool\": \"seg\"} 1"),
            ("t/same.rules", "same"),
            ("t/grown.rules", "old"),
            ("t/edited.rules", "abc"),
        ]);
        let stats = write_atomically(&out, &first).unwrap();
        assert_eq!(stats.reused, 0);
        let before: Vec<(u64, u64)> = ["t/same.rules", "t/grown.rules", "t/edited.rules"]
            .iter()
            .map(|p| inode(&out.join(p)))
            .collect();
        let second = files(&[
            ("report.json", "{\"tool\": \"seg\"} 2"),
            ("t/same.rules", "same"),
            ("t/grown.rules", "older"),
            ("t/edited.rules", "abd"),
            ("t/new.rules", "new"),
        ]);
        let stats = write_atomically(&out, &second).unwrap();
        assert_eq!(stats.reused, 1, "only t/same.rules has the same bytes");
        for (rel, contents) in &second {
            assert_eq!(&fs::read(out.join(rel)).unwrap(), contents, "{rel}");
        }
        // The same inode, whose only other name is the old tree's, now the spare.
        assert_eq!(inode(&out.join("t/same.rules")).0, before[0].0);
        assert_eq!(own_names(&out, "t/same.rules"), 1);
        assert_ne!(inode(&out.join("t/grown.rules")).0, before[1].0);
        assert_ne!(inode(&out.join("t/edited.rules")).0, before[2].0);
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_build_after_linking_leaves_the_previous_output_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let old = files(&[("report.json", "{\"tool\": \"seg\"}"), ("keep.txt", "old")]);
        write_atomically(&out, &old).unwrap();
        let kept = inode(&out.join("keep.txt"));
        // keep.txt is linked into the new tree before the write fails.
        let bad = files(&[
            ("report.json", "{\"tool\": \"seg\"}"),
            ("keep.txt", "old"),
            ("x", "file"),
            ("x/y", "under a file"),
        ]);
        assert!(write_atomically(&out, &bad).is_err());
        assert_eq!(fs::read_to_string(out.join("keep.txt")).unwrap(), "old");
        assert_eq!(inode(&out.join("keep.txt")), kept, "one name again");
        assert_eq!(leftovers(dir.path()), ["out"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_with_another_name_is_written_not_shared() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let same = files(&[("report.json", "{\"tool\": \"seg\"}"), ("a.rules", "a")]);
        write_atomically(&out, &same).unwrap();
        fs::hard_link(out.join("a.rules"), dir.path().join("elsewhere")).unwrap();
        let stats = write_atomically(&out, &same).unwrap();
        assert_eq!(stats.reused, 1, "report.json only");
        assert_ne!(
            inode(&out.join("a.rules")).0,
            inode(&dir.path().join("elsewhere")).0
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("elsewhere")).unwrap(),
            "a"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_link_or_a_fifo_in_the_previous_output_is_never_read_nor_shared() {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let same = files(&[
            ("report.json", "{\"tool\": \"seg\"}"),
            ("a.rules", "a"),
            ("b.rules", "b"),
        ]);
        write_atomically(&out, &same).unwrap();
        // a.rules becomes a link to a file outside with the same bytes,
        // b.rules a FIFO: opening it to read would wait for a writer.
        let outside = dir.path().join("outside");
        fs::write(&outside, "a").unwrap();
        fs::remove_file(out.join("a.rules")).unwrap();
        std::os::unix::fs::symlink(&outside, out.join("a.rules")).unwrap();
        fs::remove_file(out.join("b.rules")).unwrap();
        let fifo = CString::new(out.join("b.rules").as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path that lives across the call.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        let (target, files) = (out.clone(), same.clone());
        std::thread::spawn(move || tx.send(write_atomically(&target, &files)));
        let stats = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the build waited on the FIFO")
            .unwrap();
        assert_eq!(stats.reused, 1, "report.json only");
        for rel in ["a.rules", "b.rules"] {
            let m = fs::symlink_metadata(out.join(rel)).unwrap();
            assert!(m.file_type().is_file(), "{rel} is a plain file again");
            assert_eq!(&fs::read(out.join(rel)).unwrap(), &same[rel]);
        }
        assert_eq!(inode(&outside).1, 1, "the outside file got no other name");
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out", "outside"]);
    }

    #[test]
    fn a_previous_output_with_many_folders_is_removed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut wide = files(&[("report.json", "{\"tool\": \"seg\"}")]);
        // More folders than are held open at once, some nested, some empty of files.
        for i in 0..150 {
            wide.insert(format!("ns{i}/p.yaml"), vec![b'x'; i % 3]);
            wide.insert(format!("ns{i}/deep/q{i}.yaml"), format!("{i}").into_bytes());
        }
        write_atomically(&out, &wide).unwrap();
        let other = files(&[("report.json", "{\"tool\": \"seg\"} 2"), ("z", "z")]);
        write_atomically(&out, &other).unwrap();
        assert_eq!(leftovers(&out), ["report.json", "z"]);
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
        // And back: every file of the wide tree written again, the other tree gone.
        write_atomically(&out, &wide).unwrap();
        for (rel, contents) in &wide {
            assert_eq!(&fs::read(out.join(rel)).unwrap(), contents, "{rel}");
        }
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
    }

    #[test]
    fn refuses_to_replace_a_folder_seg_did_not_write() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        fs::create_dir(&project).unwrap();
        fs::write(project.join("seg.toml"), "x").unwrap();
        let err = write_atomically(&project, &files(&[("report.json", "{}")])).unwrap_err();
        assert!(err.contains("refusing to replace"), "{err}");
        assert!(project.join("seg.toml").exists());
        // Refused before anything is written: not even the temporary folder.
        assert!(Staging::begin(&project).is_err());
        assert_eq!(leftovers(dir.path()), ["project"]);
    }

    /// `items` handed to `staging` as a streamed build does: from one
    /// thread per `chunk`, each going through its share backwards.
    fn hand_over(staging: &Staging, items: &[(String, Vec<u8>)], chunk: usize) {
        staging.writing(|sink| {
            std::thread::scope(|scope| {
                for share in items.chunks(chunk) {
                    scope.spawn(move || {
                        for (path, contents) in share.iter().rev() {
                            sink.put(Artifact {
                                path: path.clone(),
                                contents: contents.clone(),
                            });
                        }
                    });
                }
            })
        });
    }

    /// Files handed over from several threads, in no order, as a streamed
    /// build does: the tree holds exactly them, unchanged ones linked.
    #[test]
    fn streamed_files_from_several_threads_make_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut all = files(&[("report.json", "{\"tool\": \"seg\"}")]);
        for i in 0..600 {
            let path = format!("t{}/h{:03}/{}.rules", i % 3, i % 40, i);
            all.insert(path, format!("file {i}\n").repeat(i % 5).into_bytes());
        }
        let list: Vec<(String, Vec<u8>)> = all.clone().into_iter().collect();
        for round in 0..2 {
            let staging = Staging::begin(&out).unwrap();
            // Deepest paths first: their folders are made on the way.
            hand_over(&staging, &list, 150);
            let stats = staging.commit().unwrap();
            assert_eq!(stats.files, all.len());
            assert_eq!(stats.reused, if round == 0 { 0 } else { all.len() });
        }
        for (rel, contents) in &all {
            assert_eq!(&fs::read(out.join(rel)).unwrap(), contents, "{rel}");
        }
        let mut found = 0;
        let mut folders = vec![out.clone()];
        while let Some(d) = folders.pop() {
            for e in fs::read_dir(d).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    folders.push(e.path());
                } else {
                    found += 1;
                }
            }
        }
        assert_eq!(found, all.len(), "no other file");
        assert_eq!(leftovers(dir.path()), ["out"]);
    }

    /// Several files fail, handed over in reverse order from several
    /// threads: the error is the first in path order, the tree is not used.
    #[test]
    fn a_streamed_write_reports_its_first_failure_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let old = files(&[("report.json", "{\"tool\": \"seg\"}"), ("keep.txt", "old")]);
        write_atomically(&out, &old).unwrap();
        let long = "n".repeat(300);
        let mut paths: Vec<String> = (0..200).map(|i| format!("f/{i:03}")).collect();
        paths.push(format!("f/050/{long}"));
        paths.push(format!("f/020{long}"));
        paths.push(format!("f/150{long}"));
        let items: Vec<(String, Vec<u8>)> = paths.into_iter().map(|p| (p, b"x".to_vec())).collect();
        for _ in 0..5 {
            let staging = Staging::begin(&out).unwrap();
            hand_over(&staging, &items, 51);
            let err = staging.commit().unwrap_err();
            assert!(!err.replaced);
            let err = err.message;
            assert!(err.starts_with("cannot write `f/020n"), "{err}");
            assert_eq!(fs::read_to_string(out.join("keep.txt")).unwrap(), "old");
            assert_eq!(leftovers(dir.path()), ["out"]);
        }
    }

    /// A build that fails after its files were streamed drops the staging:
    /// the previous output stays, linked files keep one name, no folder is left.
    #[cfg(unix)]
    #[test]
    fn a_dropped_staging_leaves_the_previous_output_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let old = files(&[
            ("report.json", "{\"tool\": \"seg\"}"),
            ("a/keep.txt", "old"),
        ]);
        write_atomically(&out, &old).unwrap();
        let kept = inode(&out.join("a/keep.txt"));
        {
            let staging = Staging::begin(&out).unwrap();
            staging.writing(|sink| {
                for (rel, contents) in files(&[("a/keep.txt", "old"), ("b/new.txt", "new")]) {
                    sink.put(Artifact {
                        path: rel,
                        contents,
                    });
                }
            });
            assert_eq!(leftovers(dir.path()).len(), 2, "the temporary tree");
        }
        assert_eq!(fs::read_to_string(out.join("a/keep.txt")).unwrap(), "old");
        assert!(!out.join("b").exists());
        assert_eq!(inode(&out.join("a/keep.txt")), kept, "one name again");
        assert_eq!(leftovers(dir.path()), ["out"]);
    }

    #[test]
    fn a_path_given_twice_fails_and_never_writes_into_the_previous_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let old = files(&[("report.json", "{\"tool\": \"seg\"}"), ("a.rules", "old")]);
        write_atomically(&out, &old).unwrap();
        let staging = Staging::begin(&out).unwrap();
        // The first is linked from the previous output; the second, other
        // bytes under the same path, must not be written through that link.
        staging.put("a.rules", b"old").unwrap();
        let second = staging.put("a.rules", b"new");
        assert!(second.is_err(), "{second:?}");
        assert!(staging.commit().is_err(), "the build is refused");
        assert_eq!(fs::read_to_string(out.join("a.rules")).unwrap(), "old");
        assert_eq!(leftovers(dir.path()), ["out"]);
    }

    /// The output folder's identity and its files' inodes, to tell a kept
    /// output from a replaced one.
    #[cfg(unix)]
    fn identity(out: &Path, rels: &[&str]) -> Vec<(u64, u64)> {
        std::iter::once(inode(out))
            .chain(rels.iter().map(|r| inode(&out.join(r))))
            .collect()
    }

    #[cfg(unix)]
    /// A build of `files` over `out`, every file handed over, not committed.
    fn staged(out: &Path, files: &BTreeMap<String, Vec<u8>>) -> Staging {
        let staging = Staging::begin(out).unwrap();
        for (rel, contents) in files {
            staging.put(rel, contents).unwrap();
        }
        staging
    }

    fn estate() -> BTreeMap<String, Vec<u8>> {
        files(&[
            ("report.json", "{\"tool\": \"seg\"}"),
            ("iptables/a.rules", "a"),
            ("iptables/b.rules", "bb"),
            ("k8s/ns/deep/p.yaml", "p"),
        ])
    }

    /// A rebuild with nothing changed leaves `--out` itself in place: no
    /// link, no exchange, no removal; the folder and every file the same.
    #[cfg(unix)]
    #[test]
    fn an_unchanged_rebuild_keeps_the_previous_output_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let all = estate();
        let rels: Vec<&str> = all.keys().map(String::as_str).collect();
        assert!(!write_atomically(&out, &all).unwrap().kept);
        let before = identity(&out, &rels);
        for _ in 0..2 {
            let stats = write_atomically(&out, &all).unwrap();
            assert!(stats.kept, "the previous output is this build");
            assert_eq!((stats.files, stats.reused), (4, 4));
            assert_eq!(identity(&out, &rels), before);
            assert_eq!(leftovers(dir.path()), ["out"]);
        }
        // Streamed from several threads in no order: the same.
        let list: Vec<(String, Vec<u8>)> = all.clone().into_iter().collect();
        let staging = Staging::begin(&out).unwrap();
        hand_over(&staging, &list, 1);
        assert!(staging.commit().unwrap().kept);
        assert_eq!(identity(&out, &rels), before);
        assert_eq!(leftovers(dir.path()), ["out"]);
    }

    /// A rebuild that differs only in its report (its time) keeps the
    /// output folder and its files; the report is replaced by one rename.
    #[cfg(unix)]
    #[test]
    fn a_rebuild_with_only_a_new_report_replaces_it_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut all = estate();
        let rels = ["iptables/a.rules", "iptables/b.rules", "k8s/ns/deep/p.yaml"];
        write_atomically(&out, &all).unwrap();
        let before = identity(&out, &rels);
        let report = inode(&out.join("report.json")).0;
        all.insert(
            "report.json".to_string(),
            b"{\"tool\": \"seg\", \"now\": 2}".to_vec(),
        );
        let stats = write_atomically(&out, &all).unwrap();
        assert!(stats.kept);
        assert_eq!((stats.files, stats.reused), (4, 3));
        assert_eq!(identity(&out, &rels), before);
        assert_ne!(inode(&out.join("report.json")).0, report);
        for (rel, contents) in &all {
            assert_eq!(&fs::read(out.join(rel)).unwrap(), contents, "{rel}");
        }
        assert_eq!(leftovers(dir.path()), ["out"]);
        // Any other file that differs: rebuilt, the report too.
        all.insert(
            "report.json".to_string(),
            b"{\"tool\": \"seg\", \"now\": 3}".to_vec(),
        );
        all.insert("k8s/ns/deep/p.yaml".to_string(), b"q".to_vec());
        let stats = write_atomically(&out, &all).unwrap();
        assert!(!stats.kept);
        assert_ne!(inode(&out).0, before[0].0);
        for (rel, contents) in &all {
            assert_eq!(&fs::read(out.join(rel)).unwrap(), contents, "{rel}");
        }
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
    }

    /// Build `all` over a previous output of `all` spoiled by `spoil`:
    /// the output is rebuilt (a new folder) and holds exactly `all`.
    #[cfg(unix)]
    fn rebuilt_after(spoil: impl FnOnce(&Path)) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let all = estate();
        write_atomically(&out, &all).unwrap();
        spoil(&out);
        let folder = inode(&out).0;
        let stats = write_atomically(&out, &all).unwrap();
        assert!(!stats.kept);
        assert_ne!(inode(&out).0, folder, "a new output folder");
        let mut found = Vec::new();
        let mut todo = vec![out.clone()];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(d).unwrap().flatten() {
                let t = fs::symlink_metadata(e.path()).unwrap().file_type();
                if t.is_dir() {
                    todo.push(e.path());
                } else {
                    assert!(t.is_file(), "{:?} is a plain file", e.path());
                    let rel = e
                        .path()
                        .strip_prefix(&out)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    assert_eq!(fs::read(e.path()).unwrap(), all[&rel], "{rel}");
                    assert_eq!(own_names(&out, &rel), 1, "{rel}: one name but the spare's");
                    found.push(rel);
                }
            }
        }
        found.sort();
        assert_eq!(found, all.keys().cloned().collect::<Vec<_>>());
        assert!(!out.join("k8s/empty").exists());
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out", "outside"]);
    }

    #[cfg(unix)]
    fn outside(out: &Path) -> PathBuf {
        let p = out.parent().unwrap().join("outside");
        fs::create_dir(&p).unwrap();
        p
    }

    #[cfg(unix)]
    #[test]
    fn a_modified_extra_missing_or_foreign_file_rebuilds_the_output() {
        // Modified: same length, other bytes.
        rebuilt_after(|out| {
            outside(out);
            fs::write(out.join("iptables/b.rules"), "bc").unwrap();
        });
        // Extra file, extra empty folder, missing file.
        rebuilt_after(|out| {
            outside(out);
            fs::write(out.join("iptables/c.rules"), "c").unwrap();
        });
        rebuilt_after(|out| {
            outside(out);
            fs::create_dir(out.join("k8s/empty")).unwrap();
        });
        rebuilt_after(|out| {
            outside(out);
            fs::remove_file(out.join("k8s/ns/deep/p.yaml")).unwrap();
        });
        // A file with another name (written through it, it would change the output).
        rebuilt_after(|out| {
            let o = outside(out);
            fs::hard_link(out.join("iptables/a.rules"), o.join("a")).unwrap();
        });
        // A file replaced by a link to a file outside with the same bytes.
        rebuilt_after(|out| {
            let o = outside(out);
            fs::write(o.join("a"), "a").unwrap();
            fs::remove_file(out.join("iptables/a.rules")).unwrap();
            std::os::unix::fs::symlink(o.join("a"), out.join("iptables/a.rules")).unwrap();
        });
        // A folder replaced by a link to a folder outside with the same files.
        rebuilt_after(|out| {
            let o = outside(out);
            fs::rename(out.join("k8s/ns/deep"), o.join("deep")).unwrap();
            std::os::unix::fs::symlink(o.join("deep"), out.join("k8s/ns/deep")).unwrap();
        });
        // A folder others may write into.
        rebuilt_after(|out| {
            use std::os::unix::fs::PermissionsExt;
            outside(out);
            fs::set_permissions(out.join("iptables"), fs::Permissions::from_mode(0o777)).unwrap();
        });
    }

    /// A file of the previous output edited in place after it was compared,
    /// to the same size: the kept output would hold the edit under this
    /// build's report. Its times tell (the clock's tick is coarse: wait one).
    #[cfg(unix)]
    #[test]
    fn a_file_edited_in_place_during_the_build_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let all = estate();
        write_atomically(&out, &all).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let staging = staged(&out, &all);
        let a = out.join("iptables/a.rules");
        let before = inode(&a);
        fs::write(&a, "x").unwrap();
        assert_eq!(inode(&a), before, "edited in place");
        let result = staging.commit().map(|s| s.kept);
        let now = fs::read_to_string(&a).unwrap();
        assert!(
            result.is_err(),
            "the build said {result:?} with {now:?} in --out for this build's \"a\""
        );
    }

    /// The previous output cannot be removed after the exchange (a spare is
    /// there already, and a file in it is immutable, which stops root too):
    /// the error says `--out` holds the
    /// new build, since it does, instead of letting anyone say nothing was written.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_failure_after_the_exchange_says_the_output_was_replaced() {
        use std::process::Command;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write_atomically(&out, &estate()).unwrap();
        let stuck = out.join("iptables/stuck.rules");
        fs::write(&stuck, "s").unwrap();
        let immutable = |flag: &str, path: &Path| {
            Command::new("chattr")
                .arg(flag)
                .arg(path)
                .status()
                .is_ok_and(|s| s.success())
        };
        assert!(
            immutable("+i", &stuck),
            "chattr +i failed: this test needs root and a file system with file flags"
        );
        let result = Staging::begin(&out).and_then(|staging| {
            for (rel, contents) in &estate() {
                staging.put(rel, contents)?;
            }
            // Another build gave a spare back meanwhile: the previous output
            // cannot become the spare, and is removed.
            let other = dir.path().join(".out.seg-spare");
            fs::create_dir(&other).unwrap();
            fs::write(other.join("x"), "x").unwrap();
            Ok(staging.commit())
        });
        // Let the temporary folder go before asserting anything.
        for name in leftovers(dir.path()) {
            let moved = dir.path().join(&name).join("iptables/stuck.rules");
            if moved.exists() {
                assert!(immutable("-i", &moved));
                fs::remove_dir_all(dir.path().join(&name)).unwrap();
            }
        }
        let err = result.unwrap().unwrap_err();
        assert!(err.replaced, "{err:?}");
        assert!(
            err.message.contains("cannot remove the previous output"),
            "{err:?}"
        );
        for (rel, contents) in estate() {
            assert_eq!(fs::read(out.join(&rel)).unwrap(), contents, "{rel}");
        }
        assert!(!out.join("iptables/stuck.rules").exists());
    }

    /// A name that points at another file than the one compared (renamed
    /// over in between) is not linked, and leaves nothing behind.
    #[cfg(unix)]
    #[test]
    fn only_the_compared_file_is_linked() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, new) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("new"),
        );
        fs::write(&a, "a").unwrap();
        fs::write(&b, "a").unwrap();
        let compared = fs::metadata(&b).unwrap();
        assert!(!link_same(&a, &new, &compared, None));
        assert!(!new.exists());
        let compared = fs::metadata(&a).unwrap();
        assert!(link_same(&a, &new, &compared, None));
        assert_eq!(inode(&new), inode(&a));
    }

    /// A file of the previous output whose mode this build would not give
    /// (writable by others here) is neither kept nor linked: written anew.
    #[cfg(unix)]
    #[test]
    fn a_file_with_another_mode_is_written_anew() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let all = estate();
        write_atomically(&out, &all).unwrap();
        let a = out.join("iptables/a.rules");
        let mode = fs::metadata(&a).unwrap().mode() & 0o7777;
        fs::set_permissions(&a, fs::Permissions::from_mode(0o666 | 0o100)).unwrap();
        let stats = write_atomically(&out, &all).unwrap();
        assert!(!stats.kept);
        assert_eq!(stats.reused, all.len() - 1);
        assert_eq!(fs::metadata(&a).unwrap().mode() & 0o7777, mode);
        assert_eq!(fs::read(&a).unwrap(), b"a");
    }

    /// A file of the previous output removed and created again, same size,
    /// after it was compared: on ext4 the new file may get the freed inode
    /// number, which alone would not tell them apart. Its inode change time does.
    #[cfg(unix)]
    #[test]
    fn a_file_created_again_during_the_build_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let all = estate();
        write_atomically(&out, &all).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let staging = staged(&out, &all);
        let a = out.join("iptables/a.rules");
        let freed = inode(&a).0;
        fs::remove_file(&a).unwrap();
        // Try for the freed number (where the file system hands it out again);
        // any new file is a fair case otherwise.
        let mut spares = Vec::new();
        for i in 0..4096 {
            let spare = out.join(format!("iptables/.spare{i}"));
            fs::write(&spare, "x").unwrap();
            spares.push(spare);
            if inode(spares.last().unwrap()).0 == freed {
                break;
            }
        }
        let chosen = spares.pop().unwrap();
        fs::rename(&chosen, &a).unwrap();
        spares.iter().for_each(|p| fs::remove_file(p).unwrap());
        let result = staging.commit().map(|s| s.kept);
        let now = fs::read_to_string(&a).unwrap();
        assert!(
            result.is_err(),
            "the build said {result:?} with {now:?} in --out for this build's \"a\""
        );
    }

    /// A file of the previous output replaced by another (same bytes, other
    /// inode) after it was compared is not kept; with other bytes the build
    /// fails and the previous output stays.
    #[cfg(unix)]
    #[test]
    fn a_file_replaced_during_the_build_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let all = estate();
        write_atomically(&out, &all).unwrap();
        let staging = staged(&out, &all);
        let swap_in = |bytes: &str| {
            let spare = dir.path().join("spare");
            fs::write(&spare, bytes).unwrap();
            fs::rename(&spare, out.join("iptables/a.rules")).unwrap();
        };
        swap_in("a");
        let folder = inode(&out).0;
        let stats = staging.commit().unwrap();
        assert!(!stats.kept);
        assert_ne!(inode(&out).0, folder);
        assert_eq!(
            fs::read_to_string(out.join("iptables/a.rules")).unwrap(),
            "a"
        );
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);

        let staging = staged(&out, &all);
        swap_in("x");
        let err = staging.commit().unwrap_err();
        assert!(!err.replaced);
        let err = err.message;
        assert!(err.contains("changed during the build"), "{err}");
        assert_eq!(
            fs::read_to_string(out.join("iptables/a.rules")).unwrap(),
            "x"
        );
        // The spare the failed build began in went back.
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
    }

    /// Files matched before the first one that differs are linked once it
    /// comes, as they would have been at once.
    #[cfg(unix)]
    #[test]
    fn files_matched_before_a_change_are_linked_then() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut all = estate();
        write_atomically(&out, &all).unwrap();
        let before = identity(&out, &["iptables/a.rules", "k8s/ns/deep/p.yaml"]);
        all.insert("iptables/b.rules".to_string(), b"bc".to_vec());
        let staging = Staging::begin(&out).unwrap();
        for rel in [
            "iptables/a.rules",
            "k8s/ns/deep/p.yaml",
            "iptables/b.rules",
            "report.json",
        ] {
            staging.put(rel, &all[rel]).unwrap();
        }
        let stats = staging.commit().unwrap();
        assert!(!stats.kept);
        assert_eq!(stats.reused, 3, "all but iptables/b.rules");
        let after = identity(&out, &["iptables/a.rules", "k8s/ns/deep/p.yaml"]);
        assert_ne!(after[0].0, before[0].0, "a new output folder");
        for (rel, (a, b)) in ["iptables/a.rules", "k8s/ns/deep/p.yaml"]
            .iter()
            .zip(after[1..].iter().zip(&before[1..]))
        {
            assert_eq!(a.0, b.0, "{rel}: the same inode");
            assert_eq!(own_names(&out, rel), 1, "{rel}: one name but the spare's");
        }
        for (rel, contents) in &all {
            assert_eq!(&fs::read(out.join(rel)).unwrap(), contents, "{rel}");
        }
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
    }

    /// Many files matched before the first one that differs are read again
    /// and linked then, from several threads: each the same inode as in the
    /// previous output. Files replaced by other bytes meanwhile, wherever they
    /// are among them, fail the build with the first in path order (the files
    /// handed over in another order), `--out` as it was but for those edits.
    #[cfg(unix)]
    #[test]
    fn many_files_matched_before_a_change_are_linked_then() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut all = files(&[("report.json", "{\"tool\": \"seg\"}")]);
        for i in 0..300 {
            all.insert(
                format!("f{}/{i:03}.rules", i % 7),
                i.to_string().into_bytes(),
            );
        }
        write_atomically(&out, &all).unwrap();
        let rels: Vec<String> = all.keys().filter(|r| *r != REPORT).cloned().collect();
        let before: Vec<u64> = rels.iter().map(|r| inode(&out.join(r)).0).collect();
        let mut next = all.clone();
        next.insert("zz/changed.rules".to_string(), b"new".to_vec());
        let build = |edit: &dyn Fn()| {
            let staging = Staging::begin(&out).unwrap();
            for rel in rels.iter().rev() {
                staging.put(rel, &all[rel]).unwrap();
            }
            edit();
            // The first file that differs: the others are linked now.
            staging.put("zz/changed.rules", b"new").unwrap();
            staging.put(REPORT, &all[REPORT]).unwrap();
            staging.commit()
        };
        let stats = build(&|| {}).unwrap();
        assert!(!stats.kept);
        assert_eq!(stats.reused, all.len());
        assert_eq!(tree(&out), next);
        let after: Vec<u64> = rels.iter().map(|r| inode(&out.join(r)).0).collect();
        assert_eq!(after, before, "linked, not written");
        fs::remove_file(out.join("zz/changed.rules")).unwrap();
        fs::remove_dir(out.join("zz")).unwrap();
        for edited in [vec![0], vec![150, 7], vec![299, 3, 200]] {
            let first = &rels[*edited.iter().min().unwrap()];
            let edit = || {
                for &i in &edited {
                    let other = dir.path().join("other");
                    let mut bytes = all[&rels[i]].clone();
                    bytes[0] ^= 1;
                    fs::write(&other, bytes).unwrap();
                    fs::rename(&other, out.join(&rels[i])).unwrap();
                }
            };
            let err = build(&edit).unwrap_err();
            assert!(!err.replaced);
            assert_eq!(
                err.message,
                format!(
                    "cannot write `{first}`: the previous output's file changed during the build"
                )
            );
            assert!(!out.join("zz").exists(), "--out as it was");
            for &i in &edited {
                fs::write(out.join(&rels[i]), &all[&rels[i]]).unwrap();
            }
            assert_eq!(tree(&out), all);
        }
    }

    #[test]
    fn the_same_file_given_twice_fails_even_when_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let old = files(&[("report.json", "{\"tool\": \"seg\"}"), ("a.rules", "old")]);
        write_atomically(&out, &old).unwrap();
        let staging = Staging::begin(&out).unwrap();
        staging.put("report.json", b"{\"tool\": \"seg\"}").unwrap();
        staging.put("a.rules", b"old").unwrap();
        let twice = staging.put("a.rules", b"old");
        assert!(twice.is_err(), "{twice:?}");
        assert!(staging.commit().is_err(), "the build is refused");
        assert_eq!(fs::read_to_string(out.join("a.rules")).unwrap(), "old");
        assert_eq!(leftovers(dir.path()), ["out"]);
    }

    /// `--out` a link to a seg output: that folder is replaced, the link
    /// stays, nothing is left beside them.
    #[cfg(unix)]
    #[test]
    fn a_linked_output_folder_is_replaced_through_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let (real, out) = (dir.path().join("real"), dir.path().join("out"));
        write_atomically(&real, &estate()).unwrap();
        std::os::unix::fs::symlink("real", &out).unwrap();
        let other = files(&[("report.json", "{\"tool\": \"seg\"} 2"), ("z", "z")]);
        for build in [&other, &other, &estate()] {
            write_atomically(&out, build).unwrap();
            assert!(fs::symlink_metadata(&out).unwrap().file_type().is_symlink());
            for (rel, contents) in build {
                assert_eq!(&fs::read(real.join(rel)).unwrap(), contents, "{rel}");
            }
            assert_eq!(leftovers(dir.path()), [".real.seg-spare", "out", "real"]);
        }
        assert!(!real.join("z").exists());
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

    /// The spare of `out`.
    fn spare_of(out: &Path) -> PathBuf {
        let name = out.file_name().unwrap().to_string_lossy();
        out.with_file_name(format!(".{name}.seg-spare"))
    }

    /// Every file under `root` and its bytes; anything but folders and
    /// plain files fails.
    fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut found = BTreeMap::new();
        let mut todo = vec![root.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(d).unwrap().flatten() {
                let t = fs::symlink_metadata(e.path()).unwrap().file_type();
                if t.is_dir() {
                    todo.push(e.path());
                    continue;
                }
                assert!(t.is_file(), "{:?} is a plain file", e.path());
                let rel = e
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.insert(rel, fs::read(e.path()).unwrap());
            }
        }
        found
    }

    /// `estate()` with other bytes in every file, `tag` in each.
    fn estate_of(tag: &str) -> BTreeMap<String, Vec<u8>> {
        let mut all = estate();
        for (rel, contents) in all.iter_mut() {
            contents.extend_from_slice(format!(" {tag} {rel}").as_bytes());
        }
        all
    }

    /// A rebuild in which every file changes writes over the files of the
    /// output before the previous one (the spare) instead of creating new
    /// ones: the same inodes, no file created, and the output holds exactly
    /// the new bytes, whatever their lengths against the old ones.
    #[cfg(unix)]
    #[test]
    fn a_rebuild_writes_over_the_spare() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let builds = [estate_of("one"), estate_of("second"), estate_of("3")];
        write_atomically(&out, &builds[0]).unwrap();
        let first: Vec<u64> = builds[0].keys().map(|r| inode(&out.join(r)).0).collect();
        let stats = write_atomically(&out, &builds[1]).unwrap();
        assert!(!stats.recycled, "no spare yet");
        assert_eq!((stats.created, stats.rewritten), (4, 0));
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
        assert_eq!(
            tree(&spare_of(&out)),
            builds[0],
            "the spare is the first build"
        );
        // Shorter (`3` after `one`) and longer files alike.
        let stats = write_atomically(&out, &builds[2]).unwrap();
        assert!(stats.recycled);
        assert_eq!((stats.created, stats.rewritten, stats.cleared), (0, 4, 0));
        assert_eq!(tree(&out), builds[2]);
        let now: Vec<u64> = builds[2].keys().map(|r| inode(&out.join(r)).0).collect();
        assert_eq!(now, first, "the first build's inodes, written over");
        assert_eq!(tree(&spare_of(&out)), builds[1]);
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
    }

    /// Whatever the spare holds that this build does not put, or holds in a
    /// form that must not be written over, never reaches `--out`: stale
    /// files and folders (old rules would grant revoked access), a folder
    /// where a file goes and a file where a folder goes, links to files and
    /// folders outside (left untouched), FIFOs, a file with another name (left
    /// untouched) and a file of another mode.
    #[cfg(target_os = "linux")]
    #[test]
    fn nothing_of_a_spoiled_spare_reaches_the_output() {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut last = estate_of("3");
        last.insert("nft/x.rules".to_string(), b"x".to_vec());
        last.insert("fifo.rules".to_string(), b"f".to_vec());
        last.insert("mode.rules".to_string(), b"m".to_vec());
        write_atomically(&out, &estate_of("one")).unwrap();
        write_atomically(&out, &estate_of("second")).unwrap();
        let spare = spare_of(&out);
        let outside = dir.path().join("outside");
        fs::create_dir_all(outside.join("deep")).unwrap();
        fs::write(outside.join("b"), "outside b").unwrap();
        fs::write(outside.join("deep/p.yaml"), "outside p").unwrap();
        fs::write(outside.join("deep/q.yaml"), "outside q").unwrap();
        let fifo = |p: &Path| {
            let c = CString::new(p.as_os_str().as_bytes()).unwrap();
            // SAFETY: a NUL-terminated path that lives across the call.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        };
        // Stale files and folders.
        fs::write(spare.join("iptables/old-host.rules"), "ACCEPT all").unwrap();
        fs::create_dir_all(spare.join("k8s/old-ns/deeper")).unwrap();
        fs::write(spare.join("k8s/old-ns/deeper/np.yaml"), "allow").unwrap();
        fs::create_dir(spare.join("empty")).unwrap();
        // A folder where a file goes, a file where a folder goes.
        fs::remove_file(spare.join("iptables/a.rules")).unwrap();
        fs::create_dir(spare.join("iptables/a.rules")).unwrap();
        fs::write(spare.join("iptables/a.rules/inner"), "inner").unwrap();
        fs::write(spare.join("nft"), "a file").unwrap();
        // Links to a file and a folder outside, a link to nowhere.
        fs::remove_file(spare.join("iptables/b.rules")).unwrap();
        symlink(outside.join("b"), spare.join("iptables/b.rules")).unwrap();
        fs::remove_dir_all(spare.join("k8s/ns/deep")).unwrap();
        symlink(outside.join("deep"), spare.join("k8s/ns/deep")).unwrap();
        symlink(outside.join("nowhere"), spare.join("dangling")).unwrap();
        // FIFOs: one where a file goes, one stale.
        fifo(&spare.join("fifo.rules"));
        fifo(&spare.join("iptables/stale.fifo"));
        // A file with another name outside; a file of another mode.
        fs::hard_link(spare.join("report.json"), outside.join("twice")).unwrap();
        let twice = fs::read(outside.join("twice")).unwrap();
        fs::write(spare.join("mode.rules"), "m").unwrap();
        fs::set_permissions(spare.join("mode.rules"), fs::Permissions::from_mode(0o777)).unwrap();
        let before_outside = tree(&outside);

        let (tx, rx) = std::sync::mpsc::channel();
        let (target, files) = (out.clone(), last.clone());
        std::thread::spawn(move || tx.send(write_atomically(&target, &files)));
        let stats = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the build waited on a FIFO")
            .unwrap();
        assert!(stats.recycled);
        assert_eq!(tree(&out), last, "exactly this build's files");
        assert!(!out.join("empty").exists() && !out.join("dangling").exists());
        let mode = fs::metadata(out.join("iptables/a.rules")).unwrap().mode();
        assert_eq!(fs::metadata(out.join("mode.rules")).unwrap().mode(), mode);
        // Outside: every file as it was, the linked one with its two names.
        assert_eq!(tree(&outside), before_outside);
        assert_eq!(fs::read(outside.join("twice")).unwrap(), twice);
        assert_eq!(inode(&outside.join("twice")).1, 1, "out of the output");
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out", "outside"]);
        assert_eq!(tree(&spare), estate_of("second"));
    }

    /// The spare itself a link to a folder outside, or a file: not used, not
    /// followed, the folder outside untouched; a spare folder others may
    /// write into is not used either.
    #[cfg(unix)]
    #[test]
    fn a_spare_that_is_not_a_folder_of_this_build_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let spare = spare_of(&out);
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("report.json"), "outside").unwrap();
        write_atomically(&out, &estate_of("one")).unwrap();
        std::os::unix::fs::symlink(&outside, &spare).unwrap();
        let stats = write_atomically(&out, &estate_of("second")).unwrap();
        assert!(!stats.recycled);
        assert_eq!(tree(&outside), files(&[("report.json", "outside")]));
        assert_eq!(tree(&out), estate_of("second"));
        assert_eq!(
            tree(&spare),
            estate_of("one"),
            "the link gave way to the spare"
        );
        fs::remove_dir_all(&spare).unwrap();
        fs::write(&spare, "a file").unwrap();
        let stats = write_atomically(&out, &estate_of("3")).unwrap();
        assert!(!stats.recycled);
        assert_eq!(tree(&spare), estate_of("second"));
        fs::set_permissions(&spare, fs::Permissions::from_mode(0o777)).unwrap();
        let stats = write_atomically(&out, &estate_of("one")).unwrap();
        assert!(!stats.recycled);
        assert_eq!(tree(&out), estate_of("one"));
        assert_eq!(tree(&spare), estate_of("3"));
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out", "outside"]);
    }

    /// A file of `--out` linked from the output before it has its other name
    /// in the spare: that name is never written through, during the build or
    /// after; a file unchanged across three builds keeps its inode.
    #[cfg(unix)]
    #[test]
    fn a_file_of_the_output_is_never_written_through_the_spare() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut all = estate();
        write_atomically(&out, &estate_of("one")).unwrap();
        write_atomically(&out, &all).unwrap();
        all.insert("report.json".to_string(), b"{\"tool\": \"seg\"} 2".to_vec());
        all.insert("iptables/c.rules".to_string(), b"c".to_vec());
        write_atomically(&out, &all).unwrap();
        // `a.rules` in --out and in the spare: one file.
        let a = inode(&out.join("iptables/a.rules")).0;
        assert_eq!(inode(&spare_of(&out).join("iptables/a.rules")), (a, 2));
        let mut next = all.clone();
        next.insert("iptables/a.rules".to_string(), b"A".to_vec());
        next.insert("iptables/b.rules".to_string(), b"BB".to_vec());
        let staging = staged(&out, &next);
        assert_eq!(fs::read(out.join("iptables/a.rules")).unwrap(), b"a");
        staging.commit().unwrap();
        assert_eq!(tree(&out), next);
        // The previous output, now the spare, holds what it held.
        assert_eq!(tree(&spare_of(&out)), all);
        assert_eq!(inode(&spare_of(&out).join("iptables/a.rules")).0, a);
        // Unchanged through three builds: the same inode, its other name the spare's.
        assert_eq!(own_names(&out, "k8s/ns/deep/p.yaml"), 1);
        assert_eq!(own_names(&out, "iptables/c.rules"), 1);
    }

    /// An unchanged rebuild keeps `--out` and gives the spare it claimed
    /// back; a failed build leaves `--out` as it was and no temporary folder.
    #[cfg(unix)]
    #[test]
    fn the_spare_goes_back_after_a_kept_build_and_a_failed_one_leaves_out_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write_atomically(&out, &estate_of("one")).unwrap();
        write_atomically(&out, &estate()).unwrap();
        let spare_folder = inode(&spare_of(&out)).0;
        let stats = write_atomically(&out, &estate()).unwrap();
        assert!(stats.kept && stats.recycled);
        assert_eq!(inode(&spare_of(&out)).0, spare_folder, "the same spare");
        assert_eq!(tree(&out), estate());
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
        let bad = files(&[("report.json", "x"), ("x", "file"), ("x/y", "under a file")]);
        assert!(write_atomically(&out, &bad).is_err());
        assert_eq!(tree(&out), estate());
        // The spare the failed build began in went back.
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
    }

    /// A build that fails gives the spare it began in back, whatever it
    /// wrote into it (files written over, created, linked from `--out`):
    /// `--out` is untouched, and the next build writes over the spare again
    /// instead of creating every file, never through a name it shares with
    /// `--out`, and its output holds exactly its own files.
    #[cfg(unix)]
    #[test]
    fn a_failed_build_gives_the_spare_back_and_the_next_writes_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let spare = spare_of(&out);
        let second = estate_of("second");
        write_atomically(&out, &estate_of("one")).unwrap();
        write_atomically(&out, &second).unwrap();
        let folder = inode(&spare).0;
        // Failed while writing: a path given twice.
        let staging = Staging::begin(&out).unwrap();
        staging.put("report.json", b"x").unwrap();
        staging.put("iptables/a.rules", b"A").unwrap();
        assert!(staging.put("iptables/a.rules", b"A2").is_err());
        assert!(staging.commit().is_err());
        assert_eq!(tree(&out), second, "--out as it was");
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
        assert_eq!(inode(&spare).0, folder, "the same spare, given back");
        // Failed after its files were handed over (a build refused after
        // rendering): an unchanged file linked from --out (its other name now
        // in the tree), a changed one written over the spare's.
        {
            let staging = Staging::begin(&out).unwrap();
            assert!(staging.recycled);
            staging
                .put("iptables/a.rules", &second["iptables/a.rules"])
                .unwrap();
            staging.put("iptables/b.rules", b"changed").unwrap();
        }
        assert_eq!(tree(&out), second, "--out as it was");
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
        assert_eq!(inode(&spare).0, folder, "the same spare, given back");
        assert_eq!(
            fs::read(spare.join("iptables/b.rules")).unwrap(),
            b"changed"
        );
        assert_eq!(inode(&out.join("iptables/a.rules")).1, 2, "linked");
        // The next build changes every file: written over the spare's three
        // other files, never through the name it shares with --out (removed
        // from the spare, the file created), nothing of the failed ones kept.
        let next = estate_of("3");
        let staging = staged(&out, &next);
        assert_eq!(tree(&out), second, "--out untouched before the exchange");
        let stats = staging.commit().unwrap();
        assert!(stats.recycled);
        assert_eq!((stats.rewritten, stats.created, stats.cleared), (3, 1, 1));
        assert_eq!(tree(&out), next);
        assert_eq!(tree(&spare), second, "the spare is the replaced output");
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
    }

    /// Two builds into the same `--out` at once: one that finds `--out`
    /// unchanged and keeps it (its report renamed in), one with other files
    /// that exchanges the trees. Whichever ends last, `--out` holds one
    /// build whole: never the other build's files with this one's report.
    #[cfg(unix)]
    #[test]
    fn a_kept_rebuild_beside_a_replacing_build_never_mixes_their_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let build = |tag: &str, round: usize| {
            files(&[
                (
                    "report.json",
                    &format!("{{\"tool\": \"seg\"}} {tag} {round}"),
                ),
                (&format!("{tag}/{tag}.rules"), tag),
            ])
        };
        let mut mixed = Vec::new();
        for round in 0..300 {
            write_atomically(&out, &build("x", round)).unwrap();
            std::thread::scope(|s| {
                // Unchanged but for the report: the kept path.
                s.spawn(|| write_atomically(&out, &build("x", round + 1)));
                s.spawn(|| write_atomically(&out, &build("y", round)));
            });
            let report = fs::read_to_string(out.join("report.json")).unwrap();
            let tag = if out.join("x").exists() { "x" } else { "y" };
            if !report.contains(&format!(" {tag} ")) {
                mixed.push((round, tag, report));
            }
        }
        assert!(mixed.is_empty(), "--out mixes two builds: {mixed:?}");
    }

    /// Without a spare to keep (`--no-spare`): the replaced output is
    /// removed, the spare an earlier build left is used and goes too, and
    /// so does one a build that keeps `--out`, or fails, began in; a killed
    /// build's folder is not left either. The output is what a build into
    /// an empty folder writes.
    #[cfg(unix)]
    #[test]
    fn without_a_spare_the_replaced_output_and_the_spare_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let build = |files: &BTreeMap<String, Vec<u8>>| {
            let staging = Staging::begin_with(&out, Spare::Remove).unwrap();
            for (rel, contents) in files {
                staging.put(rel, contents).unwrap();
            }
            staging.commit()
        };
        // No output yet: the new tree becomes --out, nothing beside it.
        let stats = build(&estate_of("one")).unwrap();
        assert!(stats.no_spare && !stats.recycled);
        assert_eq!(leftovers(dir.path()), ["out"]);
        // Replaced: the previous output is removed.
        let stats = build(&estate_of("second")).unwrap();
        assert!(!stats.recycled);
        assert_eq!(tree(&out), estate_of("second"));
        assert_eq!(leftovers(dir.path()), ["out"]);
        // A spare left by an earlier build is written over, then gone.
        write_atomically(&out, &estate_of("3")).unwrap();
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
        let stats = build(&estate_of("one")).unwrap();
        assert!(stats.recycled);
        assert_eq!(tree(&out), estate_of("one"));
        assert_eq!(leftovers(dir.path()), ["out"]);
        // An unchanged rebuild keeps --out and removes the spare it began in.
        write_atomically(&out, &estate()).unwrap();
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
        let stats = build(&estate()).unwrap();
        assert!(stats.kept && stats.recycled);
        assert_eq!(tree(&out), estate());
        assert_eq!(leftovers(dir.path()), ["out"]);
        // A failed build removes the spare it began in; --out as it was.
        write_atomically(&out, &estate_of("one")).unwrap();
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
        {
            let staging = Staging::begin_with(&out, Spare::Remove).unwrap();
            assert!(staging.recycled);
            staging.put("iptables/a.rules", b"changed").unwrap();
        }
        assert_eq!(tree(&out), estate_of("one"));
        assert_eq!(leftovers(dir.path()), ["out"]);
        // A killed build's folder: taken, then removed with the rest.
        let killed = dir.path().join(".out.seg-tmp-1-1");
        fs::create_dir_all(killed.join("iptables")).unwrap();
        fs::write(killed.join("iptables/old-host.rules"), "ACCEPT all").unwrap();
        let stats = build(&estate_of("second")).unwrap();
        assert!(stats.recycled);
        assert_eq!(tree(&out), estate_of("second"));
        assert_eq!(leftovers(dir.path()), ["out"]);
    }

    /// The temporary folder of a killed build (no lock held) is taken as the
    /// spare when there is none, and removed when there is one; one whose
    /// lock is held (a build at work) is never touched.
    #[cfg(unix)]
    #[test]
    fn a_killed_build_s_folder_is_reclaimed_a_running_one_s_never() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write_atomically(&out, &estate_of("one")).unwrap();
        let stale = |n: u32| {
            let t = dir.path().join(format!(".out.seg-tmp-1-{n}"));
            fs::create_dir_all(t.join("iptables")).unwrap();
            fs::write(t.join("iptables/old-host.rules"), "ACCEPT all").unwrap();
            t
        };
        let (killed, running) = (stale(1), stale(2));
        let held = spare::lock(&running).expect("the lock of a running build");
        let stats = write_atomically(&out, &estate_of("second")).unwrap();
        assert!(stats.recycled, "the killed build's folder was the spare");
        assert_eq!(tree(&out), estate_of("second"));
        assert!(!killed.exists());
        assert_eq!(tree(&spare_of(&out)), estate_of("one"));
        let killed = stale(3);
        write_atomically(&out, &estate_of("3")).unwrap();
        assert!(!killed.exists(), "removed: a spare was there");
        assert_eq!(tree(&out), estate_of("3"));
        assert_eq!(
            tree(&running),
            files(&[("iptables/old-host.rules", "ACCEPT all")])
        );
        drop(held);
        assert_eq!(
            leftovers(dir.path()),
            [".out.seg-spare", ".out.seg-tmp-1-2", "out"]
        );
    }

    /// A file whose name the spare does not hold takes the inode of a spare
    /// file this build does not put (renamed, written over), never one it
    /// puts, before or after: the output holds exactly the new build.
    #[cfg(unix)]
    #[test]
    fn a_new_name_takes_a_spare_file_this_build_does_not_put() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let named = |tag: &str, names: std::ops::Range<usize>| {
            let mut all = files(&[("report.json", "{\"tool\": \"seg\"}")]);
            for i in names {
                all.insert(
                    format!("k/{tag}{i:03}.yaml"),
                    format!("{tag} {i}").into_bytes(),
                );
                all.insert(
                    format!("same/{i:03}.rules"),
                    format!("{tag} {i}").into_bytes(),
                );
            }
            all
        };
        write_atomically(&out, &named("a", 0..40)).unwrap();
        let spare_inodes: HashSet<u64> = tree(&out).keys().map(|r| inode(&out.join(r)).0).collect();
        write_atomically(&out, &named("b", 0..40)).unwrap();
        // The spare holds a's names: same/ is rewritten by name, k/ takes a's files.
        let next = named("c", 0..40);
        let stats = write_atomically(&out, &next).unwrap();
        assert_eq!(tree(&out), next);
        // report.json, unchanged, is linked from --out.
        let counts = (stats.reused, stats.rewritten, stats.created, stats.cleared);
        assert_eq!(counts, (1, 80, 0, 0));
        for rel in next.keys() {
            assert!(spare_inodes.contains(&inode(&out.join(rel)).0), "{rel}");
        }
        // Streamed in no order, the names put first, new names among them, more
        // new names than spare files: every file put is there, with its bytes.
        let mut mixed = named("b", 0..40);
        mixed.extend(named("d", 30..90));
        let list: Vec<(String, Vec<u8>)> = mixed.clone().into_iter().collect();
        let staging = Staging::begin(&out).unwrap();
        hand_over(&staging, &list, 37);
        let stats = staging.commit().unwrap();
        assert_eq!(tree(&out), mixed);
        assert_eq!(stats.reused + stats.rewritten + stats.created, mixed.len());
        assert_eq!(leftovers(dir.path()), [".out.seg-spare", "out"]);
    }

    /// A spare file listed for `take_unput` whose name this build then makes
    /// a folder is not taken: renamed, folder and all, to a new name and
    /// written over there, the build's files under it would be lost.
    #[cfg(unix)]
    #[test]
    fn a_listed_spare_file_that_became_a_folder_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let report = ("report.json", "{\"tool\": \"seg\"}");
        write_atomically(
            &out,
            &files(&[report, ("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]),
        )
        .unwrap();
        write_atomically(&out, &files(&[report, ("other", "x")])).unwrap();
        // The spare holds a, b, c, d as files; this build makes them folders.
        let staging = Staging::begin(&out).unwrap();
        let order = ["q1", "a/x", "b/x", "c/x", "d/x", "q2", "q3", "q4", "q5"];
        for rel in order {
            staging.put(rel, rel.as_bytes()).unwrap();
        }
        staging.put("report.json", report.1.as_bytes()).unwrap();
        let stats = staging.commit();
        assert!(stats.is_ok(), "{:?}", stats.err());
    }

    /// A claimed spare whose `flock` is held for a moment by someone else
    /// (another build's retire or reclaim holds it until just after
    /// `give_back`) is waited for: a build never runs unlocked, so the next
    /// build cannot take its running tree as a stale one.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_spare_locked_for_a_moment_is_waited_for_never_used_unlocked() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let report = ("report.json", "{\"tool\": \"seg\"}");
        write_atomically(&out, &files(&[report, ("a", "1")])).unwrap();
        write_atomically(&out, &files(&[report, ("a", "2")])).unwrap();
        // Another process holds the spare's lock, as retire() and reclaim_stale() do
        // between give_back and the end of their scope.
        let held = fs::File::open(spare_of(&out)).unwrap();
        assert_eq!(
            unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
            0
        );
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
        });
        let first = Staging::begin(&out).unwrap();
        assert!(first.recycled);
        release.join().unwrap();
        let second = Staging::begin(&out).unwrap();
        let put = first.put("a", b"3");
        assert!(put.is_ok(), "the first build's tree was taken: {put:?}");
        drop(second);
    }
}
