//! The pull-request comment: the summary as a heading, then one
//! `<details>` section per group of changes with a table of rows; a group
//! of many identities is one cell that expands to its members. The comment
//! is cut at [`MAX_MARKDOWN`] characters (GitHub takes 65,536), row by row,
//! with a note saying how much was left out.

use super::{Options, expect_line, group_size, members, rule_text, summary_line, witness_line};
use crate::model::*;
use std::fmt::Write as _;

/// Longest comment written, in characters.
pub const MAX_MARKDOWN: usize = 60_000;

/// Members listed in a cell before "and N more".
const LISTED: usize = 50;

/// Room kept for closing tags and the cut note.
const RESERVE: usize = 800;

/// Text for HTML and for a table cell: `<`, `>`, `&`, `"`, `|`, backticks
/// and line breaks cannot end the cell or open markup.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '|' => out.push_str("&#124;"),
            '`' => out.push_str("&#96;"),
            '*' => out.push_str("&#42;"),
            '_' => out.push_str("&#95;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            '\\' => out.push_str("&#92;"),
            c if c.is_control() || seg_diag::hidden(c) => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", esc(s))
}

fn group(e: &Endpoints) -> String {
    let (names, more) = members(e, LISTED);
    let list: Vec<String> = names.iter().map(|n| code(n)).collect();
    let mut body = list.join(", ");
    if more > 0 {
        let _ = write!(body, ", … and {more} more");
    }
    let listed = names.len() + more;
    let common = e
        .common
        .as_ref()
        .map(|c| format!(": all with {}", esc(c)))
        .unwrap_or_default();
    let mut cell = match group_size(e) {
        Some(size) if listed > 3 => {
            format!(
                "<details><summary>{}{common}</summary>{body}</details>",
                esc(&size)
            )
        }
        Some(size) => format!("{body} <sub>({}{common})</sub>", esc(&size)),
        None => body,
    };
    if !e.causes.is_empty() {
        let causes: Vec<String> = e.causes.iter().map(|c| esc(&c.text())).collect();
        let _ = write!(cell, "<br>↳ inventory: {}", causes.join("; "));
    }
    cell
}

fn verdict(v: &Verdict, mark: &str) -> String {
    let mut cell = format!("<b>{}</b>", esc(&v.text));
    for r in &v.rules {
        let m = if r.changed {
            format!("{mark} ")
        } else {
            String::new()
        };
        let _ = write!(cell, "<br>{m}{}", esc(&rule_text(r)));
    }
    cell
}

fn row_line(row: &Row) -> String {
    let intent = match row.intent {
        Some(Intent::Intended) => " (intended)",
        Some(Intent::Collateral) => " <b>(collateral)</b>",
        None => "",
    };
    let allow = row.after.allows(&row.witness.context());
    format!(
        "| {}&nbsp;{}{intent} | {} | {} | {} | {} | {} | <sub>{}</sub> |\n",
        row.change.sign(),
        esc(row.change.text()),
        group(&row.src),
        group(&row.dst),
        esc(&super::ports(&row.ports)),
        verdict(&row.before, "−"),
        verdict(&row.after, "+"),
        code(&witness_line(&row.witness, allow)),
    )
}

const HEADER: &str =
    "| change | from | to | ports | before | after | e.g. |\n|---|---|---|---|---|---|---|\n";

pub fn markdown(d: &Diff, o: &Options) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### seg diff: {}\n", esc(&summary_line(d)));
    let _ = writeln!(
        s,
        "{} ({} rules) → {} ({} rules), decisions compared from {} on.\n",
        code(&d.old.label),
        d.old.rules,
        code(&d.new.label),
        d.new.rules,
        d.now
    );
    if let Some(r) = o.expect {
        let _ = writeln!(s, "**{}**\n", esc(&expect_line(r)));
        if !r.missing.is_empty() {
            s.push_str(
                "<details open><summary><b>Intended changes that did not happen</b></summary>\n\n",
            );
            for (e, why) in &r.missing {
                let _ = writeln!(
                    s,
                    "- line {}: {} — {}",
                    e.line,
                    code(&e.text),
                    esc(&why.text(e.decision))
                );
            }
            s.push_str("\n</details>\n\n");
        }
    }
    if !d.complete {
        s.push_str("> A string test had too many automaton states to explore: differences only some strings show may be missing.\n\n");
    }
    identities(&mut s, d);
    if let Some(targets) = &d.targets {
        target_section(&mut s, targets);
    }
    let total = d.changes.len();
    let mut written = 0;
    let budget = MAX_MARKDOWN.saturating_sub(RESERVE);
    let mut length = s.chars().count();
    'sections: for section in [Section::Persistent, Section::Added, Section::Removed] {
        let rows: Vec<&Row> = d.changes.iter().filter(|r| r.section == section).collect();
        if rows.is_empty() {
            continue;
        }
        let open = if section == Section::Persistent {
            " open"
        } else {
            ""
        };
        let head = format!(
            "<details{open}><summary><b>{}</b> ({})</summary>\n\n{HEADER}",
            esc(section.title()),
            rows.len()
        );
        let head_length = head.chars().count();
        if length + head_length > budget {
            break;
        }
        s.push_str(&head);
        length += head_length;
        for row in rows {
            let line = row_line(row);
            let line_length = line.chars().count();
            if length + line_length > budget {
                s.push_str("\n</details>\n\n");
                break 'sections;
            }
            s.push_str(&line);
            length += line_length;
            written += 1;
        }
        s.push_str("\n</details>\n\n");
        length += 14;
    }
    if written < total {
        let _ = writeln!(
            s,
            "> **Cut:** {} of {total} rows are not shown (this comment is limited to {} characters). \
             `seg diff --format json` lists every flow class.",
            total - written,
            MAX_MARKDOWN
        );
    }
    s
}

fn identities(s: &mut String, d: &Diff) {
    let ids = &d.identities;
    let n = ids.added.len() + ids.removed.len() + ids.changed.len();
    if n == 0 {
        return;
    }
    let _ = writeln!(
        s,
        "<details><summary><b>Inventory</b> ({})</summary>\n",
        super::count(n, "identity")
    );
    let list = |v: &[String]| {
        let mut text = v
            .iter()
            .take(LISTED)
            .map(|x| code(x))
            .collect::<Vec<_>>()
            .join(", ");
        if v.len() > LISTED {
            let _ = write!(text, ", … and {} more", v.len() - LISTED);
        }
        text
    };
    if !ids.added.is_empty() {
        let _ = writeln!(s, "- added: {}", list(&ids.added));
    }
    if !ids.removed.is_empty() {
        let _ = writeln!(s, "- removed: {}", list(&ids.removed));
    }
    for c in ids.changed.iter().take(LISTED) {
        let changes: Vec<String> = c.changes.iter().map(|f| esc(&f.text())).collect();
        let _ = writeln!(s, "- changed {}: {}", code(&c.name), changes.join("; "));
    }
    if ids.changed.len() > LISTED {
        let _ = writeln!(s, "- … and {} more changed", ids.changed.len() - LISTED);
    }
    s.push_str("\n</details>\n\n");
}

/// Objects, and fail-closed choices, named per target cell: the comment
/// stays well under its limit however many a build changes.
const TARGET_LISTED: usize = 10;

fn target_section(s: &mut String, targets: &[crate::targets::TargetDiff]) {
    use crate::targets::{kind_text, objects_line};
    use seg_ir::objects::Presence;
    let changed = targets.iter().filter(|t| !t.is_empty()).count();
    let _ = writeln!(
        s,
        "<details><summary><b>Targets</b> ({changed} of {} with changes)</summary>\n",
        targets.len()
    );
    s.push_str("| target | objects | fail-closed choices |\n|---|---|---|\n");
    for t in targets {
        let objects = match (t.presence, &t.objects) {
            (Presence::OldOnly, _) => "no longer a target".to_string(),
            (Presence::NewOnly, _) => "a new target".to_string(),
            (_, Some(c)) => {
                let mut cell = esc(&objects_line(c));
                for (sign, list) in [("+", &c.added), ("−", &c.removed), ("~", &c.changed)] {
                    for obj in list.iter().take(TARGET_LISTED) {
                        let _ = write!(cell, "<br>{sign} {} {}", esc(&obj.kind), code(&obj.name));
                    }
                    if list.len() > TARGET_LISTED {
                        let _ =
                            write!(cell, "<br>{sign} … and {} more", list.len() - TARGET_LISTED);
                    }
                }
                cell
            }
            (_, None) => String::new(),
        };
        let mut choices = Vec::new();
        for (prefix, list) in [
            ("now", &t.new_approximations),
            ("no longer", &t.gone_approximations),
        ] {
            for a in list.iter().take(TARGET_LISTED) {
                choices.push(format!(
                    "{prefix} {}: {} {} — {}",
                    kind_text(a.kind),
                    code(&a.rule),
                    esc(&a.location),
                    esc(&a.reason)
                ));
            }
            if list.len() > TARGET_LISTED {
                choices.push(format!(
                    "{prefix}: … and {} more",
                    list.len() - TARGET_LISTED
                ));
            }
        }
        let _ = writeln!(
            s,
            "| {} | {objects} | {} |",
            code(&t.target),
            choices.join("<br>")
        );
    }
    s.push_str("\n</details>\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::TargetDiff;
    use seg_ir::capability::{Approximation, ApproximationKind};
    use seg_ir::objects::{Object, ObjectChanges, Presence};

    #[test]
    fn a_target_cell_names_a_few_objects_and_counts_the_rest() {
        let objects: Vec<Object> = (0..500)
            .map(|i| {
                Object::new(
                    "NetworkPolicy",
                    format!("ns/seg-allow-{i}|x"),
                    "f.yaml",
                    b"x",
                )
            })
            .collect();
        let omitted: Vec<Approximation> = (0..300)
            .map(|i| Approximation {
                target: "kubernetes".into(),
                rule: format!("p/{i}"),
                location: format!("a.seg:{i}"),
                kind: ApproximationKind::Omitted,
                reason: "`kubernetes` cannot enforce `time`".into(),
            })
            .collect();
        let t = TargetDiff {
            target: "kubernetes".into(),
            presence: Presence::Both,
            objects: Some(ObjectChanges {
                added: objects.clone(),
                removed: objects.clone(),
                changed: objects,
                unchanged: 7,
            }),
            new_approximations: omitted.clone(),
            gone_approximations: omitted,
        };
        let mut s = String::new();
        target_section(&mut s, &[t.clone(), t.clone(), t.clone(), t.clone(), t]);
        assert!(
            s.chars().count() < MAX_MARKDOWN / 2,
            "{} characters",
            s.len()
        );
        assert!(s.contains("500 added, 500 removed, 500 changed (7 unchanged)"));
        assert!(s.contains("<br>+ … and 490 more") && s.contains("<br>~ … and 490 more"));
        assert!(s.contains("now: … and 290 more") && s.contains("no longer: … and 290 more"));
        // A name's `|` would end the table cell.
        assert!(!s.contains("-0|x") && s.contains("seg-allow-0"), "{s}");
        assert_eq!(s.matches("\n| <code>kubernetes</code> |").count(), 5);
    }
}
