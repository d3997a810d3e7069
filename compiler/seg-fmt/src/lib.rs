//! `seg fmt`: the one canonical layout of `.seg` files (`docs/fmt.md`).
//!
//! [`format`] parses the text, lays the AST out again with every comment in
//! its place, and checks its own output before handing it back: the output
//! must parse to the same tree (spans aside) and hold the same comments in
//! the same order. A file with a syntax error gets the parser's diagnostic
//! and no output; a layout that fails the check is an internal error, so a
//! caller never writes a file whose meaning changed.

mod comments;
mod doc;
mod printer;

pub use doc::{INDENT, WIDTH};

use seg_diag::{Diagnostic, FileId, Span};
use seg_syntax::ast::{File, Item, UsePath};

/// Stack that formatting the deepest expression the parser accepts needs, with
/// a margin; below it, formatting runs on a fresh segment of [`FORMAT_STACK`].
const STACK_NEEDED: usize = 4 * 1024 * 1024;
const FORMAT_STACK: usize = 16 * 1024 * 1024;

/// The canonical layout of one `.seg` file.
pub fn format(file: FileId, text: &str) -> Result<String, Diagnostic> {
    stacker::maybe_grow(STACK_NEEDED, FORMAT_STACK, || format_here(file, text))
}

/// Whether `text` is already in the canonical layout (`Err`: it does not parse).
pub fn is_formatted(file: FileId, text: &str) -> Result<bool, Diagnostic> {
    Ok(format(file, text)? == text)
}

/// The layout without the check of [`format`] (for debugging the formatter).
#[doc(hidden)]
pub fn layout_unchecked(file: FileId, text: &str) -> Result<String, Diagnostic> {
    let ast = seg_syntax::parse(file, text)?;
    let found = comments::scan(text, &opaque(&ast));
    layout(file, text, &ast, found)
}

fn layout(
    file: FileId,
    text: &str,
    ast: &File,
    found: Vec<comments::Comment>,
) -> Result<String, Diagnostic> {
    let mut printer = printer::Printer::new(text, found);
    let doc = printer
        .file(ast)
        .map_err(|e| internal(file, &format!("the layout did not follow the tree: {e}")))?;
    Ok(doc::render(&doc))
}

fn format_here(file: FileId, text: &str) -> Result<String, Diagnostic> {
    let ast = seg_syntax::parse(file, text)?;
    let found = comments::scan(text, &opaque(&ast));
    let out = layout(file, text, &ast, found.clone())?;
    // Never hand back a text that reads differently.
    let again = seg_syntax::parse(file, &out).map_err(|d| {
        internal(
            file,
            &format!("the formatted text does not parse: {}", d.message),
        )
    })?;
    if tree(&ast) != tree(&again) {
        return Err(internal(file, "the formatted text parses to another tree"));
    }
    let before = comment_texts(text, &found);
    let after = comment_texts(&out, &comments::scan(&out, &opaque(&again)));
    if before != after {
        return Err(internal(file, "the formatted text lost or moved a comment"));
    }
    Ok(out)
}

/// The comments of a parsed file, in order, as written (line comments
/// without trailing whitespace).
pub fn comments_of(file: FileId, text: &str) -> Result<Vec<String>, Diagnostic> {
    let ast = seg_syntax::parse(file, text)?;
    Ok(comment_texts(text, &comments::scan(text, &opaque(&ast))))
}

fn comment_texts(text: &str, found: &[comments::Comment]) -> Vec<String> {
    found
        .iter()
        .map(|c| text[c.start..c.end].to_string())
        .collect()
}

/// The file paths of `use` items, whose text may hold `//`.
fn opaque(ast: &File) -> Vec<std::ops::Range<usize>> {
    ast.items
        .iter()
        .filter_map(|i| match i {
            Item::Use(u) if matches!(u.path.node, UsePath::File(_)) => Some(u.path.span.range()),
            _ => None,
        })
        .collect()
}

/// A tree without its spans and with `use` lists in a fixed order, for
/// comparing two parses: formatting may only sort `use` items and their names.
pub fn tree(ast: &File) -> serde_json::Value {
    let mut uses = Vec::new();
    let mut items = Vec::new();
    for item in &ast.items {
        match item {
            Item::Use(u) => {
                let mut u = u.clone();
                u.names.sort_by(|a, b| a.node.text.cmp(&b.node.text));
                uses.push(to_value(&u));
                items.push(serde_json::Value::from("use"));
            }
            other => items.push(to_value(other)),
        }
    }
    uses.sort_by_key(|u| u.to_string());
    serde_json::json!({ "items": items, "uses": uses })
}

fn to_value(v: &impl serde::Serialize) -> serde_json::Value {
    let mut v = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
    strip_spans(&mut v);
    v
}

fn strip_spans(v: &mut serde_json::Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("span");
                stack.extend(map.values_mut());
            }
            serde_json::Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

fn internal(file: FileId, what: &str) -> Diagnostic {
    Diagnostic::bug(format!("seg fmt could not lay this file out: {what}"))
        .with_primary(Span::new(file, 0, 0), "in this file")
        .with_note("the file was left as it is")
}
