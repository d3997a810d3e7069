//! `seg grant 'SRC -> DST on SERVICES' --for 2h --reason "…" [--owner …]
//! [--ticket …] [--approved-by …] [--file F]`: append a just-in-time grant,
//! one policy holding one `allow` that expires at now + the duration, with
//! its owner, reason, ticket, approver and creation time, to the grants file
//! (`[jit] file`, created when missing), formatted.
//!
//! Nothing is written unless the project with the grant checks, its tests
//! that passed still pass and every target builds; a grant longer than
//! `[jit] max-ttl`, or that breaks a `[jit]` lint (an identity outside
//! `[jit] grantable` without `--approved-by`), is refused whatever the lint
//! levels say. Refused: exit 1 and the file byte for byte as it was.

mod imports;

use super::{Exit, Verbosity};
use crate::driver::{self, Compilation, Input, Locate, Overlay};
use crate::output::Color;
use clap::Args;
use seg_check::manifest::parse_ttl;
use seg_diag::{Code, Diagnostic, Severity, SourceMap, Span};
use seg_ir::{Program, Timestamp};
use seg_syntax::ast::{Item, PolicyDef};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct GrantArgs {
    /// The access: `SRC -> DST on SERVICES [when COND]`, quoted (`>` is a shell redirection)
    #[arg(required = true, value_name = "RULE")]
    pub rule: Vec<String>,
    /// How long the grant lives: `2h`, `90m`, `1h30m`, at most `[jit] max-ttl`
    #[arg(long = "for", value_name = "DURATION")]
    pub ttl: String,
    /// Why the access is needed
    #[arg(long)]
    pub reason: String,
    /// Who asked for it [default: $USER]
    #[arg(long)]
    pub owner: Option<String>,
    /// The change or incident the grant belongs to
    #[arg(long)]
    pub ticket: Option<String>,
    /// Who approved it: needed when the grant names an identity outside `[jit] grantable`
    #[arg(long, value_name = "WHO")]
    pub approved_by: Option<String>,
    /// The grants file, relative to the project folder [default: `[jit] file`, `policy/grants.seg`]
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The project's seg.toml [default: the nearest at or above the current folder]
    #[arg(long, value_name = "FILE")]
    pub manifest_path: Option<PathBuf>,
    /// Grant as of this time (RFC 3339); defaults to SOURCE_DATE_EPOCH, then the clock
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Print the grant and check it, but write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// The first lines of a grants file `seg grant` creates.
const HEADER: &str = "\
// Just-in-time grants, written by `seg grant`. Each is live until its
// `expires` and `seg gc` removes it once expired. Every rule here needs an
// owner, a reason, `created` and an `expires` at most `[jit] max-ttl` after it.
";

/// A refusal: what to print, and the exit code.
struct Refusal {
    exit: Exit,
    message: String,
    diags: Vec<Diagnostic>,
    map: Option<SourceMap>,
}

impl Refusal {
    fn usage(message: impl Into<String>) -> Refusal {
        Refusal {
            exit: Exit::Usage,
            message: message.into(),
            diags: Vec::new(),
            map: None,
        }
    }

    fn policy(message: impl Into<String>) -> Refusal {
        Refusal {
            exit: Exit::Policy,
            ..Refusal::usage(message)
        }
    }
}

pub fn run(args: &GrantArgs, color: Color, v: Verbosity) -> Exit {
    match grant(args) {
        Ok(done) => {
            if v != Verbosity::Quiet {
                print!("{}", seg_diag::visible(&done));
            }
            Exit::Ok
        }
        Err(r) => {
            if let Some(map) = &r.map {
                eprint!("{}", crate::output::human(map, &r.diags, color));
            }
            eprintln!("error: {}", seg_diag::visible(&r.message));
            eprintln!("note: nothing was written");
            r.exit
        }
    }
}

fn grant(args: &GrantArgs) -> Result<String, Refusal> {
    let now = driver::resolve_now(args.now.as_deref()).map_err(|d| Refusal::usage(d.message))?;
    let ttl =
        parse_ttl(&args.ttl).map_err(|e| Refusal::usage(format!("`--for {}`: {e}", args.ttl)))?;
    if ttl == 0 {
        return Err(Refusal::usage(format!(
            "`--for {}`: a grant must last longer than that",
            args.ttl
        )));
    }
    let (head, rule) = rule_head(&args.rule)?;
    let owner = match &args.owner {
        Some(o) => o.clone(),
        None => std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                Refusal::usage(
                    "no `--owner` and no `USER` in the environment: say who the grant is for",
                )
            })?,
    };
    for (flag, value) in [
        ("--reason", Some(&args.reason)),
        ("--owner", Some(&owner)),
        ("--ticket", args.ticket.as_ref()),
        ("--approved-by", args.approved_by.as_ref()),
    ] {
        if let Some(v) = value {
            text_problem(flag, v)?;
        }
    }

    let input = Input::locate(&Locate {
        path: None,
        inventory: &[],
        manifest_path: args.manifest_path.as_deref(),
    })
    .map_err(|d| Refusal::usage(d.message))?;
    let Input::Project(_) = &input else {
        return Err(Refusal::usage(
            "`seg grant` needs a project (a folder with seg.toml)",
        ));
    };
    let before = driver::compile(&input, now);
    let Some(manifest) = before.manifest.clone() else {
        return Err(refused_by(before, "seg.toml has errors"));
    };
    let Some(baseline) = before
        .program
        .clone()
        .filter(|_| !before.has_errors_at_lint_levels())
    else {
        return Err(refused_by(
            before,
            "the project does not check as it is: fix it first",
        ));
    };
    let jit = &manifest.jit;
    if ttl > jit.max_ttl {
        return Err(Refusal::policy(format!(
            "`--for {}` is longer than `[jit] max-ttl` ({}): request a shorter grant",
            args.ttl, jit.max_ttl_text
        )));
    }

    let file = grants_file(args, &manifest, &before.root)?;
    let path = before.root.join(&file);
    let existing = match std::fs::read(&path) {
        Ok(bytes) => Some(
            String::from_utf8(bytes)
                .map_err(|_| Refusal::usage(format!("`{file}` is not UTF-8 text")))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Refusal::usage(format!("cannot read `{file}`: {e}"))),
    };
    let name = policy_name(now, &baseline, existing.as_deref());
    let expires = Timestamp(now.0 + ttl);
    let policy = policy_text(&name, &head, expires, now, &owner, args);
    let text = match &existing {
        Some(t) if !t.trim().is_empty() => format!("{}\n\n{policy}", t.trim_end()),
        _ => format!("{HEADER}\n{policy}"),
    };
    let text = imports::add_imports(&text, &file, &rule, &sources(&before));
    let formatted = seg_fmt::format(seg_diag::FileId(0), &text).map_err(|d| {
        let mut map = SourceMap::new();
        map.add(&file, text.clone());
        Refusal {
            exit: Exit::Policy,
            message: format!("the grant does not read as a rule: {}", d.message),
            diags: Vec::new(),
            map: Some(map),
        }
    })?;

    let overlay = Overlay {
        files: [(file.clone(), formatted.clone())].into(),
        grants_file: Some(file.clone()),
    };
    let after = driver::compile_overlaid(&input, now, &overlay);
    verify(&baseline, after, &file, &formatted, &name, &manifest)?;

    let label = format!("{name}/1");
    let mut out = format!(
        "{} `{label}`: {} until {expires} ({}), owner {owner}\n",
        if args.dry_run {
            "would grant"
        } else {
            "granted"
        },
        head,
        human(ttl),
    );
    if args.dry_run {
        out.push_str(&format!(
            "the grant, checked, as it would be appended to {file}:\n\n"
        ));
        out.push_str(&policy_of(&formatted, &name));
        return Ok(out);
    }
    driver::replace_file(&path, formatted.as_bytes()).map_err(Refusal::usage)?;
    out.push_str(&format!(
        "written to {file}; review it with `seg diff`, then merge and build\n"
    ));
    if file != jit.file {
        out.push_str(&format!(
            "note: `[jit] file` is `{}`: `seg check` lints only that file as grants; set it to `{file}` to keep this grant checked\n",
            jit.file
        ));
    }
    Ok(out)
}

/// The rule the arguments spell, checked to be `SRC -> DST on SERVICES [when
/// COND]` and nothing else (no clause the flags set, no second item).
fn rule_head(words: &[String]) -> Result<(String, seg_syntax::ast::RuleDef), Refusal> {
    let joined = words.join(" ");
    if joined.chars().any(char::is_control) {
        return Err(Refusal::usage("the rule contains a control character"));
    }
    let text = joined.trim();
    let text = text.strip_prefix("allow ").unwrap_or(text).trim();
    let bad = |why: &str| {
        Refusal::usage(format!(
            "`{text}` is not a grant: {why}; write `SRC -> DST on SERVICES`, quoted, e.g. 'oncall -> ledger-postgres on postgres'"
        ))
    };
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    let probe = format!("policy p {{\n  allow {text}\n}}\n");
    let ast = seg_syntax::parse(seg_diag::FileId(0), &probe).map_err(|d| bad(&d.message))?;
    let rule = match ast.items.as_slice() {
        [Item::Policy(p)] if p.rules.len() == 1 && p.owner.is_none() && p.review_by.is_none() => {
            &p.rules[0]
        }
        _ => return Err(bad("it holds more than one rule")),
    };
    if rule.action.node != seg_syntax::ast::Action::Allow {
        return Err(bad("a grant allows"));
    }
    let flagged = [
        (rule.expires.is_some(), "`expires` (use `--for`)"),
        (rule.reason.is_some(), "`reason` (use `--reason`)"),
        (rule.owner.is_some(), "`owner` (use `--owner`)"),
        (rule.ticket.is_some(), "`ticket` (use `--ticket`)"),
        (
            rule.approved_by.is_some(),
            "`approved-by` (use `--approved-by`)",
        ),
        (rule.created.is_some(), "`created` (seg grant writes it)"),
    ];
    if let Some((_, what)) = flagged.iter().find(|(set, _)| *set) {
        return Err(bad(&format!("{what} is not part of the rule")));
    }
    if rule.doc.is_some() {
        return Err(bad("it holds a comment"));
    }
    Ok((text.to_string(), rule.clone()))
}

/// Flag values go into strings of the file: no control characters or
/// invisible direction overrides, and not empty.
fn text_problem(flag: &str, value: &str) -> Result<(), Refusal> {
    if value.trim().is_empty() {
        return Err(Refusal::usage(format!("`{flag}` is empty")));
    }
    let hidden = |c: char| {
        c.is_control()
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    if value.chars().any(hidden) {
        return Err(Refusal::usage(format!(
            "`{flag}` contains a control or direction-override character"
        )));
    }
    Ok(())
}

/// The grants file, relative to the project folder: `--file` (relative to the
/// current folder, or to the project when that does not exist) or `[jit] file`.
fn grants_file(
    args: &GrantArgs,
    manifest: &seg_check::manifest::Manifest,
    root: &Path,
) -> Result<String, Refusal> {
    let Some(file) = &args.file else {
        return Ok(manifest.jit.file.clone());
    };
    let root_abs = root
        .canonicalize()
        .map_err(|e| Refusal::usage(format!("cannot resolve the project folder: {e}")))?;
    let absolute = if file.is_absolute() {
        file.clone()
    } else {
        std::env::current_dir()
            .map_err(|e| Refusal::usage(format!("cannot read the current folder: {e}")))?
            .join(file)
    };
    // The file may not exist yet: resolve its folder.
    let parent = absolute.parent().unwrap_or(Path::new("/"));
    let name = absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let rel = parent
        .canonicalize()
        .ok()
        .and_then(|p| p.strip_prefix(&root_abs).ok().map(Path::to_path_buf))
        .zip(name)
        .map(|(dir, name)| dir.join(name))
        .or_else(|| (!file.is_absolute()).then(|| file.clone()))
        .ok_or_else(|| Refusal::usage(format!("`{}` is not inside the project", file.display())))?;
    let rel: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let rel = rel.join("/");
    if !rel.ends_with(".seg") || rel.split('/').any(|p| p == ".." || p.is_empty()) {
        return Err(Refusal::usage(format!(
            "`{}` is not a `.seg` file inside the project",
            file.display()
        )));
    }
    Ok(rel)
}

/// `grant-YYYYMMDD-HHMMSS` at `now`, with `-2`, `-3`, … when taken.
fn policy_name(now: Timestamp, program: &Program, existing: Option<&str>) -> String {
    let t = now.to_string();
    let base = format!(
        "grant-{}-{}",
        t[..10].replace('-', ""),
        t[11..19].replace(':', "")
    );
    let mut taken: BTreeSet<&str> = program
        .rules
        .iter()
        .map(|r| r.provenance.policy.as_str())
        .chain(program.omitted.iter().map(|o| o.provenance.policy.as_str()))
        .collect();
    let parsed = existing.and_then(|text| seg_syntax::parse(seg_diag::FileId(0), text).ok());
    let in_file: Vec<String> = parsed
        .iter()
        .flat_map(|f| &f.items)
        .filter_map(|i| match i {
            Item::Policy(p) => Some(p.name.node.text.clone()),
            _ => None,
        })
        .collect();
    taken.extend(in_file.iter().map(String::as_str));
    let mut name = base.clone();
    let mut k = 2;
    while taken.contains(name.as_str()) {
        name = format!("{base}-{k}");
        k += 1;
    }
    name
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn policy_text(
    name: &str,
    head: &str,
    expires: Timestamp,
    now: Timestamp,
    owner: &str,
    args: &GrantArgs,
) -> String {
    let mut clauses = vec![
        format!("expires {expires}"),
        format!("reason {}", quoted(&args.reason)),
        format!("owner {}", quoted(owner)),
    ];
    if let Some(t) = &args.ticket {
        clauses.push(format!("ticket {}", quoted(t)));
    }
    if let Some(a) = &args.approved_by {
        clauses.push(format!("approved-by {}", quoted(a)));
    }
    clauses.push(format!("created {now}"));
    format!(
        "policy {name} {{\n  allow {head}\n    {}\n}}\n",
        clauses.join("\n    ")
    )
}

/// The new policy as the formatted file has it.
fn policy_of(formatted: &str, name: &str) -> String {
    let Some(start) = formatted.find(&format!("policy {name} {{")) else {
        return String::new();
    };
    let end = formatted[start..]
        .find("\n}\n")
        .map_or(formatted.len(), |e| start + e + 3);
    formatted[start..end].to_string()
}

fn refused_by(mut comp: Compilation, message: &str) -> Refusal {
    comp.settle_diagnostics(false);
    let io = comp.has_io_errors();
    Refusal {
        exit: if io { Exit::Usage } else { Exit::Policy },
        message: message.to_string(),
        diags: comp
            .diags
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect(),
        map: Some(comp.map),
    }
}

/// The project with the grant must check (the grant's own `[jit]` lints count
/// whatever their level), keep every passing test passing and build.
fn verify(
    baseline: &Program,
    mut after: Compilation,
    file: &str,
    formatted: &str,
    name: &str,
    manifest: &seg_check::manifest::Manifest,
) -> Result<(), Refusal> {
    // The grant's own lint findings, before levels can drop them.
    let span = grant_span(formatted, name);
    let own: Vec<Diagnostic> = after
        .diags
        .iter()
        .filter(|d| {
            matches!(
                d.code,
                Some(Code::GrantLifetime | Code::GrantMetadata | Code::GrantApproval)
            ) && d.primary_span().is_some_and(|s| {
                after.map.name(s.file) == file
                    && span.is_some_and(|g| g.0 <= s.start as usize && (s.end as usize) <= g.1)
            })
        })
        .cloned()
        .map(|mut d| {
            d.severity = Severity::Error;
            d
        })
        .collect();
    if !own.is_empty() {
        return Err(Refusal {
            exit: Exit::Policy,
            message: "the grant breaks the `[jit]` rules".into(),
            diags: own,
            map: Some(after.map),
        });
    }
    if after.has_errors_at_lint_levels() || after.program.is_none() {
        return Err(refused_by(
            after,
            "the project does not check with the grant",
        ));
    }
    let program = after.program.clone().unwrap_or_else(|| baseline.clone());
    let broken: Vec<String> = driver::failing_expectations(&program)
        .difference(&driver::failing_expectations(baseline))
        .cloned()
        .collect();
    if !broken.is_empty() {
        return Err(Refusal::policy(format!(
            "the grant makes {} fail: {}; a grant may not contradict a test (change the policy and its tests instead)",
            if broken.len() == 1 {
                "a test expectation"
            } else {
                "test expectations"
            },
            broken.join(", ")
        )));
    }
    let mut diags = seg_diag::Diagnostics::new();
    let built = driver::build(&program, manifest, &after.root, &[], &mut diags);
    if built.is_none() || diags.has_errors() {
        after.diags = diags;
        return Err(refused_by(
            after,
            "a target cannot build the project with the grant",
        ));
    }
    Ok(())
}

/// Byte range of the new policy in the formatted file.
fn grant_span(formatted: &str, name: &str) -> Option<(usize, usize)> {
    let ast = seg_syntax::parse(seg_diag::FileId(0), formatted).ok()?;
    ast.items.iter().find_map(|i| match i {
        Item::Policy(p) if p.name.node.text == name => Some(policy_range(p)),
        _ => None,
    })
}

fn policy_range(p: &PolicyDef) -> (usize, usize) {
    let Span { start, end, .. } = p.span;
    (start as usize, end as usize)
}

/// The project's policy files, parsed (those that parse).
fn sources(comp: &Compilation) -> Vec<imports::Source> {
    comp.map
        .iter()
        .filter(|(_, f)| f.name.ends_with(".seg") && !f.name.starts_with('<'))
        .filter_map(|(id, f)| {
            Some(imports::Source {
                path: f.name.clone(),
                ast: seg_syntax::parse(id, &f.text).ok()?,
            })
        })
        .collect()
}

/// `2 h`, `1 h 30 min`, `45 min`.
fn human(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}
