//! Set expressions, predicates and conditions.
//!
//! The grammar yields flat operand/operator sequences; pest's `PrattParser`
//! (one table per precedence family, built once) folds them into trees:
//! sets: `&` binds tighter than `|` and `-`, which are equal and left-associative;
//! predicates and conditions: `not` > `and` > `or`, left-associative.
//!
//! Invariant: no tree built here is deeper than [`MAX_DEPTH`]. Parentheses and
//! `not` runs are bounded before pest runs (see `prescan`); long operator chains
//! are caught here, so later stages may recurse over the AST freely.

use crate::ast::{
    AttrRef, CmpOp, Cond, CondKind, DayRange, Ident, Name, Pred, PredKind, SetExpr, SetExprKind,
    Spanned, Value, Weekday,
};
use crate::cursor::Ctx;
use crate::grammar::Rule;
use crate::literal;
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use seg_diag::{Code, Diagnostic, Span};
use std::sync::LazyLock;

type Result<T> = std::result::Result<T, Diagnostic>;

/// The deepest expression tree (and bracket nesting) the parser accepts.
pub(crate) const MAX_DEPTH: usize = 256;

static SET_PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::op_union, Assoc::Left) | Op::infix(Rule::op_diff, Assoc::Left))
        .op(Op::infix(Rule::op_inter, Assoc::Left))
});

static BOOL_PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::kw_or, Assoc::Left))
        .op(Op::infix(Rule::kw_and, Assoc::Left))
        .op(Op::prefix(Rule::kw_not))
});

/// A node and the depth of the tree under it.
type Deep<T> = (T, usize);

fn deeper(depth: usize, span: Span) -> Result<usize> {
    if depth > MAX_DEPTH {
        return Err(Diagnostic::error(Code::InputTooLarge, "expression nests too deeply")
            .with_primary(span, "too many nested operators")
            .with_note(format!("an expression may be at most {MAX_DEPTH} levels deep; each operator in a chain adds one"))
            .with_help("split it into named segments, or list names with `[..]` or `in [..]`"));
    }
    Ok(depth)
}

pub(crate) fn name(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Ident> {
    let mut c = ctx.children(pair);
    let inner = c.next_any()?;
    c.done()?;
    let node = match inner.as_rule() {
        Rule::bare_name => Name {
            text: literal::bare_name(ctx, &inner)?,
            quoted: false,
        },
        Rule::string => Name {
            text: non_empty(ctx, &inner)?,
            quoted: true,
        },
        other => return Err(ctx.bug(ctx.span(&inner), format!("{other:?} as a name"))),
    };
    Ok(Spanned::new(node, ctx.span(pair)))
}

fn non_empty(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<String> {
    let text = literal::string(ctx, pair)?;
    if text.is_empty() {
        return Err(
            Diagnostic::error(Code::InvalidLiteral, "a quoted name cannot be empty")
                .with_primary(ctx.span(pair), "empty name"),
        );
    }
    Ok(text)
}

// ---- set expressions ------------------------------------------------------

pub(crate) fn set_expr(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<SetExpr> {
    set_expr_deep(ctx, pair).map(|(e, _)| e)
}

fn set_expr_deep(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Deep<SetExpr>> {
    if let Some(operand) = only_operand(pair) {
        return set_operand(ctx, &operand);
    }
    SET_PRATT
        .map_primary(|p| set_operand(ctx, &p))
        .map_infix(|lhs, op, rhs| {
            let ((l, dl), (r, dr)) = (lhs?, rhs?);
            let span = l.span.to(r.span);
            let depth = deeper(dl.max(dr) + 1, span)?;
            let (l, r) = (Box::new(l), Box::new(r));
            let kind = match op.as_rule() {
                Rule::op_union => SetExprKind::Union(l, r),
                Rule::op_inter => SetExprKind::Intersect(l, r),
                Rule::op_diff => SetExprKind::Difference(l, r),
                other => return Err(ctx.bug(ctx.span(&op), format!("{other:?} as a set operator"))),
            };
            Ok((Spanned::new(kind, span), depth))
        })
        .parse(pair.clone().into_inner())
}

/// The operand of an expression that is one operand alone: what the Pratt
/// parser would give, without setting it up.
fn only_operand<'i>(pair: &Pair<'i, Rule>) -> Option<Pair<'i, Rule>> {
    let mut inner = pair.clone().into_inner();
    if inner.len() == 1 { inner.next() } else { None }
}

/// The one child of an operand wrapper (`set_operand`, `pred_operand`, `cond_operand`).
fn only_child<'i>(ctx: Ctx, pair: &Pair<'i, Rule>) -> Result<Pair<'i, Rule>> {
    let mut c = ctx.children(pair);
    let inner = c.next_any()?;
    c.done()?;
    Ok(inner)
}

/// A leaf operand: depth 0 (each operator and parenthesis above it adds one).
fn leaf<T>(ctx: Ctx, pair: &Pair<'_, Rule>, kind: Result<T>) -> Result<Deep<Spanned<T>>> {
    Ok((Spanned::new(kind?, ctx.span(pair)), 0))
}

// The recursive path (operand -> parenthesis -> expression -> operand) goes
// through small functions only: in debug builds every local of a function
// takes stack space, and nesting must fit in a test thread's stack.
fn set_operand(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Deep<SetExpr>> {
    let inner = only_child(ctx, pair)?;
    match inner.as_rule() {
        Rule::set_paren => set_paren(ctx, &inner),
        Rule::set_where => set_where(ctx, &inner),
        _ => leaf(ctx, &inner, set_leaf(ctx, &inner)),
    }
}

fn set_paren(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Deep<SetExpr>> {
    let span = ctx.span(pair);
    let mut c = ctx.children(pair);
    c.next(Rule::lparen)?;
    let (e, depth) = set_expr_deep(ctx, &c.next(Rule::set_expr)?)?;
    c.next(Rule::rparen)?;
    c.done()?;
    Ok((Spanned::new(e.node, span), deeper(depth + 1, span)?))
}

fn set_where(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Deep<SetExpr>> {
    let span = ctx.span(pair);
    let mut c = ctx.children(pair);
    c.next(Rule::kw_identities)?;
    c.next(Rule::kw_where)?;
    let (p, depth) = pred_deep(ctx, &c.next(Rule::pred)?)?;
    c.done()?;
    Ok((
        Spanned::new(SetExprKind::Where(p), span),
        deeper(depth + 1, span)?,
    ))
}

/// Operands that contain no expression.
fn set_leaf(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<SetExprKind> {
    let mut c = ctx.children(pair);
    let kind = match pair.as_rule() {
        Rule::set_list => {
            c.next(Rule::lbracket)?;
            let mut names = Vec::new();
            while let Some(p) = c.optional(Rule::name) {
                names.push(name(ctx, &p)?);
                c.optional(Rule::comma);
            }
            c.next(Rule::rbracket)?;
            SetExprKind::List(names)
        }
        Rule::set_network => {
            c.next(Rule::kw_network)?;
            let mut nets = Vec::new();
            loop {
                let p = c.next(Rule::net_literal)?;
                nets.push(Spanned::new(literal::network(ctx, &p)?, ctx.span(&p)));
                if c.optional(Rule::comma).is_none() {
                    break;
                }
            }
            SetExprKind::Network(nets)
        }
        Rule::set_any => {
            c.next(Rule::kw_any)?;
            SetExprKind::Any
        }
        Rule::set_name => SetExprKind::Name(name(ctx, &c.next(Rule::name)?)?.node),
        other => return Err(ctx.bug(ctx.span(pair), format!("{other:?} as a set operand"))),
    };
    c.done()?;
    Ok(kind)
}

// ---- predicates and conditions ---------------------------------------------

/// What follows an attribute path: `== v`, `in [..]`, `matches "glob"`, or nothing.
enum AttrTest {
    Bare,
    Compare(CmpOp, Spanned<Value>),
    In(Vec<Spanned<Value>>),
    Matches(Spanned<String>),
}

/// Fold a `pred` or `cond` sequence with the boolean Pratt table.
fn boolean<T>(
    ctx: Ctx,
    pair: &Pair<'_, Rule>,
    operand: impl Fn(&Pair<'_, Rule>) -> Result<Deep<Spanned<T>>>,
    not: fn(Box<Spanned<T>>) -> T,
    and: fn(Box<Spanned<T>>, Box<Spanned<T>>) -> T,
    or: fn(Box<Spanned<T>>, Box<Spanned<T>>) -> T,
) -> Result<Deep<Spanned<T>>> {
    if let Some(p) = only_operand(pair) {
        return operand(&p);
    }
    BOOL_PRATT
        .map_primary(|p| operand(&p))
        .map_prefix(|op, rhs| {
            let (e, d) = rhs?;
            let span = ctx.span(&op).to(e.span);
            Ok((Spanned::new(not(Box::new(e)), span), deeper(d + 1, span)?))
        })
        .map_infix(|lhs, op, rhs| {
            let ((l, dl), (r, dr)) = (lhs?, rhs?);
            let span = l.span.to(r.span);
            let depth = deeper(dl.max(dr) + 1, span)?;
            let kind = match op.as_rule() {
                Rule::kw_and => and(Box::new(l), Box::new(r)),
                Rule::kw_or => or(Box::new(l), Box::new(r)),
                other => {
                    return Err(ctx.bug(ctx.span(&op), format!("{other:?} as a boolean operator")));
                }
            };
            Ok((Spanned::new(kind, span), depth))
        })
        .parse(pair.clone().into_inner())
}

/// A `pred` node as a predicate.
pub(crate) fn pred(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Pred> {
    pred_deep(ctx, pair).map(|(p, _)| p)
}

fn pred_deep(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Deep<Pred>> {
    boolean(
        ctx,
        pair,
        |p| pred_operand(ctx, p),
        PredKind::Not,
        PredKind::And,
        PredKind::Or,
    )
}

fn pred_operand(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Deep<Pred>> {
    let inner = only_child(ctx, pair)?;
    match inner.as_rule() {
        Rule::pred_paren => pred_paren(ctx, &inner),
        _ => leaf(ctx, &inner, pred_leaf(ctx, &inner)),
    }
}

fn pred_paren(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Deep<Pred>> {
    let span = ctx.span(pair);
    let mut c = ctx.children(pair);
    c.next(Rule::lparen)?;
    let (p, depth) = pred_deep(ctx, &c.next(Rule::pred)?)?;
    c.next(Rule::rparen)?;
    c.done()?;
    Ok((Spanned::new(p.node, span), deeper(depth + 1, span)?))
}

fn pred_leaf(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<PredKind> {
    let mut c = ctx.children(pair);
    let kind = match pair.as_rule() {
        Rule::pred_has => PredKind::Has(has_call(ctx, &mut c)?),
        Rule::pred_atom => {
            let attr = attr_path(ctx, &c.next(Rule::attr_path)?)?;
            match attr_test(ctx, c.optional(Rule::attr_test))? {
                AttrTest::Bare => PredKind::Bare(attr),
                AttrTest::Compare(op, value) => PredKind::Compare { attr, op, value },
                AttrTest::In(values) => PredKind::In { attr, values },
                AttrTest::Matches(pattern) => PredKind::Matches { attr, pattern },
            }
        }
        other => return Err(ctx.bug(ctx.span(pair), format!("{other:?} as a predicate operand"))),
    };
    c.done()?;
    Ok(kind)
}

pub(crate) fn cond(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Cond> {
    cond_deep(ctx, pair).map(|(c, _)| c)
}

fn cond_deep(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Deep<Cond>> {
    boolean(
        ctx,
        pair,
        |p| cond_operand(ctx, p),
        CondKind::Not,
        CondKind::And,
        CondKind::Or,
    )
}

fn cond_operand(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Deep<Cond>> {
    let inner = only_child(ctx, pair)?;
    match inner.as_rule() {
        Rule::cond_paren => cond_paren(ctx, &inner),
        _ => leaf(ctx, &inner, cond_leaf(ctx, &inner)),
    }
}

fn cond_paren(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Deep<Cond>> {
    let span = ctx.span(pair);
    let mut c = ctx.children(pair);
    c.next(Rule::lparen)?;
    let (e, depth) = cond_deep(ctx, &c.next(Rule::cond)?)?;
    c.next(Rule::rparen)?;
    c.done()?;
    Ok((Spanned::new(e.node, span), deeper(depth + 1, span)?))
}

fn cond_leaf(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<CondKind> {
    let mut c = ctx.children(pair);
    let kind = match pair.as_rule() {
        Rule::cond_mtls => {
            c.next(Rule::kw_mtls)?;
            CondKind::Mtls
        }
        Rule::cond_time => {
            c.next(Rule::kw_time)?;
            let start = c.next(Rule::time_of_day)?;
            let start = Spanned::new(literal::time_of_day(ctx, &start)?, ctx.span(&start));
            c.next(Rule::range_dots)?;
            let end = c.next(Rule::time_of_day)?;
            let end = Spanned::new(literal::time_of_day(ctx, &end)?, ctx.span(&end));
            let utc = c.optional(Rule::kw_utc).is_some();
            CondKind::Time { start, end, utc }
        }
        Rule::cond_days => {
            c.next(Rule::kw_days)?;
            let mut days = Vec::new();
            loop {
                days.push(day_range(ctx, &c.next(Rule::day_range)?)?);
                if c.optional(Rule::comma).is_none() {
                    break;
                }
            }
            CondKind::Days(days)
        }
        Rule::cond_has => CondKind::Has(has_call(ctx, &mut c)?),
        Rule::cond_atom => {
            let attr = attr_path(ctx, &c.next(Rule::attr_path)?)?;
            match attr_test(ctx, c.optional(Rule::attr_test))? {
                AttrTest::Bare => CondKind::Bare(attr),
                AttrTest::Compare(op, value) => CondKind::Compare { attr, op, value },
                AttrTest::In(values) => CondKind::In { attr, values },
                AttrTest::Matches(pattern) => CondKind::Matches { attr, pattern },
            }
        }
        other => return Err(ctx.bug(ctx.span(pair), format!("{other:?} as a condition operand"))),
    };
    c.done()?;
    Ok(kind)
}

fn has_call(ctx: Ctx, c: &mut crate::cursor::Cursor<'_>) -> Result<AttrRef> {
    c.next(Rule::kw_has)?;
    c.next(Rule::lparen)?;
    let attr = attr_path(ctx, &c.next(Rule::attr_path)?)?;
    c.next(Rule::rparen)?;
    Ok(attr)
}

fn day_range(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Spanned<DayRange>> {
    let mut c = ctx.children(pair);
    let from = weekday(ctx, &c.next(Rule::weekday)?)?;
    let to = match c.optional(Rule::range_dots) {
        Some(_) => weekday(ctx, &c.next(Rule::weekday)?)?,
        None => from,
    };
    c.done()?;
    Ok(Spanned::new(DayRange { from, to }, ctx.span(pair)))
}

fn weekday(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Weekday> {
    Weekday::parse(pair.as_str())
        .ok_or_else(|| ctx.bug(ctx.span(pair), "weekday the grammar accepted"))
}

fn attr_test(ctx: Ctx, pair: Option<Pair<'_, Rule>>) -> Result<AttrTest> {
    let Some(pair) = pair else {
        return Ok(AttrTest::Bare);
    };
    let mut c = ctx.children(&pair);
    let test = match c.peek() {
        Some(Rule::cmp_op) => {
            let op = c.next(Rule::cmp_op)?;
            let op = match ctx.children(&op).next_any()?.as_rule() {
                Rule::op_eq => CmpOp::Eq,
                Rule::op_ne => CmpOp::Ne,
                other => return Err(ctx.bug(ctx.span(&op), format!("{other:?} as a comparison"))),
            };
            AttrTest::Compare(op, value(ctx, &c.next(Rule::value)?)?)
        }
        Some(Rule::kw_in) => {
            c.next(Rule::kw_in)?;
            AttrTest::In(value_list(ctx, &c.next(Rule::value_list)?)?)
        }
        Some(Rule::kw_matches) => {
            c.next(Rule::kw_matches)?;
            let p = c.next(Rule::string)?;
            AttrTest::Matches(Spanned::new(literal::string(ctx, &p)?, ctx.span(&p)))
        }
        _ => return Err(ctx.bug(ctx.span(&pair), "attribute test of unknown form")),
    };
    c.done()?;
    Ok(test)
}

/// A dotted path such as `labels."app.kubernetes.io/name"`.
pub(crate) fn attr_path(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<AttrRef> {
    let mut parts = Vec::new();
    for seg in ctx.children(pair).rest() {
        let mut c = ctx.children(&seg);
        let inner = c.next_any()?;
        c.done()?;
        parts.push(match inner.as_rule() {
            Rule::bare_name => literal::bare_name(ctx, &inner)?,
            Rule::string => non_empty(ctx, &inner)?,
            other => {
                return Err(ctx.bug(ctx.span(&inner), format!("{other:?} in an attribute path")));
            }
        });
    }
    Ok(Spanned::new(parts, ctx.span(pair)))
}

pub(crate) fn value(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Spanned<Value>> {
    let mut c = ctx.children(pair);
    let inner = c.next_any()?;
    c.done()?;
    let v = match inner.as_rule() {
        Rule::string => Value::String(literal::string(ctx, &inner)?),
        Rule::boolean => Value::Bool(inner.as_str() == "true"),
        Rule::integer => Value::Int(literal::integer(ctx, &inner)?),
        Rule::bare_name => Value::Word(literal::bare_name(ctx, &inner)?),
        other => return Err(ctx.bug(ctx.span(&inner), format!("{other:?} as a value"))),
    };
    Ok(Spanned::new(v, ctx.span(pair)))
}

fn value_list(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Vec<Spanned<Value>>> {
    let mut c = ctx.children(pair);
    c.next(Rule::lbracket)?;
    let mut values = Vec::new();
    while let Some(p) = c.optional(Rule::value) {
        values.push(value(ctx, &p)?);
        c.optional(Rule::comma);
    }
    c.next(Rule::rbracket)?;
    c.done()?;
    Ok(values)
}
