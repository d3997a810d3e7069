//! `seg completions SHELL`: the shell completion script, generated from the command line's
//! own definition, so every command and flag (and those added later) completes.

use super::{Cli, Exit};
use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell as Generator;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Install:\n  bash        seg completions bash > ~/.local/share/bash-completion/completions/seg\n  zsh         seg completions zsh > \"${fpath[1]}/_seg\"\n  fish        seg completions fish > ~/.config/fish/completions/seg.fish\n  powershell  seg completions powershell | Out-String | Invoke-Expression   (in $PROFILE)"
)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    pub shell: Shell,
}

pub fn run(args: &CompletionsArgs) -> Exit {
    let generator = match args.shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
        Shell::Powershell => Generator::PowerShell,
    };
    // Rendered whole first: a closed stdout then ends the run as everywhere else.
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut Cli::command(), "seg", &mut script);
    print!("{}", String::from_utf8_lossy(&script));
    Exit::Ok
}
