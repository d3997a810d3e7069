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
pub fn render_human(map: &SourceMap, diagnostics: &[Diagnostic], color: ColorChoice) -> String {
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
            cs::Label::new(style, l.span.file, l.span.range()).with_message(l.message.clone())
        })
        .collect();
    let mut notes = d
        .notes
        .iter()
        .map(|n| format!("note: {n}"))
        .collect::<Vec<_>>();
    if let Some(help) = &d.help {
        notes.push(format!("help: {help}"));
    }
    let mut out = cs::Diagnostic::new(severity)
        .with_message(d.message.clone())
        .with_labels(labels)
        .with_notes(notes);
    if let Some(code) = d.code {
        out = out.with_code(code.as_str());
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
}
