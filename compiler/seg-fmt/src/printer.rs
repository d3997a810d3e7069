//! The walk from the AST to a [`Doc`].
//!
//! The AST gives the structure; the text gives every token as written (names,
//! literals, quoting) and the comments. A cursor walks the text in source
//! order: each token is found after the whitespace and comments before it,
//! checked against what the AST says comes next, and the comments met on the
//! way are laid out before it (own-line comments) or after the token they
//! follow on its line (trailing comments). A token that is not where the AST
//! says is an internal error: the file is then left as it is.
//!
//! Items, rules and clauses are built first and assembled second, which is
//! where blank lines, alignment and the canonical orders (sorted `use`
//! lists, clauses in their conventional order) are decided. Anything is
//! reordered only where no comment sits among the reordered parts.

use crate::comments::{Comment, Kind, is_space, skip_trivia};
use crate::doc::{Doc, INDENT, WIDTH, split_trailing};
use seg_diag::Span;
use seg_syntax::ast::{
    CmpOp, Cond, CondKind, ContextDef, ContextType, Expect, File, Ident, Item, PolicyDef, Pred,
    PredKind, RuleDef, SegmentDef, ServiceDef, ServiceRef, SetExpr, SetExprKind, Spanned, TestDef,
    Use, UsePath, Value, WithItem,
};

pub(crate) type R<T> = Result<T, String>;

pub(crate) struct Printer<'a> {
    text: &'a str,
    comments: Vec<Comment>,
    /// The first comment not laid out yet.
    next: usize,
    /// Where the last token read ends.
    pos: usize,
}

/// One line-level unit (item, rule, metadata, expectation) before assembly.
struct Unit {
    /// Own-line comments before it.
    leading: Vec<Doc>,
    body: Doc,
    /// `//` comments after its last token.
    trailing: Vec<Doc>,
    /// An empty line before it (or before its leading comments) in the source.
    blank_before: bool,
    /// Comments inside it or before it.
    has_comments: bool,
    /// For alignment: the parts before the aligned columns.
    columns: Vec<Doc>,
    /// For sorting (`use` items).
    key: String,
}

impl Unit {
    /// The width of the unit on one line, columns unpadded.
    fn line_width(&self) -> Option<usize> {
        let mut w = self.body.flat_width()?;
        for c in &self.columns {
            w += c.flat_width()? + 1;
        }
        Some(w)
    }
}

/// How a run of aligned units is padded: each column to the widest in the run.
fn column_widths(units: &[Unit]) -> Vec<usize> {
    let n = units.iter().map(|u| u.columns.len()).max().unwrap_or(0);
    (0..n)
        .map(|i| {
            units
                .iter()
                .filter_map(|u| u.columns.get(i).and_then(Doc::flat_width))
                .max()
                .unwrap_or(0)
        })
        .collect()
}

impl<'a> Printer<'a> {
    pub(crate) fn new(text: &'a str, comments: Vec<Comment>) -> Printer<'a> {
        Printer {
            text,
            comments,
            next: 0,
            pos: 0,
        }
    }

    // ---- tokens and comments ---------------------------------------------

    fn at(&self) -> usize {
        skip_trivia(self.text, self.pos)
    }

    fn peek(&self, expected: &str) -> bool {
        self.text[self.at()..].starts_with(expected)
    }

    /// The next token, which must be `expected`.
    fn tok(&mut self, expected: &str) -> R<Doc> {
        self.tok_as(expected, Doc::text(expected))
    }

    /// Read the token `expected` but lay out `doc` in its place.
    fn tok_as(&mut self, expected: &str, doc: Doc) -> R<Doc> {
        let at = self.at();
        if !self.text[at..].starts_with(expected) {
            return Err(self.unexpected(at, expected));
        }
        Ok(self.emit(at, at + expected.len(), doc))
    }

    /// A leaf the AST spans, laid out as written.
    fn span(&mut self, span: Span) -> R<Doc> {
        let (start, end) = (span.start as usize, span.end as usize);
        let at = self.at();
        let Some(text) = self.text.get(start..end).filter(|_| at == start) else {
            return Err(self.unexpected(at, "a spanned token"));
        };
        Ok(self.emit(start, end, Doc::text(text)))
    }

    /// A word (`mon`, an enum value) or a string, as written.
    fn word(&mut self) -> R<Doc> {
        let at = self.at();
        let rest = &self.text[at..];
        let len = if rest.starts_with('"') {
            string_len(rest)
        } else {
            rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len())
        };
        if len == 0 {
            return Err(self.unexpected(at, "a word"));
        }
        let text = &self.text[at..at + len];
        Ok(self.emit(at, at + len, Doc::text(text)))
    }

    /// An attribute path as written (`request.method`, `context."a b"`).
    fn path(&mut self) -> R<Doc> {
        let at = self.at();
        let rest = &self.text[at..];
        let mut len = 0;
        loop {
            let part = &rest[len..];
            let n = if part.starts_with('"') {
                string_len(part)
            } else {
                part.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                    .unwrap_or(part.len())
            };
            len += n;
            if n == 0 || !rest[len..].starts_with('.') {
                break;
            }
            len += 1;
        }
        if len == 0 {
            return Err(self.unexpected(at, "an attribute path"));
        }
        let text = &self.text[at..at + len];
        Ok(self.emit(at, at + len, Doc::text(text)))
    }

    fn unexpected(&self, at: usize, expected: &str) -> String {
        let found: String = self.text[at..].chars().take(12).collect();
        format!("expected {expected} at byte {at}, found `{found}`")
    }

    /// Comments before `start`, then `doc`, then the comments that follow the
    /// token on its line.
    fn emit(&mut self, start: usize, end: usize, doc: Doc) -> Doc {
        let mut parts = self.leading(start);
        parts.push(doc);
        self.pos = end;
        self.trailing(end, &mut parts);
        Doc::Concat(parts)
    }

    /// Every comment not laid out yet that starts before `at`.
    fn leading(&mut self, at: usize) -> Vec<Doc> {
        let mut parts = Vec::new();
        while let Some(c) = self.comments.get(self.next).filter(|c| c.start < at) {
            let c = c.clone();
            self.next += 1;
            let body = self.text[c.start..c.end].to_string();
            let before = if c.blank_before {
                Doc::Blank
            } else {
                Doc::EnsureLine
            };
            match (c.kind, c.own_line) {
                (Kind::Line, true) => parts.extend([before, Doc::Text(body), Doc::Hard]),
                (Kind::Line, false) => parts.push(Doc::Trailing(body)),
                (Kind::Block, own) => {
                    if own {
                        parts.push(before);
                    }
                    parts.push(Doc::Verbatim(body));
                    parts.push(if c.ends_line && own {
                        Doc::Hard
                    } else {
                        Doc::Space
                    });
                }
            }
        }
        parts
    }

    /// Comments that follow the token ending at `end` on the same line.
    fn trailing(&mut self, end: usize, parts: &mut Vec<Doc>) {
        let mut from = end;
        while let Some(c) = self.comments.get(self.next) {
            let gap = &self.text[from..c.start];
            if !gap.chars().all(|ch| ch == ' ' || ch == '\t') {
                break;
            }
            let c = c.clone();
            self.next += 1;
            from = c.end;
            let body = self.text[c.start..c.end].to_string();
            match c.kind {
                Kind::Line => {
                    parts.push(Doc::Trailing(body));
                    break;
                }
                Kind::Block => {
                    parts.push(Doc::Space);
                    parts.push(Doc::Verbatim(body));
                }
            }
        }
    }

    /// Whether an empty line lies in the whitespace just before `at`.
    fn blank_gap_before(&self, at: usize) -> bool {
        let before = &self.text[..at];
        let gap = &before[before.trim_end_matches(is_space).len()..];
        gap.matches('\n').count() >= 2
    }

    /// Whether any comment not laid out yet starts before `end`.
    fn comments_before(&self, end: usize) -> bool {
        self.comments.get(self.next).is_some_and(|c| c.start < end)
    }

    /// Start a line-level unit at `at`: its leading comments and whether an
    /// empty line precedes it.
    fn unit_start(&mut self, at: usize) -> (Vec<Doc>, bool, usize) {
        let first = self.next;
        let blank = self.blank_gap_before(
            self.comments
                .get(self.next)
                .filter(|c| c.start < at)
                .map_or(at, |c| c.start),
        );
        let mut leading = self.leading(at);
        if leading.is_empty() {
            return (leading, blank, first);
        }
        if self.blank_gap_before(at) {
            leading.push(Doc::Blank);
        }
        (leading, blank, first)
    }

    fn unit(&mut self, at: usize, build: impl FnOnce(&mut Self) -> R<(Doc, Vec<Doc>)>) -> R<Unit> {
        let (leading, blank_before, first) = self.unit_start(at);
        let (body, columns) = build(self)?;
        let (body, trailing) = split_trailing(body);
        Ok(Unit {
            leading,
            body,
            trailing,
            blank_before,
            has_comments: self.next > first,
            columns,
            key: String::new(),
        })
    }

    // ---- file ---------------------------------------------------------------

    pub(crate) fn file(&mut self, f: &File) -> R<Doc> {
        let mut items = Vec::new();
        for item in &f.items {
            items.push(self.item(item)?);
        }
        let tail = self.leading(self.text.len());
        let mut out = Vec::new();
        let mut items = items.into_iter().peekable();
        let mut prev: Option<ItemKind> = None;
        while let Some((kind, unit)) = items.next() {
            let mut run = vec![unit];
            while kind.lines_up()
                && let Some((_, next)) = items.next_if(|(k, u)| *k == kind && joins(u))
            {
                run.push(next);
            }
            if let Some(p) = prev {
                let block = kind == ItemKind::Block || p == ItemKind::Block;
                out.push(if block || run[0].blank_before {
                    Doc::Blank
                } else {
                    Doc::Hard
                });
            }
            prev = Some(kind);
            let run = if kind == ItemKind::Use {
                sort_uses(run)
            } else {
                run
            };
            out.push(assemble(run, 0));
        }
        out.extend(tail);
        Ok(Doc::Concat(out))
    }

    fn item(&mut self, item: &Item) -> R<(ItemKind, Unit)> {
        Ok(match item {
            Item::Use(u) => {
                let mut unit = self.unit(u.span.start as usize, |p| p.use_item(u))?;
                // Standard-library modules first, then files, each by path.
                unit.key = match &u.path.node {
                    UsePath::Module(parts) => format!("0{}", parts.join("::")),
                    UsePath::File(f) => format!("1{f}"),
                };
                (ItemKind::Use, unit)
            }
            Item::Segment(s) => (
                ItemKind::Segment,
                self.unit(s.span.start as usize, |p| p.segment(s))?,
            ),
            Item::Service(s) => (
                ItemKind::Service,
                self.unit(s.span.start as usize, |p| p.service(s))?,
            ),
            Item::Policy(pol) => (
                ItemKind::Block,
                self.unit(pol.span.start as usize, |p| Ok((p.policy(pol)?, vec![])))?,
            ),
            Item::Context(c) => (
                ItemKind::Block,
                self.unit(c.span.start as usize, |p| Ok((p.context(c)?, vec![])))?,
            ),
            Item::Test(t) => (
                ItemKind::Block,
                self.unit(t.span.start as usize, |p| Ok((p.test(t)?, vec![])))?,
            ),
        })
    }

    fn use_item(&mut self, u: &Use) -> R<(Doc, Vec<Doc>)> {
        let kw = self.tok("use")?;
        let path = self.span(u.path.span)?;
        let sep = self.tok("::")?;
        let sortable = !self.comments_before(u.span.end as usize);
        let names = &u.names;
        let list = self.list(
            "{",
            "}",
            names,
            |p, n| p.span(n.span),
            |docs| {
                if !sortable {
                    return docs;
                }
                let mut pairs: Vec<(&Ident, Doc)> = names.iter().zip(docs).collect();
                pairs.sort_by(|a, b| a.0.node.text.cmp(&b.0.node.text));
                pairs.into_iter().map(|(_, d)| d).collect()
            },
        )?;
        Ok((Doc::Concat(vec![kw, Doc::Space, path, sep, list]), vec![]))
    }

    fn segment(&mut self, s: &SegmentDef) -> R<(Doc, Vec<Doc>)> {
        let kw = self.tok("segment")?;
        let name = self.span(s.name.span)?;
        let head = Doc::Concat(vec![kw, Doc::Space, name]);
        let eq = self.tok("=")?;
        let expr = self.set(&s.expr)?;
        Ok((Doc::Concat(vec![eq, Doc::Space, expr]), vec![head]))
    }

    fn service(&mut self, s: &ServiceDef) -> R<(Doc, Vec<Doc>)> {
        let kw = self.tok("service")?;
        let name = self.span(s.name.span)?;
        let head = Doc::Concat(vec![kw, Doc::Space, name]);
        let eq = self.tok("=")?;
        let ports = self.services(&s.ports)?;
        Ok((Doc::Concat(vec![eq, Doc::Space, ports]), vec![head]))
    }

    /// `a, b, tcp/443`: breaks after commas, continuation lines indented.
    fn services(&mut self, refs: &[ServiceRef]) -> R<Doc> {
        self.sequence(refs, |p, r| p.span(r.span))
    }

    /// Items separated by `,`, no brackets, no trailing comma.
    fn sequence<T>(
        &mut self,
        items: &[T],
        mut each: impl FnMut(&mut Self, &T) -> R<Doc>,
    ) -> R<Doc> {
        let mut parts = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                parts.push(self.tok(",")?);
                parts.push(Doc::Line);
            }
            parts.push(each(self, item)?);
        }
        let mut parts = parts.into_iter();
        let first = parts.next().unwrap_or(Doc::Nil);
        Ok(Doc::group(Doc::Concat(vec![
            first,
            Doc::indent(Doc::Concat(parts.collect())),
        ])))
    }

    /// `[a, b]`, `{a, b}`: one item per line when broken, with a trailing comma.
    /// `arrange` may reorder the item docs (only when no comment is inside).
    fn list<T>(
        &mut self,
        open: &str,
        close: &str,
        items: &[T],
        mut each: impl FnMut(&mut Self, &T) -> R<Doc>,
        arrange: impl FnOnce(Vec<Doc>) -> Vec<Doc>,
    ) -> R<Doc> {
        let open = self.tok(open)?;
        let mut docs = Vec::new();
        let mut commas = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                commas.push(self.tok(",")?);
            }
            docs.push(each(self, item)?);
        }
        // The last item's comma: the source's, or one written only when broken.
        let last_comma = Doc::if_break(Doc::text(","), Doc::Nil);
        commas.push(if self.peek(",") && !items.is_empty() {
            self.tok_as(",", last_comma)?
        } else {
            last_comma
        });
        let docs = arrange(docs);
        let tail = self.leading(self.at());
        let close = self.tok(close)?;
        let mut inner = vec![Doc::SoftLine];
        let n = docs.len();
        for (i, (d, comma)) in docs.into_iter().zip(commas).enumerate() {
            inner.push(d);
            inner.push(comma);
            if i + 1 < n {
                inner.push(Doc::Line);
            }
        }
        inner.extend(tail);
        Ok(Doc::group(Doc::Concat(vec![
            open,
            Doc::indent(Doc::Concat(inner)),
            Doc::SoftLine,
            close,
        ])))
    }

    // ---- blocks -------------------------------------------------------------

    /// `{`, the lines, the comments before `}`, `}`.
    fn block(&mut self, lines: Doc, empty: bool) -> R<Doc> {
        let tail = self.leading(self.at());
        let close = self.tok("}")?;
        if empty && tail.is_empty() {
            return Ok(close);
        }
        Ok(Doc::Concat(vec![
            Doc::indent(Doc::Concat(vec![Doc::Hard, lines, Doc::Concat(tail)])),
            Doc::EnsureLine,
            close,
        ]))
    }

    fn policy(&mut self, pol: &PolicyDef) -> R<Doc> {
        let kw = self.tok("policy")?;
        let name = self.span(pol.name.span)?;
        let open = self.tok("{")?;
        // Metadata in source order; owner before review-by unless comments are among them.
        let mut meta: Vec<(usize, bool)> = Vec::new();
        if let Some(o) = &pol.owner {
            meta.push((o.span.start as usize, true));
        }
        if let Some(r) = &pol.review_by {
            meta.push((r.span.start as usize, false));
        }
        meta.sort();
        let meta_end = meta.last().map_or(0, |(s, _)| *s);
        let reorder = !self.comments_before(meta_end);
        let mut meta_units = Vec::new();
        for (_, is_owner) in &meta {
            let at = self.at();
            let unit = if *is_owner {
                let span = pol.owner.as_ref().map(|o| o.span);
                self.unit(at, |p| {
                    let kw = p.tok("owner")?;
                    let v = p.span(span.unwrap_or_default_span())?;
                    Ok((Doc::Concat(vec![kw, Doc::Space, v]), vec![]))
                })?
            } else {
                let span = pol.review_by.as_ref().map(|r| r.span);
                self.unit(at, |p| {
                    let kw = p.tok("review-by")?;
                    let v = p.span(span.unwrap_or_default_span())?;
                    Ok((Doc::Concat(vec![kw, Doc::Space, v]), vec![]))
                })?
            };
            meta_units.push(unit);
        }
        if reorder && meta_units.len() == 2 && !meta[0].1 {
            meta_units.swap(0, 1);
        }
        let mut rules = Vec::new();
        for r in &pol.rules {
            rules.push(self.rule(r)?);
        }
        let empty = meta_units.is_empty() && rules.is_empty();
        let mut lines = Vec::new();
        let has_meta = !meta_units.is_empty();
        for (i, u) in meta_units.into_iter().enumerate() {
            if i > 0 {
                lines.push(if u.blank_before {
                    Doc::Blank
                } else {
                    Doc::Hard
                });
            }
            lines.push(place(u, &[]));
        }
        if !rules.is_empty() {
            if has_meta {
                lines.push(Doc::Blank);
            }
            lines.push(lines_of(rules, INDENT));
        }
        let body = self.block(Doc::Concat(lines), empty)?;
        Ok(Doc::Concat(vec![
            kw,
            Doc::Space,
            name,
            Doc::Space,
            open,
            body,
        ]))
    }

    fn rule(&mut self, r: &RuleDef) -> R<Unit> {
        self.unit(r.span.start as usize, |p| {
            let action = p.span(r.action.span)?;
            let src = p.set(&r.src)?;
            let arrow = p.span(r.arrow.span)?;
            let dst = p.set(&r.dst)?;
            let on = p.tok("on")?;
            let services = p.services(&r.services)?;
            let clauses = p.clauses(r)?;
            let head = Doc::group(Doc::Concat(vec![
                Doc::Nil, // action and source are placed by `assemble`
                arrow,
                Doc::Space,
                dst,
                Doc::indent(Doc::Concat(vec![Doc::Line, on, Doc::Space, services])),
            ]));
            let mut rest = Vec::new();
            for c in clauses {
                rest.push(Doc::Line);
                rest.push(c);
            }
            let tail = Doc::Concat(vec![head, Doc::indent(Doc::Concat(rest))]);
            Ok((tail, vec![action, src]))
        })
    }

    /// The clauses after the services, in source order, or in the conventional
    /// order (`when`, `expires`, `reason`, `owner`, `ticket`, `approved-by`,
    /// `created`) when no comment is among them.
    fn clauses(&mut self, r: &RuleDef) -> R<Vec<Doc>> {
        let mut found: Vec<(usize, u8)> = Vec::new();
        if let Some(c) = &r.when {
            found.push((c.span.start as usize, 0));
        }
        if let Some(e) = &r.expires {
            found.push((e.span.start as usize, 1));
        }
        if let Some(s) = &r.reason {
            found.push((s.span.start as usize, 2));
        }
        if let Some(o) = &r.owner {
            found.push((o.span.start as usize, 3));
        }
        if let Some(t) = &r.ticket {
            found.push((t.span.start as usize, 4));
        }
        if let Some(a) = &r.approved_by {
            found.push((a.span.start as usize, 5));
        }
        if let Some(c) = &r.created {
            found.push((c.span.start as usize, 6));
        }
        found.sort();
        let reorder = !self.comments_before(r.span.end as usize);
        let mut docs = Vec::new();
        for &(_, which) in &found {
            let doc = match which {
                0 => {
                    let kw = self.tok("when")?;
                    let cond = r.when.as_ref().map(|c| self.cond(c)).transpose()?;
                    Doc::Concat(vec![kw, Doc::Space, cond.unwrap_or(Doc::Nil)])
                }
                1 => self.keyword_value("expires", r.expires.as_ref().map(|e| e.span))?,
                2 => self.keyword_value("reason", r.reason.as_ref().map(|e| e.span))?,
                3 => self.keyword_value("owner", r.owner.as_ref().map(|e| e.span))?,
                4 => self.keyword_value("ticket", r.ticket.as_ref().map(|e| e.span))?,
                5 => self.keyword_value("approved-by", r.approved_by.as_ref().map(|e| e.span))?,
                _ => self.keyword_value("created", r.created.as_ref().map(|e| e.span))?,
            };
            docs.push((which, doc));
        }
        if reorder {
            docs.sort_by_key(|(w, _)| *w);
        }
        Ok(docs.into_iter().map(|(_, d)| d).collect())
    }

    fn keyword_value(&mut self, kw: &str, span: Option<Span>) -> R<Doc> {
        let kw = self.tok(kw)?;
        let v = self.span(span.unwrap_or_default_span())?;
        Ok(Doc::Concat(vec![kw, Doc::Space, v]))
    }

    fn context(&mut self, c: &ContextDef) -> R<Doc> {
        let kw = self.tok("context")?;
        let open = self.tok("{")?;
        let mut units = Vec::new();
        for input in &c.inputs {
            let at = self.at();
            units.push(self.unit(at, |p| {
                let name = p.span(input.name.span)?;
                let colon = p.tok(":")?;
                let ty = match &input.ty.node {
                    ContextType::String => p.tok("string")?,
                    ContextType::Int => p.tok("int")?,
                    ContextType::Bool => p.tok("bool")?,
                    ContextType::Enum(values) => {
                        let kw = p.tok("enum")?;
                        let list = p.list("[", "]", values, |p, _| p.word(), |d| d)?;
                        Doc::Concat(vec![kw, list])
                    }
                };
                let comma = if p.peek(",") {
                    p.tok(",")?
                } else {
                    Doc::text(",")
                };
                Ok((
                    Doc::Concat(vec![name, colon, Doc::Space, ty, comma]),
                    vec![],
                ))
            })?);
        }
        let empty = units.is_empty();
        let lines = lines_of(units, INDENT);
        let body = self.block(lines, empty)?;
        Ok(Doc::Concat(vec![kw, Doc::Space, open, body]))
    }

    fn test(&mut self, t: &TestDef) -> R<Doc> {
        let kw = self.tok("test")?;
        let name = self.span(t.name.span)?;
        let open = self.tok("{")?;
        let mut units = Vec::new();
        for e in &t.expects {
            units.push(self.expect(e)?);
        }
        let empty = units.is_empty();
        let lines = lines_of(units, INDENT);
        let body = self.block(lines, empty)?;
        Ok(Doc::Concat(vec![
            kw,
            Doc::Space,
            name,
            Doc::Space,
            open,
            body,
        ]))
    }

    fn expect(&mut self, e: &Expect) -> R<Unit> {
        self.unit(e.span.start as usize, |p| {
            let kw = p.tok("expect")?;
            let decision = p.span(e.decision.span)?;
            let src = p.span(e.src.span)?;
            let arrow = p.tok("->")?;
            let dst = p.span(e.dst.span)?;
            let on = p.tok("on")?;
            let port = p.span(e.port.span)?;
            // `with` and `at` in source order, `with` first unless comments are among them.
            let with_at = e.with.first().map(|w| w.span.start as usize);
            let at_at = e.at.as_ref().map(|a| a.span.start as usize);
            let reorder = !p.comments_before(e.span.end as usize);
            let mut clauses: Vec<(u8, Doc)> = Vec::new();
            let with_first = match (with_at, at_at) {
                (Some(w), Some(a)) => w < a,
                _ => true,
            };
            for which in if with_first { [0u8, 1] } else { [1, 0] } {
                if which == 0 && !e.with.is_empty() {
                    let kw = p.tok("with")?;
                    let items = p.sequence(&e.with, |p, w| p.with_item(w))?;
                    clauses.push((0, Doc::Concat(vec![kw, Doc::Space, items])));
                }
                if which == 1
                    && let Some(at) = &e.at
                {
                    let kw = p.tok("at")?;
                    let ts = p.span(at.span)?;
                    clauses.push((1, Doc::Concat(vec![kw, Doc::Space, ts])));
                }
            }
            if reorder {
                clauses.sort_by_key(|(w, _)| *w);
            }
            let mut rest = vec![arrow, Doc::Space, dst, Doc::Space, on, Doc::Space, port];
            let mut more = Vec::new();
            for (_, c) in clauses {
                more.push(Doc::Line);
                more.push(c);
            }
            rest.push(Doc::indent(Doc::Concat(more)));
            let kw_decision = Doc::Concat(vec![kw, Doc::Space, decision]);
            Ok((Doc::group(Doc::Concat(rest)), vec![kw_decision, src]))
        })
    }

    fn with_item(&mut self, w: &Spanned<WithItem>) -> R<Doc> {
        match &w.node {
            WithItem::Mtls => self.tok("mtls"),
            WithItem::Method(_) | WithItem::Path(_) => {
                let path = self.path()?;
                let eq = self.tok("=")?;
                let v = self.word()?;
                Ok(Doc::Concat(vec![path, Doc::Space, eq, Doc::Space, v]))
            }
            WithItem::Context { value, .. } => {
                let path = self.path()?;
                let eq = self.tok("=")?;
                let v = self.span(value.span)?;
                Ok(Doc::Concat(vec![path, Doc::Space, eq, Doc::Space, v]))
            }
        }
    }

    // ---- set expressions ----------------------------------------------------

    /// Whether the node spanning `span` is wrapped in parentheses: it starts
    /// with `(` that is not its left operand's.
    fn parenthesized(&self, span: Span, left: Option<Span>) -> bool {
        self.text.as_bytes().get(span.start as usize) == Some(&b'(')
            && left.is_none_or(|l| l.start != span.start)
    }

    fn paren(&mut self, inner: impl FnOnce(&mut Self) -> R<Doc>) -> R<Doc> {
        let open = self.tok("(")?;
        let doc = inner(self)?;
        let close = self.tok(")")?;
        Ok(Doc::Concat(vec![open, doc, close]))
    }

    fn set(&mut self, e: &SetExpr) -> R<Doc> {
        if self.parenthesized(e.span, set_left(e).map(|l| l.span)) {
            return self.paren(|p| p.set_inner(e));
        }
        self.set_inner(e)
    }

    fn set_inner(&mut self, e: &SetExpr) -> R<Doc> {
        match &e.node {
            SetExprKind::Union(..) | SetExprKind::Difference(..) | SetExprKind::Intersect(..) => {
                // The left spine of operators of one precedence, as one chain.
                let tight = matches!(e.node, SetExprKind::Intersect(..));
                let mut rights = Vec::new();
                let mut cur = e;
                loop {
                    let (op, l, r) = match &cur.node {
                        SetExprKind::Union(l, r) if !tight => ("|", l, r),
                        SetExprKind::Difference(l, r) if !tight => ("-", l, r),
                        SetExprKind::Intersect(l, r) if tight => ("&", l, r),
                        _ => break,
                    };
                    if !std::ptr::eq(cur, e) && self.parenthesized(cur.span, Some(l.span)) {
                        break;
                    }
                    rights.push((op, &**r));
                    cur = l;
                }
                let first = self.set(cur)?;
                let mut rest = Vec::new();
                for (op, r) in rights.into_iter().rev() {
                    rest.push(Doc::Line);
                    rest.push(self.tok(op)?);
                    rest.push(Doc::Space);
                    rest.push(self.set(r)?);
                }
                Ok(Doc::group(Doc::Concat(vec![
                    first,
                    Doc::indent(Doc::Concat(rest)),
                ])))
            }
            SetExprKind::Name(_) => self.span(e.span),
            SetExprKind::List(names) => self.list("[", "]", names, |p, n| p.span(n.span), |d| d),
            SetExprKind::Where(pred) => {
                let ids = self.tok("identities")?;
                let wh = self.tok("where")?;
                let pred = self.pred(pred)?;
                Ok(Doc::Concat(vec![ids, Doc::Space, wh, Doc::Space, pred]))
            }
            SetExprKind::Network(nets) => {
                let kw = self.tok("network")?;
                let list = self.sequence(nets, |p, n| p.span(n.span))?;
                Ok(Doc::Concat(vec![kw, Doc::Space, list]))
            }
            SetExprKind::Any => self.tok("any"),
        }
    }

    // ---- predicates and conditions --------------------------------------------

    fn pred(&mut self, p: &Pred) -> R<Doc> {
        let left = match &p.node {
            PredKind::And(l, _) | PredKind::Or(l, _) => Some(l.span),
            _ => None,
        };
        if self.parenthesized(p.span, left) {
            return self.paren(|pr| pr.pred_inner(p));
        }
        self.pred_inner(p)
    }

    fn pred_inner(&mut self, p: &Pred) -> R<Doc> {
        match &p.node {
            PredKind::And(..) | PredKind::Or(..) => {
                let is_and = matches!(p.node, PredKind::And(..));
                let mut rights = Vec::new();
                let mut cur = p;
                loop {
                    let (l, r) = match &cur.node {
                        PredKind::And(l, r) if is_and => (l, r),
                        PredKind::Or(l, r) if !is_and => (l, r),
                        _ => break,
                    };
                    if !std::ptr::eq(cur, p) && self.parenthesized(cur.span, Some(l.span)) {
                        break;
                    }
                    rights.push(&**r);
                    cur = l;
                }
                let op = if is_and { "and" } else { "or" };
                let first = self.pred(cur)?;
                let mut rest = Vec::new();
                for r in rights.into_iter().rev() {
                    rest.push(Doc::Line);
                    rest.push(self.tok(op)?);
                    rest.push(Doc::Space);
                    rest.push(self.pred(r)?);
                }
                Ok(chain(first, rest))
            }
            PredKind::Not(inner) => {
                let kw = self.tok("not")?;
                let inner = self.pred(inner)?;
                Ok(Doc::Concat(vec![kw, Doc::Space, inner]))
            }
            PredKind::Compare { attr, op, value } => self.compare(attr.span, *op, value.span),
            PredKind::In { attr, values } => self.in_list(attr.span, values),
            PredKind::Matches { attr, pattern } => self.matches(attr.span, pattern.span),
            PredKind::Has(attr) => self.has(attr.span),
            PredKind::Bare(attr) => self.span(attr.span),
        }
    }

    fn cond(&mut self, c: &Cond) -> R<Doc> {
        let left = match &c.node {
            CondKind::And(l, _) | CondKind::Or(l, _) => Some(l.span),
            _ => None,
        };
        if self.parenthesized(c.span, left) {
            return self.paren(|p| p.cond_inner(c));
        }
        self.cond_inner(c)
    }

    fn cond_inner(&mut self, c: &Cond) -> R<Doc> {
        match &c.node {
            CondKind::And(..) | CondKind::Or(..) => {
                let is_and = matches!(c.node, CondKind::And(..));
                let mut rights = Vec::new();
                let mut cur = c;
                loop {
                    let (l, r) = match &cur.node {
                        CondKind::And(l, r) if is_and => (l, r),
                        CondKind::Or(l, r) if !is_and => (l, r),
                        _ => break,
                    };
                    if !std::ptr::eq(cur, c) && self.parenthesized(cur.span, Some(l.span)) {
                        break;
                    }
                    rights.push(&**r);
                    cur = l;
                }
                let op = if is_and { "and" } else { "or" };
                let first = self.cond(cur)?;
                let mut rest = Vec::new();
                for r in rights.into_iter().rev() {
                    rest.push(Doc::Line);
                    rest.push(self.tok(op)?);
                    rest.push(Doc::Space);
                    rest.push(self.cond(r)?);
                }
                Ok(chain(first, rest))
            }
            CondKind::Not(inner) => {
                let kw = self.tok("not")?;
                let inner = self.cond(inner)?;
                Ok(Doc::Concat(vec![kw, Doc::Space, inner]))
            }
            CondKind::Mtls => self.tok("mtls"),
            CondKind::Time { start, end, utc } => {
                let kw = self.tok("time")?;
                let from = self.span(start.span)?;
                let dots = self.tok("..")?;
                let to = self.span(end.span)?;
                let mut parts = vec![kw, Doc::Space, from, dots, to];
                if *utc {
                    parts.push(Doc::Space);
                    parts.push(self.tok("utc")?);
                }
                Ok(Doc::Concat(parts))
            }
            CondKind::Days(ranges) => {
                let kw = self.tok("days")?;
                let list = self.sequence(ranges, |p, _| {
                    let from = p.word()?;
                    if p.peek("..") {
                        let dots = p.tok("..")?;
                        let to = p.word()?;
                        return Ok(Doc::Concat(vec![from, dots, to]));
                    }
                    Ok(from)
                })?;
                Ok(Doc::Concat(vec![kw, Doc::Space, list]))
            }
            CondKind::Compare { attr, op, value } => self.compare(attr.span, *op, value.span),
            CondKind::In { attr, values } => self.in_list(attr.span, values),
            CondKind::Matches { attr, pattern } => self.matches(attr.span, pattern.span),
            CondKind::Has(attr) => self.has(attr.span),
            CondKind::Bare(attr) => self.span(attr.span),
        }
    }

    fn compare(&mut self, attr: Span, op: CmpOp, value: Span) -> R<Doc> {
        let a = self.span(attr)?;
        let op = self.tok(match op {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        })?;
        let v = self.span(value)?;
        Ok(Doc::Concat(vec![a, Doc::Space, op, Doc::Space, v]))
    }

    fn in_list(&mut self, attr: Span, values: &[Spanned<Value>]) -> R<Doc> {
        let a = self.span(attr)?;
        let kw = self.tok("in")?;
        let list = self.list("[", "]", values, |p, v| p.span(v.span), |d| d)?;
        Ok(Doc::Concat(vec![a, Doc::Space, kw, Doc::Space, list]))
    }

    fn matches(&mut self, attr: Span, pattern: Span) -> R<Doc> {
        let a = self.span(attr)?;
        let kw = self.tok("matches")?;
        let p = self.span(pattern)?;
        Ok(Doc::Concat(vec![a, Doc::Space, kw, Doc::Space, p]))
    }

    fn has(&mut self, attr: Span) -> R<Doc> {
        let kw = self.tok("has")?;
        let open = self.tok("(")?;
        let a = self.span(attr)?;
        let close = self.tok(")")?;
        Ok(Doc::Concat(vec![kw, open, a, close]))
    }
}

/// `a and b and c`: breaks before the operators, continuation lines indented.
fn chain(first: Doc, rest: Vec<Doc>) -> Doc {
    Doc::group(Doc::Concat(vec![first, Doc::indent(Doc::Concat(rest))]))
}

fn set_left(e: &SetExpr) -> Option<&SetExpr> {
    match &e.node {
        SetExprKind::Union(l, _) | SetExprKind::Intersect(l, _) | SetExprKind::Difference(l, _) => {
            Some(l)
        }
        _ => None,
    }
}

/// The length of the string token at the start of `s` (quotes included).
fn string_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return i + 1,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Use,
    Segment,
    Service,
    /// A policy, context or test: a multi-line block.
    Block,
}

impl ItemKind {
    /// Whether consecutive items of this kind form runs (sorted or aligned).
    fn lines_up(self) -> bool {
        self != ItemKind::Block
    }
}

/// Whether a unit continues the run before it: no empty line and no comment
/// line between them.
fn joins(u: &Unit) -> bool {
    !u.blank_before && u.leading.is_empty()
}

/// A run of `use` items: sorted by path (standard library first) when no
/// comment is among them.
fn sort_uses(mut run: Vec<Unit>) -> Vec<Unit> {
    if run.iter().any(|u| u.has_comments || !u.trailing.is_empty()) {
        return run;
    }
    run.sort_by(|a, b| a.key.cmp(&b.key));
    run
}

/// Lines of a block: units separated by line breaks, an empty line kept where
/// the source has one, runs of single-line units aligned.
fn lines_of(units: Vec<Unit>, indent: usize) -> Doc {
    let mut out = Vec::new();
    let mut units = units.into_iter().peekable();
    let mut first = true;
    while let Some(u) = units.next() {
        let mut run = vec![u];
        while let Some(next) = units.peek() {
            if !joins(next) {
                break;
            }
            if let Some(n) = units.next() {
                run.push(n);
            }
        }
        if !first {
            out.push(if run[0].blank_before {
                Doc::Blank
            } else {
                Doc::Hard
            });
        }
        first = false;
        out.push(assemble(run, indent));
    }
    Doc::Concat(out)
}

/// Lay out a run of units one per line. Units that fit on one line form
/// aligned groups: each column padded to the widest of its group.
fn assemble(run: Vec<Unit>, indent: usize) -> Doc {
    let mut out = Vec::new();
    let mut group: Vec<Unit> = Vec::new();
    let flush = |group: &mut Vec<Unit>, out: &mut Vec<Doc>| {
        if group.is_empty() {
            return;
        }
        let widths = column_widths(group);
        let fits_aligned = group.iter().all(|u| {
            let own: usize = u.columns.iter().filter_map(Doc::flat_width).sum();
            let padded: usize = widths.iter().take(u.columns.len()).sum();
            u.line_width()
                .is_some_and(|w| indent + w + padded - own <= WIDTH)
        });
        let aligned = group.len() > 1 && fits_aligned;
        if !out.is_empty() {
            out.push(Doc::Hard);
        }
        let n = group.len();
        for (i, u) in group.drain(..).enumerate() {
            let pads = if aligned { widths.clone() } else { Vec::new() };
            out.push(place(u, &pads));
            if i + 1 < n {
                out.push(Doc::Hard);
            }
        }
    };
    for u in run {
        let single = u.line_width().is_some_and(|w| indent + w <= WIDTH) && u.leading.is_empty();
        if single {
            group.push(u);
        } else {
            flush(&mut group, &mut out);
            if !out.is_empty() {
                out.push(Doc::Hard);
            }
            out.push(place(u, &[]));
        }
    }
    flush(&mut group, &mut out);
    Doc::Concat(out)
}

/// One unit: its leading comments, its columns (padded to `pads`) and body,
/// then its trailing comments.
fn place(u: Unit, pads: &[usize]) -> Doc {
    let mut parts = u.leading;
    let mut line = Vec::new();
    for (i, col) in u.columns.into_iter().enumerate() {
        let w = col.flat_width().unwrap_or(0);
        line.push(col);
        if let Some(&p) = pads.get(i) {
            line.push(Doc::Text(" ".repeat(p.saturating_sub(w))));
        }
        line.push(Doc::Space);
    }
    line.push(u.body);
    parts.push(Doc::group(Doc::Concat(line)));
    parts.extend(u.trailing);
    Doc::Concat(parts)
}

/// A placeholder span for values the AST guarantees are present.
trait OrDefaultSpan {
    fn unwrap_or_default_span(self) -> Span;
}

impl OrDefaultSpan for Option<Span> {
    fn unwrap_or_default_span(self) -> Span {
        self.unwrap_or(Span {
            file: seg_diag::FileId(0),
            start: u32::MAX,
            end: u32::MAX,
        })
    }
}
