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
        Ok(seg_lsp::Ending::Shutdown) => Exit::Ok,
        Ok(seg_lsp::Ending::Abandoned) => {
            eprintln!("seg lsp: the client left without a `shutdown` request");
            Exit::Policy
        }
        Err(e) => {
            eprintln!("error: seg lsp: {e}");
            Exit::Internal
        }
    }
}
