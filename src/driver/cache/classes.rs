//! The class graph of `seg reach`, kept beside the compiled program. Building
//! the identity classes (partition refinement over every rule's members) is
//! the largest part of a warm run's analysis, and it is a function of the
//! program, the rules active under the model (`--at`, the expiry instant)
//! and the pivot kinds alone. So a run over a cached program keeps its
//! classes in `.seg/cache/classes` under a key over exactly those (and the
//! executable), and the next run with the same key reuses them. One file,
//! overwritten by each run whose key differs; a file that does not fit is
//! ignored, as for the entry.

use super::{Executable, Input, Miss, entry_path, executable, miss, write};
use seg_ir::IdentityKind;
use seg_reach::classes::Classes;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Changes whenever the layout of the file changes.
const MAGIC: &[u8; 16] = b"seg classes v1\n\0";

/// The file, beside the entry.
const FILE: &str = "classes";

/// What the classes of a cached program are a function of: the program (the
/// hash of the entry's main part), the active rules (program rule indices)
/// and the pivot kinds; and the executable that builds them.
pub fn key(
    entry: &[u8; 32],
    rules: &[usize],
    pivot: &BTreeSet<IdentityKind>,
) -> Result<[u8; 32], Miss> {
    let exe: Executable = executable()?;
    let exe = postcard::to_stdvec(&exe).map_err(|e| Miss(format!("cannot encode: {e}")))?;
    let mut h = blake3::Hasher::new();
    h.update(MAGIC);
    h.update(&exe);
    h.update(entry);
    h.update(&(rules.len() as u64).to_le_bytes());
    for &r in rules {
        h.update(&(r as u64).to_le_bytes());
    }
    for k in pivot {
        h.update(k.as_str().as_bytes());
        h.update(b",");
    }
    Ok(*h.finalize().as_bytes())
}

fn path(input: &Input) -> Option<PathBuf> {
    entry_path(input).map(|p| p.with_file_name(FILE))
}

/// The classes kept under `key`, if any.
pub fn load(input: &Input, key: &[u8; 32]) -> Result<Classes, Miss> {
    let path = path(input).ok_or_else(|| miss("a single file is not cached"))?;
    let bytes = std::fs::read(&path).map_err(|_| miss("none kept yet"))?;
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| miss("not a class graph"))?;
    let (kept, rest) = rest
        .split_first_chunk::<32>()
        .ok_or_else(|| miss("not a class graph"))?;
    if kept != key {
        return Err(miss("kept for another program, instant or pivot"));
    }
    let (hash, body) = rest
        .split_first_chunk::<32>()
        .ok_or_else(|| miss("corrupt"))?;
    if blake3::hash(body).as_bytes() != hash {
        return Err(miss("corrupt"));
    }
    postcard::from_bytes(body).map_err(|_| miss("corrupt"))
}

/// Keep `classes` under `key`, replacing what was kept.
pub fn store(input: &Input, key: &[u8; 32], classes: &Classes) -> Result<(), Miss> {
    let path = path(input).ok_or_else(|| miss("a single file is not cached"))?;
    let body = postcard::to_stdvec(classes).map_err(|e| Miss(format!("cannot encode: {e}")))?;
    let mut bytes = Vec::with_capacity(MAGIC.len() + 64 + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(blake3::hash(&body).as_bytes());
    bytes.extend_from_slice(&body);
    write(&path, &bytes).map_err(|e| Miss(format!("not written: {e}")))
}
