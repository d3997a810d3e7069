//! Conditions written back as `.seg` source, for reports and reviews:
//! `mtls and time 01:00..03:00 utc`, `request.method in ["GET", "HEAD"]`,
//! `not (context.break_glass or days sat, sun)`.
//!
//! The text parses back to an equivalent condition. Every time is UTC (`utc`
//! is always written); `and` binds tighter than `or`, so an `or` inside an
//! `and` and anything compound under `not` is parenthesised.

use crate::program::{Atom, Condition, RequestField, Value, ValueTest};
use std::fmt;

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::True => f.write_str("true"),
            Condition::False => f.write_str("false"),
            Condition::Atom(a) => write!(f, "{a}"),
            Condition::Not(inner) => match inner.as_ref() {
                Condition::Atom(_) => write!(f, "not {inner}"),
                _ => write!(f, "not ({inner})"),
            },
            Condition::And(cs) => join(f, cs, " and ", |c| matches!(c, Condition::Or(_))),
            Condition::Or(cs) => join(f, cs, " or ", |_| false),
        }
    }
}

fn join(
    f: &mut fmt::Formatter<'_>,
    cs: &[Condition],
    op: &str,
    paren: impl Fn(&Condition) -> bool,
) -> fmt::Result {
    if cs.is_empty() {
        // `and` of nothing is true, `or` of nothing is false.
        return f.write_str(if op == " and " { "true" } else { "false" });
    }
    for (i, c) in cs.iter().enumerate() {
        if i > 0 {
            f.write_str(op)?;
        }
        if paren(c) {
            write!(f, "({c})")?;
        } else {
            write!(f, "{c}")?;
        }
    }
    Ok(())
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Time { start, end } => write!(f, "time {start}..{end} utc"),
            Atom::Days { mask } => write!(f, "days {}", days(*mask)),
            Atom::Mtls => f.write_str("mtls"),
            Atom::Request { field, test } => {
                let name = match field {
                    RequestField::Method => "request.method",
                    RequestField::Path => "request.path",
                };
                value_test(f, name, test)
            }
            Atom::Context { name, test } => value_test(f, &format!("context.{}", key(name)), test),
        }
    }
}

fn value_test(f: &mut fmt::Formatter<'_>, path: &str, test: &ValueTest) -> fmt::Result {
    match test {
        ValueTest::In(vs) if vs.len() == 1 => write!(f, "{path} == {}", value(&vs[0])),
        ValueTest::In(vs) => {
            let list: Vec<String> = vs.iter().map(value).collect();
            write!(f, "{path} in [{}]", list.join(", "))
        }
        ValueTest::Glob(g) => write!(f, "{path} matches {}", quote(g)),
        ValueTest::IsTrue => f.write_str(path),
        ValueTest::Present => write!(f, "has({path})"),
    }
}

/// A value as a `.seg` literal: strings quoted with JSON escapes.
pub fn value(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::String(s) => quote(s),
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// A path segment: bare when it is a name, else quoted.
fn key(name: &str) -> String {
    let bare = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if bare { name.to_string() } else { quote(name) }
}

/// A weekday mask as the shortest list of ranges: `mon..fri`, `sat, sun`,
/// `fri..mon` (a run over the weekend wraps).
pub fn days(mask: u8) -> String {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let mask = mask & 0x7f;
    if mask == 0 {
        return "none".into();
    }
    if mask == 0x7f {
        return "mon..sun".into();
    }
    let on = |d: usize| mask & (1 << (d % 7)) != 0;
    // Runs start on Monday, unless one goes over Sunday into Monday: then
    // after the first day that is off, so that run stays whole.
    let start = if on(6) && on(0) {
        (0..7).find(|&d| !on(d)).map_or(0, |d| d + 1)
    } else {
        0
    };
    let mut parts = Vec::new();
    let mut d = 0;
    while d < 7 {
        let day = (start + d) % 7;
        if !on(day) {
            d += 1;
            continue;
        }
        let mut len = 1;
        while d + len < 7 && on((start + d + len) % 7) {
            len += 1;
        }
        let last = (day + len - 1) % 7;
        parts.push(match len {
            1 => NAMES[day].to_string(),
            2 => format!("{}, {}", NAMES[day], NAMES[last]),
            _ => format!("{}..{}", NAMES[day], NAMES[last]),
        });
        d += len;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::TimeOfDay;

    fn atom(a: Atom) -> Condition {
        Condition::Atom(a)
    }

    #[test]
    fn conditions_read_as_source() {
        let window = atom(Atom::Time {
            start: TimeOfDay(60),
            end: TimeOfDay(180),
        });
        let c = Condition::And(vec![
            atom(Atom::Mtls),
            Condition::Or(vec![
                window,
                Condition::Not(Box::new(atom(Atom::Context {
                    name: "break_glass".into(),
                    test: ValueTest::IsTrue,
                }))),
            ]),
            atom(Atom::Request {
                field: RequestField::Method,
                test: ValueTest::In(vec![
                    Value::String("GET".into()),
                    Value::String("HEAD".into()),
                ]),
            }),
        ]);
        assert_eq!(
            c.to_string(),
            r#"mtls and (time 01:00..03:00 utc or not context.break_glass) and request.method in ["GET", "HEAD"]"#
        );
        let not_or = Condition::Not(Box::new(Condition::Or(vec![
            atom(Atom::Days { mask: 0b110_0000 }),
            atom(Atom::Request {
                field: RequestField::Path,
                test: ValueTest::Glob("/api/\"*".into()),
            }),
        ])));
        assert_eq!(
            not_or.to_string(),
            r#"not (days sat, sun or request.path matches "/api/\"*")"#
        );
        let has = atom(Atom::Context {
            name: "Odd Name".into(),
            test: ValueTest::Present,
        });
        assert_eq!(has.to_string(), r#"has(context."Odd Name")"#);
    }

    #[test]
    fn day_masks_as_ranges() {
        assert_eq!(days(0b001_1111), "mon..fri");
        assert_eq!(days(0b111_0001), "fri..mon");
        assert_eq!(days(0b100_0000), "sun");
        assert_eq!(days(0b001_0101), "mon, wed, fri");
        assert_eq!(days(0b101_0101), "wed, fri, sun, mon");
        assert_eq!(days(0b100_0001), "sun, mon");
        assert_eq!(days(0x7f), "mon..sun");
    }
}
