//! The audit report as human text, JSON (with the per-rule hit counts) and
//! Markdown (for a pull request). SARIF is written by the command line's
//! shared SARIF writer from [`Finding::span`](crate::findings::Finding).

use crate::findings::{Attribution, Finding, Findings, Kind, RuleHits, Totals, duration_text};
use crate::model::{Aggregate, Counters, Window};
use seg_check::manifest::FindingLevel;
use serde_json::{Value, json};
use std::fmt::Write;

/// Everything a report says.
pub struct Report {
    pub project: String,
    pub window: Window,
    pub window_given: bool,
    pub counters: Counters,
    pub tuples: usize,
    pub findings: Findings,
}

impl Report {
    pub fn new(project: &str, agg: &Aggregate, findings: Findings) -> Report {
        Report {
            project: project.to_string(),
            window: agg.window,
            window_given: agg.window_given,
            counters: agg.counters,
            tuples: agg.tuples.len(),
            findings,
        }
    }

    pub fn count(&self, level: FindingLevel) -> usize {
        self.findings
            .findings
            .iter()
            .filter(|f| f.level == level)
            .count()
    }

    pub fn has_errors(&self) -> bool {
        self.count(FindingLevel::Error) > 0
    }

    fn attribution(&self) -> &Attribution {
        &self.findings.attribution
    }
}

fn level_word(l: FindingLevel) -> &'static str {
    l.as_str()
}

fn totals_json(t: &Totals) -> Value {
    json!({
        "records": t.records,
        "packets": t.packets,
        "bytes": t.bytes,
        "first_seen": t.first_seen.map(|t| t.to_string()),
        "last_seen": t.last_seen.map(|t| t.to_string()),
    })
}

fn window_json(w: &Window, given: bool) -> Value {
    json!({
        "since": w.since.to_string(),
        "until": w.until.to_string(),
        "from": if given { "--since/--until" } else { "the data" },
    })
}

fn finding_json(f: &Finding, w: &Window) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("kind".into(), f.kind.name().into());
    o.insert("id".into(), format!("seg-audit/{}", f.kind.name()).into());
    o.insert("level".into(), level_word(f.level).into());
    o.insert("subject".into(), f.subject.clone().into());
    o.insert("message".into(), f.message.clone().into());
    if let Some(r) = &f.rule {
        o.insert(
            "rule".into(),
            json!({
                "label": r.label,
                "policy": r.policy,
                "action": match r.action { seg_ir::Action::Allow => "allow", seg_ir::Action::Deny => "deny" },
                "file": r.place.file,
                "line": r.place.line,
                "column": r.place.column,
                "owner": r.owner,
            }),
        );
    }
    if let Some(p) = &f.place {
        o.insert(
            "location".into(),
            json!({ "file": p.file, "line": p.line, "column": p.column }),
        );
    }
    if let Some(t) = &f.totals {
        o.insert("counts".into(), totals_json(t));
    }
    o.insert(
        "window".into(),
        json!({ "since": w.since.to_string(), "until": w.until.to_string() }),
    );
    if !f.notes.is_empty() {
        o.insert("notes".into(), f.notes.clone().into());
    }
    if let Some(p) = &f.proposal {
        o.insert("proposal".into(), p.clone().into());
    }
    for (k, v) in f.detail.iter() {
        o.insert(k.to_string(), v.clone());
    }
    Value::Object(o)
}

fn rule_json(r: &RuleHits) -> Value {
    let mut all = r.carried;
    all.merge(&r.rejected);
    json!({
        "label": r.rule.label,
        "policy": r.rule.policy,
        "action": match r.rule.action { seg_ir::Action::Allow => "allow", seg_ir::Action::Deny => "deny" },
        "file": r.rule.place.file,
        "line": r.rule.place.line,
        "owner": r.rule.owner,
        "hits": totals_json(&all),
        "carried": r.carried.records,
        "rejected": r.rejected.records,
    })
}

/// The JSON report as a value (tests; the command line streams it with [`write_json`]).
pub fn json(report: &Report) -> Value {
    serde_json::to_value(JsonReport(report)).unwrap_or(Value::Null)
}

/// Write the JSON report, pretty-printed. Findings and rules are rendered one
/// at a time as they are written, so the output never exists whole in memory.
pub fn write_json(report: &Report, out: impl std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(out, &JsonReport(report)).map_err(std::io::Error::from)
}

struct JsonReport<'a>(&'a Report);

impl serde::Serialize for JsonReport<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let report = self.0;
        let c = &report.counters;
        let a = report.attribution();
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("project", &report.project)?;
        m.serialize_entry("window", &window_json(&report.window, report.window_given))?;
        m.serialize_entry(
            "input",
            &json!({
                "flows": c.flows,
                "gap_records": c.gap_records,
                "malformed": c.malformed,
                "outside_window": c.outside_window,
                "replies_folded": c.replies,
                "undetermined_direction": c.undetermined,
                "tuples": report.tuples,
            }),
        )?;
        m.serialize_entry(
            "attribution",
            &json!({
                "records": a.records,
                "both_ends_identities": a.attributed,
                "without_window_evidence": a.without_evidence,
                "by_kubernetes_labels": c.by_labels,
                "with_an_unresolved_end": a.unresolved,
            }),
        )?;
        m.serialize_entry(
            "summary",
            &json!({
                "errors": report.count(FindingLevel::Error),
                "warnings": report.count(FindingLevel::Warning),
                "notes": report.count(FindingLevel::Note),
            }),
        )?;
        m.serialize_entry("findings", &Each(report, Part::Findings))?;
        m.serialize_entry("rules", &Each(report, Part::Rules))?;
        m.end()
    }
}

#[derive(Clone, Copy)]
enum Part {
    Findings,
    Rules,
}

/// A list of the report rendered element by element.
struct Each<'a>(&'a Report, Part);

impl serde::Serialize for Each<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let report = self.0;
        match self.1 {
            Part::Findings => s.collect_seq(
                report
                    .findings
                    .findings
                    .iter()
                    .map(|f| finding_json(f, &report.window)),
            ),
            Part::Rules => s.collect_seq(report.findings.rules.iter().map(rule_json)),
        }
    }
}

fn header(report: &Report, out: &mut String) {
    let c = &report.counters;
    let a = report.attribution();
    let _ = writeln!(
        out,
        "audit of {}: window {} .. {} ({}, from {})",
        report.project,
        report.window.since,
        report.window.until,
        duration_text(report.window.seconds()),
        if report.window_given {
            "--since/--until"
        } else {
            "the data"
        }
    );
    let _ = writeln!(
        out,
        "  {} flow records read, {} gap records, {} malformed, {} outside the window",
        c.flows, c.gap_records, c.malformed, c.outside_window
    );
    let _ = writeln!(
        out,
        "  {} records in {} distinct tuples; {} replies folded into their connection, {} with no telling client from server (left out)",
        a.records, report.tuples, c.replies, c.undetermined
    );
    let _ = writeln!(
        out,
        "  attribution: {} records between identities, {} with an unresolved end; {} attributed without address-window evidence, {} by Kubernetes labels",
        a.attributed, a.unresolved, a.without_evidence, c.by_labels
    );
}

fn totals_text(t: &Totals) -> String {
    match (t.first_seen, t.last_seen) {
        (Some(f), Some(l)) => format!(
            "{} records, {} packets, {} bytes, first seen {f}, last seen {l}",
            t.records, t.packets, t.bytes
        ),
        _ => format!("{} records", t.records),
    }
}

pub fn human(report: &Report) -> String {
    let mut out = String::new();
    header(report, &mut out);
    for f in &report.findings.findings {
        let _ = writeln!(
            out,
            "\n{}[{}]: {}",
            level_word(f.level),
            f.kind.name(),
            f.message
        );
        if let Some(p) = &f.place {
            let owner = f
                .rule
                .as_ref()
                .and_then(|r| r.owner.as_deref())
                .map_or(String::new(), |o| format!(" (owner {o})"));
            let _ = writeln!(out, "  --> {}:{}:{}{owner}", p.file, p.line, p.column);
        }
        if let Some(t) = &f.totals {
            let _ = writeln!(out, "  = {}", totals_text(t));
        }
        for n in &f.notes {
            let _ = writeln!(out, "  = note: {n}");
        }
        if let Some(p) = &f.proposal {
            let _ = writeln!(out, "  = proposed:");
            for line in p.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} error(s), {} warning(s), {} note(s)",
        report.count(FindingLevel::Error),
        report.count(FindingLevel::Warning),
        report.count(FindingLevel::Note)
    );
    seg_diag::visible(&out)
}

pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## seg audit: {}\n", md(&report.project));
    let mut head = String::new();
    header(report, &mut head);
    for line in head.lines() {
        let _ = writeln!(out, "{}  ", md(line.trim()));
    }
    let _ = writeln!(
        out,
        "\n**{} error(s), {} warning(s), {} note(s)**\n",
        report.count(FindingLevel::Error),
        report.count(FindingLevel::Warning),
        report.count(FindingLevel::Note)
    );
    for kind in Kind::ALL {
        let fs: Vec<&Finding> = report
            .findings
            .findings
            .iter()
            .filter(|f| f.kind == kind)
            .collect();
        if fs.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### `{}` ({})\n", kind.name(), fs.len());
        let _ = writeln!(out, "{}\n", kind.description());
        let _ = writeln!(
            out,
            "| level | subject | where | records | first seen | last seen |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for f in &fs {
            let place = f
                .place
                .as_ref()
                .map_or(String::new(), |p| format!("`{}:{}`", md(&p.file), p.line));
            let (records, first, last) =
                f.totals
                    .map_or((String::new(), String::new(), String::new()), |t| {
                        (
                            t.records.to_string(),
                            t.first_seen.map_or(String::new(), |x| x.to_string()),
                            t.last_seen.map_or(String::new(), |x| x.to_string()),
                        )
                    });
            let _ = writeln!(
                out,
                "| {} | {} | {place} | {records} | {first} | {last} |",
                level_word(f.level),
                md(&f.subject)
            );
        }
        for f in fs.iter().filter(|f| f.proposal.is_some()) {
            let _ = writeln!(
                out,
                "\n<details><summary>{}: proposed</summary>\n\n```seg\n{}\n```\n</details>",
                md(&f.subject),
                f.proposal.as_deref().unwrap_or("")
            );
        }
        out.push('\n');
    }
    seg_diag::visible(&out)
}

/// Text for a Markdown table cell: no pipes, backticks or line breaks.
fn md(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('`', "'")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
}
