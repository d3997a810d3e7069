//! Cross-backend differential on estates generated as SOURCE
//! (`seg_tests::estate`): each estate goes through the real front end and
//! `seg build` for every target, then every flow is decided three ways for
//! each of OPA (the bundle in regorus), AWS and GCP (the evaluators written
//! from the providers' docs) — the engine on the emitted files, the target's
//! verification reference and the full reference — and compared as
//! `differential/check.rs` describes. A failure is minimised and written as
//! a replayable folder (`differential/minimise.rs`); committed folders under
//! `tests/differential/regressions/` are replayed by `regressions_replay`.
//!
//! Kubernetes (network-config-analyzer) and iptables (network namespaces)
//! take seconds per estate: they run in `differential/slow.rs` on a bounded
//! sample of smaller estates, through the same checks, minimiser and
//! regression folders.
//!
//! Budget: `SEG_DIFF_CASES` estates (default 64) of 80 flows each, from
//! `SEG_DIFF_SEED` (default 8); the slow engines: `SEG_DIFF_SLOW_CASES`
//! (default 24) and `SEG_DIFF_SLOW_SEED`; see docs/testing.md.

#[path = "differential/check.rs"]
mod check;
mod cloud;
#[path = "differential/engines.rs"]
mod engines;
mod iptables;
mod k8s;
#[path = "differential/kube.rs"]
mod kube;
#[path = "differential/minimise.rs"]
mod minimise;
#[path = "differential/netns.rs"]
mod netns;
mod opa;
#[path = "differential/slow.rs"]
mod slow;

use check::{Kind, Outcome};
use engines::EngineKind;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use seg_tests::estate::{self, Estate, EstateConfig, EstateModel};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ENGINES: [EngineKind; 3] = [EngineKind::Opa, EngineKind::Aws, EngineKind::Gcp];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

/// `count` estate models from `seed`.
fn models(cfg: EstateConfig, count: usize, seed: u64) -> Vec<EstateModel> {
    let strategy = estate::models(cfg);
    let mut runner = runner(seed);
    (0..count)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("estate strategy")
                .current()
        })
        .collect()
}

/// Check every model; minimise and write each failing one under `out`.
/// Returns the summed outcome and the failure reports.
fn run(models: &[EstateModel], kinds: &[EngineKind], out: &Path) -> (Outcome, Vec<String>) {
    let mut total = Outcome::default();
    let mut reports = Vec::new();
    for (i, model) in models.iter().enumerate() {
        let outcome = check::check(&model.render(), kinds);
        total.warnings.extend(outcome.warnings.iter().cloned());
        for (t, tally) in &outcome.tallies {
            let sum = total.tallies.entry(t).or_default();
            sum.flows += tally.flows;
            sum.packets += tally.packets;
            sum.out_of_scope += tally.out_of_scope;
            sum.allowed += tally.allowed;
            sum.approximated += tally.approximated;
            sum.relaxed += tally.relaxed;
            sum.ambiguous += tally.ambiguous;
        }
        // One minimised case per estate and kind of failure.
        let mut seen = BTreeSet::new();
        for problem in &outcome.problems {
            if !seen.insert((problem.kind, problem.target)) {
                continue;
            }
            let (small, small_problem, tried) = minimise::minimise(model, kinds, problem);
            let report = match minimise::write_case(out, &small, &small_problem) {
                Ok(dir) => format!(
                    "estate #{i}: {small_problem}\nminimised in {tried} tries to {} parts, written to {}\n{}",
                    small.size(),
                    dir.display(),
                    minimise::show(&dir)
                ),
                Err(e) => format!("estate #{i}: {small_problem}\n(cannot write the case: {e})"),
            };
            reports.push(report);
        }
        total.problems.extend(outcome.problems);
    }
    (total, reports)
}

#[test]
fn estates_decide_alike_on_every_engine() {
    let cases = env_number("SEG_DIFF_CASES", 64) as usize;
    let seed = env_number("SEG_DIFF_SEED", 8);
    let cfg = EstateConfig::default();
    let models = models(cfg, cases, seed);
    let (total, reports) = run(&models, &ENGINES, &minimise::out_root());
    for (t, tally) in &total.tallies {
        eprintln!("{t}: {tally:?}");
    }
    assert!(
        reports.is_empty(),
        "{} problems in {cases} estates (seed {seed}); minimised cases:\n\n{}",
        total.problems.len(),
        reports.join("\n\n")
    );
    // The run must have exercised what it claims to check.
    let opa = &total.tallies["opa"];
    assert!(opa.flows >= cases * 60, "only {} OPA flows", opa.flows);
    assert!(
        opa.allowed * 10 >= opa.flows,
        "too few allowed flows: {opa:?}"
    );
    for t in ["aws", "gcp"] {
        let tally = &total.tallies[t];
        assert!(tally.packets >= cases * 40, "{t}: {tally:?}");
        assert!(
            tally.allowed > 0 && tally.approximated > 0,
            "{t}: {tally:?}"
        );
    }
    let relaxed: usize = total.tallies.values().map(|t| t.relaxed).sum();
    assert!(relaxed > 0, "no flow went through a `layered` relaxation");
}

/// Every generated estate compiles; the deliberate warnings all occur.
#[test]
fn generated_estates_compile_with_their_warnings() {
    let models = models(EstateConfig::default(), 40, 99);
    let mut warnings = BTreeSet::new();
    for (i, m) in models.iter().enumerate() {
        let estate = m.render();
        let dir = tempfile::tempdir().expect("temp dir");
        match check::build(&estate, dir.path(), &[]) {
            Ok(built) => warnings.extend(
                built
                    .diags
                    .iter()
                    .filter_map(|d| d.code.map(|c| c.as_str())),
            ),
            Err(p) => panic!(
                "generated estate #{i} does not build: {p}\n{}",
                dump(&estate)
            ),
        }
    }
    for code in [
        "W0101", "W0102", "W0103", "W0301", "W0302", "W0303", "W0304", "W0305", "W0306", "W0307",
        "W0310", "W0401", "W0402", "W0403", "W0404", "W0405", "W0420",
    ] {
        assert!(
            warnings.contains(code),
            "no generated estate raised {code}: {warnings:?}"
        );
    }
}

fn dump(estate: &Estate) -> String {
    estate
        .files
        .iter()
        .map(|(p, t)| format!("---- {p}\n{t}"))
        .collect()
}

/// A planted over-permissive engine (it allows everything) is caught, and
/// the case is minimised to a small folder that replays the failure.
#[test]
fn a_planted_over_permissive_engine_is_caught_and_minimised() {
    let planted = [EngineKind::AllowAll("opa")];
    let models = models(EstateConfig::default(), 1, 3);
    let out = tempfile::tempdir().expect("temp dir");
    let (total, reports) = run(&models, &planted, out.path());
    assert!(
        total
            .problems
            .iter()
            .any(|p| p.kind == Kind::OverPermissive && p.target == "opa"),
        "the planted engine was not caught: {:?}",
        total.problems
    );
    assert_eq!(reports.len(), 1, "{reports:?}");
    let dir = out.path().join("1");
    let written = Estate::read(&dir).expect("the case folder reads back");
    assert_eq!(written.flows.len(), 1, "{}", reports[0]);
    let policy_rules: usize = written
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("policy/p"))
        .map(|(_, t)| t.matches("allow ").count() + t.matches("deny ").count())
        .sum();
    assert!(
        policy_rules <= 1,
        "the case kept {policy_rules} rules:\n{}",
        reports[0]
    );
    let names: usize = written
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("inventory"))
        .map(|(_, t)| t.matches("- name:").count() + t.matches("\"name\":").count())
        .sum();
    assert!(
        names <= 2,
        "the case kept {names} identities:\n{}",
        reports[0]
    );
    // The folder replays: the planted engine still fails on it, the real one does not.
    let again = check::check(&written, &planted);
    assert!(
        again
            .problems
            .iter()
            .any(|p| p.kind == Kind::OverPermissive)
    );
    let real = check::check(&written, &[EngineKind::Opa]);
    assert!(real.problems.is_empty(), "{:?}", real.problems);
    assert!(
        written.files.contains_key("policy/replay.seg"),
        "{}",
        reports[0]
    );
}

/// Source rules (`allow`/`deny` lines) in a case's policy files.
fn source_rules(estate: &Estate) -> (usize, usize) {
    let lines = estate
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("policy/p"))
        .flat_map(|(_, t)| t.lines().map(str::trim_start).collect::<Vec<_>>());
    lines.fold((0, 0), |(a, d), l| {
        (
            a + usize::from(l.starts_with("allow ")),
            d + usize::from(l.starts_with("deny ")),
        )
    })
}

/// A subtler planted bug, an engine blind to denies, is minimised to one
/// allow and the one deny carved out of it.
#[test]
fn a_planted_deny_blind_engine_is_minimised_to_an_allow_and_its_deny() {
    let planted = [EngineKind::DenyBlind("gcp")];
    let out = tempfile::tempdir().expect("temp dir");
    // The first estate whose flows hit a deny inside an allow.
    let failing = models(EstateConfig::default(), 20, 5)
        .into_iter()
        .find(|m| !check::check(&m.render(), &planted).problems.is_empty())
        .expect("an estate with a deny carved out of an allow");
    let (_, reports) = run(std::slice::from_ref(&failing), &planted, out.path());
    assert_eq!(reports.len(), 1, "{reports:?}");
    let written = Estate::read(&out.path().join("1")).expect("the case folder reads back");
    assert_eq!(source_rules(&written), (1, 1), "{}", reports[0]);
    assert_eq!(written.flows.len(), 1, "{}", reports[0]);
    let real = check::check(&written, &ENGINES);
    assert!(real.problems.is_empty(), "{:?}", real.problems);
}

fn regression_dirs() -> Vec<PathBuf> {
    seg_tests::projects(&Path::new(env!("CARGO_MANIFEST_DIR")).join("differential/regressions"))
}

/// Every committed case under `tests/differential/regressions/` passes the
/// same checks (copy a failure folder there to keep it as a regression).
#[test]
fn regressions_replay() {
    let dirs = regression_dirs();
    assert!(!dirs.is_empty(), "no committed regression case");
    let mut failures = BTreeMap::new();
    for dir in &dirs {
        let estate = Estate::read(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert!(!estate.flows.is_empty(), "{}: no flows.json", dir.display());
        // Its `test` block holds: the recorded decisions are the reference's.
        let tmp = tempfile::tempdir().expect("temp dir");
        let built = check::build(&estate, tmp.path(), &[])
            .unwrap_or_else(|p| panic!("{}: {p}", dir.display()));
        for t in &built.program.tests {
            for e in &t.expectations {
                let allowed = seg_ir::eval::decide(&built.program, &e.flow).allowed;
                assert_eq!(
                    allowed,
                    e.decision == seg_ir::Action::Allow,
                    "{}: {}:{} does not hold",
                    dir.display(),
                    e.file,
                    e.line
                );
            }
        }
        let outcome = check::check(&estate, &ENGINES);
        if !outcome.problems.is_empty() {
            let text: Vec<String> = outcome.problems.iter().map(ToString::to_string).collect();
            failures.insert(dir.display().to_string(), text);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
