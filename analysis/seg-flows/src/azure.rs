//! Azure VNet flow logs (version 4) and NSG flow logs (versions 1 and 2):
//! the blob `{"records": [...]}`, streamed record by record, or one record
//! a line. Each flow tuple is one [`Flow`].
//!
//! VNet tuples: `time,src,dst,sport,dport,protocol,direction,state,
//! encryption,packets→,bytes→,packets←,bytes←` under
//! `flowRecords.flows[].flowGroups[]` with the group's `rule`. NSG tuples:
//! `time,src,dst,sport,dport,T|U,I|O,A|D[,B|C|E,packets→,bytes→,packets←,bytes←]`
//! under `properties.flows[]` with its `rule`, `flows[].flowTuples`.
//!
//! Mapping:
//! - VNet state `D` → denied, `B`/`C`/`E` → allowed, kept as
//!   [`FlowState`]; NSG decision `A`/`D` → allowed/denied, state as given;
//! - direction `I`/`O` → [`Observed::Ingress`]/[`Observed::Egress`];
//! - the two counter pairs are added up (both directions of the
//!   connection; for `C` and `E`, since the previous tuple); empty counters
//!   are `None`;
//! - the time is epoch seconds or milliseconds: the documentation says
//!   "UNIX epoch" while its own samples are milliseconds, so a value of
//!   10¹¹ or more is read as milliseconds (10¹¹ s is the year 5138);
//! - the record's `macAddress` (or the NSG flow's `mac`) is the interface.
//!
//! One bad tuple is one malformed record (at the line of its Azure record).

use crate::detect::{Context, FileReader, Shared};
use crate::error::FlowError;
use crate::json::JsonRecords;
use crate::record::*;
use crate::text::{Interner, parse_ip, parse_u8, parse_u16, parse_u64, shown};
use seg_ir::Timestamp;
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(default)]
    mac_address: Option<String>,
    #[serde(default)]
    flow_records: Option<FlowRecords>,
    #[serde(default)]
    properties: Option<Properties>,
}

#[derive(Deserialize)]
struct FlowRecords {
    #[serde(default)]
    flows: Vec<VnetFlow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VnetFlow {
    #[serde(default)]
    flow_groups: Vec<FlowGroup>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FlowGroup {
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    flow_tuples: Vec<String>,
}

#[derive(Deserialize)]
struct Properties {
    #[serde(default)]
    flows: Vec<NsgRuleFlows>,
}

#[derive(Deserialize)]
struct NsgRuleFlows {
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    flows: Vec<NsgFlow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NsgFlow {
    #[serde(default)]
    mac: Option<String>,
    #[serde(default)]
    flow_tuples: Vec<String>,
}

pub(crate) struct AzureReader {
    records: JsonRecords,
    ctx: Context,
    interner: Interner,
    /// The tuples of the current record, still as text (converted one by
    /// one, so a large record costs its text, not its entries).
    queue: VecDeque<Pending>,
}

/// A tuple waiting to be read, with what its record says around it.
struct Pending {
    text: String,
    kind: Kind,
    rule: Option<Arc<str>>,
    interface: Option<Arc<str>>,
    origin: Origin,
}

impl AzureReader {
    pub(crate) fn new(records: JsonRecords, ctx: Context) -> AzureReader {
        AzureReader {
            records,
            ctx,
            interner: Interner::default(),
            queue: VecDeque::new(),
        }
    }

    fn queue(&mut self, record: Record, origin: Origin) {
        let interner = &mut self.interner;
        let mut name = |s: Option<String>| s.map(|s| interner.get(s.as_bytes()));
        let mac = name(record.mac_address);
        for flow in record.flow_records.into_iter().flat_map(|r| r.flows) {
            for group in flow.flow_groups {
                let rule = name(group.rule);
                for text in group.flow_tuples {
                    self.queue.push_back(Pending {
                        text,
                        kind: Kind::Vnet,
                        rule: rule.clone(),
                        interface: mac.clone(),
                        origin,
                    });
                }
            }
        }
        for rule_flows in record.properties.into_iter().flat_map(|p| p.flows) {
            let rule = name(rule_flows.rule);
            for f in rule_flows.flows {
                let nic = name(f.mac).or_else(|| mac.clone());
                for text in f.flow_tuples {
                    self.queue.push_back(Pending {
                        text,
                        kind: Kind::Nsg,
                        rule: rule.clone(),
                        interface: nic.clone(),
                        origin,
                    });
                }
            }
        }
    }
}

impl FileReader for AzureReader {
    fn next_entry(&mut self, shared: &mut Shared) -> Result<Option<Entry>, FlowError> {
        loop {
            if let Some(p) = self.queue.pop_front() {
                let entry = tuple(&p.text, p.kind, &p.rule, &p.interface, p.origin)
                    .unwrap_or_else(|m| self.ctx.malformed(p.origin.line, m));
                return Ok(Some(entry));
            }
            let Some((origin, record)) = self.records.next_parsed::<Record>(&self.ctx)? else {
                return Ok(None);
            };
            match record {
                Ok(r) => self.queue(r, origin),
                Err(m) => return Ok(Some(self.ctx.malformed(origin.line, m))),
            }
            if self.queue.is_empty() {
                // A record without flows (an idle minute): nothing observed.
                shared.stats.records += 1;
                shared.stats.skipped += 1;
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Vnet,
    Nsg,
}

/// Epoch seconds or milliseconds (see the module documentation).
fn epoch(b: &[u8]) -> Option<Timestamp> {
    let n = parse_u64(b)?;
    let secs = if n >= 100_000_000_000 { n / 1000 } else { n };
    i64::try_from(secs).ok().map(Timestamp)
}

fn tuple(
    text: &str,
    kind: Kind,
    rule: &Option<Arc<str>>,
    interface: &Option<Arc<str>>,
    origin: Origin,
) -> Result<Entry, String> {
    let f: Vec<&[u8]> = text.as_bytes().split(|&c| c == b',').collect();
    let want = match kind {
        Kind::Vnet => "13",
        Kind::Nsg => "8 or 13",
    };
    let ok_len = match kind {
        Kind::Vnet => f.len() == 13,
        Kind::Nsg => f.len() == 8 || f.len() == 13,
    };
    if !ok_len {
        return Err(format!(
            "flow tuple `{}` has {} fields, not {want}",
            shown(text.as_bytes()),
            f.len()
        ));
    }
    let at = epoch(f[0]).ok_or_else(|| format!("invalid tuple time `{}`", shown(f[0])))?;
    let ip = |b: &[u8], name: &str| {
        parse_ip(b).ok_or_else(|| format!("invalid {name} address `{}`", shown(b)))
    };
    let src = ip(f[1], "source")?;
    let dst = ip(f[2], "destination")?;
    let protocol = match (kind, f[5]) {
        (Kind::Vnet, b) => parse_u8(b).ok_or_else(|| format!("invalid protocol `{}`", shown(b)))?,
        (Kind::Nsg, b"T") => 6,
        (Kind::Nsg, b"U") => 17,
        (Kind::Nsg, b) => return Err(format!("invalid protocol `{}` (T or U)", shown(b))),
    };
    let port = |b: &[u8], name: &str| -> Result<Option<u16>, String> {
        if b.is_empty() || !matches!(protocol, 6 | 17 | 33 | 132 | 136) {
            return Ok(None);
        }
        parse_u16(b)
            .map(Some)
            .ok_or_else(|| format!("invalid {name} `{}`", shown(b)))
    };
    let observed = match f[6] {
        b"I" => Observed::Ingress,
        b"O" => Observed::Egress,
        b => return Err(format!("invalid direction `{}` (I or O)", shown(b))),
    };
    let state_of = |b: &[u8]| match b {
        b"B" => Ok(Some(FlowState::Begin)),
        b"C" => Ok(Some(FlowState::Continuing)),
        b"E" => Ok(Some(FlowState::End)),
        b"D" => Ok(Some(FlowState::Denied)),
        b"" => Ok(None),
        b => Err(format!("invalid flow state `{}`", shown(b))),
    };
    let (verdict, state) = match kind {
        Kind::Vnet => {
            let state = state_of(f[7])?.ok_or("no flow state")?;
            let v = if state == FlowState::Denied {
                Verdict::Denied
            } else {
                Verdict::Allowed
            };
            (v, Some(state))
        }
        Kind::Nsg => {
            let v = match f[7] {
                b"A" => Verdict::Allowed,
                b"D" => Verdict::Denied,
                b => return Err(format!("invalid decision `{}` (A or D)", shown(b))),
            };
            let state = if f.len() == 13 { state_of(f[8])? } else { None };
            if state == Some(FlowState::Denied) {
                return Err("NSG flow state `D` is not one (B, C or E)".to_string());
            }
            (v, state)
        }
    };
    let (packets, bytes) = if f.len() == 13 {
        let n = |b: &[u8]| -> Result<Option<u64>, String> {
            if b.is_empty() {
                Ok(None)
            } else {
                parse_u64(b)
                    .map(Some)
                    .ok_or_else(|| format!("invalid counter `{}`", shown(b)))
            }
        };
        let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
        };
        (add(n(f[9])?, n(f[11])?), add(n(f[10])?, n(f[12])?))
    } else {
        (None, None)
    };
    Ok(Entry::Flow(Flow {
        start: at,
        end: at,
        src,
        dst,
        src_port: port(f[3], "source port")?,
        dst_port: port(f[4], "destination port")?,
        protocol,
        verdict,
        packets,
        bytes,
        hints: Hints {
            observed: Some(observed),
            state,
            ..Hints::default()
        },
        src_k8s: None,
        dst_k8s: None,
        interface: interface.clone(),
        rule: rule.clone(),
        origin,
    }))
}
