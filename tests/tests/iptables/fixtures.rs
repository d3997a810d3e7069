//! Programs for the iptables tests: the examples through the driver, hand-made
//! programs (the bank example by hand, CIDR/port edges, clock-relative time
//! windows, hostile names), and flows sampled from a program's edges.

use super::probe::Candidate;
use ipnet::IpNet;
use seg_diag::{Diagnostics, FileId, Span};
use seg_ir::capability;
use seg_ir::{
    Action, Atom, CidrSet, Condition, ConditionClass, Date, EndpointSet, Expectation, Flow,
    FlowEndpoint, Identity, IdentityId, IdentityKind, PortSet, Program, Protocol, Provenance, Rule,
    RuleId, Test, TimeOfDay, Timestamp,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Timestamp(secs as i64)
}

fn span() -> Span {
    Span::new(FileId(0), 0, 0)
}

/// A program prepared for iptables, with a name for messages.
pub struct Case {
    pub name: String,
    pub program: Program,
}

/// Run the shared capability pass for iptables.
pub fn prepare(program: &Program, layered: &[ConditionClass]) -> Program {
    prepare_for(program, &seg_iptables::Iptables, layered)
}

/// Run the shared capability pass for a host target (iptables, nftables).
pub fn prepare_for(
    program: &Program,
    backend: &dyn seg_ir::Backend,
    layered: &[ConditionClass],
) -> Program {
    let mut diags = Diagnostics::new();
    let p = capability::prepare(program, backend, layered, &mut diags);
    assert!(
        !diags.has_errors(),
        "capability pass: {:?}",
        diags.iter().collect::<Vec<_>>()
    );
    p.program.into_owned()
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Every `examples/*` project compiled by the driver at `now` and prepared for iptables.
pub fn examples(now: Timestamp) -> Vec<Case> {
    let mut out = Vec::new();
    for d in seg_tests::projects(&repo_root().join("examples")) {
        let input = seg::driver::Input::from_args(Some(&d), &[])
            .unwrap_or_else(|e| panic!("{}: {}", d.display(), e.message));
        let comp = seg::driver::compile(&input, now);
        let errors: Vec<_> = comp.diags.iter().filter(|x| x.is_error()).collect();
        let (Some(program), Some(manifest), true) =
            (comp.program, comp.manifest, errors.is_empty())
        else {
            panic!("{} does not compile: {errors:#?}", d.display());
        };
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Case {
            name: format!("examples/{name}"),
            program: prepare(&program, &manifest.layered),
        });
    }
    out
}

/// A small program builder that keeps the IR invariants (a set's identities
/// include every identity its networks overlap).
pub struct Fx {
    pub p: Program,
}

impl Fx {
    pub fn new(now: Timestamp) -> Fx {
        Fx {
            p: Program {
                project: "fixture".into(),
                source_hash: "0".repeat(64),
                now,
                identities: Default::default(),
                rules: Vec::new(),
                omitted: Vec::new(),
                contexts: BTreeMap::new(),
                tests: Vec::new(),
            },
        }
    }

    pub fn id(&mut self, name: &str, kind: IdentityKind, addrs: &[&str]) -> IdentityId {
        let id = IdentityId(self.p.identities.len() as u32);
        let mut addresses: Vec<IpNet> = addrs
            .iter()
            .map(|a| a.parse::<IpNet>().expect("net").trunc())
            .collect();
        addresses.sort();
        self.p.identities.push(Identity {
            id,
            name: name.into(),
            kind,
            owner: Some("team-test".into()),
            attributes: BTreeMap::new(),
            labels: BTreeMap::new(),
            addresses,
            kubernetes: None,
            aws: None,
            gcp: None,
            spiffe: Some(format!("spiffe://test/{}", id.0)),
            origin: span(),
        });
        id
    }

    pub fn host(&mut self, name: &str, addrs: &[&str]) -> IdentityId {
        self.id(name, IdentityKind::Workload, addrs)
    }

    /// Named identities plus networks (given as a set), with every identity the networks overlap.
    pub fn set_of(&self, ids: &[IdentityId], networks: CidrSet) -> EndpointSet {
        let mut identities: BTreeSet<IdentityId> = ids.iter().copied().collect();
        for i in &self.p.identities {
            if i.addresses
                .iter()
                .any(|a| networks.overlaps(&CidrSet::from_net(*a)))
            {
                identities.insert(i.id);
            }
        }
        EndpointSet {
            identities,
            explicit: ids.iter().copied().collect(),
            networks,
        }
    }

    pub fn set(&self, ids: &[IdentityId], nets: &[&str]) -> EndpointSet {
        let n: Vec<IpNet> = nets.iter().map(|a| a.parse().expect("net")).collect();
        self.set_of(ids, CidrSet::from_nets(&n))
    }

    pub fn any(&self) -> EndpointSet {
        EndpointSet {
            identities: self.p.identities.iter().map(|i| i.id).collect(),
            explicit: BTreeSet::new(),
            networks: CidrSet::all(),
        }
    }

    pub fn rule(
        &mut self,
        action: Action,
        policy: &str,
        src: EndpointSet,
        dst: EndpointSet,
        services: PortSet,
    ) -> &mut Rule {
        let n = self
            .p
            .rules
            .iter()
            .filter(|r| r.provenance.policy == policy)
            .count()
            + 1;
        let id = RuleId(self.p.rules.len() as u32);
        self.p.rules.push(Rule {
            id,
            action,
            src,
            dst,
            services,
            condition: Condition::True,
            expires: None,
            provenance: Provenance {
                label: format!("{policy}/{n}"),
                id: format!("{policy}#{n}"),
                file: "fixture.seg".into(),
                line: 1 + id.0,
                column: 1,
                policy: policy.into(),
                owner: Some("team-test".into()),
                doc: None,
                reason: None,
                origin: span(),
            },
        });
        self.p.rules.last_mut().expect("just pushed")
    }

    pub fn expect(
        &mut self,
        decision: Action,
        src: FlowEndpoint,
        dst: FlowEndpoint,
        protocol: Protocol,
        port: u16,
        at: Option<Timestamp>,
    ) {
        let line = 100 + self.p.tests.first().map_or(0, |t| t.expectations.len()) as u32;
        let e = Expectation {
            decision,
            flow: flow(src, dst, protocol, port, at.unwrap_or(self.p.now)),
            at_given: at.is_some(),
            file: "fixture.seg".into(),
            line,
            origin: span(),
        };
        if self.p.tests.is_empty() {
            self.p.tests.push(Test {
                name: "fixture".into(),
                expectations: Vec::new(),
            });
        }
        self.p.tests[0].expectations.push(e);
    }
}

pub fn flow(
    src: FlowEndpoint,
    dst: FlowEndpoint,
    protocol: Protocol,
    port: u16,
    at: Timestamp,
) -> Flow {
    Flow {
        src,
        dst,
        protocol,
        port,
        at,
        mtls: false,
        method: None,
        path: None,
        context: BTreeMap::new(),
    }
}

fn tcp(lo: u16, hi: u16) -> PortSet {
    PortSet::ports(Protocol::Tcp, lo, hi)
}

fn udp(lo: u16, hi: u16) -> PortSet {
    PortSet::ports(Protocol::Udp, lo, hi)
}

fn addr(s: &str) -> FlowEndpoint {
    FlowEndpoint::Address(s.parse().expect("address"))
}

/// `examples/bank` by hand, as the checker lowers it (before the capability
/// pass; `layered = ["mtls"]` is applied by [`prepare`]).
pub fn bank(now: Timestamp) -> Case {
    let mut fx = Fx::new(now);
    let api = fx.host("payments-api", &["10.1.2.10/32", "10.1.2.11/32"]);
    let worker = fx.host("payments-worker", &["10.1.2.20/32"]);
    let sandbox = fx.host("payments-sandbox", &["10.9.2.30/32"]);
    let pg = fx.host("ledger-postgres", &["10.1.3.5/32"]);
    let replica = fx.host("ledger-replica", &["10.1.3.6/32"]);
    let web = fx.host("web-frontend", &["10.1.1.10/32"]);
    let dns = fx.host("kube-dns", &["10.1.0.10/32"]);
    let migrator = fx.id("migrator-job", IdentityKind::CiJob, &["10.1.9.50/32"]);
    fx.id("reporting-key", IdentityKind::ApiKey, &[]);
    let payments = fx.set(&[api, worker], &[]);
    let ledger = fx.set(&[pg, replica], &[]);
    fx.rule(
        Action::Allow,
        "ledger-access",
        payments.clone(),
        ledger.clone(),
        tcp(5432, 5432),
    )
    .condition = Condition::Atom(Atom::Mtls);
    let ci = fx.set(&[migrator], &[]);
    let r = fx.rule(Action::Allow, "ledger-access", ci, ledger, tcp(5432, 5432));
    r.condition = Condition::Atom(Atom::Time {
        start: TimeOfDay(60),
        end: TimeOfDay(180),
    });
    r.expires = Date::new(2026, 12, 31).map(Into::into);
    let partners = fx.set(&[], &["203.0.113.0/24", "198.51.100.0/24"]);
    let to_api = fx.set(&[api], &[]);
    fx.rule(
        Action::Allow,
        "ledger-access",
        partners,
        to_api,
        tcp(8443, 8443).union(&tcp(443, 443)),
    );
    let to_dns = fx.set(&[dns], &[]);
    fx.rule(
        Action::Allow,
        "ledger-access",
        payments,
        to_dns,
        udp(53, 53).union(&tcp(53, 53)),
    );
    let everyone = fx.any();
    let metadata = fx.set(&[], &["169.254.169.254/32", "fd00:ec2::254/128"]);
    fx.rule(
        Action::Deny,
        "ledger-access",
        everyone,
        metadata,
        PortSet::any(),
    );
    let id = FlowEndpoint::Identity;
    let at = |s: &str| Timestamp::parse(s);
    fx.expect(Action::Allow, id(api), id(pg), Protocol::Tcp, 5432, None);
    fx.expect(Action::Deny, id(web), id(pg), Protocol::Tcp, 5432, None);
    fx.expect(Action::Deny, id(sandbox), id(pg), Protocol::Tcp, 5432, None);
    fx.expect(
        Action::Allow,
        id(migrator),
        id(pg),
        Protocol::Tcp,
        5432,
        at("2026-11-23T01:30:00Z"),
    );
    fx.expect(
        Action::Deny,
        id(migrator),
        id(pg),
        Protocol::Tcp,
        5432,
        at("2026-11-23T12:00:00Z"),
    );
    fx.expect(
        Action::Allow,
        addr("203.0.113.7"),
        id(api),
        Protocol::Tcp,
        8443,
        None,
    );
    fx.expect(
        Action::Deny,
        addr("203.0.113.7"),
        id(worker),
        Protocol::Tcp,
        8443,
        None,
    );
    Case {
        name: "bank (by hand)".into(),
        program: prepare(&fx.p, &[ConditionClass::Mtls]),
    }
}

/// CIDR edges, port-range edges, denies carved out of allows, ipsets, IPv6.
pub fn edges(now: Timestamp) -> Case {
    let mut fx = Fx::new(now);
    let web = fx.host("web", &["10.30.0.10/32", "fd00:30::10/128"]);
    let db = fx.host("db", &["10.30.0.20/32", "fd00:30::20/128"]);
    let cache = fx.host("cache", &["10.30.0.30/32"]);
    let ops = fx.host("ops", &["10.30.1.5/32"]);
    let pool = fx.host("pool", &["10.30.2.0/30"]);
    // A /22 minus a /24, to db on a range: CIDR and port edges.
    let n: Vec<IpNet> = ["10.40.0.0/22"]
        .iter()
        .map(|s| s.parse().expect("net"))
        .collect();
    let hole: Vec<IpNet> = ["10.40.1.0/24"]
        .iter()
        .map(|s| s.parse().expect("net"))
        .collect();
    let carved = CidrSet::from_nets(&n).difference(&CidrSet::from_nets(&hole));
    let src = fx.set_of(&[], carved);
    let to_db = fx.set(&[db], &[]);
    fx.rule(
        Action::Allow,
        "edges",
        src,
        to_db.clone(),
        tcp(5000, 5010).union(&udp(5000, 5010)),
    );
    let deny_src = fx.set(&[], &["10.40.2.128/25"]);
    fx.rule(
        Action::Deny,
        "edges",
        deny_src,
        to_db.clone(),
        tcp(5005, 5005),
    );
    // web -> db on a port list; a deny carves one port out.
    let from_web = fx.set(&[web], &[]);
    fx.rule(
        Action::Allow,
        "app",
        from_web.clone(),
        to_db.clone(),
        tcp(5432, 5434).union(&udp(5432, 5432)),
    );
    fx.rule(
        Action::Deny,
        "lockdown",
        from_web.clone(),
        to_db.clone(),
        tcp(5433, 5433),
    );
    // Twelve scattered sources to the cache: an ipset; one of them denied.
    let scattered: Vec<String> = (0..12)
        .map(|i| format!("10.50.{}.{}/32", i, 7 + i * 3))
        .collect();
    let scattered: Vec<&str> = scattered.iter().map(String::as_str).collect();
    let many = fx.set(&[ops], &scattered);
    let to_cache = fx.set(&[cache], &[]);
    fx.rule(
        Action::Allow,
        "cache",
        many,
        to_cache.clone(),
        tcp(6379, 6379),
    );
    let one = fx.set(&[], &["10.50.3.16/32"]);
    fx.rule(
        Action::Deny,
        "cache",
        one,
        to_cache.clone(),
        tcp(6379, 6379),
    );
    // More than 15 multiport slots.
    let mut ports = PortSet::empty();
    for i in 0..18u16 {
        ports = ports.union(&tcp(7000 + 3 * i, 7000 + 3 * i));
    }
    ports = ports.union(&tcp(7100, 7110));
    let from_ops = fx.set(&[ops], &[]);
    fx.rule(Action::Allow, "cache", from_ops.clone(), to_cache, ports);
    // Everyone to web, minus a network on one port; web out to anywhere on udp/53.
    let everyone = fx.any();
    let to_web = fx.set(&[web], &[]);
    fx.rule(
        Action::Allow,
        "public",
        everyone.clone(),
        to_web.clone(),
        tcp(80, 80).union(&tcp(443, 443)),
    );
    let bad = fx.set(&[], &["10.40.0.0/24", "fd00:40::/120"]);
    fx.rule(Action::Deny, "public", bad, to_web, tcp(443, 443));
    fx.rule(Action::Allow, "public", from_web, everyone, udp(53, 53));
    // IPv6 networks to db, with a deny inside.
    let v6 = fx.set(&[], &["fd00:40::/64"]);
    fx.rule(Action::Allow, "v6", v6, to_db.clone(), tcp(5000, 5010));
    let v6_hole = fx.set(&[], &["fd00:40::8/125"]);
    fx.rule(Action::Deny, "v6", v6_hole, to_db.clone(), tcp(5000, 5000));
    // An identity with a network address, as a source.
    let from_pool = fx.set(&[pool], &[]);
    fx.rule(Action::Allow, "pool", from_pool, to_db, tcp(8080, 8080));
    let id = FlowEndpoint::Identity;
    fx.expect(Action::Allow, id(web), id(db), Protocol::Tcp, 5432, None);
    fx.expect(Action::Deny, id(web), id(db), Protocol::Tcp, 5433, None);
    fx.expect(Action::Deny, id(db), id(web), Protocol::Tcp, 5432, None);
    fx.expect(
        Action::Allow,
        addr("10.30.2.2"),
        id(db),
        Protocol::Tcp,
        8080,
        None,
    );
    fx.expect(
        Action::Deny,
        addr("10.50.3.16"),
        id(cache),
        Protocol::Tcp,
        6379,
        None,
    );
    fx.expect(
        Action::Allow,
        addr("10.50.4.19"),
        id(cache),
        Protocol::Tcp,
        6379,
        None,
    );
    fx.expect(Action::Allow, id(ops), id(cache), Protocol::Tcp, 7051, None);
    fx.expect(
        Action::Allow,
        id(web),
        addr("192.0.2.53"),
        Protocol::Udp,
        53,
        None,
    );
    fx.expect(
        Action::Deny,
        id(db),
        addr("192.0.2.53"),
        Protocol::Udp,
        53,
        None,
    );
    fx.expect(Action::Deny, id(ops), id(db), Protocol::Tcp, 5432, None);
    Case {
        name: "edges (by hand)".into(),
        program: prepare(&fx.p, &[]),
    }
}

/// Hosts with IPv6 addresses and no IPv6 rule of their own (`quiet`: an allow
/// from an IPv4 network only; `idle`: no rule at all), which load the shared
/// IPv6 file, beside one with IPv6 rules (`open6`: its own file). IPv6 flows
/// from outside to `quiet` and `idle` can only be stopped by their IPv6
/// chains (nothing filters the sender), so a host left without them would
/// accept the flows expected denied here.
pub fn shared_ip6(now: Timestamp) -> Case {
    let mut fx = Fx::new(now);
    let quiet = fx.host("quiet", &["10.70.0.1/32", "fd00:70::1/128"]);
    let idle = fx.host("idle", &["10.70.0.2/32", "fd00:70::2/128"]);
    let open6 = fx.host("open6", &["10.70.0.3/32", "fd00:70::3/128"]);
    let v4_net = fx.set(&[], &["10.77.0.0/24"]);
    let to_quiet = fx.set(&[quiet], &[]);
    fx.rule(Action::Allow, "v4-only", v4_net, to_quiet, tcp(22, 22));
    let v6_net = fx.set(&[], &["fd00:77::/64"]);
    let to_open6 = fx.set(&[open6], &[]);
    fx.rule(Action::Allow, "v6", v6_net, to_open6, tcp(22, 22));
    let id = FlowEndpoint::Identity;
    for (decision, src, dst, protocol, port) in [
        (Action::Allow, "10.77.0.5", quiet, Protocol::Tcp, 22),
        (Action::Deny, "fd00:77::5", quiet, Protocol::Tcp, 22),
        (Action::Deny, "fd00:77::5", quiet, Protocol::Udp, 22),
        (Action::Deny, "fd00:77::5", idle, Protocol::Tcp, 22),
        (Action::Allow, "fd00:77::5", open6, Protocol::Tcp, 22),
        (Action::Deny, "fd00:77::5", open6, Protocol::Tcp, 23),
    ] {
        fx.expect(decision, addr(src), id(dst), protocol, port, None);
    }
    Case {
        name: "shared IPv6 file (by hand)".into(),
        program: prepare(&fx.p, &[]),
    }
}

/// Time windows placed around the current time, so the kernel's clock decides
/// them: windows containing now or not, weekdays of today or not, negations,
/// a window crossing midnight, expiry yesterday (compiled three days ago) and today.
pub fn clock(real_now: Timestamp) -> Case {
    let mut fx = Fx::new(Timestamp(real_now.0 - 3 * 86_400));
    let a = fx.host("clock-a", &["10.60.0.1/32", "fd00:60::1/128"]);
    let b = fx.host("clock-b", &["10.60.0.2/32", "fd00:60::2/128"]);
    let minute = real_now.second_of_day() / 60;
    let tod = |m: i64| TimeOfDay(m.rem_euclid(1440) as u16);
    let window = |s: i64, e: i64| {
        Condition::Atom(Atom::Time {
            start: tod(minute + s),
            end: tod(minute + e),
        })
    };
    let today = 1u8 << real_now.weekday().0;
    let days = |mask: u8| Condition::Atom(Atom::Days { mask });
    let not = |c: Condition| Condition::Not(Box::new(c));
    let conds: Vec<(u16, Condition, Option<Date>)> = vec![
        (7001, window(-60, 60), None),
        (7002, window(60, 120), None),
        (7003, days(today), None),
        (7004, days(0x7f & !today), None),
        (7005, not(window(-60, 60)), None),
        (7006, not(window(60, 120)), None),
        (7007, Condition::True, Some(real_now.date().add_days(-1))),
        (7008, Condition::True, Some(real_now.date())),
        // All day but one minute an hour ago: crosses midnight (unless that minute is 23:59).
        (
            7009,
            Condition::And(vec![window(-60, -61), days(today)]),
            None,
        ),
        (
            7010,
            Condition::And(vec![window(-60, -61), days(0x7f & !today)]),
            None,
        ),
        (
            7011,
            Condition::Or(vec![
                Condition::And(vec![window(60, 120), days(today)]),
                not(days(0x7f)),
            ]),
            None,
        ),
        (
            7012,
            Condition::And(vec![window(-30, 30), not(days(0x7f & !today))]),
            Some(real_now.date().add_days(30)),
        ),
    ];
    for (port, cond, expires) in conds {
        let (src, dst) = (fx.set(&[a], &[]), fx.set(&[b], &[]));
        let r = fx.rule(Action::Allow, "clock", src, dst, tcp(port, port));
        r.condition = cond;
        r.expires = expires.map(Into::into);
    }
    // A deny with a window containing now beats an allow.
    let (src, dst) = (fx.set(&[b], &[]), fx.set(&[a], &[]));
    fx.rule(
        Action::Allow,
        "clock",
        src.clone(),
        dst.clone(),
        tcp(7020, 7021),
    );
    fx.rule(Action::Deny, "clock-deny", src, dst, tcp(7020, 7020))
        .condition = window(-45, 45);
    Case {
        name: "clock (by hand)".into(),
        program: prepare(&fx.p, &[]),
    }
}

/// Identity, policy, file and doc text chosen to break a careless printer.
pub fn hostile(now: Timestamp) -> Case {
    let mut fx = Fx::new(now);
    let names = [
        "../../etc/passwd",
        "a\"; -j ACCEPT\n-A INPUT -j ACCEPT\nCOMMIT\n# ",
        ".",
        "..",
        "x\0y",
        "UPPER",
        "upper",
        "payments-аpi",
        "tab\there",
        "con",
    ];
    let mut ids = Vec::new();
    for (i, n) in names.iter().enumerate() {
        ids.push(fx.host(
            n,
            &[
                &format!("10.70.0.{}/32", i + 1),
                &format!("fd00:70::{:x}/128", i + 1),
            ],
        ));
    }
    let long = format!("{}\"\\", "z".repeat(10_000));
    ids.push(fx.host(&long, &["10.70.1.1/32"]));
    let all = fx.set(&ids, &[]);
    let policy = format!("p\"\\\n-A INPUT -j ACCEPT {}", "q".repeat(300));
    let r = fx.rule(
        Action::Allow,
        &policy,
        all.clone(),
        all.clone(),
        tcp(1, 1024),
    );
    r.provenance.doc = Some("line one\n-A INPUT -j ACCEPT\nCOMMIT\n\"quoted\" \\back".into());
    r.provenance.reason = Some("\"\\%".repeat(100));
    r.provenance.file = format!("x\n\"y\"{}.seg", "/".repeat(200));
    r.provenance.owner = Some("o\"wner".into());
    let r = fx.rule(
        Action::Deny,
        &format!("{policy}2"),
        all.clone(),
        all,
        tcp(22, 22),
    );
    r.provenance.label = format!("{}\"", "label".repeat(60));
    Case {
        name: "hostile names (by hand)".into(),
        program: prepare(&fx.p, &[]),
    }
}

/// Flows for one program: its expectations, then flows at the edges of each
/// rule's sets and ports (first/last address of each network and one outside
/// it, first/last port of each range and one outside it), capped at `cap`.
pub fn candidates(program: &Program, at: Timestamp, cap: usize) -> Vec<Candidate> {
    let mut out = Vec::new();
    for t in &program.tests {
        for e in &t.expectations {
            let mut f = e.flow.clone();
            f.at = at;
            let when = if e.at_given {
                " (its `at` replaced by the current time)"
            } else {
                ""
            };
            out.push(Candidate {
                flow: f,
                origin: format!("expect {}:{}{when}", e.file, e.line),
            });
        }
    }
    let mut sampled = Vec::new();
    for rule in &program.rules {
        let srcs = edge_endpoints(program, &rule.src);
        let dsts = edge_endpoints(program, &rule.dst);
        let ports = edge_ports(&rule.services);
        for s in &srcs {
            for d in &dsts {
                for &(protocol, port) in &ports {
                    sampled.push(Candidate {
                        flow: flow(*s, *d, protocol, port, at),
                        origin: format!(
                            "edge of {} ({})",
                            rule.provenance.label,
                            rule.provenance.location()
                        ),
                    });
                }
            }
        }
    }
    // Every pair of hosts on a port no rule mentions: default deny.
    let hosts: Vec<IdentityId> = program
        .identities
        .iter()
        .filter(|i| !i.addresses.is_empty())
        .map(|i| i.id)
        .collect();
    for &s in &hosts {
        for &d in &hosts {
            if s != d {
                let f = flow(
                    FlowEndpoint::Identity(s),
                    FlowEndpoint::Identity(d),
                    Protocol::Tcp,
                    9,
                    at,
                );
                sampled.push(Candidate {
                    flow: f,
                    origin: "default deny (tcp/9)".into(),
                });
            }
        }
    }
    let room = cap.saturating_sub(out.len()).max(1);
    let stride = sampled.len().div_ceil(room).max(1);
    out.extend(sampled.into_iter().step_by(stride));
    out
}

fn edge_endpoints(program: &Program, set: &EndpointSet) -> Vec<FlowEndpoint> {
    let mut out: Vec<FlowEndpoint> = Vec::new();
    let with_addr: Vec<IdentityId> = set
        .identities
        .iter()
        .copied()
        .filter(|i| !program.identity(*i).addresses.is_empty())
        .collect();
    // Up to four members, spread over the set.
    let n = with_addr.len();
    let picks: BTreeSet<usize> = [0, 1, n / 2, n.saturating_sub(1)]
        .into_iter()
        .filter(|&i| i < n)
        .collect();
    for i in picks {
        out.push(FlowEndpoint::Identity(with_addr[i]));
    }
    for (lo, hi) in set.networks.ranges().into_iter().take(4) {
        let mut picks = vec![lo, hi, mid(lo, hi), third(lo, hi)];
        picks.extend(step(lo, -1));
        picks.extend(step(hi, 1));
        for p in picks {
            let e = FlowEndpoint::Address(p);
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    out
}

/// A third of the way into the range: for `/0` a routable address where the
/// middle would be loopback.
fn third(lo: IpAddr, hi: IpAddr) -> IpAddr {
    match (lo, hi) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            IpAddr::V4((u32::from(a) + (u32::from(b) - u32::from(a)) / 3).into())
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            IpAddr::V6((u128::from(a) + (u128::from(b) - u128::from(a)) / 3).into())
        }
        _ => lo,
    }
}

fn step(ip: IpAddr, by: i8) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(a) => u32::from(a)
            .checked_add_signed(i32::from(by))
            .map(|x| IpAddr::V4(x.into())),
        IpAddr::V6(a) => u128::from(a)
            .checked_add_signed(i128::from(by))
            .map(|x| IpAddr::V6(x.into())),
    }
}

fn mid(lo: IpAddr, hi: IpAddr) -> IpAddr {
    match (lo, hi) {
        (IpAddr::V4(a), IpAddr::V4(b)) => IpAddr::V4((u32::from(a) / 2 + u32::from(b) / 2).into()),
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            IpAddr::V6((u128::from(a) / 2 + u128::from(b) / 2).into())
        }
        _ => lo,
    }
}

fn edge_ports(services: &PortSet) -> Vec<(Protocol, u16)> {
    let mut out = Vec::new();
    for (protocol, ranges) in [
        (Protocol::Tcp, &services.tcp),
        (Protocol::Udp, &services.udp),
    ] {
        for &(lo, hi) in ranges.ranges().iter().take(3) {
            let mut ports = vec![lo, hi];
            ports.extend(lo.checked_sub(1));
            ports.extend(hi.checked_add(1));
            for p in ports {
                if p != 0 && !out.contains(&(protocol, p)) {
                    out.push((protocol, p));
                }
            }
        }
    }
    out
}
