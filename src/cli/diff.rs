//! `seg diff OLD NEW` / `seg diff --base REV [PATH]`: what a change does to
//! who can reach whom. Compiles both versions with the same "now", then
//! `seg_diff` does the rest.
//!
//! Exit codes (docs/diff.md): 0 no reachability change, 1 an error in
//! either version or in the `--expect` file, 2 usage or I/O error,
//! 3 internal error, 4 reachability changed (with `--expect`: every change
//! intended), 5 with `--expect`: a collateral change or an intended change
//! that did not happen.

use super::Exit;
use crate::driver::{self, Compilation, Input, git};
use crate::output::Color;
use clap::{Args, ValueEnum};
use seg_diag::{Diagnostic, Diagnostics, Severity, SourceMap};
use seg_diff::render::{self, Options};
use seg_diff::{Side, expect, targets};
use seg_ir::Program;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// For a terminal (coloured there).
    Human,
    /// A pull-request comment.
    Markdown,
    /// Every flow class, for tools (schema in docs/diff.md).
    Json,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  seg diff old/ new/\n  seg diff --base origin/main\n  seg diff --base HEAD~1 examples/bank --format markdown\n  seg diff --base main --expect intended.seg\n\nExit codes: 0 no reachability change, 1 an error in either version (or the --expect file), 2 usage or I/O error, 3 internal error, 4 reachability changed, 5 with --expect: collateral changes or intended changes that did not happen."
)]
pub struct DiffArgs {
    /// OLD and NEW project folders; with --base, at most one: the project [default: .]
    #[arg(value_name = "PATH", num_args = 0..=2)]
    pub paths: Vec<PathBuf>,
    /// Compare the project with itself at this git revision (read from the repository, work tree untouched).
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Fix "now" (RFC 3339 time or date) for both versions; defaults to SOURCE_DATE_EPOCH, then the clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// How to write the diff.
    #[arg(long, value_enum, default_value = "human")]
    pub format: DiffFormat,
    /// The intended changes: `expect allow|deny SRC -> DST on PORTS` lines; any other change fails the run (exit 5).
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,
    /// List every member of every group (human format).
    #[arg(long)]
    pub members: bool,
    /// Also build every target of seg.toml on both sides: objects added, removed and changed, and rules newly omitted or narrowed on each.
    #[arg(long)]
    pub targets: bool,
}

/// A compiled version, or where it came from when it does not compile.
struct Version {
    label: String,
    comp: Option<Compilation>,
}

pub fn run(args: &DiffArgs, color: Color) -> Exit {
    match diff(args, color) {
        Ok(exit) | Err(exit) => exit,
    }
}

fn usage(d: Diagnostic, color: Color) -> Exit {
    eprint!(
        "{}",
        seg_diag::render_human(&SourceMap::new(), &[d], color.for_stderr())
    );
    Exit::Usage
}

fn diff(args: &DiffArgs, color: Color) -> Result<Exit, Exit> {
    let now = driver::resolve_now(args.now.as_deref()).map_err(|d| usage(d, color))?;
    let (old_path, new_path, revision) = match (&args.base, args.paths.as_slice()) {
        (None, [old, new]) => (old.clone(), new.clone(), None),
        (None, _) => {
            return Err(usage(
                Diagnostic::plain(
                    "`seg diff` compares two versions: give OLD and NEW folders, or `--base REV`",
                )
                .with_help("`seg diff old/ new/`, or `seg diff --base main` in a git work tree"),
                color,
            ));
        }
        (Some(rev), [] | [_]) => {
            let path = args
                .paths
                .first()
                .cloned()
                .unwrap_or_else(|| PathBuf::from("."));
            let r = git::checkout(&path, rev).map_err(|d| usage(d, color))?;
            (r.path().to_path_buf(), path, Some((rev.clone(), r)))
        }
        (Some(_), _) => {
            return Err(usage(
                Diagnostic::plain("with `--base`, give at most one project folder")
                    .with_help("`seg diff --base REV [PATH]`"),
                color,
            ));
        }
    };
    // Both versions compile at once, one on each core.
    let old_input = match &revision {
        Some((_, r)) if !r.has_project => None,
        _ => Some(input("old", &old_path, color)?),
    };
    let new_input = input("new", &new_path, color)?;
    let (old_comp, new_comp) = std::thread::scope(|scope| {
        let old = old_input
            .as_ref()
            .map(|i| scope.spawn(move || driver::compile(i, now)));
        let new = driver::compile(&new_input, now);
        let old = old.map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        (old, new)
    });
    let old = match &revision {
        Some((rev, r)) if !r.has_project => {
            eprintln!(
                "note: `{}` has no seg.toml at `{rev}`: comparing with an empty policy",
                seg_diag::visible(&new_path.display().to_string())
            );
            Version {
                label: format!("{rev} (no project)"),
                comp: None,
            }
        }
        Some((rev, r)) => Version {
            label: format!("{rev} ({})", &r.commit[..r.commit.len().min(12)]),
            comp: old_comp,
        },
        None => Version {
            label: old_path.display().to_string(),
            comp: old_comp,
        },
    };
    let new = Version {
        label: new_path.display().to_string(),
        comp: Some(new_comp),
    };
    let new_label = match &revision {
        Some(_) => format!("{} (work tree)", new_path.display()),
        None => new.label.clone(),
    };
    let (mut old, mut new) = (old, new);
    let exit = report_errors(&mut [("old", &mut old), ("new", &mut new)], color);
    if exit != Exit::Ok {
        return Err(exit);
    }
    let builds = if args.targets {
        let old_builds = build_targets("old", &old, color);
        let new_builds = build_targets("new", &new, color);
        match (old_builds, new_builds) {
            (Ok(o), Ok(n)) => Some((o, n)),
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
            (Err(a), Err(b)) => return Err(worst(a, b)),
        }
    } else {
        None
    };
    let Some(new_comp) = new.comp.as_ref() else {
        return Err(Exit::Internal);
    };
    let Some(new_program) = new_comp.program.as_ref() else {
        return Err(Exit::Internal);
    };
    let empty;
    let (old_program, old_map) = match old
        .comp
        .as_ref()
        .and_then(|c| c.program.as_ref().map(|p| (p, &c.map)))
    {
        Some((p, m)) => (p, Some(m)),
        None => {
            empty = empty_program(new_program);
            (&empty, None)
        }
    };
    let old_side = Side {
        program: old_program,
        map: old_map,
        label: old.label.clone(),
    };
    let new_side = Side {
        program: new_program,
        map: Some(&new_comp.map),
        label: new_label,
    };
    let mut d = seg_diff::diff(&old_side, &new_side);
    if let Some((old_builds, new_builds)) = &builds {
        d.targets = Some(targets::compare(
            &old_side, old_builds, &new_side, new_builds,
        ));
    }
    let report = match &args.expect {
        Some(file) => Some(expectations(file, &mut d, old_program, new_program, color)?),
        None => None,
    };
    let options = Options {
        color: color_stdout(color),
        members: args.members,
        expect: report.as_ref(),
    };
    let text = match args.format {
        DiffFormat::Human => render::human(&d, &options),
        DiffFormat::Markdown => render::markdown(&d, &options),
        DiffFormat::Json => render::json(&d, report.as_ref()),
    };
    print!("{text}");
    // The process ends with this command: freeing both compilations one
    // allocation at a time would only lengthen the run.
    std::mem::forget(old);
    std::mem::forget(new);
    Ok(match &report {
        Some(r) if !r.passed() => Exit::Unexpected,
        _ if d.is_empty() => Exit::Ok,
        _ => Exit::Changed,
    })
}

/// One version's project folder; anything else is a usage error.
fn input(side: &str, path: &Path, color: Color) -> Result<Input, Exit> {
    let input = Input::from_args(Some(path), &[]).map_err(|mut d| {
        d.message = format!("{side}: {}", d.message);
        usage(d, color)
    })?;
    if !matches!(input, Input::Project(_)) {
        return Err(usage(
            Diagnostic::plain(format!(
                "{side}: `{}` is not a project folder",
                path.display()
            )),
            color,
        ));
    }
    Ok(input)
}

/// Build every target of a version's seg.toml in memory (for `--targets`):
/// per target, its objects and approximations. Errors are printed labelled
/// with the side.
fn build_targets(side: &str, version: &Version, color: Color) -> Result<targets::Builds, Exit> {
    let mut builds = targets::Builds::new();
    let Some(comp) = version.comp.as_ref() else {
        return Ok(builds);
    };
    let (Some(program), Some(manifest)) = (&comp.program, &comp.manifest) else {
        return Ok(builds);
    };
    if manifest.targets.is_empty() {
        return Ok(builds);
    }
    let mut diags = Diagnostics::new();
    let outcome = driver::build(program, manifest, &comp.root, &[], &mut diags);
    diags.apply_levels(&manifest.lints, false);
    diags.sort();
    let errors = labelled_errors(side, &diags);
    if !errors.is_empty() || outcome.is_none() {
        eprint!(
            "{}",
            seg_diag::render_human(&comp.map, &errors, color.for_stderr())
        );
        eprintln!("error: no diff: `{side}` does not build (--targets)");
        let bug = errors.iter().any(|d| d.severity == Severity::Bug);
        let io = errors.iter().any(|d| d.code.is_none());
        return Err(if bug {
            Exit::Internal
        } else if io {
            Exit::Usage
        } else {
            Exit::Policy
        });
    }
    for report in outcome.into_iter().flat_map(|o| o.reports) {
        if report.target == "ir" {
            continue;
        }
        builds.insert(
            report.target,
            targets::TargetBuild {
                objects: report.objects,
                approximations: report.approximations,
            },
        );
    }
    Ok(builds)
}

/// Print each side's errors labelled with the side; the exit code they give.
fn report_errors(versions: &mut [(&str, &mut Version)], color: Color) -> Exit {
    let mut exit = Exit::Ok;
    for (side, version) in versions.iter_mut() {
        let Some(comp) = version.comp.as_mut() else {
            continue;
        };
        comp.settle_diagnostics(false);
        let errors = labelled_errors(side, &comp.diags);
        if errors.is_empty() && comp.program.is_some() {
            continue;
        }
        eprint!(
            "{}",
            seg_diag::render_human(&comp.map, &errors, color.for_stderr())
        );
        let this = if errors.iter().any(|d| d.severity == Severity::Bug) {
            Exit::Internal
        } else if comp.has_io_errors() {
            Exit::Usage
        } else {
            Exit::Policy
        };
        exit = worst(exit, this);
    }
    if exit != Exit::Ok {
        eprintln!("error: no diff: fix the errors above first");
    }
    exit
}

/// The errors among `diags`, each message prefixed with the side (`new: …`).
fn labelled_errors(side: &str, diags: &Diagnostics) -> Vec<Diagnostic> {
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            let mut d = d.clone();
            d.message = format!("{side}: {}", d.message);
            d
        })
        .collect()
}

fn worst(a: Exit, b: Exit) -> Exit {
    let rank = |e: Exit| match e {
        Exit::Internal => 3,
        Exit::Usage => 2,
        Exit::Policy => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

fn expectations(
    file: &Path,
    d: &mut seg_diff::Diff,
    old: &Program,
    new: &Program,
    color: Color,
) -> Result<expect::Report, Exit> {
    let text = std::fs::read(file).map_err(|e| {
        usage(
            Diagnostic::plain(format!("cannot read `{}`: {e}", file.display())),
            color,
        )
    })?;
    if text.len() as u64 > driver::MAX_FILE_BYTES {
        return Err(usage(
            Diagnostic::plain(format!("`{}` is larger than 64 MiB", file.display())),
            color,
        ));
    }
    let text = String::from_utf8(text).map_err(|_| {
        usage(
            Diagnostic::plain(format!("`{}` is not UTF-8 text", file.display())),
            color,
        )
    })?;
    let mut map = SourceMap::new();
    let mut diags = Diagnostics::new();
    let list = expect::load(
        &mut map,
        &file.display().to_string(),
        &text,
        old,
        new,
        &mut diags,
    );
    if diags.has_errors() {
        let shown: Vec<Diagnostic> = diags.into_vec();
        eprint!(
            "{}",
            seg_diag::render_human(&map, &shown, color.for_stderr())
        );
        eprintln!("error: no diff: fix the --expect file first");
        return Err(Exit::Policy);
    }
    Ok(expect::check(d, old, list))
}

/// A version with no project: nothing allowed, nobody in the inventory.
fn empty_program(like: &Program) -> Program {
    Program {
        project: like.project.clone(),
        source_hash: String::new(),
        now: like.now,
        identities: Vec::new().into(),
        rules: Vec::new(),
        omitted: Vec::new(),
        contexts: Default::default(),
        tests: Vec::new(),
    }
}

/// Colour the diff on stdout: `always`, or `auto` on a terminal without `NO_COLOR`.
fn color_stdout(color: Color) -> bool {
    match color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}
