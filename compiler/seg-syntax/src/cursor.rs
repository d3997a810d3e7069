//! Reading a pest pair's children one grammar rule at a time.
//!
//! The grammar guarantees the shape of every pair, so a child that is missing
//! or of the wrong rule is a bug in seg, reported as an internal-error
//! diagnostic (E9001) rather than a panic.

use crate::grammar::Rule;
use pest::iterators::{Pair, Pairs};
use seg_diag::{Diagnostic, FileId, Span};
use std::iter::Peekable;

/// What every lowering function needs: the file being parsed.
#[derive(Clone, Copy)]
pub(crate) struct Ctx {
    pub file: FileId,
}

impl Ctx {
    /// Our span for a pair, taken at once so no pest type outlives lowering.
    /// It ends where the pair's last token ends: pest also counts the
    /// whitespace it skipped before an optional part that did not match.
    pub fn span(self, pair: &Pair<'_, Rule>) -> Span {
        Span::new(self.file, pair.as_span().start(), token_end(pair))
    }

    /// The span of an item or rule without its leading doc comment, so that
    /// diagnostics point at the code.
    pub fn span_after_docs(self, pair: &Pair<'_, Rule>) -> Span {
        let full = self.span(pair);
        let mut inner = pair.clone().into_inner();
        match (inner.next(), inner.next()) {
            (Some(d), Some(next)) if d.as_rule() == Rule::docs => Span {
                start: self.span(&next).start,
                ..full
            },
            _ => full,
        }
    }

    /// A span of `len` bytes at `offset` bytes into `pair`.
    pub fn sub_span(self, pair: &Pair<'_, Rule>, offset: usize, len: usize) -> Span {
        let start = pair.as_span().start() + offset;
        Span::new(self.file, start, start + len)
    }

    /// The internal error for a tree that does not have the shape the grammar promises.
    pub fn bug(self, span: Span, what: impl Into<String>) -> Diagnostic {
        Diagnostic::bug(format!("unexpected parse tree: {}", what.into()))
            .with_primary(span, "while reading this")
    }

    /// Read the children of `pair`.
    pub fn children<'i>(self, pair: &Pair<'i, Rule>) -> Cursor<'i> {
        Cursor {
            ctx: self,
            parent: pair.clone(),
            inner: pair.clone().into_inner().peekable(),
        }
    }
}

/// The end of the last token of `pair`. Compound-atomic rules skip no
/// whitespace but may end in an unnamed literal (a closing quote), so they
/// keep their own end.
fn token_end(pair: &Pair<'_, Rule>) -> usize {
    let compound = matches!(
        pair.as_rule(),
        Rule::string | Rule::attr_path | Rule::port_proto | Rule::use_module
    );
    let span = pair.as_span();
    // What pest skips is whitespace and comments: a pair whose text ends in
    // neither, and holds no `/` that could start a comment, ends with its last token.
    let text = span.as_str();
    let trivia_last = text.ends_with([' ', '\t', '\r', '\n', '\u{FEFF}']);
    if compound || (!trivia_last && !text.as_bytes().contains(&b'/')) {
        return span.end();
    }
    match pair.clone().into_inner().next_back() {
        Some(last) => token_end(&last),
        None => span.end(),
    }
}

/// The children of one pair, read in order.
pub(crate) struct Cursor<'i> {
    ctx: Ctx,
    parent: Pair<'i, Rule>,
    inner: Peekable<Pairs<'i, Rule>>,
}

impl<'i> Cursor<'i> {
    /// The internal error for a parent that does not have the children it should.
    fn malformed(&self, at: Option<&Pair<'i, Rule>>, what: String) -> Diagnostic {
        let span = self.ctx.span(at.unwrap_or(&self.parent));
        self.ctx
            .bug(span, format!("{what} in {:?}", self.parent.as_rule()))
    }

    /// The next child, which must be a `want`.
    pub fn next(&mut self, want: Rule) -> Result<Pair<'i, Rule>, Diagnostic> {
        match self.inner.next() {
            Some(p) if p.as_rule() == want => Ok(p),
            Some(p) => Err(self.malformed(
                Some(&p),
                format!("{:?} where {want:?} belongs", p.as_rule()),
            )),
            None => Err(self.malformed(None, format!("missing {want:?}"))),
        }
    }

    /// The next child, whatever its rule.
    pub fn next_any(&mut self) -> Result<Pair<'i, Rule>, Diagnostic> {
        match self.inner.next() {
            Some(p) => Ok(p),
            None => Err(self.malformed(None, "a missing child".to_string())),
        }
    }

    /// The next child if it is a `rule`.
    pub fn optional(&mut self, want: Rule) -> Option<Pair<'i, Rule>> {
        self.inner.next_if(|p| p.as_rule() == want)
    }

    /// The rule of the next child, without taking it.
    pub fn peek(&mut self) -> Option<Rule> {
        self.inner.peek().map(Pair::as_rule)
    }

    /// Every child left whose rule is `rule`, stopping at the first other one.
    pub fn many(&mut self, want: Rule) -> Vec<Pair<'i, Rule>> {
        std::iter::from_fn(|| self.optional(want)).collect()
    }

    /// The children not read yet.
    pub fn rest(self) -> Peekable<Pairs<'i, Rule>> {
        self.inner
    }

    /// Check that every child was read.
    pub fn done(mut self) -> Result<(), Diagnostic> {
        match self.inner.next() {
            None => Ok(()),
            Some(p) => Err(self.malformed(Some(&p), format!("unread {:?}", p.as_rule()))),
        }
    }
}
