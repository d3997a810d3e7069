//! `seg_ir::meaning`: the canonical rule order and the digest of meaning
//! ignore where rules are written and change with what they say.

mod common;

use common::*;
use seg_ir::backend::{IptablesOptions, TargetOptions};
use seg_ir::meaning::{Order, canonical, digest};
use seg_ir::{Action, Condition, PortSet, Program};

fn program() -> Program {
    let mut p = base_program();
    add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(5432, 5432),
        Condition::True,
    );
    add(
        &mut p,
        Action::Deny,
        ids(&[3]),
        ids(&[1]),
        PortSet::any(),
        Condition::True,
    );
    add(
        &mut p,
        Action::Allow,
        ids(&[3]),
        ids(&[0]),
        tcp(443, 443),
        Condition::True,
    );
    // Content ids, deliberately not in position order.
    for (r, id) in p.rules.iter_mut().zip(["p#c", "p#a", "p#b"]) {
        r.provenance.id = id.to_string();
    }
    p
}

#[test]
fn canonical_orders_rules_by_id_and_renumbers_them() {
    let c = canonical(program());
    let ids: Vec<&str> = c.rules.iter().map(|r| r.provenance.id.as_str()).collect();
    assert_eq!(ids, ["p#a", "p#b", "p#c"]);
    for (i, r) in c.rules.iter().enumerate() {
        assert_eq!(r.id.0 as usize, i);
    }
    let mut reversed = program();
    reversed.rules.reverse();
    assert_eq!(canonical(reversed).rules, c.rules);
}

/// What a capability pass keeps of a program: some of its rules, in program
/// order, renumbered (labels mark where each came from).
fn keep(p: &Program, keep: impl Fn(usize) -> bool) -> Program {
    let mut kept = p.clone();
    kept.rules = p
        .rules
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, r)| r.clone())
        .collect();
    for (i, r) in kept.rules.iter_mut().enumerate() {
        r.id = seg_ir::RuleId(i as u32);
    }
    kept
}

/// A small seeded generator (an LCG): the same draws on every run.
fn seeded(seed: u64) -> impl FnMut() -> usize {
    let mut x = seed;
    move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize
    }
}

#[test]
fn an_order_found_once_gives_what_canonical_gives_for_every_subset() {
    let mut p = base_program();
    let mut next = seeded(7);
    for n in 0..60 {
        add(
            &mut p,
            Action::Allow,
            ids(&[n % 4]),
            ids(&[(n + 1) % 4]),
            tcp(n as u16 + 1, n as u16 + 1),
            Condition::True,
        );
    }
    // Ids in no particular order, a few of them shared: the sort is stable,
    // so two rules with one id keep their program order.
    let ids: Vec<String> = (0..60).map(|_| format!("p#{:02}", next() % 45)).collect();
    for (i, (r, id)) in p.rules.iter_mut().zip(&ids).enumerate() {
        r.provenance.id = id.clone();
        r.provenance.label = format!("p/{i}");
    }
    let order = Order::of(&p);
    let every = |_: usize| true;
    let none = |_: usize| false;
    let pairs = |i: usize| i.is_multiple_of(2);
    let first = |i: usize| i < 30;
    let mut cases: Vec<Program> = vec![
        keep(&p, every),
        keep(&p, none),
        keep(&p, pairs),
        keep(&p, first),
    ];
    for _ in 0..200 {
        let mask: Vec<bool> = (0..60).map(|_| !next().is_multiple_of(3)).collect();
        cases.push(keep(&p, |i| mask[i]));
    }
    // Not a subsequence of the program: the order falls back to sorting.
    let mut shuffled = keep(&p, every);
    shuffled.rules.swap(3, 40);
    cases.push(shuffled);
    let mut foreign = keep(&p, pairs);
    foreign.rules[5].provenance.id = "q#new".into();
    cases.push(foreign);
    for kept in cases {
        let labels = |q: &Program| -> Vec<String> {
            q.rules
                .iter()
                .map(|r| format!("{} {} {}", r.id.0, r.provenance.id, r.provenance.label))
                .collect()
        };
        let expected = canonical(kept.clone());
        let got = order.apply(&p, kept);
        assert_eq!(labels(&got), labels(&expected));
        assert_eq!(got, expected);
    }
}

/// `Order::sort` puts the program itself in canonical order, ids and
/// omitted rules too, and `Sorted::restore` gives back exactly what was
/// written (rules, their written ids, omitted rules), shared ids and all.
#[test]
fn sorting_in_place_gives_canonical_and_restores_the_written_program() {
    let mut p = base_program();
    let mut next = seeded(11);
    for n in 0..50 {
        add(
            &mut p,
            Action::Allow,
            ids(&[n % 4]),
            ids(&[(n + 2) % 4]),
            tcp(n as u16 + 1, n as u16 + 1),
            Condition::True,
        );
    }
    for (i, r) in p.rules.iter_mut().enumerate() {
        r.provenance.id = format!("p#{:02}", next() % 40);
        r.provenance.label = format!("p/{i}");
        // Written ids that are not the positions: restored as they were.
        r.id = seg_ir::RuleId(1000 + (i as u32 * 7) % 50);
    }
    let template = p.rules[0].provenance.clone();
    for k in 0..9 {
        let mut provenance = template.clone();
        provenance.id = format!("o#{}", next() % 5);
        provenance.label = format!("o/{k}");
        p.omitted.push(seg_ir::OmittedRule {
            provenance,
            reason: format!("expired {k}"),
            rules: Vec::new(),
        });
    }
    let written = p.clone();
    let order = Order::of(&p);
    let sorted = order.sort(&mut p);
    assert_eq!(p, canonical(written.clone()));
    assert_ne!(p, written, "the case must move rules");
    sorted.restore(&mut p);
    assert_eq!(p, written);
}

#[test]
fn digest_ignores_position_file_line_and_sources() {
    let p = program();
    let d = digest(&p, None);
    let mut moved = p.clone();
    moved.rules.reverse();
    for (i, r) in moved.rules.iter_mut().enumerate() {
        r.provenance.label = format!("q/{i}");
        r.provenance.file = "policy/other.seg".into();
        r.provenance.line += 40;
        r.provenance.column += 2;
    }
    moved.source_hash = "another".into();
    moved.now = ts("2027-01-01T00:00:00Z");
    assert_eq!(digest(&moved, None), d);
}

#[test]
fn digest_changes_with_what_rules_say_identities_and_options() {
    let p = program();
    let d = digest(&p, None);
    let mut widened = p.clone();
    widened.rules[0].services = tcp(5432, 5433);
    assert_ne!(digest(&widened, None), d);
    let mut documented = p.clone();
    documented.rules[0].provenance.doc = Some("why".into());
    assert_ne!(
        digest(&documented, None),
        d,
        "the doc comment is carried by targets"
    );
    let mut moved_host = p.clone();
    let mut list: Vec<_> = moved_host.identities.iter().cloned().collect();
    list[0].addresses = vec![net("10.9.0.1/32")];
    moved_host.identities = seg_ir::Identities::new(list);
    assert_ne!(digest(&moved_host, None), d);
    let a = TargetOptions::Iptables(IptablesOptions { ipset_threshold: 8 });
    let b = TargetOptions::Iptables(IptablesOptions { ipset_threshold: 2 });
    assert_ne!(digest(&p, Some(&a)), digest(&p, Some(&b)));
}
