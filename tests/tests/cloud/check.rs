//! The comparison: every flow of a case, decided by the independent
//! evaluator on the emitted rules, against the reference evaluator on the
//! program prepared for the target (BACKENDS.md, "Verification reference").
//!
//! A flow between identities becomes one packet per pair of their addresses
//! (same family), or per family when an end has no address; every packet must
//! get the reference decision. Cloud rules reflect the build: the reference
//! is asked at the program's `now`. A cloud must never allow what the
//! reference denies; it must allow what the reference allows, except for the
//! protocols it documents it cannot hold rule by rule (AWS: SCTP port ranges
//! and other protocols without `any`; GCP: other protocols without `any`),
//! where only the first half is checked.

use super::aws_eval::{self, AwsState};
use super::cases::Case;
use super::gcp_eval;
use seg_ir::eval::decide as reference;
use seg_ir::{Action, Flow, FlowEndpoint, PortSet, Program, Protocol};
use std::net::IpAddr;

pub enum Cloud<'a> {
    Aws(&'a AwsState),
    Gcp(&'a [gcp_eval::Fw]),
}

#[derive(Default, Debug)]
pub struct Tally {
    /// Packets decided by both evaluators.
    pub packets: usize,
    /// Packets between two ends the target does not manage.
    pub out_of_scope: usize,
    pub allowed: usize,
    pub failures: Vec<String>,
}

impl Tally {
    pub fn add(&mut self, other: Tally) {
        self.packets += other.packets;
        self.out_of_scope += other.out_of_scope;
        self.allowed += other.allowed;
        self.failures.extend(other.failures);
    }

    pub fn assert_ok(&self, what: &str) {
        assert!(
            self.failures.is_empty(),
            "{what}: {} of {} packets differ from the reference, first ones:\n{}",
            self.failures.len(),
            self.packets,
            self.failures
                .iter()
                .take(12)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Sample addresses of an endpoint: an address itself, or the first and last
/// address of each of an identity's networks (`None`: it has none).
fn addresses(program: &Program, e: FlowEndpoint) -> Vec<Option<IpAddr>> {
    match e {
        FlowEndpoint::Address(a) => vec![Some(a)],
        FlowEndpoint::Identity(id) => {
            let mut v: Vec<Option<IpAddr>> = program
                .identity(id)
                .addresses
                .iter()
                .flat_map(|n| [Some(n.network()), Some(n.broadcast())])
                .collect();
            v.dedup();
            if v.is_empty() {
                v.push(None);
            }
            v
        }
    }
}

/// Identities an endpoint is: itself, or the owners of an address.
pub fn owners(program: &Program, e: FlowEndpoint) -> Vec<usize> {
    match e {
        FlowEndpoint::Identity(id) => vec![id.0 as usize],
        FlowEndpoint::Address(a) => program
            .identities
            .iter()
            .filter(|i| i.addresses.iter().any(|n| n.contains(&a)))
            .map(|i| i.id.0 as usize)
            .collect(),
    }
}

/// Whether the cloud holds the protocol rule by rule (see the module docs).
pub fn exact(cloud: &Cloud, p: Protocol) -> bool {
    !matches!(
        (cloud, p),
        (_, Protocol::Other(_)) | (Cloud::Aws(_), Protocol::Sctp)
    )
}

fn number(p: Protocol, v6: bool) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
        Protocol::Icmp if v6 => 58,
        Protocol::Icmp => 1,
        Protocol::Other(n) => n,
    }
}

/// One packet of a flow and the cloud's verdict on it.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub v6: bool,
    /// `None`: neither end is managed by the target.
    pub allowed: Option<bool>,
}

/// Decide every packet of `flow` (at whatever instant it says) on the
/// emitted rules: one per pair of the ends' sample addresses of one family,
/// or per family when an end has none.
pub fn packets(cloud: &Cloud, program: &Program, flow: &Flow) -> Vec<Verdict> {
    let (so, doo) = (owners(program, flow.src), owners(program, flow.dst));
    let mut out = Vec::new();
    for sa in addresses(program, flow.src) {
        for da in addresses(program, flow.dst) {
            let families: Vec<bool> = match (sa, da) {
                (Some(a), Some(b)) if a.is_ipv6() != b.is_ipv6() => continue,
                (Some(a), _) | (None, Some(a)) => vec![a.is_ipv6()],
                (None, None) => vec![false, true],
            };
            for v6 in families {
                let proto = number(flow.protocol, v6);
                let allowed = match cloud {
                    Cloud::Aws(state) => {
                        let end = |owners: &[usize], addr| aws_eval::End {
                            groups: owners
                                .iter()
                                .flat_map(|i| {
                                    state
                                        .carried
                                        .get(&program.identities[*i].name)
                                        .cloned()
                                        .unwrap_or_default()
                                })
                                .collect(),
                            addr,
                        };
                        let packet = aws_eval::Packet {
                            protocol: proto,
                            port: flow.port,
                            icmp: (if v6 { 128 } else { 8 }, 0),
                            v6,
                        };
                        aws_eval::decide(state, &end(&so, sa), &end(&doo, da), &packet)
                    }
                    Cloud::Gcp(rules) => {
                        let end = |owners: &[usize], addr| gcp_eval::End {
                            account: owners.iter().find_map(|i| {
                                program.identities[*i]
                                    .gcp
                                    .as_ref()
                                    .map(|g| g.service_account.clone())
                            }),
                            addr,
                        };
                        let packet = gcp_eval::Packet {
                            protocol: proto,
                            port: flow.port,
                            v6,
                        };
                        gcp_eval::decide(rules, &end(&so, sa), &end(&doo, da), &packet)
                    }
                };
                out.push(Verdict {
                    src: sa,
                    dst: da,
                    v6,
                    allowed,
                });
            }
        }
    }
    out
}

/// The reference for a cloud: the prepared program, with the one reported
/// widening GCP makes (W0403): a deny of the other IP protocols without
/// `any` denies every protocol, as no firewall rule can name "the others".
fn reference_program(case: &Case, cloud: &Cloud) -> Program {
    let mut p = case.program.clone();
    if let Cloud::Gcp(_) = cloud {
        for r in p
            .rules
            .iter_mut()
            .filter(|r| r.action == Action::Deny && r.services.other && !r.services.is_any())
        {
            r.services = PortSet::any();
        }
    }
    p
}

pub fn compare(case: &Case, cloud: &Cloud) -> Tally {
    let widened = reference_program(case, cloud);
    let program = &widened;
    let mut t = Tally::default();
    for flow in &case.flows {
        let flow = Flow {
            at: program.now,
            ..flow.clone()
        };
        let decision = reference(program, &flow);
        let expected = decision.allowed;
        for v in packets(cloud, program, &flow) {
            let Some(got) = v.allowed else {
                t.out_of_scope += 1;
                continue;
            };
            t.packets += 1;
            t.allowed += usize::from(got);
            let wrong = (got && !expected) || (!got && expected && exact(cloud, flow.protocol));
            if wrong {
                t.failures.push(format!(
                    "{}: {:?} -> {:?} {:?}/{} (packet {:?} -> {:?}, v6={}): cloud {}, reference {} ({})",
                    case.name,
                    show(program, flow.src),
                    show(program, flow.dst),
                    flow.protocol,
                    flow.port,
                    v.src,
                    v.dst,
                    v.v6,
                    if got { "allows" } else { "denies" },
                    if expected { "allows" } else { "denies" },
                    decision.reason(program)
                ));
            }
        }
    }
    t
}

fn show(program: &Program, e: FlowEndpoint) -> String {
    match e {
        FlowEndpoint::Identity(id) => program.identity(id).name.clone(),
        FlowEndpoint::Address(a) => a.to_string(),
    }
}
