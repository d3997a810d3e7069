//! `seg gc [PATH] [--now T] [--check]`: delete the rules that have expired
//! from the project's `.seg` files (`seg_gc`), keeping every other byte, and
//! list what went; a policy emptied by it goes too, with a note. A file that
//! was in the canonical layout before is formatted after (blank lines the
//! removal leaves behind), any other is left exactly as cut.
//!
//! Nothing is written unless the project still checks and every test
//! expectation that passed still passes (one that tests an expired rule at a
//! past instant fails once the rule is gone: it is named, and the files stay
//! as they were). `--check` writes nothing and exits 1 when something would
//! be removed, for CI.

use super::Exit;
use crate::driver::{self, Compilation, Input, Locate, Overlay};
use crate::output::Color;
use clap::Args;
use seg_diag::{Diagnostic, SourceMap};
use seg_ir::Expiry;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct GcArgs {
    /// Project folder holding seg.toml [default: the nearest folder at or above the current one holding seg.toml]
    pub path: Option<PathBuf>,
    /// The project's seg.toml (instead of PATH).
    #[arg(long, value_name = "FILE", conflicts_with = "path")]
    pub manifest_path: Option<PathBuf>,
    /// Remove what has expired at this time (RFC 3339 or a date); defaults to SOURCE_DATE_EPOCH, then the clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Write nothing; list what would be removed and exit 1 if anything would.
    #[arg(long)]
    pub check: bool,
}

/// One file's removals and its new text.
struct Change {
    path: String,
    text: String,
    removed: Vec<seg_gc::Removed>,
}

pub fn run(args: &GcArgs, color: Color) -> Exit {
    let now = match driver::resolve_now(args.now.as_deref()) {
        Ok(t) => t,
        Err(d) => return usage(&d.message),
    };
    let input = match Input::locate(&Locate {
        path: args.path.as_deref(),
        inventory: &[],
        manifest_path: args.manifest_path.as_deref(),
    }) {
        Ok(i @ Input::Project(_)) => i,
        Ok(_) => return usage("`seg gc` works on a project (a folder with seg.toml)"),
        Err(d) => return usage(&d.message),
    };
    let before = driver::compile(&input, now);
    let Some(baseline) = before
        .program
        .clone()
        .filter(|_| !before.has_errors_at_lint_levels())
    else {
        return refuse(
            before,
            color,
            "the project does not check as it is: fix it first",
        );
    };
    let mut changes = Vec::new();
    for (id, file) in before.map.iter() {
        if !is_policy_file(&file.name) {
            continue;
        }
        match seg_gc::collect(id, &file.text, now) {
            Ok(c) if c.removed.is_empty() => {}
            Ok(c) => changes.push(Change {
                path: file.name.clone(),
                text: layout(id, &file.text, c.text),
                removed: c.removed,
            }),
            Err(d) => return refuse_with(&before.map, vec![d], color, "a file does not parse"),
        }
    }
    if changes.is_empty() {
        println!("nothing to remove: no rule has expired at {now}");
        return Exit::Ok;
    }
    let overlay = Overlay {
        files: changes
            .iter()
            .map(|c| (c.path.clone(), c.text.clone()))
            .collect::<BTreeMap<_, _>>(),
        grants_file: None,
    };
    let after = driver::compile_overlaid(&input, now, &overlay);
    let Some(program) = after
        .program
        .clone()
        .filter(|_| !after.has_errors_at_lint_levels())
    else {
        return refuse(
            after,
            color,
            "the project would not check without the expired rules",
        );
    };
    let broken: Vec<String> = driver::failing_expectations(&program)
        .difference(&driver::failing_expectations(&baseline))
        .cloned()
        .collect();
    if !broken.is_empty() {
        eprintln!(
            "error: without the expired rules, {} would fail: {}\n  = help: these expectations test the rules at instants when they were live; delete or update them, then run `seg gc` again\nnote: nothing was written",
            if broken.len() == 1 {
                "a test expectation"
            } else {
                "test expectations"
            },
            broken.join(", ")
        );
        return Exit::Policy;
    }
    let verb = if args.check {
        "would remove"
    } else {
        "removed"
    };
    let mut out = String::new();
    let mut rules = 0;
    for c in &changes {
        for r in &c.removed {
            rules += r.rules.len();
            for rule in &r.rules {
                out.push_str(&format!(
                    "{verb} {} ({}:{}): {}\n",
                    rule.label,
                    c.path,
                    rule.line,
                    ended(rule.expires)
                ));
            }
            if r.whole_policy {
                out.push_str(&format!(
                    "note: {verb} policy `{}` ({}:{}) as well: every rule of it had expired\n",
                    r.policy, c.path, r.line
                ));
            }
        }
    }
    if !args.check {
        for c in &changes {
            if let Err(e) = driver::replace_file(&before.root.join(&c.path), c.text.as_bytes()) {
                print!("{}", seg_diag::visible(&out));
                eprintln!("error: {e}");
                return Exit::Usage;
            }
        }
    }
    out.push_str(&format!(
        "{} expired rule{} {} {} file{} (now {now})\n",
        rules,
        if rules == 1 { "" } else { "s" },
        if args.check {
            "to remove from"
        } else {
            "removed from"
        },
        changes.len(),
        if changes.len() == 1 { "" } else { "s" },
    ));
    print!("{}", seg_diag::visible(&out));
    if args.check { Exit::Policy } else { Exit::Ok }
}

/// A project policy file of the compilation (not the standard library, the
/// inventory, seg.toml or the `[jit] grantable` text).
fn is_policy_file(name: &str) -> bool {
    name.ends_with(".seg") && !name.starts_with('<')
}

/// The cut text, formatted when the original was in the canonical layout.
fn layout(id: seg_diag::FileId, original: &str, cut: String) -> String {
    if seg_fmt::is_formatted(id, original).unwrap_or(false)
        && let Ok(formatted) = seg_fmt::format(id, &cut)
    {
        return formatted;
    }
    cut
}

fn ended(e: Expiry) -> String {
    match e {
        Expiry::Day(d) => format!("expired after {d}"),
        Expiry::Instant(t) => format!("expired at {t}"),
    }
}

fn usage(message: &str) -> Exit {
    eprintln!("error: {}", seg_diag::visible(message));
    Exit::Usage
}

fn refuse(mut comp: Compilation, color: Color, message: &str) -> Exit {
    comp.settle_diagnostics(false);
    let errors: Vec<Diagnostic> = comp
        .diags
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    let exit = refuse_with(&comp.map, errors, color, message);
    if comp.has_io_errors() {
        Exit::Usage
    } else {
        exit
    }
}

fn refuse_with(map: &SourceMap, diags: Vec<Diagnostic>, color: Color, message: &str) -> Exit {
    eprint!("{}", crate::output::human(map, &diags, color));
    eprintln!("error: {message}\nnote: nothing was written");
    Exit::Policy
}
