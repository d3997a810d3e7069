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
use tree::Value;

/// Load and check every inventory file; `None` if any of them has an error.
pub fn load(files: &[(FileId, &str)], now: &Now, diags: &mut Diagnostics) -> Option<Inventory> {
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

    let mut names = identity::Names::default();
    let mut identities = Vec::new();
    let mut addresses = Vec::new();
    for (file, text, top) in &tops {
        let Some(list) = top.identities else { continue };
        let Value::Seq(items) = &list.value else {
            continue;
        };
        let mut r = Reader {
            file: *file,
            text,
            diags,
            errors: 0,
        };
        for item in items {
            if let Some(read) = identity::identity(&mut r, item, &attributes, &mut names, now) {
                addresses.push(read.address_spans);
                identities.push(read.identity);
            }
        }
        errors += r.errors;
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
