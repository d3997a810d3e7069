//! The abstract syntax tree of one `.seg` file.
//!
//! Every node that a diagnostic can point at carries a [`Span`]. Equality
//! ignores spans (see [`Spanned`]) so tests can compare trees built by hand.
//! Names are not resolved here: `payments` may be a segment or an identity.

use ipnet::IpNet;
use seg_diag::Span;
use serde::Serialize;
use std::net::IpAddr;

pub use seg_ir::Protocol;
pub use seg_ir::time::{Date, Expiry, TimeOfDay, Timestamp, Weekday};

/// A node with its place in the source. `==` compares the node only.
#[derive(Clone, Debug, Serialize)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node
    }
}
impl<T: Eq> Eq for Spanned<T> {}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Spanned<T> {
        Spanned { node, span }
    }
}

/// A name as written: bare (`payments-api`) or quoted (`"svc:payments/api"`).
/// `text` is the name itself, without quotes and with escapes decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Name {
    pub text: String,
    pub quoted: bool,
}

pub type Ident = Spanned<Name>;

/// A `///` doc comment: the lines joined with `\n`, leading `/// ` removed.
pub type Doc = Spanned<String>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Item {
    Use(Use),
    Segment(SegmentDef),
    Service(ServiceDef),
    Policy(PolicyDef),
    Context(ContextDef),
    Test(TestDef),
}

/// `use std::services::{postgres, https}` or `use ./common.seg::{x, y}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Use {
    pub path: Spanned<UsePath>,
    pub names: Vec<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum UsePath {
    /// `std::services` → `["std", "services"]`.
    Module(Vec<String>),
    /// `./common.seg`, relative to the file that has the `use`.
    File(String),
}

/// `segment NAME = SETEXPR`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SegmentDef {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub expr: SetExpr,
    pub span: Span,
}

/// `service NAME = PORTSPEC, ...` (items may also name other services).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceDef {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub ports: Vec<ServiceRef>,
    pub span: Span,
}

/// `policy NAME { owner "..." review-by DATE rule* }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyDef {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub owner: Option<Spanned<String>>,
    pub review_by: Option<Spanned<Date>>,
    pub rules: Vec<RuleDef>,
    pub span: Span,
}

/// `context { NAME: TYPE, ... }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContextDef {
    pub doc: Option<Doc>,
    pub inputs: Vec<ContextInput>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContextInput {
    pub name: Ident,
    pub ty: Spanned<ContextType>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ContextType {
    String,
    Int,
    Bool,
    /// `enum[a, b, c]`.
    Enum(Vec<String>),
}

/// `test "NAME" { expect ... }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TestDef {
    pub name: Spanned<String>,
    pub expects: Vec<Expect>,
    pub span: Span,
}

/// `expect allow|deny SRC -> DST on PORTSPEC [with ITEM, ...] [at TIMESTAMP]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Expect {
    pub decision: Spanned<Action>,
    pub src: Spanned<Endpoint>,
    pub dst: Spanned<Endpoint>,
    /// A port spec naming one protocol and usually one port.
    pub port: Spanned<PortSpec>,
    pub with: Vec<Spanned<WithItem>>,
    pub at: Option<Spanned<Timestamp>>,
    pub span: Span,
}

/// One end of a test flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Endpoint {
    /// An inventory identity (bare or quoted name).
    Identity(Name),
    /// A bare address, e.g. `203.0.113.7`.
    Address(IpAddr),
}

/// What a test flow carries besides its endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum WithItem {
    /// `mtls`: the connection is mutually authenticated.
    Mtls,
    /// `request.method = "GET"`.
    Method(String),
    /// `request.path = "/api/x"`.
    Path(String),
    /// `context.NAME = VALUE`.
    Context { name: Ident, value: Spanned<Value> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Arrow {
    /// `->`
    OneWay,
    /// `<->`: sugar for two rules.
    Both,
}

/// `allow SRC -> DST on SERVICES [when COND] [expires DATE|INSTANT] [reason "..."] [owner "..."]
/// [ticket "..."] [approved-by "..."] [created INSTANT]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleDef {
    pub doc: Option<Doc>,
    pub action: Spanned<Action>,
    pub src: SetExpr,
    pub arrow: Spanned<Arrow>,
    pub dst: SetExpr,
    pub services: Vec<ServiceRef>,
    pub when: Option<Cond>,
    pub expires: Option<Spanned<Expiry>>,
    pub reason: Option<Spanned<String>>,
    pub owner: Option<Spanned<String>>,
    /// `created INSTANT` (UTC): when the rule was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<Spanned<Timestamp>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<Spanned<String>>,
    pub span: Span,
}

/// A set of identities and/or networks.
pub type SetExpr = Spanned<SetExprKind>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SetExprKind {
    /// A segment or an identity, resolved later.
    Name(Name),
    /// `[a, b, "odd/name"]`: explicit identities.
    List(Vec<Ident>),
    /// `identities where PRED`.
    Where(Pred),
    /// `network 10.0.0.0/8, fd00::/8` (a bare address is a /32 or /128).
    Network(Vec<Spanned<IpNet>>),
    /// `any`: every identity and every address.
    Any,
    Union(Box<SetExpr>, Box<SetExpr>),
    Intersect(Box<SetExpr>, Box<SetExpr>),
    Difference(Box<SetExpr>, Box<SetExpr>),
}

/// A predicate over one identity's attributes (inside `identities where`).
pub type Pred = Spanned<PredKind>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum PredKind {
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
    /// `ATTR == VALUE` / `ATTR != VALUE`.
    Compare {
        attr: AttrRef,
        op: CmpOp,
        value: Spanned<Value>,
    },
    /// `ATTR in [V, ...]`.
    In {
        attr: AttrRef,
        values: Vec<Spanned<Value>>,
    },
    /// `ATTR matches "glob*"`.
    Matches {
        attr: AttrRef,
        pattern: Spanned<String>,
    },
    /// `has(ATTR)`.
    Has(AttrRef),
    /// A boolean attribute standing alone: `pci` means `pci == true`.
    Bare(AttrRef),
}

/// A dotted attribute path as written: `team`, `labels.app`, `source.env`,
/// `request.method`, `context.region`. Interpreted by the checker.
pub type AttrRef = Spanned<Vec<String>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum CmpOp {
    Eq,
    Ne,
}

/// A literal value on the right of a comparison.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Value {
    String(String),
    Int(i64),
    Bool(bool),
    /// A bare word such as `workload` in `kind == workload`.
    Word(String),
}

/// A `when` condition.
pub type Cond = Spanned<CondKind>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum CondKind {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    /// `mtls`.
    Mtls,
    /// `time HH:MM..HH:MM [utc]`; a window whose end is before its start crosses midnight.
    Time {
        start: Spanned<TimeOfDay>,
        end: Spanned<TimeOfDay>,
        utc: bool,
    },
    /// `days mon..fri` or `days sat, sun` (each item a day or a range).
    Days(Vec<Spanned<DayRange>>),
    /// `source.team == "x"`, `request.method != "GET"`, `context.region == "eu"`.
    Compare {
        attr: AttrRef,
        op: CmpOp,
        value: Spanned<Value>,
    },
    /// `request.method in ["GET", "HEAD"]`.
    In {
        attr: AttrRef,
        values: Vec<Spanned<Value>>,
    },
    /// `request.path matches "/api/*"`.
    Matches {
        attr: AttrRef,
        pattern: Spanned<String>,
    },
    /// `has(source.ATTR)`.
    Has(AttrRef),
    /// A boolean standing alone: `source.pci`, `context.break_glass`.
    Bare(AttrRef),
}

/// An item of `on ...`: a named service or a literal port spec.
pub type ServiceRef = Spanned<ServiceRefKind>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ServiceRefKind {
    Named(Name),
    Port(PortSpec),
}

/// `tcp/5432`, `udp/53`, `tcp/8000-8099`, `icmp`, `any`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum PortSpec {
    /// Every protocol and port.
    Any,
    /// ICMP (ICMPv6 for IPv6 flows); no ports.
    Icmp,
    /// A protocol with an inclusive port range (`lo == hi` for one port).
    Ports {
        protocol: Protocol,
        lo: u16,
        hi: u16,
    },
}

/// `mon..fri` (inclusive; `fri..mon` wraps over the weekend) or one day (`from == to`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct DayRange {
    pub from: Weekday,
    pub to: Weekday,
}
