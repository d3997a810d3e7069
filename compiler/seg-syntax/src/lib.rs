//! The `.seg` language front end: a pest grammar lowered into a span-carrying
//! AST. Only [`parse`], [`parse_predicate`], [`parse_expects`] and [`ast`]
//! are public, so the parser stays swappable.
//!
//! Input: one file's text and its [`FileId`]. Output: an [`ast::File`], or the
//! first problem found as a [`Diagnostic`] (a PEG parser has no recovery):
//! E0001 syntax error, E0002 malformed literal, E0003 nesting too deep or file
//! too large. Parsing never panics and never recurses deeper than
//! a fixed bound, whatever the input.

pub mod ast;
mod cursor;
mod exprs;
mod grammar;
mod items;
mod literal;
mod prescan;
mod syntax_error;

use cursor::Ctx;
use grammar::{Rule, SegParser};
use pest::Parser;
use seg_diag::{Diagnostic, FileId};

/// Stack that parsing may need at the deepest nesting allowed, with a margin
/// (debug builds use several KiB per level). When the caller's thread has less
/// left, parsing runs on a fresh segment of [`PARSE_STACK`] bytes.
const STACK_NEEDED: usize = 4 * 1024 * 1024;
const PARSE_STACK: usize = 8 * 1024 * 1024;

/// Parse one `.seg` file.
pub fn parse(file: FileId, text: &str) -> Result<ast::File, Diagnostic> {
    stacker::maybe_grow(STACK_NEEDED, PARSE_STACK, || parse_here(file, text))
}

/// Parse an `identities where` predicate on its own, as `seg.toml` writes
/// one (`[reach] critical = "tier == 0"`, `[jit] grantable`). Bytes of `text`
/// around it may be blanked to spaces, so that spans point into the file that
/// holds it.
pub fn parse_predicate(file: FileId, text: &str) -> Result<ast::Pred, Diagnostic> {
    stacker::maybe_grow(STACK_NEEDED, PARSE_STACK, || {
        prescan::check(file, text)?;
        let mut pairs = SegParser::parse(Rule::predicate_only, text)
            .map_err(|e| syntax_error::diagnostic(file, text, e))?;
        let ctx = Ctx { file };
        let root = pairs.next();
        match root.and_then(|r| r.into_inner().find(|p| p.as_rule() == Rule::pred)) {
            Some(pred) => exprs::pred(ctx, &pred),
            None => Err(ctx.bug(seg_diag::Span::new(file, 0, 0), "no predicate node")),
        }
    })
}

/// Parse a file of `expect` lines alone, as in a `test` block's body (the
/// intended changes `seg diff --expect` reads). Same errors as [`parse`].
pub fn parse_expects(file: FileId, text: &str) -> Result<Vec<ast::Expect>, Diagnostic> {
    stacker::maybe_grow(STACK_NEEDED, PARSE_STACK, || {
        prescan::check(file, text)?;
        let mut pairs = SegParser::parse(Rule::expect_file, text)
            .map_err(|e| syntax_error::diagnostic(file, text, e))?;
        let ctx = Ctx { file };
        match pairs.next() {
            Some(pair) => items::expect_file(ctx, &pair),
            None => Err(ctx.bug(seg_diag::Span::new(file, 0, 0), "no file node")),
        }
    })
}

fn parse_here(file: FileId, text: &str) -> Result<ast::File, Diagnostic> {
    prescan::check(file, text)?;
    let mut pairs =
        SegParser::parse(Rule::file, text).map_err(|e| syntax_error::diagnostic(file, text, e))?;
    let ctx = Ctx { file };
    match pairs.next() {
        Some(pair) => items::file(ctx, &pair),
        None => Err(ctx.bug(seg_diag::Span::new(file, 0, 0), "no file node")),
    }
}
