//! `seg explain-code CODE`: the documentation page of a diagnostic code.

use super::Exit;
use clap::Args;
use seg_diag::Code;

#[derive(Args, Debug)]
pub struct ExplainCodeArgs {
    /// A diagnostic code such as E0201 or W0305.
    pub code: String,
}

pub fn run(args: &ExplainCodeArgs) -> Exit {
    match page(&args.code) {
        Some(text) => {
            print!("{text}");
            Exit::Ok
        }
        None => {
            eprintln!("error: unknown diagnostic code `{}`", args.code);
            Exit::Usage
        }
    }
}

fn page(code: &str) -> Option<&'static str> {
    let code = Code::parse(code)?;
    crate::pages::DIAGNOSTIC_PAGES
        .iter()
        .find(|(c, _)| *c == code.as_str())
        .map(|(_, text)| *text)
}
