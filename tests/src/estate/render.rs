//! Rendering an [`EstateModel`] as project files: `seg.toml`, the inventory
//! (one YAML file, or YAML plus JSON), `policy/common.seg` (context,
//! segments, services) and `policy/p<k>.seg` (policies).
//!
//! Validity is decided here, not in the model: an identity a rule names must
//! be representable on every target and reachable (E0401, E0303), so names
//! are picked among those with addresses; `mtls` and `source.`/`destination.`
//! tests need a side that holds identities (E0304), so on a network-only side
//! they are rendered as `context.break_glass` instead; a segment refers only
//! to earlier segments (no cycles). Along the way the members and ports of
//! each rule are recorded, so flows can be aimed at them.

use super::model::*;
use ipnet::IpNet;
use seg_ir::{Date, IdentityKind, Protocol};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The endpoints a set expression reaches (loosely: both sides of `-` and
/// `&` count, since flows at the carved-out part are the interesting ones).
#[derive(Clone, Debug, Default)]
pub struct Members {
    pub names: BTreeSet<String>,
    pub nets: Vec<IpNet>,
    pub any: bool,
}

impl Members {
    fn absorb(&mut self, other: &Members) {
        self.names.extend(other.names.iter().cloned());
        self.nets.extend(other.nets.iter().copied());
        self.any |= other.any;
    }
}

/// What a rendered rule covers, for aiming flows.
#[derive(Clone, Debug)]
pub struct RuleCover {
    pub src: Members,
    pub dst: Members,
    pub ports: Vec<(Protocol, u16, u16)>,
    pub both: bool,
    pub expires: Option<Date>,
}

/// The files plus what flows are aimed at.
pub struct Rendered {
    pub files: BTreeMap<String, String>,
    pub rules: Vec<RuleCover>,
    /// Every network literal and identity address, for boundary addresses.
    pub nets: Vec<IpNet>,
    pub names: Vec<String>,
    pub expiries: Vec<Date>,
}

const TEAMS: [&str; 3] = ["payments", "web", "ledger"];
const ENVS: [&str; 3] = ["dev", "staging", "prod"];
const LAYERED: [&str; 4] = ["time", "mtls", "request", "context"];

fn net(s: &str) -> IpNet {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .unwrap_or_else(|_| panic!("generator network `{s}`"))
}

fn hhmm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// A name as `.seg` writes it: bare when it is one, else quoted.
pub fn seg_name(name: &str) -> String {
    let bare = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if bare {
        name.to_string()
    } else {
        serde_json::to_string(name).unwrap_or_default()
    }
}

pub(super) fn port_range(item: &SvcItem) -> Option<(Protocol, u16, u16)> {
    let range = |e: u8, w: u8| {
        let lo = PORT_EDGES[e as usize % PORT_EDGES.len()];
        let hi = lo.saturating_add(PORT_WIDTHS[w as usize % PORT_WIDTHS.len()]);
        (lo, hi)
    };
    match *item {
        SvcItem::Tcp(e, w) => Some((Protocol::Tcp, range(e, w).0, range(e, w).1)),
        SvcItem::Udp(e, w) => Some((Protocol::Udp, range(e, w).0, range(e, w).1)),
        SvcItem::Sctp(e, w) => Some((Protocol::Sctp, range(e, w).0, range(e, w).1)),
        _ => None,
    }
}

fn spec_text(p: Protocol, lo: u16, hi: u16) -> String {
    let proto = match p {
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
        _ => "tcp",
    };
    if lo == hi {
        format!("{proto}/{lo}")
    } else {
        format!("{proto}/{lo}-{hi}")
    }
}

/// Ports covered by a port-spec text (`tcp/1-2`, `icmp`, `any`).
fn spec_ports(s: &str) -> Vec<(Protocol, u16, u16)> {
    match s {
        "icmp" => vec![(Protocol::Icmp, 0, 0)],
        "any" => vec![
            (Protocol::Tcp, 0, 65535),
            (Protocol::Udp, 53, 53),
            (Protocol::Sctp, 9000, 9000),
            (Protocol::Icmp, 0, 0),
            (Protocol::Other(47), 0, 0),
        ],
        _ => {
            let (proto, range) = s.split_once('/').unwrap_or(("tcp", "0"));
            let proto = match proto {
                "udp" => Protocol::Udp,
                "sctp" => Protocol::Sctp,
                _ => Protocol::Tcp,
            };
            let (lo, hi) = range.split_once('-').unwrap_or((range, range));
            vec![(proto, lo.parse().unwrap_or(0), hi.parse().unwrap_or(0))]
        }
    }
}

struct Renderer<'m> {
    m: &'m EstateModel,
    now: Date,
    /// Per generated segment: whether it holds identities, and its members.
    segments: Vec<(bool, Members)>,
    /// Per generated service: the ports it covers.
    services: Vec<Vec<(Protocol, u16, u16)>>,
    std_segments: BTreeSet<&'static str>,
    std_services: BTreeSet<&'static str>,
    nets: Vec<IpNet>,
}

/// One rendered set expression.
struct Set {
    text: String,
    /// Needs parentheses as an operand.
    compound: bool,
    has_ids: bool,
    members: Members,
}

impl<'m> Renderer<'m> {
    fn ordinal(&self, pick: u8) -> u8 {
        let ids = &self.m.identities;
        if ids.is_empty() {
            return pick;
        }
        ids[pick as usize % ids.len()].ordinal
    }

    fn net_pick(&mut self, p: &NetPick) -> String {
        let text = match *p {
            NetPick::Host(k, bare) => {
                let o = self.ordinal(k);
                if bare {
                    format!("10.0.{o}.1")
                } else {
                    format!("10.0.{o}.1/32")
                }
            }
            NetPick::Slash24(k) => format!("10.0.{}.0/24", self.ordinal(k)),
            NetPick::Pair(k) => format!("10.0.{}.10/31", self.ordinal(k)),
            NetPick::Block(k) => format!("10.0.{}.8/29", self.ordinal(k)),
            NetPick::V6Host(k) => format!("fd00::{:x}:1/128", self.ordinal(k)),
            NetPick::V6Net(k) => format!("fd00::{:x}:0/112", self.ordinal(k)),
            NetPick::Fixed(i) => FIXED_NETS[i as usize % FIXED_NETS.len()].to_string(),
        };
        self.nets.push(net(&text));
        text
    }

    /// Identities a set may name: in a rule, only those every target can
    /// represent; in a segment, any that may be named.
    fn nameable(&self, in_rule: bool) -> Vec<&'m IdentitySpec> {
        self.m
            .identities
            .iter()
            .filter(|i| {
                if in_rule {
                    i.explicit_ok()
                } else {
                    i.nameable()
                }
            })
            .collect()
    }

    fn fallback(&mut self) -> Set {
        let text = "network 192.0.2.0/24".to_string();
        self.nets.push(net("192.0.2.0/24"));
        Set {
            text,
            compound: true,
            has_ids: false,
            members: Members {
                nets: vec![net("192.0.2.0/24")],
                ..Members::default()
            },
        }
    }

    /// `segments`: how many generated segments the expression may use.
    fn set(&mut self, e: &SetExpr, in_rule: bool, segments: usize) -> Set {
        match e {
            SetExpr::Name(p) => {
                let pool = self.nameable(in_rule);
                if pool.is_empty() {
                    return self.fallback();
                }
                let name = pool[*p as usize % pool.len()].name();
                Set {
                    text: seg_name(&name),
                    compound: false,
                    has_ids: true,
                    members: Members {
                        names: BTreeSet::from([name]),
                        ..Members::default()
                    },
                }
            }
            SetExpr::List(ps) => {
                let pool = self.nameable(in_rule);
                if pool.is_empty() {
                    return self.fallback();
                }
                let names: BTreeSet<String> = ps
                    .iter()
                    .map(|p| pool[*p as usize % pool.len()].name())
                    .collect();
                let list: Vec<String> = names.iter().map(|n| seg_name(n)).collect();
                Set {
                    text: format!("[{}]", list.join(", ")),
                    compound: false,
                    has_ids: true,
                    members: Members {
                        names,
                        ..Members::default()
                    },
                }
            }
            SetExpr::Where(p) => {
                let names = self
                    .m
                    .identities
                    .iter()
                    .filter(|i| pred_holds(p, i))
                    .map(IdentitySpec::name)
                    .collect();
                Set {
                    text: format!("identities where {}", pred(p)),
                    compound: true,
                    has_ids: true,
                    members: Members {
                        names,
                        ..Members::default()
                    },
                }
            }
            SetExpr::Network(picks) => {
                let texts: Vec<String> = picks.iter().map(|p| self.net_pick(p)).collect();
                let nets = texts.iter().map(|t| net(t)).collect();
                Set {
                    text: format!("network {}", texts.join(", ")),
                    compound: true,
                    has_ids: false,
                    members: Members {
                        nets,
                        ..Members::default()
                    },
                }
            }
            SetExpr::Any => Set {
                text: "any".into(),
                compound: false,
                has_ids: true,
                members: Members {
                    any: true,
                    ..Members::default()
                },
            },
            SetExpr::Segment(p) => {
                if segments == 0 {
                    return self.set(&SetExpr::Where(Pred::Team(*p % 3)), in_rule, 0);
                }
                let i = *p as usize % segments;
                let (has_ids, members) = self.segments[i].clone();
                Set {
                    text: format!("seg{i}"),
                    compound: false,
                    has_ids,
                    members,
                }
            }
            SetExpr::Std(i) => {
                let (name, nets) = STD_SEGMENTS[*i as usize % STD_SEGMENTS.len()];
                self.std_segments.insert(name);
                let nets: Vec<IpNet> = nets.iter().map(|n| net(n)).collect();
                self.nets.extend(nets.iter().copied());
                Set {
                    text: name.to_string(),
                    compound: false,
                    has_ids: false,
                    members: Members {
                        nets,
                        ..Members::default()
                    },
                }
            }
            SetExpr::Union(a, b) | SetExpr::Inter(a, b) | SetExpr::Diff(a, b) => {
                let a = self.set(a, in_rule, segments);
                let b = self.set(b, in_rule, segments);
                let (op, has_ids) = match e {
                    SetExpr::Union(..) => ("|", a.has_ids || b.has_ids),
                    SetExpr::Inter(..) => ("&", a.has_ids && b.has_ids),
                    _ => ("-", a.has_ids),
                };
                let wrap = |s: &Set| {
                    if s.compound {
                        format!("({})", s.text)
                    } else {
                        s.text.clone()
                    }
                };
                let mut members = a.members.clone();
                members.absorb(&b.members);
                Set {
                    text: format!("{} {op} {}", wrap(&a), wrap(&b)),
                    compound: true,
                    has_ids,
                    members,
                }
            }
        }
    }

    /// A service item as text, plus the ports it covers; `services`: how
    /// many generated services it may name.
    fn svc(&mut self, item: &SvcItem, services: usize) -> (String, Vec<(Protocol, u16, u16)>) {
        if let Some((p, lo, hi)) = port_range(item) {
            return (spec_text(p, lo, hi), vec![(p, lo, hi)]);
        }
        match item {
            SvcItem::Icmp => ("icmp".into(), spec_ports("icmp")),
            SvcItem::Named(p) if services > 0 => {
                let i = *p as usize % services;
                let ports = self.services[i].clone();
                (format!("svc{i}"), ports)
            }
            SvcItem::Named(_) => ("tcp/8080".into(), spec_ports("tcp/8080")),
            SvcItem::Std(i) => {
                let (name, specs) = STD_SERVICES[*i as usize % STD_SERVICES.len()];
                self.std_services.insert(name);
                (
                    name.into(),
                    specs.iter().flat_map(|s| spec_ports(s)).collect(),
                )
            }
            _ => ("any".into(), spec_ports("any")),
        }
    }

    fn cond(&self, c: &Cond, src_ids: bool, dst_ids: bool) -> String {
        let wrap = |c: &Cond| format!("({})", self.cond(c, src_ids, dst_ids));
        match c {
            Cond::Time(a, b) => {
                let start = WINDOW_MINUTES[*a as usize % 7];
                let mut end = WINDOW_MINUTES[*b as usize % WINDOW_MINUTES.len()];
                if end == start {
                    end = WINDOW_MINUTES[(*b as usize + 1) % WINDOW_MINUTES.len()];
                }
                let utc = if a % 2 == 0 { " utc" } else { "" };
                format!("time {}..{}{utc}", hhmm(start), hhmm(end))
            }
            Cond::Days(d) => format!("days {}", DAYS[*d as usize % DAYS.len()]),
            Cond::Mtls if src_ids => "mtls".into(),
            Cond::Method(i) => {
                let ms = METHODS[*i as usize % METHODS.len()];
                if ms.len() == 1 {
                    format!("request.method == \"{}\"", ms[0])
                } else {
                    let q: Vec<String> = ms.iter().map(|m| format!("\"{m}\"")).collect();
                    format!("request.method in [{}]", q.join(", "))
                }
            }
            Cond::Path(i) => format!(
                "request.path matches \"{}\"",
                PATHS[*i as usize % PATHS.len()]
            ),
            Cond::Region(i) => format!("context.region == \"{}\"", REGIONS[*i as usize % 2]),
            Cond::HasTicket => "has(context.ticket)".into(),
            Cond::Source(s) if src_ids => static_atom("source", s),
            Cond::Destination(s) if dst_ids => static_atom("destination", s),
            // mtls and static tests on a network-only side are E0304.
            Cond::BreakGlass | Cond::Mtls | Cond::Source(_) | Cond::Destination(_) => {
                "context.break_glass".into()
            }
            Cond::Not(c) => format!("not {}", wrap(c)),
            Cond::And(cs) => cs.iter().map(wrap).collect::<Vec<_>>().join(" and "),
            Cond::Or(cs) => cs.iter().map(wrap).collect::<Vec<_>>().join(" or "),
        }
    }
}

fn static_atom(side: &str, s: &Static) -> String {
    match s {
        Static::Team(t) => format!("{side}.team == \"{}\"", TEAMS[*t as usize % 3]),
        Static::Env(e) => format!("{side}.env == \"{}\"", ENVS[*e as usize % 3]),
        Static::Pci => format!("{side}.pci"),
        Static::HasTier => format!("has({side}.tier)"),
        Static::Tier(n) => format!("{side}.tier == {n}"),
    }
}

fn kind_name(k: u8) -> &'static str {
    IdentityKind::ALL[k as usize % IdentityKind::ALL.len()].as_str()
}

fn kind_prefix(k: u8) -> &'static str {
    ["wl", "sa", "agent", "ci", "key"][k as usize % 5]
}

fn pred(p: &Pred) -> String {
    let wrap = |p: &Pred| format!("({})", pred(p));
    match p {
        Pred::Team(t) => format!("team == \"{}\"", TEAMS[*t as usize % 3]),
        Pred::TeamNot(t) => format!("team != \"{}\"", TEAMS[*t as usize % 3]),
        Pred::Env(vs) if vs.len() == 1 => format!("env == \"{}\"", ENVS[vs[0] as usize % 3]),
        Pred::Env(vs) => {
            let q: Vec<String> = vs
                .iter()
                .map(|v| format!("\"{}\"", ENVS[*v as usize % 3]))
                .collect();
            format!("env in [{}]", q.join(", "))
        }
        Pred::Kind(k) => format!("kind == {}", kind_name(*k)),
        Pred::Tier(n) => format!("tier == {n}"),
        Pred::TierNot(n) => format!("tier != {n}"),
        Pred::Pci => "pci".into(),
        Pred::HasEnv => "has(env)".into(),
        Pred::NameGlob(k) => format!("name matches \"{}*\"", kind_prefix(*k)),
        Pred::LabelTier(t) => format!("labels.tier == \"{}\"", ["web", "edge"][*t as usize % 2]),
        Pred::Not(p) => format!("not {}", wrap(p)),
        Pred::And(a, b) => format!("{} and {}", wrap(a), wrap(b)),
        Pred::Or(a, b) => format!("{} or {}", wrap(a), wrap(b)),
    }
}

/// Whether the predicate holds for the identity (an absent attribute fails
/// every comparison, `!=` included).
pub(super) fn pred_holds(p: &Pred, i: &IdentitySpec) -> bool {
    match p {
        Pred::Team(t) => i.team == t % 3,
        Pred::TeamNot(t) => i.team != t % 3,
        Pred::Env(vs) => i.env.is_some_and(|e| vs.iter().any(|v| v % 3 == e)),
        Pred::Kind(k) => i.kind == IdentityKind::ALL[*k as usize % 5],
        Pred::Tier(n) => i.tier == Some(*n),
        Pred::TierNot(n) => i.tier.is_some_and(|t| t != *n),
        Pred::Pci => i.pci == Some(true),
        Pred::HasEnv => i.env.is_some(),
        Pred::NameGlob(k) => i.name().starts_with(kind_prefix(*k)),
        Pred::LabelTier(t) => i.tier_label == Some(t % 2),
        Pred::Not(p) => !pred_holds(p, i),
        Pred::And(a, b) => pred_holds(a, i) && pred_holds(b, i),
        Pred::Or(a, b) => pred_holds(a, i) || pred_holds(b, i),
    }
}

fn first_port(items: &[SvcItem]) -> SvcItem {
    match items.first() {
        Some(SvcItem::Tcp(e, _)) => SvcItem::Tcp(*e, 0),
        Some(SvcItem::Udp(e, _)) => SvcItem::Udp(*e, 0),
        Some(SvcItem::Sctp(e, _)) => SvcItem::Sctp(*e, 0),
        Some(SvcItem::Any) | None => SvcItem::Tcp(5, 0),
        Some(other) => other.clone(),
    }
}

/// Render the whole estate.
pub fn render(m: &EstateModel) -> Rendered {
    let now = super::now().date();
    let mut r = Renderer {
        m,
        now,
        segments: Vec::new(),
        services: Vec::new(),
        std_segments: BTreeSet::new(),
        std_services: BTreeSet::new(),
        nets: Vec::new(),
    };
    let mut files = BTreeMap::new();
    files.insert("seg.toml".to_string(), manifest(m));
    super::inventory::write(m, &mut files, &mut r.nets);

    // policy/common.seg: context, segments, services.
    let mut common = String::from(
        "// Shared definitions of a generated estate.\ncontext {\n  region: enum[eu, us]\n  break_glass: bool\n  ticket: string\n}\n",
    );
    for (i, e) in m.segments.iter().enumerate() {
        let s = r.set(e, false, i);
        if i % 2 == 0 {
            let _ = writeln!(common, "\n/// Generated segment {i}.");
        }
        let _ = writeln!(common, "segment seg{i} = {}", s.text);
        r.segments.push((s.has_ids, s.members));
    }
    for (i, items) in m.services.iter().enumerate() {
        let (mut texts, mut ports) = (Vec::new(), Vec::new());
        for it in items {
            let (t, p) = r.svc(it, i);
            texts.push(t);
            ports.extend(p);
        }
        let _ = writeln!(common, "service svc{i} = {}", texts.join(", "));
        r.services.push(ports);
    }
    let imports = std_imports(&mut r);
    files.insert("policy/common.seg".into(), format!("{imports}{common}"));

    // Every allow, in order, for carving denies.
    let allows: Vec<&RuleSpec> = m
        .policies
        .iter()
        .flat_map(|p| &p.rules)
        .filter(|r| !r.deny)
        .collect();
    let nfiles = usize::from(m.files.max(1));
    let mut bodies = vec![String::new(); nfiles];
    let mut covers = Vec::new();
    let mut expiries = Vec::new();
    for (k, p) in m.policies.iter().enumerate() {
        let body = &mut bodies[k % nfiles];
        let _ = writeln!(body, "\npolicy p{k} {{");
        if p.owner {
            let _ = writeln!(body, "  owner \"team-{}\"", TEAMS[k % 3]);
        }
        let review = if p.review_overdue {
            "2026-10-01"
        } else {
            "2027-06-30"
        };
        let _ = writeln!(body, "  review-by {review}");
        for (n, rule) in p.rules.iter().enumerate() {
            let (text, cover) = r.rule(rule, &allows, k, n);
            body.push_str(&text);
            expiries.extend(cover.expires);
            covers.push(cover);
        }
        body.push_str("}\n");
    }
    let mut uses = String::new();
    let mut shared: Vec<String> = (0..m.segments.len()).map(|i| format!("seg{i}")).collect();
    shared.extend((0..m.services.len()).map(|i| format!("svc{i}")));
    if !shared.is_empty() {
        let _ = writeln!(uses, "use ./common.seg::{{{}}}", shared.join(", "));
    }
    // Std names are imported by every policy file that might use them.
    let imports = std_imports(&mut r);
    for (f, body) in bodies.into_iter().enumerate() {
        files.insert(
            format!("policy/p{f}.seg"),
            format!("// Generated policies.\n{imports}{uses}{body}"),
        );
    }
    let names = m.identities.iter().map(IdentitySpec::name).collect();
    Rendered {
        files,
        rules: covers,
        nets: r.nets,
        names,
        expiries,
    }
}

fn std_imports(r: &mut Renderer<'_>) -> String {
    let mut out = String::new();
    if !r.std_services.is_empty() {
        let list: Vec<&str> = r.std_services.iter().copied().collect();
        let _ = writeln!(out, "use std::services::{{{}}}", list.join(", "));
    }
    if !r.std_segments.is_empty() {
        let list: Vec<&str> = r.std_segments.iter().copied().collect();
        let _ = writeln!(out, "use std::segments::{{{}}}", list.join(", "));
    }
    r.std_services.clear();
    r.std_segments.clear();
    out
}

impl Renderer<'_> {
    fn rule(
        &mut self,
        rule: &RuleSpec,
        allows: &[&RuleSpec],
        policy: usize,
        n: usize,
    ) -> (String, RuleCover) {
        let carve = rule
            .carve
            .as_ref()
            .filter(|_| rule.deny && !allows.is_empty())
            .map(|c| (c, allows[c.allow as usize % allows.len()]));
        let (src, dst, services, both) = match carve {
            Some((c, a)) if c.port_only => (
                a.src.clone(),
                a.dst.clone(),
                vec![first_port(&a.services)],
                a.both,
            ),
            Some((c, a)) if c.narrow_src => (c.narrow(), a.dst.clone(), a.services.clone(), a.both),
            Some((c, a)) => (a.src.clone(), c.narrow(), a.services.clone(), a.both),
            None => (
                rule.src.clone(),
                rule.dst.clone(),
                rule.services.clone(),
                rule.both,
            ),
        };
        let segs = self.segments.len();
        let s = self.set(&src, true, segs);
        let d = self.set(&dst, true, segs);
        let nsvc = self.services.len();
        let mut svc_texts = Vec::new();
        let mut ports = Vec::new();
        for item in &services {
            let (t, p) = self.svc(item, nsvc);
            if !svc_texts.contains(&t) {
                svc_texts.push(t);
            }
            ports.extend(p);
        }
        let wrap = |s: &Set| {
            if s.compound {
                format!("({})", s.text)
            } else {
                s.text.clone()
            }
        };
        let mut text = String::new();
        if rule.doc {
            let _ = writeln!(text, "  /// Generated rule {}.", n + 1);
        }
        let action = if rule.deny { "deny" } else { "allow" };
        let arrow = if both { "<->" } else { "->" };
        let _ = write!(
            text,
            "  {action} {} {arrow} {} on {}",
            wrap(&s),
            wrap(&d),
            svc_texts.join(", ")
        );
        if let Some(c) = &rule.when {
            let (src_ok, dst_ok) = if both {
                (s.has_ids && d.has_ids, s.has_ids && d.has_ids)
            } else {
                (s.has_ids, d.has_ids)
            };
            let _ = write!(text, "\n    when {}", self.cond(c, src_ok, dst_ok));
        }
        let expires = rule.expires.map(|i| {
            self.now
                .add_days(EXPIRY_DAYS[i as usize % EXPIRY_DAYS.len()])
        });
        if let Some(d) = expires {
            let _ = write!(text, "\n    expires {d}");
        }
        if rule.reason {
            let _ = write!(text, " reason \"ticket GEN-{policy}{n}\"");
        }
        if rule.owner {
            let _ = write!(text, " owner \"team-rule{n}\"");
        }
        text.push('\n');
        let cover = RuleCover {
            src: s.members,
            dst: d.members,
            ports,
            both,
            expires,
        };
        (text, cover)
    }
}

fn manifest(m: &EstateModel) -> String {
    let inventory = if m.split_inventory {
        r#"["inventory/*.yaml", "inventory/*.json"]"#
    } else {
        r#"["inventory.yaml"]"#
    };
    let layered: Vec<String> = LAYERED
        .iter()
        .zip(m.layered)
        .filter(|(_, on)| *on)
        .map(|(c, _)| format!("\"{c}\""))
        .collect();
    let ipset = if m.small_ipsets {
        "ipset-threshold = 2\n"
    } else {
        ""
    };
    format!(
        "[project]\nname = \"estate\"\ninventory = {inventory}\nsources = [\"policy/**/*.seg\"]\n\n\
         [targets.iptables]\n{ipset}\n[targets.nftables]\n\n[targets.kubernetes]\n\n[targets.istio]\n\n\
         [targets.aws]\nformats = [\"terraform\"]\nmax-rules-per-group = 1000\nmax-groups-per-interface = 1\n\n\
         [targets.gcp]\nnetwork = \"seg-gen\"\n\n[targets.opa]\n\n\
         [enforcement]\nlayered = [{}]\n",
        layered.join(", ")
    )
}
