//! Packet-level verification: hosts in namespaces, listeners, probes, verdicts.
//!
//! A probe is one TCP connect or UDP exchange from a concrete source address
//! to a concrete destination address and port, standing for a reference
//! [`Flow`]. The kernel's verdict is "allowed" when the TCP handshake
//! completes (and the listener's token comes back) or the UDP echo returns.

use super::lab::{self, Lab};
use ipnet::IpNet;
use seg_ir::eval::Evaluator;
use seg_ir::{Artifact, Flow, FlowEndpoint, IdentityId, Program, Protocol, Timestamp};
use socket2::{Domain, Protocol as SockProto, SockAddr, Socket, Type};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a dropped flow is waited for.
const TIMEOUT: Duration = Duration::from_millis(300);
/// A flow that looked dropped but should pass is tried again this long, so a
/// loaded machine cannot turn a slow handshake into a false "denied".
const RETRY_TIMEOUT: Duration = Duration::from_secs(3);
const WORKERS: usize = 32;

/// A flow to try, and where it comes from (for failure messages).
#[derive(Clone, Debug)]
pub struct Candidate {
    pub flow: Flow,
    pub origin: String,
}

#[derive(Clone, Debug)]
pub struct Probe {
    pub src_node: usize,
    pub src_ip: IpAddr,
    pub dst_node: usize,
    pub dst_ip: IpAddr,
    pub udp: bool,
    pub port: u16,
    pub flow: Flow,
    pub origin: String,
    /// The reference decision, constant over the whole run.
    pub expected: bool,
}

/// A namespace: a managed identity (with its files) or the external world.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub identity: Option<IdentityId>,
    pub ips: BTreeSet<IpAddr>,
}

pub struct Plan {
    pub nodes: Vec<Node>,
    pub probes: Vec<Probe>,
    /// Candidates left out, with why (printed, and counted by callers).
    pub skipped: Vec<String>,
}

/// An address a namespace can hold and route on a plain link.
fn assignable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            !(a.is_unspecified()
                || a.is_loopback()
                || a.is_multicast()
                || a.is_broadcast()
                || o[0] == 0
                || o[0] >= 240)
        }
        IpAddr::V6(a) => {
            !(a.is_unspecified()
                || a.is_loopback()
                || a.is_multicast()
                || (a.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// One address standing for a network: the first host address.
pub fn representative(net: &IpNet) -> IpAddr {
    let base = net.network();
    let long = match net {
        IpNet::V4(n) => n.prefix_len() < 31,
        IpNet::V6(n) => n.prefix_len() < 127,
    };
    if !long {
        return base;
    }
    match base {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) + 1).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) + 1).into()),
    }
}

/// The reference decision when it does not change between `t0` and `t1`
/// (decisions only change on whole minutes: windows, days and expiry are
/// minute-aligned), else `None`.
pub fn stable_decision(
    ev: &Evaluator<'_>,
    flow: &Flow,
    t0: Timestamp,
    t1: Timestamp,
) -> Option<bool> {
    let mut f = flow.clone();
    f.at = t0;
    let first = ev.decide(&f).allowed;
    let mut t = (t0.0 / 60 + 1) * 60;
    while t <= t1.0 {
        f.at = Timestamp(t);
        if ev.decide(&f).allowed != first {
            return None;
        }
        t += 60;
    }
    Some(first)
}

/// Place every candidate on concrete addresses and namespaces.
pub fn plan(program: &Program, candidates: &[Candidate], t0: Timestamp, t1: Timestamp) -> Plan {
    let ev = Evaluator::new(program);
    let mut nodes: Vec<Node> = Vec::new();
    let mut node_of: BTreeMap<IdentityId, usize> = BTreeMap::new();
    for identity in program
        .identities
        .iter()
        .filter(|i| !i.addresses.is_empty())
    {
        node_of.insert(identity.id, nodes.len());
        // Only addresses no other identity claims: one address on two hosts
        // would make the wire ambiguous (inventory warning W0101).
        let ips = identity
            .addresses
            .iter()
            .map(representative)
            .filter(|ip| assignable(*ip) && sole_owner(program, *ip) == Some(identity.id))
            .collect();
        nodes.push(Node {
            name: format!("h{}", nodes.len()),
            identity: Some(identity.id),
            ips,
        });
    }
    let external = nodes.len();
    nodes.push(Node {
        name: "ext".into(),
        identity: None,
        ips: BTreeSet::new(),
    });
    let mut probes = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = BTreeSet::new();
    for c in candidates {
        let udp = match c.flow.protocol {
            Protocol::Tcp => false,
            Protocol::Udp => true,
            other => {
                skipped.push(format!(
                    "{}: {other:?} is not probed (tcp and udp only)",
                    c.origin
                ));
                continue;
            }
        };
        if c.flow.port == 0 {
            skipped.push(format!("{}: port 0 cannot be probed", c.origin));
            continue;
        }
        let Some(expected) = stable_decision(&ev, &c.flow, t0, t1) else {
            skipped.push(format!(
                "{}: the decision changes during the run (time window edge)",
                c.origin
            ));
            continue;
        };
        let srcs = endpoints(program, &node_of, external, c.flow.src);
        let dsts = endpoints(program, &node_of, external, c.flow.dst);
        let mut placed = false;
        let mut why = BTreeSet::new();
        if srcs.is_empty() {
            why.insert("the source has no address on any host");
        }
        if dsts.is_empty() {
            why.insert("the destination has no address on any host");
        }
        for &(sn, sip) in &srcs {
            for &(dn, dip) in &dsts {
                let reason = if sn == dn {
                    Some("both ends on one host")
                } else if sip.is_ipv4() != dip.is_ipv4() {
                    Some("the ends have no address family in common")
                } else if sn == external && dn == external {
                    Some("neither end is a host iptables manages")
                } else if !assignable(sip) || !assignable(dip) {
                    Some(
                        "an address no interface can hold (0/8, loopback, multicast, broadcast, link-local v6)",
                    )
                } else {
                    None
                };
                if let Some(r) = reason {
                    why.insert(r);
                    continue;
                }
                if !seen.insert((
                    sip,
                    dip,
                    udp,
                    c.flow.port,
                    format!("{:?}{:?}", c.flow.src, c.flow.dst),
                )) {
                    placed = true;
                    continue;
                }
                nodes[sn].ips.insert(sip);
                nodes[dn].ips.insert(dip);
                probes.push(Probe {
                    src_node: sn,
                    src_ip: sip,
                    dst_node: dn,
                    dst_ip: dip,
                    udp,
                    port: c.flow.port,
                    flow: c.flow.clone(),
                    origin: c.origin.clone(),
                    expected,
                });
                placed = true;
            }
        }
        if !placed {
            let why: Vec<&str> = why.into_iter().collect();
            skipped.push(format!("{}: {}", c.origin, why.join("; ")));
        }
    }
    Plan {
        nodes,
        probes,
        skipped,
    }
}

/// The one identity whose addresses contain `ip`, if exactly one does.
fn sole_owner(program: &Program, ip: IpAddr) -> Option<IdentityId> {
    let mut owners = program
        .identities
        .iter()
        .filter(|i| i.addresses.iter().any(|n| n.contains(&ip)));
    match (owners.next(), owners.next()) {
        (Some(one), None) => Some(one.id),
        _ => None,
    }
}

/// Concrete (node, address) pairs for one flow endpoint.
fn endpoints(
    program: &Program,
    node_of: &BTreeMap<IdentityId, usize>,
    external: usize,
    e: FlowEndpoint,
) -> Vec<(usize, IpAddr)> {
    match e {
        FlowEndpoint::Identity(id) => {
            let Some(&node) = node_of.get(&id) else {
                return Vec::new();
            };
            // The first address of each family that is this identity's alone.
            let addrs = &program.identity(id).addresses;
            let mine = |v4: bool| {
                addrs
                    .iter()
                    .filter(|n| n.addr().is_ipv4() == v4)
                    .map(representative)
                    .find(|ip| sole_owner(program, *ip) == Some(id))
            };
            [mine(true), mine(false)]
                .into_iter()
                .flatten()
                .map(|ip| (node, ip))
                .collect()
        }
        FlowEndpoint::Address(ip) => {
            let owners: Vec<usize> = program
                .identities
                .iter()
                .filter(|i| i.addresses.iter().any(|n| n.contains(&ip)))
                .filter_map(|i| node_of.get(&i.id).copied())
                .collect();
            match owners.as_slice() {
                [] => vec![(external, ip)],
                [one] => vec![(*one, ip)],
                _ => Vec::new(), // shared by several hosts: ambiguous on a wire
            }
        }
    }
}

/// What one probe saw.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub probe: Probe,
    pub allowed: bool,
    pub detail: String,
}

/// Which target's files, and which implementation loads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// iptables rulesets through `iptables-restore` (the nf_tables variant).
    Nft,
    /// iptables rulesets through `iptables-legacy-restore`.
    Legacy,
    /// The `nftables` target's `<stem>.nft` through `nft -f`.
    Nftables,
}

impl Flavour {
    fn tools(self) -> (&'static str, &'static str) {
        match self {
            Flavour::Nft => ("iptables-restore", "ip6tables-restore"),
            Flavour::Legacy => ("iptables-legacy-restore", "ip6tables-legacy-restore"),
            Flavour::Nftables => ("nft", "nft"),
        }
    }
}

/// Load one host's files of `flavour` into its namespace: the iptables
/// flavours as a user does, with `seg-apply.sh` from `dir` (which holds every
/// artifact), so the host's IPv6 file is the one the script picks.
fn load_host(
    ns: &str,
    stem: &str,
    artifacts: &[Artifact],
    dir: &Path,
    flavour: Flavour,
) -> Result<(), String> {
    if flavour == Flavour::Nftables {
        let text = artifacts
            .iter()
            .find(|a| a.path == format!("{stem}.nft"))
            .map(|a| a.contents.as_slice())
            .ok_or_else(|| format!("no {stem}.nft"))?;
        lab::run_in(ns, &["nft", "-f", "-"], Some(text))?;
        return Ok(());
    }
    let (v4_tool, v6_tool) = flavour.tools();
    let (v4, v6) = (
        format!("IPTABLES={}", v4_tool.trim_end_matches("-restore")),
        format!("IP6TABLES={}", v6_tool.trim_end_matches("-restore")),
    );
    let script = dir.join("seg-apply.sh");
    let (script, dir) = (
        script
            .to_str()
            .ok_or("a temporary path that is not UTF-8")?,
        dir.to_str().ok_or("a temporary path that is not UTF-8")?,
    );
    lab::run_in(ns, &["env", &v4, &v6, "sh", script, stem, dir], None)
        .map_err(|e| format!("seg-apply.sh {stem}: {e}"))?;
    Ok(())
}

/// Build the namespaces, load each host's files, run every probe.
pub fn execute(
    tag: &str,
    program: &Program,
    artifacts: &[Artifact],
    plan: &Plan,
    flavour: Flavour,
) -> Result<Vec<Outcome>, String> {
    let mut lab = Lab::new(tag)?;
    let mut ns_of = Vec::new();
    for node in &plan.nodes {
        let ips: Vec<IpAddr> = node.ips.iter().copied().collect();
        ns_of.push(lab.add_host(&node.name, &ips)?);
    }
    let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    for a in artifacts {
        std::fs::write(dir.path().join(&a.path), &a.contents)
            .map_err(|e| format!("{}: {e}", a.path))?;
    }
    for (node, ns) in plan.nodes.iter().zip(&ns_of) {
        let Some(id) = node.identity else { continue };
        let stem = seg_ir::names::file_stem(&program.identity(id).name)
            .ok_or("host without a file stem")?;
        load_host(ns, &stem, artifacts, dir.path(), flavour)?;
    }
    let outcomes = run(plan, &ns_of)?;
    drop(lab);
    Ok(outcomes)
}

/// Listen on every destination of `plan` and run its probes, node `i` being
/// namespace `ns_of[i]` (whose rules are loaded already).
pub fn run(plan: &Plan, ns_of: &[String]) -> Result<Vec<Outcome>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let server = start_listeners(plan, ns_of, Arc::clone(&stop))?;
    let mut outcomes = run_probes(&plan.probes, ns_of, TIMEOUT);
    let retry: Vec<Probe> = outcomes
        .iter()
        .filter(|o| !o.allowed && o.probe.expected)
        .map(|o| o.probe.clone())
        .collect();
    if !retry.is_empty() {
        let again = run_probes(&retry, ns_of, RETRY_TIMEOUT);
        outcomes.retain(|o| o.allowed || !o.probe.expected);
        outcomes.extend(again.into_iter().map(|mut o| {
            o.detail.push_str(" (second try)");
            o
        }));
    }
    stop.store(true, Ordering::SeqCst);
    let _ = server.join();
    Ok(sorted(outcomes))
}

enum Listener {
    Tcp(TcpListener, u16),
    Udp(UdpSocket),
}

/// Bind every destination (address, protocol, port) inside its namespace,
/// then serve them all from one polling thread until `stop`.
fn start_listeners(
    plan: &Plan,
    ns_of: &[String],
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, String> {
    let mut wanted: BTreeMap<usize, BTreeSet<(IpAddr, bool, u16)>> = BTreeMap::new();
    for p in &plan.probes {
        wanted
            .entry(p.dst_node)
            .or_default()
            .insert((p.dst_ip, p.udp, p.port));
    }
    let mut listeners = Vec::new();
    for (node, set) in wanted {
        let ns = ns_of[node].clone();
        let made = std::thread::spawn(move || -> Result<Vec<Listener>, String> {
            lab::enter(&ns).map_err(|e| format!("setns {ns}: {e}"))?;
            let mut out = Vec::new();
            for (ip, udp, port) in set {
                let addr = SocketAddr::new(ip, port);
                if udp {
                    let s = UdpSocket::bind(addr)
                        .map_err(|e| format!("bind udp {addr} in {ns}: {e}"))?;
                    s.set_nonblocking(true).map_err(|e| e.to_string())?;
                    out.push(Listener::Udp(s));
                } else {
                    let s = TcpListener::bind(addr)
                        .map_err(|e| format!("bind tcp {addr} in {ns}: {e}"))?;
                    s.set_nonblocking(true).map_err(|e| e.to_string())?;
                    out.push(Listener::Tcp(s, port));
                }
            }
            Ok(out)
        })
        .join()
        .map_err(|_| "listener thread panicked".to_string())??;
        listeners.extend(made);
    }
    Ok(std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while !stop.load(Ordering::SeqCst) {
            let mut busy = false;
            for l in &listeners {
                match l {
                    Listener::Tcp(s, port) => {
                        while let Ok((mut conn, _)) = s.accept() {
                            busy = true;
                            let _ = conn.set_nonblocking(false);
                            let _ = conn.write_all(&port.to_be_bytes());
                        }
                    }
                    Listener::Udp(s) => {
                        while let Ok((n, from)) = s.recv_from(&mut buf) {
                            busy = true;
                            let _ = s.send_to(&buf[..n], from);
                        }
                    }
                }
            }
            if !busy {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }))
}

fn run_probes(probes: &[Probe], ns_of: &[String], timeout: Duration) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS.min(probes.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(p) = probes.get(i) else { break };
                    let (allowed, detail) = match lab::enter(&ns_of[p.src_node]) {
                        Ok(()) => probe(p, timeout),
                        Err(e) => (false, format!("setns failed: {e}")),
                    };
                    if let Ok(mut r) = results.lock() {
                        r.push(Outcome {
                            probe: p.clone(),
                            allowed,
                            detail,
                        });
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_default()
}

fn sorted(mut out: Vec<Outcome>) -> Vec<Outcome> {
    out.sort_by(|a, b| {
        a.probe
            .origin
            .cmp(&b.probe.origin)
            .then(a.probe.port.cmp(&b.probe.port))
    });
    out
}

/// One attempt from the current namespace.
fn probe(p: &Probe, timeout: Duration) -> (bool, String) {
    let domain = if p.src_ip.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let dst = SockAddr::from(SocketAddr::new(p.dst_ip, p.port));
    let src = SockAddr::from(SocketAddr::new(p.src_ip, 0));
    if p.udp {
        let s = match Socket::new(domain, Type::DGRAM, Some(SockProto::UDP))
            .and_then(|s| s.bind(&src).map(|()| s))
        {
            Ok(s) => s,
            Err(e) => return (false, format!("udp socket: {e}")),
        };
        let _ = s.set_read_timeout(Some(timeout));
        let token = p.port.to_be_bytes();
        if let Err(e) = s.send_to(&token, &dst) {
            return (false, format!("send: {e}"));
        }
        let udp: UdpSocket = s.into();
        let mut buf = [0u8; 8];
        match udp.recv(&mut buf) {
            Ok(2) if buf[..2] == token => (true, "echo".into()),
            Ok(n) => (false, format!("unexpected reply of {n} bytes")),
            Err(e) => (false, format!("no reply: {e}")),
        }
    } else {
        let s = match Socket::new(domain, Type::STREAM, Some(SockProto::TCP))
            .and_then(|s| s.bind(&src).map(|()| s))
        {
            Ok(s) => s,
            Err(e) => return (false, format!("tcp socket: {e}")),
        };
        if let Err(e) = s.connect_timeout(&dst, timeout) {
            return (false, format!("connect: {e}"));
        }
        let mut stream: std::net::TcpStream = s.into();
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 2];
        match stream.read_exact(&mut buf) {
            Ok(()) if buf == p.port.to_be_bytes() => (true, "connected".into()),
            Ok(()) => (true, format!("connected, but the token was {buf:?}")),
            Err(e) => (true, format!("connected, but no token: {e}")),
        }
    }
}

/// Probes whose kernel verdict differs from the reference, as readable lines.
pub fn mismatches(program: &Program, outcomes: &[Outcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter(|o| o.allowed != o.probe.expected || o.detail.contains("but"))
        .map(|o| {
            let p = &o.probe;
            let d = seg_ir::eval::decide(program, &p.flow);
            format!(
                "{} {}:{} -> {}:{} ({}): kernel {} ({}), reference {} ({})",
                if p.udp { "udp" } else { "tcp" },
                p.src_ip,
                "*",
                p.dst_ip,
                p.port,
                p.origin,
                if o.allowed { "allowed" } else { "denied" },
                o.detail,
                if p.expected { "allows" } else { "denies" },
                d.reason(program)
            )
        })
        .collect()
}
