//! Random programs (the shared generator of `seg_tests::gen`: IPv4/IPv6
//! addresses and blocks, overlapping allows and denies, port ranges, time
//! conditions, expiry, layered classes) lowered to iptables and checked packet
//! by packet in network namespaces against the reference on the prepared
//! program. A fixed seed keeps the run reproducible and its length bounded.

mod iptables;

use iptables::fixtures::{self, Case};
use iptables::lab;
use iptables::probe::{self, Flavour};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRng, TestRunner};
use seg_diag::Diagnostics;
use seg_ir::backend::IptablesOptions;
use seg_ir::{Backend, TargetOptions, Timestamp, capability};
use seg_tests::r#gen::{self, GenConfig};

/// How many programs are probed, and flows per program at most.
const PROGRAMS: usize = 6;
const CAP: usize = 250;

/// Programs that pass the capability pass for iptables (a generated rule may
/// name an identity without addresses explicitly: E0401, not our subject).
fn programs() -> Vec<Case> {
    let cfg = GenConfig {
        max_identities: 7,
        max_rules: 10,
        // Two hosts holding one address cannot share a wire.
        overlapping_addresses: false,
        ..GenConfig::default()
    };
    let strategy = (r#gen::program(cfg), r#gen::layered());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let mut out = Vec::new();
    for attempt in 0..200 {
        if out.len() == PROGRAMS {
            break;
        }
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let (program, layered) = tree.current();
        let mut diags = Diagnostics::new();
        let prepared = capability::prepare(&program, &seg_iptables::Iptables, &layered, &mut diags);
        if diags.has_errors() || prepared.program.rules.is_empty() {
            continue;
        }
        out.push(Case {
            name: format!("generated #{attempt} (layered {layered:?})"),
            program: prepared.program.into_owned(),
        });
    }
    out
}

#[test]
fn random_programs_behave_like_the_reference_in_the_kernel() {
    if !lab::tools_or_skip("random_programs_behave_like_the_reference_in_the_kernel") {
        return;
    }
    let cases = programs();
    assert_eq!(
        cases.len(),
        PROGRAMS,
        "the generator gave too few usable programs"
    );
    let (mut probes, mut allowed) = (0, 0);
    for case in &cases {
        let started = std::time::Instant::now();
        let t0 = fixtures::now();
        let t1 = Timestamp(t0.0 + 180);
        let mut diags = Diagnostics::new();
        let opts = TargetOptions::Iptables(IptablesOptions { ipset_threshold: 3 });
        let e = seg_iptables::Iptables.emit(&case.program, &opts, &mut diags);
        assert!(
            !diags.has_errors(),
            "{}: {:?}",
            case.name,
            diags.iter().collect::<Vec<_>>()
        );
        let candidates = fixtures::candidates(&case.program, t0, CAP);
        let plan = probe::plan(&case.program, &candidates, t0, t1);
        let outcomes = probe::execute("rnd", &case.program, &e.artifacts, &plan, Flavour::Nft)
            .unwrap_or_else(|err| panic!("{}: {err}", case.name));
        let bad = probe::mismatches(&case.program, &outcomes);
        let ok = outcomes.iter().filter(|o| o.allowed).count();
        eprintln!(
            "{}: {} rules, {} probes, {ok} allowed, {} not probed, {:?}",
            case.name,
            case.program.rules.len(),
            outcomes.len(),
            plan.skipped.len(),
            started.elapsed()
        );
        assert!(
            bad.is_empty(),
            "{}: kernel and reference disagree on {} of {} flows:\n{}\nprogram:\n{}",
            case.name,
            bad.len(),
            outcomes.len(),
            bad.join("\n"),
            serde_json::to_string_pretty(&case.program.rules).unwrap_or_default()
        );
        probes += outcomes.len();
        allowed += ok;
    }
    assert!(
        allowed > 0 && allowed < probes,
        "only one verdict in {probes} probes"
    );
}
