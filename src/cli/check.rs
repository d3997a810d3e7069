//! `seg check [PATH]`: parse, resolve, type-check, lint, then lower to every target of
//! seg.toml without rendering a file, so that it reports everything `seg build` would
//! reject or warn about: a check-only CI gate is enough.

use super::{Exit, InputArgs, Verbosity, compile_as, finish, plural};
use crate::driver;
use crate::output::{Color, Format};
use crate::progress::Progress;
use clap::Args;

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: &CheckArgs, color: Color, v: Verbosity) -> Exit {
    // The front end and the targets' lowerings run on several threads, as in `seg build`.
    driver::share_arenas();
    let mut comp = match compile_as(&args.input, color, v) {
        Ok(c) => c,
        Err(e) => return e,
    };
    // Only the program goes on to the targets.
    comp.inventory = None;
    comp.outline = None;
    // Each target's capability pass and lowering, as `seg build` runs them.
    let mut targets = 0;
    if let (Some(program), Some(manifest)) = (&mut comp.program, &comp.manifest)
        && !comp.diags.has_errors()
        && !manifest.targets.is_empty()
    {
        let mut progress = Progress::new(v == Verbosity::Quiet);
        targets = driver::check(
            program,
            manifest,
            &comp.root,
            &[],
            &mut comp.diags,
            &mut |i, n, target| progress.step(i, n, &format!("checking target {target}")),
        );
    }
    let exit = finish(&mut comp, &args.input, color);
    if exit == Exit::Ok
        && args.input.format == Format::Human
        && v != Verbosity::Quiet
        && let Some(p) = &comp.program
    {
        println!(
            "ok: {} over {}, {}, {} ({})",
            plural(p.rules.len(), "rule"),
            plural(p.identities.len(), "identity").replace("identitys", "identities"),
            plural(
                p.tests.iter().map(|t| t.expectations.len()).sum(),
                "expectation"
            ),
            plural(targets, "target"),
            plural(comp.diags.warning_count(), "warning"),
        );
    }
    // The process ends here: the OS takes back the program at once.
    std::mem::forget(comp);
    exit
}
