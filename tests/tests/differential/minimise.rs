//! A failing estate made small and written as a folder that replays it.
//!
//! The minimiser is greedy over the estate model: it pins the failing flow,
//! then tries [`EstateModel::shrink_candidates`] (whole policies, rules,
//! segments, services and identities first, then parts of each) and keeps
//! the first variant that still fails the same way (same problem kind on the
//! same target), until no variant does or the attempt budget is spent
//! (smaller for the slow engines, which take seconds a variant).
//!
//! The folder holds the estate's files, `flows.json` (the flows the checks
//! replay) and `policy/replay.seg`, a `test` block with the reference
//! decision of each flow a `test` can express, and `FAILURE.txt`.

use crate::check::{self, Kind, Problem};
use crate::engines::EngineKind;
use seg_ir::eval::decide;
use seg_tests::estate::{Endpoint, Estate, EstateModel};
use std::path::{Path, PathBuf};

/// Most variants tried while minimising one failure.
pub const BUDGET: usize = 600;

/// The same for the slow engines (seconds a variant): `SEG_DIFF_SLOW_SHRINK`,
/// default 150.
fn budget(kinds: &[EngineKind]) -> usize {
    if !kinds.iter().any(|k| k.slow()) {
        return BUDGET;
    }
    std::env::var("SEG_DIFF_SLOW_SHRINK")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(150)
}

fn engines_for(target: &str, kinds: &[EngineKind]) -> Vec<EngineKind> {
    kinds
        .iter()
        .copied()
        .filter(|k| k.target() == target)
        .collect()
}

fn failing(model: &EstateModel, kinds: &[EngineKind], like: &Problem) -> Option<Problem> {
    check::check(&model.render(), kinds)
        .problems
        .into_iter()
        .find(|p| p.same(like))
}

/// The smallest variant found that fails like `problem`, with its problem
/// and the number of variants tried.
pub fn minimise(
    model: &EstateModel,
    kinds: &[EngineKind],
    problem: &Problem,
) -> (EstateModel, Problem, usize) {
    let kinds = engines_for(problem.target, kinds);
    let mut current = model.pin(problem.flow.iter().cloned().collect());
    let Some(mut current_problem) = failing(&current, &kinds, problem) else {
        // The flow fails only together with others: keep the case whole.
        return (model.clone(), problem.clone(), 1);
    };
    let budget = budget(&kinds);
    let mut tried = 1;
    'outer: while tried < budget {
        for candidate in current.shrink_candidates() {
            tried += 1;
            if let Some(p) = failing(&candidate, &kinds, &current_problem) {
                current = candidate;
                current_problem = p;
                continue 'outer;
            }
            if tried >= budget {
                break 'outer;
            }
        }
        break;
    }
    (current, current_problem, tried)
}

/// `$SEG_DIFF_OUT`, else `target/differential-failures` next to the test binary.
pub fn out_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("SEG_DIFF_OUT") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/debug/deps/differential-<hash>
    let target = exe
        .ancestors()
        .nth(3)
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf);
    target.join("differential-failures")
}

/// `test` lines for the flows a test block can express, with the reference
/// decision; those that do not compile as expectations are left out.
fn replay_block(estate: &Estate) -> Option<String> {
    let dir = tempfile::tempdir().ok()?;
    let built = check::build(estate, dir.path(), &[]).ok()?;
    let mut lines = Vec::new();
    for spec in &estate.flows {
        let Some(flow) = spec.to_flow(&built.program) else {
            continue;
        };
        if spec.mtls && matches!(spec.src, Endpoint::Address(_)) {
            continue; // a bare address cannot claim mTLS in a test (E0307)
        }
        if let Some(line) = spec.expect_line(decide(&built.program, &flow).allowed) {
            lines.push(line);
        }
    }
    let block = |lines: &[String]| {
        format!(
            "// The failing flows with the reference decision: `seg test` replays them.\ntest \"differential replay\" {{\n{}}}\n",
            lines.iter().map(|l| format!("  {l}\n")).collect::<String>()
        )
    };
    let compiles = |lines: &[String]| {
        let mut e = estate.clone();
        e.files.insert("policy/replay.seg".into(), block(lines));
        let dir = tempfile::tempdir().ok();
        dir.is_some_and(|d| check::build(&e, d.path(), &[]).is_ok())
    };
    if !compiles(&lines) {
        lines.retain(|l| compiles(std::slice::from_ref(l)));
    }
    (!lines.is_empty()).then(|| block(&lines))
}

/// Write the case under `root/<n>/` (first free `n`); returns the folder.
pub fn write_case(root: &Path, model: &EstateModel, problem: &Problem) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(root)?;
    let mut n = 1;
    let dir = loop {
        let d = root.join(n.to_string());
        if std::fs::create_dir(&d).is_ok() {
            break d;
        }
        n += 1;
    };
    let mut estate = model.render();
    if !matches!(problem.kind, Kind::DoesNotCompile | Kind::BuildFailed)
        && let Some(block) = replay_block(&estate)
    {
        estate.files.insert("policy/replay.seg".into(), block);
    }
    estate.files.insert(
        "FAILURE.txt".into(),
        format!(
            "{problem}\n\nReplay: copy this folder to tests/differential/regressions/<name>/ and run\n  cargo test -p seg-tests --test differential regressions\n\nMinimised model:\n{model:#?}\n"
        ),
    );
    estate.write(&dir)?;
    Ok(dir)
}

/// The files of a written case, for the failure message.
pub fn show(dir: &Path) -> String {
    let Ok(estate) = Estate::read(dir) else {
        return String::new();
    };
    let mut out = String::new();
    for (path, text) in estate
        .files
        .iter()
        .filter(|(p, _)| p.as_str() != "FAILURE.txt")
    {
        out.push_str(&format!("---- {path}\n{text}"));
    }
    out.push_str(&format!("---- flows.json\n{}", estate.flows_json()));
    out
}
