//! Runtime conditions as data: a rule's `when` is a disjunction of
//! conjunctions of literals (`[[lit, ...], ...]`, `null` when the rule is
//! unconditional), each literal an atom and whether it is negated.
//!
//! Every atom carries what the policy needs to decide both that it holds and
//! that it fails, each by a positive test (a time window and its complement,
//! a weekday table of booleans), so an atom that cannot be evaluated is
//! neither: an `allow` then does not match and a `deny` still applies.

use seg_ir::capability::{disjuncts, nnf};
use seg_ir::{Atom, Condition, RequestField, ValueTest};
use serde_json::{Value, json};

/// Largest number of alternatives a condition may expand to.
pub const MAX_CLAUSES: usize = 1024;

/// The condition as data, or `Err(n)` with (a lower bound of) the number of
/// alternatives when it expands to more than [`MAX_CLAUSES`].
pub fn encode(condition: &Condition) -> Result<Value, usize> {
    if *condition == Condition::True {
        return Ok(Value::Null);
    }
    let size = dnf_size(&nnf(condition));
    if size > MAX_CLAUSES {
        return Err(size);
    }
    let clauses: Vec<Value> = disjuncts(condition)
        .iter()
        .map(|clause| {
            Value::Array(
                clause
                    .iter()
                    .map(|lit| json!({"atom": atom(&lit.atom), "negated": !lit.positive}))
                    .collect(),
            )
        })
        .collect();
    Ok(Value::Array(clauses))
}

/// An upper bound on the clauses of the disjunctive normal form of an NNF
/// condition, saturating, computed without expanding it.
fn dnf_size(c: &Condition) -> usize {
    match c {
        Condition::True | Condition::Atom(_) | Condition::Not(_) => 1,
        Condition::False => 0,
        Condition::Or(cs) => cs.iter().map(dnf_size).fold(0, usize::saturating_add),
        Condition::And(cs) => cs.iter().map(dnf_size).fold(1, usize::saturating_mul),
    }
}

fn atom(a: &Atom) -> Value {
    match a {
        Atom::Time { start, end } => {
            let (s, e) = (u32::from(start.0).min(1440), u32::from(end.0).min(1440));
            let inside = window(s, e);
            json!({"kind": "time", "in": ranges(&inside), "out": ranges(&complement(&inside))})
        }
        Atom::Days { mask } => {
            let days: Vec<bool> = (0..7).map(|d| mask & (1 << d) != 0).collect();
            json!({"kind": "days", "days": days})
        }
        Atom::Mtls => json!({"kind": "mtls"}),
        Atom::Request { field, test } => {
            let name = match field {
                RequestField::Method => "method",
                RequestField::Path => "path",
            };
            json!({"kind": "value", "source": "request", "name": name, "test": value_test(test)})
        }
        Atom::Context { name, test } => {
            json!({"kind": "value", "source": "context", "name": name, "test": value_test(test)})
        }
    }
}

/// The minutes of the day `[s, e)` covers, crossing midnight when `e <= s`
/// (and the whole day when `e == s`), as sorted disjoint half-open ranges.
fn window(s: u32, e: u32) -> Vec<(u32, u32)> {
    let raw = if s < e {
        vec![(s, e)]
    } else {
        vec![(0, e), (s, 1440)]
    };
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (a, b) in raw.into_iter().filter(|(a, b)| a < b) {
        match out.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn complement(inside: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut next = 0;
    for &(a, b) in inside {
        if next < a {
            out.push((next, a));
        }
        next = b;
    }
    if next < 1440 {
        out.push((next, 1440));
    }
    out
}

fn ranges(rs: &[(u32, u32)]) -> Value {
    Value::Array(rs.iter().map(|&(a, b)| json!([a, b])).collect())
}

fn value_test(test: &ValueTest) -> Value {
    match test {
        ValueTest::In(values) => json!({"op": "in", "values": values}),
        ValueTest::Glob(pattern) => json!({"op": "glob", "glob": glob(pattern)}),
        ValueTest::IsTrue => json!({"op": "is_true"}),
        ValueTest::Present => json!({"op": "present"}),
    }
}

/// A glob where `*` is any run of characters: `{"exact": s}` without a `*`,
/// else the literal prefix, suffix and the non-empty pieces between, which
/// must occur in order (the policy finds each leftmost, which is exact for
/// literal pieces).
pub fn glob(pattern: &str) -> Value {
    let parts: Vec<&str> = pattern.split('*').collect();
    match parts.as_slice() {
        [exact] => json!({"exact": exact}),
        [prefix, middle @ .., suffix] => {
            let middle: Vec<&str> = middle.iter().copied().filter(|m| !m.is_empty()).collect();
            json!({"prefix": prefix, "suffix": suffix, "middle": middle})
        }
        [] => json!({"exact": ""}),
    }
}

/// The largest number of middle pieces of any glob in the program, which
/// sizes the glob matcher generated into `authz.rego`.
pub fn max_glob_pieces<'a>(conditions: impl IntoIterator<Item = &'a Condition>) -> usize {
    fn walk(c: &Condition, max: &mut usize) {
        match c {
            Condition::And(cs) | Condition::Or(cs) => cs.iter().for_each(|c| walk(c, max)),
            Condition::Not(c) => walk(c, max),
            Condition::Atom(Atom::Request {
                test: ValueTest::Glob(p),
                ..
            })
            | Condition::Atom(Atom::Context {
                test: ValueTest::Glob(p),
                ..
            }) => {
                let pieces = p.split('*').count();
                let middle = p
                    .split('*')
                    .skip(1)
                    .take(pieces.saturating_sub(2))
                    .filter(|m| !m.is_empty())
                    .count();
                *max = (*max).max(middle);
            }
            _ => {}
        }
    }
    let mut max = 0;
    for c in conditions {
        walk(c, &mut max);
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use seg_ir::TimeOfDay;

    #[test]
    fn windows_cross_midnight_and_complements_are_positive() {
        assert_eq!(window(60, 180), [(60, 180)]);
        assert_eq!(window(1320, 120), [(0, 120), (1320, 1440)]);
        assert_eq!(window(600, 600), [(0, 1440)]);
        assert_eq!(window(0, 1440), [(0, 1440)]);
        assert_eq!(complement(&window(60, 180)), [(0, 60), (180, 1440)]);
        assert_eq!(complement(&window(1320, 120)), [(120, 1320)]);
        assert_eq!(complement(&window(600, 600)), []);
        let a = atom(&Atom::Time {
            start: TimeOfDay(1320),
            end: TimeOfDay(120),
        });
        assert_eq!(
            a,
            json!({"kind": "time", "in": [[0, 120], [1320, 1440]], "out": [[120, 1320]]})
        );
    }

    #[test]
    fn globs_split_into_prefix_pieces_and_suffix() {
        assert_eq!(
            glob("/api/*"),
            json!({"prefix": "/api/", "suffix": "", "middle": []})
        );
        assert_eq!(
            glob("*a**b*"),
            json!({"prefix": "", "suffix": "", "middle": ["a", "b"]})
        );
        assert_eq!(glob("GET"), json!({"exact": "GET"}));
        assert_eq!(glob("*"), json!({"prefix": "", "suffix": "", "middle": []}));
        let c = Condition::Atom(Atom::Request {
            field: RequestField::Path,
            test: ValueTest::Glob("/a/*/b/*/c*".into()),
        });
        assert_eq!(max_glob_pieces([&c]), 2);
    }

    #[test]
    fn conditions_become_clauses_of_literals() {
        assert_eq!(encode(&Condition::True), Ok(Value::Null));
        assert_eq!(encode(&Condition::False), Ok(json!([])));
        let c = Condition::Or(vec![
            Condition::Atom(Atom::Mtls),
            Condition::Not(Box::new(Condition::Atom(Atom::Days { mask: 1 }))),
        ]);
        assert_eq!(
            encode(&c),
            Ok(json!([
                [{"atom": {"kind": "mtls"}, "negated": false}],
                [{"atom": {"kind": "days", "days": [true, false, false, false, false, false, false]}, "negated": true}]
            ]))
        );
    }

    #[test]
    fn exploding_conditions_are_refused_before_expansion() {
        let pair = |i: u8| {
            Condition::Or(vec![
                Condition::Atom(Atom::Days { mask: i }),
                Condition::Atom(Atom::Mtls),
            ])
        };
        let c = Condition::And((0..40).map(pair).collect());
        assert!(matches!(encode(&c), Err(n) if n > MAX_CLAUSES));
    }
}
