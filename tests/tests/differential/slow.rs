//! The slow engines of the differential — Kubernetes (network-config-analyzer
//! over a topology generated from the inventory, `kube.rs`), iptables and
//! nftables (the kernel in network namespaces, `netns.rs`) — on a bounded
//! sample of smaller estates: the same generator, checks, minimiser and
//! regression folders as the other engines (`differential.rs`).
//!
//! Budget: `SEG_DIFF_SLOW_CASES` estates (default 24) per engine of up to
//! `SEG_DIFF_SLOW_IDENTITIES` identities (default 6) and 48 flows, from
//! `SEG_DIFF_SLOW_SEED` (default 8); a
//! minimisation tries at most `SEG_DIFF_SLOW_SHRINK` variants (default 150).
//! Missing tools skip with a message, or fail under `CI=true`.

use crate::check::{self, Kind, Outcome};
use crate::engines::{EngineKind, Plant};
use crate::{env_number, minimise, models, regression_dirs, run};
use seg_tests::estate::{Estate, EstateConfig, EstateModel};
use std::collections::BTreeMap;

/// Estates small enough for seconds per engine run: the analyzer's topology
/// stays under 20 pods, the lab under 8 namespaces.
fn small() -> EstateConfig {
    EstateConfig {
        max_identities: env_number("SEG_DIFF_SLOW_IDENTITIES", 6) as usize,
        max_segments: 3,
        max_policies: 2,
        max_rules_per_policy: 4,
        flows: 48,
        // Shared addresses are ambiguous on a wire: those flows would be left out.
        overlapping_addresses: false,
    }
}

fn kubernetes_here(test: &str) -> bool {
    if crate::k8s::tools::nca().is_some() {
        return true;
    }
    eprintln!("skipping {test}");
    false
}

fn iptables_here(test: &str) -> bool {
    crate::iptables::lab::tools_or_skip(test)
}

/// The sample through one slow engine; panics with the minimised cases.
fn sample(kind: EngineKind) -> Outcome {
    let cases = env_number("SEG_DIFF_SLOW_CASES", 24) as usize;
    let seed = env_number("SEG_DIFF_SLOW_SEED", 8);
    let started = std::time::Instant::now();
    let models = models(small(), cases, seed);
    let (total, reports) = run(&models, &[kind], &minimise::out_root());
    let t = kind.target();
    eprintln!(
        "{t}: {cases} estates (seed {seed}) in {:?}: {:?}",
        started.elapsed(),
        total.tallies.get(t)
    );
    assert!(
        reports.is_empty(),
        "{t}: {} problems in {cases} estates (seed {seed}); minimised cases:\n\n{}",
        total.problems.len(),
        reports.join("\n\n")
    );
    total
}

#[test]
fn kubernetes_decides_like_the_reference_on_estates() {
    if !kubernetes_here("kubernetes_decides_like_the_reference_on_estates") {
        return;
    }
    let total = sample(EngineKind::Kubernetes);
    let k = &total.tallies["kubernetes"];
    // The run must have exercised what it claims to check.
    assert!(k.packets >= k.flows / 4, "{k:?}");
    assert!(
        k.allowed > 0 && k.allowed < k.flows - k.out_of_scope,
        "{k:?}"
    );
    assert!(k.approximated > 0, "{k:?}");
}

#[test]
fn iptables_decides_like_the_reference_on_estates() {
    if !iptables_here("iptables_decides_like_the_reference_on_estates") {
        return;
    }
    let total = sample(EngineKind::Iptables);
    let t = &total.tallies["iptables"];
    assert!(t.packets >= t.flows / 4, "{t:?}");
    assert!(
        t.allowed > 0 && t.allowed < t.flows - t.out_of_scope,
        "{t:?}"
    );
}

#[test]
fn nftables_decides_like_the_reference_on_estates() {
    if !crate::iptables::lab::nft_or_skip("nftables_decides_like_the_reference_on_estates") {
        return;
    }
    let total = sample(EngineKind::Nftables);
    let t = &total.tallies["nftables"];
    assert!(t.packets >= t.flows / 4, "{t:?}");
    assert!(
        t.allowed > 0 && t.allowed < t.flows - t.out_of_scope,
        "{t:?}"
    );
}

/// Counts of `allow`/`deny` lines and identities in a case's files.
fn size(estate: &Estate) -> (usize, usize) {
    let rules = estate
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("policy/p"))
        .flat_map(|(_, t)| t.lines().map(str::trim_start).collect::<Vec<_>>())
        .filter(|l| l.starts_with("allow ") || l.starts_with("deny "))
        .count();
    let names = estate
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("inventory"))
        .map(|(_, t)| t.matches("- name:").count() + t.matches("\"name\":").count())
        .sum();
    (rules, names)
}

/// A planted bug in the emitted files is caught by the real engine, and the
/// case minimised to a folder of one flow and at most `max_rules` rules on
/// which the planted engine still fails and the real one passes.
fn planted_is_caught(plant: Plant, real: EngineKind, cfg: EstateConfig, max_rules: usize) {
    let planted = [EngineKind::Planted(plant)];
    let t = real.target();
    // The first small estate it fails on.
    let failing: EstateModel = models(cfg, 40, 21)
        .into_iter()
        .find(|m| {
            check::check(&m.render(), &planted)
                .problems
                .iter()
                .any(|p| p.kind == Kind::OverPermissive && p.flow.is_some())
        })
        .expect("an estate the planted bug opens");
    let out = tempfile::tempdir().expect("temp dir");
    let started = std::time::Instant::now();
    let (total, reports) = run(std::slice::from_ref(&failing), &planted, out.path());
    eprintln!(
        "{plant:?}: {:?}, {}",
        started.elapsed(),
        reports
            .first()
            .and_then(|r| r.lines().nth(2))
            .unwrap_or_default()
    );
    assert!(
        total
            .problems
            .iter()
            .any(|p| p.kind == Kind::OverPermissive && p.target == t),
        "the planted bug was not caught: {:?}",
        total.problems
    );
    assert_eq!(reports.len(), 1, "{reports:?}");
    let written = Estate::read(&out.path().join("1")).expect("the case folder reads back");
    assert_eq!(written.flows.len(), 1, "{}", reports[0]);
    let (rules, names) = size(&written);
    assert!(
        rules <= max_rules && names <= 2,
        "{rules} rules and {names} identities kept:\n{}",
        reports[0]
    );
    let again = check::check(&written, &planted);
    assert!(
        again
            .problems
            .iter()
            .any(|p| p.kind == Kind::OverPermissive && p.flow.is_some()),
        "{:?}",
        again.problems
    );
    let clean = check::check(&written, &[real]);
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
}

#[test]
fn a_planted_allow_all_network_policy_is_caught_and_minimised() {
    if kubernetes_here("a_planted_allow_all_network_policy_is_caught_and_minimised") {
        planted_is_caught(
            Plant::KubernetesAllowAll,
            EngineKind::Kubernetes,
            small(),
            1,
        );
    }
}

#[test]
fn a_planted_accept_line_is_caught_and_minimised() {
    if iptables_here("a_planted_accept_line_is_caught_and_minimised") {
        planted_is_caught(Plant::IptablesAccept, EngineKind::Iptables, small(), 1);
    }
}

/// Subtler: the deny chains lose their `DROP`s; the case keeps an allow and
/// the deny carved out of it.
#[test]
fn a_planted_carve_out_loss_is_caught_and_minimised() {
    if iptables_here("a_planted_carve_out_loss_is_caught_and_minimised") {
        // Tiny estates: a carve-out takes more shrinking steps than an open door.
        let tiny = EstateConfig {
            max_identities: 3,
            max_policies: 1,
            max_rules_per_policy: 3,
            ..small()
        };
        planted_is_caught(Plant::IptablesDenyDropped, EngineKind::Iptables, tiny, 2);
    }
}

/// The committed regression folders pass on the slow engines too.
#[test]
fn regressions_replay_on_kubernetes_and_iptables() {
    let mut kinds = Vec::new();
    if kubernetes_here("regressions_replay_on_kubernetes_and_iptables (kubernetes)") {
        kinds.push(EngineKind::Kubernetes);
    }
    if iptables_here("regressions_replay_on_kubernetes_and_iptables (iptables)") {
        kinds.push(EngineKind::Iptables);
    }
    if kinds.is_empty() {
        return;
    }
    let dirs = regression_dirs();
    assert!(!dirs.is_empty(), "no committed regression case");
    let mut failures = BTreeMap::new();
    let mut packets: BTreeMap<&str, usize> = BTreeMap::new();
    for dir in &dirs {
        let estate = Estate::read(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let outcome = check::check(&estate, &kinds);
        for (t, tally) in &outcome.tallies {
            *packets.entry(t).or_default() += tally.packets;
        }
        if !outcome.problems.is_empty() {
            let text: Vec<String> = outcome.problems.iter().map(ToString::to_string).collect();
            failures.insert(dir.display().to_string(), text);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // The folders give each engine something to decide.
    for k in &kinds {
        assert!(
            packets.get(k.target()).is_some_and(|n| *n > 0),
            "no regression flow is in scope on {}: {packets:?}",
            k.target()
        );
    }
}
