//! Running the real `seg` binary on a case: the all-benign baseline, then the
//! hostile build, repeated with every value a diagnostic rejected put back
//! to its benign stand-in until the build succeeds. Every run is checked for
//! what must hold whatever the input: exit 0 or 1 (never a usage error or a
//! crash), errors that point at a hostile value, a previous output left
//! byte-identical by a failed build, nothing written outside `--out` or into
//! the project, no symlink and no temporary folder left behind.

use super::project::{Case, NOW};
use super::text::Tree;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// Every output file by path relative to `--out`.
pub type Files = BTreeMap<String, Vec<u8>>;

/// The `seg` executable: `src/main.rs` built as a binary of this package
/// (see tests/Cargo.toml), so it is always current.
fn seg_bin() -> &'static str {
    env!("CARGO_BIN_EXE_seg-cli")
}

/// What one case came to.
pub struct Outcome {
    /// Per slot: `None` carried through, `Some(codes)` rejected with these codes.
    pub rejected: Vec<Option<String>>,
    pub baseline: Files,
    pub hostile: Files,
    /// The project and `--out` of the final hostile build, deleted on drop
    /// (kept until the batch validators ran).
    pub work: Work,
    /// The final mask: which slots hold their hostile value.
    pub mask: Vec<bool>,
    pub problems: Vec<String>,
}

/// A project folder and its output folder, two levels below a fresh temporary
/// folder so that an escape by `..` lands where the walk sees it.
pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    /// `HOSTILE_KEEP=1` keeps the folder (and prints where) to look at a failure.
    pub fn new() -> Work {
        let mut dir = tempfile::tempdir().expect("tempdir");
        if std::env::var_os("HOSTILE_KEEP").is_some() {
            dir.disable_cleanup(true);
            eprintln!("keeping {}", dir.path().display());
        }
        std::fs::create_dir_all(dir.path().join("w/p")).expect("mkdir");
        Work { dir }
    }
    fn base(&self) -> PathBuf {
        self.dir.path().join("w/p")
    }
    pub fn project(&self) -> PathBuf {
        self.base().join("proj")
    }
    pub fn out(&self) -> PathBuf {
        self.base().join("out")
    }
    /// The output before the current one, kept by seg for the next build.
    fn spare(&self) -> PathBuf {
        self.base().join(".out.seg-spare")
    }
}

/// Write the project (replacing any previous one).
fn write(work: &Work, tree: &Tree) {
    let proj = work.project();
    let _ = std::fs::remove_dir_all(&proj);
    for (rel, text) in &tree.files {
        let p = proj.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {rel:?}: {e}"));
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn build(work: &Work, format: &str, targets: &str) -> Run {
    let out = Command::new(seg_bin())
        .arg("build")
        .arg(work.project())
        .arg("--out")
        .arg(work.out())
        .args(["--now", NOW, "--format", format, "--target", targets])
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .current_dir(work.dir.path())
        .output()
        .expect("run seg");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Characters a terminal acts on: a diagnostic must not print them raw.
fn terminal_control(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The first line of `text` holding a [`terminal_control`] character, escaped.
fn raw_control(text: &str) -> Option<String> {
    text.split('\n')
        .find(|l| l.chars().any(terminal_control))
        .map(|l| {
            l.chars()
                .take(300)
                .collect::<String>()
                .escape_debug()
                .to_string()
        })
}

/// Walk `work`: only the project (exactly as written), `--out` and its
/// spare may be there, no symlinks, every output file a regular file inside
/// `--out` (or the spare).
/// Returns the files under `--out` (empty when it does not exist).
fn check_tree(work: &Work, tree: &Tree, problems: &mut Vec<String>) -> Files {
    let root = work.dir.path();
    let mut files = Files::new();
    let mut project: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let out = work.out();
    let canonical_out = out.canonicalize().ok();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display()));
        for e in entries {
            let e = e.expect("entry");
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).expect("metadata");
            let rel = p
                .strip_prefix(root)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            if meta.file_type().is_symlink() {
                problems.push(format!("symlink `{rel}` written"));
                continue;
            }
            let in_proj = p.starts_with(work.project());
            let in_out = p.starts_with(&out);
            let in_spare = p.starts_with(work.spare());
            let allowed_dir =
                p == root.join("w") || p == work.base() || in_proj || in_out || in_spare;
            if !allowed_dir {
                problems.push(format!("`{rel}` written outside --out"));
                continue;
            }
            if meta.is_dir() {
                stack.push(p);
                continue;
            }
            if in_spare {
                if !meta.is_file() {
                    problems.push(format!("`{rel}` is not a regular file"));
                }
                continue;
            }
            let bytes = std::fs::read(&p).expect("read");
            if in_proj {
                let r = p
                    .strip_prefix(work.project())
                    .expect("prefix")
                    .to_string_lossy()
                    .into_owned();
                project.insert(r, bytes);
            } else if in_out {
                let inside = p
                    .canonicalize()
                    .ok()
                    .zip(canonical_out.as_ref())
                    .is_some_and(|(c, o)| c.starts_with(o));
                if !inside || !meta.is_file() {
                    problems.push(format!("`{rel}` is not a regular file inside --out"));
                }
                let r = p
                    .strip_prefix(&out)
                    .expect("prefix")
                    .to_string_lossy()
                    .into_owned();
                files.insert(r, bytes);
            } else {
                problems.push(format!("`{rel}` written outside --out"));
            }
        }
    }
    let written: BTreeMap<String, Vec<u8>> = tree
        .files
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    if project != written {
        problems.push("the build changed the project folder".into());
    }
    files
}

/// One diagnostic of `--format json`.
struct Diag {
    severity: String,
    code: String,
    file: Option<String>,
    start: usize,
    end: usize,
    text: String,
}

fn diagnostics(stdout: &str) -> Result<Vec<Diag>, String> {
    let doc: Json =
        serde_json::from_str(stdout.trim()).map_err(|e| format!("not JSON ({e}): {stdout}"))?;
    let list = doc["diagnostics"].as_array().ok_or("no `diagnostics`")?;
    Ok(list
        .iter()
        .map(|d| Diag {
            severity: d["severity"].as_str().unwrap_or("").to_string(),
            code: d["code"].as_str().unwrap_or("-").to_string(),
            file: d["location"]["file"].as_str().map(str::to_string),
            start: d["location"]["start"].as_u64().unwrap_or(0) as usize,
            end: d["location"]["end"].as_u64().unwrap_or(0) as usize,
            text: d.to_string(),
        })
        .collect())
}

/// The baseline build (every slot benign): must succeed.
fn baseline(case: &Case, work: &Work) -> Files {
    let mask = vec![false; case.slots.len()];
    let tree = case.render(&mask);
    write(work, &tree);
    let run = build(work, "json", case.targets);
    assert_eq!(
        run.code, 0,
        "{}: the benign baseline must build\n{}\n{}",
        case.name, run.stdout, run.stderr
    );
    let mut problems = Vec::new();
    let files = check_tree(work, &tree, &mut problems);
    assert!(problems.is_empty(), "{}: baseline: {problems:?}", case.name);
    files
}

/// Build the case's baseline, then its hostile version until it succeeds.
pub fn run(case: &Case) -> Outcome {
    let work = Work::new();
    let base = baseline(case, &work);
    let mut mask = vec![true; case.slots.len()];
    let mut rejected: Vec<Option<String>> = vec![None; case.slots.len()];
    let mut problems = Vec::new();
    let mut hostile = Files::new();
    for round in 0.. {
        if round == 12 {
            problems.push(format!("{}: still failing after {round} rounds", case.name));
            break;
        }
        let tree = case.render(&mask);
        write(&work, &tree);
        // As a terminal shows it first (warnings, summary, errors): no raw
        // control character; the same failure again as JSON to attribute it.
        let t0 = std::time::Instant::now();
        let human = build(&work, "human", case.targets);
        eprintln!(
            "{}: round {round}: exit {} in {:.1} s",
            case.name,
            human.code,
            t0.elapsed().as_secs_f64()
        );
        let files = check_tree(&work, &tree, &mut problems);
        if human.stderr.contains("internal error") || human.stderr.contains("panicked") {
            problems.push(format!("{}: seg crashed: {}", case.name, human.stderr));
        }
        if let Some(line) = raw_control(&format!("{}{}", human.stdout, human.stderr)) {
            problems.push(format!(
                "{}: seg prints a control character raw to the terminal: {line}",
                case.name
            ));
        }
        if human.code == 0 {
            hostile = files;
            break;
        }
        if human.code != 1 {
            problems.push(format!(
                "{}: exit {} (expected 0, or 1 with diagnostics)\n{}\n{}",
                case.name, human.code, human.stdout, human.stderr
            ));
            break;
        }
        if files != base {
            problems.push(format!(
                "{}: a failed build changed the previous output",
                case.name
            ));
        }
        let run = build(&work, "json", case.targets);
        if run.code != 1 {
            problems.push(format!(
                "{}: exit {} as JSON, 1 as text",
                case.name, run.code
            ));
            break;
        }
        let diags = match diagnostics(&run.stdout) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("{}: {e}", case.name));
                break;
            }
        };
        let mut progress = false;
        let before = mask.clone();
        for d in diags
            .iter()
            .filter(|d| d.severity == "error" || d.severity == "bug")
        {
            if d.severity == "bug" {
                problems.push(format!("{}: internal error: {}", case.name, d.text));
            }
            let (slots, exact) = d
                .file
                .as_deref()
                .map(|f| tree.attribute(f, d.start, d.end))
                .unwrap_or_default();
            let hostile_slots: Vec<usize> = slots.into_iter().filter(|&s| before[s]).collect();
            if !exact && !hostile_slots.is_empty() {
                let names: Vec<String> = hostile_slots.iter().map(|&s| case.label(s)).collect();
                eprintln!(
                    "{}: an error near hostile values, blamed on {}: {}",
                    case.name,
                    names.join(", "),
                    d.text.chars().take(400).collect::<String>()
                );
            }
            if hostile_slots.is_empty() {
                problems.push(format!(
                    "{}: an error points at no hostile value: {}",
                    case.name, d.text
                ));
                continue;
            }
            for s in hostile_slots {
                progress |= mask[s];
                mask[s] = false;
                let entry = rejected[s].get_or_insert_with(String::new);
                if !entry.split(',').any(|c| c == d.code) {
                    if !entry.is_empty() {
                        entry.push(',');
                    }
                    entry.push_str(&d.code);
                }
            }
        }
        if !progress {
            problems.push(format!(
                "{}: the build fails and no hostile value is to blame",
                case.name
            ));
            break;
        }
    }
    Outcome {
        rejected,
        baseline: base,
        hostile,
        work,
        mask,
        problems,
    }
}
