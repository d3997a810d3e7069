//! Denies carved out of allows for targets without native deny.

mod common;

use common::*;
use seg_ir::eval::decide;
use seg_ir::grants::{grant_allows, subtract_denies};
use seg_ir::{Action, Atom, CidrSet, Condition, IdentityId, PortSet, Protocol};

fn strs(s: &CidrSet) -> Vec<String> {
    s.to_cidrs().iter().map(ToString::to_string).collect()
}

#[test]
fn without_denies_each_allow_is_one_grant() {
    let mut p = base_program();
    let r = add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(5432, 5432),
        atom(Atom::Mtls),
    );
    let g = subtract_denies(&p);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].rule, r);
    assert_eq!(g[0].src, p.rules[0].src);
    assert_eq!(g[0].condition, atom(Atom::Mtls));
}

#[test]
fn a_metadata_deny_carves_a_hole_in_any() {
    let mut p = base_program();
    let any = common::strategies::any_set(&p.identities);
    add(
        &mut p,
        Action::Allow,
        implied(&[0]),
        any.clone(),
        tcp(443, 443),
        Condition::True,
    );
    add(
        &mut p,
        Action::Deny,
        any,
        nets(&["169.254.169.254/32"]),
        PortSet::any(),
        Condition::True,
    );
    let g = subtract_denies(&p);
    assert_eq!(g.len(), 1, "{g:#?}");
    let dst = &g[0].dst;
    assert_eq!(
        dst.identities.len(),
        4,
        "no identity has the metadata address"
    );
    assert!(!dst.networks.contains("169.254.169.254".parse().unwrap()));
    assert!(dst.networks.contains("169.254.169.253".parse().unwrap()));
    assert_eq!(
        dst.networks.cidr_count(),
        32 + 1,
        "every v4 prefix around the hole, plus ::/0"
    );
    let f = flow(&p, id(0), addr("169.254.169.254"), 443);
    assert!(!grant_allows(&p, &g, &f) && !decide(&p, &f).allowed);
    let f = flow(&p, id(0), addr("169.254.169.255"), 443);
    assert!(grant_allows(&p, &g, &f) && decide(&p, &f).allowed);
}

#[test]
fn a_deny_on_some_ports_splits_the_services() {
    let mut p = base_program();
    add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(8000, 8099),
        Condition::True,
    );
    add(
        &mut p,
        Action::Deny,
        implied(&[0]),
        implied(&[1]),
        tcp(8050, 8050),
        Condition::True,
    );
    let g = subtract_denies(&p);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].services.to_string(), "tcp/8000-8049, tcp/8051-8099");
}

#[test]
fn a_deny_on_part_of_the_sources_leaves_the_rest() {
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
    let g = subtract_denies(&p);
    assert_eq!(g.len(), 1);
    let src = &g[0].src;
    // web (10.3.0.0/30) leaves the identities and its addresses leave the networks.
    assert!(!src.identities.contains(&IdentityId(3)));
    assert!(src.identities.contains(&IdentityId(0)));
    assert!(!src.networks.contains("10.3.0.2".parse().unwrap()));
    assert!(src.networks.contains("10.3.0.4".parse().unwrap()));
    for (s, want) in [
        (addr("10.3.0.1"), false),
        (addr("10.3.0.4"), true),
        (id(3), false),
        (id(0), true),
    ] {
        let f = flow(&p, s, id(1), 5432);
        assert_eq!(grant_allows(&p, &g, &f), want, "{s:?}");
        assert_eq!(decide(&p, &f).allowed, want, "{s:?}");
    }
}

#[test]
fn an_overlapping_deny_gives_disjoint_pieces() {
    let mut p = base_program();
    add(
        &mut p,
        Action::Allow,
        implied(&[0, 3]),
        implied(&[1, 3]),
        tcp(1, 100),
        Condition::True,
    );
    add(
        &mut p,
        Action::Deny,
        implied(&[3]),
        implied(&[1]),
        tcp(50, 60),
        Condition::True,
    );
    let g = subtract_denies(&p);
    // src − {web}; web × (dst − {db}); web × db × ports − 50..60.
    assert_eq!(g.len(), 3, "{g:#?}");
    assert_eq!(
        g[0].src.identities.iter().copied().collect::<Vec<_>>(),
        [IdentityId(0)]
    );
    assert_eq!(
        g[1].dst.identities.iter().copied().collect::<Vec<_>>(),
        [IdentityId(3)]
    );
    assert_eq!(g[2].services.to_string(), "tcp/1-49, tcp/61-100");
    for (s, d, port) in [(3, 1, 55), (3, 1, 61), (0, 1, 55), (3, 3, 55)] {
        let f = flow(&p, id(s), id(d), port);
        assert_eq!(
            grant_allows(&p, &g, &f),
            decide(&p, &f).allowed,
            "{s} -> {d} : {port}"
        );
    }
}

#[test]
fn an_allow_cancelled_entirely_gives_no_grant() {
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
        implied(&[0, 3]),
        implied(&[1]),
        PortSet::any(),
        Condition::True,
    );
    assert!(subtract_denies(&p).is_empty());
}

#[test]
fn a_conditional_deny_is_carved_unconditionally() {
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
        implied(&[0]),
        implied(&[1]),
        PortSet::any(),
        atom(Atom::Mtls),
    );
    assert!(subtract_denies(&p).is_empty());
}

#[test]
fn an_expiring_allow_keeps_its_expiry_through_its_grants() {
    let mut p = base_program();
    add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(5432, 5432),
        Condition::True,
    );
    p.rules[0].expires = seg_ir::Expiry::parse("2026-12-31");
    let g = subtract_denies(&p);
    let f = flow(&p, id(0), id(1), 5432);
    assert!(grant_allows(
        &p,
        &g,
        &seg_ir::Flow {
            at: ts("2026-12-31T23:59:59Z"),
            ..f.clone()
        }
    ));
    assert!(!grant_allows(
        &p,
        &g,
        &seg_ir::Flow {
            at: ts("2027-01-01T00:00:00Z"),
            ..f
        }
    ));
}

#[test]
fn v6_networks_are_carved_too() {
    let mut p = base_program();
    add(
        &mut p,
        Action::Allow,
        nets(&["fd00::/120"]),
        nets(&["::/0"]),
        PortSet::ports(Protocol::Udp, 53, 53),
        Condition::True,
    );
    add(
        &mut p,
        Action::Deny,
        nets(&["fd00::80/121"]),
        nets(&["::/0"]),
        PortSet::any(),
        Condition::True,
    );
    let g = subtract_denies(&p);
    assert_eq!(g.len(), 1);
    assert_eq!(strs(&g[0].src.networks), ["fd00::/121"]);
}
