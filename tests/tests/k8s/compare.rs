//! The analyzer's connectivity against the reference evaluator, pair by pair.
//!
//! Pairs: every ordered pair of identity pods (replicas of one identity
//! included); every pod with every address range the program or the
//! analyzer distinguishes, both directions; canary pods with anything.
//! Within a pair, every protocol and port where either side can change its
//! answer (the program's range edges and the analyzer's), plus ICMP and
//! another protocol.
//!
//! Expected: exactly the reference, except where the lowering is narrower on
//! purpose (fail closed): ICMP and other protocols only come with "all
//! connections"; an address that belongs to a pod identity is never granted
//! as an `ipBlock` (only the pod's selector is), so a grant to such an
//! address may be missing. Port 0 is not a destination port (NetworkPolicy
//! ports start at 1) and is not compared. The canaries match no selector and
//! the analyzer never matches pods against `ipBlock`, so they get nothing.

use super::analyzer::{Conn, End, Output};
use super::topology::{Pod, Topology};
use ipnet::IpNet;
use seg_ir::eval::decide;
use seg_ir::{CidrSet, Flow, FlowEndpoint, IdentityId, Program, Protocol};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

const OTHER: Protocol = Protocol::Other(47);

#[derive(Debug, Default)]
pub struct Report {
    /// The analyzer allows what the reference denies.
    pub too_open: Vec<String>,
    /// The reference allows what the analyzer denies, not explained above.
    pub too_closed: Vec<String>,
    /// Pairs and flows compared, for the log.
    pub pairs: usize,
    pub flows: usize,
}

/// What the analyzer must never report, each once: connectivity for a
/// canary pod (no selector names it) or a pod the topology does not hold.
pub fn stray_pods(topo: &Topology, out: &Output) -> Vec<String> {
    let mut stray = BTreeSet::new();
    for (s, d, c) in &out.pairs {
        for e in [s, d] {
            if let End::Pod(name) = e {
                match topo.pods.get(name) {
                    None => stray.insert(format!(
                        "the analyzer reports a pod not in the topology: `{name}`"
                    )),
                    Some(Pod::Canary) => stray.insert(format!(
                        "canary `{name}`, which no selector names, gets connectivity: {s:?} => {d:?} {c:?}"
                    )),
                    Some(Pod::Identity(_)) => false,
                };
            }
        }
    }
    stray.into_iter().collect()
}

pub fn compare(program: &Program, topo: &Topology, out: &Output) -> Report {
    let mut report = Report {
        too_open: stray_pods(topo, out),
        ..Report::default()
    };
    let mut by_pair: BTreeMap<(&End, &End), &Conn> = BTreeMap::new();
    for (s, d, c) in &out.pairs {
        if matches!((s, d), (End::Range(..), End::Range(..))) {
            report
                .too_open
                .push(format!("range to range: {s:?} => {d:?}"));
        }
        by_pair.insert((s, d), c);
    }
    let ports = port_edges(program, out);
    let pods: Vec<(&String, IdentityId)> = topo
        .pods
        .iter()
        .filter_map(|(n, p)| match p {
            Pod::Identity(id) => Some((n, *id)),
            Pod::Canary => None,
        })
        .collect();
    let none = Conn::default();
    // Pod to pod.
    for &(a, ia) in &pods {
        for &(b, ib) in &pods {
            if a == b {
                continue;
            }
            let (ea, eb) = (End::Pod(a.clone()), End::Pod(b.clone()));
            let conn = by_pair.get(&(&ea, &eb)).copied().unwrap_or(&none);
            let what = format!("{a} ({}) => {b} ({})", name(program, ia), name(program, ib));
            check(
                program,
                FlowEndpoint::Identity(ia),
                FlowEndpoint::Identity(ib),
                conn,
                &ports,
                false,
                &what,
                &mut report,
            );
        }
    }
    // Pods and addresses.
    let pod_addresses = CidrSet::from_nets(
        program
            .identities
            .iter()
            .filter(|i| i.kubernetes.is_some())
            .flat_map(|i| i.addresses.iter()),
    );
    let ranges: Vec<(IpAddr, IpAddr, &End)> = out
        .pairs
        .iter()
        .flat_map(|(s, d, _)| [s, d])
        .filter_map(|e| match e {
            End::Range(lo, hi) => Some((*lo, *hi, e)),
            End::Pod(_) => None,
        })
        .collect();
    for addr in address_edges(program, out) {
        let excused = pod_addresses.contains(addr);
        let covering: Vec<&End> = ranges
            .iter()
            .filter(|(lo, hi, _)| in_range(addr, *lo, *hi))
            .map(|(_, _, e)| *e)
            .collect();
        for &(p, ip) in &pods {
            let ep = End::Pod(p.clone());
            for inbound in [true, false] {
                let mut conn = Conn::default();
                for r in &covering {
                    let key = if inbound { (*r, &ep) } else { (&ep, *r) };
                    if let Some(c) = by_pair.get(&key) {
                        merge(&mut conn, c);
                    }
                }
                let (src, dst, what) = if inbound {
                    (
                        FlowEndpoint::Address(addr),
                        FlowEndpoint::Identity(ip),
                        format!("{addr} => {p} ({})", name(program, ip)),
                    )
                } else {
                    (
                        FlowEndpoint::Identity(ip),
                        FlowEndpoint::Address(addr),
                        format!("{p} ({}) => {addr}", name(program, ip)),
                    )
                };
                check(
                    program,
                    src,
                    dst,
                    &conn,
                    &ports,
                    excused,
                    &what,
                    &mut report,
                );
            }
        }
    }
    report
}

fn name(program: &Program, id: IdentityId) -> String {
    program
        .identities
        .get(id.0 as usize)
        .map(|i| i.name.escape_debug().to_string())
        .unwrap_or_default()
}

fn merge(into: &mut Conn, c: &Conn) {
    into.all |= c.all;
    into.tcp = into.tcp.union(&c.tcp);
    into.udp = into.udp.union(&c.udp);
    into.sctp = into.sctp.union(&c.sctp);
}

fn in_range(a: IpAddr, lo: IpAddr, hi: IpAddr) -> bool {
    match (a, lo, hi) {
        (IpAddr::V4(a), IpAddr::V4(l), IpAddr::V4(h)) => l <= a && a <= h,
        (IpAddr::V6(a), IpAddr::V6(l), IpAddr::V6(h)) => l <= a && a <= h,
        _ => false,
    }
}

/// Port numbers starting every interval on which neither the program nor the
/// analyzer's answer can change.
fn port_edges(program: &Program, out: &Output) -> Vec<u16> {
    let mut edges: BTreeSet<u16> = BTreeSet::from([1, 65535]);
    let mut add = |lo: u16, hi: u16| {
        edges.insert(lo.max(1));
        edges.insert(hi);
        if let Some(n) = hi.checked_add(1) {
            edges.insert(n);
        }
    };
    for r in &program.rules {
        for (_, ranges) in r.services.by_protocol() {
            ranges.ranges().iter().for_each(|&(lo, hi)| add(lo, hi));
        }
    }
    for (_, _, c) in &out.pairs {
        for r in [&c.tcp, &c.udp, &c.sctp] {
            r.ranges().iter().for_each(|&(lo, hi)| add(lo, hi));
        }
    }
    edges.into_iter().filter(|&p| p >= 1).collect()
}

/// Addresses starting every interval on which neither side can change its answer.
fn address_edges(program: &Program, out: &Output) -> Vec<IpAddr> {
    let mut nets: Vec<IpNet> = program
        .identities
        .iter()
        .flat_map(|i| i.addresses.iter().copied())
        .collect();
    for r in &program.rules {
        nets.extend(r.src.networks.to_cidrs());
        nets.extend(r.dst.networks.to_cidrs());
    }
    let mut edges: BTreeSet<IpAddr> =
        BTreeSet::from(["0.0.0.0".parse().expect("ip"), "::".parse().expect("ip")]);
    let mut add = |lo: IpAddr, hi: IpAddr| {
        edges.insert(lo);
        edges.insert(hi);
        let next = match hi {
            IpAddr::V4(h) => u32::from(h).checked_add(1).map(|n| IpAddr::V4(n.into())),
            IpAddr::V6(h) => u128::from(h).checked_add(1).map(|n| IpAddr::V6(n.into())),
        };
        edges.extend(next);
    };
    for n in nets {
        add(n.network(), n.broadcast());
    }
    for (s, d, _) in &out.pairs {
        for e in [s, d] {
            if let End::Range(lo, hi) = e {
                add(*lo, *hi);
            }
        }
    }
    edges.into_iter().collect()
}

#[allow(clippy::too_many_arguments)]
fn check(
    program: &Program,
    src: FlowEndpoint,
    dst: FlowEndpoint,
    conn: &Conn,
    ports: &[u16],
    excused: bool,
    what: &str,
    report: &mut Report,
) {
    report.pairs += 1;
    let reference = |protocol: Protocol, port: u16| {
        let flow = Flow {
            src,
            dst,
            protocol,
            port,
            at: program.now,
            mtls: false,
            method: None,
            path: None,
            context: BTreeMap::new(),
        };
        decide(program, &flow).allowed
    };
    let mut open = Vec::new();
    let mut closed = Vec::new();
    for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
        for &port in ports {
            report.flows += 1;
            let analyzer = conn.all || conn.ranges(protocol).contains(port);
            let reference = reference(protocol, port);
            if analyzer && !reference {
                open.push(format!("{protocol:?}/{port}"));
            } else if reference && !analyzer {
                closed.push(format!("{protocol:?}/{port}"));
            }
        }
    }
    for protocol in [Protocol::Icmp, OTHER] {
        report.flows += 1;
        if conn.all && !reference(protocol, 0) {
            open.push(format!("{protocol:?}"));
        }
    }
    // ICMP and other protocols come only with everything else.
    if !conn.all
        && reference(Protocol::Icmp, 0)
        && reference(OTHER, 0)
        && closed.is_empty()
        && open.is_empty()
    {
        // Port 0 too: without it the set is not `any` and cannot be written
        // without ports.
        let everything = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp]
            .iter()
            .all(|&p| reference(p, 0) && ports.iter().all(|&port| reference(p, port)));
        if everything {
            closed.push("all connections".into());
        }
    }
    if !open.is_empty() {
        report.too_open.push(format!(
            "{what}: the analyzer allows {} that the reference denies",
            open.join(" ")
        ));
    }
    if !closed.is_empty() && !excused {
        report.too_closed.push(format!(
            "{what}: the reference allows {} that the analyzer denies",
            closed.join(" ")
        ));
    }
}

/// One end of a flow as the analyzer sees it.
#[derive(Clone, Debug)]
pub enum Side {
    Pod(String),
    Address(IpAddr),
}

/// The analyzer's verdict on one flow (`port` ignored for ICMP and others).
pub fn analyzer_allows(
    out: &Output,
    src: &Side,
    dst: &Side,
    protocol: Protocol,
    port: u16,
) -> bool {
    let matches = |e: &End, side: &Side| match (e, side) {
        (End::Pod(n), Side::Pod(m)) => n == m,
        (End::Range(lo, hi), Side::Address(a)) => in_range(*a, *lo, *hi),
        _ => false,
    };
    let mut conn = Conn::default();
    for (s, d, c) in &out.pairs {
        if matches(s, src) && matches(d, dst) {
            merge(&mut conn, c);
        }
    }
    match protocol {
        Protocol::Tcp | Protocol::Udp | Protocol::Sctp => {
            conn.all || conn.ranges(protocol).contains(port)
        }
        _ => conn.all,
    }
}
