//! Operator precedence and associativity, asserted on tree shape (spans are
//! ignored by `==`).

mod common;

use seg_diag::Span;
use seg_syntax::ast::{CondKind, Item, Name, PredKind, SetExpr, SetExprKind, Spanned};

fn segment_expr(src: &str) -> SetExpr {
    let file = common::parse(&format!("segment s = {src}")).expect("parses");
    match file.items.into_iter().next() {
        Some(Item::Segment(s)) => s.expr,
        other => panic!("not a segment: {other:?}"),
    }
}

/// A tree printed with explicit parentheses, e.g. `((a - b) | c)`.
fn set_shape(e: &SetExpr) -> String {
    match &e.node {
        SetExprKind::Name(n) => n.text.clone(),
        SetExprKind::Union(l, r) => format!("({} | {})", set_shape(l), set_shape(r)),
        SetExprKind::Intersect(l, r) => format!("({} & {})", set_shape(l), set_shape(r)),
        SetExprKind::Difference(l, r) => format!("({} - {})", set_shape(l), set_shape(r)),
        SetExprKind::Where(p) => format!("where {}", pred_shape(p)),
        other => format!("{other:?}"),
    }
}

fn pred_shape(p: &Spanned<PredKind>) -> String {
    match &p.node {
        PredKind::And(l, r) => format!("({} and {})", pred_shape(l), pred_shape(r)),
        PredKind::Or(l, r) => format!("({} or {})", pred_shape(l), pred_shape(r)),
        PredKind::Not(x) => format!("not {}", pred_shape(x)),
        PredKind::Bare(a) => a.node.join("."),
        other => format!("{other:?}"),
    }
}

fn cond_shape(c: &Spanned<CondKind>) -> String {
    match &c.node {
        CondKind::And(l, r) => format!("({} and {})", cond_shape(l), cond_shape(r)),
        CondKind::Or(l, r) => format!("({} or {})", cond_shape(l), cond_shape(r)),
        CondKind::Not(x) => format!("not {}", cond_shape(x)),
        CondKind::Bare(a) => a.node.join("."),
        CondKind::Mtls => "mtls".into(),
        other => format!("{other:?}"),
    }
}

fn when(src: &str) -> String {
    let file =
        common::parse(&format!("policy p {{ allow a -> b on x when {src} }}")).expect("parses");
    let Some(Item::Policy(p)) = file.items.into_iter().next() else {
        panic!("not a policy")
    };
    cond_shape(p.rules[0].when.as_ref().expect("has when"))
}

#[test]
fn intersection_binds_tighter_than_union_and_difference() {
    assert_eq!(set_shape(&segment_expr("a | b & c")), "(a | (b & c))");
    assert_eq!(set_shape(&segment_expr("a & b | c")), "((a & b) | c)");
    assert_eq!(set_shape(&segment_expr("a - b & c")), "(a - (b & c))");
    assert_eq!(
        set_shape(&segment_expr("a & b - c & d")),
        "((a & b) - (c & d))"
    );
}

#[test]
fn union_and_difference_are_equal_and_left_associative() {
    assert_eq!(set_shape(&segment_expr("a - b | c")), "((a - b) | c)");
    assert_eq!(set_shape(&segment_expr("a | b - c")), "((a | b) - c)");
    assert_eq!(set_shape(&segment_expr("a - b - c")), "((a - b) - c)");
    assert_eq!(set_shape(&segment_expr("a & b & c")), "((a & b) & c)");
}

#[test]
fn parentheses_override_precedence() {
    assert_eq!(set_shape(&segment_expr("(a | b) & c")), "((a | b) & c)");
    assert_eq!(set_shape(&segment_expr("a - (b - c)")), "(a - (b - c))");
    assert_eq!(set_shape(&segment_expr("((a))")), "a");
}

#[test]
fn a_where_predicate_stops_at_a_set_operator() {
    assert_eq!(
        set_shape(&segment_expr("identities where p or q | r")),
        "(where (p or q) | r)"
    );
    assert_eq!(
        set_shape(&segment_expr("r - identities where not p and q")),
        "(r - where (not p and q))"
    );
}

#[test]
fn predicates_bind_not_then_and_then_or() {
    assert_eq!(
        set_shape(&segment_expr("identities where a or b and c")),
        "where (a or (b and c))"
    );
    assert_eq!(
        set_shape(&segment_expr("identities where not a and b")),
        "where (not a and b)"
    );
    assert_eq!(
        set_shape(&segment_expr("identities where not (a and b)")),
        "where not (a and b)"
    );
    assert_eq!(
        set_shape(&segment_expr("identities where a and b and c")),
        "where ((a and b) and c)"
    );
    assert_eq!(
        set_shape(&segment_expr("identities where a or b or c")),
        "where ((a or b) or c)"
    );
    assert_eq!(
        set_shape(&segment_expr("identities where not not a")),
        "where not not a"
    );
}

#[test]
fn conditions_bind_not_then_and_then_or() {
    assert_eq!(
        when("mtls or source.a and source.b"),
        "(mtls or (source.a and source.b))"
    );
    assert_eq!(when("not mtls and source.a"), "(not mtls and source.a)");
    assert_eq!(when("not (mtls or source.a)"), "not (mtls or source.a)");
    assert_eq!(
        when("(mtls or source.a) and source.b"),
        "((mtls or source.a) and source.b)"
    );
}

#[test]
fn equality_ignores_spans_but_spans_point_at_the_source() {
    let a = segment_expr("x | y");
    let b = segment_expr("x   |   y");
    assert_eq!(a, b, "same tree, different spans");
    assert_ne!(a.span, b.span);
    let SetExprKind::Union(l, r) = &b.node else {
        panic!("union")
    };
    let src = "segment s = x   |   y";
    assert_eq!(&src[l.span.range()], "x");
    assert_eq!(&src[r.span.range()], "y");
    assert_eq!(&src[b.span.range()], "x   |   y");
    let n = Spanned::new(
        SetExprKind::Name(Name {
            text: "x".into(),
            quoted: false,
        }),
        Span::new(common::FILE, 0, 0),
    );
    assert_eq!(**l, n);
}
