//! The terminal format: a summary line, the inventory changes, then one
//! block per row under its life-cycle section, with both decisions, the
//! rules deciding them (`+`/`-` marks a rule only that version has), the
//! inventory change behind it and a witness written as an `expect` line.

use super::{Options, expect_line, group_size, members, rule_text, summary_line, witness_line};
use crate::model::*;
use seg_diag::visible;
use std::fmt::Write as _;

/// Members shown per group unless `--members`.
const SHOWN: usize = 4;

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn change(&self, c: Change, s: &str) -> String {
        let code = match c {
            Change::NewlyAllowed => "32",
            Change::NewlyDenied => "31",
            _ => "33",
        };
        self.wrap(code, s)
    }
}

pub fn human(d: &Diff, o: &Options) -> String {
    let p = Paint(o.color);
    let mut s = String::new();
    let _ = writeln!(s, "{}", p.bold(&format!("seg diff: {}", summary_line(d))));
    let _ = writeln!(
        s,
        "{}",
        p.dim(&format!(
            "  old: {} ({} rules, {} identities)  new: {} ({} rules, {} identities)  from {} on",
            visible(&d.old.label),
            d.old.rules,
            d.old.identities,
            visible(&d.new.label),
            d.new.rules,
            d.new.identities,
            d.now
        ))
    );
    if let Some(r) = o.expect {
        let _ = writeln!(s, "{}", p.bold(&expect_line(r)));
    }
    if !d.complete {
        let _ = writeln!(
            s,
            "  note: a string test had too many automaton states to explore; differences only some strings show may be missing"
        );
    }
    identities(&mut s, d, &p);
    let by_row = o
        .expect
        .map(|r| crate::expect::by_row(d, r))
        .unwrap_or_default();
    for section in [Section::Persistent, Section::Added, Section::Removed] {
        let rows: Vec<(usize, &Row)> = d
            .changes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.section == section)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "\n{}",
            p.bold(&format!("{} ({})", section.title(), rows.len()))
        );
        for (i, row) in rows {
            one_row(
                &mut s,
                row,
                o,
                &p,
                by_row.get(&i).map(Vec::as_slice).unwrap_or_default(),
            );
        }
    }
    if let Some(targets) = &d.targets {
        target_lines(&mut s, targets, o, &p);
    }
    if let Some(r) = o.expect
        && !r.missing.is_empty()
    {
        let _ = writeln!(s, "\n{}", p.bold("Intended changes that did not happen"));
        for (e, why) in &r.missing {
            let _ = writeln!(
                s,
                "  line {}: {}\n      {}",
                e.line,
                visible(&e.text),
                why.text(e.decision)
            );
        }
    }
    s
}

fn identities(s: &mut String, d: &Diff, p: &Paint) {
    let ids = &d.identities;
    if ids.added.is_empty() && ids.removed.is_empty() && ids.changed.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n{}", p.bold("Identities"));
    for n in &ids.added {
        let _ = writeln!(
            s,
            "  {} {}  (added)",
            p.change(Change::NewlyAllowed, "+"),
            visible(n)
        );
    }
    for n in &ids.removed {
        let _ = writeln!(
            s,
            "  {} {}  (removed)",
            p.change(Change::NewlyDenied, "-"),
            visible(n)
        );
    }
    for c in &ids.changed {
        let changes: Vec<String> = c.changes.iter().map(FieldChange::text).collect();
        let _ = writeln!(
            s,
            "  {} {}  {}",
            p.change(Change::Changed, "~"),
            visible(&c.name),
            visible(&changes.join("; "))
        );
    }
}

fn group(e: &Endpoints, o: &Options) -> String {
    let shown = if o.members { usize::MAX } else { SHOWN };
    let (names, more) = members(e, shown);
    let mut text = names.join(", ");
    if more > 0 {
        text.push_str(&format!(", … and {more} more (--members lists them)"));
    }
    if let Some(size) = group_size(e) {
        let common = e
            .common
            .as_ref()
            .map(|c| format!(": all with {c}"))
            .unwrap_or_default();
        text = format!("{text} [{size}{common}]");
    }
    visible(&text)
}

fn one_row(
    s: &mut String,
    row: &Row,
    o: &Options,
    p: &Paint,
    intended: &[&crate::expect::Expectation],
) {
    let sign = p.change(row.change, row.change.sign());
    let intent = match row.intent {
        Some(Intent::Intended) => "  (intended)".to_string(),
        Some(Intent::Collateral) => format!("  {}", p.change(Change::NewlyDenied, "(COLLATERAL)")),
        None => String::new(),
    };
    let _ = writeln!(
        s,
        "\n  {sign} {}  {} -> {}  on {}{intent}",
        p.change(row.change, row.change.text()),
        group(&row.src, o),
        group(&row.dst, o),
        super::ports(&row.ports)
    );
    for (name, v, mark) in [("before", &row.before, "-"), ("after ", &row.after, "+")] {
        let _ = writeln!(s, "      {name}  {}", visible(&v.text));
        if v.rules.is_empty() {
            let _ = writeln!(s, "{}", p.dim("                no rule matches"));
        }
        for r in &v.rules {
            let m = if r.changed { mark } else { " " };
            let _ = writeln!(s, "              {m} {}", visible(&rule_text(r)));
        }
    }
    for (end, e) in [("source", &row.src), ("destination", &row.dst)] {
        if !e.causes.is_empty() {
            let causes: Vec<String> = e.causes.iter().map(FieldChange::text).collect();
            let _ = writeln!(
                s,
                "      cause   {end} inventory: {}",
                visible(&causes.join("; "))
            );
        }
    }
    let allow = row.after.allows(&row.witness.context());
    let _ = writeln!(
        s,
        "{}",
        p.dim(&format!(
            "      e.g.    {}",
            visible(&witness_line(&row.witness, allow))
        ))
    );
    for e in intended {
        let _ = writeln!(s, "      intended  line {}: {}", e.line, visible(&e.text));
    }
}

fn target_lines(s: &mut String, targets: &[crate::targets::TargetDiff], o: &Options, p: &Paint) {
    use crate::targets::{kind_text, objects_line};
    use seg_ir::objects::Presence;
    let _ = writeln!(s, "\n{}", p.bold("Targets (after the capability pass)"));
    if targets.is_empty() {
        let _ = writeln!(s, "  no target in seg.toml");
    }
    let shown = if o.members { usize::MAX } else { SHOWN };
    for t in targets {
        let name = visible(&t.target);
        match (t.presence, &t.objects) {
            (Presence::OldOnly, _) => {
                let _ = writeln!(s, "  {name}: no longer a target of seg.toml");
                continue;
            }
            (Presence::NewOnly, _) => {
                let _ = writeln!(s, "  {name}: a new target of seg.toml");
                continue;
            }
            (_, Some(c)) if t.is_empty() => {
                let _ = writeln!(s, "  {name}: no change ({} objects)", c.unchanged);
                continue;
            }
            (_, Some(c)) => {
                let _ = writeln!(s, "  {name}: objects {}", objects_line(c));
                for (sign, list) in [("+", &c.added), ("-", &c.removed), ("~", &c.changed)] {
                    for obj in list.iter().take(shown) {
                        let _ = writeln!(
                            s,
                            "      {sign} {} {} ({})",
                            visible(&obj.kind),
                            visible(&obj.name),
                            visible(&obj.file)
                        );
                    }
                    if list.len() > shown {
                        let _ = writeln!(
                            s,
                            "      {sign} … and {} more (--members lists them)",
                            list.len() - shown
                        );
                    }
                }
            }
            (_, None) => {}
        }
        for (prefix, list) in [
            ("now", &t.new_approximations),
            ("no longer", &t.gone_approximations),
        ] {
            for a in list {
                let _ = writeln!(
                    s,
                    "    {prefix} {}: {} ({}): {}",
                    kind_text(a.kind),
                    visible(&a.rule),
                    visible(&a.location),
                    visible(&a.reason)
                );
            }
        }
    }
}
