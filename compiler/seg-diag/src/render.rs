//! Rendering at the edge: codespan-reporting for people, located values for
//! JSON and SARIF writers.

use crate::{Diagnostic, Severity, SourceMap, Span};
use codespan_reporting::diagnostic as cs;
use codespan_reporting::term::{self, termcolor};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    Always,
    Never,
}

/// Render diagnostics in rustc style. Plain text when `color` is `Never`.
///
/// Text from the user reaches a terminal only in visible form: characters a
/// terminal would act on ([`hidden`]: ESC, CR, C1 controls, bidirectional
/// overrides…) are written as Rust escapes (`\u{1b}`) in messages and file
/// names, and as a visible character of the same UTF-8 length in source
/// lines, so every span still points where it did.
pub fn render_human(map: &SourceMap, diagnostics: &[Diagnostic], color: ColorChoice) -> String {
    let visible_map;
    // Only files a label points into are read; the others are never shown
    // (a large project's inputs are megabytes, its diagnostics a few files).
    let mut shown: Vec<crate::FileId> = diagnostics
        .iter()
        .flat_map(|d| &d.labels)
        .map(|l| l.span.file)
        .collect();
    shown.sort_unstable();
    shown.dedup();
    let map = if map
        .iter()
        .filter(|(id, _)| shown.binary_search(id).is_ok())
        .any(|(_, f)| f.name.chars().chain(f.text.chars()).any(hidden))
    {
        let mut m = SourceMap::new();
        for (_, f) in map.iter() {
            m.add(visible(&f.name), same_length(&f.text));
        }
        visible_map = m;
        &visible_map
    } else {
        map
    };
    let mut buffer = match color {
        ColorChoice::Always => termcolor::Buffer::ansi(),
        ColorChoice::Never => termcolor::Buffer::no_color(),
    };
    let config = term::Config::default();
    for d in diagnostics {
        if let Err(e) = term::emit_to_write_style(&mut buffer, &config, map, &to_codespan(d)) {
            // A span that does not fit its file: render without labels rather than lose the message.
            let mut bare = to_codespan(d);
            bare.labels.clear();
            bare.notes
                .push(format!("(source location unavailable: {e})"));
            let _ = term::emit_to_write_style(&mut buffer, &config, map, &bare);
        }
    }
    String::from_utf8_lossy(buffer.as_slice()).into_owned()
}

fn to_codespan(d: &Diagnostic) -> cs::Diagnostic<crate::FileId> {
    let severity = match d.severity {
        Severity::Bug => cs::Severity::Bug,
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
        Severity::Note => cs::Severity::Note,
    };
    let labels = d
        .labels
        .iter()
        .map(|l| {
            let style = if l.primary {
                cs::LabelStyle::Primary
            } else {
                cs::LabelStyle::Secondary
            };
            cs::Label::new(style, l.span.file, l.span.range()).with_message(visible(&l.message))
        })
        .collect();
    let mut notes = d
        .notes
        .iter()
        .map(|n| format!("note: {}", visible(n)))
        .collect::<Vec<_>>();
    if let Some(help) = &d.help {
        notes.push(format!("help: {}", visible(help)));
    }
    let mut out = cs::Diagnostic::new(severity)
        .with_message(visible(&d.message))
        .with_labels(labels)
        .with_notes(notes);
    if let Some(code) = d.code {
        out = out.with_code(code.as_str());
    }
    out
}

/// Whether a terminal would act on `c` instead of showing it: control
/// characters but line feed and tab, the line and paragraph separators, and
/// the invisible bidirectional marks, embeddings, overrides and isolates
/// (which make text read differently from what it is).
pub fn hidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `s` with every [`hidden`] character written as its Rust escape (`\r`,
/// `\u{1b}`): user text as it may be shown on a terminal.
pub fn visible(s: &str) -> String {
    // The runs between escapes are copied whole (`seg reach` prints megabytes).
    let mut out = String::with_capacity(s.len());
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if hidden(c) {
            out.push_str(&s[start..i]);
            out.extend(c.escape_debug());
            start = i + c.len_utf8();
        }
    }
    out.push_str(&s[start..]);
    out
}

/// `s` with every [`hidden`] character replaced by a visible one of the same
/// UTF-8 length (`?`, `¿`, `�`), and the CR of a CRLF by a space, so byte
/// offsets into it stay valid.
fn same_length(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if !hidden(c) {
            out.push(c);
            continue;
        }
        out.push(match c.len_utf8() {
            _ if c == '\r' && chars.peek() == Some(&'\n') => ' ',
            1 => '?',
            2 => '\u{bf}',
            _ => '\u{fffd}',
        });
    }
    out
}

/// A place in a file as people count it (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    /// Byte offsets into the file.
    pub start: u32,
    pub end: u32,
}

impl Location {
    pub fn of(map: &SourceMap, span: Span) -> Location {
        let (line, column) = map.line_col(span);
        let (end_line, end_column) = map
            .get(span.file)
            .map_or((line, column), |f| f.line_col(span.end as usize));
        Location {
            file: map.name(span.file).to_string(),
            line,
            column,
            end_line,
            end_column,
            start: span.start,
            end: span.end,
        }
    }
}

/// A diagnostic with its spans resolved to locations: the JSON output format.
#[derive(Clone, Debug, Serialize)]
pub struct LocatedDiagnostic {
    pub severity: Severity,
    pub code: Option<String>,
    pub message: String,
    pub location: Option<Location>,
    pub labels: Vec<LocatedLabel>,
    pub notes: Vec<String>,
    pub help: Option<String>,
    /// The full list of a large set the text summarises (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LocatedLabel {
    pub location: Location,
    pub message: String,
    pub primary: bool,
}

impl LocatedDiagnostic {
    pub fn of(map: &SourceMap, d: &Diagnostic) -> LocatedDiagnostic {
        LocatedDiagnostic {
            severity: d.severity,
            code: d.code.map(|c| c.as_str().to_string()),
            message: d.message.clone(),
            location: d.primary_span().map(|s| Location::of(map, s)),
            labels: d
                .labels
                .iter()
                .map(|l| LocatedLabel {
                    location: Location::of(map, l.span),
                    message: l.message.clone(),
                    primary: l.primary,
                })
                .collect(),
            notes: d.notes.clone(),
            help: d.help.clone(),
            members: d.members.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    #[test]
    fn renders_code_labels_notes_and_help_without_colour() {
        let mut map = SourceMap::new();
        let id = map.add("policy/a.seg", "allow payment-api -> db on https\n");
        let d = Diagnostic::error(Code::UnknownName, "unknown name `payment-api`")
            .with_primary(Span::new(id, 6, 17), "not an identity or segment")
            .with_note("the inventory has 9 identities")
            .with_help("did you mean `payments-api`?");
        let text = render_human(&map, &[d], ColorChoice::Never);
        assert!(
            text.contains("error[E0201]: unknown name `payment-api`"),
            "{text}"
        );
        assert!(text.contains("policy/a.seg:1:7"), "{text}");
        assert!(
            text.contains("= help: did you mean `payments-api`?"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "no ANSI escapes in plain output");
    }

    #[test]
    fn visible_escapes_only_what_a_terminal_acts_on() {
        assert_eq!(
            visible("a\u{1b}[2J\r\u{202e}x\u{9b}"),
            "a\\u{1b}[2J\\r\\u{202e}x\\u{9b}"
        );
        assert_eq!(visible("é → ok\n\tnext"), "é → ok\n\tnext");
        // The plain-ASCII shortcut: DEL and other controls still escaped.
        assert_eq!(visible("plain\x7f"), "plain\\u{7f}");
        assert_eq!(visible("a\x00b\rc"), "a\\0b\\rc");
        assert_eq!(visible("plain ascii ~ text\n"), "plain ascii ~ text\n");
    }

    /// A file no label points into is not read: a hidden character there
    /// changes nothing. One a secondary label points into is made visible.
    #[test]
    fn only_the_files_shown_are_read_and_each_one_shown_is_made_visible() {
        let text = "allow a -> b on tcp/1\n";
        let mut alone = SourceMap::new();
        let clean = alone.add("policy/a.seg", text);
        let mut map = SourceMap::new();
        assert_eq!(map.add("policy/a.seg", text), clean);
        let dirty = map.add("policy/x\ry.seg", "x\u{1b}[2J y\u{202e}\n");
        let d = Diagnostic::error(Code::UnknownName, "unknown name `a`")
            .with_primary(Span::new(clean, 6, 7), "here");
        let plain = render_human(&alone, std::slice::from_ref(&d), ColorChoice::Never);
        assert!(plain.contains("policy/a.seg:1:7"), "{plain}");
        assert_eq!(
            render_human(&map, std::slice::from_ref(&d), ColorChoice::Never),
            plain
        );
        let e = Diagnostic::warning(Code::UnknownName, "also")
            .with_primary(Span::new(clean, 0, 5), "this")
            .with_secondary(Span::new(dirty, 0, 1), "and that");
        let both = render_human(&map, &[d, e], ColorChoice::Never);
        assert!(!both.chars().any(hidden), "{}", both.escape_debug());
        assert!(both.contains("policy/x\\ry.seg:1:1"), "{both}");
        assert!(both.contains("x?[2J y\u{fffd}"), "{both}");
    }

    #[test]
    fn user_text_cannot_drive_the_terminal() {
        let mut map = SourceMap::new();
        // A value escaped in the input (`"a\u001b[2J"` in YAML) is a raw ESC in
        // the message; a policy line may hold raw C1 and bidi controls.
        let id = map.add("policy/x\ry.seg", "a\u{9b}b \"\u{202e}c\" \x07d\r\nnext\n");
        let d = Diagnostic::error(Code::InvalidValue, "invalid namespace `a\u{1b}[2J\rb`")
            .with_primary(Span::new(id, 12, 13), "here\u{1b}[0m")
            .with_note("note\u{85}")
            .with_help("help\u{2066}");
        let text = render_human(&map, &[d], ColorChoice::Never);
        assert!(!text.chars().any(hidden), "{}", text.escape_debug());
        assert!(
            text.contains("invalid namespace `a\\u{1b}[2J\\rb`"),
            "{text}"
        );
        assert!(text.contains("policy/x\\ry.seg:1:"), "{text}");
        assert!(text.contains("a\u{bf}b \"\u{fffd}c\" ?d"), "{text}");
        // The label still starts at the bell (column 10), now shown as `?`.
        assert!(text.contains("policy/x\\ry.seg:1:10"), "{text}");
        assert!(text.contains("= help: help\\u{2066}"), "{text}");
    }
}
