//! What a diff is: the flow classes whose decision changed, grouped and
//! described for people, plus the inventory changes. Serialised as the JSON
//! format (`docs/diff.md` documents every field; `schema` is its version).

use ipnet::IpNet;
use seg_ir::{Action, Condition, Expiry, FlowEndpoint, PortSet, Protocol, Timestamp, Value};
use seg_space::context::{self, Context, Extent, Guard};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The JSON format's version: changes only when a field changes meaning or goes.
pub const SCHEMA: &str = "seg-diff/1";

/// The reachability diff of two versions of a policy.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    pub schema: &'static str,
    pub old: Version,
    pub new: Version,
    /// "Now" of both compilations: decisions are compared from this instant on.
    #[serde(serialize_with = "instant")]
    pub now: Timestamp,
    pub summary: Summary,
    pub identities: IdentityChanges,
    /// Every flow class whose decision changed, grouped (see [`Row`]).
    pub changes: Vec<Row>,
    /// With `--targets`: what changes in each target's output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<crate::targets::TargetDiff>>,
    /// False only when a string test was too large to explore completely
    /// (see `seg_space::strings::MAX_STATES`); never in practice.
    pub complete: bool,
}

/// One side of the diff.
#[derive(Clone, Debug, Serialize)]
pub struct Version {
    /// What the user named: a folder, or `REV` in git mode.
    pub label: String,
    pub project: String,
    pub source_hash: String,
    pub rules: usize,
    pub identities: usize,
}

/// Counts for the one-line summary. A flow here is one row: a class of
/// sources × destinations × ports whose decision changed the same way.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub newly_allowed: usize,
    pub newly_denied: usize,
    pub conditions_changed: usize,
    pub identities_added: usize,
    pub identities_removed: usize,
    pub identities_changed: usize,
}

impl Summary {
    pub fn flows(&self) -> usize {
        self.newly_allowed + self.newly_denied + self.conditions_changed
    }

    pub fn is_empty(&self) -> bool {
        self.flows() == 0
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct IdentityChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<IdentityChange>,
}

/// An identity on both sides whose inventory record differs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct IdentityChange {
    pub name: String,
    pub changes: Vec<FieldChange>,
}

/// One field of an inventory record: `attributes.team`, `labels.app`,
/// `addresses`, `kind`, `kubernetes.namespace`, ... `None` is absent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl FieldChange {
    /// `attributes.team: "web" → "payments"`.
    pub fn text(&self) -> String {
        let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        format!(
            "{}: {} → {}",
            self.field,
            side(&self.before),
            side(&self.after)
        )
    }
}

/// NCA's grouping of changes by the life cycle of their endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Both endpoints exist on both sides (addresses always do).
    Persistent,
    /// An endpoint is an identity only the new version has.
    Added,
    /// An endpoint is an identity only the old version has.
    Removed,
}

impl Section {
    pub fn title(self) -> &'static str {
        match self {
            Section::Persistent => "Between identities and addresses present on both sides",
            Section::Added => "With added identities",
            Section::Removed => "With removed identities",
        }
    }
}

/// How a flow class's decision changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Never allowed before, allowed (at least sometimes) now.
    NewlyAllowed,
    /// Allowed (at least sometimes) before, never now.
    NewlyDenied,
    /// Allowed sometimes on both sides, at more instants or contexts now.
    Widened,
    /// Allowed sometimes on both sides, at fewer now.
    Narrowed,
    /// Allowed sometimes on both sides, at others now (some gained, some lost).
    Changed,
}

impl Change {
    pub fn is_condition(self) -> bool {
        matches!(self, Change::Widened | Change::Narrowed | Change::Changed)
    }

    /// `+`, `-` or `~`.
    pub fn sign(self) -> &'static str {
        match self {
            Change::NewlyAllowed => "+",
            Change::NewlyDenied => "-",
            _ => "~",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Change::NewlyAllowed => "newly allowed",
            Change::NewlyDenied => "newly denied",
            Change::Widened => "condition widened",
            Change::Narrowed => "condition narrowed",
            Change::Changed => "condition changed",
        }
    }
}

/// Where an endpoint group stands in the inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Identities on both sides, or addresses.
    Persistent,
    Added,
    Removed,
}

/// One end of a row: identities, or addresses outside them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoints {
    /// Identity names, sorted (empty for addresses).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<String>,
    /// Addresses as the fewest CIDRs: addresses outside the inventory, or
    /// the addresses of these identities (see `own_addresses`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<IpNet>,
    /// Every address listed belongs to one of the identities listed: a flow
    /// from or to those addresses changed like the identities' own.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub own_addresses: bool,
    pub lifecycle: Lifecycle,
    /// What changed in these identities' inventory records (the same for
    /// every member), when that is why the decision changed with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<FieldChange>,
    /// What every member has in common (`kind=workload, team="payments"`),
    /// for a group of several identities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub common: Option<String>,
}

impl Endpoints {
    pub fn count(&self) -> usize {
        self.identities.len() + self.addresses.len()
    }

    pub fn contains(&self, e: &EndpointRef) -> bool {
        match e {
            EndpointRef::Name(n) => self.identities.binary_search(n).is_ok(),
            EndpointRef::Address(a) => self.addresses.iter().any(|n| n.contains(a)),
        }
    }

    /// The first member, for a witness flow.
    pub fn first(&self) -> Option<EndpointRef> {
        self.identities
            .first()
            .map(|n| EndpointRef::Name(n.clone()))
            .or_else(|| {
                self.addresses
                    .first()
                    .map(|n| EndpointRef::Address(n.network()))
            })
    }
}

/// A flow endpoint by name, independent of any program's numbering.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointRef {
    Name(String),
    Address(IpAddr),
}

impl std::fmt::Display for EndpointRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointRef::Name(n) => f.write_str(n),
            EndpointRef::Address(a) => write!(f, "{a}"),
        }
    }
}

impl EndpointRef {
    /// The endpoint in a program; `None` for a name the program does not have.
    pub fn resolve(&self, program: &seg_ir::Program) -> Option<FlowEndpoint> {
        match self {
            EndpointRef::Name(n) => program
                .identity_by_name(n)
                .map(|i| FlowEndpoint::Identity(i.id)),
            EndpointRef::Address(a) => Some(FlowEndpoint::Address(*a)),
        }
    }
}

/// A rule as a row shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// `policy/n`, stable within one version.
    pub rule: String,
    pub action: Action,
    pub file: String,
    pub line: u32,
    pub policy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The condition as source text; absent when unconditional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<Expiry>,
    /// The other version has no rule with the same meaning (added,
    /// removed or edited — or its sets changed with the inventory).
    pub changed: bool,
}

impl RuleInfo {
    /// `payments/3 (policy/payments.seg:17)`.
    pub fn location(&self) -> String {
        format!("{} ({}:{})", self.rule, self.file, self.line)
    }
}

/// A rule's action, condition and expiry, kept to evaluate a row.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnedGuard {
    pub action: Action,
    pub condition: Condition,
    pub expires: Option<Expiry>,
}

/// One side's decision for a row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `never`, `sometimes` or `always` allowed, from `now` on.
    pub allowed: Extent,
    /// For people: `deny`, `allow`, `allow when mtls until 2026-12-31 unless ...`.
    pub text: String,
    /// The rules that decide it (for `sometimes`, every rule matching).
    pub rules: Vec<RuleInfo>,
    #[serde(skip)]
    pub guards: Vec<OwnedGuard>,
}

impl Verdict {
    /// Whether this side allows a flow of the row with this context.
    pub fn allows(&self, ctx: &Context) -> bool {
        let guards: Vec<Guard> = self
            .guards
            .iter()
            .map(|g| Guard {
                action: g.action,
                condition: &g.condition,
                expires: g.expires,
            })
            .collect();
        context::allows(&guards, ctx)
    }
}

/// A concrete flow the row's change applies to: decided differently by
/// the reference evaluator on the two versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Witness {
    pub src: EndpointRef,
    pub dst: EndpointRef,
    pub protocol: Protocol,
    pub port: u16,
    #[serde(serialize_with = "instant")]
    pub at: Timestamp,
    pub mtls: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, Value>,
}

impl Witness {
    pub fn context(&self) -> Context {
        Context {
            at: self.at,
            mtls: self.mtls,
            method: self.method.clone(),
            path: self.path.clone(),
            context: self.context.clone(),
        }
    }
}

/// Whether an `--expect` file accounts for a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Every flow of the row is an intended change.
    Intended,
    /// Some flow of the row is not.
    Collateral,
}

/// A flow class whose decision changed: sources × destinations × ports,
/// decided alike within (same rules, same conditions on each side).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    pub section: Section,
    pub change: Change,
    pub src: Endpoints,
    pub dst: Endpoints,
    /// Protocols and ports: `[{"protocol": "tcp", "from": 5432, "to": 5432}, {"protocol": "icmp"}]`.
    #[serde(serialize_with = "port_list")]
    pub ports: PortSet,
    pub before: Verdict,
    pub after: Verdict,
    pub witness: Witness,
    /// With `--expect`: whether the intended changes account for the row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
}

fn instant<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_string())
}

/// One protocol's ports in the JSON format; `from`/`to` only for TCP, UDP, SCTP.
#[derive(Serialize)]
struct PortRange {
    protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<u16>,
}

fn port_list<S: serde::Serializer>(p: &PortSet, s: S) -> Result<S::Ok, S::Error> {
    let mut out = Vec::new();
    for (name, ranges) in [("tcp", &p.tcp), ("udp", &p.udp), ("sctp", &p.sctp)] {
        for &(lo, hi) in ranges.ranges() {
            out.push(PortRange {
                protocol: name,
                from: Some(lo),
                to: Some(hi),
            });
        }
    }
    if p.icmp {
        out.push(PortRange {
            protocol: "icmp",
            from: None,
            to: None,
        });
    }
    if p.other {
        out.push(PortRange {
            protocol: "other",
            from: None,
            to: None,
        });
    }
    out.serialize(s)
}

/// A concrete flow to look up in a diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRef {
    pub src: EndpointRef,
    pub dst: EndpointRef,
    pub protocol: Protocol,
    pub port: u16,
    pub context: Context,
}

impl Row {
    /// Whether the flow's endpoints and port are in the row.
    pub fn holds(&self, f: &FlowRef) -> bool {
        self.ports.contains(f.protocol, f.port)
            && self.src.contains(&f.src)
            && self.dst.contains(&f.dst)
    }
}

impl Diff {
    /// The row holding the flow's endpoints and port (rows are disjoint).
    pub fn row_of(&self, f: &FlowRef) -> Option<&Row> {
        self.changes.iter().find(|r| r.holds(f))
    }

    /// Whether the diff says the two versions decide this flow differently.
    pub fn reports(&self, f: &FlowRef) -> bool {
        self.row_of(f)
            .is_some_and(|r| r.before.allows(&f.context) != r.after.allows(&f.context))
    }

    /// No reachability changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// The decision one side gives a flow, from its guards (for expectations).
pub fn allows_at(guards: &[OwnedGuard], ctx: &Context) -> bool {
    let guards: Vec<Guard> = guards
        .iter()
        .map(|g| Guard {
            action: g.action,
            condition: &g.condition,
            expires: g.expires,
        })
        .collect();
    context::allows(&guards, ctx)
}
