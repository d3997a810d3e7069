//! Diagnostics out: rustc-style text on stderr, or JSON / SARIF 2.1.0 on stdout.

use seg_diag::{Code, ColorChoice, Diagnostic, LocatedDiagnostic, Location, Severity, SourceMap};
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

/// Tags that map a code to the security frameworks CI code scanning groups by.
fn taxonomy(code: Code) -> &'static [&'static str] {
    match code {
        Code::SharedCredential => &["security", "OWASP-NHI9:NHI-Reuse", "NIST-CSF-2.0:PR.AA-01"],
        Code::StaleCredential => &[
            "security",
            "OWASP-NHI7:Long-Lived-Secrets",
            "NIST-CSF-2.0:PR.AA-01",
        ],
        Code::OverBroad => &[
            "security",
            "OWASP-NHI5:Overprivileged-NHI",
            "NIST-CSF-2.0:PR.AA-05",
        ],
        Code::ExpiredRule | Code::ExpiringSoon | Code::ReviewOverdue => {
            &["maintainability", "NIST-CSF-2.0:PR.AA-05"]
        }
        Code::DisabledIdentity | Code::ExpiredIdentity => {
            &["security", "OWASP-NHI1:Improper-Offboarding"]
        }
        _ => &[],
    }
}

/// A SARIF 2.1.0 log with one run: the rules are the codes that occur.
pub fn sarif(map: &SourceMap, diags: &[Diagnostic]) -> Value {
    let mut codes: Vec<Code> = diags.iter().filter_map(|d| d.code).collect();
    codes.sort();
    codes.dedup();
    let rules: Vec<Value> = codes
        .iter()
        .map(|c| {
            let mut rule = json!({
                "id": c.as_str(),
                "shortDescription": { "text": crate::cli::explain_code::summary(*c) },
                "helpUri": format!("docs/diagnostics/{}.md", c.as_str()),
                "properties": { "tags": taxonomy(*c) },
            });
            if let Some(lint) = c.lint_name() {
                rule["name"] = json!(lint);
            }
            rule
        })
        .collect();
    let results: Vec<Value> = diags
        .iter()
        .map(|d| {
            let level = match d.severity {
                Severity::Bug | Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Note => "note",
            };
            let mut text = d.message.clone();
            for n in &d.notes {
                text.push_str(&format!("\nnote: {n}"));
            }
            if let Some(h) = &d.help {
                text.push_str(&format!("\nhelp: {h}"));
            }
            let loc = |l: Location, msg: Option<&str>| {
                let mut v = json!({
                    "physicalLocation": {
                        "artifactLocation": { "uri": l.file },
                        "region": { "startLine": l.line, "startColumn": l.column, "endLine": l.end_line, "endColumn": l.end_column }
                    }
                });
                if let Some(m) = msg {
                    v["message"] = json!({ "text": m });
                }
                v
            };
            let mut r = json!({
                "ruleId": d.code.map_or("seg", |c| c.as_str()),
                "level": level,
                "message": { "text": text },
                "locations": d.primary_span().map(|s| vec![loc(Location::of(map, s), None)]).unwrap_or_default(),
            });
            let related: Vec<Value> =
                d.labels.iter().filter(|l| !l.primary).map(|l| loc(Location::of(map, l.span), Some(&l.message))).collect();
            if !related.is_empty() {
                r["relatedLocations"] = json!(related);
            }
            r
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "seg",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}
