//! Shared helpers of the OPA bundle verification (`opa_*.rs`): load a bundle
//! from its tarball the way OPA does and evaluate it with an independent Rego
//! engine (the `regorus` crate), build inputs from flows, and hand-built
//! programs that exercise every condition kind.

#![allow(dead_code)]

pub mod bundle;
pub mod fixtures;
pub mod inputs;

use seg_diag::Diagnostics;
use seg_ir::backend::{OpaOptions, SigningKey};
use seg_ir::capability::{self, Prepared};
use seg_ir::{Artifact, Backend, ConditionClass, Program, TargetOptions};

/// `program` through the capability pass for `opa`, then emitted; panics on
/// any error diagnostic.
pub fn emit<'p>(
    program: &'p Program,
    layered: &[ConditionClass],
    signing: Option<SigningKey>,
) -> (Prepared<'p>, Vec<Artifact>) {
    let mut diags = Diagnostics::new();
    let prepared = capability::prepare(program, &seg_opa::Opa, layered, &mut diags);
    let emission = seg_opa::Opa.emit(
        &prepared.program,
        &TargetOptions::Opa(OpaOptions { signing }),
        &mut diags,
    );
    let errors: Vec<_> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    assert!(errors.is_empty(), "opa emission failed: {errors:?}");
    (prepared, emission.artifacts)
}

/// The contents of one artifact.
pub fn artifact<'a>(artifacts: &'a [Artifact], path: &str) -> &'a [u8] {
    &artifacts
        .iter()
        .find(|a| a.path == path)
        .unwrap_or_else(|| panic!("no artifact `{path}`"))
        .contents
}

/// The reason the bundle gives when the reference decides `d` on `flow`: the
/// reference's words with rules named by id (in id order, as OPA's sets
/// list them), except that a default deny names the endpoint that no rule's
/// set (of either side) contains, when there is one.
pub fn reason(
    program: &Program,
    flow: &seg_ir::Flow,
    d: &seg_ir::eval::Decision,
) -> serde_json::Value {
    let covered = |e: seg_ir::FlowEndpoint| {
        matches!(e, seg_ir::FlowEndpoint::Identity(_))
            || program.rules.iter().any(|r| {
                seg_ir::eval::member(program, &r.src, e) || seg_ir::eval::member(program, &r.dst, e)
            })
    };
    let text = if !d.deciding.is_empty() {
        let ids = rule_ids(program, &d.deciding).join(", ");
        if d.allowed {
            format!("allowed by {ids}")
        } else {
            format!("denied by {ids}")
        }
    } else if !covered(flow.src) {
        "denied by default: no rule covers the source".to_string()
    } else if !covered(flow.dst) {
        "denied by default: no rule covers the destination".to_string()
    } else {
        d.reason(program)
    };
    serde_json::json!(text)
}

/// The ids of `rules`, sorted (the order of a set of strings in Rego).
pub fn rule_ids(program: &Program, rules: &[seg_ir::RuleId]) -> Vec<String> {
    let mut ids: Vec<String> = rules
        .iter()
        .map(|r| program.rules[r.0 as usize].provenance.id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// `decision.matched` for the rules the reference matched.
pub fn matched(program: &Program, rules: &[seg_ir::RuleId]) -> serde_json::Value {
    serde_json::Value::Array(
        rule_ids(program, rules)
            .into_iter()
            .map(|id| serde_json::json!({ "rule": id }))
            .collect(),
    )
}
