//! `seg build [PATH] [--target T,...] [--out DIR]`: check, lower to every
//! target, write everything atomically, print a one-screen summary.

use super::{Exit, InputArgs, compile, finish};
use crate::driver::{self, BuildOutcome};
use crate::output::{Color, Format};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct BuildArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Targets to build (comma-separated): ir, iptables, kubernetes, aws, gcp, opa [default: those in seg.toml]
    #[arg(long, value_delimiter = ',', value_name = "T")]
    pub target: Vec<String>,
    /// Output folder, replaced as a whole when the build succeeds [default: PATH/out]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(args: &BuildArgs, color: Color) -> Exit {
    let mut comp = match compile(&args.input, color) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let outcome = match (&comp.program, &comp.manifest) {
        (Some(program), Some(manifest)) if !comp.diags.has_errors() => {
            driver::build(program, manifest, &comp.root, &args.target, &mut comp.diags)
        }
        _ => None,
    };
    let exit = finish(&mut comp, &args.input, color);
    let Some(outcome) = outcome.filter(|_| exit == Exit::Ok) else {
        if exit == Exit::Ok {
            return Exit::Policy;
        }
        if args.input.format == Format::Human {
            eprintln!("error: build failed; nothing was written");
        }
        return exit;
    };
    let out = args.out.clone().unwrap_or_else(|| comp.root.join("out"));
    if let Err(e) = driver::write_atomically(&out, &outcome.files) {
        eprintln!("error: {e}");
        eprintln!("note: nothing was written; the previous output is unchanged");
        return Exit::Usage;
    }
    if args.input.format == Format::Human {
        // Names come from the user: shown, never acted on by the terminal.
        let text = summary(&outcome, &out, comp.program.as_ref());
        print!("{}", seg_diag::visible(&text));
    }
    Exit::Ok
}

fn summary(outcome: &BuildOutcome, out: &Path, program: Option<&seg_ir::Program>) -> String {
    let mut s = String::new();
    if let Some(p) = program {
        s.push_str(&format!(
            "built `{}` into {} ({} rules, now {}, sources {})\n",
            p.project,
            out.display(),
            p.rules.len(),
            p.now,
            &p.source_hash[..p.source_hash.len().min(12)]
        ));
    }
    s.push_str(&format!(
        "  {:<12} {:>6} {:>7} {:>8} {:>8}\n",
        "target", "files", "rules", "omitted", "relaxed"
    ));
    for r in &outcome.reports {
        s.push_str(&format!(
            "  {:<12} {:>6} {:>7} {:>8} {:>8}\n",
            r.target,
            r.files.len(),
            r.rules,
            r.omitted,
            r.relaxations
        ));
        for note in &r.notes {
            s.push_str(&format!("  {:<12} note: {note}\n", ""));
        }
    }
    if let Some(p) = program
        && !p.omitted.is_empty()
    {
        s.push_str(&format!(
            "  {} expired rule(s) left out of every target\n",
            p.omitted.len()
        ));
    }
    s.push_str(&format!(
        "every approximation is listed in {}\n",
        out.join("report.json").display()
    ));
    s
}
