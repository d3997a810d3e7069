//! The context of a flow — its instant, mTLS, request and declared inputs —
//! partitioned exactly for a set of rules, and decisions compared over it.
//!
//! The rules that match a flow's endpoints and port decide it through their
//! conditions and expiry alone ([`Guard`]s). Whether two lists of guards
//! decide alike at every context is answered by enumerating, per dimension,
//! one point of every class the atoms can tell apart:
//!
//! - **instant**, from `now` on (a diff or a review is about the policy from
//!   now on): the expiry days split time into segments; within a segment the
//!   points are the starts of the pieces between time-window edges and
//!   midnights, walked for at most eight days (a week meets every weekday and
//!   window), kept when their truth values differ;
//! - **mTLS**: false and true;
//! - **request method and path**, each: absent, and a string for every
//!   combination of its tests that some string meets ([`crate::strings`]);
//! - **each declared context input**: absent, and its values: both booleans,
//!   the integers its tests name and one more, a string per combination of
//!   its string tests, the values of an enum.
//!
//! Points are combined depth first, dimension by dimension, substituting the
//! atoms of a dimension by their truth values; a branch where the two
//! decisions have become the same formula is not explored further. The
//! answer is exact: two guard lists differ at some context from `now` on iff
//! [`compare`] says so, and the witness it returns is such a context.

use crate::strings::{self, Pattern};
use seg_ir::capability::{nnf, simplify};
use seg_ir::eval::atom_holds;
use seg_ir::{
    Action, Atom, Condition, ContextType, Expiry, Flow, FlowEndpoint, IdentityId, Protocol,
    RequestField, Timestamp, Value, ValueTest,
};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// What decides a flow once its endpoints and port match a rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Guard<'a> {
    pub action: Action,
    pub condition: &'a Condition,
    pub expires: Option<Expiry>,
}

/// A point of the context space: everything of a flow but its endpoints and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    pub at: Timestamp,
    pub mtls: bool,
    pub method: Option<String>,
    pub path: Option<String>,
    pub context: BTreeMap<String, Value>,
}

impl Context {
    /// The default point: at `now`, no mTLS, no request, no inputs.
    pub fn at(now: Timestamp) -> Context {
        Context {
            at: now,
            mtls: false,
            method: None,
            path: None,
            context: BTreeMap::new(),
        }
    }

    /// A flow with this context.
    pub fn flow(
        &self,
        src: FlowEndpoint,
        dst: FlowEndpoint,
        protocol: Protocol,
        port: u16,
    ) -> Flow {
        Flow {
            src,
            dst,
            protocol,
            port,
            at: self.at,
            mtls: self.mtls,
            method: self.method.clone(),
            path: self.path.clone(),
            context: self.context.clone(),
        }
    }

    fn probe(&self) -> Flow {
        let nobody = FlowEndpoint::Identity(IdentityId(0));
        self.flow(nobody, nobody, Protocol::Tcp, 0)
    }
}

/// Whether the guards allow a flow with this context (reference semantics).
pub fn allows(guards: &[Guard], context: &Context) -> bool {
    let flow = context.probe();
    let holds = |g: &Guard| {
        seg_ir::eval::live(g.expires, context.at) && seg_ir::eval::holds(g.condition, &flow)
    };
    let mut allowed = false;
    for g in guards {
        match g.action {
            Action::Deny if holds(g) => return false,
            Action::Allow if !allowed => allowed = holds(g),
            _ => {}
        }
    }
    allowed
}

/// How much of the context space (from `now` on) a list of guards allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Extent {
    Never,
    Sometimes,
    Always,
}

/// Two guard lists compared at every context from `now` on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    pub before: Extent,
    pub after: Extent,
    /// A context the second list allows and the first denies.
    pub gained: Option<Context>,
    /// A context the first list allows and the second denies.
    pub lost: Option<Context>,
    /// False when a string dimension had more automaton states than
    /// [`strings::MAX_STATES`]: differences only such strings show may be missed.
    pub complete: bool,
}

impl Comparison {
    pub fn changed(&self) -> bool {
        self.gained.is_some() || self.lost.is_some()
    }
}

/// The declared context inputs of the programs compared (their types bound
/// the values a context can hold).
pub type Declared<'a> = [&'a BTreeMap<String, ContextType>];

/// Compare two guard lists at every context from `now` on (see the module docs).
pub fn compare(
    now: Timestamp,
    declared: &Declared,
    before: &[Guard],
    after: &[Guard],
) -> Comparison {
    let dims = Dimensions::of(now, declared, before.iter().chain(after));
    let (nb, na) = (normal(before), normal(after));
    let mut acc = Acc::default();
    let mut ctx = Context::at(now);
    for &at in &dims.instants {
        ctx.at = at;
        let fb = at_instant(&nb, &ctx);
        let fa = at_instant(&na, &ctx);
        walk_pair(&dims.rest, 0, fb, fa, &mut ctx, &mut acc);
        if acc.done() {
            break;
        }
    }
    Comparison {
        before: acc.before.extent(),
        after: acc.after.extent(),
        gained: acc.gained,
        lost: acc.lost,
        complete: dims.complete,
    }
}

/// How much of the context space from `now` on one guard list allows, with
/// a context it allows (when it ever does).
pub fn extent(now: Timestamp, declared: &Declared, guards: &[Guard]) -> (Extent, Option<Context>) {
    let dims = Dimensions::of(now, declared, guards.iter());
    let n = normal(guards);
    let mut seen = Seen::default();
    let mut ctx = Context::at(now);
    for &at in &dims.instants {
        ctx.at = at;
        walk_one(&dims.rest, 0, at_instant(&n, &ctx), &mut ctx, &mut seen);
        if seen.allow.is_some() && seen.deny {
            break;
        }
    }
    let witness = seen.allow.clone();
    (seen.extent(), witness)
}

#[derive(Default)]
struct Seen {
    allow: Option<Context>,
    deny: bool,
}

impl Seen {
    fn extent(&self) -> Extent {
        match (self.allow.is_some(), self.deny) {
            (false, _) => Extent::Never,
            (true, true) => Extent::Sometimes,
            (true, false) => Extent::Always,
        }
    }

    fn note(&mut self, value: bool, ctx: &Context) {
        if value {
            if self.allow.is_none() {
                self.allow = Some(ctx.clone());
            }
        } else {
            self.deny = true;
        }
    }
}

#[derive(Default)]
struct Acc {
    before: Seen,
    after: Seen,
    gained: Option<Context>,
    lost: Option<Context>,
}

impl Acc {
    fn done(&self) -> bool {
        self.gained.is_some()
            && self.lost.is_some()
            && self.before.allow.is_some()
            && self.before.deny
            && self.after.allow.is_some()
            && self.after.deny
    }
}

/// Guards with their conditions in negation normal form.
struct Normal {
    action: Action,
    condition: Condition,
    expires: Option<Expiry>,
}

fn normal(guards: &[Guard]) -> Vec<Normal> {
    guards
        .iter()
        .map(|g| Normal {
            action: g.action,
            condition: simplify(nnf(g.condition)),
            expires: g.expires,
        })
        .collect()
}

/// The decision at `ctx.at` as a formula over the other dimensions' atoms.
fn at_instant(guards: &[Normal], ctx: &Context) -> Condition {
    let probe = ctx.probe();
    let mut allows = Vec::new();
    let mut denies = Vec::new();
    for g in guards {
        if !seg_ir::eval::live(g.expires, ctx.at) {
            continue;
        }
        let c = replace_atoms(&g.condition, &mut |a: &Atom| match a {
            Atom::Time { .. } | Atom::Days { .. } => Some(atom_holds(a, &probe)),
            _ => None,
        });
        match g.action {
            Action::Allow => allows.push(c),
            Action::Deny => denies.push(c),
        }
    }
    simplify(Condition::And(vec![
        Condition::Or(allows),
        Condition::Not(Box::new(Condition::Or(denies))),
    ]))
}

/// The condition with the atoms `value` knows replaced by their truth
/// values (under `not` too), simplified.
fn replace_atoms(c: &Condition, value: &mut dyn FnMut(&Atom) -> Option<bool>) -> Condition {
    fn go(c: &Condition, value: &mut dyn FnMut(&Atom) -> Option<bool>) -> Condition {
        match c {
            Condition::Atom(a) => value(a).map_or_else(|| c.clone(), constant),
            Condition::Not(inner) => Condition::Not(Box::new(go(inner, value))),
            Condition::And(cs) => Condition::And(cs.iter().map(|c| go(c, value)).collect()),
            Condition::Or(cs) => Condition::Or(cs.iter().map(|c| go(c, value)).collect()),
            Condition::True | Condition::False => c.clone(),
        }
    }
    simplify(go(c, value))
}

fn constant(b: bool) -> Condition {
    if b { Condition::True } else { Condition::False }
}

fn as_constant(c: &Condition) -> Option<bool> {
    match c {
        Condition::True => Some(true),
        Condition::False => Some(false),
        _ => None,
    }
}

fn walk_pair(
    dims: &[Dimension],
    i: usize,
    fb: Condition,
    fa: Condition,
    ctx: &mut Context,
    acc: &mut Acc,
) {
    if acc.done() {
        return;
    }
    if fb == fa {
        // The same formula decides both: no difference below, only extents.
        let mut seen = Seen::default();
        walk_one(dims, i, fb, ctx, &mut seen);
        merge(&mut acc.before, &seen);
        merge(&mut acc.after, &seen);
        return;
    }
    if let (Some(b), Some(a)) = (as_constant(&fb), as_constant(&fa)) {
        acc.before.note(b, ctx);
        acc.after.note(a, ctx);
        if a && !b && acc.gained.is_none() {
            acc.gained = Some(ctx.clone());
        }
        if b && !a && acc.lost.is_none() {
            acc.lost = Some(ctx.clone());
        }
        return;
    }
    let Some(dim) = dims.get(i) else {
        // Every atom belongs to a dimension, so this is not reached; deciding
        // the point as it stands keeps the answer exact if it ever is.
        let (b, a) = (holds_at(&fb, ctx), holds_at(&fa, ctx));
        walk_pair(dims, i, constant(b), constant(a), ctx, acc);
        return;
    };
    for point in &dim.points {
        let saved = dim.set(ctx, point);
        let nb = dim.assign(&fb, ctx);
        let na = dim.assign(&fa, ctx);
        walk_pair(dims, i + 1, nb, na, ctx, acc);
        dim.restore(ctx, saved);
        if acc.done() {
            return;
        }
    }
}

fn merge(into: &mut Seen, from: &Seen) {
    if into.allow.is_none() {
        into.allow.clone_from(&from.allow);
    }
    into.deny |= from.deny;
}

fn walk_one(dims: &[Dimension], i: usize, f: Condition, ctx: &mut Context, seen: &mut Seen) {
    if seen.allow.is_some() && seen.deny {
        return;
    }
    if let Some(v) = as_constant(&f) {
        seen.note(v, ctx);
        return;
    }
    let Some(dim) = dims.get(i) else {
        seen.note(holds_at(&f, ctx), ctx);
        return;
    };
    for point in &dim.points {
        let saved = dim.set(ctx, point);
        let next = dim.assign(&f, ctx);
        walk_one(dims, i + 1, next, ctx, seen);
        dim.restore(ctx, saved);
        if seen.allow.is_some() && seen.deny {
            return;
        }
    }
}

fn holds_at(c: &Condition, ctx: &Context) -> bool {
    seg_ir::eval::holds(c, &ctx.probe())
}

/// The dimensions a set of guards needs, with their points.
struct Dimensions {
    instants: Vec<Timestamp>,
    rest: Vec<Dimension>,
    complete: bool,
}

/// Which part of the context a dimension sets.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Field {
    Mtls,
    Method,
    Path,
    Input(String),
}

/// A value a dimension's field takes (`None`: absent).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Point {
    Bool(bool),
    Str(Option<String>),
    Value(Option<Value>),
}

struct Dimension {
    field: Field,
    points: Vec<Point>,
}

impl Dimension {
    fn owns(&self, atom: &Atom) -> bool {
        match (&self.field, atom) {
            (Field::Mtls, Atom::Mtls) => true,
            (Field::Method, Atom::Request { field, .. }) => *field == RequestField::Method,
            (Field::Path, Atom::Request { field, .. }) => *field == RequestField::Path,
            (Field::Input(n), Atom::Context { name, .. }) => n == name,
            _ => false,
        }
    }

    /// Set the field to `point`; returns what it held.
    fn set(&self, ctx: &mut Context, point: &Point) -> Point {
        match (&self.field, point) {
            (Field::Mtls, Point::Bool(b)) => Point::Bool(std::mem::replace(&mut ctx.mtls, *b)),
            (Field::Method, Point::Str(s)) => {
                Point::Str(std::mem::replace(&mut ctx.method, s.clone()))
            }
            (Field::Path, Point::Str(s)) => Point::Str(std::mem::replace(&mut ctx.path, s.clone())),
            (Field::Input(n), Point::Value(v)) => {
                let old = match v {
                    Some(v) => ctx.context.insert(n.clone(), v.clone()),
                    None => ctx.context.remove(n),
                };
                Point::Value(old)
            }
            _ => point.clone(),
        }
    }

    fn restore(&self, ctx: &mut Context, saved: Point) {
        self.set(ctx, &saved);
    }

    /// Substitute this dimension's atoms by their truth at `ctx`.
    fn assign(&self, c: &Condition, ctx: &Context) -> Condition {
        let probe = ctx.probe();
        replace_atoms(c, &mut |a: &Atom| {
            self.owns(a).then(|| atom_holds(a, &probe))
        })
    }
}

impl Dimensions {
    fn of<'g>(
        now: Timestamp,
        declared: &Declared,
        guards: impl Iterator<Item = &'g Guard<'g>>,
    ) -> Dimensions {
        let mut atoms: Vec<&Atom> = Vec::new();
        let mut expiries = BTreeSet::new();
        for g in guards {
            collect(g.condition, &mut atoms);
            expiries.extend(g.expires.map(Expiry::end));
        }
        let mut complete = true;
        let mut rest = Vec::new();
        if atoms.iter().any(|a| matches!(a, Atom::Mtls)) {
            rest.push(Dimension {
                field: Field::Mtls,
                points: vec![Point::Bool(false), Point::Bool(true)],
            });
        }
        for (field, which) in [
            (Field::Method, RequestField::Method),
            (Field::Path, RequestField::Path),
        ] {
            let tests: Vec<&ValueTest> = atoms
                .iter()
                .filter_map(|a| match a {
                    Atom::Request { field, test } if *field == which => Some(test),
                    _ => None,
                })
                .collect();
            if tests.is_empty() {
                continue;
            }
            let (values, ok) = string_values(&tests);
            complete &= ok;
            let mut points = vec![None];
            points.extend(values.into_iter().map(Some));
            let points = distinct(points, |v| {
                let v = v.clone().map(Value::String);
                tests
                    .iter()
                    .map(|t| seg_ir::eval::value_test(t, v.as_ref()))
                    .collect()
            });
            rest.push(Dimension {
                field,
                points: points.into_iter().map(Point::Str).collect(),
            });
        }
        let names: BTreeSet<&String> = atoms
            .iter()
            .filter_map(|a| match a {
                Atom::Context { name, .. } => Some(name),
                _ => None,
            })
            .collect();
        for name in names {
            let tests: Vec<&ValueTest> = atoms
                .iter()
                .filter_map(|a| match a {
                    Atom::Context { name: n, test } if n == name => Some(test),
                    _ => None,
                })
                .collect();
            let types: Vec<&ContextType> = declared.iter().filter_map(|d| d.get(name)).collect();
            let (values, ok) = input_values(&tests, &types);
            complete &= ok;
            let mut points = vec![None];
            points.extend(values.into_iter().map(Some));
            let points = distinct(points, |v| {
                tests
                    .iter()
                    .map(|t| seg_ir::eval::value_test(t, v.as_ref()))
                    .collect()
            });
            rest.push(Dimension {
                field: Field::Input(name.clone()),
                points: points.into_iter().map(Point::Value).collect(),
            });
        }
        let time: Vec<&Atom> = atoms
            .iter()
            .copied()
            .filter(|a| matches!(a, Atom::Time { .. } | Atom::Days { .. }))
            .collect();
        Dimensions {
            instants: instants(now, &time, &expiries),
            rest,
            complete,
        }
    }
}

fn collect<'c>(c: &'c Condition, out: &mut Vec<&'c Atom>) {
    match c {
        Condition::And(cs) | Condition::Or(cs) => cs.iter().for_each(|c| collect(c, out)),
        Condition::Not(c) => collect(c, out),
        Condition::Atom(a) if !out.contains(&a) => out.push(a),
        _ => {}
    }
}

/// Keep the first of each group of points the tests cannot tell apart.
fn distinct<T>(points: Vec<T>, vector: impl Fn(&T) -> Vec<bool>) -> Vec<T> {
    let mut seen = HashSet::new();
    points
        .into_iter()
        .filter(|p| seen.insert(vector(p)))
        .collect()
}

fn string_patterns(tests: &[&ValueTest]) -> Vec<Pattern> {
    let mut out = Vec::new();
    for t in tests {
        match t {
            ValueTest::Glob(g) => out.push(Pattern::Glob(g.clone())),
            ValueTest::In(vs) => out.extend(vs.iter().filter_map(|v| match v {
                Value::String(s) => Some(Pattern::Literal(s.clone())),
                _ => None,
            })),
            ValueTest::IsTrue | ValueTest::Present => {}
        }
    }
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    out.dedup();
    out
}

fn string_values(tests: &[&ValueTest]) -> (Vec<String>, bool) {
    let w = strings::witnesses(&string_patterns(tests));
    (w.strings, w.complete)
}

/// Values a declared input can take that its tests tell apart. Without a
/// declaration (none of the programs declares it), any value.
fn input_values(tests: &[&ValueTest], types: &[&ContextType]) -> (Vec<Value>, bool) {
    let mut out = Vec::new();
    let mut complete = true;
    let named: Vec<&Value> = tests
        .iter()
        .flat_map(|t| match t {
            ValueTest::In(vs) => vs.iter().collect(),
            _ => Vec::new(),
        })
        .collect();
    let ints = || {
        let mut v: Vec<Value> = named
            .iter()
            .filter(|v| matches!(v, Value::Int(_)))
            .map(|v| (*v).clone())
            .collect();
        let max = named
            .iter()
            .filter_map(|v| match v {
                Value::Int(i) => Some(*i),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        v.push(Value::Int(max.checked_add(1).unwrap_or(i64::MIN)));
        v
    };
    let all_types = [ContextType::Bool, ContextType::Int, ContextType::String];
    let types: Vec<&ContextType> = if types.is_empty() {
        all_types.iter().collect()
    } else {
        types.to_vec()
    };
    for ty in types {
        match ty {
            ContextType::Bool => out.extend([Value::Bool(false), Value::Bool(true)]),
            ContextType::Int => out.extend(ints()),
            ContextType::String => {
                let (s, ok) = string_values(tests);
                complete &= ok;
                out.extend(s.into_iter().map(Value::String));
            }
            ContextType::Enum(values) => out.extend(values.iter().cloned().map(Value::String)),
        }
    }
    (out, complete)
}

const DAY: i64 = 86_400;

/// Instants from `now` on, one per class of truth values of the time atoms
/// and of liveness (see the module docs).
fn instants(now: Timestamp, time: &[&Atom], expiries: &BTreeSet<Timestamp>) -> Vec<Timestamp> {
    let mut edges: BTreeSet<i64> = BTreeSet::from([0]);
    for a in time {
        if let Atom::Time { start, end } = a {
            edges.insert((i64::from(start.0) * 60) % DAY);
            edges.insert((i64::from(end.0) * 60) % DAY);
        }
    }
    let bounds: Vec<Timestamp> = expiries.iter().copied().filter(|t| *t > now).collect();
    let mut starts = vec![now];
    starts.extend(bounds.iter().copied());
    let mut out = Vec::new();
    for (segment, &start) in starts.iter().enumerate() {
        let end = bounds.get(segment).copied();
        let mut seen = HashSet::new();
        let mut t = start;
        let limit = start.0.saturating_add(8 * DAY);
        loop {
            let probe = Context::at(t).probe();
            let truths: Vec<bool> = time.iter().map(|a| atom_holds(a, &probe)).collect();
            if seen.insert(truths) {
                out.push(t);
            }
            let sod = t.second_of_day();
            let step = edges.range(sod + 1..).next().map_or(DAY - sod, |e| e - sod);
            let next = Timestamp(t.0.saturating_add(step));
            if next.0 >= limit || end.is_some_and(|e| next >= e) {
                break;
            }
            t = next;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use seg_ir::TimeOfDay;

    fn now() -> Timestamp {
        // Friday 2026-11-20 12:00 UTC.
        Timestamp::parse("2026-11-20T12:00:00Z").expect("time")
    }

    fn atom(a: Atom) -> Condition {
        Condition::Atom(a)
    }

    fn window(s: u16, e: u16) -> Condition {
        atom(Atom::Time {
            start: TimeOfDay(s * 60),
            end: TimeOfDay(e * 60),
        })
    }

    fn allow(c: &Condition) -> Guard<'_> {
        Guard {
            action: Action::Allow,
            condition: c,
            expires: None,
        }
    }

    fn deny(c: &Condition) -> Guard<'_> {
        Guard {
            action: Action::Deny,
            condition: c,
            expires: None,
        }
    }

    const NONE: &Declared = &[];

    #[test]
    fn reordered_and_regrouped_conditions_are_the_same() {
        let a = Condition::And(vec![atom(Atom::Mtls), window(1, 3)]);
        let b = Condition::And(vec![window(1, 3), atom(Atom::Mtls)]);
        let c = compare(now(), NONE, &[allow(&a)], &[allow(&b)]);
        assert!(!c.changed());
        assert_eq!((c.before, c.after), (Extent::Sometimes, Extent::Sometimes));
    }

    #[test]
    fn overlapping_windows_are_compared_by_their_edges() {
        // 01..03 or 02..04 is 01..04.
        let a = Condition::Or(vec![window(1, 3), window(2, 4)]);
        let b = window(1, 4);
        assert!(!compare(now(), NONE, &[allow(&a)], &[allow(&b)]).changed());
        let c = window(1, 5);
        let cmp = compare(now(), NONE, &[allow(&a)], &[allow(&c)]);
        let gained = cmp.gained.expect("04:00..05:00 is gained");
        assert_eq!(gained.at.second_of_day() / 3600, 4);
        assert!(cmp.lost.is_none());
    }

    #[test]
    fn expiry_is_a_change_of_when() {
        let t = Condition::True;
        let until = |d: &str| Guard {
            action: Action::Allow,
            condition: &t,
            expires: Expiry::parse(d),
        };
        let c = compare(now(), NONE, &[until("2026-12-31")], &[until("2027-01-31")]);
        let gained = c.gained.expect("January is gained");
        assert!(gained.at >= seg_ir::Date::parse("2027-01-01").expect("d").start());
        assert_eq!((c.before, c.after), (Extent::Sometimes, Extent::Sometimes));
        // An expiry before now is no change from never allowing.
        let e = extent(now(), NONE, &[until("2026-11-19")]);
        assert_eq!(e.0, Extent::Never);
    }

    #[test]
    fn a_window_that_never_comes_before_expiry_never_allows() {
        // Live until Saturday 00:00; Monday never comes.
        let mon = atom(Atom::Days { mask: 1 });
        let g = Guard {
            action: Action::Allow,
            condition: &mon,
            expires: Expiry::parse("2026-11-20"),
        };
        assert_eq!(extent(now(), NONE, &[g]).0, Extent::Never);
        let g = Guard {
            expires: Expiry::parse("2026-11-23"),
            ..g
        };
        let (e, w) = extent(now(), NONE, &[g]);
        assert_eq!(e, Extent::Sometimes);
        assert_eq!(w.expect("monday").at.weekday().0, 0);
    }

    #[test]
    fn a_deny_carves_the_allow_and_strings_are_told_apart() {
        let path = |g: &str| {
            atom(Atom::Request {
                field: RequestField::Path,
                test: ValueTest::Glob(g.into()),
            })
        };
        let api = path("/api/*");
        let admin = path("*/admin");
        let before = [allow(&api)];
        let after = [allow(&api), deny(&admin)];
        let c = compare(now(), NONE, &before, &after);
        let lost = c.lost.expect("/api/.../admin is lost");
        let p = lost.path.expect("a path");
        assert!(p.starts_with("/api/") && p.ends_with("/admin"), "{p}");
        assert!(c.gained.is_none());
    }

    #[test]
    fn typed_inputs_take_only_their_values() {
        let region = |v: &str| {
            atom(Atom::Context {
                name: "region".into(),
                test: ValueTest::In(vec![Value::String(v.into())]),
            })
        };
        let has = atom(Atom::Context {
            name: "region".into(),
            test: ValueTest::Present,
        });
        let either = Condition::Or(vec![region("eu"), region("us")]);
        let enum_type = BTreeMap::from([(
            "region".to_string(),
            ContextType::Enum(vec!["eu".into(), "us".into()]),
        )]);
        // With the enum declared, `has(region)` is `region in [eu, us]`.
        let c = compare(now(), &[&enum_type], &[allow(&has)], &[allow(&either)]);
        assert!(!c.changed());
        // As a string it is not: any other string differs.
        let string_type = BTreeMap::from([("region".to_string(), ContextType::String)]);
        let c = compare(now(), &[&string_type], &[allow(&has)], &[allow(&either)]);
        assert!(c.lost.is_some());
    }

    #[test]
    fn allows_agrees_with_the_reference_at_the_witness() {
        let a = Condition::And(vec![atom(Atom::Mtls), window(22, 2)]);
        let guards = [allow(&a)];
        let (e, w) = extent(now(), NONE, &guards);
        assert_eq!(e, Extent::Sometimes);
        let w = w.expect("witness");
        assert!(allows(&guards, &w));
        assert!(w.mtls);
        assert!(!allows(&guards, &Context::at(now())));
    }
}
