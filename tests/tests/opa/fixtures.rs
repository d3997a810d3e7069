//! Programs for the OPA verification: the bank example through the real
//! pipeline, and a hand-built "lab" program with every runtime condition
//! (time windows across midnight, day ranges that wrap, expiry, mTLS, L7
//! method and Unicode path globs, context inputs of every type, negations in
//! allows and denies), IPv4/IPv6 identities and networks, and awkward names.

use ipnet::IpNet;
use seg_diag::{FileId, Span};
use seg_ir::time::{Date, TimeOfDay, Timestamp};
use seg_ir::{
    Action, Atom, CidrSet, Condition, EndpointSet, Identity, IdentityId, IdentityKind, PortSet,
    Program, Protocol, Provenance, RequestField, Rule, RuleId, Value, ValueTest,
};
use seg_tests::r#gen;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Friday 2026-11-20, 12:00 UTC: "now" of every fixture.
pub fn now() -> Timestamp {
    Timestamp::parse("2026-11-20T12:00:00Z").expect("timestamp")
}

/// `examples/bank` compiled by the driver.
pub fn bank() -> Program {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bank");
    match seg::driver::compile_project(&dir, Some(now())) {
        Ok((_, program)) => program,
        Err(e) => panic!("examples/bank does not compile:\n{e}"),
    }
}

fn span() -> Span {
    Span::new(FileId(0), 0, 0)
}

fn identity(id: u32, name: &str, spiffe: Option<&str>, addresses: &[&str]) -> Identity {
    Identity {
        id: IdentityId(id),
        name: name.to_string(),
        kind: IdentityKind::Workload,
        owner: None,
        attributes: BTreeMap::new(),
        labels: BTreeMap::new(),
        addresses: addresses
            .iter()
            .map(|a| a.parse::<IpNet>().expect("fixture address"))
            .collect(),
        kubernetes: None,
        aws: None,
        gcp: None,
        spiffe: spiffe.map(str::to_string),
        origin: span(),
    }
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn atom(a: Atom) -> Condition {
    Condition::Atom(a)
}

fn not(c: Condition) -> Condition {
    Condition::Not(Box::new(c))
}

/// The lab program (see the module docs).
pub fn lab() -> Program {
    let identities = vec![
        identity(
            0,
            "payments-api",
            Some("spiffe://lab.example/ns/pay/sa/api"),
            &["10.1.2.10/32", "fd00:1::10/128"],
        ),
        identity(
            1,
            "ledger \"db\"",
            Some("spiffe://lab.example/vm/ledger"),
            &["10.1.3.5/32"],
        ),
        identity(2, "migrator", None, &["10.1.9.48/29"]),
        identity(3, "ünïcode/..\\name", None, &[]),
        identity(
            4,
            "metadata",
            None,
            &["169.254.169.254/32", "fd00:ec2::254/128"],
        ),
        identity(
            5,
            "v6-only",
            Some("spiffe://lab.example/v6"),
            &["2001:db8::5/128"],
        ),
    ];
    let set = |ids: &[u32], nets: &[&str]| {
        let ids: BTreeSet<IdentityId> = ids.iter().map(|&i| IdentityId(i)).collect();
        let nets: Vec<IpNet> = nets
            .iter()
            .map(|n| n.parse().expect("fixture network"))
            .collect();
        let mut s = EndpointSet {
            identities: ids.clone(),
            explicit: ids,
            networks: CidrSet::from_nets(&nets),
        };
        r#gen::close(&mut s, &identities);
        s
    };
    let tcp = |p: u16| PortSet::ports(Protocol::Tcp, p, p);
    let method = |vs: &[&str]| {
        atom(Atom::Request {
            field: RequestField::Method,
            test: ValueTest::In(vs.iter().map(|v| s(v)).collect()),
        })
    };
    let path = |g: &str| {
        atom(Atom::Request {
            field: RequestField::Path,
            test: ValueTest::Glob(g.to_string()),
        })
    };
    let context = |name: &str, test: ValueTest| {
        atom(Atom::Context {
            name: name.to_string(),
            test,
        })
    };
    let window = |a: u16, b: u16| {
        atom(Atom::Time {
            start: TimeOfDay(a),
            end: TimeOfDay(b),
        })
    };
    let today = now().date();
    let mut rules = vec![
        (
            Action::Allow,
            set(&[0], &[]),
            set(&[1], &[]),
            tcp(5432),
            atom(Atom::Mtls),
            None,
        ),
        (
            Action::Allow,
            set(&[2], &[]),
            set(&[1], &[]),
            tcp(5432),
            // 22:00..02:00 on fri..mon
            Condition::And(vec![
                window(1320, 120),
                atom(Atom::Days { mask: 0b111_0001 }),
            ]),
            Some(today.add_days(2)),
        ),
        (
            Action::Allow,
            set(&[], &["203.0.113.0/24", "2001:db8:ff::/48"]),
            set(&[0], &[]),
            tcp(8443).union(&tcp(443)),
            Condition::True,
            None,
        ),
        (
            Action::Allow,
            set(&[0, 3], &[]),
            set(&[1], &[]),
            tcp(8080),
            Condition::And(vec![method(&["GET", "HEAD"]), path("/api/*/items/*é")]),
            None,
        ),
        (
            Action::Deny,
            set(&[0, 1, 2, 3, 4, 5], &["0.0.0.0/0", "::/0"]),
            set(&[4], &[]),
            PortSet::any(),
            Condition::True,
            None,
        ),
        (
            Action::Deny,
            set(&[0], &[]),
            set(&[1], &[]),
            tcp(8080),
            Condition::Or(vec![
                path("/api/admin*"),
                not(context("region", ValueTest::In(vec![s("eu")]))),
            ]),
            None,
        ),
        (
            Action::Allow,
            set(&[3, 2], &[]),
            set(&[5], &[]),
            PortSet::ports(Protocol::Udp, 53, 53).union(&PortSet::icmp()),
            Condition::Or(vec![
                context("break_glass", ValueTest::IsTrue),
                context("ticket", ValueTest::Present),
            ]),
            None,
        ),
        (
            Action::Allow,
            set(&[5], &[]),
            set(&[0], &[]),
            PortSet::ports(Protocol::Sctp, 9000, 9100).union(&PortSet::ports(
                Protocol::Other(47),
                0,
                0,
            )),
            not(atom(Atom::Mtls)),
            None,
        ),
        (
            Action::Allow,
            set(&[], &["10.1.0.0/16"]),
            set(&[1], &[]),
            tcp(5432),
            atom(Atom::Mtls),
            None,
        ),
        (
            Action::Deny,
            set(&[2], &[]),
            set(&[1], &[]),
            tcp(5432),
            // sat..sun, 01:00..01:30
            Condition::And(vec![atom(Atom::Days { mask: 0b110_0000 }), window(60, 90)]),
            Some(today.add_days(9)),
        ),
        (
            Action::Allow,
            set(&[0], &[]),
            set(&[1], &[]),
            tcp(8080),
            Condition::And(vec![
                path("*"),
                context("region", ValueTest::In(vec![s("eu"), s("us")])),
                not(method(&["DELETE"])),
            ]),
            None,
        ),
    ];
    let mut program = Program {
        project: "lab \"ü\"".to_string(),
        source_hash: "1".repeat(64),
        now: now(),
        identities: identities.into(),
        rules: Vec::new(),
        omitted: Vec::new(),
        contexts: r#gen::contexts(),
        tests: Vec::new(),
    };
    for (i, (action, src, dst, services, condition, expires)) in rules.drain(..).enumerate() {
        program.rules.push(Rule {
            id: RuleId(i as u32),
            action,
            src,
            dst,
            services,
            condition,
            expires: expires.map(Into::into),
            provenance: Provenance {
                label: format!("lab/{}", i + 1),
                id: format!("lab#{}", i + 1),
                file: "policy/lab.seg".to_string(),
                line: 10 + i as u32,
                column: 3,
                policy: "lab".to_string(),
                owner: Some("team-lab".to_string()),
                doc: Some(format!("rule {i} of the lab")),
                reason: None,
                origin: span(),
            },
        });
    }
    program
}

/// A date a few days after `now`.
pub fn day(offset: i64) -> Date {
    now().date().add_days(offset)
}
