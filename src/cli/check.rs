//! `seg check [PATH]`: parse, resolve, type-check, lint. Writes nothing.

use super::{Exit, InputArgs, Verbosity, compile_as, finish, plural};
use crate::output::{Color, Format};
use clap::Args;

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: &CheckArgs, color: Color, v: Verbosity) -> Exit {
    let mut comp = match compile_as(&args.input, color, v) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let exit = finish(&mut comp, &args.input, color);
    if exit == Exit::Ok
        && args.input.format == Format::Human
        && v != Verbosity::Quiet
        && let Some(p) = &comp.program
    {
        println!(
            "ok: {} over {}, {} ({})",
            plural(p.rules.len(), "rule"),
            plural(p.identities.len(), "identity").replace("identitys", "identities"),
            plural(
                p.tests.iter().map(|t| t.expectations.len()).sum(),
                "expectation"
            ),
            plural(comp.diags.warning_count(), "warning"),
        );
    }
    exit
}
