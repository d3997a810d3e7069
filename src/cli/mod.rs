//! The command line (clap derive): one file per subcommand, each with its
//! `Args` struct and a `run` returning an [`Exit`].

mod audit;
mod build;
mod cached;
mod check;
mod completions;
mod diff;
mod explain;
mod explain_code;
mod fmt;
mod gc;
mod grant;
mod graph;
mod init;
mod lsp;
mod man;
mod reach;
mod schema;
mod stale;
mod targets;
mod test;

use crate::driver::{self, Compilation, Input};
use crate::output::sarif::Anchor;
use crate::output::{self, Color, Format};
use crate::progress::Progress;
use clap::{Args, Parser, Subcommand};
use seg_diag::{Diagnostic, SourceMap};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes (CLI.md): 0 success, 1 policy errors or failing tests, 2 usage or
/// I/O error, 3 internal error; `seg diff` adds 4 and 5 (docs/diff.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Policy = 1,
    Usage = 2,
    Internal = 3,
    /// `seg diff`: reachability changed.
    Changed = 4,
    /// `seg diff --expect`: a change outside the intended ones, or an intended one missing.
    Unexpected = 5,
}

#[derive(Parser, Debug)]
#[command(
    name = "seg",
    version,
    long_version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("SEG_INSTALL_REV"), ")"),
    about = "Compile identity-based segmentation policy to iptables, Kubernetes, cloud security groups and OPA",
    after_help = "Examples:\n  seg init my-policies\n  seg check examples/bank\n  seg build examples/bank --out out\n  seg test examples/bank\n  seg explain payments-api ledger-postgres tcp/5432 --mtls\n  seg reach payments-api examples/bank\n  seg diff --base main\n\nExit codes: 0 success, 1 policy errors or failing tests, 2 usage or I/O error, 3 internal error; seg diff: 4 reachability changed, 5 unexpected changes (--expect)."
)]
pub struct Cli {
    /// When to colour diagnostics (never when NO_COLOR is set, under `auto`).
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub color: Color,
    /// Print only results and problems: no summaries, no passing tests, no progress.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more on stderr: the files read, the time of each stage, every approximation.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Scaffold a project: seg.toml, policy/main.seg, inventory.yaml and a CI workflow.
    Init(init::InitArgs),
    /// Parse, resolve, type-check, lint, and lower to every target without writing.
    Check(check::CheckArgs),
    /// Check, then emit every target of seg.toml (or those named) atomically into --out.
    Build(build::BuildArgs),
    /// Evaluate every `test` block against the reference semantics.
    Test(test::TestArgs),
    /// The decision for one flow and every rule that matched, with file:line.
    Explain(explain::ExplainArgs),
    /// What a change does to who can reach whom: OLD NEW folders, or --base REV in git.
    Diff(diff::DiffArgs),
    /// Print the documentation of a diagnostic code, e.g. `seg explain-code E0201`.
    ExplainCode(explain_code::ExplainCodeArgs),
    /// Blast radius of a compromised identity, hop by hop, with the deciding rules.
    Reach(reach::ReachArgs),
    /// Who can reach whom, by segment: DOT, Mermaid, JSON or one HTML page.
    Graph(graph::GraphArgs),
    /// List the targets and what each can enforce.
    Targets,
    /// Lay `.seg` files out in the canonical layout (`-` for stdin to stdout).
    Fmt(fmt::FmtArgs),
    /// Observed flows against the policy: unused rules, what a rollout would break.
    Audit(audit::AuditArgs),
    /// The language server (LSP over stdio) for editors; see docs/editors.md.
    Lsp(lsp::LspArgs),
    /// Print the shell completion script (bash, zsh, fish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print a manual page (roff), or write every one with --out.
    Man(man::ManArgs),
    /// Print the JSON Schema of an inventory file or of seg.toml, for editors.
    Schema(schema::SchemaArgs),
    /// Exit 1 when a built output still holds an expired grant on a target without a clock.
    Stale(stale::StaleArgs),
    /// Append a checked just-in-time grant that expires after --for to the grants file.
    Grant(grant::GrantArgs),
    /// Delete expired rules from the project's .seg files, keeping every other byte.
    Gc(gc::GcArgs),
}

/// How much a command says besides its results (`-q`, `-v`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

impl Cli {
    pub fn verbosity(&self) -> Verbosity {
        match (self.quiet, self.verbose) {
            (true, _) => Verbosity::Quiet,
            (_, true) => Verbosity::Verbose,
            _ => Verbosity::Normal,
        }
    }
}

/// What every compiling command takes.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Project folder holding seg.toml, or one .seg file with --inventory [default: the nearest folder at or above the current one holding seg.toml]
    pub path: Option<PathBuf>,
    /// The project's seg.toml (instead of PATH).
    #[arg(long, value_name = "FILE", conflicts_with = "path")]
    pub manifest_path: Option<PathBuf>,
    /// Inventory file(s) for a single .seg file.
    #[arg(long, value_name = "FILE")]
    pub inventory: Vec<PathBuf>,
    /// Fix "today" (RFC 3339 time or date) for expiry, review and rotation checks; defaults to SOURCE_DATE_EPOCH, then the clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Turn warnings into errors (the CI mode).
    #[arg(long)]
    pub deny_warnings: bool,
    /// How to print diagnostics and results.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    let v = cli.verbosity();
    let exit = match &cli.command {
        Command::Init(a) => init::run(a, v),
        Command::Check(a) => check::run(a, cli.color, v),
        Command::Build(a) => build::run(a, cli.color, v),
        Command::Test(a) => test::run(a, cli.color, v),
        Command::Explain(a) => explain::run(a, cli.color, v),
        Command::Diff(a) => diff::run(a, cli.color),
        Command::ExplainCode(a) => explain_code::run(a),
        Command::Reach(a) => reach::run(a, cli.color, v),
        Command::Graph(a) => graph::run(a, cli.color, v),
        Command::Targets => targets::run(),
        Command::Fmt(a) => fmt::run(a, cli.color),
        Command::Audit(a) => audit::run(a, cli.color, v),
        Command::Lsp(a) => lsp::run(a),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Stale(a) => stale::run(a),
        Command::Grant(a) => grant::run(a, cli.color, v),
        Command::Gc(a) => gc::run(a, cli.color),
    };
    ExitCode::from(exit as u8)
}

/// Resolve the input and "now", then compile, with a progress line on a terminal and, under
/// `-v`, what was read and how long it took. `Err` is a usage problem already printed.
fn compile_as(args: &InputArgs, color: Color, v: Verbosity) -> Result<Compilation, Exit> {
    let (input, now) = locate(args, color)?;
    Ok(compile_located(&input, now, v))
}

/// Compile what [`locate`] found, as [`compile_as`] does.
fn compile_located(input: &Input, now: seg_ir::Timestamp, v: Verbosity) -> Compilation {
    let mut progress = Progress::new(v == Verbosity::Quiet);
    progress.show(&format!("checking {}", input.root().display()));
    let comp = driver::compile(input, now);
    progress.clear();
    if v == Verbosity::Verbose {
        let files: Vec<&str> = comp
            .map
            .iter()
            .map(|(_, f)| f.name.as_str())
            .filter(|n| !n.starts_with('<'))
            .collect();
        info(&format!(
            "project `{}`: read {}",
            comp.root.display(),
            files.join(", ")
        ));
        info(&format!("checked in {} ms", progress.elapsed().as_millis()));
    }
    comp
}

/// The input the command line names and "now". `Err` is a usage problem already printed.
fn locate(args: &InputArgs, color: Color) -> Result<(Input, seg_ir::Timestamp), Exit> {
    let usage = |d: Diagnostic| {
        let anchor = input_anchor(args);
        report_at(&SourceMap::new(), &[d], args.format, color, &anchor);
        Exit::Usage
    };
    let now = driver::resolve_now(args.now.as_deref()).map_err(usage)?;
    let input = Input::locate(&driver::Locate {
        path: args.path.as_deref(),
        inventory: &args.inventory,
        manifest_path: args.manifest_path.as_deref(),
    })
    .map_err(usage)?;
    Ok((input, now))
}

/// A line of `-v` output, on stderr (paths and names from the user are shown, not obeyed).
fn info(text: &str) {
    eprintln!("info: {}", seg_diag::visible(text));
}

/// Print diagnostics in the chosen format (SARIF locations from the current folder).
fn report(map: &SourceMap, diags: &[Diagnostic], format: Format, color: Color) {
    let anchor = Anchor {
        project: PathBuf::from("."),
        fallback: "seg.toml".into(),
    };
    report_at(map, diags, format, color, &anchor);
}

/// Print diagnostics in the chosen format, SARIF locations placed by `anchor`.
fn report_at(map: &SourceMap, diags: &[Diagnostic], format: Format, color: Color, anchor: &Anchor) {
    match format {
        Format::Human => eprint!("{}", output::human(map, diags, color)),
        Format::Json => println!("{}", output::json_value(map, diags)),
        Format::Sarif => {
            let (log, notices) = output::sarif(map, diags, anchor);
            for n in notices {
                eprintln!("warning: {n}");
            }
            println!("{log}");
        }
    }
}

/// Where a compilation's SARIF results point: its project, and for results without a
/// span, `seg.toml` or the single `.seg` file.
fn anchor(comp: &Compilation) -> Anchor {
    Anchor {
        project: comp.root.clone(),
        fallback: match &comp.input {
            Input::Project(_) => "seg.toml".into(),
            Input::File { source, .. } => source.clone(),
        },
    }
}

/// Where SARIF results of a usage problem point: the input the command line named.
fn input_anchor(args: &InputArgs) -> Anchor {
    let named = args.manifest_path.as_deref().or(args.path.as_deref());
    let file = match named {
        Some(p) if p.is_dir() => p.join("seg.toml"),
        Some(p) => p.to_path_buf(),
        None => PathBuf::from("seg.toml"),
    };
    let (project, fallback) = match (file.parent(), file.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => {
            (dir.to_path_buf(), name.to_string_lossy().into_owned())
        }
        _ => (PathBuf::from("."), file.to_string_lossy().into_owned()),
    };
    Anchor { project, fallback }
}

/// Apply lint levels and --deny-warnings, sort, and print; the exit code that follows.
fn finish(comp: &mut Compilation, args: &InputArgs, color: Color) -> Exit {
    let diags = settle(comp, args);
    report_at(&comp.map, &diags, args.format, color, &anchor(comp));
    exit_for(comp)
}

/// Apply lint levels and --deny-warnings and sort; the diagnostics to print.
fn settle(comp: &mut Compilation, args: &InputArgs) -> Vec<Diagnostic> {
    comp.settle_diagnostics(args.deny_warnings);
    comp.diags.iter().cloned().collect()
}

fn exit_for(comp: &Compilation) -> Exit {
    if comp
        .diags
        .iter()
        .any(|d| d.severity == seg_diag::Severity::Bug)
    {
        Exit::Internal
    } else if comp.has_io_errors() {
        Exit::Usage
    } else if comp.diags.has_errors() {
        Exit::Policy
    } else {
        Exit::Ok
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}
