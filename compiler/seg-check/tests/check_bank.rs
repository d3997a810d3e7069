//! The bank example checks without errors and lowers to the expected IR.

mod check_util;

use check_util::run;

fn bank() -> check_util::Outcome {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/bank");
    let inventory =
        std::fs::read_to_string(format!("{root}/inventory.yaml")).expect("bank inventory");
    let policy =
        std::fs::read_to_string(format!("{root}/policy/payments.seg")).expect("bank policy");
    run(&inventory, &[("policy/payments.seg", &policy)])
}

#[test]
fn bank_checks_without_errors() {
    let out = bank();
    assert!(out.program.is_some(), "{}", out.rendered());
}
