//! `seg reach` results for people (text) and programs (JSON).
//!
//! Reached identities are grouped by class: every member of a group is
//! reached at the same hop by the same path, whose last step ends at each of
//! them. Each step names the ports it allows, the services as the deciding
//! rules write them, the rules (label, file:line, owner, condition) and the
//! denies that carve part of it away.

use crate::analysis::{Analysis, Hop};
use crate::model::condition_text;
use crate::search::{Node, Path, Search};
use seg_check::Outline;
use seg_ir::{CidrSet, IdentityId, Program};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

/// A rule as a step cites it.
#[derive(Clone, Debug, Serialize)]
pub struct RuleRef {
    pub rule: String,
    pub file: String,
    pub line: u32,
    pub owner: Option<String>,
    /// The runtime condition the attacker meets, when there is one.
    pub condition: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    /// An identity name or an entry network (`203.0.113.0/24`).
    pub from: String,
    /// `None` on the last step of a group: each identity of the group.
    pub to: Option<String>,
    pub ports: String,
    pub services: Vec<String>,
    pub rules: Vec<RuleRef>,
    /// Ports the allows would give that denies take away.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carved: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub carved_by: Vec<RuleRef>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub identities: Vec<String>,
    pub path: Vec<StepReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HopReport {
    pub hop: u32,
    pub count: usize,
    pub groups: Vec<Group>,
}

/// What a `--target` run analysed.
#[derive(Clone, Debug, Serialize)]
pub struct TargetNote {
    pub target: String,
    /// Condition classes the target leaves to another layer: counted as satisfied.
    pub layered: Vec<String>,
    /// Classes the target cannot enforce and does not leave to a layer: allows
    /// that need them are left out, denies that have them apply as if they held.
    pub fail_closed: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReachReport {
    pub from: String,
    pub assumptions: String,
    pub at: Option<String>,
    pub expiry_at: String,
    pub pivot: Vec<String>,
    pub target: Option<TargetNote>,
    pub hops_limit: Option<u32>,
    pub reached: usize,
    pub deepest: u32,
    pub hops: Vec<HopReport>,
}

/// Names and provenance for the report.
pub struct Describe<'a> {
    program: &'a Program,
    outline: Option<&'a Outline>,
    /// Rules as cited, by program rule index: a report cites the same few
    /// rules on thousands of steps, and spelling a condition is the costly part.
    cited: RefCell<HashMap<usize, RuleRef>>,
    /// Steps as spelled, by their identities and rules: the paths of a report
    /// share their first steps, and many groups their last one.
    spelled: RefCell<HashMap<StepKey, Vec<(Hop, StepReport)>>>,
}

/// The source and destination identities of a step and its deciding rules.
type StepKey = (IdentityId, Option<IdentityId>, Vec<usize>, Vec<usize>);

impl<'a> Describe<'a> {
    pub fn new(program: &'a Program, outline: Option<&'a Outline>) -> Describe<'a> {
        Describe {
            program,
            outline,
            cited: RefCell::new(HashMap::new()),
            spelled: RefCell::new(HashMap::new()),
        }
    }

    fn name(&self, id: IdentityId) -> String {
        self.program.identity(id).name.clone()
    }

    fn node(&self, n: &Node) -> String {
        match n {
            Node::Identity(id) => self.name(*id),
            Node::Network(addrs) => network_text(addrs),
        }
    }

    fn rule(&self, r: usize) -> RuleRef {
        self.cited
            .borrow_mut()
            .entry(r)
            .or_insert_with(|| {
                let rule = &self.program.rules[r];
                let p = &rule.provenance;
                RuleRef {
                    rule: p.label.clone(),
                    file: p.file.clone(),
                    line: p.line,
                    owner: p.owner.clone(),
                    condition: (rule.condition != seg_ir::Condition::True)
                        .then(|| condition_text(&rule.condition)),
                }
            })
            .clone()
    }

    /// The services the deciding rules write, each once, in rule order.
    pub fn services(&self, hop: &Hop) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for &r in &hop.allows {
            let label = &self.program.rules[r].provenance.label;
            let written = self.outline.and_then(|o| o.rules.get(label));
            for s in written.map(|w| w.services.clone()).unwrap_or_default() {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }

    pub fn step(&self, from: &Node, to: Option<IdentityId>, hop: &Hop) -> StepReport {
        let Node::Identity(id) = from else {
            return self.spell_step(from, to, hop);
        };
        let key = (*id, to, hop.allows.clone(), hop.denies.clone());
        let mut spelled = self.spelled.borrow_mut();
        let seen = spelled.entry(key).or_default();
        if let Some((_, step)) = seen.iter().find(|(h, _)| h == hop) {
            return step.clone();
        }
        let step = self.spell_step(from, to, hop);
        seen.push((hop.clone(), step.clone()));
        step
    }

    fn spell_step(&self, from: &Node, to: Option<IdentityId>, hop: &Hop) -> StepReport {
        StepReport {
            from: self.node(from),
            to: to.map(|t| self.name(t)),
            ports: hop.allowed.to_string(),
            services: self.services(hop),
            rules: hop.allows.iter().map(|&r| self.rule(r)).collect(),
            carved: (!hop.carved.is_empty()).then(|| hop.carved.to_string()),
            carved_by: hop.denies.iter().map(|&r| self.rule(r)).collect(),
        }
    }

    fn path(&self, path: &Path, last_is_group: bool) -> Vec<StepReport> {
        let n = path.steps.len();
        path.steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let to = (!(last_is_group && i + 1 == n)).then_some(s.to);
                self.step(&s.from, to, &s.hop)
            })
            .collect()
    }
}

/// Addresses as at most three CIDRs and a count of the rest.
pub fn network_text(addrs: &CidrSet) -> String {
    let cidrs = addrs.to_cidrs();
    let mut parts: Vec<String> = cidrs.iter().take(3).map(ToString::to_string).collect();
    if cidrs.len() > 3 {
        parts.push(format!("and {} more", cidrs.len() - 3));
    }
    parts.join(", ")
}

/// The report of a search, grouped by hop and class.
pub fn reach_report(
    d: &Describe,
    a: &Analysis,
    s: &Search,
    from: String,
    target: Option<TargetNote>,
    hops_limit: Option<u32>,
) -> ReachReport {
    let mut hops: Vec<HopReport> = Vec::new();
    let mut reached = 0;
    for &c in &s.order {
        let members = s.members(c);
        if members.is_empty() {
            continue;
        }
        let hop = s.dist[c as usize];
        let Some(path) = s.path(members[0]) else {
            continue;
        };
        reached += members.len();
        let group = Group {
            identities: members.iter().map(|m| d.name(*m)).collect(),
            path: d.path(&path, true),
        };
        match hops.last_mut() {
            Some(h) if h.hop == hop => {
                h.count += members.len();
                h.groups.push(group);
            }
            _ => hops.push(HopReport {
                hop,
                count: members.len(),
                groups: vec![group],
            }),
        }
    }
    ReachReport {
        from,
        assumptions: a.model.describe(d.program),
        at: a.model.at.map(|t| t.to_string()),
        expiry_at: a.model.expiry_at(d.program).to_string(),
        pivot: a
            .model
            .pivot
            .iter()
            .map(|k| k.as_str().to_string())
            .collect(),
        target,
        hops_limit,
        reached,
        deepest: hops.last().map_or(0, |h| h.hop),
        hops,
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

fn step_line(s: &StepReport, to_group: &str) -> String {
    let to = s.to.as_deref().unwrap_or(to_group);
    let mut line = format!("{} -> {} on {}", s.from, to, s.ports);
    // Named services say what the ports are for; port specs repeat them.
    if s.services.iter().any(|x| !is_port_spec(x)) {
        let _ = write!(line, " ({})", s.services.join(", "));
    }
    for (i, r) in s.rules.iter().enumerate() {
        let _ = write!(
            line,
            "{} {} at {}:{}",
            if i == 0 { " — allowed by" } else { ";" },
            r.rule,
            r.file,
            r.line
        );
        if let Some(o) = &r.owner {
            let _ = write!(line, ", owner {o}");
        }
        if let Some(c) = &r.condition {
            let _ = write!(line, ", when {c}");
        }
    }
    if let Some(c) = &s.carved {
        let by: Vec<String> = s
            .carved_by
            .iter()
            .map(|r| format!("{} at {}:{}", r.rule, r.file, r.line))
            .collect();
        let _ = write!(line, " [denied: {c} by {}]", by.join(", "));
    }
    line
}

fn is_port_spec(s: &str) -> bool {
    s == "icmp" || s == "any" || ["tcp/", "udp/", "sctp/"].iter().any(|p| s.starts_with(p))
}

/// `seg reach` for people.
pub fn human(r: &ReachReport) -> String {
    let mut s = String::new();
    let within = match r.hops_limit {
        Some(h) => format!(" within {}", plural(h as usize, "hop", "hops")),
        None => String::new(),
    };
    let _ = writeln!(
        s,
        "{} reaches {}{}{}",
        r.from,
        plural(r.reached, "identity", "identities"),
        within,
        if r.reached > 0 {
            format!(" (deepest: hop {})", r.deepest)
        } else {
            String::new()
        }
    );
    if let Some(t) = &r.target {
        let _ = write!(s, "policy as `{}` enforces it", t.target);
        if !t.layered.is_empty() {
            let _ = write!(
                s,
                "; layered, counted as satisfied: {}",
                t.layered.join(", ")
            );
        }
        if !t.fail_closed.is_empty() {
            let _ = write!(
                s,
                "; not enforced there, failed closed: {}",
                t.fail_closed.join(", ")
            );
        }
        s.push('\n');
    }
    let _ = writeln!(s, "assumes: {}", r.assumptions);
    for h in &r.hops {
        let _ = writeln!(
            s,
            "\nhop {} — {}",
            h.hop,
            plural(h.count, "identity", "identities")
        );
        for g in &h.groups {
            let _ = writeln!(s, "  {}", g.identities.join(", "));
            let group = if g.identities.len() == 1 {
                g.identities[0].clone()
            } else {
                "each of them".to_string()
            };
            for step in &g.path {
                let _ = writeln!(s, "      {}", step_line(step, &group));
            }
        }
    }
    s
}

/// Every shortest path between two identities.
#[derive(Clone, Debug, Serialize)]
pub struct PathsReport {
    pub from: String,
    pub to: String,
    pub assumptions: String,
    pub target: Option<TargetNote>,
    /// `None`: not reachable (within the limit).
    pub hop: Option<u32>,
    pub paths: Vec<PathReport>,
    /// More shortest paths exist than are listed.
    pub truncated: bool,
    /// Identity-level shortest paths the listed ones stand for.
    pub count: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct PathReport {
    pub steps: Vec<StepReport>,
    /// Per intermediate identity of `steps`, every identity the path may go
    /// through there instead (all of them alike).
    pub through: Vec<Vec<String>>,
}

pub fn paths_report(
    d: &Describe,
    a: &Analysis,
    s: &Search,
    from: String,
    to: IdentityId,
    target: Option<TargetNote>,
    cap: usize,
) -> PathsReport {
    let all = s.all_paths(to, cap);
    let (hop, paths, truncated) = match all {
        Some(all) => (Some(all.hop), all.paths, all.truncated),
        None => (None, Vec::new(), false),
    };
    let count = paths
        .iter()
        .map(|(_, through)| through.iter().map(|m| m.len() as u64).product::<u64>())
        .sum();
    PathsReport {
        from,
        to: d.name(to),
        assumptions: a.model.describe(d.program),
        target,
        hop,
        paths: paths
            .iter()
            .map(|(p, through)| PathReport {
                steps: d.path(p, false),
                through: through
                    .iter()
                    .map(|m| m.iter().map(|id| d.name(*id)).collect())
                    .collect(),
            })
            .collect(),
        truncated,
        count,
    }
}

pub fn paths_human(r: &PathsReport) -> String {
    let mut s = String::new();
    let Some(hop) = r.hop else {
        let _ = writeln!(s, "{} does not reach {}", r.from, r.to);
        let _ = writeln!(s, "assumes: {}", r.assumptions);
        return s;
    };
    let _ = writeln!(
        s,
        "{} reaches {} in {}, by {}{}",
        r.from,
        r.to,
        plural(hop as usize, "hop", "hops"),
        plural(r.count as usize, "shortest path", "shortest paths"),
        if r.truncated {
            " (listing stopped early)"
        } else {
            ""
        }
    );
    if let Some(t) = &r.target {
        let _ = writeln!(s, "policy as `{}` enforces it", t.target);
    }
    let _ = writeln!(s, "assumes: {}", r.assumptions);
    for (i, p) in r.paths.iter().enumerate() {
        let _ = writeln!(s, "\npath {}:", i + 1);
        for step in &p.steps {
            let _ = writeln!(s, "  {}", step_line(step, ""));
        }
        for (k, through) in p.through.iter().enumerate() {
            if through.len() > 1 {
                let _ = writeln!(
                    s,
                    "  (hop {} may go through any of: {})",
                    k + 1,
                    through.join(", ")
                );
            }
        }
    }
    s
}

/// Identities a report mentions, for tests.
pub fn mentioned(r: &ReachReport) -> BTreeSet<String> {
    r.hops
        .iter()
        .flat_map(|h| h.groups.iter().flat_map(|g| g.identities.iter().cloned()))
        .collect()
}
