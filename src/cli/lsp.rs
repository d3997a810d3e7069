//! `seg lsp`: the language server over stdin/stdout (`editors/seg-lsp`).

use super::Exit;
use crate::driver;
use clap::Args;

#[derive(Args, Debug)]
pub struct LspArgs {
    /// Talk over stdin/stdout (the only transport; accepted for editors that pass it).
    #[arg(long)]
    pub stdio: bool,
}

pub fn run(_args: &LspArgs) -> Exit {
    let host = seg_lsp::Host {
        expand_globs: driver::expand_globs,
        resolve_import: driver::resolve_import,
    };
    match seg_lsp::run_stdio(host) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("error: seg lsp: {e}");
            Exit::Internal
        }
    }
}
