//! The partition agrees with the reference evaluator on random programs:
//! for every boundary flow, the rules `Space::rules_between` gives for the
//! flow's classes (restricted to the program and the port) are exactly the
//! rules whose sets and services hold the flow; and `context::compare`
//! finds a difference wherever one shows on a grid of boundary contexts,
//! with witnesses that really differ.

#[path = "../../../tests/src/gen.rs"]
#[allow(dead_code)]
mod strategies;

use proptest::prelude::*;
use seg_ir::eval::member;
use seg_ir::{Condition, FlowEndpoint, Program, Rule, Timestamp, Value};
use seg_space::Space;
use seg_space::context::{self, Context, Extent, Guard};
use std::collections::BTreeMap;
use strategies::{self as sg, GenConfig};

fn cfg() -> GenConfig {
    GenConfig {
        max_identities: 5,
        max_rules: 6,
        ..GenConfig::default()
    }
}

fn endpoints(p: &Program) -> Vec<FlowEndpoint> {
    let mut out: Vec<FlowEndpoint> = p
        .identities
        .iter()
        .map(|i| FlowEndpoint::Identity(i.id))
        .collect();
    out.extend(
        sg::boundary_addresses(p)
            .into_iter()
            .map(FlowEndpoint::Address),
    );
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn classes_hold_exactly_the_rules_that_match((a, b) in (sg::program(cfg()), sg::program(cfg()))) {
        let programs = [&a, &b];
        let space = Space::new(&programs, |u| u64::from(u % 2));
        for (k, p) in programs.iter().enumerate() {
            let ends = endpoints(p);
            for &s in &ends {
                for &d in &ends {
                    for (proto, port) in sg::boundary_ports(p) {
                        let expected: Vec<usize> = p
                            .rules
                            .iter()
                            .enumerate()
                            .filter(|(_, r)| r.services.contains(proto, port) && member(p, &r.src, s) && member(p, &r.dst, d))
                            .map(|(i, _)| i)
                            .collect();
                        let got: Vec<usize> = match (space.class_of(&space.src, k, s), space.class_of(&space.dst, k, d)) {
                            (Some(cs), Some(cd)) => space
                                .rules_between(cs, cd)
                                .into_iter()
                                .map(|r| space.rules[r as usize])
                                .filter(|r| r.program == k && p.rules[r.index].services.contains(proto, port))
                                .map(|r| r.index)
                                .collect(),
                            _ => Vec::new(),
                        };
                        prop_assert_eq!(&got, &expected, "{:?} -> {:?} {:?}/{}", s, d, proto, port);
                    }
                }
            }
        }
    }

    #[test]
    fn comparisons_find_every_difference_on_the_grid(
        before in prop::collection::vec(sg::rule(&[], GenConfig::default()), 0..=3),
        after in prop::collection::vec(sg::rule(&[], GenConfig::default()), 0..=3),
    ) {
        let guards = |rs: &[Rule]| -> Vec<Owned> {
            rs.iter().map(|r| (r.action, r.condition.clone(), r.expires)).collect()
        };
        let (gb, ga) = (guards(&before), guards(&after));
        let (vb, va) = (view(&gb), view(&ga));
        let declared = [&sg::contexts()];
        let cmp = context::compare(sg::now(), &declared, &vb, &va);
        prop_assert!(cmp.complete);
        if let Some(w) = &cmp.gained {
            prop_assert!(!context::allows(&vb, w) && context::allows(&va, w), "gained {:?}", w);
        }
        if let Some(w) = &cmp.lost {
            prop_assert!(context::allows(&vb, w) && !context::allows(&va, w), "lost {:?}", w);
        }
        let (mut b_yes, mut b_no, mut a_yes, mut a_no, mut gained, mut lost) = (false, false, false, false, false, false);
        for ctx in grid() {
            let (x, y) = (context::allows(&vb, &ctx), context::allows(&va, &ctx));
            b_yes |= x; b_no |= !x; a_yes |= y; a_no |= !y;
            gained |= y && !x; lost |= x && !y;
        }
        prop_assert!(!gained || cmp.gained.is_some());
        prop_assert!(!lost || cmp.lost.is_some());
        let consistent = |e: Extent, yes: bool, no: bool| match e {
            Extent::Never => !yes,
            Extent::Always => !no,
            Extent::Sometimes => true,
        };
        prop_assert!(consistent(cmp.before, b_yes, b_no), "{:?}", cmp.before);
        prop_assert!(consistent(cmp.after, a_yes, a_no), "{:?}", cmp.after);
        let (e, w) = context::extent(sg::now(), &declared, &vb);
        prop_assert_eq!(e, cmp.before);
        if let Some(w) = w {
            prop_assert!(context::allows(&vb, &w));
        }
    }
}

type Owned = (seg_ir::Action, Condition, Option<seg_ir::Expiry>);

fn view(g: &[Owned]) -> Vec<Guard<'_>> {
    g.iter()
        .map(|(a, c, e)| Guard {
            action: *a,
            condition: c,
            expires: *e,
        })
        .collect()
}

/// Contexts at every window edge over a week from now and the expiry
/// days' edges, with every value class the generator's atoms tell apart.
fn grid() -> Vec<Context> {
    let now = sg::now();
    let mut instants = vec![now];
    for day in 0..7 {
        let start = now.date().add_days(day).start().0;
        for m in [0i64, 60, 120, 540, 1020, 1320] {
            instants.push(Timestamp(start + m * 60 - 1));
            instants.push(Timestamp(start + m * 60));
        }
    }
    for day in 0..3 {
        let end = now.date().add_days(day).end().0;
        instants.extend([Timestamp(end - 1), Timestamp(end)]);
    }
    instants.retain(|t| *t >= now);
    let s = |v: &str| Some(v.to_string());
    let mut out = Vec::new();
    for &at in &instants {
        for mtls in [false, true] {
            for method in [None, s("GET"), s("HEAD")] {
                for path in [None, s("/api/x"), s("/aXi/y"), s("")] {
                    for (region, glass, ticket) in [
                        (None, None, None),
                        (Some("eu"), Some(true), Some("T")),
                        (Some("us"), Some(false), None),
                        (None, Some(true), Some("T")),
                        (Some("eu"), None, None),
                    ] {
                        let mut context = BTreeMap::new();
                        if let Some(r) = region {
                            context.insert("region".to_string(), Value::String(r.into()));
                        }
                        if let Some(g) = glass {
                            context.insert("break_glass".to_string(), Value::Bool(g));
                        }
                        if let Some(t) = ticket {
                            context.insert("ticket".to_string(), Value::String(t.into()));
                        }
                        out.push(Context {
                            at,
                            mtls,
                            method: method.clone(),
                            path: path.clone(),
                            context,
                        });
                    }
                }
            }
        }
    }
    out
}
