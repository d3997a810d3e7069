//! Cilium Hubble flows: `hubble observe -o json` (the flow object a line)
//! and `-o jsonpb` (`{"flow": {…}, "node_name": …, "time": …}`).
//!
//! Mapping:
//! - `IP.source`/`IP.destination`, the `l4` header (TCP 6, UDP 17, ICMPv4 1,
//!   ICMPv6 58, SCTP 132) and its ports → the 5-tuple; `time` → a window of
//!   one instant; Hubble events carry no counters;
//! - `verdict`: FORWARDED and REDIRECTED → allowed; DROPPED → denied when
//!   a policy dropped it (`drop_reason_desc` POLICY_DENIED, POLICY_DENY,
//!   AUTH_REQUIRED, codes 133/181/189, or no reason given), unknown for
//!   other drops; AUDIT → audit; TRACED, TRANSLATED → unknown; ERROR →
//!   skipped;
//! - `is_reply` (a bool, or `{"value": bool}`), `traffic_direction`
//!   INGRESS/EGRESS and `l4.TCP.flags` → [`Hints`];
//! - `source`/`destination` endpoints → [`K8sEndpoint`] (namespace, pod,
//!   service account from `io.cilium.k8s.policy.serviceaccount`, labels
//!   without the `k8s:` prefix, identity, workloads as `Kind/name`);
//! - the rule: the first policy of `{ingress,egress}_{denied,allowed}_by`
//!   matching the verdict and direction, as `namespace/name`;
//! - the node (`node_name`) is the interface;
//! - `lost_events` lines → a [`GapKind::SkipData`] gap of the node at `time`;
//!   other events (`node_status`, `agent_event`, `debug_event`) and flows
//!   without IP addresses or an L4 header are skipped (counted).

use crate::detect::{Context, FileReader, Shared};
use crate::error::FlowError;
use crate::json::JsonRecords;
use crate::record::*;
use crate::text::Interner;
use seg_ir::Timestamp;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// A line: a bare flow, or a jsonpb wrapper around one (or another event).
#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    flow: Option<HubbleFlow>,
    #[serde(default)]
    lost_events: Option<serde_json::Value>,
    #[serde(default)]
    node_name: Option<String>,
    #[serde(default)]
    time: Option<String>,
    /// The bare form's fields (`-o json`).
    #[serde(flatten)]
    bare: HubbleFlow,
}

#[derive(Deserialize, Default)]
struct HubbleFlow {
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    verdict: Option<String>,
    #[serde(default)]
    drop_reason_desc: Option<String>,
    #[serde(default)]
    drop_reason: Option<u32>,
    #[serde(default, rename = "IP")]
    ip: Option<Ip>,
    #[serde(default)]
    l4: Option<L4>,
    #[serde(default)]
    source: Option<Endpoint>,
    #[serde(default)]
    destination: Option<Endpoint>,
    #[serde(default)]
    node_name: Option<String>,
    #[serde(default)]
    is_reply: Option<Reply>,
    #[serde(default)]
    traffic_direction: Option<String>,
    #[serde(default)]
    ingress_allowed_by: Vec<Policy>,
    #[serde(default)]
    egress_allowed_by: Vec<Policy>,
    #[serde(default)]
    ingress_denied_by: Vec<Policy>,
    #[serde(default)]
    egress_denied_by: Vec<Policy>,
}

#[derive(Deserialize)]
struct Ip {
    source: IpAddr,
    destination: IpAddr,
}

#[derive(Deserialize)]
struct L4 {
    #[serde(default, rename = "TCP")]
    tcp: Option<Tcp>,
    #[serde(default, rename = "UDP")]
    udp: Option<Ports>,
    #[serde(default, rename = "SCTP")]
    sctp: Option<Ports>,
    #[serde(default, rename = "ICMPv4")]
    icmp4: Option<serde_json::Value>,
    #[serde(default, rename = "ICMPv6")]
    icmp6: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Tcp {
    #[serde(default)]
    source_port: Option<u16>,
    #[serde(default)]
    destination_port: Option<u16>,
    #[serde(default)]
    flags: Option<BTreeMap<String, bool>>,
}

#[derive(Deserialize)]
struct Ports {
    #[serde(default)]
    source_port: Option<u16>,
    #[serde(default)]
    destination_port: Option<u16>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Reply {
    Bool(bool),
    Wrapped {
        #[serde(default)]
        value: Option<bool>,
    },
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(default)]
    identity: Option<u32>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    pod_name: Option<String>,
    #[serde(default)]
    workloads: Vec<Workload>,
}

#[derive(Deserialize)]
struct Workload {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
}

#[derive(Deserialize)]
struct Policy {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
}

pub(crate) struct HubbleReader {
    records: JsonRecords,
    ctx: Context,
    interner: Interner,
}

impl HubbleReader {
    pub(crate) fn new(records: JsonRecords, ctx: Context) -> HubbleReader {
        HubbleReader {
            records,
            ctx,
            interner: Interner::default(),
        }
    }
}

/// What one line gives.
enum Outcome {
    Entry(Entry),
    Skipped,
}

impl FileReader for HubbleReader {
    fn next_entry(&mut self, shared: &mut Shared) -> Result<Option<Entry>, FlowError> {
        loop {
            let Some((origin, line)) = self.records.next_parsed::<Line>(&self.ctx)? else {
                return Ok(None);
            };
            return Ok(Some(
                match line.and_then(|l| convert(l, origin, &mut self.interner)) {
                    Ok(Outcome::Entry(e)) => e,
                    Ok(Outcome::Skipped) => {
                        shared.stats.records += 1;
                        shared.stats.skipped += 1;
                        continue;
                    }
                    Err(m) => self.ctx.malformed(origin.line, m),
                },
            ));
        }
    }
}

fn time(s: Option<&str>) -> Result<Timestamp, String> {
    let s = s.ok_or("no `time`")?;
    Timestamp::parse(s).ok_or_else(|| format!("`time` is not an RFC 3339 time: `{s}`"))
}

const POLICY_DROPS: &[&str] = &["POLICY_DENIED", "POLICY_DENY", "AUTH_REQUIRED"];
const POLICY_DROP_CODES: &[u32] = &[133, 181, 189];

fn convert(line: Line, origin: Origin, interner: &mut Interner) -> Result<Outcome, String> {
    let node = |f: &HubbleFlow, l: &Line| {
        f.node_name
            .as_deref()
            .or(l.node_name.as_deref())
            .filter(|n| !n.is_empty())
            .map(|n| n.as_bytes().to_vec())
    };
    if line.lost_events.is_some() {
        let at = time(line.time.as_deref())?;
        let interface = node(&line.bare, &line).map(|n| interner.get(&n));
        return Ok(Outcome::Entry(Entry::Gap(CoverageGap {
            start: at,
            end: at,
            kind: GapKind::SkipData,
            interface,
            origin,
        })));
    }
    let flow = match &line.flow {
        Some(f) => f,
        None if line.bare.verdict.is_some() => &line.bare,
        None => return Ok(Outcome::Skipped),
    };
    let verdict = match flow.verdict.as_deref().unwrap_or("VERDICT_UNKNOWN") {
        "FORWARDED" | "REDIRECTED" => Verdict::Allowed,
        "DROPPED" => {
            let policy = match (&flow.drop_reason_desc, flow.drop_reason) {
                (Some(d), _) if !d.is_empty() => POLICY_DROPS.contains(&d.as_str()),
                (_, Some(code)) if code != 0 => POLICY_DROP_CODES.contains(&code),
                _ => true,
            };
            if policy {
                Verdict::Denied
            } else {
                Verdict::Unknown
            }
        }
        "AUDIT" => Verdict::Audit,
        "ERROR" => return Ok(Outcome::Skipped),
        _ => Verdict::Unknown,
    };
    let (Some(ip), Some(l4)) = (&flow.ip, &flow.l4) else {
        return Ok(Outcome::Skipped);
    };
    let (protocol, ports, tcp_flags) = if let Some(t) = &l4.tcp {
        let flags = t.flags.as_ref().map(|f| {
            f.iter()
                .filter(|(_, on)| **on)
                .map(|(name, _)| tcp_flag_bit(name))
                .fold(0u8, |a, b| a | b)
        });
        (6, Some((t.source_port, t.destination_port)), flags)
    } else if let Some(u) = &l4.udp {
        (17, Some((u.source_port, u.destination_port)), None)
    } else if let Some(s) = &l4.sctp {
        (132, Some((s.source_port, s.destination_port)), None)
    } else if l4.icmp4.is_some() {
        (1, None, None)
    } else if l4.icmp6.is_some() {
        (58, None, None)
    } else {
        return Ok(Outcome::Skipped);
    };
    // In the bare form the top-level `time` is the flow's own.
    let at = time(flow.time.as_deref().or(line.time.as_deref()))?;
    let observed = match flow.traffic_direction.as_deref() {
        Some("INGRESS") => Some(Observed::Ingress),
        Some("EGRESS") => Some(Observed::Egress),
        _ => None,
    };
    let is_reply = match flow.is_reply {
        Some(Reply::Bool(b)) => Some(b),
        Some(Reply::Wrapped { value }) => value,
        None => None,
    };
    let rule = rule(flow, verdict, observed).map(|r| interner.get(r.as_bytes()));
    let interface = node(flow, &line).map(|n| interner.get(&n));
    let (src_port, dst_port) = ports.unwrap_or((None, None));
    Ok(Outcome::Entry(Entry::Flow(Flow {
        start: at,
        end: at,
        src: ip.source,
        dst: ip.destination,
        src_port,
        dst_port,
        protocol,
        verdict,
        packets: None,
        bytes: None,
        hints: Hints {
            tcp_flags,
            is_reply,
            observed,
            state: None,
        },
        src_k8s: flow.source.as_ref().map(endpoint),
        dst_k8s: flow.destination.as_ref().map(endpoint),
        interface,
        rule,
        origin,
    })))
}

fn tcp_flag_bit(name: &str) -> u8 {
    match name {
        "FIN" => 1,
        "SYN" => 2,
        "RST" => 4,
        "PSH" => 8,
        "ACK" => 16,
        "URG" => 32,
        "ECE" => 64,
        "CWR" => 128,
        _ => 0,
    }
}

/// The policy the flow's verdict names, as `namespace/name`.
fn rule(f: &HubbleFlow, verdict: Verdict, observed: Option<Observed>) -> Option<String> {
    let denied = matches!(verdict, Verdict::Denied | Verdict::Audit);
    let ingress = observed == Some(Observed::Ingress);
    let lists: [&Vec<Policy>; 4] = match (denied, ingress) {
        (true, true) => [
            &f.ingress_denied_by,
            &f.egress_denied_by,
            &f.ingress_allowed_by,
            &f.egress_allowed_by,
        ],
        (true, false) => [
            &f.egress_denied_by,
            &f.ingress_denied_by,
            &f.egress_allowed_by,
            &f.ingress_allowed_by,
        ],
        (false, true) => [
            &f.ingress_allowed_by,
            &f.egress_allowed_by,
            &f.ingress_denied_by,
            &f.egress_denied_by,
        ],
        (false, false) => [
            &f.egress_allowed_by,
            &f.ingress_allowed_by,
            &f.egress_denied_by,
            &f.ingress_denied_by,
        ],
    };
    let p = lists
        .iter()
        .flat_map(|l| l.iter())
        .find(|p| !p.name.is_empty())?;
    Some(if p.namespace.is_empty() {
        p.name.clone()
    } else {
        format!("{}/{}", p.namespace, p.name)
    })
}

const SERVICE_ACCOUNT: &str = "io.cilium.k8s.policy.serviceaccount";

fn endpoint(e: &Endpoint) -> Arc<K8sEndpoint> {
    let labels: Vec<(String, String)> = e
        .labels
        .iter()
        .map(|l| {
            let l = l.strip_prefix("k8s:").unwrap_or(l);
            match l.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (l.to_string(), String::new()),
            }
        })
        .collect();
    let service_account = labels
        .iter()
        .find(|(k, _)| k == SERVICE_ACCOUNT)
        .map(|(_, v)| v.clone());
    let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    Arc::new(K8sEndpoint {
        namespace: non_empty(&e.namespace),
        pod: non_empty(&e.pod_name),
        service_account,
        labels,
        identity: e.identity.filter(|i| *i != 0),
        workloads: e
            .workloads
            .iter()
            .map(|w| {
                if w.kind.is_empty() {
                    w.name.clone()
                } else {
                    format!("{}/{}", w.kind, w.name)
                }
            })
            .collect(),
    })
}
