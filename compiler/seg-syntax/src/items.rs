//! Items, rules and test expectations: one function per grammar rule, each
//! reading its pair's children through a [`Cursor`](crate::cursor::Cursor).
//!
//! Besides shape, this layer checks what a PEG cannot say cheaply: a clause
//! given twice, and the keys allowed in `with`.

use crate::ast::{
    Action, Arrow, ContextDef, ContextInput, ContextType, Doc, Endpoint, Expect, Expiry, File,
    Item, PolicyDef, RuleDef, SegmentDef, ServiceDef, ServiceRef, ServiceRefKind, Spanned, TestDef,
    Use, UsePath, Value, WithItem,
};
use crate::cursor::{Ctx, Cursor};
use crate::exprs::{self, name};
use crate::grammar::Rule;
use crate::literal;
use pest::iterators::Pair;
use seg_diag::{Code, Diagnostic, Span};

type Result<T> = std::result::Result<T, Diagnostic>;

pub(crate) fn file(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<File> {
    let mut c = ctx.children(pair);
    let items = c
        .many(Rule::item)
        .iter()
        .map(|p| item(ctx, p))
        .collect::<Result<Vec<_>>>()?;
    c.optional(Rule::docs).map(|p| docs(ctx, &p)).transpose()?;
    c.next(Rule::EOI)?;
    c.done()?;
    Ok(File { items })
}

pub(crate) fn expect_file(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Vec<Expect>> {
    let mut c = ctx.children(pair);
    let expects = c
        .many(Rule::expect)
        .iter()
        .map(|p| expect(ctx, p))
        .collect::<Result<Vec<_>>>()?;
    c.optional(Rule::docs).map(|p| docs(ctx, &p)).transpose()?;
    c.next(Rule::EOI)?;
    c.done()?;
    Ok(expects)
}

fn item(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Item> {
    let mut c = ctx.children(pair);
    let doc = optional_docs(ctx, &mut c)?;
    let inner = c.next_any()?;
    c.done()?;
    Ok(match inner.as_rule() {
        Rule::use_item => Item::Use(use_item(ctx, &inner)?),
        Rule::segment => Item::Segment(segment(ctx, &inner, doc)?),
        Rule::service => Item::Service(service(ctx, &inner, doc)?),
        Rule::policy => Item::Policy(policy(ctx, &inner, doc)?),
        Rule::context => Item::Context(context(ctx, &inner, doc)?),
        Rule::test => Item::Test(test(ctx, &inner)?),
        other => return Err(ctx.bug(ctx.span(&inner), format!("{other:?} as an item"))),
    })
}

/// The `///` block, lines joined with `\n`, each without `///` and one following space.
fn docs(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Doc> {
    let mut lines = Vec::new();
    for line in pair.clone().into_inner() {
        let span = line.as_span();
        let before = &span.get_input()[..span.start()];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        if !before[line_start..].trim().is_empty() {
            // After code, a `///` would silently document the next item instead.
            return Err(Diagnostic::error(
                Code::SyntaxError,
                "doc comment after code on the same line",
            )
            .with_primary(ctx.span(&line), "doc comment")
            .with_note("a doc comment documents the item or rule that follows it")
            .with_help("move it to its own line above what it documents, or use `//`"));
        }
        let body = line.as_str().trim_start_matches("///");
        lines.push(
            body.strip_prefix(' ')
                .unwrap_or(body)
                .trim_end()
                .to_string(),
        );
    }
    Ok(Spanned::new(lines.join("\n"), ctx.span(pair)))
}

fn optional_docs(ctx: Ctx, c: &mut Cursor<'_>) -> Result<Option<Doc>> {
    c.optional(Rule::docs).map(|p| docs(ctx, &p)).transpose()
}

fn use_item(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Use> {
    let mut c = ctx.children(pair);
    c.next(Rule::kw_use)?;
    let path_pair = c.next(Rule::use_path)?;
    let mut pc = ctx.children(&path_pair);
    let inner = pc.next_any()?;
    pc.done()?;
    let path = match inner.as_rule() {
        Rule::use_file => UsePath::File(inner.as_str().to_string()),
        Rule::string => UsePath::File(literal::string(ctx, &inner)?),
        Rule::use_module => UsePath::Module(
            ctx.children(&inner)
                .rest()
                .map(|p| literal::bare_name(ctx, &p))
                .collect::<Result<Vec<_>>>()?,
        ),
        other => return Err(ctx.bug(ctx.span(&inner), format!("{other:?} as a use path"))),
    };
    c.next(Rule::path_sep)?;
    c.next(Rule::lbrace)?;
    let mut names = Vec::new();
    while let Some(p) = c.optional(Rule::name) {
        names.push(name(ctx, &p)?);
        c.optional(Rule::comma);
    }
    c.next(Rule::rbrace)?;
    c.done()?;
    Ok(Use {
        path: Spanned::new(path, ctx.span(&path_pair)),
        names,
        span: ctx.span(pair),
    })
}

fn segment(ctx: Ctx, pair: &Pair<'_, Rule>, doc: Option<Doc>) -> Result<SegmentDef> {
    let mut c = ctx.children(pair);
    c.next(Rule::kw_segment)?;
    let name = name(ctx, &c.next(Rule::name)?)?;
    c.next(Rule::assign)?;
    let expr = exprs::set_expr(ctx, &c.next(Rule::set_expr)?)?;
    c.done()?;
    Ok(SegmentDef {
        doc,
        name,
        expr,
        span: ctx.span(pair),
    })
}

fn service(ctx: Ctx, pair: &Pair<'_, Rule>, doc: Option<Doc>) -> Result<ServiceDef> {
    let mut c = ctx.children(pair);
    c.next(Rule::kw_service)?;
    let name = name(ctx, &c.next(Rule::name)?)?;
    c.next(Rule::assign)?;
    let ports = service_list(ctx, &c.next(Rule::service_list)?)?;
    c.done()?;
    Ok(ServiceDef {
        doc,
        name,
        ports,
        span: ctx.span(pair),
    })
}

fn service_list(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Vec<ServiceRef>> {
    let mut out = Vec::new();
    for p in ctx
        .children(pair)
        .rest()
        .filter(|p| p.as_rule() != Rule::comma)
    {
        let mut c = ctx.children(&p);
        let inner = c.next_any()?;
        c.done()?;
        let kind = match inner.as_rule() {
            Rule::port_spec => ServiceRefKind::Port(literal::port_spec(ctx, &inner)?),
            Rule::name => ServiceRefKind::Named(name(ctx, &inner)?.node),
            other => return Err(ctx.bug(ctx.span(&inner), format!("{other:?} as a service"))),
        };
        out.push(Spanned::new(kind, ctx.span(&p)));
    }
    Ok(out)
}

/// Report a clause given twice, pointing at both.
fn duplicate(what: &str, first: Span, again: Span) -> Diagnostic {
    Diagnostic::error(Code::SyntaxError, format!("`{what}` is given twice"))
        .with_primary(again, format!("second `{what}`"))
        .with_secondary(first, format!("first `{what}` here"))
        .with_help(format!("keep one `{what}`"))
}

/// Store a clause, or report that it was already given.
fn once<T>(slot: &mut Option<(T, Span)>, what: &str, value: T, span: Span) -> Result<()> {
    if let Some((_, first)) = slot {
        return Err(duplicate(what, *first, span));
    }
    *slot = Some((value, span));
    Ok(())
}

fn policy(ctx: Ctx, pair: &Pair<'_, Rule>, doc: Option<Doc>) -> Result<PolicyDef> {
    let mut c = ctx.children(pair);
    c.next(Rule::kw_policy)?;
    let name = name(ctx, &c.next(Rule::name)?)?;
    c.next(Rule::lbrace)?;
    let (mut owner, mut review_by) = (None, None);
    let mut rules = Vec::new();
    for p in c.rest() {
        match p.as_rule() {
            Rule::docs => {
                docs(ctx, &p)?;
            }
            Rule::rbrace => {}
            Rule::rule => rules.push(rule(ctx, &p)?),
            Rule::policy_meta => {
                let mut mc = ctx.children(&p);
                let meta = mc.next_any()?;
                mc.done()?;
                let span = ctx.span(&meta);
                let mut mc = ctx.children(&meta);
                match meta.as_rule() {
                    Rule::policy_owner => {
                        mc.next(Rule::kw_owner)?;
                        let s = mc.next(Rule::string)?;
                        let v = Spanned::new(literal::string(ctx, &s)?, ctx.span(&s));
                        once(&mut owner, "owner", v, span)?;
                    }
                    Rule::policy_review_by => {
                        mc.next(Rule::kw_review_by)?;
                        let d = mc.next(Rule::date)?;
                        let v = Spanned::new(literal::date(ctx, &d)?, ctx.span(&d));
                        once(&mut review_by, "review-by", v, span)?;
                    }
                    other => return Err(ctx.bug(span, format!("{other:?} as policy metadata"))),
                }
                mc.done()?;
            }
            other => return Err(ctx.bug(ctx.span(&p), format!("{other:?} in a policy"))),
        }
    }
    Ok(PolicyDef {
        doc,
        name,
        owner: owner.map(|(v, _)| v),
        review_by: review_by.map(|(v, _)| v),
        rules,
        span: ctx.span(pair),
    })
}

fn action(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Spanned<Action>> {
    let mut c = ctx.children(pair);
    let kw = c.next_any()?;
    c.done()?;
    let a = match kw.as_rule() {
        Rule::kw_allow => Action::Allow,
        Rule::kw_deny => Action::Deny,
        other => return Err(ctx.bug(ctx.span(&kw), format!("{other:?} as an action"))),
    };
    Ok(Spanned::new(a, ctx.span(pair)))
}

fn rule(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<RuleDef> {
    let mut c = ctx.children(pair);
    let doc = optional_docs(ctx, &mut c)?;
    let action = action(ctx, &c.next(Rule::action)?)?;
    let src = exprs::set_expr(ctx, &c.next(Rule::set_expr)?)?;
    let arrow_pair = c.next(Rule::arrow)?;
    let arrow = match ctx.children(&arrow_pair).next_any()?.as_rule() {
        Rule::arrow_one => Arrow::OneWay,
        Rule::arrow_both => Arrow::Both,
        other => return Err(ctx.bug(ctx.span(&arrow_pair), format!("{other:?} as an arrow"))),
    };
    let dst = exprs::set_expr(ctx, &c.next(Rule::set_expr)?)?;
    c.next(Rule::kw_on)?;
    let services = service_list(ctx, &c.next(Rule::service_list)?)?;
    let (mut when, mut expires, mut reason, mut owner) = (None, None, None, None);
    let (mut created, mut ticket, mut approved_by) = (None, None, None);
    for clause in c.rest() {
        let mut cc = ctx.children(&clause);
        let inner = cc.next_any()?;
        cc.done()?;
        let span = ctx.span(&inner);
        let mut cc = ctx.children(&inner);
        match inner.as_rule() {
            Rule::when_clause => {
                cc.next(Rule::kw_when)?;
                once(
                    &mut when,
                    "when",
                    exprs::cond(ctx, &cc.next(Rule::cond)?)?,
                    span,
                )?;
            }
            Rule::expires_clause => {
                cc.next(Rule::kw_expires)?;
                let v = cc.next_any()?;
                let expiry = match v.as_rule() {
                    Rule::timestamp => Expiry::Instant(literal::timestamp(ctx, &v)?),
                    _ => Expiry::Day(literal::date(ctx, &v)?),
                };
                once(
                    &mut expires,
                    "expires",
                    Spanned::new(expiry, ctx.span(&v)),
                    span,
                )?;
            }
            Rule::reason_clause => {
                cc.next(Rule::kw_reason)?;
                let s = cc.next(Rule::string)?;
                once(
                    &mut reason,
                    "reason",
                    Spanned::new(literal::string(ctx, &s)?, ctx.span(&s)),
                    span,
                )?;
            }
            Rule::owner_clause => {
                cc.next(Rule::kw_owner)?;
                let s = cc.next(Rule::string)?;
                once(
                    &mut owner,
                    "owner",
                    Spanned::new(literal::string(ctx, &s)?, ctx.span(&s)),
                    span,
                )?;
            }
            Rule::created_clause => {
                cc.next(Rule::kw_created)?;
                let t = cc.next(Rule::timestamp)?;
                once(
                    &mut created,
                    "created",
                    Spanned::new(literal::timestamp(ctx, &t)?, ctx.span(&t)),
                    span,
                )?;
            }
            Rule::ticket_clause => {
                cc.next(Rule::kw_ticket)?;
                let s = cc.next(Rule::string)?;
                once(
                    &mut ticket,
                    "ticket",
                    Spanned::new(literal::string(ctx, &s)?, ctx.span(&s)),
                    span,
                )?;
            }
            Rule::approved_by_clause => {
                cc.next(Rule::kw_approved_by)?;
                let s = cc.next(Rule::string)?;
                once(
                    &mut approved_by,
                    "approved-by",
                    Spanned::new(literal::string(ctx, &s)?, ctx.span(&s)),
                    span,
                )?;
            }
            other => return Err(ctx.bug(span, format!("{other:?} as a rule clause"))),
        }
        cc.done()?;
    }
    Ok(RuleDef {
        doc,
        action,
        src,
        arrow: Spanned::new(arrow, ctx.span(&arrow_pair)),
        dst,
        services,
        when: when.map(|(v, _)| v),
        expires: expires.map(|(v, _)| v),
        reason: reason.map(|(v, _)| v),
        owner: owner.map(|(v, _)| v),
        created: created.map(|(v, _)| v),
        ticket: ticket.map(|(v, _)| v),
        approved_by: approved_by.map(|(v, _)| v),
        span: ctx.span_after_docs(pair),
    })
}

fn context(ctx: Ctx, pair: &Pair<'_, Rule>, doc: Option<Doc>) -> Result<ContextDef> {
    let mut c = ctx.children(pair);
    c.next(Rule::kw_context)?;
    c.next(Rule::lbrace)?;
    let mut inputs = Vec::new();
    while let Some(p) = c.optional(Rule::context_input) {
        inputs.push(context_input(ctx, &p)?);
        c.optional(Rule::comma);
    }
    c.next(Rule::rbrace)?;
    c.done()?;
    Ok(ContextDef {
        doc,
        inputs,
        span: ctx.span(pair),
    })
}

fn context_input(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<ContextInput> {
    let mut c = ctx.children(pair);
    let name = name(ctx, &c.next(Rule::name)?)?;
    c.next(Rule::colon)?;
    let ty_pair = c.next(Rule::context_type)?;
    c.done()?;
    let mut tc = ctx.children(&ty_pair);
    let inner = tc.next_any()?;
    tc.done()?;
    let ty = match inner.as_rule() {
        Rule::kw_string => ContextType::String,
        Rule::kw_int => ContextType::Int,
        Rule::kw_bool => ContextType::Bool,
        Rule::context_enum => {
            let mut values = Vec::new();
            for p in ctx
                .children(&inner)
                .rest()
                .filter(|p| p.as_rule() == Rule::enum_value)
            {
                let mut vc = ctx.children(&p);
                let v = vc.next_any()?;
                vc.done()?;
                values.push(match v.as_rule() {
                    Rule::bare_name => literal::bare_name(ctx, &v)?,
                    Rule::string => literal::string(ctx, &v)?,
                    other => {
                        return Err(ctx.bug(ctx.span(&v), format!("{other:?} as an enum value")));
                    }
                });
            }
            ContextType::Enum(values)
        }
        other => return Err(ctx.bug(ctx.span(&inner), format!("{other:?} as a context type"))),
    };
    Ok(ContextInput {
        name,
        ty: Spanned::new(ty, ctx.span(&ty_pair)),
    })
}

fn test(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<TestDef> {
    let mut c = ctx.children(pair);
    c.next(Rule::kw_test)?;
    let name_pair = c.next(Rule::string)?;
    let name = Spanned::new(literal::string(ctx, &name_pair)?, ctx.span(&name_pair));
    c.next(Rule::lbrace)?;
    let expects = c
        .many(Rule::expect)
        .iter()
        .map(|p| expect(ctx, p))
        .collect::<Result<Vec<_>>>()?;
    c.optional(Rule::docs).map(|p| docs(ctx, &p)).transpose()?;
    c.next(Rule::rbrace)?;
    c.done()?;
    Ok(TestDef {
        name,
        expects,
        span: ctx.span(pair),
    })
}

fn expect(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Expect> {
    let mut c = ctx.children(pair);
    optional_docs(ctx, &mut c)?;
    c.next(Rule::kw_expect)?;
    let decision = action(ctx, &c.next(Rule::action)?)?;
    let src = endpoint(ctx, &c.next(Rule::endpoint)?)?;
    c.next(Rule::arrow_one)?;
    let dst = endpoint(ctx, &c.next(Rule::endpoint)?)?;
    c.next(Rule::kw_on)?;
    let port_pair = c.next(Rule::port_spec)?;
    let port = Spanned::new(literal::port_spec(ctx, &port_pair)?, ctx.span(&port_pair));
    let (mut with, mut at) = (None, None);
    for clause in c.rest() {
        let mut cc = ctx.children(&clause);
        let inner = cc.next_any()?;
        cc.done()?;
        let span = ctx.span(&inner);
        let mut cc = ctx.children(&inner);
        match inner.as_rule() {
            Rule::with_clause => {
                cc.next(Rule::kw_with)?;
                let items = cc
                    .rest()
                    .filter(|p| p.as_rule() == Rule::with_item)
                    .map(|p| with_item(ctx, &p))
                    .collect::<Result<Vec<_>>>()?;
                once(&mut with, "with", items, span)?;
            }
            Rule::at_clause => {
                cc.next(Rule::kw_at)?;
                let t = cc.next(Rule::timestamp)?;
                once(
                    &mut at,
                    "at",
                    Spanned::new(literal::timestamp(ctx, &t)?, ctx.span(&t)),
                    span,
                )?;
                cc.done()?;
            }
            other => return Err(ctx.bug(span, format!("{other:?} as an expect clause"))),
        }
    }
    Ok(Expect {
        decision,
        src,
        dst,
        port,
        with: with.map(|(v, _)| v).unwrap_or_default(),
        at: at.map(|(v, _)| v),
        span: ctx.span_after_docs(pair),
    })
}

fn endpoint(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Spanned<Endpoint>> {
    let mut c = ctx.children(pair);
    let inner = c.next_any()?;
    c.done()?;
    let e = match inner.as_rule() {
        Rule::ip_address => Endpoint::Address(literal::ip_address(ctx, &inner)?),
        Rule::name => Endpoint::Identity(name(ctx, &inner)?.node),
        other => return Err(ctx.bug(ctx.span(&inner), format!("{other:?} as an endpoint"))),
    };
    Ok(Spanned::new(e, ctx.span(pair)))
}

/// `mtls`, `request.method = "GET"`, `request.path = "/x"` or `context.NAME = VALUE`.
fn with_item(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Spanned<WithItem>> {
    let span = ctx.span(pair);
    let mut c = ctx.children(pair);
    if c.optional(Rule::kw_mtls).is_some() {
        c.done()?;
        return Ok(Spanned::new(WithItem::Mtls, span));
    }
    let path_pair = c.next(Rule::attr_path)?;
    let path = exprs::attr_path(ctx, &path_pair)?;
    c.next(Rule::assign)?;
    let value = exprs::value(ctx, &c.next(Rule::value)?)?;
    c.done()?;
    let parts: Vec<&str> = path.node.iter().map(String::as_str).collect();
    let item = match parts.as_slice() {
        ["request", key @ ("method" | "path")] => {
            let Value::String(text) = value.node else {
                return Err(Diagnostic::error(
                    Code::SyntaxError,
                    format!("`request.{key}` takes a string"),
                )
                .with_primary(value.span, "expected a string")
                .with_help(format!("quote the value: `request.{key} = \"...\"`")));
            };
            if *key == "method" {
                WithItem::Method(text)
            } else {
                WithItem::Path(text)
            }
        }
        ["context", _] => {
            // The name's span is the part after `context.`.
            let name_span = Span {
                start: path.span.start + "context.".len() as u32,
                ..path.span
            };
            let text = path.node[1].clone();
            let quoted = path_pair.as_str().ends_with('"');
            WithItem::Context {
                name: Spanned::new(crate::ast::Name { text, quoted }, name_span),
                value,
            }
        }
        _ => {
            return Err(Diagnostic::error(
                Code::SyntaxError,
                format!("expected `mtls`, `request.method`, `request.path` or `context.NAME`, found `{}`", path_pair.as_str()),
            )
            .with_primary(path.span, "not a flow property")
            .with_note("`with` sets properties of the test flow; identity attributes come from the inventory"));
        }
    };
    Ok(Spanned::new(item, span))
}
