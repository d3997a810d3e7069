//! `seg init [DIR]`: scaffold a project that checks, tests and builds as it
//! stands: `seg.toml`, `policy/main.seg`, `inventory.yaml` and a GitHub Actions
//! workflow that installs seg and runs it (docs/ci.md).
//!
//! Never overwrites: if any file it would write exists, nothing is written.
//! The policy's `review-by` is "now" plus 180 days, so a fresh project starts
//! without the past-review lint. The workflow goes where GitHub reads it: the
//! `.github/workflows` of the enclosing git repository, else of the project.

use super::{Exit, Verbosity};
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
    /// Git repository the CI workflow installs seg from [default: the one this seg was built from]
    #[arg(long, value_name = "URL")]
    pub seg_git: Option<String>,
    /// Revision (commit or tag) the CI workflow installs seg at [default: the one this seg was built from]
    #[arg(long, value_name = "REV")]
    pub seg_rev: Option<String>,
}

/// Where the scaffold's workflow installs seg from (`cargo install --locked --git URL --rev REV seg`):
/// fixed when this binary was built (build.rs).
pub const INSTALL_REPOSITORY: &str = env!("SEG_INSTALL_REPOSITORY");
pub const INSTALL_REV: &str = env!("SEG_INSTALL_REV");

const SEG_TOML: &str = include_str!("init/seg.toml");
const MAIN_SEG: &str = include_str!("init/main.seg");
const INVENTORY: &str = include_str!("init/inventory.yaml");
const CI: &str = include_str!("init/seg.yml");

/// Days until the scaffolded policy is due for review.
const REVIEW_AFTER_DAYS: i64 = 180;

pub fn run(args: &InitArgs, v: Verbosity) -> Exit {
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
    let source = match install_source(args) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Usage;
        }
    };
    let ci = match workflow_place(&dir, &name) {
        Ok(place) => place,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Usage;
        }
    };
    let today = now.date();
    let files = [
        (
            "seg.toml".to_string(),
            dir.join("seg.toml"),
            SEG_TOML.replace("{{name}}", &name),
        ),
        (
            "policy/main.seg".to_string(),
            dir.join("policy/main.seg"),
            MAIN_SEG
                .replace(
                    "{{review_by}}",
                    &today.add_days(REVIEW_AFTER_DAYS).to_string(),
                )
                .replace("{{night}}", &format!("{today}T01:30:00Z"))
                .replace("{{noon}}", &format!("{today}T12:00:00Z")),
        ),
        (
            "inventory.yaml".to_string(),
            dir.join("inventory.yaml"),
            INVENTORY.to_string(),
        ),
        (
            ci.shown,
            ci.file,
            CI.replace("{{name}}", &name)
                .replace("{{seg_git}}", &source.0)
                .replace("{{seg_rev}}", &source.1)
                .replace("{{path}}", &ci.project_dir),
        ),
    ];
    let existing: Vec<&str> = files
        .iter()
        .filter(|(_, target, _)| target.symlink_metadata().is_ok())
        .map(|(shown, _, _)| shown.as_str())
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
    for (_, target, text) in &files {
        if let Err(e) = write_new(target, text) {
            eprintln!("error: cannot write `{}`: {e}", target.display());
            // Leave no half-made project behind.
            for done in written.iter().rev() {
                let _ = std::fs::remove_file(done);
            }
            return Exit::Usage;
        }
        written.push(target.clone());
    }
    if v == Verbosity::Quiet {
        return Exit::Ok;
    }
    println!("created project `{name}` in {}", dir.display());
    for (shown, _, _) in &files {
        println!("  {shown}");
    }
    let shown = dir.display().to_string();
    let arg = if shown == "." {
        String::new()
    } else {
        format!(" {shown}")
    };
    println!("next: seg check{arg} && seg test{arg} && seg build{arg}");
    Exit::Ok
}

/// The repository and revision the workflow installs seg from. Both are written into
/// YAML and run by a shell: only characters that need no quoting in either are accepted.
fn install_source(args: &InitArgs) -> Result<(String, String), String> {
    let git = args.seg_git.as_deref().unwrap_or(INSTALL_REPOSITORY);
    let rev = args.seg_rev.as_deref().unwrap_or(INSTALL_REV);
    if git.is_empty() {
        return Err("this seg was built without a repository to install from\n  = help: pass `--seg-git URL` (and `--seg-rev REV`)".into());
    }
    let plain = |s: &str, extra: &str| {
        !s.is_empty()
            && !s.starts_with('-')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._/".contains(c) || extra.contains(c))
    };
    if !plain(git, ":@~+%") {
        return Err(format!(
            "`{}` is not a git URL seg can write into the workflow",
            git.escape_debug()
        ));
    }
    if !plain(rev, "") {
        return Err(format!(
            "`{}` is not a git revision seg can write into the workflow\n  = help: name a commit or a tag",
            rev.escape_debug()
        ));
    }
    Ok((git.to_string(), rev.to_string()))
}

/// Where the workflow file goes and the project's folder as the workflow sees it.
struct WorkflowPlace {
    file: PathBuf,
    /// As printed: relative to the project folder (`../../.github/...` when above it).
    shown: String,
    /// The project folder relative to the repository root, `.` when they are one.
    project_dir: String,
}

/// GitHub reads workflows from the repository root only: a project in a subfolder of a git
/// work tree gets `<root>/.github/workflows/seg-<name>.yml`, running in that subfolder.
fn workflow_place(dir: &Path, name: &str) -> Result<WorkflowPlace, String> {
    let absolute =
        std::path::absolute(dir).map_err(|e| format!("cannot resolve `{}`: {e}", dir.display()))?;
    let absolute = normalize(&absolute);
    let Some(root) = git_root(&absolute).filter(|r| *r != absolute) else {
        return Ok(WorkflowPlace {
            file: dir.join(".github/workflows/seg.yml"),
            shown: ".github/workflows/seg.yml".into(),
            project_dir: ".".into(),
        });
    };
    let rel = absolute
        .strip_prefix(&root)
        .map_err(|_| "the project is outside its git repository".to_string())?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    // Written inside double-quoted YAML strings and used as an artifact path (a glob):
    // no quotes, backslashes, `${{ }}`, glob characters or control characters.
    let safe = |p: &String| {
        !p.starts_with(['-', '!', ' '])
            && p.chars()
                .all(|c| c.is_alphanumeric() || " -._+@,=~".contains(c))
    };
    if !parts.iter().all(safe) {
        return Err(format!(
            "the workflow would run in `{}`, a path seg does not write into YAML\n  = help: use folder names of letters, digits, spaces and `-._+@,=~`",
            rel.display()
        ));
    }
    let file_name = format!("seg-{name}.yml");
    Ok(WorkflowPlace {
        file: root.join(".github/workflows").join(&file_name),
        shown: format!("{}.github/workflows/{file_name}", "../".repeat(parts.len())),
        project_dir: parts.join("/"),
    })
}

/// The nearest folder at or above `dir` holding `.git` (a folder, or a file in a worktree).
fn git_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// `a/./b/../c` → `a/c`, without touching the file system (the folder may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
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
