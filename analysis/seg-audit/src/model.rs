//! The boundary every input path produces: observed connections aggregated
//! into distinct (source, destination, protocol, port) tuples with counts
//! and first/last seen, the coverage of each capture point, and the gaps.
//!
//! The streaming readers ([`crate::aggregate`]), an aggregated file
//! ([`crate::aggregated`], the result of the emitted SQL) and tests all give
//! an [`Aggregate`]; everything after it (evaluation, findings, drafts)
//! reads only this.

use seg_flows::{GapKind, Verdict};
use seg_ir::{IdentityId, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// One end of an observed connection, after attribution.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// The identity that held the address (or matched the Kubernetes
    /// endpoint) when the traffic happened.
    Identity(IdentityId),
    /// An address no identity held then.
    Address(IpAddr),
    /// A Kubernetes endpoint no identity matches: `namespace/pod`, and the
    /// address it had.
    Workload(String, IpAddr),
}

/// A distinct observed connection, client to server.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TupleKey {
    pub src: Endpoint,
    pub dst: Endpoint,
    /// IANA protocol number.
    pub protocol: u8,
    /// The server's port; 0 for protocols without ports.
    pub port: u16,
    /// What the network did, as the source recorded it.
    pub verdict: Verdict,
    /// The policy's time slice the traffic fell in (see [`crate::plan::Slicer`]):
    /// within one slice every decision and attribution is the same.
    pub slice: u32,
}

/// What was observed of one tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Records folded into the tuple (replies included).
    pub records: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Records an end of which was attributed through an address written
    /// without a validity window (no evidence the identity held it then).
    pub unattested: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        // Saturating: counters come from files too (`--aggregated`).
        self.records = self.records.saturating_add(o.records);
        self.packets = self.packets.saturating_add(o.packets);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.unattested = self.unattested.saturating_add(o.unattested);
        self.first_seen = self.first_seen.min(o.first_seen);
        self.last_seen = self.last_seen.max(o.last_seen);
    }
}

/// The observation window: `[since, until)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub since: Timestamp,
    pub until: Timestamp,
}

impl Window {
    pub fn seconds(&self) -> i64 {
        (self.until.0 - self.since.0).max(0)
    }
}

/// A window of one capture point (or of all, when `interface` is `None`)
/// without full data.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gap {
    pub interface: Option<String>,
    pub start: Timestamp,
    /// Exclusive.
    pub end: Timestamp,
    pub cause: GapCause,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GapCause {
    /// The source said so (AWS `NODATA`/`SKIPDATA`, Hubble lost events).
    Source(GapKind),
    /// A capture point that logs every interval wrote nothing for longer than
    /// `[audit] max-gap`, or not from the window's start or to its end.
    Silence,
}

impl GapCause {
    pub fn name(self) -> &'static str {
        match self {
            GapCause::Source(k) => k.name(),
            GapCause::Silence => "silence",
        }
    }
}

/// What the logs show of one capture point.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interface {
    /// Merged spans with records, `[start, end)`.
    pub covered: Vec<(Timestamp, Timestamp)>,
    /// Whether the source logs this interface every interval (it wrote a
    /// `NODATA` or `SKIPDATA` record), so that its silence is a gap.
    pub continuous: bool,
    /// The ends whose traffic this interface captured as its own (both ends
    /// when the source does not say which side it is on).
    pub endpoints: BTreeSet<Endpoint>,
}

/// Counters of an aggregation, for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Flow records read.
    pub flows: u64,
    /// Gap records read.
    pub gap_records: u64,
    /// Records the readers could not read.
    pub malformed: u64,
    /// Flow records that started outside `--since`/`--until`.
    pub outside_window: u64,
    /// Records folded in as the reply direction of their connection.
    pub replies: u64,
    /// Records whose client and server could not be told apart (both ports
    /// ephemeral, no flags): left out of findings and drafts.
    pub undetermined: u64,
    /// Records attributed to an identity through a Kubernetes endpoint.
    pub by_labels: u64,
}

/// Observed traffic, aggregated: the input of everything after reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregate {
    pub window: Window,
    /// Whether `window` was given (`--since`/`--until`) or taken from the data.
    pub window_given: bool,
    pub tuples: BTreeMap<TupleKey, Counts>,
    pub interfaces: BTreeMap<String, Interface>,
    /// Gaps, sorted, merged per interface and cause.
    pub gaps: Vec<Gap>,
    pub counters: Counters,
}

impl Aggregate {
    /// Records in tuples (after folding, within the window).
    pub fn records(&self) -> u64 {
        self.tuples.values().map(|c| c.records).sum()
    }
}
