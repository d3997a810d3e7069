//! Writing `.seg` text: names (bare or quoted), endpoint sets and services,
//! for narrowed rules and drafted policies (conditions: `seg_ir`'s Display). Whatever is written
//! here parses back to the same sets (tested against the parser).

use seg_ir::{CidrSet, Condition, PortSet};

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
        && b.iter().all(|&c| alnum(c) || c == b'_' || c == b'-')
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
    if is_bare(n) { n.to_string() } else { string(n) }
}

/// `[a, b] | network 10.0.0.1, 10.0.0.2`; `None` when both parts are empty.
pub fn set(names: &[&str], networks: &CidrSet) -> Option<String> {
    let mut parts = Vec::new();
    if !names.is_empty() {
        let list: Vec<String> = names.iter().map(|n| name(n)).collect();
        parts.push(format!("[{}]", list.join(", ")));
    }
    let cidrs = networks.to_cidrs();
    if cidrs.len() == 2 && cidrs.iter().all(|c| c.prefix_len() == 0) && names.is_empty() {
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

/// A dynamic condition as a `when` expression (seg-ir writes it back as
/// source); `None` for `true`.
pub fn condition(c: &Condition) -> Option<String> {
    match c {
        Condition::True => None,
        c => Some(c.to_string()),
    }
}
