//! A diff written for people and machines: `human` (a terminal, coloured
//! when asked), `markdown` (a pull-request comment) and `json`.
//!
//! Every format starts with the same one-line summary. Names, paths and
//! conditions come from users: the human format makes control characters
//! visible, the markdown format escapes HTML and table syntax, JSON
//! escapes as JSON does.

mod human;
mod markdown;

pub use human::human;
pub use markdown::{MAX_MARKDOWN, markdown};

use crate::expect::Report;
use crate::model::*;
use seg_ir::display::value;
use seg_ir::{PortSet, Protocol};
use serde::Serialize;

/// What a renderer needs besides the diff.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options<'a> {
    /// ANSI colours (human).
    pub color: bool,
    /// List every member of every group (human; markdown always can expand).
    pub members: bool,
    /// The `--expect` outcome, when one was given.
    pub expect: Option<&'a Report>,
}

/// `4 flows newly allowed, 1 newly denied, 2 conditions changed; 1 identity added, 0 removed, 1 changed`.
pub fn summary_line(d: &Diff) -> String {
    let s = &d.summary;
    let flows = if s.is_empty() {
        "no reachability change".to_string()
    } else {
        format!(
            "{} newly allowed, {} newly denied, {} changed",
            count(s.newly_allowed, "flow"),
            s.newly_denied,
            count(s.conditions_changed, "condition")
        )
    };
    format!(
        "{flows}; {} added, {} removed, {} changed",
        count(s.identities_added, "identity"),
        s.identities_removed,
        s.identities_changed
    )
}

pub(crate) fn count(n: usize, word: &str) -> String {
    match (n, word) {
        (1, w) => format!("1 {w}"),
        (_, "identity") => format!("{n} identities"),
        (_, w) => format!("{n} {w}s"),
    }
}

/// The `--expect` summary: `expect: 3 intended, 1 collateral, 0 missing`.
pub fn expect_line(r: &Report) -> String {
    let verdict = if r.passed() { "ok" } else { "FAILED" };
    format!(
        "expect {verdict}: {} intended, {} collateral, {} intended change{} missing",
        count(r.intended_rows, "row"),
        r.collateral_rows,
        r.missing.len(),
        if r.missing.len() == 1 { "" } else { "s" }
    )
}

/// A name as `.seg` writes it: bare when it is one, else quoted.
pub fn seg_name(name: &str) -> String {
    let bare = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if bare {
        name.to_string()
    } else {
        serde_json::to_string(name).unwrap_or_default()
    }
}

/// The witness as an `expect` line (paste it into `--expect`), or a plain
/// description for a protocol a test cannot name.
pub fn witness_line(w: &Witness, allow: bool) -> String {
    let end = |e: &EndpointRef| match e {
        EndpointRef::Name(n) => seg_name(n),
        EndpointRef::Address(a) => a.to_string(),
    };
    let port = match w.protocol {
        Protocol::Tcp => format!("tcp/{}", w.port),
        Protocol::Udp => format!("udp/{}", w.port),
        Protocol::Sctp => format!("sctp/{}", w.port),
        Protocol::Icmp => "icmp".into(),
        Protocol::Other(n) => format!("protocol {n}"),
    };
    let mut with = Vec::new();
    if w.mtls {
        with.push("mtls".to_string());
    }
    if let Some(m) = &w.method {
        with.push(format!(
            "request.method = {}",
            value(&seg_ir::Value::String(m.clone()))
        ));
    }
    if let Some(p) = &w.path {
        with.push(format!(
            "request.path = {}",
            value(&seg_ir::Value::String(p.clone()))
        ));
    }
    for (k, v) in &w.context {
        with.push(format!("context.{k} = {}", value(v)));
    }
    let with = if with.is_empty() {
        String::new()
    } else {
        format!(" with {}", with.join(", "))
    };
    format!(
        "expect {} {} -> {} on {port}{with} at {}",
        if allow { "allow" } else { "deny" },
        end(&w.src),
        end(&w.dst),
        w.at
    )
}

/// Ports as text (`tcp/5432, udp/53`); every port of every protocol is `any`.
pub fn ports(p: &PortSet) -> String {
    p.to_string()
}

/// Up to `shown` members of a group (identities, then addresses unless
/// they are the identities' own), and how many more there are.
pub fn members(e: &Endpoints, shown: usize) -> (Vec<String>, usize) {
    let mut all: Vec<String> = e.identities.clone();
    if !e.own_addresses {
        all.extend(e.addresses.iter().map(ToString::to_string));
    }
    let more = all.len().saturating_sub(shown);
    (all.into_iter().take(shown).collect(), more)
}

/// `3 identities`, `2 address ranges`, `3 identities with their addresses`,
/// `1 identity, 2 address ranges`; `None` for a single member (with or
/// without its own addresses).
pub fn group_size(e: &Endpoints) -> Option<String> {
    let ids = e.identities.len();
    let nets = if e.own_addresses {
        0
    } else {
        e.addresses.len()
    };
    if ids + nets <= 1 {
        return None;
    }
    let mut parts = Vec::new();
    if ids > 0 {
        parts.push(count(ids, "identity"));
    }
    if nets > 0 {
        parts.push(count(nets, "address range"));
    }
    let mut text = parts.join(", ");
    if e.own_addresses {
        text.push_str(" with their addresses");
    }
    Some(text)
}

/// The JSON format: the diff, plus the `--expect` outcome when there is one.
pub fn json(d: &Diff, expect: Option<&Report>) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        #[serde(flatten)]
        diff: &'a Diff,
        #[serde(skip_serializing_if = "Option::is_none")]
        expect: Option<&'a Report>,
    }
    let mut s = serde_json::to_string_pretty(&Out { diff: d, expect }).unwrap_or_default();
    s.push('\n');
    s
}

/// A rule for a row's rule list: `allow ledger-access/1 (policy/payments.seg:17) owner team-payments when mtls until 2026-12-31`.
pub fn rule_text(r: &RuleInfo) -> String {
    let action = match r.action {
        seg_ir::Action::Allow => "allow",
        seg_ir::Action::Deny => "deny",
    };
    let mut s = format!("{action} {}", r.location());
    if let Some(o) = &r.owner {
        s.push_str(&format!(" owner {o}"));
    }
    if let Some(w) = &r.when {
        s.push_str(&format!(" when {w}"));
    }
    if let Some(d) = r.expires {
        s.push_str(&format!(" until {d}"));
    }
    s
}
