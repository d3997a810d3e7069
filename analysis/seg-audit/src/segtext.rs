//! Writing `.seg` text: names (bare or quoted), endpoint sets, services and
//! conditions, for narrowed rules and drafted policies. Whatever is written
//! here parses back to the same sets (tested against the parser).

use seg_ir::{Atom, CidrSet, Condition, PortSet, RequestField, Value, ValueTest};

/// Words a set-expression operand may not be, and the reserved words of
/// other positions a name is quoted for all the same.
const RESERVED: &[&str] = &[
    "any",
    "network",
    "identities",
    "on",
    "icmp",
    "when",
    "expires",
    "reason",
    "owner",
    "and",
    "or",
    "not",
];

/// A bare name: a lowercase letter, then lowercase letters, digits, `_` and
/// single `-` between letters or digits.
pub fn is_bare(name: &str) -> bool {
    let b = name.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|&c| alnum(c) || c == b'_' || c == b'-')
        && b.iter().enumerate().all(|(i, &c)| {
            c != b'-' || (i > 0 && alnum(b[i - 1]) && b.get(i + 1).is_some_and(|&n| alnum(n)))
        })
        && !RESERVED.contains(&name)
}

/// A string literal (JSON escapes, which `.seg` strings share).
pub fn string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A name as a `.seg` reference: bare when it can be, else quoted.
pub fn name(n: &str) -> String {
    if is_bare(n) {
        n.to_string()
    } else {
        string(n)
    }
}

/// `[a, b] | network 10.0.0.1, 10.0.0.2`; `None` when both parts are empty.
pub fn set(names: &[&str], networks: &CidrSet) -> Option<String> {
    let mut parts = Vec::new();
    if !names.is_empty() {
        let list: Vec<String> = names.iter().map(|n| name(n)).collect();
        parts.push(format!("[{}]", list.join(", ")));
    }
    let cidrs = networks.to_cidrs();
    if cidrs.len() == 2
        && cidrs.iter().all(|c| c.prefix_len() == 0)
        && names.is_empty()
    {
        return Some("any".into());
    }
    if !cidrs.is_empty() {
        let list: Vec<String> = cidrs.iter().map(ToString::to_string).collect();
        parts.push(format!("network {}", list.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join(" | "))
}

/// `tcp/443, udp/53, icmp` or `any`; `None` when the set holds "other
/// protocols" without being `any` (the language names no other protocol).
pub fn services(s: &PortSet) -> Option<String> {
    if s.is_any() {
        return Some("any".into());
    }
    if s.other || s.is_empty() {
        return None;
    }
    Some(s.to_string())
}

fn value(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::String(s) => string(s),
    }
}

fn test(path: &str, t: &ValueTest) -> String {
    match t {
        ValueTest::In(vs) if vs.len() == 1 => format!("{path} == {}", value(&vs[0])),
        ValueTest::In(vs) => {
            let list: Vec<String> = vs.iter().map(value).collect();
            format!("{path} in [{}]", list.join(", "))
        }
        ValueTest::Glob(g) => format!("{path} matches {}", string(g)),
        ValueTest::IsTrue => path.to_string(),
        ValueTest::Present => format!("has({path})"),
    }
}

/// A dynamic condition as a `when` expression; `None` for `true`.
pub fn condition(c: &Condition) -> Option<String> {
    match c {
        Condition::True => None,
        c => Some(cond(c)),
    }
}

fn cond(c: &Condition) -> String {
    let child = |c: &Condition| match c {
        Condition::And(_) | Condition::Or(_) => format!("({})", cond(c)),
        _ => cond(c),
    };
    match c {
        Condition::True => "(days mon..sun)".into(),
        Condition::False => "(not days mon..sun)".into(),
        Condition::And(cs) => cs.iter().map(child).collect::<Vec<_>>().join(" and "),
        Condition::Or(cs) => cs.iter().map(child).collect::<Vec<_>>().join(" or "),
        Condition::Not(c) => format!("not {}", child_not(c)),
        Condition::Atom(a) => atom(a),
    }
}

fn child_not(c: &Condition) -> String {
    match c {
        Condition::Atom(a) => atom(a),
        c => format!("({})", cond(c)),
    }
}

fn atom(a: &Atom) -> String {
    match a {
        Atom::Time { start, end } => format!("time {start}..{end} utc"),
        Atom::Days { mask } => {
            let days: Vec<&str> = (0..7u8)
                .filter(|d| mask & (1 << d) != 0)
                .map(|d| seg_ir::Weekday(d).name())
                .collect();
            if days.is_empty() {
                "not days mon..sun".into()
            } else {
                format!("days {}", days.join(", "))
            }
        }
        Atom::Mtls => "mtls".into(),
        Atom::Request { field, test: t } => {
            let path = match field {
                RequestField::Method => "request.method",
                RequestField::Path => "request.path",
            };
            test(path, t)
        }
        Atom::Context { name: n, test: t } => {
            let path = if is_bare(n) {
                format!("context.{n}")
            } else {
                format!("context.{}", string(n))
            };
            test(&path, t)
        }
    }
}
