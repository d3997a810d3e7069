//! Lowering of `test` blocks into [`seg_ir::Test`] expectations.
//!
//! Each `expect` becomes one concrete flow: endpoints are inventory identities
//! (E0201 when unknown, E0208/E0209 when disabled or expired) or addresses;
//! the port spec must name one protocol and one port, or `icmp`; `with` items
//! set mTLS, the request and declared context inputs; the time is `at`, else
//! `now`. Anything that makes the flow ill-formed is E0307 (E0207 for an
//! undeclared context input).

use crate::CheckInput;
use crate::problems;
use crate::sets::{Env, Mention};
use crate::typeck::AttrTy;
use seg_diag::{Diagnostics, Span, did_you_mean};
use seg_ir::{Action, Expectation, Flow, FlowEndpoint, IdentityId, Protocol, Test, Value};
use seg_syntax::ast::{self, Endpoint, Item, PortSpec, Spanned, WithItem};
use std::collections::BTreeMap;

pub(crate) fn tests(env: &Env, input: &CheckInput, diags: &mut Diagnostics) -> Vec<Test> {
    let mut out = Vec::new();
    for unit in input.units {
        for item in &unit.ast.items {
            let Item::Test(t) = item else { continue };
            let expectations = t
                .expects
                .iter()
                .filter_map(|e| expectation(env, input, &unit.path, e, diags))
                .collect();
            out.push(Test {
                name: t.name.node.clone(),
                expectations,
            });
        }
    }
    out
}

fn expectation(
    env: &Env,
    input: &CheckInput,
    path: &str,
    e: &ast::Expect,
    diags: &mut Diagnostics,
) -> Option<Expectation> {
    let errors = diags.error_count();
    let src = endpoint(env, &e.src, diags);
    let dst = endpoint(env, &e.dst, diags);
    if let Some(FlowEndpoint::Identity(id)) = dst
        && env.index.absent.contains(id.0)
    {
        let ident = env.index.identity(id.0);
        let d = problems::invalid_expectation(
            e.dst.span,
            format!("no flow can reach `{}`", ident.name),
            "has no network presence",
            "test a destination that has `addresses` or a `kubernetes` binding".into(),
        );
        let kind = problems::article(ident.kind.as_str());
        diags.push(d.with_note(format!(
            "`{}` is {kind} with neither `addresses` nor a `kubernetes` binding",
            ident.name
        )));
    }
    let port = port(&e.port, diags);
    let mut flow_mtls = false;
    let (mut method, mut path_value) = (None, None);
    let mut context = BTreeMap::new();
    let mut seen: Vec<(String, Span)> = Vec::new();
    for w in &e.with {
        let key = match &w.node {
            WithItem::Mtls => "mtls".to_string(),
            WithItem::Method(_) => "request.method".into(),
            WithItem::Path(_) => "request.path".into(),
            WithItem::Context { name, .. } => format!("context.{}", name.node.text),
        };
        if seen.iter().any(|(k, _)| *k == key) {
            diags.push(problems::invalid_expectation(
                w.span,
                format!("`{key}` is given twice"),
                "given again here",
                format!("keep one `{key}`"),
            ));
            continue;
        }
        seen.push((key, w.span));
        match &w.node {
            WithItem::Mtls => {
                if matches!(src, Some(FlowEndpoint::Address(_))) {
                    diags.push(problems::invalid_expectation(
                        w.span,
                        "an address cannot present mTLS".into(),
                        "source is a bare address",
                        "use an inventory identity with a SPIFFE ID as the source".into(),
                    ));
                }
                flow_mtls = true;
            }
            WithItem::Method(m) => method = Some(m.clone()),
            WithItem::Path(p) => path_value = Some(p.clone()),
            WithItem::Context { name, value } => {
                if let Some(v) = context_value(env, name, value, diags) {
                    context.insert(name.node.text.clone(), v);
                }
            }
        }
    }
    if diags.error_count() > errors {
        return None;
    }
    let (src, dst, (protocol, port)) = (src?, dst?, port?);
    let (line, _) = input.map.line_col(e.span);
    Some(Expectation {
        decision: match e.decision.node {
            ast::Action::Allow => Action::Allow,
            ast::Action::Deny => Action::Deny,
        },
        flow: Flow {
            src,
            dst,
            protocol,
            port,
            // Without `at`, now: a reuse of a cached compilation sets its own
            // (`at_given` tells which), so the reading narrows nothing.
            at: e.at.as_ref().map_or_else(|| input.now.unread(), |a| a.node),
            mtls: flow_mtls,
            method,
            path: path_value,
            context,
        },
        at_given: e.at.is_some(),
        file: path.to_string(),
        line: line as u32,
        origin: e.span,
    })
}

fn endpoint(env: &Env, ep: &Spanned<Endpoint>, diags: &mut Diagnostics) -> Option<FlowEndpoint> {
    match &ep.node {
        Endpoint::Address(a) => Some(FlowEndpoint::Address(*a)),
        Endpoint::Identity(name) => match env.index.lookup(&name.text) {
            Some(id) => {
                env.check_mentions(&[Mention { id, span: ep.span }], diags);
                Some(FlowEndpoint::Identity(IdentityId(id)))
            }
            None => {
                let suggestion = did_you_mean(&name.text, env.index.names());
                diags.push(problems::unknown_identity(
                    ep.span, &name.text, suggestion, false,
                ));
                None
            }
        },
    }
}

fn port(p: &Spanned<PortSpec>, diags: &mut Diagnostics) -> Option<(Protocol, u16)> {
    let bad = |what: String, diags: &mut Diagnostics| {
        diags.push(problems::invalid_expectation(
            p.span,
            format!("a test flow needs one port, not {what}"),
            "not a single port",
            "write one protocol and port, e.g. `tcp/5432`, or `icmp`".into(),
        ));
        None
    };
    match p.node {
        PortSpec::Icmp => Some((Protocol::Icmp, 0)),
        PortSpec::Ports { protocol, lo, hi } if lo == hi => Some((protocol, lo)),
        PortSpec::Ports { lo, hi, .. } => bad(format!("the range `{lo}-{hi}`"), diags),
        PortSpec::Any => bad("`any`".into(), diags),
    }
}

fn context_value(
    env: &Env,
    name: &ast::Ident,
    value: &Spanned<ast::Value>,
    diags: &mut Diagnostics,
) -> Option<Value> {
    let Some(input) = env.res.contexts.get(&name.node.text) else {
        let suggestion = did_you_mean(&name.node.text, env.res.contexts.keys().map(String::as_str));
        diags.push(problems::undeclared_context(
            name.span,
            &name.node.text,
            suggestion,
        ));
        return None;
    };
    let ty = AttrTy::from(&input.ty.node);
    let attr = format!("context.{}", name.node.text);
    match env.typer().value(&attr, &ty, value) {
        Ok(v) => Some(v),
        Err(d) => {
            // Same facts as the type error, under the expectation's code.
            let mut e = problems::invalid_expectation(
                value.span,
                d.message,
                "invalid context value",
                d.help.unwrap_or_default(),
            );
            e.notes = d.notes;
            diags.push(e);
            None
        }
    }
}
