//! `seg man [COMMAND] [--out DIR]`: manual pages in roff, one per command, generated from
//! the command line's own definition (clap_mangen), so they list every command and flag.

use super::{Cli, Exit};
use clap::{Args, CommandFactory};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  seg man check | man -l -\n  seg man --out ~/.local/share/man/man1   (then: man seg-check)"
)]
pub struct ManArgs {
    /// The command whose page to print (`seg man check` is seg-check(1)) [default: seg(1)]
    pub command: Option<String>,
    /// Write every page (seg.1, seg-check.1, ...) into this folder instead of printing one.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub out: Option<PathBuf>,
}

pub fn run(args: &ManArgs) -> Exit {
    let pages = match pages() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot render the manual pages: {e}");
            return Exit::Internal;
        }
    };
    if let Some(dir) = &args.out {
        return write_all(dir, &pages);
    }
    let wanted = args
        .command
        .as_deref()
        .map_or_else(|| "seg".to_string(), |c| format!("seg-{c}"));
    match pages.iter().find(|(name, _)| *name == wanted) {
        Some((_, text)) => {
            print!("{}", String::from_utf8_lossy(text));
            Exit::Ok
        }
        None => {
            let known: Vec<&str> = pages
                .iter()
                .filter_map(|(n, _)| n.strip_prefix("seg-"))
                .collect();
            eprintln!(
                "error: no command `{}`\n  = note: the commands are {}",
                args.command.as_deref().unwrap_or("").escape_debug(),
                known.join(", ")
            );
            Exit::Usage
        }
    }
}

/// `(page name, roff)`: `seg`, then `seg-<command>` for every command.
fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = Cli::command();
    // Propagate the global flags (--color, -q, -v) into every command's page.
    cmd.build();
    let mut out = Vec::new();
    let mut text = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title("SEG")
        .source(concat!("seg ", env!("CARGO_PKG_VERSION")))
        .manual("seg manual")
        .render(&mut text)?;
    out.push(("seg".to_string(), text));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("seg-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("seg {}", sub.get_name()));
        let mut text = Vec::new();
        clap_mangen::Man::new(page)
            .title(name.to_uppercase())
            .source(concat!("seg ", env!("CARGO_PKG_VERSION")))
            .manual("seg manual")
            .render(&mut text)?;
        out.push((name, text));
    }
    Ok(out)
}

fn write_all(dir: &Path, pages: &[(String, Vec<u8>)]) -> Exit {
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create `{}`: {e}", dir.display());
        return Exit::Usage;
    }
    for (name, text) in pages {
        let file = dir.join(format!("{name}.1"));
        if let Err(e) = std::fs::write(&file, text) {
            eprintln!("error: cannot write `{}`: {e}", file.display());
            return Exit::Usage;
        }
    }
    Exit::Ok
}
