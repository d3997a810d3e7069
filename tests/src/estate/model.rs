//! The structured description an estate is rendered from, and the proptest
//! strategies that generate it.
//!
//! Every cross-reference in the model is a small number resolved at render
//! time modulo what exists (an identity pick, an earlier segment, an allow to
//! carve a deny from). So any sub-model is still renderable, which is what
//! lets proptest and [`super::shrink`] remove parts freely: the rendered text
//! stays valid whatever was removed.

use proptest::prelude::*;
use seg_ir::IdentityKind;

/// Where an identity stands in its life cycle. Only `Active` (and
/// `Expiring`, whose end is in the future) may be named in a policy: naming
/// the others is E0208/E0209, but `where`, `any` and networks still reach them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    /// `expires` in the future.
    Expiring,
    Disabled,
    /// `expires` in the past.
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeSpec {
    pub service_account: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentitySpec {
    /// Stable number behind the name and addresses (kept when others are removed).
    pub ordinal: u8,
    pub kind: IdentityKind,
    /// Named `"svc:<name>/api"`, which policies must quote.
    pub quoted: bool,
    pub owner: bool,
    /// 0 payments, 1 web, 2 ledger.
    pub team: u8,
    /// 0 dev, 1 staging, 2 prod.
    pub env: Option<u8>,
    pub tier: Option<u8>,
    pub pci: Option<bool>,
    /// `labels.tier`: 0 web, 1 edge.
    pub tier_label: Option<u8>,
    pub v4: bool,
    /// A /30 block besides the host address.
    pub v4_block: bool,
    pub v6: bool,
    /// Also claims the next identity's host address (W0101).
    pub overlap: bool,
    /// Addresses written bare (`10.0.3.1`) instead of `/32`.
    pub bare_addresses: bool,
    pub kubernetes: Option<KubeSpec>,
    /// `Some(true)`: an existing `sg-…` group; `Some(false)`: `aws: {}`.
    pub aws: Option<bool>,
    pub gcp: bool,
    pub spiffe: bool,
    pub status: Status,
    /// (shared, stale): W0102 / W0103.
    pub credential: Option<(bool, bool)>,
}

impl IdentitySpec {
    pub fn has_addresses(&self) -> bool {
        self.v4 || self.v4_block || self.v6
    }

    /// May a policy name it (E0208/E0209 otherwise)?
    pub fn nameable(&self) -> bool {
        matches!(self.status, Status::Active | Status::Expiring)
    }

    /// May a rule name it explicitly: every target can represent it (E0401)
    /// and it can be a destination (E0303)?
    pub fn explicit_ok(&self) -> bool {
        self.nameable() && self.has_addresses()
    }

    pub fn base_name(&self) -> String {
        let prefix = match self.kind {
            IdentityKind::Workload => "wl",
            IdentityKind::ServiceAccount => "sa",
            IdentityKind::Agent => "agent",
            IdentityKind::CiJob => "ci",
            IdentityKind::ApiKey => "key",
        };
        format!("{prefix}{}", self.ordinal)
    }

    /// The inventory name.
    pub fn name(&self) -> String {
        if self.quoted {
            format!("svc:{}/api", self.base_name())
        } else {
            self.base_name()
        }
    }
}

/// A network literal of a rule or segment. Identity-relative picks resolve
/// to the addresses of an existing identity's ordinal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetPick {
    /// `10.0.k.1/32` (bare when the flag is set).
    Host(u8, bool),
    /// `10.0.k.0/24`.
    Slash24(u8),
    /// `10.0.k.10/31`: half of an identity's /30 block.
    Pair(u8),
    /// `10.0.k.8/29`: covers an identity's /30 block.
    Block(u8),
    /// `fd00::k:1/128`.
    V6Host(u8),
    /// `fd00::k:0/112`.
    V6Net(u8),
    /// One of [`FIXED_NETS`].
    Fixed(u8),
}

pub const FIXED_NETS: [&str; 11] = [
    "10.0.0.0/16",
    "10.0.0.0/8",
    "10.0.0.0/23",
    "192.0.2.0/24",
    "198.51.100.128/25",
    "203.0.113.7",
    "fd00::/16",
    "2001:db8::/32",
    "0.0.0.0/0",
    "::/0",
    "169.254.169.254/32",
];

/// Segments of `std::segments` the generator uses, with their networks.
pub const STD_SEGMENTS: [(&str, &[&str]); 4] = [
    (
        "cloud-metadata",
        &["169.254.169.254/32", "fd00:ec2::254/128"],
    ),
    (
        "rfc1918",
        &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
    ),
    ("unique-local", &["fc00::/7"]),
    ("internet", &["0.0.0.0/0", "::/0"]),
];

/// Services of `std::services` the generator uses, with their port specs.
pub const STD_SERVICES: [(&str, &[&str]); 5] = [
    ("postgres", &["tcp/5432"]),
    ("https", &["tcp/443"]),
    ("dns", &["udp/53", "tcp/53"]),
    ("ssh", &["tcp/22"]),
    ("etcd", &["tcp/2379-2380"]),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pred {
    Team(u8),
    TeamNot(u8),
    Env(Vec<u8>),
    Kind(u8),
    Tier(u8),
    TierNot(u8),
    Pci,
    HasEnv,
    /// `name matches "<prefix>*"`.
    NameGlob(u8),
    LabelTier(u8),
    Not(Box<Pred>),
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetExpr {
    /// One identity by name (explicit in a rule).
    Name(u8),
    /// `[a, b]`.
    List(Vec<u8>),
    Where(Pred),
    Network(Vec<NetPick>),
    Any,
    /// A generated segment (an earlier one inside a segment definition).
    Segment(u8),
    /// A segment of `std::segments`.
    Std(u8),
    Union(Box<SetExpr>, Box<SetExpr>),
    Inter(Box<SetExpr>, Box<SetExpr>),
    Diff(Box<SetExpr>, Box<SetExpr>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SvcItem {
    /// `tcp/lo-hi` from [`PORT_EDGES`] and [`PORT_WIDTHS`].
    Tcp(u8, u8),
    Udp(u8, u8),
    Sctp(u8, u8),
    Icmp,
    Any,
    /// A generated service (an earlier one inside a service definition).
    Named(u8),
    Std(u8),
}

pub const PORT_EDGES: [u16; 10] = [0, 1, 22, 53, 80, 443, 5432, 8000, 65534, 65535];
pub const PORT_WIDTHS: [u16; 3] = [0, 1, 99];

/// A static test in a `when` (`source.ATTR` / `destination.ATTR`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Static {
    Team(u8),
    Env(u8),
    Pci,
    HasTier,
    Tier(u8),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// Indexes into [`WINDOW_MINUTES`]; rendered so that start != end.
    Time(u8, u8),
    Days(u8),
    Mtls,
    Method(u8),
    Path(u8),
    Region(u8),
    BreakGlass,
    HasTicket,
    Source(Static),
    Destination(Static),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

/// Window edges in minutes (`24:00` only ends a window).
pub const WINDOW_MINUTES: [u16; 8] = [0, 60, 120, 540, 1020, 1320, 1380, 1440];
pub const DAYS: [&str; 5] = ["mon..fri", "sat, sun", "fri..mon", "sun", "wed"];
pub const METHODS: [&[&str]; 3] = [&["GET"], &["GET", "HEAD"], &["POST"]];
pub const PATHS: [&str; 3] = ["/api/*", "*", "/admin"];
pub const REGIONS: [&str; 2] = ["eu", "us"];

/// A deny aimed at part of an allow: the allow's sets with one side
/// replaced by one identity or one host address (`pick`), or the allow's
/// sets on one port of its first service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Carve {
    pub allow: u8,
    pub narrow_src: bool,
    pub port_only: bool,
    pub pick: u8,
}

impl Carve {
    /// The narrow side: an identity (even picks) or a host address.
    pub fn narrow(&self) -> SetExpr {
        if self.pick.is_multiple_of(2) {
            SetExpr::Name(self.pick / 2)
        } else {
            SetExpr::Network(vec![NetPick::Host(self.pick / 2, false)])
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    pub deny: bool,
    /// `<->`.
    pub both: bool,
    pub src: SetExpr,
    pub dst: SetExpr,
    pub services: Vec<SvcItem>,
    pub when: Option<Cond>,
    /// Index into [`EXPIRY_DAYS`].
    pub expires: Option<u8>,
    pub owner: bool,
    pub reason: bool,
    pub doc: bool,
    /// Denies only: replace the sets and services by part of an allow's.
    pub carve: Option<Carve>,
}

/// Expiry dates relative to the build's day: already expired (W0304),
/// today, tomorrow, in three days (W0303), in forty days.
pub const EXPIRY_DAYS: [i64; 5] = [-2, 0, 1, 3, 40];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySpec {
    pub owner: bool,
    /// `review-by` in the past (W0302).
    pub review_overdue: bool,
    pub rules: Vec<RuleSpec>,
}

/// Picks that make one flow, resolved against the estate's boundaries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSeed {
    /// Aim at the members and ports of this rule (else the whole estate).
    pub aim: Option<u8>,
    pub reverse: bool,
    pub src: u16,
    pub dst: u16,
    pub port: u16,
    pub time: u16,
    pub mtls: bool,
    pub method: u8,
    pub path: u8,
    pub region: u8,
    pub break_glass: u8,
    pub ticket: bool,
}

/// Everything an estate is rendered from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EstateModel {
    pub identities: Vec<IdentitySpec>,
    /// The inventory as `inventory/*.yaml` plus `inventory/*.json` instead of one file.
    pub split_inventory: bool,
    pub segments: Vec<SetExpr>,
    pub services: Vec<Vec<SvcItem>>,
    pub policies: Vec<PolicySpec>,
    /// Policies spread over this many `.seg` files (at least one).
    pub files: u8,
    /// `[enforcement] layered`: time, mtls, request, context.
    pub layered: [bool; 4],
    /// `[targets.iptables] ipset-threshold = 2`.
    pub small_ipsets: bool,
    pub flows: Vec<FlowSeed>,
    /// Concrete flows that replace `flows` (a minimised failure keeps its flows).
    pub pinned: Option<Vec<super::FlowSpec>>,
}

/// What the generated estates may contain.
#[derive(Clone, Copy, Debug)]
pub struct EstateConfig {
    pub max_identities: usize,
    pub max_segments: usize,
    pub max_policies: usize,
    pub max_rules_per_policy: usize,
    pub flows: usize,
    /// Some identities share a host address (W0101).
    pub overlapping_addresses: bool,
}

impl Default for EstateConfig {
    fn default() -> EstateConfig {
        EstateConfig {
            max_identities: 8,
            max_segments: 4,
            max_policies: 3,
            max_rules_per_policy: 4,
            flows: 80,
            overlapping_addresses: true,
        }
    }
}

fn kind() -> impl Strategy<Value = IdentityKind> {
    prop_oneof![
        4 => Just(IdentityKind::Workload),
        1 => Just(IdentityKind::ServiceAccount),
        1 => Just(IdentityKind::Agent),
        1 => Just(IdentityKind::CiJob),
        1 => Just(IdentityKind::ApiKey),
    ]
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        12 => Just(Status::Active),
        1 => Just(Status::Expiring),
        1 => Just(Status::Disabled),
        1 => Just(Status::Expired),
    ]
}

pub(super) fn identity(overlapping: bool) -> impl Strategy<Value = IdentitySpec> {
    let addresses = (
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.35),
        prop::bool::weighted(if overlapping { 0.05 } else { 0.0 }),
        prop::bool::weighted(0.3),
    );
    let bindings = (
        prop::option::weighted(
            0.5,
            any::<bool>().prop_map(|sa| KubeSpec {
                service_account: sa,
            }),
        ),
        prop::option::weighted(0.6, any::<bool>()),
        prop::bool::weighted(0.6),
        prop::bool::weighted(0.6),
    );
    let attributes = (
        0..3u8,
        prop::option::weighted(0.8, 0..3u8),
        prop::option::weighted(0.6, 1..4u8),
        prop::option::weighted(0.5, any::<bool>()),
        prop::option::weighted(0.4, 0..2u8),
    );
    (
        kind(),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.85),
        attributes,
        addresses,
        bindings,
        status(),
        prop::option::weighted(0.2, (prop::bool::weighted(0.3), prop::bool::weighted(0.3))),
    )
        .prop_map(
            |(kind, quoted, owner, attrs, addrs, binds, status, credential)| IdentitySpec {
                ordinal: 0,
                kind,
                quoted,
                owner,
                team: attrs.0,
                env: attrs.1,
                tier: attrs.2,
                pci: attrs.3,
                tier_label: attrs.4,
                v4: addrs.0,
                v4_block: addrs.1,
                v6: addrs.2,
                overlap: addrs.3,
                bare_addresses: addrs.4,
                kubernetes: binds.0,
                aws: binds.1,
                gcp: binds.2,
                spiffe: binds.3,
                status,
                credential,
            },
        )
}

fn net_pick() -> impl Strategy<Value = NetPick> {
    prop_oneof![
        3 => (any::<u8>(), any::<bool>()).prop_map(|(k, b)| NetPick::Host(k, b)),
        2 => any::<u8>().prop_map(NetPick::Slash24),
        1 => any::<u8>().prop_map(NetPick::Pair),
        1 => any::<u8>().prop_map(NetPick::Block),
        1 => any::<u8>().prop_map(NetPick::V6Host),
        1 => any::<u8>().prop_map(NetPick::V6Net),
        3 => (0..FIXED_NETS.len() as u8).prop_map(NetPick::Fixed),
    ]
}

fn pred() -> impl Strategy<Value = Pred> {
    let leaf = prop_oneof![
        3 => (0..3u8).prop_map(Pred::Team),
        1 => (0..3u8).prop_map(Pred::TeamNot),
        2 => prop::collection::vec(0..3u8, 1..=2).prop_map(Pred::Env),
        2 => (0..5u8).prop_map(Pred::Kind),
        1 => (1..4u8).prop_map(Pred::Tier),
        1 => (1..4u8).prop_map(Pred::TierNot),
        1 => Just(Pred::Pci),
        1 => Just(Pred::HasEnv),
        1 => (0..5u8).prop_map(Pred::NameGlob),
        1 => (0..2u8).prop_map(Pred::LabelTier),
    ];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|p| Pred::Not(Box::new(p))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Pred::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Pred::Or(Box::new(a), Box::new(b))),
        ]
    })
}

/// One operand of a set expression.
fn set_leaf() -> impl Strategy<Value = SetExpr> {
    prop_oneof![
        4 => any::<u8>().prop_map(SetExpr::Name),
        2 => prop::collection::vec(any::<u8>(), 1..=3).prop_map(SetExpr::List),
        3 => pred().prop_map(SetExpr::Where),
        3 => prop::collection::vec(net_pick(), 1..=2).prop_map(SetExpr::Network),
        1 => Just(SetExpr::Any),
        3 => any::<u8>().prop_map(SetExpr::Segment),
        1 => (0..STD_SEGMENTS.len() as u8).prop_map(SetExpr::Std),
    ]
}

/// A set expression; `Any` is rare so that rules stay selective.
pub fn set_expr() -> impl Strategy<Value = SetExpr> {
    set_leaf().prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| SetExpr::Union(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| SetExpr::Inter(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| SetExpr::Diff(Box::new(a), Box::new(b))),
        ]
    })
}

/// A rule's source or destination: mostly one operand, so that rules match
/// something (algebra on random operands is often empty).
fn rule_set() -> impl Strategy<Value = SetExpr> {
    prop_oneof![3 => set_leaf(), 2 => set_expr()]
}

pub(super) fn svc_item() -> impl Strategy<Value = SvcItem> {
    let edge = 0..PORT_EDGES.len() as u8;
    let width = 0..PORT_WIDTHS.len() as u8;
    prop_oneof![
        5 => (edge.clone(), width.clone()).prop_map(|(e, w)| SvcItem::Tcp(e, w)),
        2 => (edge.clone(), width.clone()).prop_map(|(e, w)| SvcItem::Udp(e, w)),
        1 => (edge, width).prop_map(|(e, w)| SvcItem::Sctp(e, w)),
        1 => Just(SvcItem::Icmp),
        1 => Just(SvcItem::Any),
        2 => any::<u8>().prop_map(SvcItem::Named),
        2 => (0..STD_SERVICES.len() as u8).prop_map(SvcItem::Std),
    ]
}

fn static_atom() -> impl Strategy<Value = Static> {
    prop_oneof![
        (0..3u8).prop_map(Static::Team),
        (0..3u8).prop_map(Static::Env),
        Just(Static::Pci),
        Just(Static::HasTier),
        (1..4u8).prop_map(Static::Tier),
    ]
}

pub(super) fn cond() -> impl Strategy<Value = Cond> {
    let leaf = prop_oneof![
        3 => (0..7u8, 0..8u8).prop_map(|(a, b)| Cond::Time(a, b)),
        2 => (0..DAYS.len() as u8).prop_map(Cond::Days),
        3 => Just(Cond::Mtls),
        1 => (0..METHODS.len() as u8).prop_map(Cond::Method),
        1 => (0..PATHS.len() as u8).prop_map(Cond::Path),
        1 => (0..2u8).prop_map(Cond::Region),
        1 => Just(Cond::BreakGlass),
        1 => Just(Cond::HasTicket),
        2 => static_atom().prop_map(Cond::Source),
        1 => static_atom().prop_map(Cond::Destination),
    ];
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            prop::collection::vec(inner.clone(), 2..=3).prop_map(Cond::And),
            prop::collection::vec(inner, 2..=3).prop_map(Cond::Or),
        ]
    })
}

pub(super) fn rule() -> impl Strategy<Value = RuleSpec> {
    let carve = prop::option::weighted(
        0.5,
        (
            any::<u8>(),
            any::<bool>(),
            prop::bool::weighted(0.3),
            any::<u8>(),
        )
            .prop_map(|(allow, narrow_src, port_only, pick)| Carve {
                allow,
                narrow_src,
                port_only,
                pick,
            }),
    );
    (
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.1),
        rule_set(),
        rule_set(),
        prop::collection::vec(svc_item(), 1..=2),
        prop::option::weighted(0.45, cond()),
        prop::option::weighted(0.2, 0..EXPIRY_DAYS.len() as u8),
        any::<[bool; 3]>(),
        carve,
    )
        .prop_map(
            |(deny, both, src, dst, services, when, expires, meta, carve)| RuleSpec {
                deny,
                both,
                src,
                dst,
                services,
                when,
                expires,
                owner: meta[0],
                reason: meta[1],
                doc: meta[2],
                carve: carve.filter(|_| deny),
            },
        )
}

fn policy(max_rules: usize) -> impl Strategy<Value = PolicySpec> {
    (
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.1),
        prop::collection::vec(rule(), 1..=max_rules.max(1)),
    )
        .prop_map(|(owner, review_overdue, rules)| PolicySpec {
            owner,
            review_overdue,
            rules,
        })
}

fn flow_seed() -> impl Strategy<Value = FlowSeed> {
    (
        prop::option::weighted(0.75, any::<u8>()),
        any::<bool>(),
        (any::<u16>(), any::<u16>(), any::<u16>(), any::<u16>()),
        any::<bool>(),
        (0..4u8, 0..5u8, 0..3u8, 0..3u8, any::<bool>()),
    )
        .prop_map(
            |(aim, reverse, (src, dst, port, time), mtls, l7)| FlowSeed {
                aim,
                reverse,
                src,
                dst,
                port,
                time,
                mtls,
                method: l7.0,
                path: l7.1,
                region: l7.2,
                break_glass: l7.3,
                ticket: l7.4,
            },
        )
}

/// A random estate model.
pub fn model(cfg: EstateConfig) -> BoxedStrategy<EstateModel> {
    (
        prop::collection::vec(
            identity(cfg.overlapping_addresses),
            1..=cfg.max_identities.max(1),
        ),
        prop::bool::weighted(0.3),
        prop::collection::vec(set_expr(), 0..=cfg.max_segments),
        prop::collection::vec(prop::collection::vec(svc_item(), 1..=3), 0..=2),
        prop::collection::vec(
            policy(cfg.max_rules_per_policy),
            1..=cfg.max_policies.max(1),
        ),
        1..=2u8,
        (any::<[bool; 4]>(), prop::bool::weighted(0.3)),
        prop::collection::vec(flow_seed(), cfg.flows),
    )
        .prop_map(
            |(
                mut identities,
                split_inventory,
                segments,
                services,
                policies,
                files,
                (layered, small_ipsets),
                flows,
            )| {
                for (i, id) in identities.iter_mut().enumerate() {
                    id.ordinal = i as u8;
                }
                EstateModel {
                    identities,
                    split_inventory,
                    segments,
                    services,
                    policies,
                    files,
                    layered,
                    small_ipsets,
                    flows,
                    pinned: None,
                }
            },
        )
        .boxed()
}
