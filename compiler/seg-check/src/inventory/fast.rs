//! A fast reader for the plain shape most inventories have, giving the very
//! tree [`super::tree`]'s saphyr-based reader gives, spans included.
//!
//! The shape: ASCII text without tabs or carriage returns; a block mapping at
//! the top; block mappings and block sequences (`- ` items, compact mappings
//! in them) indented by spaces; one-line flow lists and mappings
//! (`[a, b]`, `{ k: v }`); plain scalars of letters, digits and `_./-`;
//! comments on their own lines or after a value. Anything else (quotes, tags,
//! anchors, multi-line scalars, documents markers, odd indentation, any
//! syntax error) returns `None` and the caller reads the file with saphyr, so
//! every diagnostic still comes from there. `tree::tests` compare the two
//! readers on the repository's inventories, the fuzz seeds and mutations;
//! `differential` on 30,000 random texts built around the shape's edges.
//!
//! Spans follow saphyr's markers: a block collection starts at its first key
//! or `-` and ends where the token that closes it starts (the next line at a
//! lower indentation, or the end of the text); a flow collection spans its
//! brackets and the blanks and comment after them on their line; a key's empty value takes the key's span.

use super::tree::{Node, Value, scalar_value};
use saphyr_parser::ScalarStyle;
use seg_diag::{FileId, Span};
use std::borrow::Cow;

/// Nesting the fast reader takes on; deeper files go to saphyr (far below `MAX_DEPTH`).
const MAX_NESTING: usize = 24;
/// saphyr refuses implicit keys longer than 1024 characters; stay well below.
const MAX_KEY: usize = 512;

/// The document tree of `text`, or `None` when the text is outside the shape.
pub fn parse(file: FileId, text: &str) -> Option<Node<'_>> {
    let bytes = text.as_bytes();
    if !bytes
        .iter()
        .all(|&b| b == b'\n' || (b' '..=b'~').contains(&b))
    {
        return None;
    }
    let lines = lines(bytes)?;
    let first = *lines.first()?;
    if first.indent != 0 {
        return None;
    }
    let mut r = Fast {
        file,
        text,
        bytes,
        lines,
        next: 0,
        depth: 0,
    };
    let doc = r.block_map(first.content, 0)?;
    (r.next == r.lines.len()).then_some(doc)
}

/// A line with content: where its first non-blank byte is and where it ends.
#[derive(Clone, Copy)]
struct Line {
    indent: usize,
    content: usize,
    end: usize,
}

/// The lines with content (blank lines and comment lines left out); `None` on
/// a line that starts a document marker or directive.
fn lines(bytes: &[u8]) -> Option<Vec<Line>> {
    let mut out = Vec::with_capacity(bytes.len() / 24);
    let mut start = 0;
    while start < bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| start + i);
        let line = &bytes[start..end];
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        if line.starts_with(b"---") || line.starts_with(b"...") {
            return None;
        }
        if indent < line.len() && line[indent] != b'#' {
            out.push(Line {
                indent,
                content: start + indent,
                end,
            });
        }
        start = end + 1;
    }
    Some(out)
}

fn plain_start(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/')
}

fn plain_rest(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')
}

/// A plain scalar the core schema can only read as a string, known without
/// trying it as a number: integers and floats (Rust's parsers, `0x`, `0o`)
/// never hold `/` or `_`, and start with a digit, a sign or a dot, but for
/// `inf` and `nan`, which saphyr takes as floats only with a digit in them,
/// i.e. never; of the words, only null, true and false are not strings.
fn surely_string(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().any(|&c| c == b'/' || c == b'_')
        || (b.first().is_some_and(u8::is_ascii_alphabetic)
            && !matches!(
                s,
                "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
            ))
}

struct Fast<'t> {
    file: FileId,
    text: &'t str,
    bytes: &'t [u8],
    lines: Vec<Line>,
    /// The first line not yet read.
    next: usize,
    depth: usize,
}

impl<'t> Fast<'t> {
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }

    /// Where the token after the current block starts: the next line's content, or the end.
    fn block_end(&self) -> usize {
        self.lines
            .get(self.next)
            .map_or(self.bytes.len(), |l| l.content)
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_NESTING).then_some(())
    }

    /// A plain scalar at `at`: its end (exclusive).
    fn plain(&self, at: usize) -> Option<usize> {
        let b = self.bytes;
        if !b.get(at).copied().is_some_and(plain_start) {
            return None;
        }
        let mut end = at + 1;
        while b.get(end).copied().is_some_and(plain_rest) {
            end += 1;
        }
        Some(end)
    }

    fn scalar(&self, start: usize, end: usize) -> Node<'t> {
        let text: &'t str = &self.text[start..end];
        let value = if surely_string(text) {
            Value::Str(Cow::Borrowed(text))
        } else {
            scalar_value(Cow::Borrowed(text), ScalarStyle::Plain, None)
        };
        Node {
            span: self.span(start, end),
            value,
        }
    }

    /// A key at `at` followed by `:` and a blank or the line's end: the key node
    /// and the position after the colon.
    fn key(&self, at: usize, line_end: usize) -> Option<(Node<'t>, usize)> {
        let end = self.plain(at)?;
        if end - at > MAX_KEY || self.bytes.get(end) != Some(&b':') {
            return None;
        }
        let after = end + 1;
        if after < line_end && self.bytes[after] != b' ' {
            return None;
        }
        Some((self.scalar(at, end), after))
    }

    fn skip_blanks(&self, mut at: usize, line_end: usize) -> usize {
        while at < line_end && self.bytes[at] == b' ' {
            at += 1;
        }
        at
    }

    /// The rest of a line after a value: blanks, then nothing or a comment after a blank.
    fn line_rest_ok(&self, at: usize, line_end: usize) -> bool {
        let rest = self.skip_blanks(at, line_end);
        rest == line_end || (rest > at && self.bytes[rest] == b'#')
    }

    /// An inline value (a plain scalar or a one-line flow collection) ending its line.
    fn inline(&mut self, at: usize, line_end: usize) -> Option<Node<'t>> {
        let (node, end) = self.flow_node(at, line_end)?;
        self.line_rest_ok(end, line_end).then_some(node)
    }

    /// A block mapping whose first key is at `first` on line `self.next`, at column `indent`.
    fn block_map(&mut self, first: usize, indent: usize) -> Option<Node<'t>> {
        self.enter()?;
        let mut entries = Vec::new();
        let mut at = first;
        loop {
            let line = self.lines[self.next];
            let (key, after) = self.key(at, line.end)?;
            let rest = self.skip_blanks(after, line.end);
            self.next += 1;
            let value = if rest == line.end || self.bytes[rest] == b'#' {
                if rest != line.end && rest == after {
                    return None;
                }
                match self.lines.get(self.next) {
                    Some(l) if l.indent > indent => {
                        if self.bytes[l.content] == b'-' {
                            self.block_seq(l.indent)?
                        } else {
                            self.block_map(l.content, l.indent)?
                        }
                    }
                    Some(l) if l.indent == indent && self.bytes[l.content] == b'-' => return None,
                    _ => Node {
                        span: key.span,
                        value: Value::Null,
                    },
                }
            } else {
                self.inline(rest, line.end)?
            };
            entries.push((key, value));
            match self.lines.get(self.next) {
                Some(l) if l.indent == indent => at = l.content,
                Some(l) if l.indent > indent => return None,
                _ => break,
            }
        }
        self.depth -= 1;
        let end = entries
            .last()
            .map_or(first, |(_, v): &(Node, Node)| v.span.end as usize)
            .max(self.block_end());
        Some(Node {
            span: self.span(first, end),
            value: Value::Map(entries),
        })
    }

    /// A block sequence whose first `-` starts line `self.next`, at column `indent`.
    fn block_seq(&mut self, indent: usize) -> Option<Node<'t>> {
        self.enter()?;
        let first = self.lines[self.next].content;
        let mut items = Vec::new();
        loop {
            let line = self.lines[self.next];
            let dash = line.content;
            if self.bytes.get(dash + 1) != Some(&b' ') {
                return None;
            }
            let at = self.skip_blanks(dash + 1, line.end);
            if at == line.end || self.bytes[at] == b'#' {
                return None;
            }
            let item = if self.key(at, line.end).is_some() {
                let item = self.block_map(at, at - (line.content - line.indent))?;
                // Lines between the sequence's and the mapping's column belong to neither.
                if self.lines.get(self.next).is_some_and(|l| l.indent > indent) {
                    return None;
                }
                item
            } else {
                let item = self.inline(at, line.end)?;
                self.next += 1;
                if self.lines.get(self.next).is_some_and(|l| l.indent > indent) {
                    return None;
                }
                item
            };
            items.push(item);
            match self.lines.get(self.next) {
                Some(l) if l.indent == indent => {
                    if self.bytes[l.content] != b'-' {
                        return None;
                    }
                }
                _ => break,
            }
        }
        self.depth -= 1;
        let end = items
            .last()
            .map_or(first, |n: &Node| n.span.end as usize)
            .max(self.block_end());
        Some(Node {
            span: self.span(first, end),
            value: Value::Seq(items),
        })
    }

    /// Where saphyr's marker for a closing bracket ends: after the blanks and
    /// the comment that follow it on its line.
    fn flow_end(&self, after: usize, line_end: usize) -> usize {
        let at = self.skip_blanks(after, line_end);
        if at > after && at < line_end && self.bytes[at] == b'#' {
            line_end
        } else {
            at
        }
    }

    /// A flow node on one line (`line_end` exclusive): the node and where it ends.
    fn flow_node(&mut self, at: usize, line_end: usize) -> Option<(Node<'t>, usize)> {
        match self.bytes.get(at)? {
            b'[' => self.flow_seq(at, line_end),
            b'{' => self.flow_map(at, line_end),
            _ => {
                let end = self.plain(at)?;
                (end <= line_end).then(|| (self.scalar(at, end), end))
            }
        }
    }

    fn flow_seq(&mut self, open: usize, line_end: usize) -> Option<(Node<'t>, usize)> {
        self.enter()?;
        let mut items = Vec::new();
        let mut at = self.skip_blanks(open + 1, line_end);
        if self.bytes.get(at) != Some(&b']') {
            loop {
                let (item, end) = self.flow_node(at, line_end)?;
                items.push(item);
                at = self.skip_blanks(end, line_end);
                match self.flow_next(at, line_end, b']')? {
                    Some(next) => at = next,
                    None => break,
                }
            }
        }
        self.depth -= 1;
        let end = at + 1;
        Some((
            Node {
                span: self.span(open, self.flow_end(end, line_end)),
                value: Value::Seq(items),
            },
            end,
        ))
    }

    /// After a flow item, at `at`: the next item's start after a `,`
    /// (`Some(Some(_))`), or `Some(None)` at `close`; `None` for anything
    /// else, a trailing comma included (left to saphyr).
    fn flow_next(&self, at: usize, line_end: usize, close: u8) -> Option<Option<usize>> {
        match self.bytes.get(at) {
            Some(b',') if at < line_end => {
                let next = self.skip_blanks(at + 1, line_end);
                (self.bytes.get(next) != Some(&close)).then_some(Some(next))
            }
            Some(&b) if b == close && at < line_end => Some(None),
            _ => None,
        }
    }

    fn flow_map(&mut self, open: usize, line_end: usize) -> Option<(Node<'t>, usize)> {
        self.enter()?;
        let mut entries = Vec::new();
        let mut at = self.skip_blanks(open + 1, line_end);
        if self.bytes.get(at) != Some(&b'}') {
            loop {
                let (key, after) = self.key(at, line_end)?;
                if after >= line_end {
                    return None;
                }
                at = self.skip_blanks(after, line_end);
                let (value, end) = self.flow_node(at, line_end)?;
                entries.push((key, value));
                at = self.skip_blanks(end, line_end);
                match self.flow_next(at, line_end, b'}')? {
                    Some(next) => at = next,
                    None => break,
                }
            }
        }
        self.depth -= 1;
        let end = at + 1;
        Some((
            Node {
                span: self.span(open, self.flow_end(end, line_end)),
                value: Value::Map(entries),
            },
            end,
        ))
    }
}

#[cfg(test)]
mod differential;

#[cfg(test)]
mod tests {
    use super::super::tree::saphyr_tree;
    use super::*;
    use std::path::{Path, PathBuf};

    /// The fast reader either declines or gives saphyr's tree, spans included.
    fn agrees(text: &str) -> bool {
        let Some(fast) = parse(FileId(3), text) else {
            return false;
        };
        match saphyr_tree(FileId(3), text) {
            Ok(slow) => assert_eq!(fast, slow, "trees differ for {text:?}"),
            Err(d) => panic!("fast reader took what saphyr refuses ({d:?}): {text:?}"),
        }
        true
    }

    fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name();
            if name == "target" || name.to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                yaml_files(&path, out);
            } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(path);
            }
        }
    }

    /// An inventory in the shape `seg-gen` writes, with a few extra turns.
    fn generated(n: usize) -> String {
        let mut s =
            String::from("# generated\nversion: 1\n\nattributes:\n  tier: string\nidentities:\n");
        for i in 0..n {
            s.push_str(&format!(
                "  - name: host-{i:05}\n    kind: workload\n    owner: team-{}\n    addresses: [10.0.{}.{}/32{}]\n    kubernetes: {{ namespace: ns-{}, labels: {{ app: host-{i:05} }} }}\n",
                i % 7,
                i / 256,
                i % 256,
                if i % 3 == 0 { ", 10.64.8.0/24" } else { "" },
                i % 5
            ));
            if i % 4 == 0 {
                s.push_str("    # a comment\n    attributes:\n      tier: web   # trailing\n    disabled: false\n    review: 2026-01-01\n");
            }
            if i % 6 == 1 {
                s.push_str(
                    "    tags: []\n    meta: {}\n    ports:\n      - 80\n      - 443\n    empty:\n",
                );
            }
        }
        s
    }

    #[test]
    fn surely_strings_are_strings() {
        let words = [
            "host-00001",
            "10.0.0.0/32",
            "a_1",
            "1_000",
            "0x1_f",
            "1e5",
            "team-0",
            "ns-0",
            "app",
            "inf",
            "Infinity",
            "nan",
            "NaN",
            ".inf",
            "null",
            "NULL",
            "true",
            "True",
            "false",
            "FALSE",
            "y",
            "yes",
            "no",
            "on",
            "off",
            "0o17",
            "0x1f",
            "+1",
            "-1",
            "1.5",
            "1/2",
            "e5",
            "E5",
            "x1",
            "o7",
            "b",
            "Zz",
            "namespace",
            "tier",
            "fast",
            "/x",
            "_",
            "1_",
        ];
        for w in words {
            if surely_string(w) {
                assert_eq!(
                    scalar_value(Cow::Borrowed(w), ScalarStyle::Plain, None),
                    Value::Str(Cow::Borrowed(w)),
                    "{w}"
                );
            }
        }
        // Every string of up to four characters from an alphabet of the tricky ones.
        let alphabet: Vec<char> = "antfieEoxNTFI01.+-/_lsu".chars().collect();
        let mut words = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = words
                .iter()
                .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                .collect();
            for w in &longer {
                if surely_string(w) {
                    assert_eq!(
                        scalar_value(Cow::Borrowed(w), ScalarStyle::Plain, None),
                        Value::Str(Cow::Borrowed(w.as_str())),
                        "{w}"
                    );
                }
            }
            words = longer;
        }
        assert!(surely_string("host-00001") && surely_string("10.0.0.0/32"));
        assert!(surely_string("nan") && surely_string("team-0") && surely_string("ns-0"));
        assert!(!surely_string("true") && !surely_string("NULL") && !surely_string("1e5"));
    }

    #[test]
    fn takes_the_generated_shape_and_agrees_with_saphyr() {
        for n in [1, 2, 7, 40] {
            let text = generated(n);
            assert!(agrees(&text), "declined: {text}");
            assert!(agrees(text.trim_end()), "declined without the last newline");
        }
    }

    #[test]
    fn agrees_with_saphyr_on_every_yaml_file_of_the_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        yaml_files(&root, &mut files);
        assert!(files.len() > 50, "found {} files", files.len());
        let mut taken = 0;
        for f in &files {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            taken += usize::from(agrees(&text));
        }
        assert!(taken > 10, "the fast reader took only {taken} files");
    }

    #[test]
    fn agrees_with_saphyr_on_mutations() {
        let samples = [
            generated(2),
            "version: 1\nidentities:\n  - name: a\n    addresses: [10.0.0.1/32, 10.0.0.2/32]\n    k: { a: b, c: { d: e } }\n  - name: b\n    x:\n      - y\n      - z: 1\n        w: 2\ntop:\n".to_string(),
        ];
        let pieces = [
            "", " ", "  ", "\n", "\n ", "\n  ", "-", "- ", ":", ": ", "#", " #", "[", "]", "{",
            "}", ",", ", ", "x", "'", "\"", "&a ", "*a", "!!str ", "?", "|", ">", "---\n", "...",
            "\t", "\r", "%", "@", "~", "1", ".",
        ];
        let mut taken = 0;
        for text in &samples {
            for i in 0..=text.len() {
                for p in pieces {
                    let inserted = format!("{}{}{}", &text[..i], p, &text[i..]);
                    taken += usize::from(agrees(&inserted));
                    if i < text.len() {
                        let replaced = format!("{}{}{}", &text[..i], p, &text[i + 1..]);
                        taken += usize::from(agrees(&replaced));
                    }
                }
            }
        }
        assert!(taken > 1000, "the fast reader took only {taken} mutations");
    }
}
