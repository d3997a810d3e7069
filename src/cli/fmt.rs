//! `seg fmt [PATH…] [--check] [--diff]`: lay `.seg` files out in the one
//! canonical layout (`docs/fmt.md`). `-` reads standard input and writes the
//! result to standard output.
//!
//! Exit codes as `rustfmt --check` and `terraform fmt -check`: 0 when every
//! file is (or now is) formatted, 1 when `--check` finds a file that would
//! change or a file does not parse (it is left untouched and its syntax error
//! reported), 2 for I/O and usage errors, 3 for an internal error.

use super::{Exit, report};
use crate::driver;
use crate::output::{Color, Format};
use clap::Args;
use seg_diag::{Diagnostic, Severity, SourceMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct FmtArgs {
    /// Files or folders to format (`-` for standard input) [default: .]
    pub paths: Vec<PathBuf>,
    /// Write nothing; list the files that would change and exit 1 if any would.
    #[arg(long)]
    pub check: bool,
    /// Print a unified diff of each change.
    #[arg(long)]
    pub diff: bool,
}

/// What became of one file.
enum Outcome {
    Unchanged,
    Changed,
    /// A diagnostic was printed (syntax error: exit 1; internal: exit 3).
    Failed(Exit),
}

pub fn run(args: &FmtArgs, color: Color) -> Exit {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut exit = Exit::Ok;
    let mut worse = |e: Exit| {
        if e as u8 > exit as u8 {
            exit = e;
        }
    };
    for path in &paths {
        if path.as_os_str() == "-" {
            worse(stdin(args, color));
            continue;
        }
        let files = match files(path) {
            Ok(f) => f,
            Err(d) => {
                report(&SourceMap::new(), &[d], Format::Human, color);
                worse(Exit::Usage);
                continue;
            }
        };
        for file in files {
            match one(&file, args, color) {
                Outcome::Unchanged => {}
                Outcome::Changed if args.check => {
                    println!("{}", file.display());
                    worse(Exit::Policy);
                }
                Outcome::Changed => println!("{}", file.display()),
                Outcome::Failed(e) => worse(e),
            }
        }
    }
    exit
}

/// The `.seg` files a path names: itself, or every one below a folder
/// (hidden folders, `target` and `node_modules` skipped).
fn files(path: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return Err(Diagnostic::plain(format!(
            "`{}` does not exist",
            path.display()
        )));
    }
    let found =
        driver::expand_globs(path, &["**/*.seg".to_string()], &[]).map_err(Diagnostic::plain)?;
    Ok(found.into_iter().map(|rel| path.join(rel)).collect())
}

fn one(path: &Path, args: &FmtArgs, color: Color) -> Outcome {
    let name = path.display().to_string();
    let text = match read(path) {
        Ok(t) => t,
        Err(d) => {
            report(&SourceMap::new(), &[d], Format::Human, color);
            return Outcome::Failed(Exit::Usage);
        }
    };
    let formatted = match format(&name, &text, color) {
        Ok(f) => f,
        Err(e) => return Outcome::Failed(e),
    };
    if formatted == text {
        return Outcome::Unchanged;
    }
    if args.diff {
        print!("{}", diff(&name, &text, &formatted));
    }
    if !args.check
        && let Err(e) = write_atomically(path, &formatted)
    {
        let d = Diagnostic::plain(format!("cannot write `{name}`: {e}"));
        report(&SourceMap::new(), &[d], Format::Human, color);
        return Outcome::Failed(Exit::Usage);
    }
    Outcome::Changed
}

fn stdin(args: &FmtArgs, color: Color) -> Exit {
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        let d = Diagnostic::plain(format!("cannot read standard input: {e}"));
        report(&SourceMap::new(), &[d], Format::Human, color);
        return Exit::Usage;
    }
    let text = match text_of("<stdin>", bytes) {
        Ok(t) => t,
        Err(d) => {
            report(&SourceMap::new(), &[d], Format::Human, color);
            return Exit::Policy;
        }
    };
    let formatted = match format("<stdin>", &text, color) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let changed = formatted != text;
    let out = if args.diff {
        diff("<stdin>", &text, &formatted)
    } else if args.check {
        String::new()
    } else {
        formatted
    };
    // A closed pipe is not our failure to report.
    let _ = std::io::stdout().write_all(out.as_bytes());
    if args.check && changed {
        Exit::Policy
    } else {
        Exit::Ok
    }
}

/// Format, printing the diagnostic (with its source) when the text does not parse.
fn format(name: &str, text: &str, color: Color) -> Result<String, Exit> {
    let mut map = SourceMap::new();
    let file = map.add(name, text);
    seg_fmt::format(file, text).map_err(|d| {
        let exit = if d.severity == Severity::Bug {
            Exit::Internal
        } else {
            Exit::Policy
        };
        report(&map, &[d], Format::Human, color);
        exit
    })
}

fn read(path: &Path) -> Result<String, Diagnostic> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| Diagnostic::plain(format!("cannot read `{name}`: {e}")))?;
    if meta.len() > driver::MAX_FILE_BYTES {
        return Err(Diagnostic::error(
            seg_diag::Code::InputTooLarge,
            format!("`{name}` is larger than 64 MiB"),
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| Diagnostic::plain(format!("cannot read `{name}`: {e}")))?;
    text_of(&name, bytes)
}

fn text_of(name: &str, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    String::from_utf8(bytes).map_err(|e| {
        Diagnostic::error(
            seg_diag::Code::NotText,
            format!("`{name}` is not UTF-8 text"),
        )
        .with_note(format!(
            "the first invalid byte is at offset {}",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Replace the file in one step: a reader sees the old text or the new one.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp_name = format!(
        ".{}.seg-fmt-{}",
        file_name.unwrap_or_default(),
        std::process::id()
    );
    let tmp = dir.map_or_else(|| PathBuf::from(&tmp_name), |d| d.join(&tmp_name));
    std::fs::write(&tmp, text)?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn diff(name: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(name, name)
        .to_string()
}
