//! GCP VPC Flow Logs (and firewall-rule logs) exported from Cloud Logging:
//! one `LogEntry` a record, the flow in `jsonPayload`.
//!
//! Mapping:
//! - `connection{src_ip, src_port, dest_ip, dest_port, protocol}` → the
//!   5-tuple; `start_time`/`end_time` (RFC 3339, else the entry's
//!   `timestamp`) → the window; `packets_sent`/`bytes_sent` (strings in
//!   the export; numbers accepted) → counters;
//! - `reporter` SRC/SRC_GATEWAY → [`Observed::Egress`], DEST/DEST_GATEWAY →
//!   [`Observed::Ingress`]; the reporting VM (`src_instance.vm_name` or
//!   `dest_instance.vm_name`) is the interface;
//! - VPC Flow Logs carry no verdict: [`Verdict::Unknown`];
//! - firewall-rule logs (`disposition` ALLOWED/DENIED) → allowed/denied,
//!   `rule_details.reference` → the rule, `rule_details.direction` →
//!   observed, `instance.vm_name` → interface, at `timestamp`.
//!
//! **Each connection once.** With both ends in logged subnets, GCP reports
//! a connection twice: once by the source VM (`SRC`) and once by the
//! destination VM (`DEST`), each over its own aggregation window. With
//! [`ReaderOptions::gcp_dedupe`](crate::ReaderOptions) (the default), a
//! VPC flow record is dropped, and counted in
//! [`Stats::duplicates`](crate::Stats), when an earlier record of the same
//! 5-tuple from the other end, not yet matched, has a window overlapping
//! its own (within 5 s, the shortest aggregation interval), in this file or
//! an earlier one of the same run. Reports are
//! matched one to one, so a long connection reported window after window
//! by both ends is counted once per pair of windows. The table of unmatched
//! reports is bounded (64 per 5-tuple, 4 million 5-tuples).

use crate::detect::{Context, FileReader, Shared};
use crate::error::FlowError;
use crate::json::JsonRecords;
use crate::record::*;
use crate::text::{Interner, NumberOrText};
use seg_ir::Timestamp;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

#[derive(Deserialize)]
struct LogEntry<'a> {
    #[serde(rename = "jsonPayload")]
    payload: Option<Payload<'a>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Payload<'a> {
    connection: Option<Connection>,
    #[serde(borrow, default)]
    start_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    end_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    bytes_sent: Option<NumberOrText<'a>>,
    #[serde(borrow, default)]
    packets_sent: Option<NumberOrText<'a>>,
    #[serde(borrow, default)]
    reporter: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    src_instance: Option<Instance<'a>>,
    #[serde(borrow, default)]
    dest_instance: Option<Instance<'a>>,
    #[serde(borrow, default)]
    instance: Option<Instance<'a>>,
    #[serde(borrow, default)]
    disposition: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    rule_details: Option<RuleDetails<'a>>,
}

#[derive(Deserialize)]
struct Connection {
    src_ip: IpAddr,
    dest_ip: IpAddr,
    #[serde(default)]
    src_port: Option<u16>,
    #[serde(default)]
    dest_port: Option<u16>,
    protocol: u8,
}

#[derive(Deserialize)]
struct Instance<'a> {
    #[serde(borrow, default)]
    vm_name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RuleDetails<'a> {
    #[serde(borrow, default)]
    reference: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    direction: Option<Cow<'a, str>>,
}

/// A 5-tuple: addresses, ports, protocol.
type Key = (IpAddr, IpAddr, Option<u16>, Option<u16>, u8);

/// A report waiting for its twin from the other end.
#[derive(Clone, Copy)]
struct Unmatched {
    observed: Observed,
    start: i64,
    end: i64,
}

const SLACK: i64 = 5;
const PER_KEY: usize = 64;
const MAX_KEYS: usize = 4 << 20;

pub(crate) struct GcpReader {
    records: JsonRecords,
    ctx: Context,
    interner: Interner,
}

impl GcpReader {
    pub(crate) fn new(records: JsonRecords, ctx: Context) -> GcpReader {
        GcpReader {
            records,
            ctx,
            interner: Interner::default(),
        }
    }
}

/// Reports waiting for their twin, across the files of a run.
#[derive(Default)]
pub(crate) struct Dedupe {
    unmatched: HashMap<Key, VecDeque<Unmatched>>,
}

impl Dedupe {
    /// Whether this report is the other end's twin of one already seen;
    /// if not, it is remembered for its own twin.
    fn is_duplicate(&mut self, f: &Flow) -> bool {
        let Some(observed) = f.hints.observed else {
            return false;
        };
        let key = (f.src, f.dst, f.src_port, f.dst_port, f.protocol);
        let (start, end) = (f.start.0, f.end.0);
        if let Some(waiting) = self.unmatched.get_mut(&key)
            && let Some(i) = waiting.iter().position(|u| {
                u.observed != observed && u.start <= end + SLACK && start <= u.end + SLACK
            })
        {
            waiting.remove(i);
            return true;
        }
        if self.unmatched.len() >= MAX_KEYS {
            self.unmatched.clear();
        }
        let waiting = self.unmatched.entry(key).or_default();
        if waiting.len() == PER_KEY {
            waiting.pop_front();
        }
        waiting.push_back(Unmatched {
            observed,
            start,
            end,
        });
        false
    }
}

impl FileReader for GcpReader {
    fn next_entry(&mut self, shared: &mut Shared) -> Result<Option<Entry>, FlowError> {
        loop {
            let Some((origin, entry)) = self.records.next_parsed::<LogEntry>(&self.ctx)? else {
                return Ok(None);
            };
            let entry = match entry.and_then(|e| convert(e, origin, &mut self.interner)) {
                Ok((flow, firewall)) => {
                    if !firewall && self.ctx.options.gcp_dedupe && shared.gcp.is_duplicate(&flow) {
                        shared.stats.records += 1;
                        shared.stats.duplicates += 1;
                        continue;
                    }
                    Entry::Flow(flow)
                }
                Err(m) => self.ctx.malformed(origin.line, m),
            };
            return Ok(Some(entry));
        }
    }
}

fn time(s: &str, name: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s).ok_or_else(|| format!("`{name}` is not an RFC 3339 time: `{s}`"))
}

fn counter(c: Option<NumberOrText>, name: &str) -> Result<Option<u64>, String> {
    match c {
        None => Ok(None),
        Some(NumberOrText::Number(n)) => u64::try_from(n)
            .map(Some)
            .map_err(|_| format!("`{name}` is negative: {n}")),
        Some(NumberOrText::Text(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("`{name}` is not a count: `{s}`")),
    }
}

/// The flow of an entry, and whether it is a firewall-rule log.
fn convert(e: LogEntry, origin: Origin, interner: &mut Interner) -> Result<(Flow, bool), String> {
    let p = e.payload.ok_or("no `jsonPayload`")?;
    let c = p.connection.ok_or("no `jsonPayload.connection`")?;
    let stamp = e.timestamp.as_deref();
    let start = p
        .start_time
        .as_deref()
        .or(stamp)
        .ok_or("no `start_time` or `timestamp`")?;
    let start = time(start, "start_time")?;
    let end = match p.end_time.as_deref() {
        Some(s) => time(s, "end_time")?,
        None => start,
    };
    if end < start {
        return Err("`end_time` is before `start_time`".to_string());
    }
    fn vm(interner: &mut Interner, i: &Option<Instance>) -> Option<std::sync::Arc<str>> {
        i.as_ref()
            .and_then(|i| i.vm_name.as_deref())
            .map(|n| interner.get(n.as_bytes()))
    }
    let firewall = p.disposition.is_some();
    let (verdict, observed, interface, rule) = if let Some(d) = &p.disposition {
        let verdict = match d.as_ref() {
            "ALLOWED" => Verdict::Allowed,
            "DENIED" => Verdict::Denied,
            _ => Verdict::Unknown,
        };
        let details = p.rule_details.as_ref();
        let observed = match details.and_then(|r| r.direction.as_deref()) {
            Some("EGRESS") => Some(Observed::Egress),
            Some("INGRESS") => Some(Observed::Ingress),
            _ => None,
        };
        let rule = details
            .and_then(|r| r.reference.as_deref())
            .map(|r| interner.get(r.as_bytes()));
        (verdict, observed, vm(interner, &p.instance), rule)
    } else {
        let (observed, interface) = match p.reporter.as_deref() {
            Some("SRC" | "SRC_GATEWAY") => (Some(Observed::Egress), vm(interner, &p.src_instance)),
            Some("DEST" | "DEST_GATEWAY") => {
                (Some(Observed::Ingress), vm(interner, &p.dest_instance))
            }
            None => (None, None),
            Some(other) => return Err(format!("unknown reporter `{other}`")),
        };
        (Verdict::Unknown, observed, interface, None)
    };
    let ports = matches!(c.protocol, 6 | 17 | 33 | 132 | 136);
    Ok((
        Flow {
            start,
            end,
            src: c.src_ip,
            dst: c.dest_ip,
            src_port: c.src_port.filter(|_| ports),
            dst_port: c.dest_port.filter(|_| ports),
            protocol: c.protocol,
            verdict,
            packets: counter(p.packets_sent, "packets_sent")?,
            bytes: counter(p.bytes_sent, "bytes_sent")?,
            hints: Hints {
                observed,
                ..Hints::default()
            },
            src_k8s: None,
            dst_k8s: None,
            interface,
            rule,
            origin,
        },
        firewall,
    ))
}
