//! The bank example (`examples/bank`) checks with no errors and no
//! `missing-owner` (set to `deny` in its seg.toml), and lowers to the IR
//! snapshotted here in full, at `--now 2026-11-24T00:00:00Z`.

mod check_util;

use check_util::{dump, run};

fn bank() -> check_util::Outcome {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/bank");
    let inventory =
        std::fs::read_to_string(format!("{root}/inventory.yaml")).expect("bank inventory");
    let policy =
        std::fs::read_to_string(format!("{root}/policy/payments.seg")).expect("bank policy");
    run(&inventory, &[("policy/payments.seg", &policy)])
}

#[test]
fn bank_checks_without_errors_or_missing_owners() {
    let out = bank();
    assert!(out.program.is_some(), "{}", out.rendered());
    assert!(!out.codes().contains(&"W0301"), "{}", out.rendered());
    assert!(
        out.diags.is_empty(),
        "the bank example is clean:\n{}",
        out.rendered()
    );
}

#[test]
fn bank_rules_in_brief() {
    insta::assert_snapshot!(dump(bank().program()));
}

#[test]
fn bank_ir() {
    let out = bank();
    let p = out.program();
    assert_eq!(p.identities.len(), 9);
    assert_eq!(p.rules.len(), 5);
    assert!(p.omitted.is_empty());
    assert_eq!(p.tests.len(), 1);
    assert_eq!(p.tests[0].expectations.len(), 8);
    insta::assert_yaml_snapshot!(p);
}

#[test]
fn bank_expectations_hold_in_the_reference_evaluator() {
    let out = bank();
    let p = out.program();
    for t in &p.tests {
        for e in &t.expectations {
            let d = seg_ir::eval::decide(p, &e.flow);
            let want = e.decision == seg_ir::Action::Allow;
            assert_eq!(
                d.allowed, want,
                "{}:{} in test {:?}: {:?}",
                e.file, e.line, t.name, d
            );
        }
    }
}
