//! The reference evaluator, one condition kind and one edge at a time.

mod common;

use common::*;
use seg_ir::eval::{Evaluator, decide, glob, holds, member};
use seg_ir::{Action, Atom, Condition, PortSet, Protocol, RequestField, RuleId, Value, ValueTest};
use std::collections::BTreeMap;

fn at(p: &seg_ir::Flow, s: &str) -> seg_ir::Flow {
    seg_ir::Flow {
        at: ts(s),
        ..p.clone()
    }
}

fn window(start: &str, end: &str) -> Condition {
    atom(Atom::Time {
        start: tod(start),
        end: tod(end),
    })
}

#[test]
fn default_deny_and_deny_overrides_allow_whatever_the_order() {
    let mut p = base_program();
    let f = flow(&p, id(0), id(1), 5432);
    let d = decide(&p, &f);
    assert!(!d.allowed);
    assert!(d.matched.is_empty() && d.deciding.is_empty());
    assert_eq!(d.reason(&p), "denied by default: no allow rule matched");

    let deny = add(
        &mut p,
        Action::Deny,
        implied(&[0]),
        ids(&[1]),
        PortSet::any(),
        Condition::True,
    );
    let d = decide(&p, &f);
    assert!(!d.allowed);
    assert_eq!(d.deciding, [deny]);
    let allow = add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(5432, 5432),
        Condition::True,
    );
    let d = decide(&p, &f);
    assert!(!d.allowed);
    assert_eq!(d.matched, [deny, allow]);
    assert_eq!(d.deciding, [deny]);
    assert_eq!(d.reason(&p), "denied by gen/1 (policy/gen.seg:1)");

    p.rules.remove(0);
    p.rules[0].id = RuleId(0);
    let d = decide(&p, &f);
    assert!(d.allowed);
    assert_eq!(d.deciding, [RuleId(0)]);
    assert_eq!(d.reason(&p), "allowed by gen/2 (policy/gen.seg:2)");
}

#[test]
fn stateful_direction_is_one_way() {
    let mut p = base_program();
    add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(5432, 5432),
        Condition::True,
    );
    assert!(decide(&p, &flow(&p, id(0), id(1), 5432)).allowed);
    assert!(!decide(&p, &flow(&p, id(1), id(0), 5432)).allowed);
}

#[test]
fn membership_of_identities_and_addresses() {
    let p = base_program();
    let set = ids(&[1, 3]);
    assert!(member(&p, &set, id(1)));
    assert!(!member(&p, &set, id(0)));
    // An address of a member identity, v4 and v6, and inside a member's /30.
    assert!(member(&p, &set, addr("10.2.0.1")));
    assert!(member(&p, &set, addr("fd00::2")));
    assert!(member(&p, &set, addr("10.3.0.3")));
    assert!(!member(&p, &set, addr("10.3.0.4")));
    assert!(!member(&p, &set, addr("10.1.0.1")));
    // Networks: the edges of the prefix; an identity it overlaps is a member
    // because the lowering put it in `identities`.
    let n = nets(&["10.1.0.0/24"]);
    assert!(member(&p, &n, addr("10.1.0.0")) && member(&p, &n, addr("10.1.0.255")));
    assert!(!member(&p, &n, addr("10.1.1.0")) && !member(&p, &n, addr("10.0.255.255")));
    assert!(member(&p, &n, id(0)));
    assert!(!member(&p, &n, id(2)));
    let v6 = nets(&["fd00::2/127"]);
    assert!(member(&p, &v6, addr("fd00::3")) && !member(&p, &v6, addr("fd00::1")));
    assert!(member(&p, &v6, id(1)));
}

#[test]
fn address_flows_match_members_and_networks() {
    let mut p = base_program();
    let partners = nets(&["203.0.113.0/24"]);
    add(
        &mut p,
        Action::Allow,
        partners,
        ids(&[0]),
        tcp(8443, 8443),
        Condition::True,
    );
    assert!(decide(&p, &flow(&p, addr("203.0.113.7"), id(0), 8443)).allowed);
    assert!(decide(&p, &flow(&p, addr("203.0.113.7"), addr("10.1.0.1"), 8443)).allowed);
    assert!(!decide(&p, &flow(&p, addr("203.0.114.0"), id(0), 8443)).allowed);
    assert!(!decide(&p, &flow(&p, addr("203.0.113.7"), id(1), 8443)).allowed);
}

#[test]
fn services_ranges_and_protocols() {
    let mut p = base_program();
    let dns = PortSet::ports(Protocol::Udp, 53, 53).union(&PortSet::ports(Protocol::Tcp, 53, 53));
    add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(8000, 8099).union(&dns).union(&PortSet::icmp()),
        Condition::True,
    );
    let f = flow(&p, id(0), id(1), 0);
    let on = |proto, port| seg_ir::Flow {
        protocol: proto,
        port,
        ..f.clone()
    };
    for (proto, port, want) in [
        (Protocol::Tcp, 7999, false),
        (Protocol::Tcp, 8000, true),
        (Protocol::Tcp, 8099, true),
        (Protocol::Tcp, 8100, false),
        (Protocol::Udp, 53, true),
        (Protocol::Udp, 54, false),
        (Protocol::Sctp, 53, false),
        (Protocol::Icmp, 0, true),
        (Protocol::Other(47), 0, false),
    ] {
        assert_eq!(
            decide(&p, &on(proto, port)).allowed,
            want,
            "{proto:?}/{port}"
        );
    }
}

#[test]
fn time_windows_are_half_open_and_cross_midnight() {
    let p = base_program();
    let f = flow(&p, id(0), id(1), 1);
    let day = window("01:00", "03:00");
    assert!(!holds(&day, &at(&f, "2026-11-23T00:59:59Z")));
    assert!(holds(&day, &at(&f, "2026-11-23T01:00:00Z")));
    assert!(holds(&day, &at(&f, "2026-11-23T02:59:59Z")));
    assert!(!holds(&day, &at(&f, "2026-11-23T03:00:00Z")));

    let night = window("22:00", "02:00");
    assert!(!holds(&night, &at(&f, "2026-11-23T21:59:59Z")));
    assert!(holds(&night, &at(&f, "2026-11-23T22:00:00Z")));
    assert!(holds(&night, &at(&f, "2026-11-23T23:59:59Z")));
    assert!(holds(&night, &at(&f, "2026-11-24T00:00:00Z")));
    assert!(holds(&night, &at(&f, "2026-11-24T01:59:59Z")));
    assert!(!holds(&night, &at(&f, "2026-11-24T02:00:00Z")));

    let to_midnight = window("22:00", "24:00");
    assert!(holds(&to_midnight, &at(&f, "2026-11-23T23:59:59Z")));
    assert!(!holds(&to_midnight, &at(&f, "2026-11-24T00:00:00Z")));
    let from_midnight = window("00:00", "02:00");
    assert!(holds(&from_midnight, &at(&f, "2026-11-24T00:00:00Z")));
    assert!(!holds(&from_midnight, &at(&f, "2026-11-23T23:59:59Z")));
    // `end <= start` crosses midnight, so equal ends cover the whole day.
    let whole = window("09:00", "09:00");
    assert!(
        holds(&whole, &at(&f, "2026-11-23T08:59:59Z"))
            && holds(&whole, &at(&f, "2026-11-23T09:00:00Z"))
    );
    // Offsets are converted to UTC.
    assert!(holds(&day, &at(&f, "2026-11-23T02:30:00+01:00")));
}

#[test]
fn days_use_the_utc_weekday_and_wrap() {
    let p = base_program();
    let f = flow(&p, id(0), id(1), 1);
    let weekdays = atom(Atom::Days { mask: 0b001_1111 });
    // 2026-11-20 is a Friday, 11-21 Saturday, 11-22 Sunday, 11-23 Monday.
    assert!(holds(&weekdays, &at(&f, "2026-11-20T23:59:59Z")));
    assert!(!holds(&weekdays, &at(&f, "2026-11-21T00:00:00Z")));
    assert!(!holds(&weekdays, &at(&f, "2026-11-22T23:59:59Z")));
    assert!(holds(&weekdays, &at(&f, "2026-11-23T00:00:00Z")));
    // Friday 23:30 at -02:00 is Saturday in UTC.
    assert!(!holds(&weekdays, &at(&f, "2026-11-20T23:30:00-02:00")));
    // `fri..mon` wraps over the weekend: fri, sat, sun, mon.
    let long_weekend = atom(Atom::Days { mask: 0b111_0001 });
    for (t, want) in [
        ("2026-11-19T12:00:00Z", false),
        ("2026-11-20T00:00:00Z", true),
        ("2026-11-22T12:00:00Z", true),
        ("2026-11-23T23:59:59Z", true),
        ("2026-11-24T00:00:00Z", false),
    ] {
        assert_eq!(holds(&long_weekend, &at(&f, t)), want, "{t}");
    }
    // Time and days are independent atoms: "weekday nights" is both.
    let both = Condition::And(vec![window("22:00", "02:00"), weekdays]);
    assert!(holds(&both, &at(&f, "2026-11-20T23:00:00Z")));
    assert!(!holds(&both, &at(&f, "2026-11-21T01:00:00Z")));
}

#[test]
fn expiry_is_inclusive_of_the_day_in_utc() {
    let mut p = base_program();
    let r = add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(5432, 5432),
        Condition::True,
    );
    p.rules[r.0 as usize].expires = seg_ir::Expiry::parse("2026-12-31");
    let f = flow(&p, id(0), id(1), 5432);
    assert!(decide(&p, &at(&f, "2026-12-31T00:00:00Z")).allowed);
    assert!(decide(&p, &at(&f, "2026-12-31T23:59:59Z")).allowed);
    assert!(!decide(&p, &at(&f, "2027-01-01T00:00:00Z")).allowed);
    assert!(!decide(&p, &at(&f, "2026-12-31T23:30:00-01:00")).allowed);
    // An expired deny no longer overrides.
    add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(5432, 5432),
        Condition::True,
    );
    let d = add(
        &mut p,
        Action::Deny,
        ids(&[0]),
        ids(&[1]),
        PortSet::any(),
        Condition::True,
    );
    p.rules[d.0 as usize].expires = seg_ir::Expiry::parse("2026-12-30");
    assert!(!decide(&p, &at(&f, "2026-12-30T23:59:59Z")).allowed);
    let later = decide(&p, &at(&f, "2026-12-31T00:00:00Z"));
    assert!(later.allowed);
    assert!(!later.matched.contains(&d));
}

#[test]
fn an_instant_expiry_ends_at_its_second_whatever_the_offset() {
    let mut p = base_program();
    let r = add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1]),
        tcp(5432, 5432),
        Condition::True,
    );
    // 16:00 at +02:00 is 14:00:00Z.
    p.rules[r.0 as usize].expires = seg_ir::Expiry::parse("2026-12-06T16:00:00+02:00");
    assert_eq!(
        p.rules[r.0 as usize].expires.map(|e| e.to_string()),
        Some("2026-12-06T14:00:00Z".to_string())
    );
    let f = flow(&p, id(0), id(1), 5432);
    assert!(decide(&p, &at(&f, "2026-12-06T13:59:59Z")).allowed);
    assert!(decide(&p, &at(&f, "2026-12-06T15:59:59+02:00")).allowed);
    assert!(!decide(&p, &at(&f, "2026-12-06T14:00:00Z")).allowed);
    assert!(!decide(&p, &at(&f, "2026-12-06T09:00:00-05:00")).allowed);
    assert!(!decide(&p, &at(&f, "2026-12-06T14:00:01Z")).allowed);
}

#[test]
fn mtls_request_and_context_conditions() {
    let p = base_program();
    let f = flow(&p, id(0), id(1), 443);
    assert!(!holds(&atom(Atom::Mtls), &f));
    assert!(holds(
        &atom(Atom::Mtls),
        &seg_ir::Flow {
            mtls: true,
            ..f.clone()
        }
    ));
    assert!(holds(&not(atom(Atom::Mtls)), &f));

    let s = |v: &str| Value::String(v.to_string());
    let method = atom(Atom::Request {
        field: RequestField::Method,
        test: ValueTest::In(vec![s("GET"), s("HEAD")]),
    });
    let with_method = |m: &str| seg_ir::Flow {
        method: Some(m.to_string()),
        ..f.clone()
    };
    assert!(holds(&method, &with_method("GET")) && holds(&method, &with_method("HEAD")));
    assert!(!holds(&method, &with_method("get")) && !holds(&method, &with_method("POST")));
    // A missing value fails every test; `not` of it holds.
    assert!(!holds(&method, &f));
    assert!(holds(&not(method.clone()), &f));

    let path = atom(Atom::Request {
        field: RequestField::Path,
        test: ValueTest::Glob("/api/*".into()),
    });
    let with_path = |x: &str| seg_ir::Flow {
        path: Some(x.to_string()),
        ..f.clone()
    };
    assert!(holds(&path, &with_path("/api/")) && holds(&path, &with_path("/api/v1/users")));
    assert!(
        !holds(&path, &with_path("/apix"))
            && !holds(&path, &with_path("/x/api/y"))
            && !holds(&path, &f)
    );
    let present = atom(Atom::Request {
        field: RequestField::Path,
        test: ValueTest::Present,
    });
    assert!(holds(&present, &with_path("")) && !holds(&present, &f));

    let ctx = |pairs: &[(&str, Value)]| seg_ir::Flow {
        context: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        ..f.clone()
    };
    let region = atom(Atom::Context {
        name: "region".into(),
        test: ValueTest::In(vec![s("eu")]),
    });
    assert!(holds(&region, &ctx(&[("region", s("eu"))])));
    assert!(!holds(&region, &ctx(&[("region", s("us"))])) && !holds(&region, &f));
    let tier = atom(Atom::Context {
        name: "tier".into(),
        test: ValueTest::In(vec![Value::Int(1), Value::Int(2)]),
    });
    assert!(holds(&tier, &ctx(&[("tier", Value::Int(2))])));
    assert!(!holds(&tier, &ctx(&[("tier", s("2"))])), "values are typed");
    let flag = atom(Atom::Context {
        name: "break_glass".into(),
        test: ValueTest::IsTrue,
    });
    assert!(holds(&flag, &ctx(&[("break_glass", Value::Bool(true))])));
    assert!(!holds(&flag, &ctx(&[("break_glass", Value::Bool(false))])) && !holds(&flag, &f));
    let ticket = atom(Atom::Context {
        name: "ticket".into(),
        test: ValueTest::Glob("OPS-*".into()),
    });
    assert!(holds(&ticket, &ctx(&[("ticket", s("OPS-1234"))])));
    assert!(!holds(&ticket, &ctx(&[("ticket", Value::Int(1234))])));
}

#[test]
fn boolean_structure() {
    let p = base_program();
    let f = seg_ir::Flow {
        mtls: true,
        ..flow(&p, id(0), id(1), 443)
    };
    let (t, fa) = (atom(Atom::Mtls), not(atom(Atom::Mtls)));
    assert!(holds(&Condition::And(vec![]), &f) && !holds(&Condition::Or(vec![]), &f));
    assert!(holds(&Condition::Or(vec![fa.clone(), t.clone()]), &f));
    assert!(!holds(&Condition::And(vec![fa.clone(), t.clone()]), &f));
    assert!(holds(&not(Condition::And(vec![fa, t])), &f));
    assert!(holds(&Condition::True, &f) && !holds(&Condition::False, &f));
}

#[test]
fn globs() {
    for (pat, text, want) in [
        ("*", "", true),
        ("*", "/a/b", true),
        ("/api/*", "/api/", true),
        ("/api/*", "/api", false),
        ("/a*b", "/ab", true),
        ("/a*b", "/a/x/b", true),
        ("/a*b", "/a/x/bc", false),
        ("*.json", "/x/y.json", true),
        ("a*b*c", "aXbYbZc", true),
        ("a*b*c", "aXcYb", false),
        ("exact", "exact", true),
        ("exact", "exactly", false),
        ("é*", "éte", true),
    ] {
        assert_eq!(glob(pat, text), want, "{pat} ~ {text}");
    }
}

#[test]
fn the_indexed_evaluator_gives_the_same_decisions() {
    let mut p = base_program();
    let partners = nets(&["10.3.0.0/16"]);
    add(
        &mut p,
        Action::Allow,
        partners,
        ids(&[1]),
        tcp(5432, 5432),
        Condition::True,
    );
    add(
        &mut p,
        Action::Allow,
        ids(&[0]),
        ids(&[1, 3]),
        tcp(5432, 5432),
        Condition::True,
    );
    add(
        &mut p,
        Action::Deny,
        implied(&[0]),
        nets(&["10.2.0.0/24"]),
        tcp(5432, 5432),
        atom(Atom::Mtls),
    );
    let ev = Evaluator::new(&p);
    assert_eq!(
        ev.owners("10.3.0.2".parse().unwrap()),
        [seg_ir::IdentityId(3)]
    );
    assert!(ev.owners("10.3.0.4".parse().unwrap()).is_empty());
    assert_eq!(
        ev.owners("fd00::2".parse().unwrap()),
        [seg_ir::IdentityId(1)]
    );
    for src in [
        id(0),
        id(3),
        addr("10.3.0.1"),
        addr("10.1.0.1"),
        addr("10.9.0.1"),
    ] {
        for dst in [
            id(1),
            id(3),
            addr("10.2.0.1"),
            addr("fd00::2"),
            addr("10.3.0.2"),
        ] {
            for mtls in [false, true] {
                let f = seg_ir::Flow {
                    mtls,
                    ..flow(&p, src, dst, 5432)
                };
                assert_eq!(
                    ev.decide(&f),
                    decide(&p, &f),
                    "{src:?} -> {dst:?} mtls={mtls}"
                );
            }
        }
    }
    let f = flow(&p, addr("10.3.0.1"), addr("10.2.0.1"), 5432);
    assert!(ev.decide(&f).allowed);
    assert!(
        !ev.decide(&seg_ir::Flow {
            mtls: true,
            ..flow(&p, id(0), addr("10.2.0.1"), 5432)
        })
        .allowed
    );
}
