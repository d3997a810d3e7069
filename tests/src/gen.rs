//! proptest strategies for small random programs and for flows aimed at
//! their boundaries, shared by the semantic laws (`compiler/seg-ir/tests`,
//! which include this file) and the backend oracles.
//!
//! Programs mix every binding (kubernetes, IPv4/IPv6 addresses, aws, gcp,
//! spiffe), explicit and implied identities, networks (exact addresses,
//! covering prefixes, partial overlaps, external ranges, /0), overlapping
//! allows and denies, port ranges, dynamic conditions and expiry. They keep
//! the IR invariants (`identities[i].id == i`, `rules[i].id == i`, a set's
//! identities include every identity its networks overlap, every rule live at
//! `now`). Flows take their endpoints, ports and instants from the program's
//! edges: first/last address of each network and one past it, range edges,
//! window edges on four days around a weekend, the expiry day's last second.
//!
//! Only `seg_ir`, `seg_diag`, `ipnet` and `proptest` are used, so the file
//! compiles both in `seg-tests` and inside `seg-ir`'s own tests.

use ipnet::IpNet;
use proptest::prelude::*;
use proptest::sample::select;
use seg_diag::{FileId, Span};
use seg_ir::time::{Date, Expiry, SECONDS_PER_DAY, TimeOfDay, Timestamp};
use seg_ir::{
    Action, Atom, Capabilities, CidrSet, Condition, ConditionClass, ContextType, EndpointSet, Flow,
    FlowEndpoint, Identity, IdentityId, IdentityKind, PortSet, Program, Protocol, Provenance,
    RequestField, Rule, RuleId, Value, ValueTest,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// What the generated programs may contain.
#[derive(Clone, Copy, Debug)]
pub struct GenConfig {
    pub max_identities: usize,
    pub max_rules: usize,
    /// Some identities share addresses (inventory warning W0101).
    pub overlapping_addresses: bool,
    /// Rules carry dynamic conditions.
    pub conditions: bool,
    /// Denies may carry conditions too (else they are unconditional).
    pub conditional_denies: bool,
    /// Rules may expire (always at or after `now`'s date).
    pub expiry: bool,
}

impl Default for GenConfig {
    fn default() -> GenConfig {
        GenConfig {
            max_identities: 6,
            max_rules: 6,
            overlapping_addresses: true,
            conditions: true,
            conditional_denies: true,
            expiry: true,
        }
    }
}

/// "Now" of every generated program: Friday 2026-11-20, 12:00 UTC.
pub fn now() -> Timestamp {
    Timestamp(date(2026, 11, 20).start().0 + 12 * 3600)
}

fn date(y: i32, m: u8, d: u8) -> Date {
    Date::new(y, m, d).unwrap_or(Date {
        year: y,
        month: 1,
        day: 1,
    })
}

fn net(s: &str) -> IpNet {
    s.parse()
        .unwrap_or_else(|_| IpNet::from(IpAddr::from([0, 0, 0, 0])))
}

/// The declared `context` inputs every program has.
pub fn contexts() -> BTreeMap<String, ContextType> {
    BTreeMap::from([
        ("break_glass".to_string(), ContextType::Bool),
        (
            "region".to_string(),
            ContextType::Enum(vec!["eu".into(), "us".into()]),
        ),
        ("ticket".to_string(), ContextType::String),
    ])
}

/// Per identity: kind, which addresses, which bindings.
#[derive(Clone, Debug)]
struct Shape {
    kind: usize,
    v4: bool,
    block: bool,
    v6: bool,
    kubernetes: bool,
    aws: bool,
    gcp: bool,
    spiffe: bool,
    /// Also claims the first address of the next identity.
    overlap: bool,
}

fn shape(overlapping: bool) -> impl Strategy<Value = Shape> {
    (
        0..5usize,
        any::<[bool; 7]>(),
        prop::bool::weighted(if overlapping { 0.3 } else { 0.0 }),
    )
        .prop_map(|(kind, b, overlap)| Shape {
            kind,
            v4: b[0] || !(b[1] || b[2] || b[3]),
            block: b[1] && b[0],
            v6: b[2],
            kubernetes: b[3],
            aws: b[4],
            gcp: b[5],
            spiffe: b[6],
            overlap,
        })
}

fn identity(i: usize, n: usize, s: &Shape) -> Identity {
    let name = format!("id{i}");
    let mut addresses = Vec::new();
    if s.v4 {
        addresses.push(net(&format!("10.0.{i}.1/32")));
    }
    if s.block {
        addresses.push(net(&format!("10.0.{i}.8/30")));
    }
    if s.v6 {
        addresses.push(net(&format!("fd00::{i}:1/128")));
    }
    if s.overlap && n > 1 {
        addresses.push(net(&format!("10.0.{}.1/32", (i + 1) % n)));
    }
    addresses.sort();
    addresses.dedup();
    let team = if i.is_multiple_of(2) {
        "payments"
    } else {
        "web"
    };
    Identity {
        id: IdentityId(i as u32),
        name: name.clone(),
        kind: IdentityKind::ALL[s.kind],
        owner: Some(format!("team-{team}")),
        attributes: BTreeMap::from([("team".to_string(), Value::String(team.to_string()))]),
        labels: BTreeMap::from([("app".to_string(), name.clone())]),
        addresses,
        kubernetes: s.kubernetes.then(|| seg_ir::KubernetesBinding {
            namespace: team.to_string(),
            labels: BTreeMap::from([("app".to_string(), name.clone())]),
            service_account: Some(name.clone()),
        }),
        aws: s.aws.then(|| seg_ir::AwsBinding {
            security_group: i.is_multiple_of(3).then(|| format!("sg-{i:017x}")),
        }),
        gcp: s.gcp.then(|| seg_ir::GcpBinding {
            service_account: format!("{name}@gen.iam.gserviceaccount.com"),
        }),
        spiffe: s
            .spiffe
            .then(|| format!("spiffe://gen.example/{team}/{name}")),
        origin: Span::new(FileId(1), i * 10, i * 10 + 5),
    }
}

/// Identities `id0..idN` with mixed bindings.
pub fn identities(cfg: GenConfig) -> impl Strategy<Value = Vec<Identity>> {
    prop::collection::vec(
        shape(cfg.overlapping_addresses),
        1..=cfg.max_identities.max(1),
    )
    .prop_map(|shapes| {
        let n = shapes.len();
        shapes
            .iter()
            .enumerate()
            .map(|(i, s)| identity(i, n, s))
            .collect()
    })
}

/// Networks rules draw from: identity addresses, covering and partial
/// prefixes, external ranges, whole spaces.
pub fn network_pool(n: usize) -> Vec<IpNet> {
    let mut v = Vec::new();
    for i in 0..n {
        v.push(net(&format!("10.0.{i}.1/32")));
        v.push(net(&format!("10.0.{i}.0/24")));
        v.push(net(&format!("10.0.{i}.10/31")));
    }
    for s in [
        "10.0.0.0/16",
        "192.0.2.0/24",
        "198.51.100.128/25",
        "fd00::/16",
        "2001:db8::/32",
        "0.0.0.0/0",
        "::/0",
    ] {
        v.push(net(s));
    }
    v
}

/// Complete a set so its identities include every identity its networks overlap.
pub fn close(set: &mut EndpointSet, identities: &[Identity]) {
    for i in identities {
        if i.addresses
            .iter()
            .any(|a| set.networks.contains_net(a) || set.networks.overlaps(&CidrSet::from_net(*a)))
        {
            set.identities.insert(i.id);
        }
    }
}

/// `any`: every identity and every address.
pub fn any_set(identities: &[Identity]) -> EndpointSet {
    EndpointSet {
        identities: identities.iter().map(|i| i.id).collect(),
        explicit: BTreeSet::new(),
        networks: CidrSet::all(),
    }
}

/// A random endpoint set over these identities.
pub fn endpoint_set(identities: &[Identity]) -> BoxedStrategy<EndpointSet> {
    let n = identities.len();
    let ids = identities.to_vec();
    let pool = network_pool(n);
    let mask = prop::collection::vec(any::<bool>(), n);
    let nets = prop::collection::vec(select(pool), 1..=2);
    (0..6u8, mask, nets)
        .prop_map(move |(kind, mask, nets)| {
            let chosen: BTreeSet<IdentityId> = mask
                .iter()
                .enumerate()
                .filter(|(_, b)| **b)
                .map(|(i, _)| IdentityId(i as u32))
                .collect();
            let mut set = match kind {
                0 => EndpointSet {
                    identities: chosen.clone(),
                    explicit: chosen,
                    networks: CidrSet::empty(),
                },
                1 | 2 => EndpointSet {
                    identities: chosen,
                    ..EndpointSet::default()
                },
                3 => EndpointSet {
                    networks: CidrSet::from_nets(&nets),
                    ..EndpointSet::default()
                },
                4 => EndpointSet {
                    identities: chosen,
                    explicit: BTreeSet::new(),
                    networks: CidrSet::from_nets(&nets),
                },
                _ => any_set(&ids),
            };
            close(&mut set, &ids);
            set
        })
        .boxed()
}

const PORT_EDGES: [u16; 10] = [0, 1, 22, 53, 80, 443, 5432, 8000, 65534, 65535];

/// One protocol/port item or `any`.
pub fn port_item() -> impl Strategy<Value = PortSet> {
    prop_oneof![
        4 => (select(PORT_EDGES.to_vec()), select(vec![0u16, 1, 99])).prop_map(|(lo, w)| PortSet::ports(Protocol::Tcp, lo, lo.saturating_add(w))),
        2 => (select(PORT_EDGES.to_vec()), select(vec![0u16, 10])).prop_map(|(lo, w)| PortSet::ports(Protocol::Udp, lo, lo.saturating_add(w))),
        1 => Just(PortSet::ports(Protocol::Sctp, 9000, 9000)),
        1 => Just(PortSet::icmp()),
        1 => Just(PortSet::ports(Protocol::Other(47), 0, 0)),
        1 => Just(PortSet::any()),
    ]
}

/// A rule's services: the union of one or two items.
pub fn services() -> impl Strategy<Value = PortSet> {
    prop::collection::vec(port_item(), 1..=2)
        .prop_map(|v| v.iter().fold(PortSet::empty(), |a, b| a.union(b)))
}

const WINDOW_EDGES: [u16; 7] = [0, 60, 120, 540, 1020, 1320, 1440];

/// One dynamic atom of any class.
pub fn atom() -> impl Strategy<Value = Atom> {
    let s = |v: &str| Value::String(v.to_string());
    prop_oneof![
        (
            select(WINDOW_EDGES[..6].to_vec()),
            select(WINDOW_EDGES.to_vec())
        )
            .prop_map(|(a, b)| Atom::Time {
                start: TimeOfDay(a),
                end: TimeOfDay(b)
            }),
        // mon..fri, fri..mon (wraps), sun, anything
        prop_oneof![
            Just(0b001_1111u8),
            Just(0b111_0001),
            Just(0b100_0000),
            any::<u8>().prop_map(|m| m & 0x7f)
        ]
        .prop_map(|mask| Atom::Days { mask }),
        Just(Atom::Mtls),
        Just(Atom::Mtls),
        select(vec![vec![s("GET")], vec![s("GET"), s("HEAD")]]).prop_map(|vs| Atom::Request {
            field: RequestField::Method,
            test: ValueTest::In(vs)
        }),
        select(vec!["/api/*", "*", "/a*i/*"]).prop_map(|g| Atom::Request {
            field: RequestField::Path,
            test: ValueTest::Glob(g.to_string())
        }),
        Just(Atom::Context {
            name: "region".into(),
            test: ValueTest::In(vec![s("eu")])
        }),
        Just(Atom::Context {
            name: "break_glass".into(),
            test: ValueTest::IsTrue
        }),
        Just(Atom::Context {
            name: "ticket".into(),
            test: ValueTest::Present
        }),
    ]
}

/// A condition tree of depth ≤ 3 over [`atom`]s.
pub fn condition() -> impl Strategy<Value = Condition> {
    atom()
        .prop_map(Condition::Atom)
        .prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..=3).prop_map(Condition::And),
                prop::collection::vec(inner.clone(), 1..=3).prop_map(Condition::Or),
                inner.prop_map(|c| Condition::Not(Box::new(c))),
            ]
        })
}

/// A rule over these identities, with a placeholder id and provenance
/// (see [`push_rule`]).
pub fn rule(identities: &[Identity], cfg: GenConfig) -> BoxedStrategy<Rule> {
    let action = prop_oneof![3 => Just(Action::Allow), 1 => Just(Action::Deny)];
    let cond = if cfg.conditions {
        prop_oneof![1 => Just(Condition::True), 1 => condition()].boxed()
    } else {
        Just(Condition::True).boxed()
    };
    let expires = if cfg.expiry {
        prop_oneof![
            6 => Just(None),
            1 => (0..3i64).prop_map(|k| Some(Expiry::Day(now().date().add_days(k)))),
            1 => (1..3 * SECONDS_PER_DAY).prop_map(|s| Some(Expiry::Instant(Timestamp(now().0 + s)))),
        ]
        .boxed()
    } else {
        Just(None).boxed()
    };
    (
        action,
        endpoint_set(identities),
        endpoint_set(identities),
        services(),
        cond,
        expires,
    )
        .prop_map(move |(action, src, dst, services, condition, expires)| {
            let condition = if action == Action::Deny && !cfg.conditional_denies {
                Condition::True
            } else {
                condition
            };
            Rule {
                id: RuleId(0),
                action,
                src,
                dst,
                services,
                condition,
                expires,
                provenance: provenance(0),
            }
        })
        .boxed()
}

fn provenance(i: usize) -> Provenance {
    Provenance {
        label: format!("gen/{}", i + 1),
        id: format!("gen#{}", i + 1),
        file: "policy/gen.seg".to_string(),
        line: i as u32 + 1,
        column: 3,
        policy: "gen".to_string(),
        owner: None,
        doc: None,
        reason: None,
        origin: Span::new(FileId(0), i * 40, i * 40 + 30),
    }
}

/// Append a rule, giving it the next id and a label of its own.
pub fn push_rule(program: &mut Program, mut rule: Rule) {
    let i = program.rules.len();
    rule.id = RuleId(i as u32);
    rule.provenance = provenance(i);
    program.rules.push(rule);
}

/// An empty program over these identities.
pub fn empty_program(identities: Vec<Identity>) -> Program {
    Program {
        project: "gen".to_string(),
        source_hash: "0".repeat(64),
        now: now(),
        identities: identities.into(),
        rules: Vec::new(),
        omitted: Vec::new(),
        contexts: contexts(),
        tests: Vec::new(),
    }
}

/// A random program.
pub fn program(cfg: GenConfig) -> BoxedStrategy<Program> {
    identities(cfg)
        .prop_flat_map(move |ids| {
            let rules = prop::collection::vec(rule(&ids, cfg), 0..=cfg.max_rules);
            (Just(ids), rules)
        })
        .prop_map(|(ids, rules)| {
            let mut p = empty_program(ids);
            for r in rules {
                push_rule(&mut p, r);
            }
            p
        })
        .boxed()
}

fn first_last(n: &IpNet) -> [IpAddr; 2] {
    [n.network(), n.broadcast()]
}

fn step(a: IpAddr, up: bool) -> Option<IpAddr> {
    match a {
        IpAddr::V4(v) => {
            let x = u32::from(v);
            (if up {
                x.checked_add(1)
            } else {
                x.checked_sub(1)
            })
            .map(|x| IpAddr::V4(x.into()))
        }
        IpAddr::V6(v) => {
            let x = u128::from(v);
            (if up {
                x.checked_add(1)
            } else {
                x.checked_sub(1)
            })
            .map(|x| IpAddr::V6(x.into()))
        }
    }
}

/// Addresses at the edges of the program's networks and identity addresses.
pub fn boundary_addresses(program: &Program) -> Vec<IpAddr> {
    let mut nets: Vec<IpNet> = program
        .identities
        .iter()
        .flat_map(|i| i.addresses.iter().copied())
        .collect();
    for r in &program.rules {
        nets.extend(r.src.networks.to_cidrs());
        nets.extend(r.dst.networks.to_cidrs());
    }
    let mut out: BTreeSet<IpAddr> = BTreeSet::new();
    for n in &nets {
        for a in first_last(n) {
            out.insert(a);
        }
        out.extend(step(n.network(), false));
        out.extend(step(n.broadcast(), true));
    }
    for s in ["203.0.113.9", "2001:db8::1", "fd00::5", "10.0.0.9"] {
        out.extend(s.parse::<IpAddr>().ok());
    }
    out.into_iter().collect()
}

/// (protocol, port) pairs at the edges of the program's services.
pub fn boundary_ports(program: &Program) -> Vec<(Protocol, u16)> {
    let mut out: BTreeSet<(Protocol, u16)> = BTreeSet::new();
    for r in &program.rules {
        for (proto, ranges) in r.services.by_protocol() {
            for &(lo, hi) in ranges.ranges() {
                for p in [lo.checked_sub(1), Some(lo), Some(hi), hi.checked_add(1)]
                    .into_iter()
                    .flatten()
                {
                    out.insert((proto, p));
                }
            }
        }
    }
    out.extend([
        (Protocol::Tcp, 12345),
        (Protocol::Udp, 53),
        (Protocol::Icmp, 0),
        (Protocol::Other(47), 0),
    ]);
    out.into_iter().collect()
}

/// Instants at the edges of windows (on Fri..Mon around `now`) and expiry days.
pub fn boundary_times(program: &Program) -> Vec<Timestamp> {
    let mut minutes: BTreeSet<i64> = BTreeSet::from([0, 1440]);
    let mut expiries = BTreeSet::new();
    fn walk(c: &Condition, out: &mut BTreeSet<i64>) {
        match c {
            Condition::And(cs) | Condition::Or(cs) => cs.iter().for_each(|c| walk(c, out)),
            Condition::Not(c) => walk(c, out),
            Condition::Atom(Atom::Time { start, end }) => {
                out.insert(i64::from(start.0));
                out.insert(i64::from(end.0));
            }
            _ => {}
        }
    }
    for r in &program.rules {
        walk(&r.condition, &mut minutes);
        expiries.extend(r.expires.map(|e| match e {
            Expiry::Day(d) => (d.start(), e.end()),
            Expiry::Instant(t) => (Timestamp(t.0 - 60), t),
        }));
    }
    let mut out: BTreeSet<Timestamp> = BTreeSet::from([program.now]);
    for day in 0..4 {
        let start = program.now.date().add_days(day).start().0;
        for m in &minutes {
            out.insert(Timestamp(start + m * 60 - 1));
            out.insert(Timestamp(start + m * 60));
        }
    }
    for (start, end) in expiries {
        out.extend([Timestamp(end.0 - 1), end, Timestamp(end.0 + 1), start]);
    }
    out.into_iter().collect()
}

/// Endpoints in a set: a few member identities, their first addresses and
/// the edges of its networks.
fn members(program: &Program, set: &seg_ir::EndpointSet) -> Vec<FlowEndpoint> {
    let mut out: Vec<FlowEndpoint> = set
        .identities
        .iter()
        .take(4)
        .map(|i| FlowEndpoint::Identity(*i))
        .collect();
    for id in set.identities.iter().take(4) {
        let addrs = program
            .identities
            .get(id.0 as usize)
            .map(|i| i.addresses.as_slice())
            .unwrap_or_default();
        out.extend(addrs.iter().map(|a| FlowEndpoint::Address(a.network())));
    }
    for (lo, hi) in set.networks.ranges().into_iter().take(3) {
        out.push(FlowEndpoint::Address(lo));
        out.push(FlowEndpoint::Address(hi));
    }
    out
}

/// (protocol, port) pairs inside a service set.
fn inside(services: &PortSet) -> Vec<(Protocol, u16)> {
    let mut out = Vec::new();
    for (proto, ranges) in services.by_protocol() {
        for &(lo, hi) in ranges.ranges().iter().take(2) {
            out.push((proto, lo));
            out.push((proto, hi));
        }
    }
    if services.icmp {
        out.push((Protocol::Icmp, 0));
    }
    if services.other {
        out.push((Protocol::Other(47), 0));
    }
    out
}

/// A flow aimed at the program's boundaries, or at the inside of one of its rules.
pub fn flow(program: &Program) -> BoxedStrategy<Flow> {
    let ids: Vec<FlowEndpoint> = program
        .identities
        .iter()
        .map(|i| FlowEndpoint::Identity(i.id))
        .collect();
    let addrs: Vec<FlowEndpoint> = boundary_addresses(program)
        .into_iter()
        .map(FlowEndpoint::Address)
        .collect();
    let endpoint = prop_oneof![select(ids), select(addrs)];
    let boundary = (endpoint.clone(), endpoint, select(boundary_ports(program))).boxed();
    let aimed: Vec<_> = program
        .rules
        .iter()
        .map(|r| {
            (
                members(program, &r.src),
                members(program, &r.dst),
                inside(&r.services),
            )
        })
        .filter(|(s, d, p)| !s.is_empty() && !d.is_empty() && !p.is_empty())
        .collect();
    let triple = if aimed.is_empty() {
        boundary
    } else {
        let at_rule = select(aimed)
            .prop_flat_map(|(s, d, p)| (select(s), select(d), select(p)))
            .boxed();
        prop_oneof![boundary, at_rule].boxed()
    };
    let at = select(boundary_times(program));
    let method = prop::option::of(select(vec!["GET", "POST", "HEAD"]));
    let path = prop::option::of(select(vec![
        "/api/x", "/api/", "/apix", "/x/api/y", "", "/ai/z",
    ]));
    let context = (
        prop::option::of(any::<bool>()),
        prop::option::of(select(vec!["eu", "us"])),
        prop::option::of(Just("T-1")),
    );
    (triple, at, any::<bool>(), method, path, context)
        .prop_map(
            |((src, dst, (protocol, port)), at, mtls, method, path, (bg, region, ticket))| {
                let mut context = BTreeMap::new();
                if let Some(b) = bg {
                    context.insert("break_glass".to_string(), Value::Bool(b));
                }
                if let Some(r) = region {
                    context.insert("region".to_string(), Value::String(r.to_string()));
                }
                if let Some(t) = ticket {
                    context.insert("ticket".to_string(), Value::String(t.to_string()));
                }
                let port = if matches!(protocol, Protocol::Tcp | Protocol::Udp | Protocol::Sctp) {
                    port
                } else {
                    0
                };
                Flow {
                    src,
                    dst,
                    protocol,
                    port,
                    at,
                    mtls,
                    method: method.map(str::to_string),
                    path: path.map(str::to_string),
                    context,
                }
            },
        )
        .boxed()
}

/// A program and some flows aimed at it.
pub fn program_and_flows(cfg: GenConfig, flows: usize) -> BoxedStrategy<(Program, Vec<Flow>)> {
    program(cfg)
        .prop_flat_map(move |p| {
            let fs = prop::collection::vec(flow(&p), flows);
            (Just(p), fs)
        })
        .boxed()
}

/// Random target capabilities.
pub fn capabilities() -> impl Strategy<Value = Capabilities> {
    any::<[bool; 7]>().prop_map(|b| Capabilities {
        deny: b[0],
        time: b[1],
        mtls: b[2],
        request: b[3],
        context: b[4],
        honours_layered: b[5],
        clock: b[6],
    })
}

/// A random `[enforcement] layered` list.
pub fn layered() -> impl Strategy<Value = Vec<ConditionClass>> {
    any::<[bool; 4]>().prop_map(|b| {
        ConditionClass::ALL
            .into_iter()
            .zip(b)
            .filter(|(_, on)| *on)
            .map(|(c, _)| c)
            .collect()
    })
}
