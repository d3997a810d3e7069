//! The normalised record every reader produces.

use seg_ir::Timestamp;
use std::net::IpAddr;
use std::sync::Arc;

/// One item of a flow-log stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Traffic the source observed.
    Flow(Flow),
    /// A window in which the source says it recorded nothing, or not everything.
    Gap(CoverageGap),
    /// A record that could not be read; the stream goes on after it.
    Malformed(Malformed),
}

/// One observed flow: a 5-tuple over an observation window, as one source reported it.
///
/// Addresses and ports are those of the packets this record counts: a reply
/// (server to client) record has the server as `src`. Whether it is one is
/// told by [`Flow::hints`]; folding replies into their connection is the
/// consumer's job, as the decision needs the other records and the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// Start of the observation window, whole seconds (UTC).
    pub start: Timestamp,
    /// End of the observation window (inclusive); equal to `start` for
    /// sources that report single events (Hubble, Azure tuples, firewall logs).
    pub end: Timestamp,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// `None` for protocols without ports (ICMP, ...) or when the source printed none.
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// IANA protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, 132 SCTP).
    pub protocol: u8,
    pub verdict: Verdict,
    /// Counters over the window, `None` when the source has none (Hubble
    /// events, denied Azure tuples) or printed `-`. Azure tuples count both
    /// directions of the connection (their two counter pairs added up).
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    /// What the source says about the direction of the traffic.
    pub hints: Hints,
    /// Kubernetes facts about the source endpoint (Hubble only).
    pub src_k8s: Option<Arc<K8sEndpoint>>,
    /// Kubernetes facts about the destination endpoint (Hubble only).
    pub dst_k8s: Option<Arc<K8sEndpoint>>,
    /// The capture point: AWS `interface-id`, Azure MAC address, the
    /// reporting VM of a GCP record, the Hubble node name.
    pub interface: Option<Arc<str>>,
    /// The rule the source names for its verdict: Azure `rule`, Hubble
    /// `namespace/name` of the first policy in `*_allowed_by`/`*_denied_by`,
    /// GCP firewall-log `rule_details.reference`. `None` for AWS.
    pub rule: Option<Arc<str>>,
    /// Where the record was read.
    pub origin: Origin,
}

/// The verdict the source recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// The network carried it (AWS `ACCEPT`, Hubble `FORWARDED`/`REDIRECTED`,
    /// Azure state B/C/E or NSG decision `A`, GCP firewall `ALLOWED`).
    Allowed,
    /// A policy rejected it (AWS `REJECT`, Hubble `DROPPED` for a policy
    /// reason, Azure state `D` or NSG decision `D`, GCP firewall `DENIED`).
    Denied,
    /// A policy in audit mode would have rejected it; the network carried it
    /// (Hubble `AUDIT`).
    Audit,
    /// The source does not say (GCP VPC Flow Logs, AWS `-`, Hubble drops for
    /// reasons other than policy, `TRACED`, `TRANSLATED`).
    Unknown,
}

/// Direction evidence, each field exactly as far as the source states it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Hints {
    /// TCP flags seen in the window, OR-ed, with the wire bit values
    /// (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32, ECE 64, CWR 128): AWS
    /// `tcp-flags` (SYN without ACK marks the client's record, 18 = SYN-ACK
    /// the server's), Hubble `l4.TCP.flags`.
    pub tcp_flags: Option<u8>,
    /// Hubble `is_reply`: `Some(true)` for packets of the reply direction.
    pub is_reply: Option<bool>,
    /// Where the record was captured relative to its traffic.
    pub observed: Option<Observed>,
    /// Azure flow state.
    pub state: Option<FlowState>,
}

/// Whether the capture point sent or received the traffic of the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Observed {
    /// Leaving the reporting endpoint: AWS `flow-direction` egress, Azure `O`,
    /// GCP `reporter` SRC (or SRC_GATEWAY), Hubble `traffic_direction` EGRESS
    /// (for Hubble, the direction of the connection: its replies keep it).
    Egress,
    /// Arriving at the reporting endpoint: AWS ingress, Azure `I`, GCP DEST
    /// (or DEST_GATEWAY), Hubble INGRESS.
    Ingress,
}

/// Azure flow state of a tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowState {
    /// `B`: the flow was created (the first packet); counters are zero.
    Begin,
    /// `C`: an ongoing flow; counters since the previous tuple.
    Continuing,
    /// `E`: the flow ended; counters since the previous tuple.
    End,
    /// `D`: the flow was denied.
    Denied,
}

/// Kubernetes facts about one end of a Hubble flow.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct K8sEndpoint {
    pub namespace: Option<String>,
    pub pod: Option<String>,
    /// From the `io.cilium.k8s.policy.serviceaccount` label.
    pub service_account: Option<String>,
    /// Labels as `(key, value)`, in the source's order. The `k8s:` source
    /// prefix is removed (`k8s:app=web` → `("app", "web")`); other sources
    /// keep theirs (`reserved:world` → `("reserved:world", "")`).
    pub labels: Vec<(String, String)>,
    /// The Cilium security identity, when given.
    pub identity: Option<u32>,
    /// The workloads (`Deployment/web`, ...) Hubble names for the endpoint.
    pub workloads: Vec<String>,
}

/// A window without full data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoverageGap {
    pub start: Timestamp,
    pub end: Timestamp,
    pub kind: GapKind,
    /// The capture point the gap applies to (AWS `interface-id`, Hubble node).
    pub interface: Option<Arc<str>>,
    pub origin: Origin,
}

/// Why a window has no or not all data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GapKind {
    /// AWS `NODATA`: the interface was logged and carried no traffic in the
    /// window. Logging was on, yet nothing was recorded: the source gives no
    /// flows for that window, so it cannot show use.
    NoData,
    /// AWS `SKIPDATA` (records skipped for capacity; one may stand for many
    /// flows) or Hubble `lost_events`: flows happened and were not recorded.
    SkipData,
}

/// A record that could not be read (diagnostic code E0174, [`Malformed::diagnostic`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// The input as named on the command line (`-` for standard input), or
    /// the file a glob matched.
    pub file: Arc<str>,
    /// 1-based line (text and JSON lines; the first line of the record in a
    /// JSON document) or row (Parquet).
    pub line: u64,
    pub message: String,
}

impl Malformed {
    /// A warning: the record is skipped and counted, the run goes on.
    pub fn diagnostic(&self) -> seg_diag::Diagnostic {
        seg_diag::Diagnostic::warning(
            seg_diag::Code::MalformedFlowRecord,
            format!("{}:{}: {}", self.file, self.line, self.message),
        )
    }
}

/// Where a record was read: an index into [`crate::Flows::files`] and a line
/// (or Parquet row), both as in [`Malformed`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    pub file: u32,
    pub line: u64,
}

impl Verdict {
    /// The lower-case name used in Seg's JSON lines (`allowed`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
            Verdict::Audit => "audit",
            Verdict::Unknown => "unknown",
        }
    }

    pub fn from_name(s: &str) -> Option<Verdict> {
        Some(match s {
            "allowed" => Verdict::Allowed,
            "denied" => Verdict::Denied,
            "audit" => Verdict::Audit,
            "unknown" => Verdict::Unknown,
            _ => return None,
        })
    }
}

impl Observed {
    pub fn name(self) -> &'static str {
        match self {
            Observed::Egress => "egress",
            Observed::Ingress => "ingress",
        }
    }

    pub fn from_name(s: &str) -> Option<Observed> {
        match s {
            "egress" => Some(Observed::Egress),
            "ingress" => Some(Observed::Ingress),
            _ => None,
        }
    }
}

impl FlowState {
    /// The Azure letter (`B`, `C`, `E`, `D`).
    pub fn letter(self) -> char {
        match self {
            FlowState::Begin => 'B',
            FlowState::Continuing => 'C',
            FlowState::End => 'E',
            FlowState::Denied => 'D',
        }
    }

    pub fn from_letter(s: &str) -> Option<FlowState> {
        Some(match s {
            "B" => FlowState::Begin,
            "C" => FlowState::Continuing,
            "E" => FlowState::End,
            "D" => FlowState::Denied,
            _ => return None,
        })
    }
}

impl GapKind {
    pub fn name(self) -> &'static str {
        match self {
            GapKind::NoData => "nodata",
            GapKind::SkipData => "skipdata",
        }
    }

    pub fn from_name(s: &str) -> Option<GapKind> {
        match s {
            "nodata" => Some(GapKind::NoData),
            "skipdata" => Some(GapKind::SkipData),
            _ => None,
        }
    }
}

/// IANA protocol numbers of the names sources print.
pub fn protocol_number(name: &str) -> Option<u8> {
    Some(match name.to_ascii_lowercase().as_str() {
        "icmp" | "icmpv4" => 1,
        "tcp" => 6,
        "udp" => 17,
        "icmpv6" | "ipv6-icmp" => 58,
        "sctp" => 132,
        _ => return None,
    })
}
