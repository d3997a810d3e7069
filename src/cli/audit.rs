//! `seg audit [PATH] --flows FILE...`: observed flows against the policy.
//! Thin: reading, findings, drafts and SQL are `seg_audit`'s.

use super::{
    Exit, InputArgs, Verbosity, anchor, compile_as, exit_for, input_anchor, report_at, settle,
};
use crate::output::{self, Color, Format, sarif};
use crate::progress::Progress;
use clap::{Args, ValueEnum};
use seg_audit::sql::Dialect;
use seg_check::manifest::FindingLevel;
use seg_diag::{Diagnostic, SourceMap, visible};
use seg_flows::{AwsFields, FlowError, FormatChoice, ReaderOptions};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Human,
    Json,
    Sarif,
    Markdown,
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Project folder holding seg.toml, or one .seg file with --inventory [default: .]
    pub path: Option<PathBuf>,
    /// Flow logs: files, folders, globs (quoted) or `-` for standard input; gzip is detected.
    #[arg(long = "flows", value_name = "INPUT", num_args = 1..)]
    pub flows: Vec<String>,
    /// The flow-log format [default: auto, detected per file]
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub flow_format: Option<FormatChoice>,
    /// The AWS field list of header-less text exports, e.g. "version srcaddr dstaddr ...".
    #[arg(long, value_name = "FIELDS")]
    pub aws_fields: Option<String>,
    /// Start of the observation window (RFC 3339 time or date, included) [default: the first record]
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// End of the observation window (excluded) [default: after the last record]
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Read tuples already aggregated (the result of --emit-sql, as CSV or JSON lines) instead of flow logs.
    #[arg(long, value_name = "FILE", conflicts_with = "flows")]
    pub aggregated: Option<PathBuf>,
    /// Print the SQL that aggregates a flow-log table into tuples, for Athena/Trino or BigQuery.
    #[arg(long, value_name = "DIALECT")]
    #[arg(value_parser = parse_dialect)]
    pub emit_sql: Option<Dialect>,
    /// The flow-log table the emitted SQL reads.
    #[arg(
        long,
        value_name = "TABLE",
        default_value = "vpc_flow_logs",
        requires = "emit_sql"
    )]
    pub table: String,
    /// Print a policy drafted from the observed flows (a `.seg` file) instead of the report.
    #[arg(long)]
    pub draft: bool,
    /// The share of malformed records (0 to 1) above which the run fails.
    #[arg(long, value_name = "SHARE", default_value_t = seg_flows::DEFAULT_MAX_MALFORMED_SHARE)]
    pub max_malformed: f64,
    /// The project's seg.toml (instead of PATH).
    #[arg(long, value_name = "FILE", conflicts_with = "path")]
    pub manifest_path: Option<PathBuf>,
    /// Inventory file(s) for a single .seg file.
    #[arg(long, value_name = "FILE")]
    pub inventory: Vec<PathBuf>,
    /// Fix "today" (RFC 3339 time or date) for expiry; defaults to SOURCE_DATE_EPOCH, then the clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// How to print the report.
    #[arg(long, value_enum, default_value = "human")]
    pub format: AuditFormat,
}

fn parse_format(s: &str) -> Result<FormatChoice, String> {
    s.parse()
}

pub fn run(args: &AuditArgs, color: Color, v: Verbosity) -> Exit {
    let diag_format = match args.format {
        AuditFormat::Json => Format::Json,
        AuditFormat::Sarif => Format::Sarif,
        AuditFormat::Human | AuditFormat::Markdown => Format::Human,
    };
    let input = InputArgs {
        path: args.path.clone(),
        manifest_path: args.manifest_path.clone(),
        inventory: args.inventory.clone(),
        now: args.now.clone(),
        deny_warnings: false,
        format: diag_format,
    };
    // A usage problem: on stderr, and in the SARIF log a CI step uploads whatever happens.
    let usage = |message: String, help: &str| {
        eprintln!("error: {}\n  = help: {help}", visible(&message));
        if args.format == AuditFormat::Sarif {
            let d = Diagnostic::plain(message).with_help(help);
            report_at(
                &SourceMap::new(),
                &[d],
                Format::Sarif,
                color,
                &input_anchor(&input),
            );
        }
        Exit::Usage
    };
    if !(0.0..=1.0).contains(&args.max_malformed) {
        return usage(
            format!("`--max-malformed {}` is not a share", args.max_malformed),
            "give a number from 0 to 1, e.g. 0.01 for 1 %",
        );
    }
    let mut window = [None, None];
    for (slot, (flag, value)) in window
        .iter_mut()
        .zip([("--since", &args.since), ("--until", &args.until)])
    {
        if let Some(v) = value {
            match seg_ir::Timestamp::parse(v)
                .or_else(|| seg_ir::Date::parse(v).map(seg_ir::Date::start))
            {
                Some(t) => *slot = Some(t),
                None => {
                    return usage(
                        format!("`{flag} {v}` is not a time"),
                        "write a date such as `2026-11-01` or a time such as `2026-11-01T00:00:00Z`",
                    );
                }
            }
        }
    }
    let [since, until] = window;
    if let (Some(s), Some(u)) = (since, until)
        && u <= s
    {
        return usage(
            format!("the window is empty: --until {u} is not after --since {s}"),
            "give an --until later than --since",
        );
    }
    let aws_fields = match &args.aws_fields {
        None => None,
        Some(f) => match AwsFields::parse(f) {
            Ok(f) => Some(f),
            Err(e) => {
                return usage(
                    format!("`--aws-fields`: {e}"),
                    "list AWS flow-log field names, e.g. \"version srcaddr dstaddr srcport dstport protocol start end action log-status\"",
                );
            }
        },
    };
    if args.emit_sql.is_none() && args.flows.is_empty() && args.aggregated.is_none() {
        return usage(
            "no flows to audit".into(),
            "give flow logs with `--flows FILE...`, tuples with `--aggregated FILE`, or `--emit-sql trino|bigquery`",
        );
    }

    let mut comp = match compile_as(&input, color, v) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let diags = settle(&mut comp, &input);
    let exit = exit_for(&comp);
    let (Some(program), Some(inventory), Exit::Ok) = (&comp.program, &comp.inventory, exit) else {
        report_at(&comp.map, &diags, diag_format, color, &anchor(&comp));
        return exit;
    };
    let settings = comp
        .manifest
        .as_ref()
        .map(|m| m.audit.clone())
        .unwrap_or_default();
    let plan = seg_audit::plan::Plan::new(program, inventory, &settings, since, until);

    if let Some(dialect) = args.emit_sql {
        print!(
            "{}",
            seg_audit::sql::emit(&plan, inventory, dialect, &args.table, aws_fields.as_ref())
        );
        return Exit::Ok;
    }

    // On a terminal, what the audit is at (reading large flow logs takes a while).
    let mut progress = Progress::new(v == Verbosity::Quiet);
    let aggregate = if let Some(path) = &args.aggregated {
        progress.show(&format!("reading {}", path.display()));
        match seg_audit::aggregated::read_file(path, &plan, inventory) {
            Ok(a) => a,
            Err(e) => {
                progress.clear();
                return usage(
                    e,
                    "give the result of `seg audit --emit-sql` as CSV (with its header) or JSON lines",
                );
            }
        }
    } else {
        let options = ReaderOptions {
            aws_fields,
            max_malformed_share: args.max_malformed,
            ..ReaderOptions::default()
        };
        let mut shown = 0;
        progress.show(&format!("reading flow logs: {}", args.flows.join(", ")));
        let read = seg_audit::read(
            &plan,
            &args.flows,
            args.flow_format.unwrap_or_default(),
            &options,
            |m| {
                if shown < 5 {
                    progress.clear();
                    eprint!("{}", output::human(&comp.map, &[m.diagnostic()], color));
                    shown += 1;
                }
            },
        );
        match read {
            Ok(a) => a,
            Err(e) => {
                progress.clear();
                return flow_error(&e, args.format, &comp, color);
            }
        }
    };

    progress.show("auditing");
    if args.draft {
        progress.clear();
        print!(
            "{}",
            seg_audit::draft::draft(inventory, &aggregate, program.now)
        );
        return Exit::Ok;
    }
    let report = seg_audit::audit(program, inventory, &comp.map, &settings, &aggregate);
    progress.clear();
    match args.format {
        AuditFormat::Human => print!("{}", seg_audit::report::human(&report)),
        AuditFormat::Markdown => print!("{}", seg_audit::report::markdown(&report)),
        AuditFormat::Json => {
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let written = seg_audit::report::write_json(&report, &mut out)
                .and_then(|()| writeln!(out))
                .and_then(|()| out.flush());
            match written {
                // The reader has gone (`seg audit … | head`): end quietly, as print! would.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Exit::Ok,
                Err(e) => {
                    eprintln!("error: cannot write the report: {e}");
                    return Exit::Usage;
                }
                Ok(()) => {}
            }
        }
        AuditFormat::Sarif => {
            let findings = report.findings.findings.iter().map(sarif_finding).collect();
            let (log, notices) = sarif::log(&comp.map, findings, &anchor(&comp));
            for n in notices {
                eprintln!("warning: {n}");
            }
            println!("{log}");
        }
    }
    if report.has_errors() {
        Exit::Policy
    } else {
        Exit::Ok
    }
}

/// Flow logs that cannot be read: on stderr, and under `--format sarif` as a result at
/// `seg.toml` (the logs are usually outside the repository) naming the file.
fn flow_error(
    e: &FlowError,
    format: AuditFormat,
    comp: &crate::driver::Compilation,
    color: Color,
) -> Exit {
    let diagnostic = e.diagnostic();
    eprint!(
        "{}",
        output::human(&comp.map, std::slice::from_ref(&diagnostic), color)
    );
    if format == AuditFormat::Sarif {
        let finding = sarif::Finding {
            rule: sarif::Rule::Unreadable(e.code()),
            ..sarif::Finding::of(&diagnostic)
        };
        let (log, _) = sarif::log(&SourceMap::new(), vec![finding], &anchor(comp));
        println!("{log}");
    }
    Exit::Usage
}

fn parse_dialect(s: &str) -> Result<Dialect, String> {
    s.parse()
}

/// An audit finding as a SARIF result: at the rule's line, else the
/// identity's inventory entry, else `seg.toml`.
fn sarif_finding(f: &seg_audit::findings::Finding) -> sarif::Finding {
    let mut message = f.message.clone();
    for n in &f.notes {
        message.push_str(&format!("\nnote: {n}"));
    }
    if let Some(p) = &f.proposal {
        message.push_str(&format!("\nproposed:\n{p}"));
    }
    sarif::Finding {
        rule: sarif::Rule::Audit(f.kind.name()),
        level: match f.level {
            FindingLevel::Error => sarif::Level::Error,
            FindingLevel::Warning => sarif::Level::Warning,
            _ => sarif::Level::Note,
        },
        message,
        primary: f.span,
        related: Vec::new(),
    }
}
