//! What a name in a `.seg` file refers to, and what the server says about it.
//!
//! Every name occurrence of a file (segment and service definitions and uses,
//! identities in lists and tests, `use` items) is listed with its span; each
//! resolves as the checker does: a file sees its own definitions and what it
//! imports, a segment wins over an identity of the same name, segments and
//! services are separate namespaces.

use crate::project::{Analysis, Host};
use seg_check::inventory::{AttrType, Inventory, Status};
use seg_diag::Span;
use seg_syntax::ast::{
    Endpoint, File, Item, ServiceRef, ServiceRefKind, SetExpr, SetExprKind, UsePath,
};
use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    SegmentDef,
    ServiceDef,
    /// A name in a set expression: a segment in scope, else an identity.
    SetName,
    /// A name in `[..]` or a test flow: an identity.
    Identity,
    Service,
    /// A name in a `use` list.
    Import,
}

#[derive(Clone, Debug)]
pub struct Occurrence<'a> {
    pub unit: usize,
    pub span: Span,
    pub name: &'a str,
    pub role: Role,
    /// For [`Role::Import`]: where from.
    pub from: Option<&'a UsePath>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Segment { unit: usize, name: String },
    Service { unit: usize, name: String },
    Identity(u32),
}

/// Every name occurrence of one unit, in source order.
pub fn occurrences(unit: usize, ast: &File) -> Vec<Occurrence<'_>> {
    let mut out = Vec::new();
    let mut push = |span, name, role, from| {
        out.push(Occurrence {
            unit,
            span,
            name,
            role,
            from,
        })
    };
    for item in &ast.items {
        match item {
            Item::Use(u) => {
                for n in &u.names {
                    push(
                        n.span,
                        n.node.text.as_str(),
                        Role::Import,
                        Some(&u.path.node),
                    );
                }
            }
            Item::Segment(s) => {
                push(
                    s.name.span,
                    s.name.node.text.as_str(),
                    Role::SegmentDef,
                    None,
                );
                set_names(&s.expr, &mut push);
            }
            Item::Service(s) => {
                push(
                    s.name.span,
                    s.name.node.text.as_str(),
                    Role::ServiceDef,
                    None,
                );
                service_names(&s.ports, &mut push);
            }
            Item::Policy(p) => {
                for r in &p.rules {
                    set_names(&r.src, &mut push);
                    set_names(&r.dst, &mut push);
                    service_names(&r.services, &mut push);
                }
            }
            Item::Test(t) => {
                for e in &t.expects {
                    for ep in [&e.src, &e.dst] {
                        if let Endpoint::Identity(n) = &ep.node {
                            push(ep.span, n.text.as_str(), Role::Identity, None);
                        }
                    }
                }
            }
            Item::Context(_) => {}
        }
    }
    out.sort_by_key(|o| o.span.start);
    out
}

type Push<'p, 'a> = dyn FnMut(Span, &'a str, Role, Option<&'a UsePath>) + 'p;

fn set_names<'a>(e: &'a SetExpr, push: &mut Push<'_, 'a>) {
    match &e.node {
        SetExprKind::Name(n) => push(e.span, n.text.as_str(), Role::SetName, None),
        SetExprKind::List(names) => {
            for n in names {
                push(n.span, n.node.text.as_str(), Role::Identity, None);
            }
        }
        SetExprKind::Union(a, b) | SetExprKind::Intersect(a, b) | SetExprKind::Difference(a, b) => {
            set_names(a, push);
            set_names(b, push);
        }
        SetExprKind::Where(_) | SetExprKind::Network(_) | SetExprKind::Any => {}
    }
}

fn service_names<'a>(refs: &'a [ServiceRef], push: &mut Push<'_, 'a>) {
    for r in refs {
        if let ServiceRefKind::Named(n) = &r.node {
            push(r.span, n.text.as_str(), Role::Service, None);
        }
    }
}

/// The unit defining segment (or service) `name` as `unit` sees it.
pub fn defining_unit(
    a: &Analysis,
    host: &Host,
    unit: usize,
    name: &str,
    segment: bool,
) -> Option<usize> {
    let defines = |u: usize| {
        a.units.get(u).is_some_and(|x| {
            x.ast.items.iter().any(|i| match i {
                Item::Segment(s) if segment => s.name.node.text == name,
                Item::Service(s) if !segment => s.name.node.text == name,
                _ => false,
            })
        })
    };
    if defines(unit) {
        return Some(unit);
    }
    a.units.get(unit)?.ast.items.iter().find_map(|i| match i {
        Item::Use(u) if u.names.iter().any(|n| n.node.text == name) => a
            .import_target(host, unit, &u.path.node)
            .filter(|&t| defines(t)),
        _ => None,
    })
}

pub fn resolve(a: &Analysis, host: &Host, o: &Occurrence<'_>) -> Option<Target> {
    let identity = || {
        a.inventory
            .as_ref()
            .and_then(|inv| inv.identities.iter().position(|i| i.name == o.name))
            .map(|i| Target::Identity(i as u32))
    };
    let segment = |unit| Target::Segment {
        unit,
        name: o.name.to_string(),
    };
    let service = |unit| Target::Service {
        unit,
        name: o.name.to_string(),
    };
    match o.role {
        Role::SegmentDef => Some(segment(o.unit)),
        Role::ServiceDef => Some(service(o.unit)),
        Role::SetName => defining_unit(a, host, o.unit, o.name, true)
            .map(segment)
            .or_else(identity),
        Role::Identity => identity(),
        Role::Service => defining_unit(a, host, o.unit, o.name, false).map(service),
        Role::Import => {
            let t = a.import_target(host, o.unit, o.from?)?;
            defining_unit(a, host, t, o.name, true)
                .map(segment)
                .or_else(|| defining_unit(a, host, t, o.name, false).map(service))
        }
    }
}

/// The occurrence at a byte offset of a unit.
pub fn at(a: &Analysis, unit: usize, offset: usize) -> Option<Occurrence<'_>> {
    let u = a.units.get(unit)?;
    occurrences(unit, &u.ast)
        .into_iter()
        .find(|o| (o.span.start as usize) <= offset && offset <= o.span.end as usize)
}

/// Where a target is defined.
pub fn definition(a: &Analysis, t: &Target) -> Option<Span> {
    match t {
        Target::Segment { unit, name } | Target::Service { unit, name } => {
            let segment = matches!(t, Target::Segment { .. });
            a.units.get(*unit)?.ast.items.iter().find_map(|i| match i {
                Item::Segment(s) if segment && s.name.node.text == *name => Some(s.name.span),
                Item::Service(s) if !segment && s.name.node.text == *name => Some(s.name.span),
                _ => None,
            })
        }
        Target::Identity(id) => a
            .inventory
            .as_ref()
            .and_then(|inv| inv.identities.get(*id as usize))
            .map(|i| i.origin),
    }
}

/// Every occurrence of the project resolving to `t` (its definition included).
pub fn references(a: &Analysis, host: &Host, t: &Target) -> Vec<Span> {
    let mut out = Vec::new();
    for (i, u) in a.units.iter().enumerate() {
        if u.module.is_some()
            && !matches!(t, Target::Segment { unit, .. } | Target::Service { unit, .. } if *unit == i)
        {
            continue;
        }
        for o in occurrences(i, &u.ast) {
            if resolve(a, host, &o).as_ref() == Some(t) {
                out.push(o.span);
            }
        }
    }
    if let Target::Identity(_) = t
        && let Some(d) = definition(a, t)
    {
        out.insert(0, d);
    }
    out
}

/// `file:line` of a span.
pub fn location(a: &Analysis, span: Span) -> String {
    let (line, _) = a
        .map
        .get(span.file)
        .map_or((0, 0), |f| f.line_col(span.start as usize));
    format!("{}:{line}", a.map.name(span.file))
}

/// Markdown about a target.
pub fn hover(a: &Analysis, t: &Target) -> String {
    match t {
        Target::Identity(id) => a
            .inventory
            .as_ref()
            .map(|inv| identity_hover(a, inv, *id as usize))
            .unwrap_or_default(),
        Target::Segment { unit, name } => segment_hover(a, *unit, name),
        Target::Service { unit, name } => service_hover(a, *unit, name),
    }
}

fn identity_hover(a: &Analysis, inv: &Inventory, i: usize) -> String {
    let (Some(x), Some(d)) = (inv.identities.get(i), inv.details.get(i)) else {
        return String::new();
    };
    let mut s = format!("**identity** `{}` — {}\n\n", x.name, x.kind.as_str());
    let mut line = |k: &str, v: String| {
        let _ = writeln!(s, "- {k}: {v}");
    };
    if let Some(o) = &x.owner {
        line("owner", format!("`{o}`"));
    }
    if !x.attributes.is_empty() {
        let attrs: Vec<String> = x
            .attributes
            .iter()
            .map(|(k, v)| format!("`{k}` = `{}`", json(v)))
            .collect();
        line("attributes", attrs.join(", "));
    }
    if !x.labels.is_empty() {
        let labels: Vec<String> = x.labels.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
        line("labels", labels.join(", "));
    }
    if !x.addresses.is_empty() {
        let nets: Vec<String> = x.addresses.iter().map(|n| format!("`{n}`")).collect();
        line("addresses", nets.join(", "));
    }
    if let Some(k) = &x.kubernetes {
        line("kubernetes", format!("`{}`", json(k)));
    }
    if let Some(b) = &x.aws {
        line("aws", format!("`{}`", json(b)));
    }
    if let Some(b) = &x.gcp {
        line("gcp", format!("`{}`", json(b)));
    }
    if let Some(sp) = &x.spiffe {
        line("spiffe", format!("`{sp}`"));
    }
    if let Some(c) = &d.credential {
        let mut parts = vec![c.kind.clone().unwrap_or_else(|| "credential".into())];
        if let Some(r) = c.rotated {
            parts.push(format!("rotated {r}"));
            if let Some(max) = c.max_age {
                let due = r.start().0.saturating_add(max);
                parts.push(format!("max age {}d", max / 86_400));
                if due < a.now.0 {
                    parts.push("**overdue for rotation**".into());
                }
            }
        }
        if c.shared {
            parts.push("**shared**".into());
        }
        line("credential", parts.join(", "));
    }
    match d.status {
        Status::Disabled => line("status", "**disabled**".into()),
        Status::Active => {}
    }
    if let Some(e) = d.expires {
        let past = e.start().0 < a.now.0;
        line(
            "expires",
            format!("{e}{}", if past { " (**expired**)" } else { "" }),
        );
    }
    let _ = write!(s, "\ndeclared in `{}`", location(a, x.origin));
    s
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn segment_hover(a: &Analysis, unit: usize, name: &str) -> String {
    let def = a.units.get(unit).and_then(|u| {
        u.ast.items.iter().find_map(|i| match i {
            Item::Segment(s) if s.name.node.text == name => Some(s),
            _ => None,
        })
    });
    let mut s = format!("**segment** `{name}`\n\n");
    if let Some(def) = def {
        if let Some(doc) = &def.doc {
            let _ = writeln!(s, "{}\n", doc.node);
        }
        let text = a.map.snippet(def.span);
        let text: String = text.chars().take(400).collect();
        let _ = writeln!(s, "```seg\n{text}\n```\n");
    }
    let outline = a
        .outline
        .segments
        .iter()
        .find(|o| o.name == name && o.unit == unit);
    match outline.and_then(|o| o.members.as_ref().map(|m| (o, m))) {
        Some((o, members)) => {
            let inv = a.inventory.as_deref();
            let names: Vec<String> = members
                .iter()
                .take(10)
                .filter_map(|&i| inv?.identities.get(i as usize))
                .map(|i| format!("`{}`", i.name))
                .collect();
            let more = if members.len() > 10 { ", …" } else { "" };
            let _ = writeln!(
                s,
                "{} {}{}{}{more}",
                members.len(),
                if members.len() == 1 {
                    "identity"
                } else {
                    "identities"
                },
                if names.is_empty() { "" } else { ": " },
                names.join(", ")
            );
            if !o.networks.is_empty() {
                let nets: Vec<String> = o
                    .networks
                    .iter()
                    .take(10)
                    .map(|n| format!("`{n}`"))
                    .collect();
                let _ = writeln!(s, "\nnetworks: {}", nets.join(", "));
            }
        }
        None => s.push_str("members unknown (the segment has an error)\n"),
    }
    if let Some(def) = def {
        let _ = write!(s, "\ndefined in `{}`", location(a, def.name.span));
    }
    s
}

fn service_hover(a: &Analysis, unit: usize, name: &str) -> String {
    let def = a.units.get(unit).and_then(|u| {
        u.ast.items.iter().find_map(|i| match i {
            Item::Service(s) if s.name.node.text == name => Some(s),
            _ => None,
        })
    });
    let mut s = format!("**service** `{name}`\n\n");
    if let Some(def) = def {
        if let Some(doc) = &def.doc {
            let _ = writeln!(s, "{}\n", doc.node);
        }
        let _ = writeln!(s, "```seg\n{}\n```\n", a.map.snippet(def.span));
        let _ = write!(s, "defined in `{}`", location(a, def.name.span));
    }
    s
}

/// A name as it must be written: bare when it can be, else quoted.
pub fn written(name: &str) -> String {
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

/// What may be written at a place, from the text before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Segments and identities (a set operand).
    SetOperand,
    /// Identities only (`[..]`, a test flow).
    Identity,
    Service,
    /// An attribute of an identity (`identities where`, `source.`).
    Attribute,
    /// `labels.` keys.
    Label,
    /// A value of the attribute named.
    Value(String),
    /// `context.` inputs.
    Context,
    /// Names a `use` can import from a module or file.
    Import(UsePath),
}

/// Guess the slot at `offset` of `text` (which may not parse: this reads tokens back).
pub fn slot(text: &str, offset: usize) -> Slot {
    let before = &text[..offset.min(text.len())];
    let word_start = before
        .rfind(|c: char| {
            !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '"')
        })
        .map_or(0, |i| i + 1);
    let word = &before[word_start..];
    if let Some(rest) = word
        .strip_prefix("source.")
        .or(word.strip_prefix("destination."))
    {
        return if rest.starts_with("labels.") {
            Slot::Label
        } else {
            Slot::Attribute
        };
    }
    if word.starts_with("labels.") {
        return Slot::Label;
    }
    if word.starts_with("context.") {
        return Slot::Context;
    }
    let head = &before[..word_start];
    let tokens = tokens_back(head, 40);
    // `use PATH::{...` : names of the module or file.
    if let Some(i) = tokens.iter().position(|t| t == "{")
        && !tokens[..i].iter().any(|t| t == "}")
        && tokens.get(i + 1).map(String::as_str) == Some("::")
        && let Some(u) = tokens[i + 2..].iter().position(|t| t == "use")
    {
        let mut parts: Vec<&str> = tokens[i + 2..i + 2 + u]
            .iter()
            .map(String::as_str)
            .filter(|t| *t != "::")
            .collect();
        parts.reverse();
        let p = parts.join("::");
        let p = p.trim_matches('"');
        return Slot::Import(if p.starts_with('.') {
            UsePath::File(p.to_string())
        } else {
            UsePath::Module(p.split("::").map(str::to_string).collect())
        });
    }
    let last = tokens.first().map(String::as_str).unwrap_or("");
    if matches!(last, "==" | "!=")
        || (last == "[" && tokens.get(1).map(String::as_str) == Some("in"))
        || (last == "," && in_value_list(&tokens))
    {
        let attr_at = tokens
            .iter()
            .position(|t| matches!(t.as_str(), "==" | "!=" | "in"))
            .map_or(1, |i| i + 1);
        let attr = tokens.get(attr_at).cloned().unwrap_or_default();
        let attr = attr
            .strip_prefix("source.")
            .or(attr.strip_prefix("destination."))
            .unwrap_or(&attr)
            .to_string();
        return Slot::Value(attr);
    }
    // A test flow's endpoints are identities.
    let line = &head[head.rfind('\n').map_or(0, |i| i + 1)..];
    if line.trim_start().starts_with("expect")
        && !tokens
            .iter()
            .take_while(|t| *t != "expect")
            .any(|t| t == "on")
    {
        return Slot::Identity;
    }
    // The nearest keyword that opens a context decides.
    for (i, t) in tokens.iter().enumerate() {
        match t.as_str() {
            "on" | "service" => return Slot::Service,
            "=" if tokens.get(i + 2).map(String::as_str) == Some("service") => {
                return Slot::Service;
            }
            "where" => return Slot::Attribute,
            "when" => return Slot::Attribute,
            "expect" => return Slot::Identity,
            "[" => {
                return if tokens.get(i + 1).map(String::as_str) == Some("in") {
                    Slot::Value(String::new())
                } else {
                    Slot::Identity
                };
            }
            "->" | "<->" | "allow" | "deny" | "=" | "|" | "&" | "(" | "segment" => {
                return Slot::SetOperand;
            }
            "}" | "{" => break,
            _ => {}
        }
    }
    Slot::SetOperand
}

fn in_value_list(tokens: &[String]) -> bool {
    for (i, t) in tokens.iter().enumerate() {
        match t.as_str() {
            "[" => return tokens.get(i + 1).map(String::as_str) == Some("in"),
            "]" => return false,
            _ => {}
        }
    }
    false
}

/// Up to `n` tokens before the end of `text`, nearest first (comments skipped line-wise).
fn tokens_back(text: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines().rev() {
        let code = line.split("//").next().unwrap_or("");
        let mut toks = Vec::new();
        let mut cur = String::new();
        let mut chars = code.chars().peekable();
        while let Some(c) = chars.next() {
            if c.is_whitespace() {
                if !cur.is_empty() {
                    toks.push(std::mem::take(&mut cur));
                }
            } else if "{}[](),|&".contains(c) {
                if !cur.is_empty() {
                    toks.push(std::mem::take(&mut cur));
                }
                toks.push(c.to_string());
            } else if c == ':' && chars.peek() == Some(&':') {
                chars.next();
                if !cur.is_empty() {
                    toks.push(std::mem::take(&mut cur));
                }
                toks.push("::".into());
            } else {
                cur.push(c);
            }
        }
        if !cur.is_empty() {
            toks.push(cur);
        }
        // `a->b`: split arrows glued to names.
        let mut split = Vec::new();
        for t in toks {
            if t.len() > 2 && (t.contains("->")) {
                for (i, part) in t.split("->").enumerate() {
                    if i > 0 {
                        split.push("->".to_string());
                    }
                    if !part.is_empty() {
                        split.push(part.to_string());
                    }
                }
            } else {
                split.push(t);
            }
        }
        out.extend(split.into_iter().rev());
        if out.len() >= n {
            break;
        }
    }
    out.truncate(n);
    out
}

/// The values an attribute may be compared with.
pub fn values_of(inv: Option<&Inventory>, attr: &str) -> Vec<String> {
    if attr == "kind" {
        return seg_ir::IdentityKind::ALL
            .iter()
            .map(|k| k.as_str().to_string())
            .collect();
    }
    match inv.and_then(|i| i.attributes.get(attr)).map(|d| &d.ty) {
        Some(AttrType::Enum(v)) => v.iter().map(|x| format!("\"{x}\"")).collect(),
        Some(AttrType::Bool) => vec!["true".into(), "false".into()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_from_the_text_before() {
        let s = |t: &str| slot(t, t.len());
        assert_eq!(s("policy p {\n  allow payments -> led"), Slot::SetOperand);
        assert_eq!(s("  allow a -> b on post"), Slot::Service);
        assert_eq!(s("  allow a -> b on https, po"), Slot::Service);
        assert_eq!(s("segment s = identities where te"), Slot::Attribute);
        assert_eq!(
            s("segment s = identities where env == "),
            Slot::Value("env".into())
        );
        assert_eq!(
            s("segment s = identities where env in [\"prod\", "),
            Slot::Value("env".into())
        );
        assert_eq!(s("segment s = [a, "), Slot::Identity);
        assert_eq!(s("  allow a -> b on x when source.te"), Slot::Attribute);
        assert_eq!(s("  allow a -> b on x when source.labels.a"), Slot::Label);
        assert_eq!(
            s("use std::services::{po"),
            Slot::Import(UsePath::Module(vec!["std".into(), "services".into()]))
        );
        assert_eq!(s("  expect allow pay"), Slot::Identity);
        assert_eq!(written("svc:a/b"), "\"svc:a/b\"");
        assert_eq!(written("payments-api"), "payments-api");
    }
}
