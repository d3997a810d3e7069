//! The streaming path: flow-log entries in, an [`Aggregate`] out. Memory is
//! bounded by distinct tuples (and capture points), not by records: each
//! record updates one map entry keyed by its raw ends (address, or a
//! Kubernetes endpoint), protocol, server port, verdict, policy slice,
//! attribution epoch and capture point. Attribution happens once per
//! distinct key at [`Aggregator::finish`]: within one epoch every address
//! has one holder.
//!
//! The map is the hot spot (a random record misses the cache once for it),
//! so its entries are kept to one cache line: ends are interned to numbers
//! (a small table that stays in cache), and the key packs into 24 bytes.

use crate::attribute::workload_name;
use crate::fold::{Orientation, orient};
use crate::model::{
    Aggregate, Counters, Counts, Endpoint, Gap, GapCause, Interface, TupleKey, Window,
};
use crate::plan::{Plan, has_ports};
use seg_flows::{CoverageGap, Entry, Flow, GapKind, K8sEndpoint, Observed, Verdict};
use seg_ir::Timestamp;
use seg_ir::fasthash::FastMap;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum RawPeer {
    Ip(IpAddr),
    /// An interned Kubernetes endpoint and its address.
    K8s(u32, IpAddr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct RawKey {
    /// Interned ends (indexes into `Aggregator::peers`).
    client: u32,
    server: u32,
    slice: u32,
    epoch: u32,
    /// The interned capture point shifted left by two ([`NO_IFACE`] for
    /// none), and which ends are its own: bit 0 the client, bit 1 the server.
    iface_own: u32,
    port: u16,
    protocol: u8,
    verdict: Verdict,
}

impl RawKey {
    fn iface(&self) -> u32 {
        self.iface_own >> 2
    }

    fn own(&self) -> u32 {
        self.iface_own & 3
    }
}

#[derive(Clone, Copy, Debug)]
struct RawCounts {
    records: u64,
    packets: u64,
    bytes: u64,
    first: i64,
    last: i64,
}

/// Time spans, merged when at most a tolerance apart; kept small as records
/// stream in any order.
#[derive(Clone, Debug, Default)]
struct Spans {
    /// The span records usually extend, kept inline (no second cache miss).
    last: Option<(i64, i64)>,
    /// The others.
    v: Vec<(i64, i64)>,
    /// How many spans `v` held after its last compaction.
    compacted: usize,
}

impl Spans {
    /// Add `[start, end]`: usually it extends the last span.
    fn add(&mut self, start: i64, end: i64, tolerance: i64) {
        if let Some(last) = &mut self.last
            && start >= last.0
            && start <= last.1.saturating_add(tolerance)
        {
            last.1 = last.1.max(end);
            return;
        }
        if let Some(last) = self.last.replace((start, end)) {
            self.v.push(last);
        }
        if self.v.len() > 64 && self.v.len() > 2 * self.compacted {
            compact(&mut self.v, tolerance);
            self.compacted = self.v.len();
        }
    }

    fn finish(mut self, tolerance: i64) -> Vec<(i64, i64)> {
        self.v.extend(self.last);
        compact(&mut self.v, tolerance);
        self.v
    }
}

#[derive(Clone, Debug, Default)]
struct IfaceState {
    /// `[start, end]` spans with records, merged when at most `max_gap` apart.
    covered: Spans,
    /// `[start, end)` gaps the source reported, per kind (NODATA, SKIPDATA), merged.
    gaps: [Spans; 2],
    continuous: bool,
}

/// Aggregates entries as they stream; see the module docs.
pub struct Aggregator<'p> {
    plan: &'p Plan,
    raw: FastMap<RawKey, RawCounts>,
    /// Interned ends of `raw`'s keys.
    peers: Vec<RawPeer>,
    peer_ids: FastMap<RawPeer, u32>,
    ifaces: Vec<(Arc<str>, IfaceState)>,
    iface_ids: FastMap<Arc<str>, u32>,
    /// Interned names by address: readers hand out one `Arc` per distinct
    /// name, so most records are found without hashing the name. Every
    /// pointer here belongs to an `Arc` in `held`, so none is reused.
    iface_ptrs: FastMap<usize, u32>,
    held: Vec<Arc<str>>,
    k8s: Vec<Arc<K8sEndpoint>>,
    k8s_ids: FastMap<Arc<K8sEndpoint>, u32>,
    /// Gaps the source reported without a capture point, per kind.
    global_gaps: [Spans; 2],
    counters: Counters,
    /// Earliest start and latest end of the flows in the window.
    span: Option<(i64, i64)>,
}

/// No capture point; interned ones are below it (they are shifted by two in keys).
const NO_IFACE: u32 = u32::MAX >> 2;

impl<'p> Aggregator<'p> {
    pub fn new(plan: &'p Plan) -> Aggregator<'p> {
        Aggregator {
            plan,
            raw: FastMap::default(),
            peers: Vec::new(),
            peer_ids: FastMap::default(),
            ifaces: Vec::new(),
            iface_ids: FastMap::default(),
            iface_ptrs: FastMap::default(),
            held: Vec::new(),
            k8s: Vec::new(),
            k8s_ids: FastMap::default(),
            global_gaps: Default::default(),
            counters: Counters::default(),
            span: None,
        }
    }

    pub fn add(&mut self, entry: &Entry) {
        match entry {
            Entry::Flow(f) => self.flow(f),
            Entry::Gap(g) => self.gap(g),
            Entry::Malformed(_) => self.counters.malformed += 1,
        }
    }

    /// Distinct keys held so far (what memory grows with).
    pub fn distinct(&self) -> usize {
        self.raw.len()
    }

    fn iface(&mut self, name: Option<&Arc<str>>) -> u32 {
        let Some(name) = name else { return NO_IFACE };
        let ptr = Arc::as_ptr(name) as *const u8 as usize;
        if let Some(&i) = self.iface_ptrs.get(&ptr) {
            return i;
        }
        let i = match self.iface_ids.get(name) {
            Some(&i) => i,
            // Past 2^30 capture points (never in practice) records keep none.
            None if self.ifaces.len() >= NO_IFACE as usize => return NO_IFACE,
            None => {
                let i = self.ifaces.len() as u32;
                self.ifaces.push((name.clone(), IfaceState::default()));
                self.iface_ids.insert(name.clone(), i);
                i
            }
        };
        // Bounded: readers intern at most a million names before starting afresh.
        if self.held.len() < 1 << 22 {
            self.held.push(name.clone());
            self.iface_ptrs.insert(ptr, i);
        }
        i
    }

    fn peer(&mut self, p: RawPeer) -> u32 {
        if let Some(&i) = self.peer_ids.get(&p) {
            return i;
        }
        let i = self.peers.len() as u32;
        self.peers.push(p);
        self.peer_ids.insert(p, i);
        i
    }

    fn k8s(&mut self, k: &Arc<K8sEndpoint>) -> u32 {
        if let Some(&i) = self.k8s_ids.get(k) {
            return i;
        }
        let i = self.k8s.len() as u32;
        self.k8s.push(k.clone());
        self.k8s_ids.insert(k.clone(), i);
        i
    }

    fn flow(&mut self, f: &Flow) {
        self.counters.flows += 1;
        if !self.plan.in_window(f.start) {
            self.counters.outside_window += 1;
            return;
        }
        let (start, end) = (f.start.0, f.end.0.max(f.start.0));
        self.span = Some(match self.span {
            None => (start, end),
            Some((a, b)) => (a.min(start), b.max(end)),
        });
        let iface = self.iface(f.interface.as_ref());
        if iface != NO_IFACE {
            let max_gap = self.plan.max_gap;
            self.ifaces[iface as usize]
                .1
                .covered
                .add(start, end, max_gap);
        }
        let orientation = orient(f, self.plan);
        let reply = match orientation {
            Orientation::Undetermined => {
                self.counters.undetermined += 1;
                return;
            }
            Orientation::Reply => true,
            Orientation::AsWritten => false,
        };
        let mut peer = |ip: IpAddr, k: &Option<Arc<K8sEndpoint>>| {
            let raw = match k {
                Some(k) => RawPeer::K8s(self.k8s(k), ip),
                None => RawPeer::Ip(ip),
            };
            self.peer(raw)
        };
        let (src, dst) = (peer(f.src, &f.src_k8s), peer(f.dst, &f.dst_k8s));
        let (client, server, server_port) = if reply {
            self.counters.replies += 1;
            (dst, src, f.src_port)
        } else {
            (src, dst, f.dst_port)
        };
        // Which written end is the capture point's own, then as client/server.
        let written_own: u32 = match f.hints.observed {
            Some(Observed::Egress) => 1,
            Some(Observed::Ingress) => 2,
            None => 3,
        };
        let own = if reply {
            ((written_own & 1) << 1) | ((written_own & 2) >> 1)
        } else {
            written_own
        };
        let key = RawKey {
            client,
            server,
            protocol: f.protocol,
            port: if has_ports(f.protocol) {
                server_port.unwrap_or(0)
            } else {
                0
            },
            verdict: f.verdict,
            slice: self.plan.slicer.slice(f.start),
            epoch: self.plan.slicer.epoch(f.start),
            iface_own: (iface << 2) | if iface == NO_IFACE { 0 } else { own },
        };
        let (packets, bytes) = (f.packets.unwrap_or(0), f.bytes.unwrap_or(0));
        self.raw
            .entry(key)
            .and_modify(|c| {
                c.records += 1;
                c.packets += packets;
                c.bytes += bytes;
                c.first = c.first.min(start);
                c.last = c.last.max(end);
            })
            .or_insert(RawCounts {
                records: 1,
                packets,
                bytes,
                first: start,
                last: end,
            });
    }

    fn gap(&mut self, g: &CoverageGap) {
        self.counters.gap_records += 1;
        let (start, end) = (g.start.0, g.end.0.max(g.start.0 + 1));
        let overlaps = self.plan.since.is_none_or(|s| end > s.0)
            && self.plan.until.is_none_or(|u| start < u.0);
        if !overlaps {
            return;
        }
        let kind = kind_index(g.kind);
        let iface = self.iface(g.interface.as_ref());
        if iface == NO_IFACE {
            self.global_gaps[kind].add(start, end, 0);
        } else {
            let state = &mut self.ifaces[iface as usize].1;
            state.continuous = true;
            state.gaps[kind].add(start, end, 0);
        }
    }

    /// Attribute every distinct key and merge them into the tuples.
    pub fn finish(self) -> Aggregate {
        let plan = self.plan;
        let window = Window {
            since: plan
                .since
                .unwrap_or(Timestamp(self.span.map_or(0, |s| s.0))),
            until: plan
                .until
                .unwrap_or(Timestamp(self.span.map_or(0, |s| s.1 + 1))),
        };
        let mut counters = self.counters;
        let mut cache: HashMap<(u32, u32), (Endpoint, bool, bool)> = HashMap::new();
        let peers = &self.peers;
        let mut resolve = |peer: u32, epoch: u32, at: Timestamp| {
            cache
                .entry((peer, epoch))
                .or_insert_with(|| match peers[peer as usize] {
                    RawPeer::Ip(ip) => by_address(plan, ip, at),
                    RawPeer::K8s(k, ip) => {
                        let k = &self.k8s[k as usize];
                        if k.namespace.is_some() {
                            match plan.addresses.workload(k) {
                                Some(id) => (Endpoint::Identity(id), true, true),
                                None => (Endpoint::Workload(workload_name(k), ip), true, false),
                            }
                        } else {
                            by_address(plan, ip, at)
                        }
                    }
                })
                .clone()
        };
        let mut tuples: BTreeMap<TupleKey, Counts> = BTreeMap::new();
        let mut endpoints: Vec<std::collections::BTreeSet<Endpoint>> =
            vec![Default::default(); self.ifaces.len()];
        let mut raw: Vec<(RawKey, RawCounts)> = self.raw.into_iter().collect();
        // A fixed order, so that attribution caches and counters do not depend
        // on hashing. Unstable: keys that tie share their epoch, so their ends
        // resolve alike whichever comes first; and it needs no second buffer
        // of the size of the map (the peak memory of the run).
        raw.sort_unstable_by_key(|(k, c)| (c.first, k.epoch, k.slice, k.iface()));
        for (k, c) in raw {
            let at = Timestamp(c.first);
            let (src, src_ok, src_labels) = resolve(k.client, k.epoch, at);
            let (dst, dst_ok, dst_labels) = resolve(k.server, k.epoch, at);
            if src_labels || dst_labels {
                counters.by_labels += c.records;
            }
            let unattested = (matches!(src, Endpoint::Identity(_)) && !src_ok)
                || (matches!(dst, Endpoint::Identity(_)) && !dst_ok);
            if k.iface() != NO_IFACE {
                let set = &mut endpoints[k.iface() as usize];
                if k.own() & 1 != 0 {
                    set.insert(src.clone());
                }
                if k.own() & 2 != 0 {
                    set.insert(dst.clone());
                }
            }
            let counts = Counts {
                records: c.records,
                packets: c.packets,
                bytes: c.bytes,
                unattested: if unattested { c.records } else { 0 },
                first_seen: Timestamp(c.first),
                last_seen: Timestamp(c.last),
            };
            let key = TupleKey {
                src,
                dst,
                protocol: k.protocol,
                port: k.port,
                verdict: k.verdict,
                slice: k.slice,
            };
            tuples
                .entry(key)
                .and_modify(|t| t.add(&counts))
                .or_insert(counts);
        }
        let mut interfaces = BTreeMap::new();
        let mut gaps = Vec::new();
        for (k, spans) in self.global_gaps.into_iter().enumerate() {
            for (a, b) in spans.finish(0) {
                gaps.push(Gap {
                    interface: None,
                    start: Timestamp(a),
                    end: Timestamp(b),
                    cause: GapCause::Source(KINDS[k]),
                });
            }
        }
        for ((name, state), set) in self.ifaces.into_iter().zip(endpoints) {
            let covered: Vec<(Timestamp, Timestamp)> = state
                .covered
                .finish(plan.max_gap)
                .into_iter()
                .map(|(a, b)| (Timestamp(a), Timestamp(b + 1)))
                .collect();
            let mut source = Vec::new();
            for (k, spans) in state.gaps.into_iter().enumerate() {
                source.extend(spans.finish(0).into_iter().map(|(a, b)| (a, b, KINDS[k])));
            }
            gaps.extend(interface_gaps(
                &name,
                &covered,
                &source,
                state.continuous,
                window,
                plan.max_gap,
            ));
            interfaces.insert(
                name.to_string(),
                Interface {
                    covered,
                    continuous: state.continuous,
                    endpoints: set,
                },
            );
        }
        gaps.sort();
        Aggregate {
            window,
            window_given: plan.since.is_some() && plan.until.is_some(),
            tuples,
            interfaces,
            gaps,
            counters,
        }
    }
}

/// (endpoint, attributed with evidence, attributed by labels).
fn by_address(plan: &Plan, ip: IpAddr, at: Timestamp) -> (Endpoint, bool, bool) {
    match plan.addresses.holder(ip, at) {
        Some(h) => (Endpoint::Identity(h.identity), h.evidence, false),
        None => (Endpoint::Address(ip), true, false),
    }
}

const KINDS: [GapKind; 2] = [GapKind::NoData, GapKind::SkipData];

fn kind_index(kind: GapKind) -> usize {
    match kind {
        GapKind::NoData => 0,
        GapKind::SkipData => 1,
    }
}

/// Sort and merge spans at most `max_gap` apart.
fn compact(spans: &mut Vec<(i64, i64)>, max_gap: i64) {
    spans.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for &(a, b) in spans.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(max_gap) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *spans = out;
}

/// The gaps of one capture point: what the source said, and for a
/// continuously logged one, silences longer than `max_gap` (against the
/// window's edges too) in the time neither records nor gaps account for.
pub fn interface_gaps(
    name: &str,
    covered: &[(Timestamp, Timestamp)],
    source: &[(i64, i64, GapKind)],
    continuous: bool,
    window: Window,
    max_gap: i64,
) -> Vec<Gap> {
    let mut out: Vec<Gap> = source
        .iter()
        .map(|&(a, b, kind)| Gap {
            interface: Some(name.to_string()),
            start: Timestamp(a),
            end: Timestamp(b),
            cause: GapCause::Source(kind),
        })
        .collect();
    if continuous {
        let mut spans: Vec<(i64, i64)> = covered
            .iter()
            .map(|&(a, b)| (a.0, b.0))
            .chain(source.iter().map(|&(a, b, _)| (a, b)))
            .collect();
        spans.sort_unstable();
        let mut at = window.since.0;
        for (a, b) in spans {
            if a - at > max_gap {
                out.push(silence(name, at, a));
            }
            at = at.max(b);
        }
        if window.until.0 - at > max_gap {
            out.push(silence(name, at, window.until.0));
        }
    }
    out
}

fn silence(name: &str, a: i64, b: i64) -> Gap {
    Gap {
        interface: Some(name.to_string()),
        start: Timestamp(a),
        end: Timestamp(b),
        cause: GapCause::Silence,
    }
}
