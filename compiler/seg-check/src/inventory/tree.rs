//! YAML or JSON text → a spanned tree of plain values.
//!
//! Input: one file's text. Output: its single document as a [`Node`] tree in
//! which every node carries a byte [`Span`], or one diagnostic (E0101 for a
//! syntax error, E0003 for a file over [`MAX_FILE_BYTES`] or nested deeper than
//! [`MAX_DEPTH`]).
//!
//! The tree is built from saphyr-parser's event stream rather than saphyr's
//! `MarkedYaml` loader so that nesting is bounded while reading (no deep
//! recursion anywhere, including `Drop`), mapping entries keep their order and
//! duplicates (reported by the schema pass with both places), and markers are
//! turned into byte offsets once. Scalars are resolved with saphyr's YAML 1.2
//! core schema (`true` is a bool, `0x1f` an int, `2026-01-01` a string).
//!
//! A file in the plain shape most inventories have is read by [`super::fast`]
//! instead, which gives the same tree and leaves everything else to saphyr.
//!
//! A file whose first non-blank character is `{` or `[` is JSON-shaped: it is
//! checked with serde_json first so JSON mistakes (trailing commas, single
//! quotes) get JSON messages at the right line and column. If serde_json
//! rejects it but it is valid YAML flow syntax, the YAML reading is used.

use super::fast;
use saphyr::Scalar;
use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError, Tag};
use seg_diag::{Code, Diagnostic, FileId, Span};
use std::borrow::Cow;
use std::collections::HashMap;

/// Inventory files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;
/// Collections nested deeper than this are refused (the schema needs 5 levels).
pub const MAX_DEPTH: usize = 64;
/// Nodes that aliases (`*name`) may copy in one file, against alias bombs.
const ALIAS_BUDGET: usize = 100_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Node<'t> {
    pub span: Span,
    pub value: Value<'t>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value<'t> {
    Null,
    Bool(bool),
    Int(i64),
    /// A float, kept as written.
    Float(String),
    /// A string, borrowed from the file's text where it is written out as is.
    Str(Cow<'t, str>),
    Seq(Vec<Node<'t>>),
    /// Entries in file order; duplicates are kept for the schema pass to report.
    Map(Vec<(Node<'t>, Node<'t>)>),
    /// A scalar whose explicit tag does not fit its text (`!!int abc`).
    Bad(String),
}

impl Value<'_> {
    /// What the value is, for messages: "a string", "a list".
    pub fn describe(&self) -> &'static str {
        match self {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Bad(_) => "a mistagged value",
        }
    }
}

/// Parse one file into its document tree.
pub fn parse(file: FileId, text: &str) -> Result<Node<'_>, Diagnostic> {
    if text.len() > MAX_FILE_BYTES {
        return Err(
            Diagnostic::error(Code::InputTooLarge, "inventory file is too large")
                .with_primary(Span::new(file, 0, 0), "file starts here")
                .with_note(format!(
                    "the file has {} bytes; inventory files are limited to {} MiB",
                    text.len(),
                    MAX_FILE_BYTES / (1024 * 1024)
                ))
                .with_help("split the inventory into several files listed in `seg.toml`"),
        );
    }
    if !looks_like_json(text)
        && let Some(doc) = fast::parse(file, text)
    {
        return Ok(doc);
    }
    let offsets = Offsets::new(text);
    if looks_like_json(text)
        && let Err(json_err) = check_json(text)
    {
        return match build(file, text, &offsets) {
            Ok(node) => Ok(node),
            Err(limit) if limit.code == Some(Code::InputTooLarge) => Err(limit),
            Err(_) => Err(json_diagnostic(file, text, &json_err)),
        };
    }
    build(file, text, &offsets)
}

/// The saphyr reading alone, for comparing the fast reader against it.
#[cfg(test)]
pub(super) fn saphyr_tree(file: FileId, text: &str) -> Result<Node<'_>, Diagnostic> {
    build(file, text, &Offsets::new(text))
}

fn looks_like_json(text: &str) -> bool {
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with(['{', '['])
}

fn check_json(text: &str) -> Result<(), serde_json::Error> {
    serde_json::from_str::<serde::de::IgnoredAny>(text.trim_start_matches('\u{feff}')).map(|_| ())
}

fn json_diagnostic(file: FileId, text: &str, e: &serde_json::Error) -> Diagnostic {
    let full = e.to_string();
    let message = full
        .rfind(" at line ")
        .map_or(full.as_str(), |i| &full[..i]);
    let bom = if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let at = byte_of_line_col(text, bom, e.line(), e.column());
    if message.contains("recursion limit") {
        return depth_diagnostic(file, text, at);
    }
    Diagnostic::error(Code::InventorySyntax, format!("invalid JSON: {message}"))
        .with_primary(one_char(file, text, at), "JSON syntax error here")
        .with_note("a file starting with `{` or `[` is read as JSON")
        .with_help("fix the JSON syntax, or write the file as YAML")
}

/// serde_json lines are 1-based, columns 1-based in bytes (0 at a line end).
fn byte_of_line_col(text: &str, bom: usize, line: usize, column: usize) -> usize {
    let body = &text[bom..];
    let start = body
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let mut at = bom + (start + column.saturating_sub(1)).min(body.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A span of one character at `at` (empty at the end of the file).
fn one_char(file: FileId, text: &str, at: usize) -> Span {
    let len = text[at..].chars().next().map_or(0, char::len_utf8);
    Span::new(file, at, at + len)
}

fn depth_diagnostic(file: FileId, text: &str, at: usize) -> Diagnostic {
    Diagnostic::error(Code::InputTooLarge, "inventory nested too deeply")
        .with_primary(one_char(file, text, at), "too deep here")
        .with_note(format!(
            "inventory files may nest lists and mappings at most {MAX_DEPTH} levels deep"
        ))
        .with_help("flatten the structure; an inventory needs five levels at most")
}

/// Marker character indices → byte offsets. Markers count characters; for
/// non-ASCII text a checkpoint every 64 characters keeps lookups short.
struct Offsets {
    ascii: bool,
    checkpoints: Vec<usize>,
    len: usize,
}

const STRIDE: usize = 64;

impl Offsets {
    fn new(text: &str) -> Offsets {
        if text.is_ascii() {
            return Offsets {
                ascii: true,
                checkpoints: Vec::new(),
                len: text.len(),
            };
        }
        let checkpoints = text
            .char_indices()
            .step_by(STRIDE)
            .map(|(i, _)| i)
            .collect();
        Offsets {
            ascii: false,
            checkpoints,
            len: text.len(),
        }
    }

    fn byte(&self, text: &str, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.len);
        }
        let Some(&base) = self.checkpoints.get(char_index / STRIDE) else {
            return self.len;
        };
        text[base..]
            .char_indices()
            .nth(char_index % STRIDE)
            .map_or(self.len, |(i, _)| base + i)
    }
}

enum Frame<'t> {
    Seq {
        start: usize,
        items: Vec<Node<'t>>,
        anchor: usize,
    },
    Map {
        start: usize,
        entries: Vec<(Node<'t>, Node<'t>)>,
        key: Option<Node<'t>>,
        anchor: usize,
    },
}

struct Builder<'o, 't> {
    file: FileId,
    text: &'t str,
    offsets: &'o Offsets,
    stack: Vec<Frame<'t>>,
    anchors: HashMap<usize, Node<'t>>,
    alias_budget: usize,
    doc: Option<Node<'t>>,
    docs_seen: usize,
}

fn build<'t>(file: FileId, text: &'t str, offsets: &Offsets) -> Result<Node<'t>, Diagnostic> {
    let mut parser = Parser::new_from_str(text);
    let mut b = Builder {
        file,
        text,
        offsets,
        stack: Vec::new(),
        anchors: HashMap::new(),
        alias_budget: ALIAS_BUDGET,
        doc: None,
        docs_seen: 0,
    };
    while let Some(event) = parser.next_event() {
        match event {
            Ok((ev, span)) => {
                if b.event(ev, span.start, span.end)? {
                    break;
                }
            }
            Err(e) => return Err(b.scan_error(&e)),
        }
    }
    Ok(b.doc.unwrap_or(Node {
        span: Span::new(file, 0, 0),
        value: Value::Null,
    }))
}

impl<'t> Builder<'_, 't> {
    fn at(&self, m: Marker) -> usize {
        self.offsets.byte(self.text, m.index())
    }

    /// A byte span, without the blanks the scanner may include at the end of a flow scalar.
    fn span(&self, start: Marker, end: Marker) -> Span {
        let (start, mut end) = (self.at(start), self.at(end));
        let bytes = self.text.as_bytes();
        while end > start && matches!(bytes.get(end - 1), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            end -= 1;
        }
        Span::new(self.file, start, end)
    }

    fn scan_error(&self, e: &ScanError) -> Diagnostic {
        let at = self.at(*e.marker());
        let info = e.info();
        if info.contains("recursion limit") {
            return depth_diagnostic(self.file, self.text, at);
        }
        let mut d = Diagnostic::error(Code::InventorySyntax, format!("invalid YAML: {info}"))
            .with_primary(one_char(self.file, self.text, at), "YAML syntax error here");
        // Inside `[` or `{`, an unclosed bracket is the usual cause: show where it opened.
        let open = self.stack.last().map(|f| match f {
            Frame::Seq { start, .. } | Frame::Map { start, .. } => *start,
        });
        if let Some(start) = open
            && let Some(c @ ('[' | '{')) = self.text[start..].chars().next()
        {
            let what = if c == '[' { "list" } else { "mapping" };
            d = d.with_secondary(
                one_char(self.file, self.text, start),
                format!("inside the {what} opened here"),
            );
        }
        if info.contains("tab") {
            d = d.with_help("indent with spaces: YAML does not allow tabs for indentation");
        } else {
            d = d.with_help(
                "fix the YAML syntax at this place (strings with `: ` or `#` need quotes)",
            );
        }
        d
    }

    /// Handle one event; `Ok(true)` once the stream is done.
    fn event(&mut self, ev: Event<'t>, start: Marker, end: Marker) -> Result<bool, Diagnostic> {
        match ev {
            Event::StreamEnd => return Ok(true),
            Event::DocumentStart(_) => {
                self.docs_seen += 1;
                if self.docs_seen > 1 {
                    return Err(Diagnostic::error(
                        Code::InventorySyntax,
                        "more than one YAML document in a file",
                    )
                    .with_primary(self.span(start, end), "second document starts here")
                    .with_help("put each inventory document in its own file"));
                }
            }
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
            Event::SequenceStart(anchor, _) => {
                self.enter(start)?;
                self.stack.push(Frame::Seq {
                    start: self.at(start),
                    items: Vec::new(),
                    anchor,
                });
            }
            Event::MappingStart(anchor, _) => {
                self.enter(start)?;
                self.stack.push(Frame::Map {
                    start: self.at(start),
                    entries: Vec::new(),
                    key: None,
                    anchor,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let end_at = self.at(end).max(self.at(start));
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq {
                        start,
                        items,
                        anchor,
                    }) => {
                        let end_at = items
                            .last()
                            .map_or(end_at, |n| end_at.max(n.span.end as usize));
                        (
                            Node {
                                span: Span::new(self.file, start, end_at),
                                value: Value::Seq(items),
                            },
                            anchor,
                        )
                    }
                    Some(Frame::Map {
                        start,
                        entries,
                        anchor,
                        ..
                    }) => {
                        let end_at = entries
                            .last()
                            .map_or(end_at, |(_, v)| end_at.max(v.span.end as usize));
                        (
                            Node {
                                span: Span::new(self.file, start, end_at),
                                value: Value::Map(entries),
                            },
                            anchor,
                        )
                    }
                    None => return Err(self.internal(start, "collection end without a start")),
                };
                self.add(node, anchor);
            }
            Event::Scalar(text, style, anchor, tag) => {
                let span = self.span(start, end);
                let value = scalar_value(text, style, tag.as_ref());
                self.add(Node { span, value }, anchor);
            }
            Event::Alias(id) => {
                let span = self.span(start, end);
                let Some(target) = self.anchors.get(&id) else {
                    return Err(Diagnostic::error(
                        Code::InventorySyntax,
                        "alias to an unknown anchor",
                    )
                    .with_primary(span, "unknown anchor")
                    .with_help("define the anchor (`&name`) before using it (`*name`)"));
                };
                let size = count(target);
                if size > self.alias_budget {
                    return Err(Diagnostic::error(
                        Code::InputTooLarge,
                        "aliases expand to too many values",
                    )
                    .with_primary(span, "expansion limit reached here")
                    .with_note(format!(
                        "aliases may copy at most {ALIAS_BUDGET} values in one file"
                    ))
                    .with_help("write the values out instead of nesting aliases"));
                }
                self.alias_budget -= size;
                let mut node = target.clone();
                node.span = span;
                self.add(node, 0);
            }
        }
        Ok(false)
    }

    fn enter(&self, start: Marker) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(depth_diagnostic(self.file, self.text, self.at(start)));
        }
        Ok(())
    }

    fn internal(&self, at: Marker, what: &str) -> Diagnostic {
        Diagnostic::bug(format!("inventory reader: {what}"))
            .with_primary(one_char(self.file, self.text, self.at(at)), "here")
    }

    fn add(&mut self, node: Node<'t>, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.doc = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    let mut node = node;
                    // `aws:` with nothing after it: point at the key, not at an empty place.
                    if node.value == Value::Null && node.span.start == node.span.end {
                        node.span = k.span;
                    }
                    entries.push((k, node));
                }
            },
        }
    }
}

/// A scalar resolved with the YAML 1.2 core schema (the fast reader's plain
/// scalars go through here too, so both readers agree on every value).
pub(super) fn scalar_value<'t>(
    text: Cow<'t, str>,
    style: ScalarStyle,
    tag: Option<&Cow<'_, Tag>>,
) -> Value<'t> {
    // Resolved on a borrow: a string scalar then keeps the
    // event's own text instead of a copy of it.
    let resolved =
        match Scalar::parse_from_cow_and_metadata(Cow::Borrowed(text.as_ref()), style, tag) {
            Some(Scalar::Null) => Some(Value::Null),
            Some(Scalar::Boolean(b)) => Some(Value::Bool(b)),
            Some(Scalar::Integer(i)) => Some(Value::Int(i)),
            Some(Scalar::FloatingPoint(_)) => Some(Value::Float(text.to_string())),
            Some(Scalar::String(s)) if *s == *text => None,
            Some(Scalar::String(s)) => Some(Value::Str(Cow::Owned(s.into_owned()))),
            None => Some(Value::Bad(text.to_string())),
        };
    resolved.unwrap_or(Value::Str(text))
}

/// Number of nodes in a tree (iterative: trees here are at most `MAX_DEPTH` deep anyway).
fn count(node: &Node<'_>) -> usize {
    let mut n = 0;
    let mut todo = vec![node];
    while let Some(x) = todo.pop() {
        n += 1;
        match &x.value {
            Value::Seq(items) => todo.extend(items),
            Value::Map(entries) => {
                for (k, v) in entries {
                    todo.push(k);
                    todo.push(v);
                }
            }
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Node<'_> {
        parse(FileId(0), text).unwrap_or_else(|d| panic!("{d:?}"))
    }

    fn slice<'a>(text: &'a str, n: &Node<'_>) -> &'a str {
        &text[n.span.range()]
    }

    #[test]
    fn scalars_resolve_with_the_core_schema_and_keep_byte_spans() {
        let text = "a: true\nb: 0x1f\nc: 2026-01-01\nd: 'quoted'\né: ünïcode\nf:\n";
        let Value::Map(entries) = parse_ok(text).value else {
            panic!("not a map")
        };
        let values: Vec<_> = entries.iter().map(|(_, v)| v.value.clone()).collect();
        assert_eq!(
            values,
            vec![
                Value::Bool(true),
                Value::Int(31),
                Value::Str("2026-01-01".into()),
                Value::Str("quoted".into()),
                Value::Str("ünïcode".into()),
                Value::Null
            ]
        );
        assert_eq!(slice(text, &entries[4].0), "é");
        assert_eq!(slice(text, &entries[4].1), "ünïcode");
        assert_eq!(slice(text, &entries[2].1), "2026-01-01");
    }

    #[test]
    fn spans_survive_crlf_and_a_byte_order_mark() {
        for text in [
            "\u{feff}a: x\r\nbb: wrkload\r\n",
            "a: x\r\nbb: wrkload\r\n",
            "\u{feff}{\"a\": \"x\", \"bb\": \"wrkload\"}",
        ] {
            let Value::Map(entries) = parse_ok(text).value else {
                panic!("not a map: {text:?}")
            };
            assert_eq!(
                slice(text, &entries[1].0).trim_matches('"'),
                "bb",
                "{text:?}"
            );
            assert_eq!(
                slice(text, &entries[1].1).trim_matches('"'),
                "wrkload",
                "{text:?}"
            );
        }
    }

    #[test]
    fn duplicate_keys_are_kept_for_the_schema_pass() {
        let Value::Map(entries) = parse_ok("a: 1\na: 2\n").value else {
            panic!("not a map")
        };
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        for text in [
            "[".repeat(100_000),
            "{a: ".repeat(100_000),
            "- ".repeat(200),
        ] {
            let d = parse(FileId(0), &text).expect_err("too deep");
            assert_eq!(d.code, Some(Code::InputTooLarge), "{d:?}");
        }
        let ok = format!("{}1{}", "[".repeat(60), "]".repeat(60));
        parse_ok(&ok);
    }

    #[test]
    fn json_errors_carry_json_positions() {
        let text = "{\n  \"version\": 1\n  \"identities\": [1, 2]\n}";
        let d = parse(FileId(0), text).expect_err("trailing comma");
        assert_eq!(d.code, Some(Code::InventorySyntax));
        assert!(d.message.starts_with("invalid JSON: "), "{}", d.message);
        let span = d.primary_span().expect("span");
        assert_eq!(&text[span.range()], "\"");
        assert_eq!(span.start, 19, "the second key");
    }

    #[test]
    fn yaml_flow_mapping_is_not_mistaken_for_json() {
        let node = parse_ok("{version: 1, identities: []}");
        assert!(matches!(node.value, Value::Map(ref e) if e.len() == 2));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            text.push_str(&format!(
                "b{i}: &b{i} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n",
                p = if i == 1 {
                    "a".to_string()
                } else {
                    format!("b{}", i - 1)
                }
            ));
        }
        let d = parse(FileId(0), &text).expect_err("bomb");
        assert_eq!(d.code, Some(Code::InputTooLarge));
    }
}
