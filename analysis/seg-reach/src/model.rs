//! The attacker model: what an attacker who owns a workload can make its
//! connections look like, and the finite sets of contexts that decide it.
//!
//! An attacker holding an identity opens connections as that identity and
//! chooses everything the workload itself controls: whether mTLS is presented
//! (they hold its certificate), the request's method and path, and the values
//! of declared `context` inputs (or none). Time is theirs too unless `--at`
//! fixes it: without an instant, a window is taken as open at some time (the
//! attacker waits) while expiry is evaluated at the build's `now`.
//!
//! A flow is *reachable* when some such context makes the reference evaluator
//! allow it. Deciding that over infinitely many contexts is done over a finite
//! set of **witnesses** per group of rules: every value the conditions compare
//! with, a value none of them mentions, and absence, per field; for time, one
//! instant per stretch of the week on which every window and day range of the
//! group is constant. Atoms of different fields are independent, so the
//! product of the fields' witnesses meets every combination of atom values a
//! real context can give — except for `matches` patterns, where a string
//! matching two patterns at once is searched among the patterns' own
//! instantiations and their pairwise merges (see [`string_witnesses`]).

use seg_ir::eval::{glob, holds};
use seg_ir::{
    Atom, Condition, ContextType, Flow, FlowEndpoint, IdentityId, IdentityKind, Program, Protocol,
    RequestField, Timestamp, Value, ValueTest,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The assumptions of one analysis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Model {
    /// Evaluate windows and expiry at this instant; `None`: windows open at
    /// some time, expiry at the program's `now`.
    pub at: Option<Timestamp>,
    /// Kinds whose compromise yields their identity, so that reach goes on
    /// from them. The compromised start is always used, whatever its kind.
    pub pivot: BTreeSet<IdentityKind>,
}

impl Model {
    /// Kinds pivoted through by default: everything but `api_key` (a key is
    /// a credential, not a workload an attacker can land on).
    pub fn default_pivot() -> BTreeSet<IdentityKind> {
        IdentityKind::ALL
            .into_iter()
            .filter(|k| *k != IdentityKind::ApiKey)
            .collect()
    }

    pub fn new(at: Option<Timestamp>) -> Model {
        Model {
            at,
            pivot: Model::default_pivot(),
        }
    }

    /// The instant expiry is evaluated at.
    pub fn expiry_at(&self, program: &Program) -> Timestamp {
        self.at.unwrap_or(program.now)
    }

    /// One paragraph for people, saying what the figures assume.
    pub fn describe(&self, program: &Program) -> String {
        let time = match self.at {
            Some(t) => format!("time windows and expiry are evaluated at {t}"),
            None => format!(
                "time windows are taken as open at some time (the attacker waits); expiry is evaluated at {}",
                program.now
            ),
        };
        let kinds: Vec<&str> = self.pivot.iter().map(|k| k.as_str()).collect();
        let pivot = if kinds.is_empty() {
            "no identity is pivoted through (one hop only)".to_string()
        } else {
            format!(
                "a reached identity of kind {} is taken over and used in turn",
                kinds.join(", ")
            )
        };
        format!(
            "the attacker owns the workload: mTLS, request method and path and context inputs are theirs to choose; {time}; {pivot}"
        )
    }
}

/// Values a witness gives one field.
#[derive(Clone, Debug, Default)]
struct Fields {
    times: Vec<Timestamp>,
    mtls: Vec<bool>,
    methods: Vec<Option<String>>,
    paths: Vec<Option<String>>,
    contexts: Vec<(String, Vec<Option<Value>>)>,
}

/// Monday 1970-01-05 00:00:00Z: the week witness instants are taken from
/// (only the weekday and the second of the day matter to a condition).
const MONDAY: i64 = 4 * 86_400;

/// Every atom of a condition.
pub fn atoms(c: &Condition, out: &mut Vec<Atom>) {
    match c {
        Condition::And(cs) | Condition::Or(cs) => cs.iter().for_each(|c| atoms(c, out)),
        Condition::Not(c) => atoms(c, out),
        Condition::Atom(a) => {
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
        Condition::True | Condition::False => {}
    }
}

/// The contexts that decide every combination of the given conditions.
pub struct Witnesses {
    fields: Fields,
}

impl Witnesses {
    /// Witnesses for these conditions under `model` (see the module docs).
    pub fn new<'c>(
        program: &Program,
        model: &Model,
        conditions: impl IntoIterator<Item = &'c Condition>,
    ) -> Witnesses {
        let mut all = Vec::new();
        for c in conditions {
            atoms(c, &mut all);
        }
        let mut f = Fields {
            mtls: vec![false],
            methods: vec![None],
            paths: vec![None],
            ..Fields::default()
        };
        let mut minutes: BTreeSet<u16> = BTreeSet::new();
        let mut timed = false;
        let mut method_tests = Vec::new();
        let mut path_tests = Vec::new();
        let mut context_tests: BTreeMap<&str, Vec<&ValueTest>> = BTreeMap::new();
        for a in &all {
            match a {
                Atom::Time { start, end } => {
                    timed = true;
                    minutes.insert(start.0 % 1440);
                    minutes.insert(end.0 % 1440);
                }
                Atom::Days { .. } => timed = true,
                Atom::Mtls => f.mtls = vec![false, true],
                Atom::Request { field, test } => match field {
                    RequestField::Method => method_tests.push(test),
                    RequestField::Path => path_tests.push(test),
                },
                Atom::Context { name, test } => context_tests.entry(name).or_default().push(test),
            }
        }
        f.times = match model.at {
            Some(t) => vec![t],
            None if timed => {
                minutes.insert(0);
                (0..7)
                    .flat_map(|d| {
                        minutes
                            .iter()
                            .map(move |m| Timestamp(MONDAY + d * 86_400 + i64::from(*m) * 60))
                    })
                    .collect()
            }
            None => vec![program.now],
        };
        if !method_tests.is_empty() {
            f.methods = string_witnesses(&method_tests);
        }
        if !path_tests.is_empty() {
            f.paths = string_witnesses(&path_tests);
        }
        for (name, tests) in context_tests {
            let values = context_witnesses(program.contexts.get(name), &tests);
            f.contexts.push((name.to_string(), values));
        }
        Witnesses { fields: f }
    }

    /// How many contexts [`Witnesses::each`] visits.
    pub fn len(&self) -> usize {
        let f = &self.fields;
        f.contexts.iter().fold(
            f.times.len() * f.mtls.len() * f.methods.len() * f.paths.len(),
            |n, (_, v)| n.saturating_mul(v.len()),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Call `visit` with a flow for every witness context until it returns
    /// `true`; whether one did.
    pub fn any(&self, mut visit: impl FnMut(&Flow) -> bool) -> bool {
        let f = &self.fields;
        let mut flow = Flow {
            src: FlowEndpoint::Identity(IdentityId(0)),
            dst: FlowEndpoint::Identity(IdentityId(0)),
            protocol: Protocol::Tcp,
            port: 0,
            at: Timestamp(0),
            mtls: false,
            method: None,
            path: None,
            context: BTreeMap::new(),
        };
        let mut idx = vec![0usize; f.contexts.len()];
        for &at in &f.times {
            flow.at = at;
            for &mtls in &f.mtls {
                flow.mtls = mtls;
                for method in &f.methods {
                    flow.method.clone_from(method);
                    for path in &f.paths {
                        flow.path.clone_from(path);
                        // Odometer over the context inputs.
                        idx.iter_mut().for_each(|i| *i = 0);
                        loop {
                            flow.context.clear();
                            for (k, (name, values)) in f.contexts.iter().enumerate() {
                                if let Some(Some(v)) = values.get(idx[k]) {
                                    flow.context.insert(name.clone(), v.clone());
                                }
                            }
                            if visit(&flow) {
                                return true;
                            }
                            let mut k = 0;
                            loop {
                                if k == idx.len() {
                                    break;
                                }
                                idx[k] += 1;
                                if idx[k] < f.contexts[k].1.len() {
                                    break;
                                }
                                idx[k] = 0;
                                k += 1;
                            }
                            if k == idx.len() {
                                break;
                            }
                        }
                    }
                }
            }
        }
        false
    }
}

/// Whether some context the attacker can give makes `condition` hold.
pub fn satisfiable(program: &Program, model: &Model, condition: &Condition) -> bool {
    match condition {
        Condition::True => true,
        Condition::False => false,
        c => Witnesses::new(program, model, [c]).any(|flow| holds(c, flow)),
    }
}

/// A character that none of the strings uses, to build values no test mentions.
fn fresh_char(used: &[&str]) -> char {
    ['~', '#', '%', '^', '\u{a7}', '\u{b6}', '\u{2400}']
        .into_iter()
        .find(|c| !used.iter().any(|s| s.contains(*c)))
        .unwrap_or('\u{10ffff}')
}

/// Witness values of a string field: absent, every value an `in` test
/// mentions, each `matches` pattern with its stars empty and with a fresh
/// character, every pairwise merge of two patterns that matches both, and a
/// fresh value. The equivalence classes of values under `in`/`has` tests are
/// the mentioned values, "another value" and absence, so those are exact; for
/// patterns, a value that must match two or more at once is found when one of
/// the merges does (always so for patterns of the form `prefix*`, `*suffix`
/// and literals, which is what policies write).
pub fn string_witnesses(tests: &[&ValueTest]) -> Vec<Option<String>> {
    let mut literal: Vec<String> = Vec::new();
    let mut patterns: Vec<&str> = Vec::new();
    for t in tests {
        match t {
            ValueTest::In(vs) => literal.extend(vs.iter().filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })),
            ValueTest::Glob(p) => patterns.push(p),
            ValueTest::IsTrue | ValueTest::Present => {}
        }
    }
    let used: Vec<&str> = literal
        .iter()
        .map(String::as_str)
        .chain(patterns.iter().copied())
        .collect();
    let x = fresh_char(&used).to_string();
    let mut out: Vec<String> = literal.clone();
    for p in &patterns {
        out.push(p.replace('*', ""));
        out.push(p.replace('*', &x));
    }
    for (i, p) in patterns.iter().enumerate() {
        for q in &patterns[i + 1..] {
            let (lp, lq) = (p.replace('*', ""), q.replace('*', ""));
            for cand in [
                p.replacen('*', &lq, 1),
                q.replacen('*', &lp, 1),
                format!("{lp}{lq}"),
                format!("{lq}{lp}"),
                p.replace('*', &lq),
                q.replace('*', &lp),
            ] {
                if glob(p, &cand) && glob(q, &cand) {
                    out.push(cand);
                }
            }
        }
    }
    out.push(format!("{x}seg-reach{x}"));
    let mut seen = BTreeSet::new();
    let mut values: Vec<Option<String>> = vec![None];
    values.extend(out.into_iter().filter(|s| seen.insert(s.clone())).map(Some));
    values
}

/// Witness values of a context input of type `ty` under these tests.
fn context_witnesses(ty: Option<&ContextType>, tests: &[&ValueTest]) -> Vec<Option<Value>> {
    let mut out: Vec<Value> = Vec::new();
    for t in tests {
        if let ValueTest::In(vs) = t {
            out.extend(vs.iter().cloned());
        }
        if let ValueTest::IsTrue = t {
            out.push(Value::Bool(true));
        }
    }
    match ty {
        Some(ContextType::Bool) => out.extend([Value::Bool(true), Value::Bool(false)]),
        Some(ContextType::Int) => {
            let max = out
                .iter()
                .filter_map(|v| match v {
                    Value::Int(i) => Some(*i),
                    _ => None,
                })
                .max()
                .unwrap_or(0);
            out.push(Value::Int(max.saturating_add(1)));
        }
        Some(ContextType::Enum(values)) => {
            out.extend(values.iter().map(|v| Value::String(v.clone())));
        }
        Some(ContextType::String) | None => {
            let strings: Vec<&ValueTest> = tests.to_vec();
            out.extend(
                string_witnesses(&strings)
                    .into_iter()
                    .flatten()
                    .map(Value::String),
            );
        }
    }
    let mut seen = BTreeSet::new();
    let mut values: Vec<Option<Value>> = vec![None];
    values.extend(out.into_iter().filter(|v| seen.insert(v.clone())).map(Some));
    values
}

/// A condition as written in a policy: `mtls and time 01:00..03:00`.
pub fn condition_text(c: &Condition) -> String {
    fn go(c: &Condition, top: bool) -> String {
        let wrap = |s: String| if top { s } else { format!("({s})") };
        match c {
            Condition::True => "true".into(),
            Condition::False => "false".into(),
            Condition::And(cs) => wrap(
                cs.iter()
                    .map(|c| go(c, false))
                    .collect::<Vec<_>>()
                    .join(" and "),
            ),
            Condition::Or(cs) => wrap(
                cs.iter()
                    .map(|c| go(c, false))
                    .collect::<Vec<_>>()
                    .join(" or "),
            ),
            Condition::Not(c) => format!("not {}", go(c, false)),
            Condition::Atom(a) => atom_text(a),
        }
    }
    go(c, true)
}

fn atom_text(a: &Atom) -> String {
    fn value(v: &Value) -> String {
        match v {
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::String(s) => format!("{s:?}"),
        }
    }
    fn test(subject: &str, t: &ValueTest) -> String {
        match t {
            ValueTest::In(vs) if vs.len() == 1 => format!("{subject} == {}", value(&vs[0])),
            ValueTest::In(vs) => format!(
                "{subject} in [{}]",
                vs.iter().map(value).collect::<Vec<_>>().join(", ")
            ),
            ValueTest::Glob(p) => format!("{subject} matches {p:?}"),
            ValueTest::IsTrue => subject.to_string(),
            ValueTest::Present => format!("has({subject})"),
        }
    }
    match a {
        Atom::Time { start, end } => format!("time {start}..{end} utc"),
        Atom::Days { mask } => {
            let days: Vec<&str> = (0..7u8)
                .filter(|d| mask & (1 << d) != 0)
                .map(|d| seg_ir::Weekday(d).name())
                .collect();
            format!("days {}", days.join(", "))
        }
        Atom::Mtls => "mtls".into(),
        Atom::Request { field, test: t } => {
            let subject = match field {
                RequestField::Method => "request.method",
                RequestField::Path => "request.path",
            };
            test(subject, t)
        }
        Atom::Context { name, test: t } => test(&format!("context.{name}"), t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_witnesses_cover_literals_patterns_and_merges() {
        let a = ValueTest::Glob("/api/*".into());
        let b = ValueTest::Glob("*/v1".into());
        let c = ValueTest::In(vec![Value::String("/admin".into())]);
        let w = string_witnesses(&[&a, &b, &c]);
        assert_eq!(w[0], None);
        let has = |p: &str| w.iter().flatten().any(|s| s == p);
        assert!(has("/admin"));
        assert!(has("/api/"));
        assert!(
            w.iter()
                .flatten()
                .any(|s| glob("/api/*", s) && glob("*/v1", s))
        );
        assert!(
            w.iter()
                .flatten()
                .any(|s| !glob("/api/*", s) && !glob("*/v1", s) && s != "/admin")
        );
    }

    #[test]
    fn conditions_render_as_written() {
        let c = Condition::And(vec![
            Condition::Atom(Atom::Mtls),
            Condition::Not(Box::new(Condition::Atom(Atom::Days { mask: 0b110_0000 }))),
        ]);
        assert_eq!(condition_text(&c), "mtls and not days sat, sun");
    }
}
