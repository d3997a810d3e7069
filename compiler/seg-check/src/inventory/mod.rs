//! The identity inventory: YAML or JSON files → a validated [`Inventory`].
//!
//! Input: the text of every inventory file with its [`FileId`] (the driver
//! reads and globs them), and the build time `now` for the credential lints.
//! Output: the [`Inventory`], or `None` when any file had an error. Problems
//! are collected across all files (E0101–E0109, E0003 for size and nesting
//! limits, warnings W0101–W0103); every one points at a place in a file.
//!
//! Stages: each file is read into a spanned tree ([`tree`]); the top levels of
//! all files are checked first so that attribute declarations from any file
//! apply to identities in every file; then each identity is checked
//! ([`identity`]); last, addresses are compared across identities (W0101).
//! Invariants of the result: identity names are unique and free of control
//! characters, attribute values match their declarations, addresses are
//! canonical networks (sorted, no duplicates).

mod fast;
pub(crate) mod identity;
pub mod model;
mod overlap;
pub(crate) mod schema;
mod tree;
pub(crate) mod values;

pub use identity::{SHARED_CREDENTIAL_REFERENCES, STALE_CREDENTIAL_REFERENCES};
pub use model::*;
pub use overlap::MAX_REPORTED as MAX_OVERLAP_WARNINGS;
pub use tree::{MAX_DEPTH, MAX_FILE_BYTES};

use schema::Reader;
use seg_diag::{Diagnostics, FileId};
use seg_ir::Now;
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tree::{Node, Value};

/// Load and check every inventory file; `None` if any of them has an error.
pub fn load(files: &[(FileId, &str)], now: &Now, diags: &mut Diagnostics) -> Option<Inventory> {
    load_sharing(files, now, diags, &|| false)
}

/// Inventories with this many identities in all are checked in pieces of
/// [`PIECE`] identities, which a second thread may share (below, a thread
/// costs more than it saves).
const PARALLEL_IDENTITIES: usize = 512;
/// Identities per piece of [`load_sharing`]'s work.
const PIECE: usize = 128;

/// [`load`], the identities of a large inventory checked in pieces, which a
/// second thread takes too from the moment `spare_core` answers that a core
/// is free (asked before each piece until it does). Each piece is checked
/// with the names it holds alone and its own diagnostics; they are joined
/// in order, which is the sequential result unless a name is in two pieces:
/// then every identity is checked again in order (E0104 names the first
/// definition). Whatever the threads and their timing, the result, the
/// diagnostics and their order are [`load`]'s.
pub fn load_sharing(
    files: &[(FileId, &str)],
    now: &Now,
    diags: &mut Diagnostics,
    spare_core: &(dyn Fn() -> bool + Sync),
) -> Option<Inventory> {
    load_from(files, now, diags, spare_core, PARALLEL_IDENTITIES)
}

/// [`load_sharing`], in pieces from `parallel` identities.
fn load_from(
    files: &[(FileId, &str)],
    now: &Now,
    diags: &mut Diagnostics,
    spare_core: &(dyn Fn() -> bool + Sync),
    parallel: usize,
) -> Option<Inventory> {
    let mut errors = 0;
    let mut docs = Vec::with_capacity(files.len());
    for &(file, text) in files {
        match tree::parse(file, text) {
            Ok(doc) => docs.push((file, text, doc)),
            Err(d) => {
                errors += 1;
                diags.push(d);
            }
        }
    }

    let mut attributes = schema::Decls::default();
    let mut tops = Vec::with_capacity(docs.len());
    for (file, text, doc) in &docs {
        let mut r = Reader {
            file: *file,
            text,
            diags,
            errors: 0,
        };
        let top = schema::top_level(&mut r, doc, &mut attributes);
        errors += r.errors;
        if let Some(top) = top {
            tops.push((*file, *text, top));
        }
    }

    // Every entry of every file's `identities:`, in order, with its file.
    let items: Vec<(usize, &Node)> = tops
        .iter()
        .enumerate()
        .filter_map(|(i, (_, _, top))| match top.identities.map(|l| &l.value) {
            Some(Value::Seq(items)) => Some(items.iter().map(move |item| (i, item))),
            _ => None,
        })
        .flatten()
        .collect();
    let each = |items: &[(usize, &Node)], names: &mut identity::Names, diags: &mut Diagnostics| {
        let mut read = Vec::with_capacity(items.len());
        let mut errors = 0;
        for group in items.chunk_by(|a, b| a.0 == b.0) {
            let (file, text, _) = &tops[group[0].0];
            let mut r = Reader {
                file: *file,
                text,
                diags,
                errors: 0,
            };
            for (_, item) in group {
                read.extend(identity::identity(&mut r, item, &attributes, names, now));
            }
            errors += r.errors;
        }
        (read, errors)
    };
    let pieces = (items.len() >= parallel)
        .then(|| in_pieces(&items, &each, spare_core))
        .flatten();
    let (read, read_errors) = match pieces {
        Some(pieces) => {
            let mut read = Vec::with_capacity(items.len());
            let mut errors = 0;
            for piece in pieces {
                diags.extend(piece.diags);
                read.extend(piece.read);
                errors += piece.errors;
            }
            (read, errors)
        }
        None => each(&items, &mut identity::Names::default(), diags),
    };
    errors += read_errors;
    let mut identities = Vec::with_capacity(read.len());
    let mut addresses = Vec::with_capacity(read.len());
    for r in read {
        addresses.push(r.address_spans);
        identities.push(r.identity);
    }

    let entries = identities
        .iter()
        .zip(&addresses)
        .enumerate()
        .flat_map(|(i, (id, addrs))| {
            addrs.iter().map(move |(held, span)| overlap::Entry {
                held: *held,
                identity: i,
                name: &id.name,
                span: *span,
            })
        })
        .collect();
    overlap::check(entries, diags);

    (errors == 0).then(|| Inventory::new(attributes.types, identities))
}

/// One piece of the identities, checked with the names it holds alone.
struct Piece {
    read: Vec<identity::Read>,
    names: identity::Names,
    diags: Diagnostics,
    errors: usize,
}

/// `items` checked by `each` in pieces of [`PIECE`], on this thread and on a
/// second one started once `spare_core` answers yes; the pieces in order, or
/// `None` when a name is in two of them (the sequential check then differs:
/// E0104 at the second definition).
fn in_pieces<'n, E>(
    items: &[(usize, &'n Node<'n>)],
    each: &E,
    spare_core: &(dyn Fn() -> bool + Sync),
) -> Option<Vec<Piece>>
where
    E: Fn(
            &[(usize, &'n Node<'n>)],
            &mut identity::Names,
            &mut Diagnostics,
        ) -> (Vec<identity::Read>, usize)
        + Sync,
{
    let pieces: Vec<&[(usize, &Node)]> = items.chunks(PIECE).collect();
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Option<Piece>>> = Mutex::new(pieces.iter().map(|_| None).collect());
    let one = || {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let items = pieces.get(i)?;
        let mut names = identity::Names::default();
        let mut diags = Diagnostics::new();
        let (read, errors) = each(items, &mut names, &mut diags);
        let piece = Piece {
            read,
            names,
            diags,
            errors,
        };
        done.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(piece);
        Some(())
    };
    std::thread::scope(|scope| {
        let mut helper = None;
        loop {
            if helper.is_none() && next.load(Ordering::Relaxed) + 1 < pieces.len() && spare_core() {
                helper = Some(scope.spawn(|| while one().is_some() {}));
            }
            if one().is_none() {
                break;
            }
        }
        if let Some(Err(panic)) = helper.map(|h| h.join()) {
            std::panic::resume_unwind(panic);
        }
    });
    // Every piece is done once the helper has returned.
    let done: Vec<Piece> = done
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .collect::<Option<_>>()?;
    let mut seen = HashSet::with_capacity(items.len());
    let unique = done
        .iter()
        .flat_map(|piece| piece.names.keys())
        .all(|name| seen.insert(name.as_str()));
    unique.then_some(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Everything a load hands on, as text: the inventory, every diagnostic
    /// in order, and the span of instants its readings of now hold for.
    fn loaded(
        files: &[(FileId, &str)],
        spare_core: &(dyn Fn() -> bool + Sync),
        parallel: usize,
    ) -> String {
        let now = Now::new(seg_ir::Timestamp(1_800_000_000));
        let mut diags = Diagnostics::new();
        let inventory = load_from(files, &now, &mut diags, spare_core, parallel);
        format!(
            "{inventory:?}\n{:?}\n{:?}",
            diags.iter().collect::<Vec<_>>(),
            now.span()
        )
    }

    /// The same as checking every identity in order on one thread, with a
    /// second thread from the start, from the fifth piece, or never.
    fn same_every_way(files: &[(FileId, &str)]) -> String {
        let whole = loaded(files, &|| false, usize::MAX);
        let asked = AtomicUsize::new(0);
        let later = || asked.fetch_add(1, Ordering::Relaxed) >= 4;
        for (spare, how) in [
            (&(|| true) as &(dyn Fn() -> bool + Sync), "from the start"),
            (&later, "from the fifth piece"),
            (&|| false, "never"),
        ] {
            let pieces = loaded(files, spare, 0);
            assert!(pieces == whole, "a second thread {how}: differs");
        }
        whole
    }

    /// `n` identities from `first` on, with now and then a credential that
    /// is shared (W0102) or overdue (W0103) and an address another holds (W0101).
    fn identities(first: usize, n: usize) -> String {
        let mut text = String::new();
        for i in first..first + n {
            let address = match i % 301 {
                7 => "10.0.0.0/24".to_string(),
                _ => format!("10.{}.{}.0/24", i / 250, i % 250),
            };
            text += &format!(
                "  - name: id-{i}\n    kind: workload\n    owner: team-{}\n    attributes: {{ tier: {} }}\n    addresses: [{address}]\n",
                i % 7,
                i % 3,
            );
            if i % 97 == 5 {
                text += "    credential: { type: x509, rotated: 2026-01-01, max_age: 90d, shared: true }\n";
            }
        }
        text
    }

    const HEAD: &str = "version: 1\nattributes:\n  tier: int\nidentities:\n";

    #[test]
    fn identities_checked_in_pieces_give_the_sequential_inventory() {
        let a = format!("{HEAD}{}", identities(0, 700));
        let b = format!("version: 1\nidentities:\n{}", identities(700, 300));
        let files = [(FileId(0), a.as_str()), (FileId(1), b.as_str())];
        let all = same_every_way(&files);
        assert!(all.starts_with("Some(Inventory"), "{all}");
        assert!(all.contains("id-999"), "{all}");
        for code in [
            "SharedCredential",
            "StaleCredential",
            "OverlappingAddresses",
        ] {
            assert!(all.contains(code), "{code}: {all}");
        }
    }

    /// Errors in several pieces, and names defined twice: within a piece,
    /// in the first and the last piece, in two files. The diagnostics are
    /// the sequential ones, in its order (E0104 at the second definition).
    #[test]
    fn errors_and_names_defined_twice_give_the_sequential_diagnostics() {
        let mut a = format!("{HEAD}{}", identities(0, 600));
        a = a.replace("name: id-3\n", "name: id-2\n");
        a = a.replace(
            "name: id-200\n    kind: workload",
            "name: id-200\n    kind: robot",
        );
        a = a.replace("[10.0.200.0/24]", "[10.0.200.0/33]");
        a = a.replace(
            "name: id-590\n    kind: workload\n",
            "name: id-590\n    kind: workload\n    colour: blue\n",
        );
        let b = format!(
            "version: 1\nidentities:\n{}",
            identities(600, 300).replace("name: id-899\n", "name: id-1\n")
        );
        // Errors in three pieces, a name defined twice within the first.
        let all = same_every_way(&[(FileId(0), a.as_str())]);
        assert!(all.starts_with("None"), "{all}");
        for code in ["DuplicateIdentity", "UnknownField", "InvalidValue"] {
            assert!(all.contains(code), "{code}: {all}");
        }
        // And a name of the first piece defined again in the second file.
        let files = [(FileId(0), a.as_str()), (FileId(1), b.as_str())];
        let all = same_every_way(&files);
        assert!(all.starts_with("None"), "{all}");
        assert!(all.matches("DuplicateIdentity").count() == 2, "{all}");
        // Across pieces only: one name in the first and in the last piece.
        let c = format!(
            "{HEAD}{}",
            identities(0, 900).replace("name: id-899\n", "name: id-0\n")
        );
        let all = same_every_way(&[(FileId(0), c.as_str())]);
        assert!(all.contains("DuplicateIdentity"), "{all}");
    }

    /// Random inventories in one to three files: names drawn from a small
    /// pool (defined twice within a piece, across pieces and files, or
    /// never), names with quotes, backslashes and line breaks, entries in
    /// error, shared addresses. Every way of sharing gives the sequential
    /// inventory and diagnostics.
    #[test]
    fn random_inventories_give_the_sequential_result_every_way() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for case in 0..24 {
            let pool = [40, 300, 100_000][case % 3];
            let mut texts = Vec::new();
            for f in 0..1 + next(3) {
                let mut text = if f == 0 {
                    String::from(HEAD)
                } else {
                    String::from("version: 1\nidentities:\n")
                };
                for _ in 0..next(400) + 100 {
                    let n = next(pool);
                    let name = match next(9) {
                        0 => format!("\"q\\\"{n}\\n\\\\x\""),
                        1 => format!("'it''s {n}'"),
                        _ => format!("id-{n}"),
                    };
                    let kind = if next(50) == 0 { "robot" } else { "workload" };
                    let address =
                        format!("10.0.{}.0/{}", next(40), [24, 24, 24, 33][next(4) as usize]);
                    text += &format!(
                        "  - name: {name}\n    kind: {kind}\n    owner: t\n    attributes: {{ tier: {} }}\n    addresses: [{address}]\n",
                        next(3)
                    );
                    if next(60) == 0 {
                        text += "    colour: blue\n";
                    }
                }
                texts.push(text);
            }
            let files: Vec<(FileId, &str)> = texts
                .iter()
                .enumerate()
                .map(|(i, t)| (FileId(i as u32), t.as_str()))
                .collect();
            same_every_way(&files);
        }
    }
}
