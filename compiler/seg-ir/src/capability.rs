//! The one shared fail-closed pass: makes a program fit what one target can
//! enforce, before that target's `emit` runs.
//!
//! Input: a checked [`Program`], the target ([`Backend`]) and the condition
//! classes `seg.toml [enforcement] layered` declares. Output: a [`Prepared`]
//! program for that target and the list of every approximation made, with
//! W04xx/E0401 diagnostics.
//!
//! Per rule, with its condition in negation normal form:
//! - a literal (an atom or a negated atom) of a class the target enforces is kept;
//! - else, if the class is layered and the target honours layered classes, the
//!   literal becomes `True` (W0404, both actions);
//! - else it becomes `False` in an `allow` and `True` in a `deny` (fail closed).
//!
//! After simplification an allow that became `False` is left out (W0401), an
//! allow whose condition got narrower is W0402, a deny whose condition got
//! broader is W0403. On a target without native deny every deny is made
//! unconditional (so the grant computation of [`crate::grants`] can carve it).
//! Identities the target cannot represent are an error (E0401) when a rule
//! names them explicitly, else they are left out of the rule's sets. On a
//! target without a clock, every emitted rule that expires is listed as kept
//! until rebuilt ([`Prepared::until_rebuilt`], [`Prepared::rebuild_by`]).
//!
//! A program the pass leaves as it is (every rule kept unchanged) is borrowed,
//! not copied: targets that run side by side then share it.
//!
//! Invariants of the output: `rules[i].id == RuleId(i)`; every condition is in
//! simplified NNF and holds only atoms the target enforces; the output never
//! allows a flow that the input denies, with layered literals counted as
//! satisfied (see docs/semantics.md, "Verification reference").

use crate::backend::{Backend, Capabilities};
use crate::net::CidrSet;
use crate::program::{
    Action, Atom, Condition, ConditionClass, EndpointSet, IdentityId, Program, Rule, RuleId,
};
use crate::time::{Expiry, Timestamp};
use seg_diag::{Code, Diagnostic, Diagnostics};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// A program fitted to one target.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared<'p> {
    /// The checked program itself when the pass changed nothing.
    pub program: Cow<'p, Program>,
    pub approximations: Vec<Approximation>,
    /// On a target without a clock ([`Capabilities::clock`]): every emitted
    /// rule that expires, in program order. Each stays in force on the
    /// target after it expires, until the output is rebuilt and applied.
    pub until_rebuilt: Vec<KeptRule>,
}

impl Prepared<'_> {
    /// The instant by which this target's output must be rebuilt and
    /// applied: the earliest expiry among [`Prepared::until_rebuilt`].
    pub fn rebuild_by(&self) -> Option<Timestamp> {
        self.until_rebuilt.iter().map(|k| k.expires.end()).min()
    }
}

/// An emitted rule that a target without a clock keeps after it expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeptRule {
    /// The rule's label (`grant-ops-1234/1`).
    pub rule: String,
    /// `file:line` of the rule.
    pub location: String,
    pub action: Action,
    /// As written: a date (live through that UTC day) or an instant.
    pub expires: Expiry,
}

/// One fail-closed choice or declared relaxation, for the build report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Approximation {
    pub target: String,
    /// The rule's label (`ledger-access/2`).
    pub rule: String,
    /// `file:line` of the rule.
    pub location: String,
    pub kind: ApproximationKind,
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApproximationKind {
    /// An allow left out: its condition cannot hold on the target (W0401).
    Omitted,
    /// An allow emitted with a narrower condition (W0402).
    Narrowed,
    /// A deny emitted with a broader condition, often unconditionally (W0403).
    DenyWidened,
    /// A layered condition assumed satisfied (W0404).
    Layered,
    /// Identities the target cannot represent, left out of a rule's sets.
    IdentityDropped,
}

impl Approximation {
    /// `rule`'s approximation on `target`, for the build report.
    pub fn of(
        target: &str,
        rule: &Rule,
        kind: ApproximationKind,
        reason: impl Into<String>,
    ) -> Self {
        Approximation {
            target: target.to_string(),
            rule: rule.provenance.label.clone(),
            location: rule.provenance.location(),
            kind,
            reason: reason.into(),
        }
    }
}

impl ApproximationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ApproximationKind::Omitted => "omitted",
            ApproximationKind::Narrowed => "narrowed",
            ApproximationKind::DenyWidened => "deny_widened",
            ApproximationKind::Layered => "layered",
            ApproximationKind::IdentityDropped => "identity_dropped",
        }
    }
}

/// Fit `program` to `backend` (see the module docs).
pub fn prepare<'p>(
    program: &'p Program,
    backend: &dyn Backend,
    layered: &[ConditionClass],
    diags: &mut Diagnostics,
) -> Prepared<'p> {
    let target = backend.name();
    let caps = backend.capabilities();
    if !program.identities.iter().any(|i| backend.manages(i)) {
        diags.push(nothing_managed(target));
    }
    let representable: Vec<Result<(), String>> = program
        .identities
        .iter()
        .map(|i| backend.representable(i))
        .collect();
    let mut pass = Pass {
        program,
        target,
        caps,
        layered,
        representable,
        approximations: Vec::new(),
        diags,
    };
    // Per rule kept: its place in `program` and, when the pass changed it,
    // the changed rule (most rules pass as they are, and are not copied).
    let mut fitted: Vec<(usize, Option<Box<Rule>>)> = Vec::new();
    for (i, rule) in program.rules.iter().enumerate() {
        if let Some(kept) = pass.rule(rule) {
            fitted.push((i, kept.map(Box::new)));
        }
    }
    let approximations = pass.approximations;
    let same = fitted.len() == program.rules.len()
        && fitted
            .iter()
            .all(|(i, changed)| changed.is_none() && program.rules[*i].id == RuleId(*i as u32));
    let program = if same {
        Cow::Borrowed(program)
    } else {
        Cow::Owned(fitted_program(program, fitted))
    };
    let until_rebuilt = if caps.clock {
        Vec::new()
    } else {
        program
            .rules
            .iter()
            .filter_map(|r| {
                Some(KeptRule {
                    rule: r.provenance.label.clone(),
                    location: r.provenance.location(),
                    action: r.action,
                    expires: r.expires?,
                })
            })
            .collect()
    };
    Prepared {
        program,
        approximations,
        until_rebuilt,
    }
}

/// `program` with only the `fitted` rules, each the changed rule or a copy
/// of the original, numbered in order.
fn fitted_program(program: &Program, fitted: Vec<(usize, Option<Box<Rule>>)>) -> Program {
    let rules = fitted
        .into_iter()
        .enumerate()
        .map(|(id, (i, changed))| {
            let mut rule = changed.map_or_else(|| program.rules[i].clone(), |r| *r);
            rule.id = RuleId(id as u32);
            rule
        })
        .collect();
    // Field by field rather than `..program.clone()`, which would clone
    // every rule only to drop the clones (half of this pass's time).
    let Program {
        project,
        source_hash,
        now,
        identities,
        rules: _,
        omitted,
        contexts,
        tests,
    } = program;
    Program {
        project: project.clone(),
        source_hash: source_hash.clone(),
        now: *now,
        identities: identities.clone(),
        rules,
        omitted: omitted.clone(),
        contexts: contexts.clone(),
        tests: tests.clone(),
    }
}

struct Pass<'a> {
    program: &'a Program,
    target: &'static str,
    caps: Capabilities,
    layered: &'a [ConditionClass],
    representable: Vec<Result<(), String>>,
    approximations: Vec<Approximation>,
    diags: &'a mut Diagnostics,
}

impl Pass<'_> {
    fn approximate(&mut self, rule: &Rule, kind: ApproximationKind, reason: String) {
        self.approximations
            .push(Approximation::of(self.target, rule, kind, reason));
    }

    /// The rule as emitted on this target: `Some(None)` when that is the
    /// rule as it is, `None` when it is left out.
    fn rule(&mut self, rule: &Rule) -> Option<Option<Rule>> {
        let original = simplify(nnf(&rule.condition));
        if original == Condition::False {
            // Matches nothing anywhere: leaving it out changes no decision.
            return None;
        }
        let (caps, layered) = (self.caps, self.layered);
        let mut relaxed = BTreeSet::new();
        let reference = simplify(substitute(&original, &mut |atom: &Atom| {
            let class = atom.class();
            if caps.supports(class) || !(caps.honours_layered && layered.contains(&class)) {
                return None;
            }
            relaxed.insert(class);
            Some(Condition::True)
        }));
        let mut failed = BTreeSet::new();
        let fail_to = if rule.action == Action::Allow {
            Condition::False
        } else {
            Condition::True
        };
        let mut condition = simplify(substitute(&reference, &mut |atom: &Atom| {
            if caps.supports(atom.class()) {
                return None;
            }
            failed.insert(atom.class());
            Some(fail_to.clone())
        }));
        let mut widened = None;
        let narrowed = match rule.action {
            Action::Allow if condition == Condition::False => {
                self.omitted(rule, &failed);
                return None;
            }
            Action::Allow => !equivalent(&reference, &condition),
            Action::Deny => {
                let no_deny = !self.caps.deny && condition != Condition::True;
                if no_deny {
                    condition = Condition::True;
                }
                if !equivalent(&reference, &condition) {
                    widened = Some((no_deny, condition == Condition::True));
                }
                false
            }
        };
        let mut dropped = BTreeSet::new();
        let src = self.restrict(rule, &rule.src, &mut dropped);
        let dst = self.restrict(rule, &rule.dst, &mut dropped);
        let empty = |s: &EndpointSet| s.identities.is_empty() && s.networks.is_empty();
        let matches_nothing = empty(src.as_ref().unwrap_or(&rule.src))
            || empty(dst.as_ref().unwrap_or(&rule.dst))
            || rule.services.is_empty();
        if !dropped.is_empty() {
            self.dropped(rule, &dropped, matches_nothing);
        }
        if matches_nothing {
            return None;
        }
        if narrowed {
            self.narrowed(rule, &failed);
        }
        if let Some((no_deny, always)) = widened {
            self.widened(rule, &failed, no_deny, always);
        }
        for class in relaxed {
            self.relaxed(rule, class);
        }
        if src.is_none() && dst.is_none() && condition == rule.condition {
            return Some(None);
        }
        let mut kept = rule.clone();
        kept.condition = condition;
        kept.src = src.unwrap_or(kept.src);
        kept.dst = dst.unwrap_or(kept.dst);
        Some(Some(kept))
    }

    /// `set` without the identities the target cannot represent, `None` when
    /// it has none; report E0401 for those the rule names explicitly (they
    /// are left out too, so the output stays fail closed even though the
    /// build fails).
    fn restrict(
        &mut self,
        rule: &Rule,
        set: &EndpointSet,
        dropped: &mut BTreeSet<IdentityId>,
    ) -> Option<EndpointSet> {
        let mut gone = Vec::new();
        for &id in &set.identities {
            let Some(Err(missing)) = self.representable.get(id.0 as usize) else {
                continue;
            };
            if set.explicit.contains(&id) {
                let d = unrepresentable(self.program, rule, id, self.target, missing);
                if !self.diags.iter().any(|x| *x == d) {
                    self.diags.push(d);
                }
            } else {
                dropped.insert(id);
            }
            gone.push(id);
        }
        if gone.is_empty() {
            return None;
        }
        let mut set = set.clone();
        for id in &gone {
            set.identities.remove(id);
            set.explicit.remove(id);
        }
        if rule.action == Action::Deny {
            // A deny must keep covering the dropped identities' addresses, so
            // that address flows it denied stay denied (fail closed).
            let addrs = CidrSet::from_nets(
                gone.iter()
                    .flat_map(|id| &self.program.identity(*id).addresses),
            );
            if !addrs.is_empty() {
                set.networks = set.networks.union(&addrs);
                for identity in &self.program.identities {
                    let ok = matches!(self.representable.get(identity.id.0 as usize), Some(Ok(())));
                    if ok && CidrSet::from_nets(&identity.addresses).overlaps(&addrs) {
                        set.identities.insert(identity.id);
                    }
                }
            }
        }
        Some(set)
    }

    fn omitted(&mut self, rule: &Rule, failed: &BTreeSet<ConditionClass>) {
        let (t, classes) = (self.target, list(failed));
        self.diags.push(
            Diagnostic::warning(Code::RuleOmitted, format!("rule omitted on `{t}`: cannot enforce {classes}"))
                .with_primary(rule.provenance.origin, format!("omitted on `{t}`"))
                .with_note(format!(
                    "`{t}` cannot enforce {classes}; an `allow` whose condition a target cannot enforce \
                     is left out there (fail closed), so `{t}` denies this traffic"
                ))
                .with_help(layered_help(failed, t)),
        );
        self.approximate(
            rule,
            ApproximationKind::Omitted,
            format!("`{t}` cannot enforce {classes}"),
        );
    }

    fn narrowed(&mut self, rule: &Rule, failed: &BTreeSet<ConditionClass>) {
        let (t, classes) = (self.target, list(failed));
        self.diags.push(
            Diagnostic::warning(
                Code::RuleNarrowed,
                format!("rule narrowed on `{t}`: cannot enforce {classes}"),
            )
            .with_primary(rule.provenance.origin, format!("narrowed on `{t}`"))
            .with_note(format!(
                "the parts of the condition that need {classes} never hold on `{t}` (fail closed), \
                     so the rule allows only what the rest of its condition allows"
            ))
            .with_help(layered_help(failed, t)),
        );
        let reason =
            format!("`{t}` cannot enforce {classes}: the alternatives that need it are left out");
        self.approximate(rule, ApproximationKind::Narrowed, reason);
    }

    fn widened(
        &mut self,
        rule: &Rule,
        failed: &BTreeSet<ConditionClass>,
        no_deny: bool,
        always: bool,
    ) {
        let t = self.target;
        let why = match (failed.is_empty(), no_deny) {
            (false, false) => format!("cannot enforce {}", list(failed)),
            (false, true) => format!("cannot enforce {} and has no deny rules", list(failed)),
            (true, _) => "has no deny rules to hold a condition".to_string(),
        };
        let scope = if always {
            "unconditionally"
        } else {
            "with a broader condition"
        };
        self.diags.push(
            Diagnostic::warning(Code::DenyWidened, format!("deny applied {scope} on `{t}`: {why}"))
                .with_primary(rule.provenance.origin, format!("widened on `{t}`"))
                .with_note(format!(
                    "a `deny` whose condition a target cannot enforce applies as if that part held \
                     (fail closed), so `{t}` denies more than the policy says"
                ))
                .with_help(format!(
                    "narrow the deny's sources, destinations or services if `{t}` should not block this traffic"
                )),
        );
        self.approximate(
            rule,
            ApproximationKind::DenyWidened,
            format!("`{t}` {why}: the deny applies {scope}"),
        );
    }

    fn relaxed(&mut self, rule: &Rule, class: ConditionClass) {
        let (t, c) = (self.target, class.as_str());
        self.diags.push(
            Diagnostic::warning(
                Code::LayeredRelaxation,
                format!("`{c}` assumed enforced by another layer on `{t}`"),
            )
            .with_primary(rule.provenance.origin, format!("`{c}` relaxed on `{t}`"))
            .with_note(format!(
                "seg.toml `[enforcement] layered` lists `{c}`: `{t}` treats that part of the \
                     condition as satisfied"
            ))
            .with_help(format!(
                "make sure an application layer (the `opa` target) enforces `{c}` for this traffic"
            )),
        );
        let reason = format!("`{c}` is declared layered: `{t}` treats it as satisfied");
        self.approximate(rule, ApproximationKind::Layered, reason);
    }

    fn dropped(&mut self, rule: &Rule, dropped: &BTreeSet<IdentityId>, matches_nothing: bool) {
        const SHOWN: usize = 5;
        let t = self.target;
        let mut parts: Vec<String> = dropped
            .iter()
            .take(SHOWN)
            .map(|id| {
                let missing = match self.representable.get(id.0 as usize) {
                    Some(Err(m)) => m.as_str(),
                    _ => "not representable",
                };
                format!("`{}` ({missing})", self.program.identity(*id).name)
            })
            .collect();
        if dropped.len() > SHOWN {
            parts.push(format!("and {} more", dropped.len() - SHOWN));
        }
        let mut reason = format!("not representable on `{t}`, left out: {}", parts.join(", "));
        if matches_nothing {
            reason.push_str(&format!(
                "; the rule matches nothing on `{t}` and is left out"
            ));
        }
        self.approximate(rule, ApproximationKind::IdentityDropped, reason);
    }
}

fn list(classes: &BTreeSet<ConditionClass>) -> String {
    classes
        .iter()
        .map(|c| format!("`{}`", c.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn layered_help(failed: &BTreeSet<ConditionClass>, target: &str) -> String {
    let classes = list(failed);
    format!(
        "add {classes} to `[enforcement] layered` in seg.toml if an application layer enforces it, \
         or accept that `{target}` denies this traffic"
    )
}

fn nothing_managed(target: &str) -> Diagnostic {
    Diagnostic::warning(Code::NothingManaged, format!("`{target}` manages no identity of this project"))
        .with_note(format!("a target enforces rules only on the identities it manages; `{target}` writes no rules"))
        .with_help(format!(
            "add the bindings `{target}` needs to the inventory, or remove `[targets.{target}]` from seg.toml"
        ))
}

fn unrepresentable(
    program: &Program,
    rule: &Rule,
    id: IdentityId,
    target: &str,
    missing: &str,
) -> Diagnostic {
    let identity = program.identity(id);
    let name = &identity.name;
    Diagnostic::error(
        Code::UnrepresentableIdentity,
        format!("`{name}` cannot be represented on `{target}`"),
    )
    .with_primary(rule.provenance.origin, format!("names `{name}`"))
    .with_secondary(identity.origin, format!("`{name}` declared here"))
    .with_note(format!(
        "`{name}` has {missing}, so `{target}` has no way to refer to it"
    ))
    .with_help(format!(
        "add what is missing to `{name}` in the inventory, or remove `{name}` from this rule"
    ))
}

// ---- conditions -----------------------------------------------------------

/// The condition in negation normal form: `Not` only directly around atoms.
pub fn nnf(condition: &Condition) -> Condition {
    fn go(c: &Condition, negate: bool) -> Condition {
        match (c, negate) {
            (Condition::True, false) | (Condition::False, true) => Condition::True,
            (Condition::True, true) | (Condition::False, false) => Condition::False,
            (Condition::And(cs), false) | (Condition::Or(cs), true) => {
                Condition::And(cs.iter().map(|c| go(c, negate)).collect())
            }
            (Condition::Or(cs), false) | (Condition::And(cs), true) => {
                Condition::Or(cs.iter().map(|c| go(c, negate)).collect())
            }
            (Condition::Not(c), _) => go(c, !negate),
            (Condition::Atom(a), false) => Condition::Atom(a.clone()),
            (Condition::Atom(a), true) => Condition::Not(Box::new(Condition::Atom(a.clone()))),
        }
    }
    go(condition, false)
}

/// Replace literals of an NNF condition: `f` gets the literal's atom (for a
/// negated atom too) and returns the replacement, or `None` to keep it.
pub fn substitute(
    condition: &Condition,
    f: &mut dyn FnMut(&Atom) -> Option<Condition>,
) -> Condition {
    match condition {
        Condition::And(cs) => Condition::And(cs.iter().map(|c| substitute(c, f)).collect()),
        Condition::Or(cs) => Condition::Or(cs.iter().map(|c| substitute(c, f)).collect()),
        Condition::Atom(a) => f(a).unwrap_or_else(|| condition.clone()),
        Condition::Not(inner) => match inner.as_ref() {
            Condition::Atom(a) => f(a).unwrap_or_else(|| condition.clone()),
            other => Condition::Not(Box::new(substitute(other, f))),
        },
        Condition::True | Condition::False => condition.clone(),
    }
}

/// Fold constants, flatten nested `and`/`or`, drop duplicates and detect
/// `x and not x` / `x or not x`. Keeps the order of what remains.
pub fn simplify(condition: Condition) -> Condition {
    match condition {
        Condition::And(cs) => junction(cs, true),
        Condition::Or(cs) => junction(cs, false),
        Condition::Not(inner) => match simplify(*inner) {
            Condition::True => Condition::False,
            Condition::False => Condition::True,
            Condition::Not(x) => *x,
            x => Condition::Not(Box::new(x)),
        },
        other => other,
    }
}

fn junction(cs: Vec<Condition>, and: bool) -> Condition {
    let (unit, zero) = if and {
        (Condition::True, Condition::False)
    } else {
        (Condition::False, Condition::True)
    };
    let mut out: Vec<Condition> = Vec::new();
    let push = |c: Condition, out: &mut Vec<Condition>| {
        if !out.contains(&c) {
            out.push(c);
        }
    };
    for c in cs {
        match simplify(c) {
            c if c == unit => {}
            c if c == zero => return zero,
            Condition::And(inner) if and => inner.into_iter().for_each(|c| push(c, &mut out)),
            Condition::Or(inner) if !and => inner.into_iter().for_each(|c| push(c, &mut out)),
            c => push(c, &mut out),
        }
    }
    let complement = out.iter().any(|c| match c {
        Condition::Not(x) => out.contains(x),
        _ => false,
    });
    if complement {
        return zero;
    }
    match out.len() {
        0 => unit,
        1 => out.pop().unwrap_or(unit),
        _ if and => Condition::And(out),
        _ => Condition::Or(out),
    }
}

/// Whether two conditions agree for every assignment of their atoms, taken
/// as independent truth values. With more than 12 distinct atoms this falls
/// back to comparing the simplified trees (it may then say "different" for
/// equivalent conditions, never the reverse).
pub fn equivalent(a: &Condition, b: &Condition) -> bool {
    let mut atoms: Vec<&Atom> = Vec::new();
    collect_atoms(a, &mut atoms);
    collect_atoms(b, &mut atoms);
    if atoms.len() > 12 {
        return simplify(a.clone()) == simplify(b.clone());
    }
    (0u32..1 << atoms.len()).all(|bits| assign(a, &atoms, bits) == assign(b, &atoms, bits))
}

fn collect_atoms<'c>(c: &'c Condition, out: &mut Vec<&'c Atom>) {
    match c {
        Condition::And(cs) | Condition::Or(cs) => cs.iter().for_each(|c| collect_atoms(c, out)),
        Condition::Not(c) => collect_atoms(c, out),
        Condition::Atom(a) if !out.contains(&a) => out.push(a),
        _ => {}
    }
}

fn assign(c: &Condition, atoms: &[&Atom], bits: u32) -> bool {
    match c {
        Condition::True => true,
        Condition::False => false,
        Condition::And(cs) => cs.iter().all(|c| assign(c, atoms, bits)),
        Condition::Or(cs) => cs.iter().any(|c| assign(c, atoms, bits)),
        Condition::Not(c) => !assign(c, atoms, bits),
        Condition::Atom(a) => atoms
            .iter()
            .position(|x| *x == a)
            .is_some_and(|i| bits & (1 << i) != 0),
    }
}

/// A literal of a condition in disjunctive normal form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Literal {
    pub positive: bool,
    pub atom: Atom,
}

/// The condition as a disjunction of conjunctions of literals (for targets
/// that emit one rule per alternative). `True` is `[[]]`, `False` is `[]`.
pub fn disjuncts(condition: &Condition) -> Vec<Vec<Literal>> {
    fn go(c: &Condition) -> Vec<Vec<Literal>> {
        match c {
            Condition::True => vec![Vec::new()],
            Condition::False => Vec::new(),
            Condition::Atom(a) => vec![vec![Literal {
                positive: true,
                atom: a.clone(),
            }]],
            Condition::Not(inner) => match inner.as_ref() {
                Condition::Atom(a) => vec![vec![Literal {
                    positive: false,
                    atom: a.clone(),
                }]],
                other => go(&nnf(&Condition::Not(Box::new(other.clone())))),
            },
            Condition::Or(cs) => cs.iter().flat_map(go).collect(),
            Condition::And(cs) => cs.iter().fold(vec![Vec::new()], |acc, c| {
                let right = go(c);
                let mut out = Vec::new();
                for l in &acc {
                    for r in &right {
                        let mut conj = l.clone();
                        for lit in r {
                            if !conj.contains(lit) {
                                conj.push(lit.clone());
                            }
                        }
                        let contradiction = conj.iter().any(|x| {
                            conj.iter()
                                .any(|y| x.atom == y.atom && x.positive != y.positive)
                        });
                        if !contradiction && !out.contains(&conj) {
                            out.push(conj);
                        }
                    }
                }
                out
            }),
        }
    }
    go(&nnf(condition))
}
