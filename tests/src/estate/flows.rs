//! Flows of a generated estate, by name or address, and how their picks are
//! resolved against the estate's boundaries: the first and last address of
//! every network and identity address and the addresses just outside; the
//! edges of every port range and one past; the edges of every time window
//! (one second before and at) on the four days Friday..Monday around "now",
//! midnight, and the last second of every expiry day and the next day's
//! first. Most flows are aimed at one rule: endpoints from its source and
//! destination (both sides of `-` and `&`, so carved-out parts are hit),
//! ports from its services.

use super::model::{EstateModel, FlowSeed, WINDOW_MINUTES};
use super::render::{Rendered, RuleCover, seg_name};
use ipnet::IpNet;
use seg_ir::{Flow, FlowEndpoint, Program, Protocol, Timestamp, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// One end of a flow: an inventory identity by name, or an address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Name(String),
    Address(IpAddr),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Name(n) => f.write_str(&seg_name(n)),
            Endpoint::Address(a) => write!(f, "{a}"),
        }
    }
}

/// A flow of an estate, independent of any compiled program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSpec {
    pub src: Endpoint,
    pub dst: Endpoint,
    /// `"tcp"`, `"udp"`, `"sctp"`, `"icmp"` or a protocol number.
    pub protocol: Protocol,
    pub port: u16,
    #[serde(with = "rfc3339")]
    pub at: Timestamp,
    pub mtls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, Value>,
}

mod rfc3339 {
    use seg_ir::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("bad instant `{s}`")))
    }
}

impl FlowSpec {
    /// The flow over a compiled program; `None` when a name is not in its inventory.
    pub fn to_flow(&self, program: &Program) -> Option<Flow> {
        let end = |e: &Endpoint| match e {
            Endpoint::Name(n) => program
                .identity_by_name(n)
                .map(|i| FlowEndpoint::Identity(i.id)),
            Endpoint::Address(a) => Some(FlowEndpoint::Address(*a)),
        };
        Some(Flow {
            src: end(&self.src)?,
            dst: end(&self.dst)?,
            protocol: self.protocol,
            port: self.port,
            at: self.at,
            mtls: self.mtls,
            method: self.method.clone(),
            path: self.path.clone(),
            context: self.context.clone(),
        })
    }

    /// The `.seg` port spec of the flow (`None` for protocols a test cannot name).
    pub fn port_spec(&self) -> Option<String> {
        match self.protocol {
            Protocol::Tcp => Some(format!("tcp/{}", self.port)),
            Protocol::Udp => Some(format!("udp/{}", self.port)),
            Protocol::Sctp => Some(format!("sctp/{}", self.port)),
            Protocol::Icmp => Some("icmp".into()),
            Protocol::Other(_) => None,
        }
    }

    /// An `expect` line for a `test` block, or `None` when the flow cannot
    /// be written as one (a protocol by number).
    pub fn expect_line(&self, allow: bool) -> Option<String> {
        let mut with = Vec::new();
        if self.mtls {
            with.push("mtls".to_string());
        }
        if let Some(m) = &self.method {
            with.push(format!(
                "request.method = {}",
                serde_json::to_string(m).ok()?
            ));
        }
        if let Some(p) = &self.path {
            with.push(format!("request.path = {}", serde_json::to_string(p).ok()?));
        }
        for (k, v) in &self.context {
            let v = match v {
                Value::String(s) => serde_json::to_string(s).ok()?,
                Value::Int(i) => i.to_string(),
                Value::Bool(b) => b.to_string(),
            };
            with.push(format!("context.{k} = {v}"));
        }
        let with = if with.is_empty() {
            String::new()
        } else {
            format!(" with {}", with.join(", "))
        };
        Some(format!(
            "expect {} {} -> {} on {}{with} at {}",
            if allow { "allow" } else { "deny" },
            self.src,
            self.dst,
            self.port_spec()?,
            self.at
        ))
    }
}

/// The address one above (`up`) or one below `a`, if any.
pub(crate) fn step(a: IpAddr, up: bool) -> Option<IpAddr> {
    match a {
        IpAddr::V4(v) => {
            let x = u32::from(v);
            let y = if up {
                x.checked_add(1)
            } else {
                x.checked_sub(1)
            };
            y.map(|y| IpAddr::V4(y.into()))
        }
        IpAddr::V6(v) => {
            let x = u128::from(v);
            let y = if up {
                x.checked_add(1)
            } else {
                x.checked_sub(1)
            };
            y.map(|y| IpAddr::V6(y.into()))
        }
    }
}

/// First and last address of each network and the addresses just outside.
fn edges(nets: &[IpNet]) -> Vec<IpAddr> {
    let mut out = BTreeSet::new();
    for n in nets {
        out.insert(n.network());
        out.insert(n.broadcast());
        out.extend(step(n.network(), false));
        out.extend(step(n.broadcast(), true));
    }
    out.into_iter().collect()
}

const EXTERNAL: [&str; 4] = ["203.0.113.9", "2001:db8::1", "8.8.8.8", "10.0.250.1"];

/// Range edges and the ports just outside; with `inside_weight`, the edges
/// inside come that many times (so aimed flows mostly land in the rule).
fn ports(ranges: &[(Protocol, u16, u16)], inside_weight: usize) -> Vec<(Protocol, u16)> {
    let mut inside = BTreeSet::new();
    let mut outside = BTreeSet::new();
    for &(p, lo, hi) in ranges {
        if matches!(p, Protocol::Icmp | Protocol::Other(_)) {
            inside.insert((p, 0));
            continue;
        }
        inside.extend([(p, lo), (p, hi)]);
        outside.extend(lo.checked_sub(1).map(|x| (p, x)));
        outside.extend(hi.checked_add(1).map(|x| (p, x)));
    }
    weigh(inside, outside, inside_weight)
}

fn weigh<T: Clone + Ord>(
    inside: BTreeSet<T>,
    outside: BTreeSet<T>,
    inside_weight: usize,
) -> Vec<T> {
    let mut out = Vec::new();
    for _ in 0..inside_weight {
        out.extend(inside.iter().cloned());
    }
    out.extend(outside.into_iter().filter(|x| !inside.contains(x)));
    out
}

/// Instants: "now", window edges on Fri..Mon, expiry days' edges.
fn instants(r: &Rendered) -> Vec<Timestamp> {
    let now = super::now();
    let mut out = BTreeSet::from([now]);
    for day in 0..4 {
        let start = now.date().add_days(day).start().0;
        for m in WINDOW_MINUTES {
            let at = start + i64::from(m) * 60;
            out.insert(Timestamp(at - 1));
            out.insert(Timestamp(at));
        }
    }
    for d in &r.expiries {
        out.insert(Timestamp(d.end().0 - 1));
        out.insert(d.end());
    }
    out.into_iter().collect()
}

fn pick<T: Clone>(v: &[T], i: u16) -> Option<T> {
    (!v.is_empty()).then(|| v[i as usize % v.len()].clone())
}

struct Pools {
    endpoints: Vec<Endpoint>,
    ports: Vec<(Protocol, u16)>,
    instants: Vec<Timestamp>,
}

/// Endpoints of a set: its names and the first and last address of its
/// networks (three times each), and the addresses just outside.
fn members(m: &super::render::Members, pools: &Pools) -> Vec<Endpoint> {
    if m.any {
        return pools.endpoints.clone();
    }
    let mut inside: BTreeSet<Endpoint> = m.names.iter().cloned().map(Endpoint::Name).collect();
    for n in &m.nets {
        inside.insert(Endpoint::Address(n.network()));
        inside.insert(Endpoint::Address(n.broadcast()));
    }
    let outside = edges(&m.nets).into_iter().map(Endpoint::Address).collect();
    weigh(inside, outside, 3)
}

fn aimed(
    rule: &RuleCover,
    pools: &Pools,
    reverse: bool,
) -> (Vec<Endpoint>, Vec<Endpoint>, Vec<(Protocol, u16)>) {
    let (s, d) = if reverse && rule.both {
        (&rule.dst, &rule.src)
    } else {
        (&rule.src, &rule.dst)
    };
    (members(s, pools), members(d, pools), ports(&rule.ports, 3))
}

/// Resolve the model's flow picks.
pub fn resolve(m: &EstateModel, r: &Rendered) -> Vec<FlowSpec> {
    let mut endpoints: Vec<Endpoint> = r.names.iter().cloned().map(Endpoint::Name).collect();
    let mut nets = r.nets.clone();
    nets.extend(
        EXTERNAL
            .iter()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .map(IpNet::from),
    );
    endpoints.extend(edges(&nets).into_iter().map(Endpoint::Address));
    let mut all_ports: Vec<(Protocol, u16, u16)> =
        r.rules.iter().flat_map(|c| c.ports.clone()).collect();
    all_ports.extend([
        (Protocol::Tcp, 12345, 12345),
        (Protocol::Udp, 53, 53),
        (Protocol::Icmp, 0, 0),
        (Protocol::Other(47), 0, 0),
        (Protocol::Sctp, 9000, 9000),
    ]);
    let pools = Pools {
        endpoints,
        ports: ports(&all_ports, 1),
        instants: instants(r),
    };
    m.flows.iter().filter_map(|s| one(s, r, &pools)).collect()
}

fn one(s: &FlowSeed, r: &Rendered, pools: &Pools) -> Option<FlowSpec> {
    let (srcs, dsts, ports) = match s.aim.and_then(|a| pick(&r.rules, u16::from(a))) {
        Some(rule) => aimed(&rule, pools, s.reverse),
        None => (
            pools.endpoints.clone(),
            pools.endpoints.clone(),
            pools.ports.clone(),
        ),
    };
    let or_all = |v: Vec<Endpoint>| {
        if v.is_empty() {
            pools.endpoints.clone()
        } else {
            v
        }
    };
    let src = pick(&or_all(srcs), s.src)?;
    let dst = pick(&or_all(dsts), s.dst)?;
    let ports = if ports.is_empty() {
        pools.ports.clone()
    } else {
        ports
    };
    let (protocol, port) = pick(&ports, s.port)?;
    let at = pick(&pools.instants, s.time)?;
    let method = [None, Some("GET"), Some("POST"), Some("HEAD")][s.method as usize % 4];
    let path = [
        None,
        Some("/api/x"),
        Some("/admin"),
        Some("/apix"),
        Some(""),
    ][s.path as usize % 5];
    let mut context = BTreeMap::new();
    if let Some(region) = [None, Some("eu"), Some("us")][s.region as usize % 3] {
        context.insert("region".to_string(), Value::String(region.into()));
    }
    if let Some(b) = [None, Some(true), Some(false)][s.break_glass as usize % 3] {
        context.insert("break_glass".to_string(), Value::Bool(b));
    }
    if s.ticket {
        context.insert("ticket".to_string(), Value::String("T-1".into()));
    }
    Some(FlowSpec {
        src,
        dst,
        protocol,
        port,
        at,
        mtls: s.mtls,
        method: method.map(str::to_string),
        path: path.map(str::to_string),
        context,
    })
}
