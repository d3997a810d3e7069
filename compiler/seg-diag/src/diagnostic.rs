//! The diagnostic value every stage produces, and the list that collects them.

use crate::{Code, LintLevel, Span};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A bug in seg itself.
    Bug,
    Error,
    Warning,
    Note,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

/// One problem: code, message (lowercase, no final period, user input in
/// backticks), labels on the source, notes (facts) and a help line (one action).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Option<Code>,
    pub message: String,
    pub labels: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Option<String>,
    /// Every member of a large set that the text names only by a count and the
    /// first few (see [`summarise`]): the full list, for the JSON output.
    /// (A boxed slice: diagnostics travel in `Result`s and stay small.)
    pub members: Box<[String]>,
}

/// How many names a message shows of a large set before `and N more`.
pub const SHOWN_MEMBERS: usize = 5;

/// `a, b, c, d, e and 195 more`: the first [`SHOWN_MEMBERS`] of `names`, then
/// the count of the rest (all of them when there are few).
pub fn summarise(names: &[String]) -> String {
    if names.len() <= SHOWN_MEMBERS + 1 {
        return names.join(", ");
    }
    format!(
        "{} and {} more",
        names[..SHOWN_MEMBERS].join(", "),
        names.len() - SHOWN_MEMBERS
    )
}

impl Diagnostic {
    pub fn new(severity: Severity, code: Option<Code>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            labels: Vec::new(),
            notes: Vec::new(),
            help: None,
            members: Box::default(),
        }
    }

    /// An error, or a warning when `code` is a W-code.
    pub fn of(code: Code, message: impl Into<String>) -> Diagnostic {
        let severity = if code.is_warning() {
            Severity::Warning
        } else {
            Severity::Error
        };
        Diagnostic::new(severity, Some(code), message)
    }

    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, Some(code), message)
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, Some(code), message)
    }

    /// A bug in seg: rendered with a request to report it.
    pub fn bug(message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Bug, Some(Code::InternalError), message)
            .with_note("this is a bug in seg; please report it with the input that caused it")
    }

    /// A problem with no source location and no code (I/O, usage).
    pub fn plain(message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, None, message)
    }

    pub fn with_primary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: true,
        });
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// The full list behind a summary of a large set (see [`summarise`]).
    pub fn with_members(mut self, members: Vec<String>) -> Diagnostic {
        self.members = members.into_boxed_slice();
        self
    }

    pub fn primary_span(&self) -> Option<Span> {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or(self.labels.first())
            .map(|l| l.span)
    }

    pub fn is_error(&self) -> bool {
        matches!(self.severity, Severity::Error | Severity::Bug)
    }
}

/// The problems of one run, errors and warnings together.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Diagnostics {
        Diagnostics::default()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn extend(&mut self, ds: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(ds);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }

    /// Apply `seg.toml [lints]` levels: `allow` drops a lint, `deny` makes it an
    /// error. `--deny-warnings` then turns every remaining warning into an error.
    pub fn apply_levels(&mut self, levels: &BTreeMap<String, LintLevel>, deny_warnings: bool) {
        self.items.retain_mut(|d| {
            let Some((code, lint)) = d.code.and_then(|c| Some((c, c.lint_name()?))) else {
                return true;
            };
            let set = levels.get(lint).copied();
            match set.unwrap_or(code.default_lint_level()) {
                LintLevel::Allow => return false,
                LintLevel::Deny => {
                    d.severity = Severity::Error;
                    d.notes.push(match set {
                        Some(_) => format!("`{lint}` is set to `deny` in seg.toml"),
                        None => format!(
                            "`{lint}` is an error unless seg.toml `[lints]` sets it to `warn` or `allow`"
                        ),
                    });
                }
                LintLevel::Warn => {}
            }
            true
        });
        if deny_warnings {
            for d in &mut self.items {
                if d.severity == Severity::Warning {
                    d.severity = Severity::Error;
                    d.notes
                        .push("warnings are errors under `--deny-warnings`".to_string());
                }
            }
        }
    }

    /// Sort by file and position so output is stable whatever the order of stages.
    pub fn sort(&mut self) {
        self.items
            .sort_by_key(|d| d.primary_span().map(|s| (s.file, s.start, s.end)));
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// Find the candidate closest to `name` for a "did you mean" help line.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestion_picks_the_nearest_close_name() {
        let names = ["payments-api", "payments-worker", "ledger-postgres"];
        assert_eq!(did_you_mean("payment-api", names), Some("payments-api"));
        assert_eq!(did_you_mean("zzz", names), None);
    }

    #[test]
    fn lint_levels_drop_or_promote() {
        let mut ds = Diagnostics::new();
        ds.push(Diagnostic::of(Code::MissingOwner, "rule has no owner"));
        ds.push(Diagnostic::of(Code::OverBroad, "over-broad"));
        ds.push(Diagnostic::of(Code::UnusedService, "unused"));
        let levels = BTreeMap::from([
            ("missing-owner".to_string(), LintLevel::Deny),
            ("over-broad".to_string(), LintLevel::Allow),
        ]);
        ds.apply_levels(&levels, false);
        let v = ds.clone().into_vec();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].severity, Severity::Error);
        assert_eq!(v[1].severity, Severity::Warning);
        ds.apply_levels(&BTreeMap::new(), true);
        assert!(ds.iter().all(|d| d.severity == Severity::Error));
    }
}

#[cfg(test)]
mod summary_tests {
    use super::summarise;

    #[test]
    fn a_large_set_is_a_count_and_the_first_five() {
        let names = |n: usize| (0..n).map(|i| format!("n{i}")).collect::<Vec<_>>();
        assert_eq!(summarise(&names(0)), "");
        assert_eq!(summarise(&names(6)), "n0, n1, n2, n3, n4, n5");
        assert_eq!(summarise(&names(7)), "n0, n1, n2, n3, n4 and 2 more");
        assert_eq!(summarise(&names(1000)), "n0, n1, n2, n3, n4 and 995 more");
    }
}
