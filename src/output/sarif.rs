//! SARIF 2.1.0 as GitHub code scanning accepts it: every result has a location (results
//! without a span point at `seg.toml` or the input that caused them), every rule id is
//! described in `tool.driver.rules` from its page in `docs/diagnostics/`, artifact URIs are
//! relative to the repository root (`%SRCROOT%`, declared in `originalUriBaseIds`) and
//! percent-encoded, and a run holds at most 25,000 results in at most 10 MB, cut by
//! severity then order, with a notification saying so.

use seg_diag::{Code, Diagnostic, Location, Severity, SourceMap, Span};
use serde_json::{Value, json};
use std::path::{Component, Path, PathBuf};

/// The schema the log declares (OASIS SARIF 2.1.0, errata 01).
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
/// GitHub code scanning rejects a run with more results.
pub const MAX_RESULTS: usize = 25_000;
/// GitHub code scanning rejects a larger file.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// GitHub code scanning rejects a result with more locations (primary and related).
const MAX_LOCATIONS: usize = 1_000;
/// The base id artifact URIs are relative to: GitHub resolves it to the repository root.
const SRCROOT: &str = "%SRCROOT%";
/// `helpUri` of a rule is this (an absolute URL) followed by `<rule id>.md`; none when unset.
pub const HELP_URI_BASE_VAR: &str = "SEG_HELP_URI_BASE";

/// What a result is about: a diagnostic code, or one of seg's code-less kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    Code(Code),
    /// A usage or I/O problem (exit code 2): no code, page `docs/diagnostics/usage.md`.
    Usage,
    /// A failing expectation of `seg test`: page `docs/diagnostics/test-failed.md`.
    TestFailed,
    /// A finding of `seg audit`, by its name: page `docs/diagnostics/<name>.md`.
    Audit(&'static str),
    /// An input that could not be read, which stops the run (exit code 2): the flow-log
    /// reader's E0170 to E0173. Its own rule (not [`Rule::Code`]) because the run failed.
    Unreadable(Code),
}

impl Rule {
    pub fn id(self) -> &'static str {
        match self {
            Rule::Code(c) | Rule::Unreadable(c) => c.as_str(),
            Rule::Usage => "usage",
            Rule::TestFailed => "test-failed",
            Rule::Audit(name) => name,
        }
    }

    fn page(self) -> &'static str {
        crate::pages::DIAGNOSTIC_PAGES
            .iter()
            .find(|(id, _)| *id == self.id())
            .map_or("", |(_, text)| *text)
    }

    fn default_level(self) -> Level {
        match self {
            Rule::Code(c) if c.is_warning() => Level::Warning,
            Rule::Audit(name) => match seg_check::manifest::AuditSettings::default().level(name) {
                seg_check::manifest::FindingLevel::Error => Level::Error,
                seg_check::manifest::FindingLevel::Warning => Level::Warning,
                _ => Level::Note,
            },
            _ => Level::Error,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Note,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

/// One result, before it is placed in files and rendered.
#[derive(Clone, Debug)]
pub struct Finding {
    pub rule: Rule,
    pub level: Level,
    pub message: String,
    pub primary: Option<Span>,
    pub related: Vec<(Span, String)>,
}

impl Finding {
    pub fn of(d: &Diagnostic) -> Finding {
        let mut message = d.message.clone();
        for n in &d.notes {
            message.push_str(&format!("\nnote: {n}"));
        }
        if let Some(h) = &d.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        Finding {
            rule: d.code.map_or(Rule::Usage, Rule::Code),
            level: match d.severity {
                Severity::Bug | Severity::Error => Level::Error,
                Severity::Warning => Level::Warning,
                Severity::Note => Level::Note,
            },
            message,
            primary: d.primary_span(),
            // Without a primary label the first label is the location: not related too.
            related: d
                .labels
                .iter()
                .skip(usize::from(!d.labels.iter().any(|l| l.primary)))
                .filter(|l| !l.primary)
                .map(|l| (l.span, l.message.clone()))
                .collect(),
        }
    }
}

/// Where a run's files are.
#[derive(Clone, Debug)]
pub struct Anchor {
    /// The folder the source map's names are relative to (the project's).
    pub project: PathBuf,
    /// The file a result without a span points at, relative to `project`: `seg.toml`, the
    /// single `.seg` file, or the path the command line named.
    pub fallback: String,
}

impl Anchor {
    /// The repository root (the enclosing git work tree, else the project folder) and the
    /// project folder's path inside it.
    fn roots(&self) -> (PathBuf, Vec<String>) {
        let project = absolute(&self.project);
        let repo = project
            .ancestors()
            .find(|d| d.join(".git").exists())
            .unwrap_or(&project)
            .to_path_buf();
        let inside = project
            .strip_prefix(&repo)
            .map(|rel| {
                rel.components()
                    .filter_map(|c| match c {
                        Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        (repo, inside)
    }
}

/// The SARIF log of one run; the notices to show the user (results left out).
pub fn log(map: &SourceMap, findings: Vec<Finding>, anchor: &Anchor) -> (Value, Vec<String>) {
    let (repo, inside) = anchor.roots();
    let place = Placer { map, inside };
    let fallback = place.file(&anchor.fallback);
    // Most severe first, then as given (sorted by file and line): what a cut keeps.
    let mut findings = findings;
    findings.sort_by_key(|f| f.level);
    let total = findings.len();
    let mut keep = total.min(MAX_RESULTS);
    loop {
        let (doc, notices) = render(&findings[..keep], total, &place, &fallback, &repo);
        let size = serde_json::to_string(&doc).map_or(0, |s| s.len());
        if size <= MAX_BYTES || keep == 0 {
            return (doc, notices);
        }
        // Shrink in proportion, a little more, until it fits.
        keep = (keep as u128 * MAX_BYTES as u128 * 9 / 10 / size as u128) as usize;
    }
}

fn render(
    findings: &[Finding],
    total: usize,
    place: &Placer,
    fallback: &Value,
    repo: &Path,
) -> (Value, Vec<String>) {
    let mut rules: Vec<Rule> = findings.iter().map(|f| f.rule).collect();
    rules.sort();
    rules.dedup();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let index = rules.iter().position(|r| *r == f.rule).unwrap_or(0);
            let location = f
                .primary
                .and_then(|s| place.span(s))
                .unwrap_or_else(|| fallback.clone());
            let mut r = json!({
                "ruleId": f.rule.id(),
                "ruleIndex": index,
                "level": f.level.as_str(),
                "message": { "text": f.message },
                "locations": [{ "physicalLocation": location }],
            });
            let related: Vec<Value> = f
                .related
                .iter()
                .filter_map(|(span, label)| {
                    let at = place.span(*span)?;
                    Some(json!({ "physicalLocation": at, "message": { "text": label } }))
                })
                .take(MAX_LOCATIONS - 1)
                .collect();
            if !related.is_empty() {
                r["relatedLocations"] = json!(related);
            }
            r
        })
        .collect();
    let mut notices = Vec::new();
    if findings.len() < total {
        notices.push(format!(
            "{} of {total} results are in the SARIF log: code scanning accepts at most {MAX_RESULTS} results and {} MB per run; the most severe were kept, then the first by file and line",
            findings.len(),
            MAX_BYTES / (1024 * 1024)
        ));
    }
    let successful = !findings.iter().any(|f| {
        matches!(
            f.rule,
            Rule::Usage | Rule::Unreadable(_) | Rule::Code(Code::InternalError)
        )
    });
    let mut invocation = json!({ "executionSuccessful": successful });
    if !notices.is_empty() {
        invocation["toolExecutionNotifications"] = json!(
            notices
                .iter()
                .map(|n| json!({ "level": "warning", "message": { "text": n } }))
                .collect::<Vec<_>>()
        );
    }
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": driver(&rules) },
            "invocations": [invocation],
            "originalUriBaseIds": {
                SRCROOT: {
                    "uri": file_uri(repo),
                    "description": { "text": "The root of the repository (or of the project, outside git)." }
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    (doc, notices)
}

fn driver(rules: &[Rule]) -> Value {
    let help_base = std::env::var(HELP_URI_BASE_VAR)
        .ok()
        .filter(|b| is_absolute_uri(b));
    let mut driver = json!({
        "name": "seg",
        "semanticVersion": env!("CARGO_PKG_VERSION"),
        "version": concat!(env!("CARGO_PKG_VERSION"), " (", env!("SEG_INSTALL_REV"), ")"),
        "rules": rules.iter().map(|r| descriptor(*r, help_base.as_deref())).collect::<Vec<_>>(),
    });
    let home = env!("SEG_INSTALL_REPOSITORY");
    if is_absolute_uri(home) {
        driver["informationUri"] = json!(home);
    }
    driver
}

fn descriptor(rule: Rule, help_base: Option<&str>) -> Value {
    let page = rule.page();
    let (short, full) = summary(rule, page);
    let level = rule.default_level().as_str();
    let mut tags: Vec<&str> = match rule {
        Rule::Code(c) => taxonomy(c).to_vec(),
        Rule::Usage => vec!["usage"],
        Rule::TestFailed => vec!["test"],
        Rule::Audit(_) => vec!["security", "audit", "least-privilege"],
        Rule::Unreadable(_) => vec!["usage"],
    };
    tags.truncate(20);
    let mut d = json!({
        "id": rule.id(),
        "shortDescription": { "text": short },
        "fullDescription": { "text": full },
        "help": { "text": page, "markdown": page },
        "defaultConfiguration": { "level": level },
        "properties": {
            "tags": tags,
            "precision": "very-high",
            "problem.severity": match level {
                "warning" => "warning",
                "note" => "recommendation",
                _ => "error",
            },
        },
    });
    if let Rule::Code(c) = rule
        && let Some(lint) = c.lint_name()
    {
        d["name"] = json!(lint);
    }
    if let Some(base) = help_base {
        let sep = if base.ends_with('/') { "" } else { "/" };
        d["helpUri"] = json!(format!("{base}{sep}{}.md", rule.id()));
    }
    d
}

/// The heading of a page (without its id and lint name) and its first paragraph.
fn summary(rule: Rule, page: &str) -> (String, String) {
    let mut lines = page.lines();
    let heading = lines
        .find(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .unwrap_or("");
    let short = heading
        .strip_prefix(rule.id())
        .map(|s| s.trim_start_matches(':').trim())
        .unwrap_or(heading);
    let short = match short.rfind(" (`") {
        Some(i) if short.ends_with("`)") => &short[..i],
        _ => short,
    };
    let short = if short.is_empty() { rule.id() } else { short };
    let mut paragraph = Vec::new();
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            if !paragraph.is_empty() {
                break;
            }
            continue;
        }
        if line.starts_with('#') || line.starts_with("```") {
            break;
        }
        if paragraph.is_empty() && line.starts_with("Lint: ") {
            continue;
        }
        paragraph.push(line);
    }
    let full = if paragraph.is_empty() {
        short.to_string()
    } else {
        paragraph.join(" ")
    };
    (short.to_string(), full)
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

/// Places the source map's files in the repository.
struct Placer<'a> {
    map: &'a SourceMap,
    /// The project folder's path inside the repository.
    inside: Vec<String>,
}

impl Placer<'_> {
    /// A whole file (line 1), named relative to the project folder.
    fn file(&self, name: &str) -> Value {
        json!({
            "artifactLocation": self.artifact(name),
            "region": { "startLine": 1 },
        })
    }

    /// A span of a file read from disk; `None` for the stdlib and the command line.
    fn span(&self, span: Span) -> Option<Value> {
        let l = Location::of(self.map, span);
        if l.file.starts_with('<') || l.file.is_empty() {
            return None;
        }
        Some(json!({
            "artifactLocation": self.artifact(&l.file),
            "region": {
                "startLine": l.line,
                "startColumn": l.column,
                "endLine": l.end_line,
                "endColumn": l.end_column,
            },
        }))
    }

    fn artifact(&self, name: &str) -> Value {
        let mut parts: Vec<&str> = self.inside.iter().map(String::as_str).collect();
        for part in name.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        let uri: Vec<String> = parts.iter().map(|p| encode(p)).collect();
        json!({ "uri": uri.join("/"), "uriBaseId": SRCROOT })
    }
}

/// Percent-encode one path segment: everything but RFC 3986 unreserved characters.
pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `file:///abs/path/` (percent-encoded, with the final slash a base URI needs).
fn file_uri(dir: &Path) -> String {
    let mut uri = String::from("file://");
    for c in dir.components() {
        if let Component::Normal(s) = c {
            uri.push('/');
            uri.push_str(&encode(&s.to_string_lossy()));
        }
    }
    uri.push('/');
    uri
}

fn absolute(p: &Path) -> PathBuf {
    let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    p.canonicalize().unwrap_or(p)
}

/// `scheme://…` with a scheme of letters, digits, `+`, `-`, `.`.
fn is_absolute_uri(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode("main.seg"), "main.seg");
        assert_eq!(encode("a b#?%"), "a%20b%23%3F%25");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(file_uri(Path::new("/a b/c")), "file:///a%20b/c/");
    }

    #[test]
    fn summaries_come_from_the_pages() {
        let (short, full) = summary(
            Rule::Code(Code::NothingManaged),
            Rule::Code(Code::NothingManaged).page(),
        );
        assert_eq!(short, "target manages no identity");
        assert!(
            full.starts_with("A target configured in `seg.toml`"),
            "{full}"
        );
        let (short, full) = summary(
            Rule::Code(Code::SharedCredential),
            Rule::Code(Code::SharedCredential).page(),
        );
        assert_eq!(short, "shared credential");
        assert!(full.starts_with("An identity's credential"), "{full}");
        assert!(is_absolute_uri("https://x.example/docs/"));
        assert!(!is_absolute_uri("docs/diagnostics/"));
    }
}
