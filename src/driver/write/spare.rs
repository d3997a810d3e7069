//! The spare: the output before the current one, kept beside `--out` as
//! `.<name>.seg-spare` for the next build to write over. Creating a file
//! and unlinking one cost far more than writing over one (on ext4 without
//! a journal, every create scans past the inodes freed in the last minute,
//! under the folder's lock), and a rebuild in which every file changes
//! would otherwise create and unlink one of each per file.
//!
//! A build claims the spare by renaming it to its temporary name (atomic:
//! two builds cannot both get it). A name of the spare is then written over
//! only when it is a plain file with a single name (a file with another
//! name may be a file of `--out`) and this build's mode and owner; anything
//! else in the way is removed. A new name takes a spare file this build
//! has not put, renamed (see `Staging::take_unput`). Before the tree is
//! synced, whatever of the spare this build did not put is removed (see
//! [`sweep`]): a stale file in `--out` could grant what the policy no
//! longer does.

use super::kept::like;
use super::{Owner, child_of, remove_tree, same_inode, single_link, under};
use std::collections::HashSet;
use std::fs;
use std::io::{ErrorKind, Read, Seek, Write};
use std::path::Path;

/// What a name of the spare turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// Used as it is: a file written over, a folder kept.
    Used,
    /// In the way, removed: that many files and folders.
    Cleared(usize),
    /// Nothing there.
    Absent,
}

/// Rename the spare to `tmp` (an empty folder this build just made, whose
/// metadata is `fresh`): whether the tree now is the spare. A spare that is
/// not a folder is removed; one of another mode, owner or file system
/// than `fresh` is removed and `tmp` made again.
pub(super) fn claim(spare: &Path, tmp: &Path, fresh: &fs::Metadata) -> Result<bool, String> {
    // Over an empty folder: `rename` replaces it, and fails for a link or a file.
    match fs::rename(spare, tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(_) => {
            if fs::symlink_metadata(spare).is_ok_and(|m| !m.is_dir()) {
                let _ = fs::remove_file(spare);
            }
            return Ok(false);
        }
    }
    if fs::symlink_metadata(tmp).is_ok_and(|m| m.is_dir() && like(&m, fresh)) {
        return Ok(true);
    }
    let again = remove_any(tmp).and_then(|_| fs::create_dir(tmp));
    again.map_err(|e| format!("cannot replace the spare `{}`: {e}", tmp.display()))?;
    Ok(false)
}

/// Write `contents` over the file at `path` when it may be written in place
/// (see [`open_in_place`]), leaving it when it holds them already; remove
/// whatever else is there.
pub(super) fn rewrite(path: &Path, contents: &[u8], owner: Owner) -> std::io::Result<Found> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Found::Absent),
        Err(e) => return Err(e),
    };
    if let Some(mut file) = open_in_place(path, &meta, owner) {
        write_over(&mut file, contents)?;
        return Ok(Found::Used);
    }
    remove_any(path).map(Found::Cleared)
}

/// Keep the folder at `path` when it is a folder (not a link) like `fresh`;
/// remove whatever else is there.
pub(super) fn adopt_folder(path: &Path, fresh: &fs::Metadata) -> std::io::Result<Found> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() && like(&m, fresh) => Ok(Found::Used),
        Ok(_) => remove_any(path).map(Found::Cleared),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Found::Absent),
        Err(e) => Err(e),
    }
}

/// Remove whatever `path` names, a folder with all it holds (never
/// following a link): how many files and folders went.
pub(super) fn remove_any(path: &Path) -> std::io::Result<usize> {
    if fs::symlink_metadata(path)?.is_dir() {
        remove_tree(path)
    } else {
        fs::remove_file(path).map(|()| 1)
    }
}

/// Remove from the tree at `root` every file that is not in `written` and
/// every folder that is not in `folders` (paths relative to `root`, as this
/// build put and made them): how many went. A file of `written` that is not
/// a plain file there, or missing, fails.
pub(super) fn sweep(
    root: &Path,
    written: &HashSet<String>,
    folders: &HashSet<String>,
) -> std::io::Result<usize> {
    let (mut removed, mut found) = (0, 0);
    let mut todo = vec![String::new()];
    while let Some(rel) = todo.pop() {
        let dir = under(root, &rel);
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            // Not a name this build gives (not UTF-8): not its file.
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                removed += remove_any(&entry.path())?;
                continue;
            };
            let child = child_of(&rel, name);
            // The entry's own type: a link is not followed.
            let kind = entry.file_type()?;
            if kind.is_dir() && folders.contains(&child) {
                todo.push(child);
            } else if written.contains(&child) {
                if !kind.is_file() {
                    return Err(std::io::Error::other(format!(
                        "`{child}` is not the file this build wrote"
                    )));
                }
                found += 1;
            } else {
                removed += remove_any(&entry.path())?;
            }
        }
    }
    if found != written.len() {
        return Err(std::io::Error::other(format!(
            "{} of the {} files this build wrote are not in the tree",
            written.len() - found,
            written.len()
        )));
    }
    Ok(removed)
}

/// Lock the folder at `path` for this process (an exclusive `flock`, without
/// waiting), as long as the returned descriptor is open: the temporary
/// folder of a build at work is locked, one left by a killed build is not.
/// `None` when it is locked already or cannot be.
#[cfg(unix)]
pub(super) fn lock(path: &Path) -> Option<fs::File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let folder = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    // SAFETY: `folder` is an open descriptor for the duration of the call.
    let held = unsafe { libc::flock(folder.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    held.then_some(folder)
}

/// [`lock`], trying again for up to `patience` while another holds it.
pub(super) fn lock_waiting(path: &Path, patience: std::time::Duration) -> Option<fs::File> {
    let began = std::time::Instant::now();
    loop {
        if let Some(held) = lock(path) {
            return Some(held);
        }
        if began.elapsed() >= patience {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Lock the folder `path` names (an exclusive `flock`, waiting while
/// another build holds it), and make sure `path` still names that folder
/// once locked (a build that exchanged it meanwhile held it while it did):
/// `--out`, for the exchange and for a build that keeps it. `None` when it
/// cannot be opened or locked.
#[cfg(unix)]
pub(super) fn lock_named(path: &Path) -> Option<fs::File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    loop {
        let folder = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(path)
            .ok()?;
        // SAFETY: `folder` is an open descriptor for the duration of the call.
        if unsafe { libc::flock(folder.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return None;
        }
        let (held, named) = (folder.metadata().ok()?, fs::symlink_metadata(path).ok()?);
        if same_inode(&held, &named) {
            return Some(folder);
        }
    }
}

#[cfg(not(unix))]
pub(super) fn lock_named(_: &Path) -> Option<fs::File> {
    None
}

#[cfg(not(unix))]
pub(super) fn lock(_: &Path) -> Option<fs::File> {
    None
}

/// The temporary folders beside `--out` (names beginning with `prefix`)
/// whose lock can be taken: their builds were killed. Each becomes the
/// spare when there is none (it is swept like any spare), else is removed.
/// A folder whose lock is held (a build at work) is never touched.
pub(super) fn reclaim_stale(parent: &Path, prefix: &str, spare: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(prefix));
        if !ours || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        let Some(_held) = lock(&path) else {
            continue;
        };
        if !give_back(&path, spare) {
            let _ = remove_tree(&path);
        }
    }
}

/// Move `tree` to `spare`, for the next build; `false` when it cannot (a
/// spare is there already: another build's).
pub(super) fn give_back(tree: &Path, spare: &Path) -> bool {
    no_replace_rename(tree, spare)
}

/// Rename `from` to `to` when nothing is at `to`.
pub(super) fn rename_free(from: &Path, to: &Path) -> bool {
    no_replace_rename(from, to)
}

/// The plain files under `root` (not under a link), relative to it.
pub(super) fn files(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![String::new()];
    while let Some(rel) = todo.pop() {
        let dir = under(root, &rel);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let (Ok(kind), Some(name)) = (
                entry.file_type(),
                entry.file_name().to_str().map(str::to_string),
            ) else {
                continue;
            };
            let child = child_of(&rel, name);
            if kind.is_dir() {
                todo.push(child);
            } else if kind.is_file() {
                found.push(child);
            }
        }
    }
    found
}

#[cfg(target_os = "linux")]
fn no_replace_rename(from: &Path, to: &Path) -> bool {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).ok();
    let (Some(cf), Some(ct)) = (c(from), c(to)) else {
        return false;
    };
    // SAFETY: both are NUL-terminated paths that live across the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cf.as_ptr(),
            libc::AT_FDCWD,
            ct.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    // A file system without the flag: a plain rename replaces at most an empty folder.
    rc == 0
        || (std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL)
            && !to.exists()
            && fs::rename(from, to).is_ok())
}

#[cfg(not(target_os = "linux"))]
fn no_replace_rename(from: &Path, to: &Path) -> bool {
    fs::symlink_metadata(to).is_err() && fs::rename(from, to).is_ok()
}

/// The file at `path` (`meta`, as `lstat` saw it) opened to be written over
/// when it is a plain file with a single name and the mode and owner this
/// build gives a file: one open that refuses a link and never waits, one
/// `fstat` of what was opened, which must be what `lstat` saw. Nothing but
/// a plain file is ever opened (opening a device may act).
fn open_in_place(path: &Path, meta: &fs::Metadata, owner: Owner) -> Option<fs::File> {
    if !fits(meta, owner) {
        return None;
    }
    let file = open_rw(path)?;
    let opened = file.metadata().ok()?;
    (fits(&opened, owner) && same_inode(&opened, meta)).then_some(file)
}

fn fits(meta: &fs::Metadata, owner: Owner) -> bool {
    meta.file_type().is_file() && single_link(meta, None) && owner.fits(meta)
}

#[cfg(target_os = "linux")]
fn open_rw(path: &Path) -> Option<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn open_rw(path: &Path) -> Option<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .ok()
}

/// Make `file` hold exactly `contents`: left as it is when it does already,
/// else written from its start and cut to that length (not emptied first:
/// ext4 flushes a file emptied and written again when it is closed).
fn write_over(file: &mut fs::File, contents: &[u8]) -> std::io::Result<()> {
    let len = contents.len() as u64;
    if file.metadata()?.len() == len {
        let mut held = Vec::with_capacity(contents.len());
        Read::by_ref(file).take(len).read_to_end(&mut held)?;
        if held == contents {
            return Ok(());
        }
        file.rewind()?;
    }
    file.write_all(contents)?;
    file.set_len(len)
}
