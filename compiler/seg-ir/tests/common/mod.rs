//! Fixtures shared by the seg-ir integration tests: a configurable test
//! backend and small hand-built programs.
#![allow(dead_code)]

#[path = "../../../../tests/src/gen.rs"]
pub mod strategies;

use ipnet::IpNet;
use seg_diag::{Diagnostics, FileId, Span};
use seg_ir::backend::TargetOptions;
use seg_ir::time::{TimeOfDay, Timestamp};
use seg_ir::{
    Action, Atom, Backend, Capabilities, CidrSet, Condition, EndpointSet, Flow, FlowEndpoint,
    Identity, IdentityId, IdentityKind, PortSet, Program, Protocol, Rule, RuleId,
};
use std::collections::{BTreeMap, BTreeSet};

/// A target with chosen capabilities; identities in `unrepresentable` cannot
/// be represented; it manages identities with addresses.
pub struct TestBackend {
    pub name: &'static str,
    pub caps: Capabilities,
    pub unrepresentable: BTreeSet<IdentityId>,
}

impl TestBackend {
    pub fn new(name: &'static str, caps: Capabilities) -> TestBackend {
        TestBackend {
            name,
            caps,
            unrepresentable: BTreeSet::new(),
        }
    }
}

impl Backend for TestBackend {
    fn name(&self) -> &'static str {
        self.name
    }
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
    fn manages(&self, identity: &Identity) -> bool {
        !identity.addresses.is_empty() && !self.unrepresentable.contains(&identity.id)
    }
    fn representable(&self, identity: &Identity) -> Result<(), String> {
        if self.unrepresentable.contains(&identity.id) {
            Err("no addresses and no `test` binding".to_string())
        } else {
            Ok(())
        }
    }
    fn lower<'p>(
        &self,
        _: &'p Program,
        _: &'p TargetOptions,
        _: &mut Diagnostics,
    ) -> seg_ir::Lowered<'p> {
        seg_ir::Lowered::nothing(Vec::new())
    }
}

pub const L3: Capabilities = Capabilities {
    deny: true,
    time: true,
    mtls: false,
    request: false,
    context: false,
    honours_layered: true,
    clock: true,
};
pub const NO_DENY: Capabilities = Capabilities {
    deny: false,
    time: false,
    mtls: false,
    request: false,
    context: false,
    honours_layered: true,
    clock: false,
};
pub const FULL: Capabilities = Capabilities {
    deny: true,
    time: true,
    mtls: true,
    request: true,
    context: true,
    honours_layered: false,
    clock: true,
};

pub fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

pub fn tod(s: &str) -> TimeOfDay {
    TimeOfDay::parse(s).unwrap()
}

/// An identity with these addresses.
pub fn identity(i: u32, name: &str, addresses: &[&str]) -> Identity {
    Identity {
        id: IdentityId(i),
        name: name.to_string(),
        kind: IdentityKind::Workload,
        owner: None,
        attributes: BTreeMap::new(),
        labels: BTreeMap::new(),
        addresses: addresses.iter().map(|a| net(a)).collect(),
        kubernetes: None,
        aws: None,
        gcp: None,
        spiffe: None,
        origin: Span::new(FileId(1), i as usize * 10, i as usize * 10 + 4),
    }
}

/// `api` 10.1.0.1, `db` 10.2.0.1 + fd00::2, `job` (no addresses), `web` 10.3.0.0/30.
pub fn base_program() -> Program {
    let mut p = strategies::empty_program(vec![
        identity(0, "api", &["10.1.0.1/32"]),
        identity(1, "db", &["10.2.0.1/32", "fd00::2/128"]),
        identity(2, "job", &[]),
        identity(3, "web", &["10.3.0.0/30"]),
    ]);
    p.now = ts("2026-11-20T12:00:00Z");
    p
}

pub fn ids(list: &[u32]) -> EndpointSet {
    let s: BTreeSet<IdentityId> = list.iter().map(|i| IdentityId(*i)).collect();
    EndpointSet {
        identities: s.clone(),
        explicit: s,
        networks: CidrSet::empty(),
    }
}

pub fn implied(list: &[u32]) -> EndpointSet {
    EndpointSet {
        explicit: BTreeSet::new(),
        ..ids(list)
    }
}

/// A `network` set, closed over the identities of [`base_program`].
pub fn nets(list: &[&str]) -> EndpointSet {
    let p = base_program();
    let n: Vec<IpNet> = list.iter().map(|s| net(s)).collect();
    let mut set = EndpointSet {
        networks: CidrSet::from_nets(&n),
        ..EndpointSet::default()
    };
    strategies::close(&mut set, &p.identities);
    set
}

pub fn tcp(lo: u16, hi: u16) -> PortSet {
    PortSet::ports(Protocol::Tcp, lo, hi)
}

pub fn add(
    p: &mut Program,
    action: Action,
    src: EndpointSet,
    dst: EndpointSet,
    services: PortSet,
    c: Condition,
) -> RuleId {
    let rule = Rule {
        id: RuleId(0),
        action,
        src,
        dst,
        services,
        condition: c,
        expires: None,
        provenance: gen_provenance(),
    };
    strategies::push_rule(p, rule);
    RuleId(p.rules.len() as u32 - 1)
}

fn gen_provenance() -> seg_ir::Provenance {
    seg_ir::Provenance {
        label: String::new(),
        id: String::new(),
        file: String::new(),
        line: 0,
        column: 0,
        policy: String::new(),
        owner: None,
        doc: None,
        reason: None,
        origin: Span::new(FileId(0), 0, 0),
    }
}

pub fn atom(a: Atom) -> Condition {
    Condition::Atom(a)
}

pub fn not(c: Condition) -> Condition {
    Condition::Not(Box::new(c))
}

/// A TCP flow between two identities at `now`, without context.
pub fn flow(p: &Program, src: FlowEndpoint, dst: FlowEndpoint, port: u16) -> Flow {
    Flow {
        src,
        dst,
        protocol: Protocol::Tcp,
        port,
        at: p.now,
        mtls: false,
        method: None,
        path: None,
        context: BTreeMap::new(),
    }
}

pub fn id(i: u32) -> FlowEndpoint {
    FlowEndpoint::Identity(IdentityId(i))
}

pub fn addr(s: &str) -> FlowEndpoint {
    FlowEndpoint::Address(s.parse().unwrap())
}
