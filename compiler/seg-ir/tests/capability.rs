//! The fail-closed capability pass: each kind of approximation, its
//! diagnostic, and the condition helpers.

mod common;

use common::*;
use seg_diag::{Code, Diagnostic, Diagnostics, Severity};
use seg_ir::capability::{
    ApproximationKind, Literal, Prepared, disjuncts, equivalent, nnf, prepare, simplify,
};
use seg_ir::eval::decide;
use seg_ir::{
    Action, Atom, Capabilities, Condition, ConditionClass, IdentityId, PortSet, RequestField,
    Value, ValueTest,
};
use std::borrow::Cow;

fn run<'p>(
    p: &'p seg_ir::Program,
    backend: &TestBackend,
    layered: &[ConditionClass],
) -> (Prepared<'p>, Vec<Diagnostic>) {
    let mut d = Diagnostics::new();
    let out = prepare(p, backend, layered, &mut d);
    (out, d.into_vec())
}

fn codes(d: &[Diagnostic]) -> Vec<&'static str> {
    d.iter()
        .filter_map(|d| d.code.map(|c| c.as_str()))
        .collect()
}

fn kinds(p: &Prepared) -> Vec<ApproximationKind> {
    p.approximations.iter().map(|a| a.kind).collect()
}

fn mtls() -> Condition {
    atom(Atom::Mtls)
}

fn night() -> Condition {
    atom(Atom::Time {
        start: tod("22:00"),
        end: tod("02:00"),
    })
}

fn get() -> Condition {
    atom(Atom::Request {
        field: RequestField::Method,
        test: ValueTest::In(vec![Value::String("GET".into())]),
    })
}

#[test]
fn an_allow_needing_what_the_target_lacks_is_omitted_with_w0401() {
    let mut p = base_program();
    add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(5432, 5432),
        mtls(),
    );
    add(
        &mut p,
        Action::Allow,
        ids(&[3]),
        ids(&[1]),
        tcp(5432, 5432),
        Condition::True,
    );
    let (out, d) = run(&p, &TestBackend::new("iptables", L3), &[]);
    assert_eq!(out.program.rules.len(), 1);
    assert_eq!(out.program.rules[0].provenance.label, "gen/2");
    assert_eq!(
        out.program.rules[0].id,
        seg_ir::RuleId(0),
        "ids are renumbered"
    );
    assert_eq!(codes(&d), ["W0401"]);
    assert_eq!(
        d[0].message,
        "rule omitted on `iptables`: cannot enforce `mtls`"
    );
    assert_eq!(d[0].severity, Severity::Warning);
    assert_eq!(d[0].labels[0].span, p.rules[0].provenance.origin);
    assert!(d[0].labels[0].primary);
    assert_eq!(d[0].labels[0].message, "omitted on `iptables`");
    assert!(d[0].notes[0].contains("fail closed"), "{:?}", d[0].notes);
    assert!(
        d[0].help
            .as_deref()
            .is_some_and(|h| h.contains("`[enforcement] layered`"))
    );
    let a = &out.approximations[0];
    assert_eq!(
        (a.target.as_str(), a.rule.as_str(), a.location.as_str()),
        ("iptables", "gen/1", "policy/gen.seg:1")
    );
    assert_eq!(a.kind, ApproximationKind::Omitted);
    assert_eq!(a.reason, "`iptables` cannot enforce `mtls`");
    let json = serde_json::to_string(a).unwrap();
    assert!(json.contains(r#""kind":"omitted""#), "{json}");
}

#[test]
fn a_layered_class_counts_as_satisfied_with_w0404() {
    let mut p = base_program();
    add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(5432, 5432),
        Condition::And(vec![mtls(), night()]),
    );
    let (out, d) = run(
        &p,
        &TestBackend::new("iptables", L3),
        &[ConditionClass::Mtls],
    );
    assert_eq!(codes(&d), ["W0404"]);
    assert_eq!(
        d[0].message,
        "`mtls` assumed enforced by another layer on `iptables`"
    );
    assert_eq!(kinds(&out), [ApproximationKind::Layered]);
    assert_eq!(
        out.program.rules[0].condition,
        night(),
        "time stays: iptables enforces it"
    );

    // Not on a target that enforces the class itself, nor on one that does not honour layering.
    let (out, d) = run(&p, &TestBackend::new("opa", FULL), &[ConditionClass::Mtls]);
    assert!(d.is_empty() && out.approximations.is_empty());
    assert_eq!(
        out.program.rules[0].condition,
        Condition::And(vec![mtls(), night()])
    );
    let strict = Capabilities {
        honours_layered: false,
        ..L3
    };
    let (out, d) = run(
        &p,
        &TestBackend::new("strict", strict),
        &[ConditionClass::Mtls],
    );
    assert_eq!(codes(&d), ["W0401"]);
    assert!(out.program.rules.is_empty());
}

#[test]
fn an_alternative_the_target_cannot_see_narrows_the_allow_with_w0402() {
    let mut p = base_program();
    add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(443, 443),
        Condition::Or(vec![night(), get()]),
    );
    let (out, d) = run(&p, &TestBackend::new("iptables", L3), &[]);
    assert_eq!(codes(&d), ["W0402"]);
    assert_eq!(
        d[0].message,
        "rule narrowed on `iptables`: cannot enforce `request`"
    );
    assert_eq!(kinds(&out), [ApproximationKind::Narrowed]);
    assert_eq!(out.program.rules[0].condition, night());
    // A literal whose replacement changes nothing is not a narrowing.
    let mut q = base_program();
    let absorbed = Condition::Or(vec![night(), Condition::And(vec![night(), get()])]);
    add(
        &mut q,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(443, 443),
        absorbed,
    );
    let (out, d) = run(&q, &TestBackend::new("iptables", L3), &[]);
    assert!(d.is_empty(), "{d:?}");
    assert!(equivalent(&out.program.rules[0].condition, &night()));
}

#[test]
fn a_deny_the_target_cannot_condition_is_widened_with_w0403() {
    let mut p = base_program();
    add(
        &mut p,
        Action::Deny,
        implied(&[0]),
        ids(&[1]),
        PortSet::any(),
        get(),
    );
    add(
        &mut p,
        Action::Deny,
        implied(&[0]),
        ids(&[1]),
        PortSet::any(),
        Condition::And(vec![night(), get()]),
    );
    let (out, d) = run(&p, &TestBackend::new("iptables", L3), &[]);
    assert_eq!(codes(&d), ["W0403", "W0403"]);
    assert_eq!(
        d[0].message,
        "deny applied unconditionally on `iptables`: cannot enforce `request`"
    );
    assert_eq!(
        d[1].message,
        "deny applied with a broader condition on `iptables`: cannot enforce `request`"
    );
    assert_eq!(out.program.rules[0].condition, Condition::True);
    assert_eq!(out.program.rules[1].condition, night());
    assert_eq!(
        kinds(&out),
        [
            ApproximationKind::DenyWidened,
            ApproximationKind::DenyWidened
        ]
    );
    // `not get` in a deny is also replaced by true: the deny applies to every method.
    let mut q = base_program();
    add(
        &mut q,
        Action::Deny,
        implied(&[0]),
        ids(&[1]),
        PortSet::any(),
        not(get()),
    );
    let (out, _) = run(&q, &TestBackend::new("iptables", L3), &[]);
    assert_eq!(out.program.rules[0].condition, Condition::True);
}

#[test]
fn without_native_deny_every_deny_becomes_unconditional() {
    let caps = Capabilities {
        time: true,
        ..NO_DENY
    };
    let mut p = base_program();
    add(
        &mut p,
        Action::Deny,
        implied(&[0]),
        ids(&[1]),
        PortSet::any(),
        night(),
    );
    let (out, d) = run(&p, &TestBackend::new("sg", caps), &[]);
    assert_eq!(codes(&d), ["W0403"]);
    assert_eq!(
        d[0].message,
        "deny applied unconditionally on `sg`: has no deny rules to hold a condition"
    );
    assert_eq!(out.program.rules[0].condition, Condition::True);
}

#[test]
fn unrepresentable_identities_are_an_error_when_named_and_dropped_otherwise() {
    let mut p = base_program();
    add(
        &mut p,
        Action::Allow,
        ids(&[2]),
        ids(&[1]),
        tcp(5432, 5432),
        Condition::True,
    );
    add(
        &mut p,
        Action::Allow,
        implied(&[0, 2]),
        ids(&[1]),
        tcp(5432, 5432),
        Condition::True,
    );
    add(
        &mut p,
        Action::Allow,
        implied(&[2]),
        ids(&[1]),
        tcp(5432, 5432),
        Condition::True,
    );
    let mut backend = TestBackend::new("kubernetes", L3);
    backend.unrepresentable.insert(IdentityId(2));
    let (out, d) = run(&p, &backend, &[]);
    assert_eq!(codes(&d), ["E0401"]);
    let e = &d[0];
    assert_eq!(e.message, "`job` cannot be represented on `kubernetes`");
    assert_eq!(e.labels.len(), 2);
    assert_eq!(
        (e.labels[0].primary, e.labels[0].span),
        (true, p.rules[0].provenance.origin)
    );
    assert_eq!(
        (e.labels[1].primary, e.labels[1].span),
        (false, p.identities[2].origin)
    );
    assert_eq!(
        e.notes,
        ["`job` has no addresses and no `test` binding, so `kubernetes` has no way to refer to it"]
    );
    assert!(e.help.is_some());
    // The implied one is dropped; a rule left with no source is left out.
    let labels: Vec<_> = out
        .program
        .rules
        .iter()
        .map(|r| r.provenance.label.as_str())
        .collect();
    assert_eq!(labels, ["gen/2"]);
    assert!(!out.program.rules[0].src.identities.contains(&IdentityId(2)));
    assert_eq!(
        kinds(&out),
        [
            ApproximationKind::IdentityDropped,
            ApproximationKind::IdentityDropped
        ]
    );
    assert_eq!(
        out.approximations[0].reason,
        "not representable on `kubernetes`, left out: `job` (no addresses and no `test` binding)"
    );
    assert!(
        out.approximations[1]
            .reason
            .ends_with("the rule matches nothing on `kubernetes` and is left out")
    );
}

#[test]
fn a_deny_keeps_the_addresses_of_identities_it_drops() {
    let mut p = base_program();
    add(
        &mut p,
        Action::Allow,
        nets(&["10.0.0.0/8"]),
        ids(&[1]),
        tcp(5432, 5432),
        Condition::True,
    );
    add(
        &mut p,
        Action::Deny,
        implied(&[3]),
        implied(&[1]),
        PortSet::any(),
        Condition::True,
    );
    let mut backend = TestBackend::new("t", L3);
    backend.unrepresentable.insert(IdentityId(3));
    let (out, _) = run(&p, &backend, &[]);
    let deny = &out.program.rules[1];
    assert!(!deny.src.identities.contains(&IdentityId(3)));
    assert!(deny.src.networks.contains_net(&net("10.3.0.0/30")));
    // web's address flows stay denied; they would be allowed by the /8 otherwise.
    let f = flow(&p, addr("10.3.0.2"), id(1), 5432);
    assert!(!decide(&p, &f).allowed && !decide(&out.program, &f).allowed);
}

#[test]
fn a_target_managing_nothing_warns_w0405() {
    let mut p = base_program();
    for i in &mut p.identities {
        i.addresses.clear();
    }
    let (_, d) = run(&p, &TestBackend::new("gcp", L3), &[]);
    assert_eq!(codes(&d), ["W0405"]);
    assert_eq!(d[0].message, "`gcp` manages no identity of this project");
    assert_eq!(d[0].code, Some(Code::NothingManaged));
}

#[test]
fn output_is_deterministic_and_in_rule_order() {
    let mut p = base_program();
    add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(1, 1),
        get(),
    );
    add(
        &mut p,
        Action::Allow,
        implied(&[0, 2]),
        ids(&[1]),
        tcp(2, 2),
        mtls(),
    );
    add(
        &mut p,
        Action::Deny,
        implied(&[2, 3]),
        ids(&[1]),
        tcp(3, 3),
        get(),
    );
    add(
        &mut p,
        Action::Allow,
        implied(&[0, 2]),
        ids(&[1]),
        tcp(2, 2),
        Condition::And(vec![mtls(), night()]),
    );
    let mut backend = TestBackend::new("t", L3);
    backend.unrepresentable.insert(IdentityId(2));
    let (a, da) = run(&p, &backend, &[ConditionClass::Mtls]);
    let (b, db) = run(&p, &backend, &[ConditionClass::Mtls]);
    assert_eq!(a, b);
    assert_eq!(da, db);
    let summary: Vec<_> = a
        .approximations
        .iter()
        .map(|x| (x.rule.as_str(), x.kind.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("gen/1", "omitted"),
            ("gen/2", "identity_dropped"),
            ("gen/2", "layered"),
            ("gen/3", "identity_dropped"),
            ("gen/3", "deny_widened"),
            ("gen/4", "identity_dropped"),
            ("gen/4", "layered"),
        ]
    );
    assert_eq!(codes(&da), ["W0401", "W0404", "W0403", "W0404"]);
}

#[test]
fn nnf_and_simplification() {
    let c = not(Condition::And(vec![
        mtls(),
        Condition::Or(vec![night(), not(get())]),
    ]));
    assert_eq!(
        nnf(&c),
        Condition::Or(vec![not(mtls()), Condition::And(vec![not(night()), get()])])
    );
    assert_eq!(
        simplify(Condition::And(vec![mtls(), Condition::True, mtls()])),
        mtls()
    );
    assert_eq!(
        simplify(Condition::And(vec![mtls(), not(mtls())])),
        Condition::False
    );
    assert_eq!(
        simplify(Condition::Or(vec![mtls(), not(mtls())])),
        Condition::True
    );
    assert_eq!(
        simplify(Condition::Or(vec![Condition::False])),
        Condition::False
    );
    assert_eq!(simplify(Condition::And(vec![])), Condition::True);
    assert_eq!(
        simplify(Condition::And(vec![
            mtls(),
            Condition::And(vec![night(), get()])
        ])),
        Condition::And(vec![mtls(), night(), get()])
    );
    assert_eq!(simplify(not(not(mtls()))), mtls());
    assert!(equivalent(
        &Condition::Or(vec![mtls(), Condition::And(vec![mtls(), get()])]),
        &mtls()
    ));
    assert!(!equivalent(&mtls(), &get()));
}

#[test]
fn disjunctive_normal_form() {
    let lit = |positive, c: Condition| match c {
        Condition::Atom(atom) => Literal { positive, atom },
        _ => unreachable!("atoms only"),
    };
    let c = Condition::And(vec![Condition::Or(vec![mtls(), night()]), not(get())]);
    assert_eq!(
        disjuncts(&c),
        [
            vec![lit(true, mtls()), lit(false, get())],
            vec![lit(true, night()), lit(false, get())]
        ]
    );
    assert_eq!(disjuncts(&Condition::True), [Vec::<Literal>::new()]);
    assert!(disjuncts(&Condition::False).is_empty());
    assert!(disjuncts(&Condition::And(vec![mtls(), not(mtls())])).is_empty());
}

#[test]
fn a_target_without_a_clock_keeps_expiring_rules_until_rebuilt() {
    let mut p = base_program();
    let day = add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(5432, 5432),
        Condition::True,
    );
    p.rules[day.0 as usize].expires = seg_ir::Expiry::parse("2026-12-31");
    let instant = add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(22, 22),
        Condition::True,
    );
    p.rules[instant.0 as usize].expires = seg_ir::Expiry::parse("2026-12-06T16:00:00+01:00");
    // Left out on the target (its condition cannot hold there): not kept.
    let omitted = add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(23, 23),
        mtls(),
    );
    p.rules[omitted.0 as usize].expires = seg_ir::Expiry::parse("2026-12-01");
    add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(80, 80),
        Condition::True,
    );

    let (clockless, _) = run(&p, &TestBackend::new("nop", NO_DENY), &[]);
    let kept: Vec<(String, String)> = clockless
        .until_rebuilt
        .iter()
        .map(|k| (k.rule.clone(), k.expires.to_string()))
        .collect();
    assert_eq!(
        kept,
        [
            ("gen/1".to_string(), "2026-12-31".to_string()),
            ("gen/2".to_string(), "2026-12-06T15:00:00Z".to_string()),
        ]
    );
    assert_eq!(
        clockless.rebuild_by().map(|t| t.to_string()),
        Some("2026-12-06T15:00:00Z".to_string())
    );

    let (with_clock, _) = run(&p, &TestBackend::new("l3", L3), &[]);
    assert!(with_clock.until_rebuilt.is_empty());
    assert_eq!(with_clock.rebuild_by(), None);
}

#[test]
fn a_program_the_pass_leaves_as_it_is_is_borrowed_not_copied() {
    let mut p = base_program();
    add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(443, 443),
        night(),
    );
    add(
        &mut p,
        Action::Deny,
        ids(&[3]),
        ids(&[1]),
        PortSet::any(),
        Condition::True,
    );
    let (out, d) = run(&p, &TestBackend::new("iptables", L3), &[]);
    assert!(d.is_empty(), "{d:?}");
    assert!(matches!(out.program, Cow::Borrowed(_)), "copied");
    assert_eq!(*out.program, p);

    // Any change, and the program is the pass's own: a condition narrowed,
    // a rule left out, a deny widened.
    let mut q = p.clone();
    q.rules[0].condition = Condition::Or(vec![night(), mtls()]);
    let (out, _) = run(&q, &TestBackend::new("iptables", L3), &[]);
    assert!(matches!(out.program, Cow::Owned(_)));
    assert_eq!(out.program.rules[0].condition, night());
    let (out, _) = run(&p, &TestBackend::new("iptables", NO_DENY), &[]);
    assert!(matches!(out.program, Cow::Owned(_)));
    assert_eq!(out.program.rules.len(), 1, "the allow needs time");
    assert_eq!(out.program.rules[0].id, seg_ir::RuleId(0));
    assert_eq!(out.program.rules[0].provenance, p.rules[1].provenance);
}
