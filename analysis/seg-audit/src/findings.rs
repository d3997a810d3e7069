//! What the observed tuples say about the policy, as findings with the
//! rule's place and owner, counts and first/last seen (see `docs/audit.md`).

use crate::coverage::{Coverage, gap_text};
use crate::evaluate::{ExpiredRules, Outcome, evaluate};
use crate::model::{Aggregate, Counts, Endpoint, Gap, TupleKey};
use crate::plan::has_ports;
use crate::segtext;
use crate::services::service_label;
use seg_check::inventory::{Inventory, Status};
use seg_check::manifest::{AuditSettings, FindingLevel};
use seg_diag::{SourceMap, Span};
use seg_flows::Verdict;
use seg_ir::eval::Evaluator;
use seg_ir::{
    Action, CidrSet, ConditionClass, IdentityId, PortRanges, PortSet, Program, Provenance, Rule,
    Timestamp,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The kinds of finding, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    WouldBreak,
    InactiveIdentity,
    UnusedRule,
    OverBroad,
    ExpiringInUse,
    DeniedObserved,
    UnverifiedCondition,
    NotEnoughEvidence,
    Unresolved,
    CoverageGap,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::WouldBreak,
        Kind::InactiveIdentity,
        Kind::UnusedRule,
        Kind::OverBroad,
        Kind::ExpiringInUse,
        Kind::DeniedObserved,
        Kind::UnverifiedCondition,
        Kind::NotEnoughEvidence,
        Kind::Unresolved,
        Kind::CoverageGap,
    ];

    /// The name in `seg.toml [audit]`, the JSON and the SARIF rule id (`seg-audit/NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::WouldBreak => "would-break",
            Kind::InactiveIdentity => "inactive-identity",
            Kind::UnusedRule => "unused-rule",
            Kind::OverBroad => "over-broad",
            Kind::ExpiringInUse => "expiring-in-use",
            Kind::DeniedObserved => "denied-observed",
            Kind::UnverifiedCondition => "unverified-condition",
            Kind::NotEnoughEvidence => "not-enough-evidence",
            Kind::Unresolved => "unresolved",
            Kind::CoverageGap => "coverage-gap",
        }
    }

    /// One line on what the finding means.
    pub fn description(self) -> &'static str {
        match self {
            Kind::WouldBreak => {
                "observed traffic the network carried and the policy denies: deploying the policy would cut it"
            }
            Kind::InactiveIdentity => {
                "traffic from or to an identity the inventory marks disabled or expired: its credential is still in use"
            }
            Kind::UnusedRule => {
                "an allow rule no observed flow matched, while every identity it covers was observed for the whole window"
            }
            Kind::OverBroad => {
                "an allow rule whose sources, destinations or ports were partly never seen: a narrower rule is proposed"
            }
            Kind::ExpiringInUse => {
                "a rule that expires soon, or has expired, while traffic still uses it"
            }
            Kind::DeniedObserved => "traffic the network rejected: attempted access",
            Kind::UnverifiedCondition => {
                "observed traffic the policy allows only under conditions flow logs cannot show (mTLS, request, context)"
            }
            Kind::NotEnoughEvidence => {
                "an allow rule no observed flow matched, but not every identity it covers was observed for the whole window"
            }
            Kind::Unresolved => {
                "addresses that match no identity at the time of the traffic, with their top talkers"
            }
            Kind::CoverageGap => "windows and capture points without full data",
        }
    }
}

/// Where a finding points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

/// The rule a finding is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRef {
    pub label: String,
    /// The rule's span (`allow …` in its file).
    pub span: Span,
    pub policy: String,
    pub action: Action,
    pub place: Place,
    pub owner: Option<String>,
}

impl RuleRef {
    pub fn of(p: &Provenance, action: Action) -> RuleRef {
        RuleRef {
            label: p.label.clone(),
            span: p.origin,
            policy: p.policy.clone(),
            action,
            place: Place {
                file: p.file.clone(),
                line: p.line,
                column: p.column,
            },
            owner: p.owner.clone(),
        }
    }
}

/// Counts over the tuples behind a finding or a rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub records: u64,
    pub packets: u64,
    pub bytes: u64,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
}

impl Totals {
    pub fn add(&mut self, c: &Counts) {
        self.records += c.records;
        self.packets += c.packets;
        self.bytes += c.bytes;
        self.first_seen = Some(
            self.first_seen
                .map_or(c.first_seen, |f| f.min(c.first_seen)),
        );
        self.last_seen = Some(self.last_seen.map_or(c.last_seen, |l| l.max(c.last_seen)));
    }

    pub fn merge(&mut self, o: &Totals) {
        self.records += o.records;
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.first_seen = match (self.first_seen, o.first_seen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_seen = match (self.last_seen, o.last_seen) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    pub level: FindingLevel,
    /// What the finding is about, unique within its kind: a rule label,
    /// `a -> b on https`, an address, an identity, a capture point.
    pub subject: String,
    pub message: String,
    pub rule: Option<RuleRef>,
    /// Where code scanning shows it: the rule, else the identity's inventory entry.
    pub place: Option<Place>,
    /// The same place as a span of the source map.
    pub span: Option<Span>,
    pub totals: Option<Totals>,
    pub notes: Vec<String>,
    /// `.seg` text: the narrowed rule of an `over-broad` finding.
    pub proposal: Option<String>,
    /// Structured facts for the JSON output.
    pub detail: Detail,
}

/// The fields a kind of finding adds to its JSON object, in order. A list
/// rather than a `serde_json::Map`: a report may hold tens of thousands of
/// findings with three or four fields each, and a map's table costs several
/// times what they do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Detail(Vec<(&'static str, serde_json::Value)>);

impl Detail {
    /// Set a field (replacing its value if it is there already).
    pub fn insert(&mut self, key: &'static str, value: serde_json::Value) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &serde_json::Value)> {
        self.0.iter().map(|(k, v)| (*k, v))
    }
}

/// Hits of one IR rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleHits {
    pub rule: RuleRef,
    /// Observed flows the network carried that the rule matched.
    pub carried: Totals,
    /// Observed flows the network rejected that the rule matched.
    pub rejected: Totals,
}

/// Attribution of the observed records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attribution {
    pub records: u64,
    /// Records both of whose ends are identities.
    pub attributed: u64,
    /// Records an end of which is an identity attributed through an address
    /// written without a validity window.
    pub without_evidence: u64,
    /// Records an end of which no identity held.
    pub unresolved: u64,
}

/// Everything the audit found.
pub struct Findings {
    pub findings: Vec<Finding>,
    pub rules: Vec<RuleHits>,
    pub attribution: Attribution,
}

/// What the findings are computed from.
pub struct Input<'a> {
    pub program: &'a Program,
    pub inventory: &'a Inventory,
    pub map: &'a SourceMap,
    pub settings: &'a AuditSettings,
    pub aggregate: &'a Aggregate,
}

#[derive(Default)]
struct Seen {
    src: BTreeSet<Endpoint>,
    dst: BTreeSet<Endpoint>,
    ports: BTreeSet<(u8, u16)>,
}

#[derive(Default)]
struct Group {
    totals: Totals,
    rules: BTreeSet<u32>,
    classes: BTreeSet<ConditionClass>,
    policy: BTreeSet<&'static str>,
}

#[derive(Default)]
struct Talkers {
    totals: Totals,
    peers: BTreeMap<Endpoint, u64>,
    reasons: BTreeSet<String>,
}

pub fn find(input: &Input<'_>) -> Findings {
    let Input {
        program,
        inventory,
        settings,
        aggregate: agg,
        ..
    } = *input;
    let live = Evaluator::new(program);
    let expired_rules = ExpiredRules::new(program);
    let expired_eval = Evaluator::new(&expired_rules.program);

    let mut carried = vec![Totals::default(); program.rules.len()];
    let mut rejected = vec![Totals::default(); program.rules.len()];
    let mut seen: Vec<Seen> = (0..program.rules.len()).map(|_| Seen::default()).collect();
    let mut expired_hits = vec![Totals::default(); expired_rules.program.rules.len()];
    let mut would_break: BTreeMap<(Endpoint, Endpoint, String), Group> = BTreeMap::new();
    let mut unverified: BTreeMap<(Endpoint, Endpoint, String), Group> = BTreeMap::new();
    let mut denied: BTreeMap<(Endpoint, Endpoint, String), Group> = BTreeMap::new();
    let mut inactive: BTreeMap<IdentityId, Talkers> = BTreeMap::new();
    let mut unresolved: BTreeMap<Endpoint, Talkers> = BTreeMap::new();
    let mut attribution = Attribution::default();

    for (k, c) in &agg.tuples {
        let at = c.first_seen;
        attribution.records += c.records;
        attribution.without_evidence += c.unattested;
        let ids = [&k.src, &k.dst].map(|e| matches!(e, Endpoint::Identity(_)));
        if ids[0] && ids[1] {
            attribution.attributed += c.records;
        } else {
            attribution.unresolved += c.records;
        }
        let ev = evaluate(&live, &expired_eval, k, at);
        let was_carried = k.verdict != Verdict::Denied;
        for r in &ev.matched {
            let i = r.0 as usize;
            if was_carried {
                carried[i].add(c);
            } else {
                rejected[i].add(c);
            }
            seen[i].src.insert(k.src.clone());
            seen[i].dst.insert(k.dst.clone());
            seen[i].ports.insert((k.protocol, k.port));
        }
        if was_carried {
            for &e in &ev.expired {
                expired_hits[e].add(c);
            }
        }
        let group_key = || {
            (
                k.src.clone(),
                k.dst.clone(),
                service_label(k.protocol, k.port),
            )
        };
        match (&ev.outcome, was_carried) {
            (Outcome::Denied(by), true) => {
                let g = would_break.entry(group_key()).or_default();
                g.totals.add(c);
                g.rules.extend(by.iter().map(|r| r.0));
            }
            (Outcome::Conditional(classes), true) => {
                let g = unverified.entry(group_key()).or_default();
                g.totals.add(c);
                g.classes.extend(classes.iter().copied());
                g.rules.extend(ev.matched.iter().map(|r| r.0));
            }
            (Outcome::Allowed, true) => {}
            (outcome, false) => {
                let g = denied.entry(group_key()).or_default();
                g.totals.add(c);
                g.policy.insert(match outcome {
                    Outcome::Allowed => "allows",
                    Outcome::Denied(_) => "denies",
                    Outcome::Conditional(_) => "allows under conditions",
                });
                g.rules.extend(ev.matched.iter().map(|r| r.0));
            }
        }
        for (me, peer) in [(&k.src, &k.dst), (&k.dst, &k.src)] {
            match me {
                Endpoint::Identity(id) => {
                    if let Some(reason) = inactive_reason(inventory, *id, at) {
                        let t = inactive.entry(*id).or_default();
                        t.totals.add(c);
                        *t.peers.entry(peer.clone()).or_default() += c.records;
                        t.reasons.insert(reason);
                    }
                }
                e => {
                    let t = unresolved.entry(e.clone()).or_default();
                    t.totals.add(c);
                    *t.peers.entry(peer.clone()).or_default() += c.records;
                }
            }
        }
    }

    let gaps = crate::coverage::gaps(agg, settings.nodata);
    let coverage = Coverage::new(inventory, agg, &gaps);
    let mut out = Builder {
        input,
        findings: Vec::new(),
    };
    out.rule_findings(&carried, &rejected, &seen, &coverage);
    out.expired_findings(&expired_rules, &expired_hits);
    out.flow_groups(Kind::WouldBreak, would_break);
    out.flow_groups(Kind::UnverifiedCondition, unverified);
    out.flow_groups(Kind::DeniedObserved, denied);
    out.inactive(inactive);
    out.unresolved(unresolved);
    out.coverage_gaps(&gaps);
    let mut findings = out.findings;
    findings.retain(|f| f.level != FindingLevel::Off);
    findings.sort_by(|a, b| (a.kind, &a.subject).cmp(&(b.kind, &b.subject)));

    let rules = program
        .rules
        .iter()
        .map(|r| RuleHits {
            rule: RuleRef::of(&r.provenance, r.action),
            carried: carried[r.id.0 as usize],
            rejected: rejected[r.id.0 as usize],
        })
        .collect();
    Findings {
        findings,
        rules,
        attribution,
    }
}

/// Why an identity counts as inactive at `at`: disabled, or past its `expires`.
fn inactive_reason(inventory: &Inventory, id: IdentityId, at: Timestamp) -> Option<String> {
    let d = inventory.details.get(id.0 as usize)?;
    if d.status == Status::Disabled {
        return Some("disabled".into());
    }
    match d.expires {
        Some(e) if e.end() <= at => Some(format!("expired on {e}")),
        _ => None,
    }
}

/// `a.b.c/2` for `a.b.c/2.1`: the source rule of an IR rule.
pub fn source_label(label: &str) -> &str {
    match label.rsplit_once('.') {
        Some((head, k))
            if !k.is_empty()
                && k.bytes().all(|c| c.is_ascii_digit())
                && head.rsplit_once('/').is_some_and(|(_, n)| {
                    !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit())
                }) =>
        {
            head
        }
        _ => label,
    }
}

struct Builder<'a, 'i> {
    input: &'a Input<'i>,
    findings: Vec<Finding>,
}

impl Builder<'_, '_> {
    fn push(&mut self, mut f: Finding) {
        f.level = self.input.settings.level(f.kind.name());
        self.findings.push(f);
    }

    fn name(&self, id: IdentityId) -> &str {
        self.input.program.identity(id).name.as_str()
    }

    fn endpoint(&self, e: &Endpoint) -> String {
        match e {
            Endpoint::Identity(id) => self.name(*id).to_string(),
            Endpoint::Address(ip) => ip.to_string(),
            Endpoint::Workload(name, ip) => format!("{name} ({ip})"),
        }
    }

    fn identity_span(&self, id: IdentityId) -> Option<Span> {
        Some(self.input.program.identities.get(id.0 as usize)?.origin)
    }

    fn identity_place(&self, id: IdentityId) -> Option<Place> {
        let span = self.identity_span(id)?;
        let map = self.input.map;
        map.get(span.file)?;
        let (line, column) = map.line_col(span);
        Some(Place {
            file: map.name(span.file).to_string(),
            line: line as u32,
            column: column as u32,
        })
    }

    fn nameable(&self, id: IdentityId, now: Timestamp) -> bool {
        self.input
            .inventory
            .details
            .get(id.0 as usize)
            .is_some_and(|d| d.status == Status::Active && d.expires.is_none_or(|e| now < e.end()))
    }

    fn rule_findings(
        &mut self,
        carried: &[Totals],
        rejected: &[Totals],
        seen: &[Seen],
        coverage: &Coverage,
    ) {
        let program = self.input.program;
        let mut groups: BTreeMap<&str, Vec<&Rule>> = BTreeMap::new();
        for r in &program.rules {
            groups
                .entry(source_label(&r.provenance.label))
                .or_default()
                .push(r);
        }
        let window = self.input.aggregate.window;
        let now = program.now;
        for (label, rules) in groups {
            let first = rules[0];
            let rule_ref = RuleRef {
                label: label.to_string(),
                ..RuleRef::of(&first.provenance, first.action)
            };
            let mut hits = Totals::default();
            let mut used = Totals::default();
            for r in &rules {
                hits.merge(&carried[r.id.0 as usize]);
                used.merge(&carried[r.id.0 as usize]);
                used.merge(&rejected[r.id.0 as usize]);
            }
            let base = |kind: Kind, message: String| Finding {
                kind,
                level: FindingLevel::Note,
                subject: label.to_string(),
                message,
                rule: Some(rule_ref.clone()),
                place: Some(rule_ref.place.clone()),
                span: Some(rule_ref.span),
                totals: None,
                notes: Vec::new(),
                proposal: None,
                detail: Default::default(),
            };
            if let Some(expires) = first.expires
                && hits.records > 0
                && expires.end().0 - now.0 <= self.input.settings.expiring_within
            {
                let days =
                    expires.last_second().date().days_since_epoch() - now.date().days_since_epoch();
                let mut f = base(
                    Kind::ExpiringInUse,
                    format!(
                        "rule {label} expires on {expires} ({}) while traffic still uses it",
                        match days {
                            0 => "today".to_string(),
                            1 => "tomorrow".to_string(),
                            d => format!("in {d} days"),
                        }
                    ),
                );
                f.totals = Some(hits);
                f.detail.insert("expires", expires.to_string().into());
                f.notes.push(
                    "renew the rule (a new `expires`) or move the traffic off it before it ends"
                        .into(),
                );
                self.push(f);
            }
            if first.action != Action::Allow {
                continue;
            }
            if used.records == 0 {
                let mut ids: BTreeSet<IdentityId> = BTreeSet::new();
                for r in &rules {
                    ids.extend(r.src.identities.iter().chain(&r.dst.identities));
                }
                let uncovered: Vec<IdentityId> = ids
                    .iter()
                    .copied()
                    .filter(|i| !coverage.covered(*i))
                    .collect();
                if !ids.is_empty() && uncovered.is_empty() {
                    let mut f = base(
                        Kind::UnusedRule,
                        format!(
                            "rule {label} matched no observed flow from {} to {}: standing access no one used",
                            window.since, window.until
                        ),
                    );
                    f.notes.push(format!(
                        "every one of the {} identities it covers was observed for the whole window",
                        ids.len()
                    ));
                    f.notes.push("remove the rule, or keep it with a reason if the traffic is seasonal (disaster recovery, quarter-end jobs)".into());
                    f.detail.insert("identities", (ids.len() as u64).into());
                    self.push(f);
                } else {
                    let why = if ids.is_empty() {
                        "it covers no identity, only networks: the logs cannot show that nothing of them was observed".to_string()
                    } else {
                        format!(
                            "{} of the {} identities it covers were not observed for the whole window",
                            uncovered.len(),
                            ids.len()
                        )
                    };
                    let mut f = base(
                        Kind::NotEnoughEvidence,
                        format!(
                            "rule {label} matched no observed flow, but there is not enough evidence that it is unused: {why}"
                        ),
                    );
                    for id in uncovered.iter().take(5) {
                        f.notes.push(format!(
                            "{}: {}",
                            self.name(*id),
                            coverage.reason(*id).unwrap_or("not covered")
                        ));
                    }
                    if uncovered.len() > 5 {
                        f.notes.push(format!("and {} more", uncovered.len() - 5));
                    }
                    f.detail.insert("identities", (ids.len() as u64).into());
                    f.detail
                        .insert("not_covered", (uncovered.len() as u64).into());
                    self.push(f);
                }
                continue;
            }
            self.over_broad(
                &rules,
                seen,
                coverage,
                now,
                base(Kind::OverBroad, String::new()),
                used,
            );
        }
    }

    fn over_broad(
        &mut self,
        rules: &[&Rule],
        seen: &[Seen],
        coverage: &Coverage,
        now: Timestamp,
        mut f: Finding,
        used: Totals,
    ) {
        let mut lines = Vec::new();
        let (mut unseen_src, mut unseen_dst) = (BTreeSet::new(), BTreeSet::new());
        let mut unused_ports = Vec::new();
        let mut narrowed_nets = 0usize;
        let mut dropped = BTreeSet::new();
        let mut broad = false;
        for r in rules {
            let s = &seen[r.id.0 as usize];
            let all_covered = r
                .src
                .identities
                .iter()
                .chain(&r.dst.identities)
                .all(|i| coverage.covered(*i));
            let side = |ids: &BTreeSet<IdentityId>, seen: &BTreeSet<Endpoint>| -> Vec<IdentityId> {
                ids.iter()
                    .copied()
                    .filter(|i| coverage.covered(*i) && !seen.contains(&Endpoint::Identity(*i)))
                    .collect()
            };
            let us = side(&r.src.identities, &s.src);
            let ud = side(&r.dst.identities, &s.dst);
            let services = if all_covered {
                seen_services(&s.ports, &r.services)
            } else {
                r.services.clone()
            };
            let ports_narrowed = services != r.services;
            if ports_narrowed {
                unused_ports.push(r.services.difference(&services).to_string());
            }
            let nets = |n: &CidrSet, seen: &BTreeSet<Endpoint>| -> CidrSet {
                if !all_covered || n.is_empty() {
                    return n.clone();
                }
                let hosts: Vec<IpAddr> = seen
                    .iter()
                    .filter_map(|e| match e {
                        Endpoint::Address(ip) | Endpoint::Workload(_, ip) => Some(*ip),
                        Endpoint::Identity(_) => None,
                    })
                    .filter(|ip| n.contains(*ip))
                    .collect();
                if hosts.len() > 16 {
                    return n.clone();
                }
                let nets: Vec<ipnet::IpNet> = hosts.into_iter().map(ipnet::IpNet::from).collect();
                CidrSet::from_nets(&nets)
            };
            let src_nets = nets(&r.src.networks, &s.src);
            let dst_nets = nets(&r.dst.networks, &s.dst);
            narrowed_nets +=
                usize::from(src_nets != r.src.networks) + usize::from(dst_nets != r.dst.networks);
            if !us.is_empty()
                || !ud.is_empty()
                || ports_narrowed
                || src_nets != r.src.networks
                || dst_nets != r.dst.networks
            {
                broad = true;
            }
            let keep = |ids: &BTreeSet<IdentityId>,
                        unseen: &[IdentityId],
                        dropped: &mut BTreeSet<IdentityId>| {
                ids.iter()
                    .copied()
                    .filter(|i| !unseen.contains(i))
                    .filter(|i| {
                        let ok = self.nameable(*i, now);
                        if !ok {
                            dropped.insert(*i);
                        }
                        ok
                    })
                    .map(|i| self.name(i))
                    .collect::<Vec<&str>>()
            };
            let src_names = keep(&r.src.identities, &us, &mut dropped);
            let dst_names = keep(&r.dst.identities, &ud, &mut dropped);
            let text = match (
                segtext::set(&src_names, &src_nets),
                segtext::set(&dst_names, &dst_nets),
                segtext::services(&services),
            ) {
                (Some(a), Some(b), Some(svc)) => {
                    let mut line = format!("allow {a} -> {b} on {svc}");
                    if let Some(c) = segtext::condition(&r.condition) {
                        line.push_str(&format!(" when {c}"));
                    }
                    if let Some(e) = r.expires {
                        line.push_str(&format!(" expires {e}"));
                    }
                    if let Some(reason) = &r.provenance.reason {
                        line.push_str(&format!(" reason {}", segtext::string(reason)));
                    }
                    if let Some(owner) = &r.provenance.owner {
                        line.push_str(&format!(" owner {}", segtext::string(owner)));
                    }
                    line
                }
                _ => format!(
                    "// {}: nothing of it was observed; remove it",
                    r.provenance.label
                ),
            };
            lines.push(text);
            unseen_src.extend(us);
            unseen_dst.extend(ud);
        }
        if !broad {
            return;
        }
        let label = f.subject.clone();
        let mut parts = Vec::new();
        if !unseen_src.is_empty() {
            parts.push(format!("{} source identities", unseen_src.len()));
        }
        if !unseen_dst.is_empty() {
            parts.push(format!("{} destination identities", unseen_dst.len()));
        }
        if !unused_ports.is_empty() {
            parts.push(format!("ports {}", unused_ports.join("; ")));
        }
        if narrowed_nets > 0 {
            parts.push("network addresses".to_string());
        }
        f.message = format!(
            "rule {label} is broader than the traffic observed: {} never seen",
            parts.join(", ")
        );
        let names = |ids: &BTreeSet<IdentityId>| -> Vec<serde_json::Value> {
            ids.iter().map(|i| self.name(*i).into()).collect()
        };
        f.detail.insert("unseen_sources", names(&unseen_src).into());
        f.detail
            .insert("unseen_destinations", names(&unseen_dst).into());
        f.detail.insert(
            "unseen_ports",
            unused_ports
                .iter()
                .map(|s| serde_json::Value::from(s.as_str()))
                .collect::<Vec<_>>()
                .into(),
        );
        if !dropped.is_empty() {
            f.notes.push(format!(
                "left out of the proposal, as a policy cannot name them: {} (disabled or expired)",
                dropped
                    .iter()
                    .map(|i| self.name(*i))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        f.notes.push("identities not observed for the whole window are kept; ports and networks are narrowed only when every identity of the rule was".into());
        f.totals = Some(used);
        f.proposal = Some(lines.join("\n"));
        self.push(f);
    }

    fn expired_findings(&mut self, expired: &ExpiredRules, hits: &[Totals]) {
        let program = self.input.program;
        let mut per: BTreeMap<usize, Totals> = BTreeMap::new();
        for (i, t) in hits.iter().enumerate() {
            if t.records > 0 {
                per.entry(expired.source[i]).or_default().merge(t);
            }
        }
        for (o, totals) in per {
            let omitted = &program.omitted[o];
            let p = &omitted.provenance;
            let action = omitted.rules.first().map_or(Action::Allow, |r| r.action);
            let rule = RuleRef::of(p, action);
            let mut f = Finding {
                kind: Kind::ExpiringInUse,
                level: FindingLevel::Note,
                subject: p.label.clone(),
                message: format!(
                    "rule {} has {} while traffic still uses it",
                    p.label, omitted.reason
                ),
                place: Some(rule.place.clone()),
                span: Some(rule.span),
                rule: Some(rule),
                totals: Some(totals),
                notes: vec![
                    "the policy no longer has it, so this traffic is denied unless another rule allows it".into(),
                ],
                proposal: None,
                detail: Default::default(),
            };
            if let Some(e) = omitted.rules.first().and_then(|r| r.expires) {
                f.detail.insert("expires", e.to_string().into());
            }
            f.detail.insert("expired", true.into());
            self.push(f);
        }
    }

    fn flow_groups(&mut self, kind: Kind, groups: BTreeMap<(Endpoint, Endpoint, String), Group>) {
        let program = self.input.program;
        for ((src, dst, service), g) in groups {
            let (s, d) = (self.endpoint(&src), self.endpoint(&dst));
            let subject = format!("{s} -> {d} on {service}");
            let rules: Vec<&Rule> = g
                .rules
                .iter()
                .filter_map(|i| program.rules.get(*i as usize))
                .collect();
            let rule = rules.first().map(|r| RuleRef {
                label: source_label(&r.provenance.label).to_string(),
                ..RuleRef::of(&r.provenance, r.action)
            });
            let end_id = match (&dst, &src) {
                (Endpoint::Identity(id), _) | (_, Endpoint::Identity(id)) => Some(*id),
                _ => None,
            };
            let place = rule
                .as_ref()
                .map(|r| r.place.clone())
                .or_else(|| end_id.and_then(|id| self.identity_place(id)));
            let span = rule
                .as_ref()
                .map(|r| r.span)
                .or_else(|| end_id.and_then(|id| self.identity_span(id)));
            let records = g.totals.records;
            let mut notes = Vec::new();
            let message = match kind {
                Kind::WouldBreak => {
                    if rules.is_empty() {
                        notes.push("no allow rule matches it (denied by default)".into());
                    } else {
                        notes.push(format!(
                            "denied by {}",
                            rules
                                .iter()
                                .map(|r| format!(
                                    "{} ({})",
                                    r.provenance.label,
                                    r.provenance.location()
                                ))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    format!(
                        "{subject}: {records} observed records the network carried would be cut by this policy"
                    )
                }
                Kind::UnverifiedCondition => {
                    let classes: Vec<&str> = g.classes.iter().map(|c| c.as_str()).collect();
                    notes.push(format!(
                        "the policy allows it only when {} holds, which flow logs cannot show",
                        classes.join(", ")
                    ));
                    format!(
                        "{subject}: {records} observed records are allowed only under conditions the logs cannot verify"
                    )
                }
                _ => {
                    let policy: Vec<&str> = g.policy.iter().copied().collect();
                    notes.push(format!("this policy {} it", policy.join(" / ")));
                    format!(
                        "{subject}: the network rejected {records} observed records (attempted access)"
                    )
                }
            };
            let mut detail = Detail::default();
            detail.insert("source", s.into());
            detail.insert("destination", d.into());
            detail.insert("service", service.clone().into());
            if kind == Kind::DeniedObserved {
                detail.insert(
                    "policy",
                    g.policy
                        .iter()
                        .map(|p| serde_json::Value::from(*p))
                        .collect::<Vec<_>>()
                        .into(),
                );
            }
            self.push(Finding {
                kind,
                level: FindingLevel::Note,
                subject,
                message,
                rule,
                place,
                span,
                totals: Some(g.totals),
                notes,
                proposal: None,
                detail,
            });
        }
    }

    fn inactive(&mut self, groups: BTreeMap<IdentityId, Talkers>) {
        for (id, t) in groups {
            let name = self.name(id).to_string();
            let reasons: Vec<String> = t.reasons.into_iter().collect();
            let mut detail = Detail::default();
            detail.insert("identity", name.clone().into());
            detail.insert("peers", self.top(&t.peers).into());
            self.push(Finding {
                kind: Kind::InactiveIdentity,
                level: FindingLevel::Note,
                subject: name.clone(),
                message: format!(
                    "identity {name} is {} in the inventory, yet {} observed records involve it: its credential is still in use",
                    reasons.join(" and "),
                    t.totals.records
                ),
                rule: None,
                place: self.identity_place(id),
                span: self.identity_span(id),
                totals: Some(t.totals),
                notes: vec![format!("peers: {}", self.top_text(&t.peers))],
                proposal: None,
                detail,
            });
        }
    }

    fn unresolved(&mut self, groups: BTreeMap<Endpoint, Talkers>) {
        let mut groups: Vec<(Endpoint, Talkers)> = groups.into_iter().collect();
        groups.sort_by(|a, b| {
            b.1.totals
                .records
                .cmp(&a.1.totals.records)
                .then(a.0.cmp(&b.0))
        });
        for (rank, (e, t)) in groups.into_iter().enumerate() {
            let name = self.endpoint(&e);
            let mut detail = Detail::default();
            detail.insert("address", name.clone().into());
            detail.insert("rank", (rank as u64 + 1).into());
            detail.insert("top_talkers", self.top(&t.peers).into());
            self.push(Finding {
                kind: Kind::Unresolved,
                level: FindingLevel::Note,
                subject: name.clone(),
                message: format!(
                    "{name} matches no identity, in {} observed records",
                    t.totals.records
                ),
                rule: None,
                place: None,
                span: None,
                totals: Some(t.totals),
                notes: vec![format!("top talkers: {}", self.top_text(&t.peers))],
                proposal: None,
                detail,
            });
        }
    }

    fn top(&self, peers: &BTreeMap<Endpoint, u64>) -> Vec<serde_json::Value> {
        let mut v: Vec<(&Endpoint, &u64)> = peers.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.into_iter()
            .take(5)
            .map(|(e, n)| serde_json::json!({ "peer": self.endpoint(e), "records": n }))
            .collect()
    }

    fn top_text(&self, peers: &BTreeMap<Endpoint, u64>) -> String {
        let mut v: Vec<(&Endpoint, &u64)> = peers.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.into_iter()
            .take(5)
            .map(|(e, n)| format!("{} ({n})", self.endpoint(e)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn coverage_gaps(&mut self, gaps: &[&Gap]) {
        let mut per: BTreeMap<Option<&str>, Vec<&Gap>> = BTreeMap::new();
        for &g in gaps {
            per.entry(g.interface.as_deref()).or_default().push(g);
        }
        for (iface, gs) in per {
            let seconds: i64 = gs.iter().map(|g| g.end.0 - g.start.0).sum();
            let subject = iface.unwrap_or("*").to_string();
            let where_ = iface.map_or("the logs".to_string(), |i| format!("interface {i}"));
            let mut detail = Detail::default();
            detail.insert(
                "gaps",
                gs.iter()
                    .map(|g| {
                        serde_json::json!({
                            "start": g.start.to_string(),
                            "end": g.end.to_string(),
                            "cause": g.cause.name(),
                        })
                    })
                    .collect::<Vec<_>>()
                    .into(),
            );
            detail.insert("seconds", seconds.into());
            let mut notes: Vec<String> = gs.iter().take(5).map(|g| gap_text(g)).collect();
            if gs.len() > 5 {
                notes.push(format!("and {} more", gs.len() - 5));
            }
            self.push(Finding {
                kind: Kind::CoverageGap,
                level: FindingLevel::Note,
                subject,
                message: format!(
                    "{where_} has {} window(s) without full data, {} in all",
                    gs.len(),
                    duration_text(seconds)
                ),
                rule: None,
                place: None,
                span: None,
                totals: None,
                notes,
                proposal: None,
                detail,
            });
        }
    }
}

/// The part of `services` the observed (protocol, port) pairs use, when it
/// can be written; else `services` unchanged.
fn seen_services(ports: &BTreeSet<(u8, u16)>, services: &PortSet) -> PortSet {
    let mut s = PortSet::empty();
    let (mut tcp, mut udp, mut sctp) = (Vec::new(), Vec::new(), Vec::new());
    for &(p, port) in ports {
        match p {
            6 => tcp.push((port, port)),
            17 => udp.push((port, port)),
            132 => sctp.push((port, port)),
            1 | 58 => s.icmp = true,
            p if !has_ports(p) => s.other = true,
            _ => {}
        }
    }
    s.tcp = PortRanges::from_unsorted(tcp);
    s.udp = PortRanges::from_unsorted(udp);
    s.sctp = PortRanges::from_unsorted(sctp);
    let s = s.intersect(services);
    // "Other protocols" can be written only as part of `any`.
    if s.other { services.clone() } else { s }
}

/// `2 h 5 min`, `40 s`.
pub fn duration_text(seconds: i64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(format!("{d} d"));
    }
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}

impl TupleKey {
    /// The service label of the tuple (`https`, `tcp/8443`).
    pub fn service(&self) -> String {
        service_label(self.protocol, self.port)
    }
}
