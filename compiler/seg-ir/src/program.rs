//! The checked program: flat, resolved, serialisable. Backends see only this.
//!
//! Invariants (established by `seg_check::lower`):
//! - `identities[i].id == IdentityId(i)`; rules refer to identities by id.
//! - Every rule in `rules` is live at `now`; expired rules are in `omitted`.
//! - A rule's `condition` holds only dynamic atoms: static conditions on
//!   `source.*`/`destination.*` have already narrowed `src`/`dst`.
//! - An [`EndpointSet`]'s `identities` include every identity that one of its
//!   networks overlaps (see docs/language.md, "Membership").

use crate::Identities;
use crate::net::CidrSet;
use crate::ports::PortSet;
use crate::time::{Expiry, TimeOfDay, Timestamp};
use ipnet::IpNet;
use seg_diag::Span;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

/// Index of an identity in [`Program::identities`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IdentityId(pub u32);

impl fmt::Debug for IdentityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "identity#{}", self.0)
    }
}

/// Index of a rule in [`Program::rules`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RuleId(pub u32);

impl fmt::Debug for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule#{}", self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// `seg.toml [project] name`.
    pub project: String,
    /// SHA-256 (hex) over every input file, in a fixed order.
    pub source_hash: String,
    /// "Today" for this build: `--now`, `SOURCE_DATE_EPOCH` or the clock.
    pub now: Timestamp,
    /// Shared with the inventory and with clones of the program (copy on write).
    pub identities: Identities,
    pub rules: Vec<Rule>,
    /// Rules left out of every target at compile time (expired).
    pub omitted: Vec<OmittedRule>,
    /// Declared `context` inputs and their types.
    pub contexts: BTreeMap<String, ContextType>,
    pub tests: Vec<Test>,
}

impl Program {
    pub fn identity(&self, id: IdentityId) -> &Identity {
        &self.identities[id.0 as usize]
    }

    pub fn identity_by_name(&self, name: &str) -> Option<&Identity> {
        self.identities.iter().find(|i| i.name == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    Workload,
    ServiceAccount,
    Agent,
    CiJob,
    ApiKey,
}

impl IdentityKind {
    pub const ALL: [IdentityKind; 5] = [
        IdentityKind::Workload,
        IdentityKind::ServiceAccount,
        IdentityKind::Agent,
        IdentityKind::CiJob,
        IdentityKind::ApiKey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Workload => "workload",
            IdentityKind::ServiceAccount => "service_account",
            IdentityKind::Agent => "agent",
            IdentityKind::CiJob => "ci_job",
            IdentityKind::ApiKey => "api_key",
        }
    }

    pub fn parse(s: &str) -> Option<IdentityKind> {
        IdentityKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A typed attribute value from the inventory. Written untagged (`true`,
/// `3`, `"x"`) in text formats such as the IR's JSON; tagged in binary ones
/// (the compiled-program cache), which cannot tell the three apart unaided.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    Bool(bool),
    Int(i64),
    String(String),
}

/// [`Value`] as text formats write it.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ValueText {
    Bool(bool),
    Int(i64),
    String(String),
}

/// [`Value`] as binary formats write it.
#[derive(Serialize, Deserialize)]
enum ValueTagged {
    Bool(bool),
    Int(i64),
    String(String),
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Bool(b) if s.is_human_readable() => b.serialize(s),
            Value::Int(i) if s.is_human_readable() => i.serialize(s),
            Value::String(t) if s.is_human_readable() => t.serialize(s),
            Value::Bool(b) => s.serialize_newtype_variant("ValueTagged", 0, "Bool", b),
            Value::Int(i) => s.serialize_newtype_variant("ValueTagged", 1, "Int", i),
            Value::String(t) => s.serialize_newtype_variant("ValueTagged", 2, "String", t),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        Ok(if d.is_human_readable() {
            match ValueText::deserialize(d)? {
                ValueText::Bool(b) => Value::Bool(b),
                ValueText::Int(i) => Value::Int(i),
                ValueText::String(t) => Value::String(t),
            }
        } else {
            match ValueTagged::deserialize(d)? {
                ValueTagged::Bool(b) => Value::Bool(b),
                ValueTagged::Int(i) => Value::Int(i),
                ValueTagged::String(t) => Value::String(t),
            }
        })
    }
}

/// The facts about one inventory identity that targets need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub id: IdentityId,
    pub name: String,
    pub kind: IdentityKind,
    pub owner: Option<String>,
    pub attributes: BTreeMap<String, Value>,
    pub labels: BTreeMap<String, String>,
    /// Canonical networks (a bare address is a /32 or /128), sorted.
    pub addresses: Vec<IpNet>,
    pub kubernetes: Option<KubernetesBinding>,
    pub aws: Option<AwsBinding>,
    pub gcp: Option<GcpBinding>,
    pub spiffe: Option<String>,
    /// Where the identity is declared in the inventory.
    pub origin: Span,
}

impl Identity {
    /// The principal OPA matches: the SPIFFE ID when there is one, else the name.
    pub fn principal(&self) -> &str {
        self.spiffe.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesBinding {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub service_account: Option<String>,
}

/// `aws: {}` asks seg to create the group; `security_group` attaches to an existing one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsBinding {
    pub security_group: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcpBinding {
    pub service_account: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
}

/// A set of identities and networks, resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSet {
    /// Member identities, including those one of `networks` overlaps.
    #[serde(deserialize_with = "id_set")]
    pub identities: BTreeSet<IdentityId>,
    /// Identities the source names directly (by name or `[..]`): a target that
    /// cannot represent one of these reports an error rather than leaving it out.
    #[serde(deserialize_with = "id_set")]
    pub explicit: BTreeSet<IdentityId>,
    /// Addresses outside the inventory (`network ...`, `any`).
    pub networks: CidrSet,
}

/// A set of ids read as a list and built in one go: a set is written in
/// order, and building from a sorted list is linear where inserting one id
/// at a time is not (the compiled-program cache reads ~10^6 of them).
fn id_set<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeSet<IdentityId>, D::Error> {
    Ok(Vec::<IdentityId>::deserialize(d)?.into_iter().collect())
}

/// Where a rule comes from, carried into every emitted rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Unique in the program and stable across builds: `<policy>/<n>` with the
    /// rule's 1-based position in its policy, plus `.<k>` when one source rule
    /// lowers to several IR rules (`<->`, `or` over static conditions).
    pub label: String,
    /// Unique in the program and independent of where the rule is written:
    /// `<policy>#<hash of what the rule matches>`, plus `.<k>` like the label
    /// (see `seg_check`'s `rule_id`). Targets use it wherever an emitted
    /// object refers to a rule, so that their output depends only on meaning.
    pub id: String,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub policy: String,
    pub owner: Option<String>,
    pub doc: Option<String>,
    pub reason: Option<String>,
    pub origin: Span,
}

impl Provenance {
    /// `policy/payments.seg:17`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: RuleId,
    pub action: Action,
    pub src: EndpointSet,
    pub dst: EndpointSet,
    pub services: PortSet,
    /// The dynamic part of `when`; [`Condition::True`] when there is none.
    pub condition: Condition,
    /// When the rule stops being live (see [`Expiry::end`] and [`crate::eval::live`]).
    pub expires: Option<Expiry>,
    pub provenance: Provenance,
}

/// A rule removed at compile time, for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmittedRule {
    pub provenance: Provenance,
    pub reason: String,
    /// For a rule omitted because it expired: the IR rules it lowers to (ids
    /// numbered within this list), so that `seg audit` can tell traffic that
    /// still uses it. Empty otherwise. Not serialised: no target emits them.
    #[serde(skip)]
    pub rules: Vec<Rule>,
}

/// The runtime part of a condition: a boolean tree over dynamic atoms.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    True,
    False,
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Atom(Atom),
}

/// A condition only a runtime can decide.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Atom {
    /// Time of day in UTC within `[start, end)`; crosses midnight when `end <= start`.
    Time { start: TimeOfDay, end: TimeOfDay },
    /// The flow's UTC weekday is in the set (bit 0 = Monday … bit 6 = Sunday).
    Days { mask: u8 },
    /// The connection is mutually authenticated with the source's SPIFFE ID.
    Mtls,
    /// An L7 request attribute.
    Request {
        field: RequestField,
        test: ValueTest,
    },
    /// A declared `context` input.
    Context { name: String, test: ValueTest },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestField {
    Method,
    Path,
}

/// One test of a runtime value. A missing value fails every test.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueTest {
    /// Equal to one of these (one value for `==`).
    In(Vec<Value>),
    /// Matches a glob where `*` is any run of characters (including `/`).
    Glob(String),
    /// The value is the boolean `true` (a bare `context.flag`).
    IsTrue,
    /// The value is present.
    Present,
}

/// The kind of condition a target may or may not enforce, as named in
/// `seg.toml [enforcement] layered`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConditionClass {
    Time,
    Mtls,
    Request,
    Context,
}

impl ConditionClass {
    pub const ALL: [ConditionClass; 4] = [
        ConditionClass::Time,
        ConditionClass::Mtls,
        ConditionClass::Request,
        ConditionClass::Context,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConditionClass::Time => "time",
            ConditionClass::Mtls => "mtls",
            ConditionClass::Request => "request",
            ConditionClass::Context => "context",
        }
    }

    pub fn parse(s: &str) -> Option<ConditionClass> {
        ConditionClass::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl Atom {
    pub fn class(&self) -> ConditionClass {
        match self {
            Atom::Time { .. } | Atom::Days { .. } => ConditionClass::Time,
            Atom::Mtls => ConditionClass::Mtls,
            Atom::Request { .. } => ConditionClass::Request,
            Atom::Context { .. } => ConditionClass::Context,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextType {
    String,
    Int,
    Bool,
    Enum(Vec<String>),
}

/// A `test` block, resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Test {
    pub name: String,
    pub expectations: Vec<Expectation>,
}

/// One `expect` line: a flow and the decision the policy must give it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    pub decision: Action,
    pub flow: Flow,
    /// Whether the flow's time came from `at` (else it is `now`).
    pub at_given: bool,
    pub file: String,
    pub line: u32,
    pub origin: Span,
}

/// One end of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowEndpoint {
    Identity(IdentityId),
    Address(IpAddr),
}

/// An IP protocol: `tcp`, `udp`, `sctp`, `icmp` or a bare number in text
/// formats; tagged in binary ones, as [`Value`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
    Icmp,
    /// Any other IP protocol, by number.
    Other(u8),
}

/// [`Protocol`] as text formats write it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ProtocolText {
    Tcp,
    Udp,
    Sctp,
    Icmp,
    #[serde(untagged)]
    Other(u8),
}

/// [`Protocol`] as binary formats write it.
#[derive(Serialize, Deserialize)]
enum ProtocolTagged {
    Tcp,
    Udp,
    Sctp,
    Icmp,
    Other(u8),
}

impl Serialize for Protocol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let human = s.is_human_readable();
        match *self {
            Protocol::Other(n) if human => ProtocolText::Other(n).serialize(s),
            Protocol::Other(n) => ProtocolTagged::Other(n).serialize(s),
            Protocol::Tcp if human => ProtocolText::Tcp.serialize(s),
            Protocol::Udp if human => ProtocolText::Udp.serialize(s),
            Protocol::Sctp if human => ProtocolText::Sctp.serialize(s),
            Protocol::Icmp if human => ProtocolText::Icmp.serialize(s),
            Protocol::Tcp => ProtocolTagged::Tcp.serialize(s),
            Protocol::Udp => ProtocolTagged::Udp.serialize(s),
            Protocol::Sctp => ProtocolTagged::Sctp.serialize(s),
            Protocol::Icmp => ProtocolTagged::Icmp.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
        Ok(if d.is_human_readable() {
            match ProtocolText::deserialize(d)? {
                ProtocolText::Tcp => Protocol::Tcp,
                ProtocolText::Udp => Protocol::Udp,
                ProtocolText::Sctp => Protocol::Sctp,
                ProtocolText::Icmp => Protocol::Icmp,
                ProtocolText::Other(n) => Protocol::Other(n),
            }
        } else {
            match ProtocolTagged::deserialize(d)? {
                ProtocolTagged::Tcp => Protocol::Tcp,
                ProtocolTagged::Udp => Protocol::Udp,
                ProtocolTagged::Sctp => Protocol::Sctp,
                ProtocolTagged::Icmp => Protocol::Icmp,
                ProtocolTagged::Other(n) => Protocol::Other(n),
            }
        })
    }
}

/// A connection attempt and its context, decided by the reference evaluator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    pub src: FlowEndpoint,
    pub dst: FlowEndpoint,
    pub protocol: Protocol,
    /// Destination port (0 for protocols without ports).
    pub port: u16,
    pub at: Timestamp,
    pub mtls: bool,
    pub method: Option<String>,
    pub path: Option<String>,
    pub context: BTreeMap<String, Value>,
}
