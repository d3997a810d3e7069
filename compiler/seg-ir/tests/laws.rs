//! Laws of the reference semantics, the capability pass and deny subtraction,
//! checked on random small programs and flows aimed at their boundaries.

mod common;

use common::TestBackend;
use common::strategies::{self as sg, GenConfig};
use proptest::prelude::*;
use seg_diag::{Code, Diagnostics};
use seg_ir::capability::{nnf, prepare, simplify, substitute};
use seg_ir::eval::{Evaluator, decide, matches};
use seg_ir::grants::{grant_allows, subtract_denies};
use seg_ir::time::SECONDS_PER_DAY;
use seg_ir::{
    Action, Capabilities, Condition, ConditionClass, Expiry, Flow, FlowEndpoint, IdentityId,
    Program, Rule, RuleId, Timestamp,
};
use std::collections::BTreeSet;

fn labels(p: &Program, ids: &[RuleId]) -> BTreeSet<String> {
    ids.iter()
        .map(|id| p.rules[id.0 as usize].provenance.label.clone())
        .collect()
}

/// A program, flows, and one more rule of the given action.
fn with_extra(action: Action) -> impl Strategy<Value = (Program, Vec<Flow>, Rule)> {
    sg::program(GenConfig::default()).prop_flat_map(move |p| {
        let extra = sg::rule(&p.identities, GenConfig::default()).prop_map(move |mut r| {
            r.action = action;
            r
        });
        let flows = prop::collection::vec(sg::flow(&p), 24);
        (Just(p), flows, extra)
    })
}

/// The program as a target honouring these layered classes must behave:
/// in the simplified NNF of each condition, layered literals it cannot
/// enforce count as satisfied.
fn layered_reference(p: &Program, caps: Capabilities, layered: &[ConditionClass]) -> Program {
    let mut r = p.clone();
    for rule in &mut r.rules {
        rule.condition = simplify(substitute(&simplify(nnf(&rule.condition)), &mut |a| {
            let c = a.class();
            (!caps.supports(c) && caps.honours_layered && layered.contains(&c))
                .then_some(Condition::True)
        }));
    }
    r
}

/// Identities with an address overlapping another identity's.
fn overlapping_identities(p: &Program) -> BTreeSet<IdentityId> {
    let mut out = BTreeSet::new();
    for a in &p.identities {
        for b in &p.identities {
            let meet = a
                .addresses
                .iter()
                .any(|x| b.addresses.iter().any(|y| x.contains(y) || y.contains(x)));
            if a.id != b.id && meet {
                out.insert(a.id);
            }
        }
    }
    out
}

fn atoms_supported(c: &Condition, caps: Capabilities) -> bool {
    match c {
        Condition::True | Condition::False => true,
        Condition::And(cs) | Condition::Or(cs) => cs.iter().all(|c| atoms_supported(c, caps)),
        Condition::Not(c) => atoms_supported(c, caps),
        Condition::Atom(a) => caps.supports(a.class()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn indexed_evaluator_agrees_with_the_scan((p, flows) in sg::program_and_flows(GenConfig::default(), 32)) {
        let ev = Evaluator::new(&p);
        for f in &flows {
            prop_assert_eq!(ev.decide(f), decide(&p, f), "{:?}", f);
        }
    }

    #[test]
    fn decision_fields_are_consistent((p, flows) in sg::program_and_flows(GenConfig::default(), 32)) {
        for f in &flows {
            let d = decide(&p, f);
            let denied_by_deny = d.matched.iter().any(|id| p.rules[id.0 as usize].action == Action::Deny);
            let some_allow = d.matched.iter().any(|id| p.rules[id.0 as usize].action == Action::Allow);
            prop_assert_eq!(d.allowed, some_allow && !denied_by_deny);
            prop_assert!(d.deciding.iter().all(|id| d.matched.contains(id)));
            let want = if denied_by_deny { Action::Deny } else { Action::Allow };
            prop_assert!(d.deciding.iter().all(|id| p.rules[id.0 as usize].action == want));
            prop_assert_eq!(d.deciding.is_empty(), !some_allow && !denied_by_deny);
        }
    }

    #[test]
    fn adding_a_deny_never_allows_more((p, flows, deny) in with_extra(Action::Deny)) {
        let mut q = p.clone();
        sg::push_rule(&mut q, deny);
        for f in &flows {
            prop_assert!(!decide(&q, f).allowed || decide(&p, f).allowed, "{:?}", f);
        }
    }

    #[test]
    fn adding_an_allow_never_denies_more((p, flows, allow) in with_extra(Action::Allow)) {
        let mut q = p.clone();
        sg::push_rule(&mut q, allow);
        for f in &flows {
            prop_assert!(!decide(&p, f).allowed || decide(&q, f).allowed, "{:?}", f);
        }
    }

    #[test]
    fn rule_order_changes_nothing(
        (p, flows, order) in sg::program_and_flows(GenConfig::default(), 24).prop_flat_map(|(p, f)| {
            let order = Just((0..p.rules.len()).collect::<Vec<_>>()).prop_shuffle();
            (Just(p), Just(f), order)
        })
    ) {
        let mut q = p.clone();
        q.rules = order.iter().enumerate().map(|(i, &j)| {
            let mut r = p.rules[j].clone();
            r.id = RuleId(i as u32);
            r
        }).collect();
        for f in &flows {
            let (a, b) = (decide(&p, f), decide(&q, f));
            prop_assert_eq!(a.allowed, b.allowed);
            prop_assert_eq!(labels(&p, &a.matched), labels(&q, &b.matched));
            prop_assert_eq!(labels(&p, &a.deciding), labels(&q, &b.deciding));
        }
    }

    #[test]
    fn an_expired_rule_changes_nothing((p, flows, extra) in with_extra(Action::Allow), deny in any::<bool>()) {
        let mut q = p.clone();
        let mut extra = extra;
        extra.action = if deny { Action::Deny } else { Action::Allow };
        let expires = if deny {
            Expiry::Day(p.now.date().add_days(-1))
        } else {
            Expiry::Instant(Timestamp(p.now.0 - 3600))
        };
        extra.expires = Some(expires);
        sg::push_rule(&mut q, extra);
        for f in flows.iter().filter(|f| f.at >= expires.end()) {
            let (a, b) = (decide(&p, f), decide(&q, f));
            prop_assert_eq!(a, b);
        }
    }

    /// Second precision: a rule that expires at the instant `t` decides like
    /// the same rule without expiry up to `t - 1 s`, and like no rule from `t` on.
    #[test]
    fn an_instant_expiry_ends_to_the_second(
        (p, flows, extra) in with_extra(Action::Allow),
        deny in any::<bool>(),
        offset in -2 * SECONDS_PER_DAY..3 * SECONDS_PER_DAY,
    ) {
        let t = Timestamp(p.now.0 + offset);
        let mut unbounded = extra;
        unbounded.action = if deny { Action::Deny } else { Action::Allow };
        unbounded.expires = None;
        let mut timed = unbounded.clone();
        timed.expires = Some(Expiry::Instant(t));
        let (mut with_unbounded, mut with_timed) = (p.clone(), p.clone());
        sg::push_rule(&mut with_unbounded, unbounded.clone());
        sg::push_rule(&mut with_timed, timed.clone());
        for f in &flows {
            let at = |s: i64| Flow { at: Timestamp(s), ..f.clone() };
            let (before, gone, after) = (at(t.0 - 1), at(t.0), at(t.0 + 1));
            prop_assert_eq!(matches(&p, &timed, &before), matches(&p, &unbounded, &before));
            prop_assert!(!matches(&p, &timed, &gone));
            prop_assert!(!matches(&p, &timed, &after));
            prop_assert_eq!(decide(&with_timed, &before).allowed, decide(&with_unbounded, &before).allowed);
            prop_assert_eq!(decide(&with_timed, &gone).allowed, decide(&p, &gone).allowed);
            prop_assert_eq!(decide(&with_timed, &after).allowed, decide(&p, &after).allowed);
        }
    }

    #[test]
    fn the_capability_pass_never_allows_more(
        (p, flows) in sg::program_and_flows(GenConfig::default(), 24),
        caps in sg::capabilities(),
        layered in sg::layered(),
        unrepresentable in prop::collection::btree_set(0u32..6, 0..3),
    ) {
        let backend = TestBackend {
            name: "test",
            caps,
            unrepresentable: unrepresentable.into_iter().map(IdentityId).collect(),
        };
        let mut diags = Diagnostics::new();
        let prepared = prepare(&p, &backend, &layered, &mut diags);
        for d in diags.iter().filter(|d| d.is_error()) {
            // Only an explicitly named identity the target cannot represent is an error.
            prop_assert_eq!(d.code, Some(Code::UnrepresentableIdentity));
        }
        let q = &prepared.program;
        for (i, r) in q.rules.iter().enumerate() {
            prop_assert_eq!(r.id, RuleId(i as u32));
            prop_assert!(atoms_supported(&r.condition, caps), "{:?}", r.condition);
            prop_assert!(caps.deny || r.action == Action::Allow || r.condition == Condition::True);
        }
        let reference = layered_reference(&p, caps, &layered);
        for f in &flows {
            prop_assert!(!decide(q, f).allowed || decide(&reference, f).allowed, "{:?}", f);
        }
        // Rule by rule: a prepared allow matches no more, a prepared deny no
        // less (for flows the target can carry: no unrepresentable identity).
        let carried = |f: &&Flow| {
            [f.src, f.dst].iter().all(|e| !matches!(e, FlowEndpoint::Identity(i) if backend.unrepresentable.contains(i)))
        };
        for r in &reference.rules {
            let prepared = q.rules.iter().find(|x| x.provenance.label == r.provenance.label);
            for f in flows.iter().filter(carried) {
                let was = matches(&reference, r, f);
                let now = prepared.is_some_and(|x| matches(q, x, f));
                match r.action {
                    Action::Allow => prop_assert!(!now || was, "{} {:?}", r.provenance.label, f),
                    Action::Deny => prop_assert!(!was || now, "{} {:?}", r.provenance.label, f),
                }
            }
        }
        if !caps.deny {
            let grants = subtract_denies(q);
            for f in &flows {
                prop_assert!(!grant_allows(q, &grants, f) || decide(&reference, f).allowed, "{:?}", f);
            }
        }
    }

    #[test]
    fn the_capability_pass_changes_nothing_on_a_full_target(
        (p, flows) in sg::program_and_flows(GenConfig::default(), 24),
        layered in sg::layered(),
    ) {
        let backend = TestBackend::new("full", common::FULL);
        let mut diags = Diagnostics::new();
        let prepared = prepare(&p, &backend, &layered, &mut diags);
        prop_assert!(diags.iter().all(|d| d.code == Some(Code::NothingManaged)), "{:?}", diags);
        prop_assert!(prepared.approximations.is_empty());
        for f in &flows {
            let (a, b) = (decide(&p, f), decide(&prepared.program, f));
            prop_assert_eq!(a.allowed, b.allowed);
            prop_assert_eq!(labels(&p, &a.deciding), labels(&prepared.program, &b.deciding));
        }
    }

    #[test]
    fn grants_allow_exactly_what_the_program_allows(
        (p, flows) in sg::program_and_flows(
            GenConfig { overlapping_addresses: false, conditional_denies: false, ..GenConfig::default() }, 32)
    ) {
        let mut p = p;
        for r in p.rules.iter_mut().filter(|r| r.action == Action::Deny) {
            r.expires = None;
        }
        let grants = subtract_denies(&p);
        prop_assert_eq!(&grants, &subtract_denies(&p));
        for g in &grants {
            prop_assert!(!g.services.is_empty());
            prop_assert!(!g.src.identities.is_empty() || !g.src.networks.is_empty());
            prop_assert!(!g.dst.identities.is_empty() || !g.dst.networks.is_empty());
            prop_assert_eq!(p.rules[g.rule.0 as usize].action, Action::Allow);
        }
        for f in &flows {
            prop_assert_eq!(grant_allows(&p, &grants, f), decide(&p, f).allowed, "{:?}", f);
        }
    }

    #[test]
    fn grants_are_exact_except_for_identities_with_overlapping_addresses(
        (p, flows) in sg::program_and_flows(GenConfig { conditional_denies: false, ..GenConfig::default() }, 32)
    ) {
        let mut p = p;
        for r in p.rules.iter_mut().filter(|r| r.action == Action::Deny) {
            r.expires = None;
        }
        let overlapping = overlapping_identities(&p);
        let grants = subtract_denies(&p);
        for f in &flows {
            let exact = [f.src, f.dst].iter().all(|e| !matches!(e, FlowEndpoint::Identity(i) if overlapping.contains(i)));
            let (g, d) = (grant_allows(&p, &grants, f), decide(&p, f).allowed);
            if exact {
                prop_assert_eq!(g, d, "{:?}", f);
            } else {
                prop_assert!(!g || d, "{:?}", f);
            }
        }
    }

    #[test]
    fn grants_never_allow_more((p, flows) in sg::program_and_flows(GenConfig::default(), 32)) {
        let grants = subtract_denies(&p);
        for f in &flows {
            prop_assert!(!grant_allows(&p, &grants, f) || decide(&p, f).allowed, "{:?}", f);
        }
    }
}
