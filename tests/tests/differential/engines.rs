//! The engines that decide flows on what a backend emitted, independent of
//! the backend's code: the OPA bundle in regorus (`tests/tests/opa/`), and
//! the AWS and GCP evaluators written from the providers' documentation
//! (`tests/tests/cloud/`). Plus one deliberately wrong engine, to prove that
//! the harness catches and minimises an over-permissive backend.

use crate::cloud::{aws_eval, gcp_eval};
use crate::opa::{bundle, inputs};
use seg_ir::{Flow, FlowEndpoint, Program, Protocol};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Which engine decides a target's flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Opa,
    Aws,
    Gcp,
    /// Allows every flow: a planted over-permissive backend for `target`.
    AllowAll(&'static str),
    /// Decides like `target`'s reference but ignores every deny: a planted
    /// backend that loses its carve-outs.
    DenyBlind(&'static str),
}

impl EngineKind {
    pub fn target(self) -> &'static str {
        match self {
            EngineKind::Opa => "opa",
            EngineKind::Aws => "aws",
            EngineKind::Gcp => "gcp",
            EngineKind::AllowAll(t) | EngineKind::DenyBlind(t) => t,
        }
    }

    /// Cloud rules are what the build wrote: they know no instant, so their
    /// flows are decided at the build's `now` (BACKENDS.md: expiry is
    /// compile-time only there).
    pub fn at_build_time(self) -> bool {
        matches!(self, EngineKind::Aws | EngineKind::Gcp)
    }
}

/// One engine's answer for a flow. An identity flow is one packet per pair
/// of the ends' addresses (or per family when an end has none) on L3/L4
/// engines, so both an allowed and a denied packet may occur.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    pub allowed: bool,
    pub denied: bool,
    /// The protocol is one the engine documents it cannot hold rule by rule
    /// (AWS: SCTP ranges and other protocols; GCP: other protocols).
    pub inexact: bool,
    pub packets: usize,
}

pub enum Engine {
    Opa(Box<regorus::Engine>),
    Aws(aws_eval::AwsState),
    Gcp(Vec<gcp_eval::Fw>),
    AllowAll,
    /// The prepared program without its denies.
    DenyBlind(Box<Program>),
}

fn json(files: &BTreeMap<String, Vec<u8>>, path: &str) -> Result<Option<Value>, String> {
    files
        .get(path)
        .map(|b| serde_json::from_slice(b).map_err(|e| format!("{path}: {e}")))
        .transpose()
}

/// Load the engine from the build's files (`<target>/...`); `prepared` is
/// the target's program, which only the planted engines read.
pub fn load(
    kind: EngineKind,
    files: &BTreeMap<String, Vec<u8>>,
    prepared: &Program,
) -> Result<Engine, String> {
    Ok(match kind {
        EngineKind::Opa => {
            let tarball = files
                .get("opa/bundle.tar.gz")
                .ok_or("no opa/bundle.tar.gz in the build")?;
            let loaded = std::panic::catch_unwind(|| bundle::load(tarball))
                .map_err(|_| "the OPA bundle does not load in regorus".to_string())?;
            Engine::Opa(Box::new(loaded.engine(bundle::Errors::Undefined)))
        }
        // A target that manages nothing writes nothing: no group filters anything.
        EngineKind::Aws => Engine::Aws(match json(files, "aws/main.tf.json")? {
            Some(main) => std::panic::catch_unwind(|| aws_eval::from_terraform(&main))
                .map_err(|_| "aws/main.tf.json does not parse as security groups".to_string())?,
            None => aws_eval::AwsState::default(),
        }),
        EngineKind::Gcp => Engine::Gcp(match json(files, "gcp/main.tf.json")? {
            Some(main) => std::panic::catch_unwind(|| gcp_eval::from_terraform(&main))
                .map_err(|_| "gcp/main.tf.json does not parse as firewall rules".to_string())?,
            None => Vec::new(),
        }),
        EngineKind::AllowAll(_) => Engine::AllowAll,
        EngineKind::DenyBlind(_) => {
            let mut p = prepared.clone();
            p.rules.retain(|r| r.action == seg_ir::Action::Allow);
            for (i, r) in p.rules.iter_mut().enumerate() {
                r.id = seg_ir::RuleId(i as u32);
            }
            Engine::DenyBlind(Box::new(p))
        }
    })
}

/// Sample addresses of an endpoint: the address itself, or the first and
/// last address of each of an identity's networks (`None`: it has none).
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

/// The identities an endpoint is: itself, or the owners of an address.
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

impl Engine {
    /// The engine's answer; `Ok(None)` when the flow is outside what the
    /// target filters (neither end managed there); `Err` when evaluation failed.
    pub fn decide(&mut self, program: &Program, flow: &Flow) -> Result<Option<Answer>, String> {
        match self {
            Engine::AllowAll => Ok(Some(Answer {
                allowed: true,
                packets: 1,
                ..Answer::default()
            })),
            Engine::DenyBlind(p) => {
                let allowed = seg_ir::eval::decide(p, flow).allowed;
                Ok(Some(Answer {
                    allowed,
                    denied: !allowed,
                    inexact: false,
                    packets: 1,
                }))
            }
            Engine::Opa(engine) => {
                let input = inputs::authz(program, flow);
                let allowed = bundle::allow(engine, &input)
                    .map_err(|e| format!("regorus: {e} on {input}"))?;
                Ok(Some(Answer {
                    allowed,
                    denied: !allowed,
                    inexact: false,
                    packets: 1,
                }))
            }
            Engine::Aws(state) => {
                let state: &aws_eval::AwsState = state;
                Ok(packets(
                    program,
                    flow,
                    |so, doo, sa, da, v6| {
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
                            protocol: number(flow.protocol, v6),
                            port: flow.port,
                            icmp: (if v6 { 128 } else { 8 }, 0),
                            v6,
                        };
                        aws_eval::decide(state, &end(so, sa), &end(doo, da), &packet)
                    },
                    matches!(flow.protocol, Protocol::Other(_) | Protocol::Sctp),
                ))
            }
            Engine::Gcp(rules) => {
                let rules: &[gcp_eval::Fw] = rules;
                Ok(packets(
                    program,
                    flow,
                    |so, doo, sa, da, v6| {
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
                            protocol: number(flow.protocol, v6),
                            port: flow.port,
                            v6,
                        };
                        gcp_eval::decide(rules, &end(so, sa), &end(doo, da), &packet)
                    },
                    matches!(flow.protocol, Protocol::Other(_)),
                ))
            }
        }
    }
}

/// Decide every packet of a flow; `None` when no packet is in scope.
fn packets(
    program: &Program,
    flow: &Flow,
    mut decide: impl FnMut(&[usize], &[usize], Option<IpAddr>, Option<IpAddr>, bool) -> Option<bool>,
    inexact: bool,
) -> Option<Answer> {
    let (so, doo) = (owners(program, flow.src), owners(program, flow.dst));
    let mut answer = Answer {
        inexact,
        ..Answer::default()
    };
    for sa in addresses(program, flow.src) {
        for da in addresses(program, flow.dst) {
            let families: Vec<bool> = match (sa, da) {
                (Some(a), Some(b)) if a.is_ipv6() != b.is_ipv6() => continue,
                (Some(a), _) | (None, Some(a)) => vec![a.is_ipv6()],
                (None, None) => vec![false, true],
            };
            for v6 in families {
                let Some(got) = decide(&so, &doo, sa, da, v6) else {
                    continue;
                };
                answer.packets += 1;
                answer.allowed |= got;
                answer.denied |= !got;
            }
        }
    }
    (answer.packets > 0).then_some(answer)
}
