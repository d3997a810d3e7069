//! The engines that decide flows on what a backend emitted, independent of
//! the backend's code: the OPA bundle in regorus (`tests/tests/opa/`), the
//! AWS and GCP evaluators written from the providers' documentation
//! (`tests/tests/cloud/`), network-config-analyzer on the NetworkPolicies
//! (`kube.rs`) and the kernel on the iptables rulesets in network namespaces
//! (`netns.rs`). Plus deliberately wrong engines, to prove that the harness
//! catches and minimises an over-permissive backend.

use crate::cloud::check::{self as cloud_check, Cloud};
use crate::cloud::{aws_eval, gcp_eval};
use crate::iptables::probe::Flavour;
use crate::opa::{bundle, inputs};
use crate::{kube, netns};
use seg_ir::{Flow, Program};
use serde_json::Value;
use std::collections::BTreeMap;

/// Which engine decides a target's flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Opa,
    Aws,
    Gcp,
    Kubernetes,
    Iptables,
    /// The kernel on the `nftables` target's files (`nft -f`).
    Nftables,
    /// Allows every flow: a planted over-permissive backend for `target`.
    AllowAll(&'static str),
    /// Decides like `target`'s reference but ignores every deny: a planted
    /// backend that loses its carve-outs.
    DenyBlind(&'static str),
    /// The real engine on the emitted files with a planted bug.
    Planted(Plant),
}

/// A bug planted in the emitted files before the real engine reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plant {
    /// An allow-all NetworkPolicy (every pod, both directions) in every
    /// namespace the build wrote objects for.
    KubernetesAllowAll,
    /// `-A INPUT -j ACCEPT` and `-A OUTPUT -j ACCEPT` before the first rule
    /// of every host's rulesets.
    IptablesAccept,
    /// Every `DROP` of the deny chains removed: the allows lose their carve-outs.
    IptablesDenyDropped,
}

/// The instant a target's flows are decided at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The flow's own `at` (the engine evaluates time itself).
    Flow,
    /// The build's `now`: the rules are what the build wrote and know no
    /// instant (BACKENDS.md: expiry is compile-time only there).
    Build,
    /// The machine's clock: the kernel decides time windows and `--datestop`
    /// with it and it cannot be moved.
    Wall,
}

impl EngineKind {
    pub fn target(self) -> &'static str {
        match self {
            EngineKind::Opa => "opa",
            EngineKind::Aws => "aws",
            EngineKind::Gcp => "gcp",
            EngineKind::Kubernetes | EngineKind::Planted(Plant::KubernetesAllowAll) => "kubernetes",
            EngineKind::Iptables
            | EngineKind::Planted(Plant::IptablesAccept | Plant::IptablesDenyDropped) => "iptables",
            EngineKind::Nftables => "nftables",
            EngineKind::AllowAll(t) | EngineKind::DenyBlind(t) => t,
        }
    }

    pub fn clock(self) -> Clock {
        match self.real() {
            Some(EngineKind::Aws | EngineKind::Gcp | EngineKind::Kubernetes) => Clock::Build,
            Some(EngineKind::Iptables | EngineKind::Nftables) => Clock::Wall,
            _ => Clock::Flow,
        }
    }

    /// The real engine this kind runs, if any.
    fn real(self) -> Option<EngineKind> {
        match self {
            EngineKind::AllowAll(_) | EngineKind::DenyBlind(_) => None,
            EngineKind::Planted(Plant::KubernetesAllowAll) => Some(EngineKind::Kubernetes),
            EngineKind::Planted(Plant::IptablesAccept | Plant::IptablesDenyDropped) => {
                Some(EngineKind::Iptables)
            }
            k => Some(k),
        }
    }

    /// The engine sees addresses, not identities: an end that shares its
    /// addresses with another identity (W0101) cannot be told apart there.
    pub fn address_based(self) -> bool {
        !matches!(self.real(), None | Some(EngineKind::Opa))
    }

    /// An external tool or the kernel decides (seconds per estate).
    pub fn slow(self) -> bool {
        matches!(
            self.real(),
            Some(EngineKind::Kubernetes | EngineKind::Iptables | EngineKind::Nftables)
        )
    }
}

/// One engine's answer for a flow. An identity flow is one packet per pair
/// of the ends' addresses (or per family when an end has none) on L3/L4
/// engines, per pair of pods on Kubernetes, so both an allowed and a denied
/// packet may occur.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    pub allowed: bool,
    pub denied: bool,
    /// The protocol is one the engine documents it cannot hold rule by rule
    /// (AWS: SCTP ranges and other protocols; GCP: other protocols;
    /// Kubernetes: ICMP and other protocols).
    pub inexact: bool,
    pub packets: usize,
}

pub enum Engine {
    Opa(Box<regorus::Engine>),
    Aws(aws_eval::AwsState),
    Gcp(Vec<gcp_eval::Fw>),
    /// Answers decided for all flows at once (an external tool, the kernel),
    /// by flow index; `complaints`: over-permissive findings that belong to no
    /// flow (a pod no selector names gets connectivity).
    Batch {
        answers: Vec<Option<Answer>>,
        complaints: Vec<String>,
    },
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
/// the target's program (the inventory facts the engines place flows with,
/// and what the planted engines decide with); `flows` are the flows
/// `decide` will be asked about, by index, for the batch engines.
pub fn load(
    kind: EngineKind,
    files: &BTreeMap<String, Vec<u8>>,
    prepared: &Program,
    flows: &[Flow],
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
        EngineKind::Kubernetes => {
            let (answers, complaints) = kube::answers(files, prepared, flows)?;
            Engine::Batch {
                answers,
                complaints,
            }
        }
        EngineKind::Iptables => Engine::Batch {
            answers: netns::answers(files, prepared, flows, Flavour::Nft)?,
            complaints: Vec::new(),
        },
        EngineKind::Nftables => Engine::Batch {
            answers: netns::answers(files, prepared, flows, Flavour::Nftables)?,
            complaints: Vec::new(),
        },
        EngineKind::Planted(plant) => {
            let mut files = files.clone();
            match plant {
                Plant::KubernetesAllowAll => kube::plant_allow_all(&mut files),
                Plant::IptablesAccept => netns::plant_accept(&mut files),
                Plant::IptablesDenyDropped => netns::plant_deny_dropped(&mut files),
            }
            let real = kind.real().expect("a planted kind has a real engine");
            load(real, &files, prepared, flows)?
        }
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

impl Engine {
    /// The engine's answer for flow number `index` of those given to
    /// [`load`]; `Ok(None)` when the flow is outside what the target filters
    /// (neither end managed there) or what the engine can decide; `Err` when
    /// evaluation failed.
    pub fn decide(
        &mut self,
        program: &Program,
        index: usize,
        flow: &Flow,
    ) -> Result<Option<Answer>, String> {
        let one = |allowed: bool| Answer {
            allowed,
            denied: !allowed,
            inexact: false,
            packets: 1,
        };
        match self {
            Engine::AllowAll => Ok(Some(Answer {
                allowed: true,
                packets: 1,
                ..Answer::default()
            })),
            Engine::DenyBlind(p) => Ok(Some(one(seg_ir::eval::decide(p, flow).allowed))),
            Engine::Opa(engine) => {
                let input = inputs::authz(program, flow);
                let allowed = bundle::allow(engine, &input)
                    .map_err(|e| format!("regorus: {e} on {input}"))?;
                Ok(Some(one(allowed)))
            }
            Engine::Aws(state) => Ok(cloud(&Cloud::Aws(state), program, flow)),
            Engine::Gcp(rules) => Ok(cloud(&Cloud::Gcp(rules), program, flow)),
            Engine::Batch { answers, .. } => Ok(answers.get(index).cloned().flatten()),
        }
    }

    /// Over-permissive findings that belong to no flow.
    pub fn complaints(&self) -> &[String] {
        match self {
            Engine::Batch { complaints, .. } => complaints,
            _ => &[],
        }
    }
}

/// Every packet of a flow on a cloud's rules (`cloud/check.rs`); `None` when
/// no packet is in scope.
fn cloud(cloud: &Cloud, program: &Program, flow: &Flow) -> Option<Answer> {
    let mut answer = Answer {
        inexact: !cloud_check::exact(cloud, flow.protocol),
        ..Answer::default()
    };
    for got in cloud_check::packets(cloud, program, flow)
        .iter()
        .filter_map(|v| v.allowed)
    {
        answer.packets += 1;
        answer.allowed |= got;
        answer.denied |= !got;
    }
    (answer.packets > 0).then_some(answer)
}
