//! `seg_ir::meaning`: the canonical rule order and the digest of meaning
//! ignore where rules are written and change with what they say.

mod common;

use common::*;
use seg_ir::backend::{IptablesOptions, TargetOptions};
use seg_ir::meaning::{canonical, digest};
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
