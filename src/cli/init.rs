//! `seg init [DIR]`: scaffold a project that checks, tests and builds as it
//! stands: `seg.toml`, `policy/main.seg`, `inventory.yaml` and a CI example.
//!
//! Never overwrites: if any file it would write exists, nothing is written.
//! The policy's `review-by` is "now" plus 180 days, so a fresh project starts
//! without the past-review lint.

use super::Exit;
use crate::driver;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Folder to create the project in (created if missing) [default: .]
    pub dir: Option<PathBuf>,
    /// Project name for seg.toml [default: the folder's name]
    #[arg(long)]
    pub name: Option<String>,
    /// Fix "today" (RFC 3339 time or date) for the review date; defaults to SOURCE_DATE_EPOCH, then the clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
}

const SEG_TOML: &str = include_str!("init/seg.toml");
const MAIN_SEG: &str = include_str!("init/main.seg");
const INVENTORY: &str = include_str!("init/inventory.yaml");
const CI: &str = include_str!("init/seg.yml");

/// Days until the scaffolded policy is due for review.
const REVIEW_AFTER_DAYS: i64 = 180;

pub fn run(args: &InitArgs) -> Exit {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let now = match driver::resolve_now(args.now.as_deref()) {
        Ok(now) => now,
        Err(d) => {
            eprintln!("error: {}", d.message);
            return Exit::Usage;
        }
    };
    let name = match &args.name {
        Some(n) if is_project_name(n) => n.clone(),
        Some(n) => {
            eprintln!(
                "error: `{}` is not a project name\n  = help: use letters, digits, `-` and `_`, starting with a letter",
                n.escape_debug()
            );
            return Exit::Usage;
        }
        None => default_name(&dir),
    };
    let today = now.date();
    let files = [
        ("seg.toml", SEG_TOML.replace("{{name}}", &name)),
        (
            "policy/main.seg",
            MAIN_SEG
                .replace(
                    "{{review_by}}",
                    &today.add_days(REVIEW_AFTER_DAYS).to_string(),
                )
                .replace("{{night}}", &format!("{today}T01:30:00Z"))
                .replace("{{noon}}", &format!("{today}T12:00:00Z")),
        ),
        ("inventory.yaml", INVENTORY.to_string()),
        (".github/workflows/seg.yml", CI.to_string()),
    ];
    let existing: Vec<&str> = files
        .iter()
        .filter(|(path, _)| dir.join(path).symlink_metadata().is_ok())
        .map(|(path, _)| *path)
        .collect();
    if !existing.is_empty() {
        eprintln!(
            "error: `{}` already has {}\n  = note: seg init never overwrites; nothing was written\n  = help: run it in an empty folder, or move those files away",
            dir.display(),
            existing
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Exit::Usage;
    }
    let mut written: Vec<PathBuf> = Vec::new();
    for (path, text) in &files {
        let target = dir.join(path);
        if let Err(e) = write_new(&target, text) {
            eprintln!("error: cannot write `{}`: {e}", target.display());
            // Leave no half-made project behind.
            for done in written.iter().rev() {
                let _ = std::fs::remove_file(done);
            }
            return Exit::Usage;
        }
        written.push(target);
    }
    println!("created project `{name}` in {}", dir.display());
    for (path, _) in &files {
        println!("  {path}");
    }
    let shown = dir.display().to_string();
    let arg = if shown == "." {
        String::new()
    } else {
        format!(" {shown}")
    };
    println!("next: seg check{arg} && seg test{arg} && seg build{arg} --out out");
    Exit::Ok
}

/// Create `path` (and its folders); fails if it exists, even when created meanwhile.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

fn is_project_name(s: &str) -> bool {
    s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The folder's name when it is a valid project name, else `my-project`.
fn default_name(dir: &Path) -> String {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    absolute
        .components()
        .next_back()
        .and_then(|c| c.as_os_str().to_str())
        .filter(|n| is_project_name(n))
        .unwrap_or("my-project")
        .to_string()
}
