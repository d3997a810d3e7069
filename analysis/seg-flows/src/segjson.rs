//! Seg's own normalised JSON lines: one object a line, the [`Flow`] and
//! [`CoverageGap`] records field for field, so any other source can be
//! converted outside the tool. The format is documented for users in
//! `docs/audit.md` ("Input formats"); [`crate::write::seg_line`] writes it.
//!
//! A flow: `{"start": "2026-11-23T10:00:00Z", "end": …, "src": "10.0.0.1",
//! "dst": "10.0.0.2", "src_port": 43122, "dst_port": 443, "protocol": 6,
//! "verdict": "allowed", "packets": 3, "bytes": 180, …}`. Required: `start`,
//! `src`, `dst`, `protocol`. Times are RFC 3339 or integer seconds since
//! the epoch; `protocol` is the IANA number or `tcp`/`udp`/`icmp`/`icmpv6`/
//! `sctp`; `verdict` defaults to `unknown`, `end` to `start`. A gap:
//! `{"gap": "skipdata", "start": …, "end": …, "interface": "eni-1"}`.
//! Unknown keys are errors (a misspelt key must not drop data silently).

use crate::detect::{Context, FileReader, Shared};
use crate::error::FlowError;
use crate::json::JsonRecords;
use crate::record::*;
use crate::text::{Interner, NumberOrText};
use seg_ir::Timestamp;
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;

type Time<'a> = NumberOrText<'a>;
type Protocol<'a> = NumberOrText<'a>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(borrow, default)]
    gap: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    start: Time<'a>,
    #[serde(borrow, default)]
    end: Option<Time<'a>>,
    #[serde(default)]
    src: Option<IpAddr>,
    #[serde(default)]
    dst: Option<IpAddr>,
    #[serde(default)]
    src_port: Option<u16>,
    #[serde(default)]
    dst_port: Option<u16>,
    #[serde(borrow, default)]
    protocol: Option<Protocol<'a>>,
    #[serde(borrow, default)]
    verdict: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    packets: Option<u64>,
    #[serde(default)]
    bytes: Option<u64>,
    #[serde(default)]
    tcp_flags: Option<u8>,
    #[serde(default)]
    is_reply: Option<bool>,
    #[serde(borrow, default)]
    observed: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    state: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    interface: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    rule: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    src_k8s: Option<K8sJson>,
    #[serde(default)]
    dst_k8s: Option<K8sJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct K8sJson {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    pod: Option<String>,
    #[serde(default)]
    service_account: Option<String>,
    #[serde(default)]
    labels: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    identity: Option<u32>,
    #[serde(default)]
    workloads: Vec<String>,
}

pub(crate) struct SegReader {
    records: JsonRecords,
    ctx: Context,
    interner: Interner,
}

impl SegReader {
    pub(crate) fn new(records: JsonRecords, ctx: Context) -> SegReader {
        SegReader {
            records,
            ctx,
            interner: Interner::default(),
        }
    }
}

impl FileReader for SegReader {
    fn next_entry(&mut self, _: &mut Shared) -> Result<Option<Entry>, FlowError> {
        let Some((origin, line)) = self.records.next_parsed::<Line>(&self.ctx)? else {
            return Ok(None);
        };
        let entry = line.and_then(|l| convert(l, origin, &mut self.interner));
        Ok(Some(
            entry.unwrap_or_else(|m| self.ctx.malformed(origin.line, m)),
        ))
    }
}

fn time(t: &Time) -> Result<Timestamp, String> {
    match t {
        Time::Number(s) => Ok(Timestamp(*s)),
        Time::Text(s) => {
            Timestamp::parse(s).ok_or_else(|| format!("`{s}` is not an RFC 3339 time"))
        }
    }
}

fn convert(l: Line, origin: Origin, interner: &mut Interner) -> Result<Entry, String> {
    let start = time(&l.start)?;
    let end = l.end.as_ref().map(time).transpose()?.unwrap_or(start);
    if end < start {
        return Err("`end` is before `start`".to_string());
    }
    let interface = l.interface.as_deref().map(|s| interner.get(s.as_bytes()));
    if let Some(kind) = l.gap {
        let kind = GapKind::from_name(&kind)
            .ok_or_else(|| format!("unknown gap `{kind}` (expected nodata or skipdata)"))?;
        return Ok(Entry::Gap(CoverageGap {
            start,
            end,
            kind,
            interface,
            origin,
        }));
    }
    let src = l.src.ok_or("missing field `src`")?;
    let dst = l.dst.ok_or("missing field `dst`")?;
    let protocol = match l.protocol.ok_or("missing field `protocol`")? {
        Protocol::Number(n) => u8::try_from(n).map_err(|_| format!("protocol {n} is not 0-255"))?,
        Protocol::Text(n) => {
            protocol_number(&n).ok_or_else(|| format!("unknown protocol `{n}`"))?
        }
    };
    let verdict = match l.verdict.as_deref() {
        None => Verdict::Unknown,
        Some(v) => Verdict::from_name(v).ok_or_else(|| {
            format!("unknown verdict `{v}` (expected allowed, denied, audit or unknown)")
        })?,
    };
    let observed = match l.observed.as_deref() {
        None => None,
        Some(o) => Some(Observed::from_name(o).ok_or_else(|| {
            format!("unknown `observed` value `{o}` (expected egress or ingress)")
        })?),
    };
    let state = match l.state.as_deref() {
        None => None,
        Some(s) => Some(
            FlowState::from_letter(s)
                .ok_or_else(|| format!("unknown `state` `{s}` (expected B, C, E or D)"))?,
        ),
    };
    Ok(Entry::Flow(Flow {
        start,
        end,
        src,
        dst,
        src_port: l.src_port,
        dst_port: l.dst_port,
        protocol,
        verdict,
        packets: l.packets,
        bytes: l.bytes,
        hints: Hints {
            tcp_flags: l.tcp_flags,
            is_reply: l.is_reply,
            observed,
            state,
        },
        src_k8s: l.src_k8s.map(k8s).transpose()?,
        dst_k8s: l.dst_k8s.map(k8s).transpose()?,
        interface,
        rule: l.rule.as_deref().map(Arc::from),
        origin,
    }))
}

fn k8s(k: K8sJson) -> Result<Arc<K8sEndpoint>, String> {
    let labels = k
        .labels
        .into_iter()
        .map(|(key, v)| match v {
            serde_json::Value::String(s) => Ok((key, s)),
            other => Err(format!("label `{key}` is not a string: {other}")),
        })
        .collect::<Result<_, _>>()?;
    Ok(Arc::new(K8sEndpoint {
        namespace: k.namespace,
        pod: k.pod,
        service_account: k.service_account,
        labels,
        identity: k.identity,
        workloads: k.workloads,
    }))
}
