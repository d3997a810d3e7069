//! Diagnostics out: rustc-style text on stderr, or JSON / SARIF 2.1.0 on stdout.

pub mod sarif;

use seg_diag::{ColorChoice, Diagnostic, LocatedDiagnostic, Severity, SourceMap};
use serde_json::{Value, json};
use std::io::IsTerminal;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Sarif,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

impl Color {
    /// Colour only on a terminal, and never when `NO_COLOR` is set.
    pub fn for_stderr(self) -> ColorChoice {
        match self {
            Color::Always => ColorChoice::Always,
            Color::Never => ColorChoice::Never,
            Color::Auto
                if std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stderr().is_terminal() =>
            {
                ColorChoice::Always
            }
            Color::Auto => ColorChoice::Never,
        }
    }
}

pub fn human(map: &SourceMap, diags: &[Diagnostic], color: Color) -> String {
    seg_diag::render_human(map, diags, color.for_stderr())
}

pub fn json_value(map: &SourceMap, diags: &[Diagnostic]) -> Value {
    let located: Vec<LocatedDiagnostic> = diags
        .iter()
        .map(|d| LocatedDiagnostic::of(map, d))
        .collect();
    json!({
        "diagnostics": located,
        "errors": diags.iter().filter(|d| d.is_error()).count(),
        "warnings": diags.iter().filter(|d| d.severity == Severity::Warning).count(),
    })
}

/// The diagnostics of a run as a SARIF log; the notices to show (results left out).
pub fn sarif(
    map: &SourceMap,
    diags: &[Diagnostic],
    anchor: &sarif::Anchor,
) -> (Value, Vec<String>) {
    sarif::log(map, diags.iter().map(sarif::Finding::of).collect(), anchor)
}
