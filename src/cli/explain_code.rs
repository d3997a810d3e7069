//! `seg explain-code CODE`: the documentation page of a diagnostic code, or of any other
//! rule id a SARIF log names (`usage`, `test-failed`, the findings of `seg audit`).

use super::Exit;
use clap::Args;
use seg_diag::Code;

#[derive(Args, Debug)]
pub struct ExplainCodeArgs {
    /// A diagnostic code such as E0201 or W0305, or a SARIF rule id such as `usage`.
    pub code: String,
}

pub fn run(args: &ExplainCodeArgs) -> Exit {
    match page(&args.code) {
        Some(text) => {
            print!("{text}");
            Exit::Ok
        }
        None => {
            eprintln!(
                "error: unknown diagnostic code `{}`",
                args.code.escape_debug()
            );
            Exit::Usage
        }
    }
}

fn page(id: &str) -> Option<&'static str> {
    let code = Code::parse(id);
    let id = code.map_or(id, |c| c.as_str());
    crate::pages::DIAGNOSTIC_PAGES
        .iter()
        .find(|(c, _)| *c == id)
        .map(|(_, text)| *text)
}
