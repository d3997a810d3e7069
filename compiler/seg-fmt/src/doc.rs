//! A small Wadler-style layout engine: a [`Doc`] says where lines may break,
//! [`render`] picks, group by group, the flat layout when it fits the width
//! and the broken one otherwise.
//!
//! Two additions for comments: [`Doc::Trailing`] holds a `//` comment that
//! ends the current line (written before the next line break, never followed
//! by code on the same line), and [`Doc::Blank`] asks for one empty line,
//! collapsing with others and never opening a block.

/// Columns a line may take before a group breaks.
pub const WIDTH: usize = 100;
/// Spaces per level of indentation (and per continuation).
pub const INDENT: usize = 2;

#[derive(Clone, Debug)]
pub(crate) enum Doc {
    Nil,
    /// Text without line breaks.
    Text(String),
    /// Text that may hold line breaks (a block comment), written as is.
    Verbatim(String),
    /// One space, dropped at the start of a line.
    Space,
    /// A space when flat, a line break when broken.
    Line,
    /// Nothing when flat, a line break when broken.
    SoftLine,
    /// Always a line break.
    Hard,
    /// A line break unless the line is still empty.
    EnsureLine,
    /// An empty line (at most one; none right after an opening line or at the start).
    Blank,
    /// A `//` comment ending the line.
    Trailing(String),
    Indent(Box<Doc>),
    Group {
        doc: Box<Doc>,
        hard: bool,
    },
    /// `.0` when the enclosing group is broken, `.1` when flat.
    IfBreak(Box<Doc>, Box<Doc>),
    Concat(Vec<Doc>),
}

impl Doc {
    pub fn text(s: impl Into<String>) -> Doc {
        Doc::Text(s.into())
    }

    pub fn indent(d: Doc) -> Doc {
        Doc::Indent(Box::new(d))
    }

    pub fn group(d: Doc) -> Doc {
        let hard = d.is_hard();
        Doc::Group {
            doc: Box::new(d),
            hard,
        }
    }

    pub fn if_break(broken: Doc, flat: Doc) -> Doc {
        Doc::IfBreak(Box::new(broken), Box::new(flat))
    }

    /// Whether this doc lays out nothing at all.
    fn is_empty(&self) -> bool {
        match self {
            Doc::Nil => true,
            Doc::Indent(d) => d.is_empty(),
            Doc::Group { doc, .. } => doc.is_empty(),
            Doc::Concat(ds) => ds.iter().all(Doc::is_empty),
            _ => false,
        }
    }

    /// Whether this doc forces the groups around it to break.
    fn is_hard(&self) -> bool {
        match self {
            Doc::Hard | Doc::EnsureLine | Doc::Blank | Doc::Trailing(_) => true,
            Doc::Verbatim(s) => s.contains('\n'),
            Doc::Indent(d) => d.is_hard(),
            Doc::Group { hard, .. } => *hard,
            Doc::IfBreak(b, f) => b.is_hard() || f.is_hard(),
            Doc::Concat(ds) => ds.iter().any(Doc::is_hard),
            _ => false,
        }
    }

    /// The width of this doc laid out flat, `None` if it cannot be (it holds a
    /// line break or a comment that ends a line). Trailing comments at the very
    /// end do not count.
    pub fn flat_width(&self) -> Option<usize> {
        let (doc, _) = split_trailing(self.clone());
        let mut w = 0;
        let mut stack = vec![&doc];
        while let Some(d) = stack.pop() {
            match d {
                Doc::Nil | Doc::SoftLine => {}
                Doc::Text(s) => w += width(s),
                Doc::Verbatim(s) if !s.contains('\n') => w += width(s),
                Doc::Space | Doc::Line => w += 1,
                Doc::Indent(d) => stack.push(d),
                Doc::Group { doc, .. } => stack.push(doc),
                Doc::IfBreak(_, f) => stack.push(f),
                Doc::Concat(ds) => stack.extend(ds.iter().rev()),
                _ => return None,
            }
        }
        Some(w)
    }
}

/// Take the `//` comments that end `doc` out of it, so that a trailing comment
/// does not break the group it follows.
pub(crate) fn split_trailing(doc: Doc) -> (Doc, Vec<Doc>) {
    match doc {
        Doc::Trailing(_) => (Doc::Nil, vec![doc]),
        Doc::Concat(mut ds) => {
            let mut taken = Vec::new();
            while let Some(last) = ds.pop() {
                match last {
                    _ if last.is_empty() => {}
                    Doc::Trailing(_) => taken.push(last),
                    other => {
                        let (rest, mut more) = split_trailing(other);
                        ds.push(rest);
                        more.reverse();
                        taken.extend(more);
                        break;
                    }
                }
            }
            taken.reverse();
            (Doc::Concat(ds), taken)
        }
        Doc::Group { doc, .. } => {
            let (rest, taken) = split_trailing(*doc);
            (Doc::group(rest), taken)
        }
        Doc::Indent(d) => {
            let (rest, taken) = split_trailing(*d);
            (Doc::indent(rest), taken)
        }
        other => (other, Vec::new()),
    }
}

pub(crate) fn width(s: &str) -> usize {
    s.chars().count()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Flat,
    Break,
}

struct Out {
    text: String,
    /// Characters on the current line (indentation included).
    col: usize,
    /// The indentation still to write before the next text on this line.
    indent_due: Option<usize>,
    /// Trailing comments to write before the next line break.
    pending: Vec<String>,
}

impl Out {
    fn line_empty(&self) -> bool {
        self.indent_due.is_some() || self.text.is_empty()
    }

    fn write(&mut self, s: &str, indent: usize) {
        if !self.pending.is_empty() {
            self.newline(indent);
        }
        if let Some(n) = self.indent_due.take() {
            self.text.extend(std::iter::repeat_n(' ', n));
            self.col = n;
        }
        self.text.push_str(s);
        match s.rfind('\n') {
            Some(i) => self.col = width(&s[i + 1..]),
            None => self.col += width(s),
        }
    }

    fn newline(&mut self, indent: usize) {
        for c in std::mem::take(&mut self.pending) {
            if self.indent_due.is_some() {
                // The comment's line was never started: it stands alone.
                self.write(&c, indent);
            } else {
                self.text.push(' ');
                self.text.push_str(&c);
            }
        }
        let kept = self.text.trim_end_matches([' ', '\t']).len();
        self.text.truncate(kept);
        self.text.push('\n');
        self.col = 0;
        self.indent_due = Some(indent);
    }

    /// Whether the output ends with an empty line, or is at a place where an
    /// empty line would be noise (start of file, just after an opening `{`).
    fn blank_is_noise(&self) -> bool {
        let t = self.text.trim_end_matches([' ', '\n']);
        t.is_empty() || t.ends_with('{') || self.text.ends_with("\n\n")
    }
}

/// Lay `doc` out within [`WIDTH`] columns.
pub(crate) fn render(doc: &Doc) -> String {
    let mut out = Out {
        text: String::new(),
        col: 0,
        indent_due: None,
        pending: Vec::new(),
    };
    let mut stack: Vec<(usize, Mode, &Doc)> = vec![(0, Mode::Break, doc)];
    while let Some((indent, mode, d)) = stack.pop() {
        match d {
            Doc::Nil => {}
            Doc::Text(s) | Doc::Verbatim(s) => out.write(s, indent),
            Doc::Space => {
                if !out.line_empty() && out.pending.is_empty() {
                    out.write(" ", indent);
                }
            }
            Doc::Line if mode == Mode::Flat => {
                if out.pending.is_empty() {
                    out.write(" ", indent);
                } else {
                    out.newline(indent);
                }
            }
            Doc::SoftLine if mode == Mode::Flat => {
                if !out.pending.is_empty() {
                    out.newline(indent);
                }
            }
            Doc::Line | Doc::SoftLine | Doc::Hard => out.newline(indent),
            Doc::EnsureLine => {
                if !out.line_empty() || !out.pending.is_empty() {
                    out.newline(indent);
                } else if out.indent_due.is_some() {
                    out.indent_due = Some(indent);
                }
            }
            Doc::Blank => {
                if !out.line_empty() || !out.pending.is_empty() {
                    out.newline(indent);
                }
                if !out.blank_is_noise() {
                    out.newline(indent);
                }
            }
            Doc::Trailing(s) => out.pending.push(s.clone()),
            Doc::Indent(inner) => stack.push((indent + INDENT, mode, inner)),
            Doc::Group { doc, hard } => {
                let flat = !*hard
                    && (mode == Mode::Flat || fits(WIDTH.saturating_sub(out.col), doc, &stack));
                stack.push((indent, if flat { Mode::Flat } else { Mode::Break }, doc));
            }
            Doc::IfBreak(broken, flat) => {
                stack.push((
                    indent,
                    mode,
                    if mode == Mode::Break { broken } else { flat },
                ));
            }
            Doc::Concat(ds) => stack.extend(ds.iter().rev().map(|d| (indent, mode, d))),
        }
    }
    if !out.pending.is_empty() {
        out.newline(0);
    }
    let mut text = out.text.trim_end().to_string();
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// Whether `doc`, flat, and what follows it up to the next possible line break
/// fit in `room` columns.
fn fits(room: usize, doc: &Doc, rest: &[(usize, Mode, &Doc)]) -> bool {
    let mut room = room as isize;
    let mut todo: Vec<(Mode, &Doc)> = vec![(Mode::Flat, doc)];
    let mut rest = rest.iter().rev();
    loop {
        let Some((mode, d)) = todo.pop().or_else(|| rest.next().map(|&(_, m, d)| (m, d))) else {
            return true;
        };
        match d {
            Doc::Nil | Doc::Trailing(_) => {}
            Doc::Text(s) | Doc::Verbatim(s) => room -= width(s) as isize,
            Doc::Space => room -= 1,
            Doc::Line | Doc::SoftLine if mode == Mode::Break => return true,
            Doc::Line => room -= 1,
            Doc::SoftLine => {}
            Doc::Hard | Doc::EnsureLine | Doc::Blank => return mode == Mode::Break,
            Doc::Indent(inner) => todo.push((mode, inner)),
            Doc::Group { doc, hard } => {
                todo.push((if *hard { Mode::Break } else { Mode::Flat }, doc));
            }
            Doc::IfBreak(b, f) => todo.push((mode, if mode == Mode::Break { b } else { f })),
            Doc::Concat(ds) => todo.extend(ds.iter().rev().map(|d| (mode, d))),
        }
        if room < 0 {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(n: usize) -> Doc {
        let mut items = vec![Doc::SoftLine];
        for i in 0..n {
            if i > 0 {
                items.push(Doc::text(","));
                items.push(Doc::Line);
            }
            items.push(Doc::text(format!("item-{i:03}")));
        }
        items.push(Doc::if_break(Doc::text(","), Doc::Nil));
        Doc::group(Doc::Concat(vec![
            Doc::text("["),
            Doc::indent(Doc::Concat(items)),
            Doc::SoftLine,
            Doc::text("]"),
        ]))
    }

    #[test]
    fn groups_break_only_when_too_wide() {
        assert_eq!(render(&list(3)), "[item-000, item-001, item-002]\n");
        let long = render(&list(20));
        assert!(long.starts_with("[\n  item-000,\n"), "{long}");
        assert!(long.ends_with("  item-019,\n]\n"), "{long}");
    }

    #[test]
    fn trailing_comments_end_their_line() {
        let doc = Doc::Concat(vec![
            Doc::text("a"),
            Doc::Trailing("// x".into()),
            Doc::Space,
            Doc::text("b"),
        ]);
        assert_eq!(render(&doc), "a // x\nb\n");
    }
}
