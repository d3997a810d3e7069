//! The bank example (`examples/bank`) checks with no errors and no
//! `missing-owner` (set to `deny` in its seg.toml), and lowers (both policy
//! files) to the IR snapshotted here in full, at `--now 2026-11-24T00:00:00Z`.

mod check_util;

use check_util::{dump, run};

fn bank() -> check_util::Outcome {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/bank");
    let inventory =
        std::fs::read_to_string(format!("{root}/inventory.yaml")).expect("bank inventory");
    let files: Vec<(String, String)> = ["policy/cluster.seg", "policy/payments.seg"]
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(format!("{root}/{f}")).expect("bank policy");
            (f.to_string(), text)
        })
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    run(&inventory, &files)
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
    assert_eq!(p.rules.len(), 8);
    assert!(p.omitted.is_empty());
    let expectations: Vec<usize> = p.tests.iter().map(|t| t.expectations.len()).collect();
    assert_eq!(expectations, [6, 8]);
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
