//! `seg check [PATH]`: parse, resolve, type-check, lint. Writes nothing.

use super::{Exit, InputArgs, compile, finish, plural};
use crate::output::{Color, Format};
use clap::Args;

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: &CheckArgs, color: Color) -> Exit {
    let mut comp = match compile(&args.input, color) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let exit = finish(&mut comp, &args.input, color);
    if exit == Exit::Ok
        && args.input.format == Format::Human
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
