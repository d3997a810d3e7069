//! Lowering of policies to IR rules.
//!
//! Input: the evaluated environment (segments, services) and the policies of
//! every unit. Output: live IR rules (with facts the lints need), omitted
//! rules, and per-rule diagnostics (E0303, E0304, E0305, W0301–W0305).
//!
//! Per source rule: the source and destination sets are evaluated; `<->`
//! gives two directions; the `when` condition is split into disjuncts
//! (static literals narrow the sets, the dynamic rest becomes the rule's
//! condition); each (direction, disjunct) becomes one IR rule labelled
//! `<policy>/<n>` plus `.<k>` when there is more than one. Identities without
//! network presence are left out of destination sets; naming one explicitly
//! as a destination is E0303. Rules past `expires` are omitted (W0304).
//! An IR rule whose source, destination or services are empty is dropped;
//! a source rule that leaves no IR rule is listed in `omitted`.

mod canonical;
pub(crate) mod expect;
pub(crate) mod rule_id;

use crate::CheckInput;
use crate::RuleOutline;
use crate::cond::{self, Literal};
use crate::idset::IdSet;
use crate::problems;
use crate::sets::{Env, Members, Mention};
use crate::typeck::{CondUses, RCond, Side};
use seg_diag::{Diagnostics, Span};
use seg_ir::time::SECONDS_PER_DAY;
use seg_ir::{
    Action, CidrSet, EndpointSet, Expiry, Now, OmittedRule, PortSet, Provenance, Rule, RuleId,
    Timestamp,
};
use seg_syntax::ast::{self, Arrow, Item};

/// Most IR rules one `when` may expand to.
pub(crate) const MAX_DISJUNCTS: usize = 64;
/// A rule expiring within this many days gets W0303.
const EXPIRY_WARNING_DAYS: i64 = 14;

/// How long a live rule has left, when that is within [`EXPIRY_WARNING_DAYS`]
/// (W0303): whole days from today to its last day for a day-expiry (0: today
/// is the last), seconds until it is gone for an instant.
fn expiring_soon(expires: Expiry, now: &Now) -> Option<problems::Left> {
    match expires {
        Expiry::Day(d) => {
            let warned = d.add_days(-EXPIRY_WARNING_DAYS).start();
            // The message counts the days left, so only then is today read.
            now.reached(warned)
                .then(|| problems::Left::Days(d.days_since_epoch() - now.date().days_since_epoch()))
        }
        Expiry::Instant(t) => {
            let warned = Timestamp(t.0.saturating_sub(EXPIRY_WARNING_DAYS * SECONDS_PER_DAY));
            // The message counts the seconds left, so only then is now read exactly.
            now.reached(warned)
                .then(|| problems::Left::Seconds(t.0 - now.exact().0))
        }
    }
}

/// Facts about one IR rule that the lints need, parallel to `Lowered::rules`.
pub(crate) struct RuleFacts {
    pub(crate) src: IdSet,
    pub(crate) dst: IdSet,
    /// Index into `Lowered::sources`.
    pub(crate) source: usize,
}

/// A source rule that produced at least one IR rule.
pub(crate) struct SourceRule {
    /// `allow a -> b`: where lints point.
    pub(crate) head: Span,
    pub(crate) label: String,
    /// Which rule it is: see [`Lowered::omitted_at`].
    pub(crate) at: RuleAt,
    /// Whether its members are certain: it reads no segment that has an error inside.
    /// (With errors elsewhere in the project, the coverage lints speak only of such rules.)
    pub(crate) certain: bool,
}

#[derive(Default)]
pub(crate) struct Lowered {
    pub(crate) rules: Vec<Rule>,
    /// Each IR rule as written, parallel to `rules`.
    pub(crate) written: Vec<RuleOutline>,
    pub(crate) facts: Vec<RuleFacts>,
    pub(crate) sources: Vec<SourceRule>,
    pub(crate) omitted: Vec<OmittedRule>,
    /// The source rule of each omitted rule, parallel to `omitted`: until
    /// [`name_rules`], every provenance's `id` holds only its `.<k>` part.
    pub(crate) omitted_at: Vec<RuleAt>,
}

/// A source rule: the `policy`-th policy in lowering order, its `rule`-th rule.
#[derive(Clone, Copy)]
pub(crate) struct RuleAt {
    policy: usize,
    rule: usize,
}

struct Sides {
    src: Members,
    dst: Members,
    src_mentions: Vec<Mention>,
    dst_mentions: Vec<Mention>,
}

/// Every policy of the units, in lowering order.
fn each_policy<'a>(input: &CheckInput<'a>) -> impl Iterator<Item = (usize, &'a ast::PolicyDef)> {
    input.units.iter().enumerate().flat_map(|(u, unit)| {
        unit.ast.items.iter().filter_map(move |item| match item {
            Item::Policy(p) => Some((u, p)),
            _ => None,
        })
    })
}

/// Lower every policy. The rules' stable ids are not known yet (they are
/// hashed meanwhile, see [`rule_id::RuleIds`]): [`name_rules`] adds them.
pub(crate) fn policies(env: &Env, input: &CheckInput, diags: &mut Diagnostics) -> Lowered {
    let mut out = Lowered::default();
    for (policy, (u, p)) in each_policy(input).enumerate() {
        if let Some(review) = &p.review_by
            && input.now.reached(review.node.end())
        {
            let today = input.now.date().to_string();
            diags.push(problems::review_overdue(
                review.span,
                &p.name.node.text,
                &review.node.to_string(),
                &today,
            ));
        }
        for (n, rule) in p.rules.iter().enumerate() {
            let label = Label {
                label: format!("{}/{}", p.name.node.text, n + 1),
                id: String::new(),
                at: RuleAt { policy, rule: n },
            };
            lower_rule(env, input, u, p, rule, label, &mut out, diags);
        }
    }
    out
}

/// Give every rule of `out` its stable id: `ids` holds each policy with its
/// rules' ids, in lowering order ([`rule_id::RuleIds::finish`]).
pub(crate) fn name_rules(
    out: &mut Lowered,
    input: &CheckInput,
    ids: Vec<(&ast::PolicyDef, Vec<String>)>,
) {
    let mut ids = ids.into_iter();
    let by_policy: Vec<Vec<String>> = each_policy(input)
        .map(|(_, p)| match ids.next() {
            // Ids are taken only for the policy they were made for.
            Some((made_for, ids)) if std::ptr::eq(made_for, p) && ids.len() == p.rules.len() => ids,
            _ => rule_id::policy_rule_ids(p),
        })
        .collect();
    let id = |at: RuleAt| by_policy[at.policy][at.rule].as_str();
    for (rule, facts) in out.rules.iter_mut().zip(&out.facts) {
        let base = id(out.sources[facts.source].at);
        rule.provenance.id.insert_str(0, base);
    }
    for (omitted, &at) in out.omitted.iter_mut().zip(&out.omitted_at) {
        let base = id(at);
        omitted.provenance.id.insert_str(0, base);
        for rule in &mut omitted.rules {
            rule.provenance.id.insert_str(0, base);
        }
    }
}

/// How a source rule is named: by position for people, by content for targets.
#[derive(Clone)]
struct Label {
    /// `<policy>/<n>`.
    label: String,
    /// What follows `<policy>#<hash>` (see [`rule_id`]), which [`name_rules`]
    /// puts in front: nothing, or `.<k>`.
    id: String,
    at: RuleAt,
}

impl Label {
    /// The `k`-th IR rule of a source rule that lowers to several.
    fn part(&self, k: usize) -> Label {
        Label {
            label: format!("{}.{k}", self.label),
            id: format!("{}.{k}", self.id),
            at: self.at,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn lower_rule(
    env: &Env,
    input: &CheckInput,
    u: usize,
    policy: &ast::PolicyDef,
    rule: &ast::RuleDef,
    label: Label,
    out: &mut Lowered,
    diags: &mut Diagnostics,
) {
    let head = rule.action.span.to(rule.dst.span);
    let errors = diags.error_count();
    if rule.owner.is_none() && policy.owner.is_none() {
        diags.push(problems::missing_owner(
            head,
            &policy.name.node.text,
            policy.name.span,
        ));
    }
    let mut sides = Sides {
        src: Members::default(),
        dst: Members::default(),
        src_mentions: Vec::new(),
        dst_mentions: Vec::new(),
    };
    env.watch_doubt();
    sides.src = env.eval(u, &rule.src, &mut sides.src_mentions, diags);
    sides.dst = env.eval(u, &rule.dst, &mut sides.dst_mentions, diags);
    let certain = !env.read_doubtful();
    env.check_mentions(&sides.src_mentions, diags);
    env.check_mentions(&sides.dst_mentions, diags);
    let ports = env.ports(u, &rule.services, diags);
    let both = rule.arrow.node == Arrow::Both;
    let mut uses = CondUses::default();
    let when: Option<RCond> = match &rule.when {
        Some(c) => env.typer().cond(c, 0, &mut uses, diags),
        None => Some(RCond::And(Vec::new())),
    };
    identity_requirements(rule, &sides, uses, both, diags);
    no_presence_destinations(env, &sides, both, diags);
    let (Some(ports), Some(when)) = (ports, when) else {
        return;
    };
    if diags.error_count() > errors {
        return;
    }
    // Built per IR rule rather than cloned from a template: most rules lower to one.
    let provenance = |label: Label| provenance(input, u, policy, rule, label);
    // An expired rule is omitted, lowered all the same: `seg audit` reports
    // traffic that still uses it.
    let mut expired = None;
    if let Some(expires) = &rule.expires {
        if input.now.reached(expires.node.end()) {
            diags.push(problems::expired_rule(head, expires.span, expires.node));
            expired = Some(match expires.node {
                Expiry::Day(d) => format!("expired on {d}"),
                Expiry::Instant(t) => format!("expired at {t}"),
            });
        } else if !in_grants_file(input, u)
            && let Some(left) = expiring_soon(expires.node, input.now)
        {
            diags.push(problems::expiring_soon(expires.span, expires.node, left));
        }
    }
    if rule.action.node == ast::Action::Allow && expired.is_none() {
        over_broad(rule, &sides, &ports, both, diags);
    }
    let disjuncts = match cond::split(&when, MAX_DISJUNCTS) {
        Ok(d) => d,
        Err(_) if expired.is_some() => Vec::new(),
        Err(n) => {
            let span = rule.when.as_ref().map_or(head, |c| c.span);
            diags.push(problems::condition_too_complex(span, n, MAX_DISJUNCTS));
            return;
        }
    };
    let (src_text, dst_text) = (
        input.map.snippet(rule.src.span),
        input.map.snippet(rule.dst.span),
    );
    let services: Vec<String> = rule
        .services
        .iter()
        .map(|s| input.map.snippet(s.span).to_string())
        .collect();
    let mut directions = vec![(&sides.src, &sides.dst, src_text, dst_text)];
    if both {
        directions.push((&sides.dst, &sides.src, dst_text, src_text));
    }
    let expansions = directions.len() * disjuncts.len();
    let action = match rule.action.node {
        ast::Action::Allow => Action::Allow,
        ast::Action::Deny => Action::Deny,
    };
    let source = out.sources.len();
    let mut lowered = Vec::new();
    let mut k = 0;
    for (src, dst, src_text, dst_text) in directions {
        let dst_ids = env.index.reachable(&dst.ids);
        let dst = Members {
            ids: dst_ids,
            ..dst.clone()
        };
        for d in &disjuncts {
            k += 1;
            let (s_ids, s_nets) = narrow(env, src, Side::Source, &d.statics);
            let (d_ids, d_nets) = narrow(env, &dst, Side::Destination, &d.statics);
            if (s_ids.is_empty() && s_nets.is_empty())
                || (d_ids.is_empty() && d_nets.is_empty())
                || ports.is_empty()
            {
                continue;
            }
            let prov = provenance(if expansions > 1 {
                label.part(k)
            } else {
                label.clone()
            });
            lowered.push((
                Rule {
                    id: RuleId(0),
                    action,
                    src: endpoint(&s_ids, &src.explicit, s_nets),
                    dst: endpoint(&d_ids, &dst.explicit, d_nets),
                    services: ports.clone(),
                    condition: d.dynamic.clone(),
                    expires: rule.expires.as_ref().map(|e| e.node),
                    provenance: prov,
                },
                s_ids,
                d_ids,
                RuleOutline {
                    src: src_text.to_string(),
                    dst: dst_text.to_string(),
                    services: services.clone(),
                },
            ));
        }
    }
    if let Some(reason) = expired {
        // Numbered within the omitted rule: they are in no program's `rules`.
        let rules = lowered
            .into_iter()
            .enumerate()
            .map(|(i, (r, _, _, _))| Rule {
                id: RuleId(i as u32),
                ..r
            })
            .collect();
        out.omitted_at.push(label.at);
        out.omitted.push(OmittedRule {
            provenance: provenance(label),
            reason,
            rules,
        });
        return;
    }
    if lowered.is_empty() {
        out.omitted_at.push(label.at);
        out.omitted.push(OmittedRule {
            provenance: provenance(label),
            reason: "matches no flow: its source, destination or services are empty".into(),
            rules: Vec::new(),
        });
        return;
    }
    for (r, src, dst, written) in lowered {
        out.rules.push(Rule {
            id: RuleId(out.rules.len() as u32),
            ..r
        });
        out.written.push(written);
        out.facts.push(RuleFacts { src, dst, source });
    }
    out.sources.push(SourceRule {
        head,
        label: label.label,
        at: label.at,
        certain,
    });
}

/// A grant expires soon by design: W0303 is not for the `[jit]` grants file.
fn in_grants_file(input: &CheckInput, u: usize) -> bool {
    input
        .jit
        .as_ref()
        .is_some_and(|j| j.settings.file == input.units[u].path)
}

pub(crate) fn endpoint(ids: &IdSet, explicit: &IdSet, nets: CidrSet) -> EndpointSet {
    EndpointSet {
        identities: ids.to_btree(),
        explicit: explicit.intersect(ids).to_btree(),
        networks: nets,
    }
}

/// Apply the static literals of one side. A network member fails every
/// comparison, so a positive literal drops the networks; a negated one keeps
/// them minus the addresses of the identities it removes (an identity's
/// address stands for the identity).
fn narrow(env: &Env, m: &Members, side: Side, statics: &[Literal]) -> (IdSet, CidrSet) {
    let mut ids = m.ids.clone();
    let mut nets = m.nets.clone();
    for lit in statics.iter().filter(|l| l.side == side) {
        let sat = env.preds.eval(&lit.pred);
        if lit.negated {
            let removed = ids.intersect(&sat);
            ids = ids.difference(&sat);
            if !nets.is_empty() && !removed.is_empty() {
                nets = nets.difference(&env.index.addresses_of(&removed));
            }
        } else {
            ids = ids.intersect(&sat);
            nets = CidrSet::empty();
        }
    }
    (ids, nets)
}

fn provenance(
    input: &CheckInput,
    u: usize,
    policy: &ast::PolicyDef,
    rule: &ast::RuleDef,
    label: Label,
) -> Provenance {
    let (line, column) = input.map.line_col(rule.span);
    Provenance {
        label: label.label,
        id: label.id,
        file: input.units[u].path.clone(),
        line: line as u32,
        column: column as u32,
        policy: policy.name.node.text.clone(),
        owner: rule
            .owner
            .as_ref()
            .or(policy.owner.as_ref())
            .map(|o| o.node.clone()),
        doc: rule.doc.as_ref().map(|d| d.node.clone()),
        reason: rule.reason.as_ref().map(|r| r.node.clone()),
        origin: rule.span,
    }
}

/// E0304: `mtls` and `source.ATTR` need identity sources, `destination.ATTR`
/// identity destinations (with `<->` each side is both).
fn identity_requirements(
    rule: &ast::RuleDef,
    s: &Sides,
    uses: CondUses,
    both: bool,
    diags: &mut Diagnostics,
) {
    let network_only = |m: &Members| !m.has_identities;
    let src_side: Vec<(&Members, Span)> = if both {
        vec![(&s.src, rule.src.span), (&s.dst, rule.dst.span)]
    } else {
        vec![(&s.src, rule.src.span)]
    };
    let dst_side: Vec<(&Members, Span)> = if both {
        vec![(&s.dst, rule.dst.span), (&s.src, rule.src.span)]
    } else {
        vec![(&s.dst, rule.dst.span)]
    };
    let checks = [
        (uses.mtls, "`mtls`", &src_side, "source"),
        (uses.source, "a `source.` test", &src_side, "source"),
        (
            uses.destination,
            "a `destination.` test",
            &dst_side,
            "destination",
        ),
    ];
    for (used, what, sets, side) in checks {
        let Some(at) = used else { continue };
        if let Some((_, set_span)) = sets.iter().find(|(m, _)| network_only(m)) {
            diags.push(problems::network_not_identity(at, what, side, *set_span));
        }
    }
}

/// E0303 for identities named as destinations that cannot be reached.
fn no_presence_destinations(env: &Env, s: &Sides, both: bool, diags: &mut Diagnostics) {
    let mut targets = vec![(&s.dst, &s.dst_mentions)];
    if both {
        targets.push((&s.src, &s.src_mentions));
    }
    for (m, mentions) in targets {
        let mut seen = IdSet::empty();
        for mention in mentions.iter() {
            if m.explicit.contains(mention.id)
                && env.index.absent.contains(mention.id)
                && !seen.contains(mention.id)
            {
                seen = seen.union(&IdSet::one(mention.id));
                let ident = env.index.identity(mention.id);
                diags.push(problems::no_network_presence(
                    mention.span,
                    &ident.name,
                    ident.kind.as_str(),
                ));
            }
        }
    }
}

/// `PortSet::is_any` without building the `any` set to compare with.
fn is_any(p: &PortSet) -> bool {
    p.icmp && p.other && p.tcp.is_all() && p.udp.is_all() && p.sctp.is_all()
}

fn over_broad(
    rule: &ast::RuleDef,
    s: &Sides,
    ports: &PortSet,
    both: bool,
    diags: &mut Diagnostics,
) {
    if s.src.broad {
        diags.push(problems::over_broad(
            rule.src.span,
            "traffic from any source",
        ));
    } else if both && s.dst.broad {
        diags.push(problems::over_broad(
            rule.dst.span,
            "traffic from any source",
        ));
    }
    if is_any(ports)
        && let (Some(first), Some(last)) = (rule.services.first(), rule.services.last())
    {
        diags.push(problems::over_broad(
            first.span.to(last.span),
            "every protocol and port",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::rule_id::policy_rule_ids;
    use seg_diag::{Diagnostics, SourceMap};

    /// The ids are added after lowering, from hashes made meanwhile on
    /// another core: every rule, part (`<->`, alternatives) and omitted rule
    /// (expired, or matching nothing) of every policy gets the id its policy
    /// alone gives it, in projects that hash on one core and on two.
    #[test]
    fn rules_lowered_before_their_ids_are_hashed_get_their_own_ids() {
        let inventory = "version: 1\nattributes:\n  env: enum[dev, prod]\nidentities:\n\
            \x20 - { name: a, kind: workload, owner: t, addresses: [10.0.0.1/32], attributes: { env: prod } }\n\
            \x20 - { name: b, kind: workload, owner: t, addresses: [10.0.0.2/32], attributes: { env: dev } }\n\
            \x20 - { name: c, kind: workload, owner: t, addresses: [10.0.0.3/32], attributes: { env: prod } }\n";
        let now = seg_ir::Timestamp(1_800_000_000);
        for many in [3, super::super::PARALLEL_RULE_IDS + 50] {
            let mut map = SourceMap::new();
            let mut diags = Diagnostics::new();
            let inv = map.add("inventory.yaml", inventory);
            let inventory =
                crate::inventory::load(&[(inv, inventory)], &seg_ir::Now::new(now), &mut diags)
                    .expect("loads");
            let mut first = String::from("policy one {\n  owner \"t\"\n");
            first += "  allow a <-> b on tcp/1\n";
            first += "  allow [a, b, c] -> c on tcp/2 when (source.env == \"prod\" and mtls) or source.env == \"dev\"\n";
            first += "  allow a -> b on tcp/3 expires 2020-01-01\n";
            first += "  allow a <-> c on tcp/4 expires 2020-01-01\n";
            first += "  allow (a - a) -> b on tcp/5\n";
            for i in 0..many {
                first += &format!("  allow a -> b on tcp/{}\n", 100 + i % 900);
            }
            first += "}\n\npolicy two {\n  owner \"t\"\n  allow b -> a on tcp/7\n  allow c <-> a on tcp/8\n}\n";
            let second = "policy three {\n  owner \"t\"\n  allow c -> b on tcp/9\n}\n";
            let mut units = Vec::new();
            for (path, text) in [("a.seg", first.as_str()), ("b.seg", second)] {
                let file = map.add(path, text);
                units.push(crate::Unit {
                    file,
                    path: path.into(),
                    module: None,
                    ast: seg_syntax::parse(file, text).expect("parses").into(),
                });
            }
            let input = crate::CheckInput {
                units: &units,
                inventory: &inventory,
                map: &map,
                project: "t",
                source_hash: "0",
                now: &seg_ir::Now::new(now),
                jit: None,
            };
            let program = crate::check(&input, &mut diags).expect("checks");
            // `<policy>/<n>` or `<policy>/<n>.<k>` → the expected id.
            let ids: Vec<(&str, Vec<String>)> = super::each_policy(&input)
                .map(|(_, p)| (p.name.node.text.as_str(), policy_rule_ids(p)))
                .collect();
            let expected = |label: &str| {
                let (policy, rest) = label.split_once('/').expect("a label");
                let (n, part) = rest
                    .split_once('.')
                    .map_or((rest, None), |(n, k)| (n, Some(k)));
                let (_, ids) = ids.iter().find(|(p, _)| *p == policy).expect("its policy");
                let n: usize = n.parse().expect("a number");
                let id = ids[n - 1].clone();
                part.map_or(id.clone(), |k| format!("{id}.{k}"))
            };
            let mut seen = 0;
            for r in &program.rules {
                assert_eq!(r.provenance.id, expected(&r.provenance.label));
                seen += 1;
            }
            assert!(
                program
                    .rules
                    .iter()
                    .any(|r| r.provenance.label == "one/1.2"),
                "both directions"
            );
            assert!(
                program
                    .rules
                    .iter()
                    .any(|r| r.provenance.label == "three/1")
            );
            assert_eq!(
                program.omitted.len(),
                3,
                "two expired, one matching nothing"
            );
            for o in &program.omitted {
                assert_eq!(o.provenance.id, expected(&o.provenance.label));
                for r in &o.rules {
                    assert_eq!(r.provenance.id, expected(&r.provenance.label));
                    seen += 1;
                }
            }
            assert!(seen > many, "{seen}");
        }
    }
}
