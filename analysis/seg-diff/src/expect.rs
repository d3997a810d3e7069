//! `--expect FILE`: the changes a pull request means to make, checked
//! against the diff (Batfish's "nothing outside the intended change moved").
//!
//! The file holds `expect allow|deny SRC -> DST on PORTSPEC [with ...] [at
//! TIME]` lines, the body of a `test` block, except that the port spec may be
//! a range or `any` (an intended change usually opens a service, not one
//! port). Each names the flows from SRC to DST on those ports, with the
//! context `with` and `at` give (default: `now`). An expectation *happened*
//! when, at that context, the new version decides every one of its flows as
//! it says and the old one decided none of them so. Then:
//!
//! - an expectation that did not happen is **missing** (already so before,
//!   or not so after);
//! - a row is **intended** when every flow of it — every source × destination
//!   × port — is named by an expectation that happened, else **collateral**.
//!   An identity named stands for its own addresses too; an address named
//!   covers that address only.
//!
//! Names are looked up in both versions (an intended removal names an
//! identity only the old one has); a name neither has is E0201, an
//! undeclared context input E0207, a repeated `with` item or a value of the
//! wrong type E0307.

use crate::model::{Diff, EndpointRef, FlowRef, Intent, Row};
use seg_diag::{Code, Diagnostic, Diagnostics, FileId, SourceMap, Span, did_you_mean};
use seg_ir::PortSet;
use seg_ir::{Action, ContextType, Program, Protocol, Value};
use seg_space::context::Context;
use seg_syntax::ast::{self, Endpoint, PortSpec, WithItem};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One intended change, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Expectation {
    pub decision: Action,
    #[serde(skip)]
    pub src: EndpointRef,
    #[serde(skip)]
    pub dst: EndpointRef,
    #[serde(skip)]
    pub ports: PortSet,
    #[serde(skip)]
    pub context: Context,
    /// The line as written, for reports.
    pub text: String,
    pub line: u32,
}

/// Why an intended change did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// The old version already decided the flow this way.
    AlreadyBefore,
    /// The new version does not decide it this way.
    NotAfter,
}

impl Missing {
    pub fn text(self, decision: Action) -> String {
        let d = if decision == Action::Allow {
            "allowed"
        } else {
            "denied"
        };
        match self {
            Missing::AlreadyBefore => format!("already {d} before the change"),
            Missing::NotAfter => format!("not {d} after the change"),
        }
    }
}

/// The outcome of checking a diff against the intended changes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Expectations that happened.
    pub happened: Vec<Expectation>,
    pub missing: Vec<(Expectation, Missing)>,
    /// Rows every flow of which is intended.
    pub intended_rows: usize,
    /// Rows with a flow no expectation names.
    pub collateral_rows: usize,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.missing.is_empty() && self.collateral_rows == 0
    }
}

/// Parse and resolve an expectations file against both versions. The file
/// is added to `map` under `name`; problems go to `diags`.
pub fn load(
    map: &mut SourceMap,
    name: &str,
    text: &str,
    old: &Program,
    new: &Program,
    diags: &mut Diagnostics,
) -> Vec<Expectation> {
    let file = map.add(name, text);
    let parsed = match seg_syntax::parse_expects(file, text) {
        Ok(e) => e,
        Err(d) => {
            diags.push(d);
            return Vec::new();
        }
    };
    parsed
        .iter()
        .filter_map(|e| resolve(map, file, e, old, new, diags))
        .collect()
}

fn resolve(
    map: &SourceMap,
    file: FileId,
    e: &ast::Expect,
    old: &Program,
    new: &Program,
    diags: &mut Diagnostics,
) -> Option<Expectation> {
    let errors = diags.error_count();
    let src = endpoint(&e.src, old, new, diags);
    let dst = endpoint(&e.dst, old, new, diags);
    let ports = match e.port.node {
        PortSpec::Icmp => PortSet::icmp(),
        PortSpec::Any => PortSet::any(),
        PortSpec::Ports { protocol, lo, hi } => PortSet::ports(protocol, lo, hi),
    };
    let mut ctx = Context::at(new.now);
    if let Some(at) = &e.at {
        ctx.at = at.node;
    }
    let mut seen = BTreeSet::new();
    for w in &e.with {
        let key = match &w.node {
            WithItem::Mtls => "mtls".to_string(),
            WithItem::Method(_) => "request.method".into(),
            WithItem::Path(_) => "request.path".into(),
            WithItem::Context { name, .. } => format!("context.{}", name.node.text),
        };
        if !seen.insert(key.clone()) {
            diags.push(invalid(
                w.span,
                &format!("`{key}` is given twice"),
                "given again here",
                &format!("keep one `{key}`"),
            ));
            continue;
        }
        match &w.node {
            WithItem::Mtls => ctx.mtls = true,
            WithItem::Method(m) => ctx.method = Some(m.clone()),
            WithItem::Path(p) => ctx.path = Some(p.clone()),
            WithItem::Context { name, value } => {
                if let Some(v) = context_value(&name.node.text, name.span, value, old, new, diags) {
                    ctx.context.insert(name.node.text.clone(), v);
                }
            }
        }
    }
    if diags.error_count() > errors {
        return None;
    }
    let (line, _) = map.line_col(e.span);
    let text = map
        .snippet(e.span)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let _ = file;
    Some(Expectation {
        decision: match e.decision.node {
            ast::Action::Allow => Action::Allow,
            ast::Action::Deny => Action::Deny,
        },
        src: src?,
        dst: dst?,
        ports,
        context: ctx,
        text,
        line: line as u32,
    })
}

fn invalid(span: Span, message: &str, label: &str, help: &str) -> Diagnostic {
    Diagnostic::error(Code::InvalidExpectation, message)
        .with_primary(span, label)
        .with_help(help)
}

fn endpoint(
    e: &ast::Spanned<Endpoint>,
    old: &Program,
    new: &Program,
    diags: &mut Diagnostics,
) -> Option<EndpointRef> {
    match &e.node {
        Endpoint::Address(a) => Some(EndpointRef::Address(*a)),
        Endpoint::Identity(name) => {
            let n = &name.text;
            if new.identity_by_name(n).is_some() || old.identity_by_name(n).is_some() {
                return Some(EndpointRef::Name(n.clone()));
            }
            let names = new
                .identities
                .iter()
                .chain(old.identities.iter())
                .map(|i| i.name.as_str());
            let mut d = Diagnostic::error(
                Code::UnknownName,
                format!("no identity `{n}` in either version"),
            )
            .with_primary(e.span, "not in the old or the new inventory");
            if let Some(s) = did_you_mean(n, names) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
            None
        }
    }
}

fn context_value(
    name: &str,
    span: Span,
    value: &ast::Spanned<ast::Value>,
    old: &Program,
    new: &Program,
    diags: &mut Diagnostics,
) -> Option<Value> {
    let ty = new.contexts.get(name).or_else(|| old.contexts.get(name));
    let Some(ty) = ty else {
        let declared = new
            .contexts
            .keys()
            .chain(old.contexts.keys())
            .map(String::as_str);
        let mut d = Diagnostic::error(
            Code::UndeclaredContext,
            format!("`context.{name}` is not declared in either version"),
        )
        .with_primary(span, "not declared");
        if let Some(s) = did_you_mean(name, declared) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        diags.push(d);
        return None;
    };
    let v = match (ty, &value.node) {
        (ContextType::Bool, ast::Value::Bool(b)) => Some(Value::Bool(*b)),
        (ContextType::Int, ast::Value::Int(i)) => Some(Value::Int(*i)),
        (ContextType::String, ast::Value::String(s)) => Some(Value::String(s.clone())),
        (ContextType::Enum(vs), ast::Value::String(s) | ast::Value::Word(s)) if vs.contains(s) => {
            Some(Value::String(s.clone()))
        }
        _ => None,
    };
    if v.is_none() {
        let expected = match ty {
            ContextType::Bool => "`true` or `false`".to_string(),
            ContextType::Int => "an integer".into(),
            ContextType::String => "a string".into(),
            ContextType::Enum(vs) => format!(
                "one of {}",
                vs.iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        diags.push(invalid(
            value.span,
            &format!("`context.{name}` takes {expected}"),
            "value of another type",
            &format!("give `context.{name}` {expected}"),
        ));
    }
    v
}

/// The reference decision of one version; a name it lacks is denied.
fn decides(p: &Program, f: &FlowRef) -> Action {
    match (f.src.resolve(p), f.dst.resolve(p)) {
        (Some(s), Some(d)) => {
            if seg_ir::eval::decide(p, &f.context.flow(s, d, f.protocol, f.port)).allowed {
                Action::Allow
            } else {
                Action::Deny
            }
        }
        _ => Action::Deny,
    }
}

/// Whether the rows' endpoints hold the expectation's endpoints.
fn holds_ends(row: &Row, e: &Expectation) -> bool {
    row.src.contains(&e.src) && row.dst.contains(&e.dst)
}

/// Whether an expectation happened; why not, else. The diff is exact, so
/// the flows it names changed iff rows hold them and differ at its context.
fn outcome(diff: &Diff, old: &Program, e: &Expectation) -> Result<(), Missing> {
    let allow = e.decision == Action::Allow;
    let mut changed = PortSet::empty();
    for row in diff.changes.iter().filter(|r| holds_ends(r, e)) {
        let here = row.ports.intersect(&e.ports);
        if here.is_empty() {
            continue;
        }
        let (before, after) = (row.before.allows(&e.context), row.after.allows(&e.context));
        if after != allow {
            return Err(Missing::NotAfter);
        }
        if before != after {
            changed = changed.union(&here);
        }
    }
    let Some((protocol, port)) = first(&e.ports.difference(&changed)) else {
        return Ok(());
    };
    // A port the change left alone: the old decision is the new one.
    let flow = FlowRef {
        src: e.src.clone(),
        dst: e.dst.clone(),
        protocol,
        port,
        context: e.context.clone(),
    };
    Err(if (decides(old, &flow) == Action::Allow) == allow {
        Missing::AlreadyBefore
    } else {
        Missing::NotAfter
    })
}

fn first(p: &PortSet) -> Option<(Protocol, u16)> {
    for (protocol, ranges) in p.by_protocol() {
        if let Some(&(lo, _)) = ranges.ranges().first() {
            return Some((protocol, lo));
        }
    }
    if p.icmp {
        Some((Protocol::Icmp, 0))
    } else if p.other {
        Some((Protocol::Other(47), 0))
    } else {
        None
    }
}

/// Check the diff against the expectations; marks each row's intent.
pub fn check(diff: &mut Diff, old: &Program, expectations: Vec<Expectation>) -> Report {
    let mut report = Report::default();
    for e in expectations {
        match outcome(diff, old, &e) {
            Ok(()) => report.happened.push(e),
            Err(why) => report.missing.push((e, why)),
        }
    }
    // Ports named per (source, destination).
    let mut named: BTreeMap<(&EndpointRef, &EndpointRef), PortSet> = BTreeMap::new();
    for e in &report.happened {
        let entry = named.entry((&e.src, &e.dst)).or_default();
        *entry = entry.union(&e.ports);
    }
    let mut intents = Vec::with_capacity(diff.changes.len());
    for row in &diff.changes {
        intents.push(if covered(row, &named) {
            Intent::Intended
        } else {
            Intent::Collateral
        });
    }
    for (row, intent) in diff.changes.iter_mut().zip(intents) {
        row.intent = Some(intent);
        match intent {
            Intent::Intended => report.intended_rows += 1,
            Intent::Collateral => report.collateral_rows += 1,
        }
    }
    report
}

/// The members of one end that expectations must name: identities (their
/// own addresses go with them), else single addresses; `None` when an end
/// holds a network wider than one address.
fn named_members(e: &crate::model::Endpoints) -> Option<Vec<EndpointRef>> {
    let mut out: Vec<EndpointRef> = e
        .identities
        .iter()
        .cloned()
        .map(EndpointRef::Name)
        .collect();
    if !e.own_addresses {
        for n in &e.addresses {
            if n.prefix_len() != n.max_prefix_len() {
                return None;
            }
            out.push(EndpointRef::Address(n.addr()));
        }
    }
    Some(out)
}

fn covered(row: &Row, named: &BTreeMap<(&EndpointRef, &EndpointRef), PortSet>) -> bool {
    let (Some(srcs), Some(dsts)) = (named_members(&row.src), named_members(&row.dst)) else {
        return false;
    };
    if srcs.len().saturating_mul(dsts.len()) > named.len() {
        return false;
    }
    srcs.iter().all(|s| {
        dsts.iter().all(|d| {
            named
                .get(&(s, d))
                .is_some_and(|ports| row.ports.is_subset(ports))
        })
    })
}

/// Expectations that happened, by the index of the row holding them.
pub fn by_row<'r>(diff: &Diff, report: &'r Report) -> BTreeMap<usize, Vec<&'r Expectation>> {
    let mut out: BTreeMap<usize, Vec<&Expectation>> = BTreeMap::new();
    for e in &report.happened {
        for (i, row) in diff.changes.iter().enumerate() {
            if holds_ends(row, e) && !row.ports.intersect(&e.ports).is_empty() {
                out.entry(i).or_default().push(e);
            }
        }
    }
    out
}
