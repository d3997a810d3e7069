//! Typing of attribute predicates (`identities where`) and `when` conditions.
//!
//! Input: AST predicates/conditions, the inventory's attribute declarations
//! and the declared context inputs. Output: [`RPred`] (static, over identity
//! attributes) and [`RCond`] (static literals on `source.`/`destination.`
//! plus dynamic IR atoms). Every problem is reported (E0203, E0207, E0301,
//! E0302, E0305, E0306) and makes the result `None`; checking goes on so one
//! run reports them all.
//!
//! Operator chains are flattened without recursion; other nesting is limited
//! to [`MAX_DEPTH`] levels (E0003 beyond) so no input can exhaust the stack.

use crate::index::AttrKey;
use crate::inventory::{AttrType, Inventory};
use crate::pred::RPred;
use crate::problems;
use indexmap::IndexMap;
use seg_diag::{Diagnostic, Diagnostics, Span, did_you_mean};
use seg_ir::{Atom, Condition, IdentityKind, RequestField, Value, ValueTest};
use seg_syntax::ast::{self, CmpOp, CondKind, PredKind, Spanned};

pub(crate) const MAX_DEPTH: usize = 300;

/// The type of an attribute or context input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AttrTy<'a> {
    String,
    Int,
    Bool,
    Enum(&'a [String]),
    /// The built-in `kind`: an identity kind, written bare.
    Kind,
}

impl AttrTy<'_> {
    fn describe(&self) -> String {
        match self {
            AttrTy::String => "a string".into(),
            AttrTy::Int => "an int".into(),
            AttrTy::Bool => "a bool".into(),
            AttrTy::Enum(v) => format!("an enum[{}]", v.join(", ")),
            AttrTy::Kind => "an identity kind".into(),
        }
    }

    fn is_textual(&self) -> bool {
        matches!(self, AttrTy::String | AttrTy::Enum(_) | AttrTy::Kind)
    }
}

impl<'a> From<&'a ast::ContextType> for AttrTy<'a> {
    fn from(t: &'a ast::ContextType) -> AttrTy<'a> {
        match t {
            ast::ContextType::String => AttrTy::String,
            ast::ContextType::Int => AttrTy::Int,
            ast::ContextType::Bool => AttrTy::Bool,
            ast::ContextType::Enum(v) => AttrTy::Enum(v),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Side {
    Source,
    Destination,
}

/// A typed `when` condition before its static/dynamic split.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RCond {
    And(Vec<RCond>),
    Or(Vec<RCond>),
    Not(Box<RCond>),
    /// An atomic predicate on the flow's source or destination identity.
    Static(Side, RPred),
    /// A runtime test (atom, or `Present and not In` for `!=`).
    Dynamic(Condition),
}

/// Where a condition relies on the source or destination being identities.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CondUses {
    pub(crate) mtls: Option<Span>,
    pub(crate) source: Option<Span>,
    pub(crate) destination: Option<Span>,
}

pub(crate) struct Typer<'a> {
    pub(crate) inv: &'a Inventory,
    pub(crate) contexts: &'a IndexMap<String, &'a ast::ContextInput>,
}

fn describe_value(v: &ast::Value) -> String {
    match v {
        ast::Value::String(_) => "a string".into(),
        ast::Value::Int(_) => "an int".into(),
        ast::Value::Bool(_) => "a bool".into(),
        ast::Value::Word(w) => format!("the bare word `{w}`"),
    }
}

/// The operands of a chain of one binary operator, left to right, without recursion.
fn flatten<'e, T>(
    root: &'e Spanned<T>,
    split: impl Fn(&'e T) -> Option<(&'e Spanned<T>, &'e Spanned<T>)>,
) -> Vec<&'e Spanned<T>> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(e) = stack.pop() {
        match split(&e.node) {
            Some((a, b)) => {
                stack.push(b);
                stack.push(a);
            }
            None => out.push(e),
        }
    }
    out
}

impl<'a> Typer<'a> {
    /// An identity attribute path: `team`, `name`, `kind`, `owner`, `labels.KEY`.
    pub(crate) fn identity_attr(
        &self,
        path: &[String],
        span: Span,
    ) -> Result<(AttrKey, AttrTy<'_>), Diagnostic> {
        let joined = path.join(".");
        match path {
            [one] => match one.as_str() {
                "name" => Ok((AttrKey::Name, AttrTy::String)),
                "owner" => Ok((AttrKey::Owner, AttrTy::String)),
                "kind" => Ok((AttrKey::Kind, AttrTy::Kind)),
                a => match self.inv.attributes.get(a) {
                    Some(decl) => Ok((AttrKey::Attr(a.to_string()), attr_ty(&decl.ty))),
                    None => Err(self.unknown_attr(span, &joined)),
                },
            },
            [labels, key] if labels == "labels" => {
                Ok((AttrKey::Label(key.clone()), AttrTy::String))
            }
            _ => Err(self.unknown_attr(span, &joined)),
        }
    }

    fn unknown_attr(&self, span: Span, attr: &str) -> Diagnostic {
        let declared: Vec<&str> = self.inv.attributes.keys().map(String::as_str).collect();
        let candidates = declared.iter().copied().chain(["name", "kind", "owner"]);
        let d = problems::unknown_attribute(span, attr, did_you_mean(attr, candidates), &declared);
        if attr == "labels" || attr.starts_with("labels.") {
            return d.with_help("name one label: `labels.KEY`");
        }
        if attr.contains('.') {
            return d.with_help(
                "identity attributes have no fields: use a declared attribute or `labels.KEY`",
            );
        }
        d
    }

    /// A literal checked against the attribute's type.
    pub(crate) fn value(
        &self,
        attr: &str,
        ty: &AttrTy,
        v: &Spanned<ast::Value>,
    ) -> Result<Value, Diagnostic> {
        use ast::Value as A;
        let mismatch = |help: String| {
            problems::type_mismatch(v.span, attr, &ty.describe(), &describe_value(&v.node), help)
        };
        match (ty, &v.node) {
            (AttrTy::String, A::String(s)) => Ok(Value::String(s.clone())),
            (AttrTy::Int, A::Int(i)) => Ok(Value::Int(*i)),
            (AttrTy::Bool, A::Bool(b)) => Ok(Value::Bool(*b)),
            (AttrTy::Enum(allowed), A::String(s)) => {
                if allowed.contains(s) {
                    Ok(Value::String(s.clone()))
                } else {
                    Err(problems::unknown_enum_value(
                        v.span,
                        attr,
                        s,
                        allowed,
                        did_you_mean(s, allowed.iter().map(String::as_str)),
                    ))
                }
            }
            (AttrTy::Kind, A::Word(s) | A::String(s)) => match IdentityKind::parse(s) {
                Some(k) => Ok(Value::String(k.as_str().to_string())),
                None => {
                    let kinds: Vec<String> = IdentityKind::ALL
                        .iter()
                        .map(|k| k.as_str().to_string())
                        .collect();
                    let suggestion = did_you_mean(s, IdentityKind::ALL.iter().map(|k| k.as_str()));
                    Err(problems::unknown_enum_value(
                        v.span, attr, s, &kinds, suggestion,
                    ))
                }
            },
            (AttrTy::String | AttrTy::Enum(_), A::Word(w)) => {
                Err(mismatch(format!("write it as a string: `\"{w}\"`")))
            }
            (AttrTy::Int, A::String(s)) if s.parse::<i64>().is_ok() => {
                Err(mismatch(format!("write the number without quotes: `{s}`")))
            }
            (AttrTy::Bool, A::String(s)) if s == "true" || s == "false" => {
                Err(mismatch(format!("write the boolean without quotes: `{s}`")))
            }
            _ => Err(mismatch(format!("compare `{attr}` with {}", ty.describe()))),
        }
    }

    /// Check every value of an `in` list; all must fit the attribute's type.
    fn values(
        &self,
        attr: &str,
        ty: &AttrTy,
        vs: &[Spanned<ast::Value>],
        diags: &mut Diagnostics,
    ) -> Option<Vec<Value>> {
        let mut out = Vec::with_capacity(vs.len());
        let mut ok = true;
        for v in vs {
            match self.value(attr, ty, v) {
                Ok(x) => out.push(x),
                Err(d) => {
                    diags.push(d);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// Type an `identities where` predicate.
    pub(crate) fn pred(
        &self,
        p: &ast::Pred,
        depth: usize,
        diags: &mut Diagnostics,
    ) -> Option<RPred> {
        if depth > MAX_DEPTH {
            diags.push(problems::too_deep(p.span));
            return None;
        }
        match &p.node {
            PredKind::And(..) | PredKind::Or(..) => {
                let is_and = matches!(p.node, PredKind::And(..));
                let parts = flatten(p, |k| match (k, is_and) {
                    (PredKind::And(a, b), true) | (PredKind::Or(a, b), false) => Some((&**a, &**b)),
                    _ => None,
                });
                let typed: Vec<Option<RPred>> = parts
                    .into_iter()
                    .map(|q| self.pred(q, depth + 1, diags))
                    .collect();
                let typed: Option<Vec<RPred>> = typed.into_iter().collect();
                typed.map(|v| if is_and { RPred::And(v) } else { RPred::Or(v) })
            }
            PredKind::Not(q) => self
                .pred(q, depth + 1, diags)
                .map(|q| RPred::Not(Box::new(q))),
            PredKind::Compare { attr, op, value } => {
                self.atom_pred(attr, diags, |this, key, ty, text| {
                    let v = this.value(text, ty, value)?;
                    Ok(match op {
                        CmpOp::Eq => RPred::Eq(key, v),
                        CmpOp::Ne => RPred::Ne(key, v),
                    })
                })
            }
            PredKind::In { attr, values } => {
                let (key, ty) = self.report(self.identity_attr(&attr.node, attr.span), diags)?;
                self.values(&attr.node.join("."), &ty, values, diags)
                    .map(|vs| RPred::In(key, vs))
            }
            PredKind::Matches { attr, pattern } => {
                self.atom_pred(attr, diags, |_, key, ty, text| {
                    if ty.is_textual() {
                        Ok(RPred::Glob(key, pattern.node.clone()))
                    } else {
                        Err(problems::glob_on_non_string(
                            attr.span,
                            text,
                            &ty.describe(),
                        ))
                    }
                })
            }
            PredKind::Has(attr) => self.atom_pred(attr, diags, |_, key, _, _| Ok(RPred::Has(key))),
            PredKind::Bare(attr) => self.atom_pred(attr, diags, |_, key, ty, text| {
                if *ty == AttrTy::Bool {
                    Ok(RPred::Eq(key, Value::Bool(true)))
                } else {
                    Err(problems::not_boolean(attr.span, text, &ty.describe()))
                }
            }),
        }
    }

    fn report<T>(&self, r: Result<T, Diagnostic>, diags: &mut Diagnostics) -> Option<T> {
        r.map_err(|d| diags.push(d)).ok()
    }

    fn atom_pred(
        &self,
        attr: &ast::AttrRef,
        diags: &mut Diagnostics,
        build: impl FnOnce(&Self, AttrKey, &AttrTy, &str) -> Result<RPred, Diagnostic>,
    ) -> Option<RPred> {
        let (key, ty) = self.report(self.identity_attr(&attr.node, attr.span), diags)?;
        let text = attr.node.join(".");
        self.report(build(self, key, &ty, &text), diags)
    }

    /// Type a `when` condition; `uses` records what needs identity endpoints.
    pub(crate) fn cond(
        &self,
        c: &ast::Cond,
        depth: usize,
        uses: &mut CondUses,
        diags: &mut Diagnostics,
    ) -> Option<RCond> {
        if depth > MAX_DEPTH {
            diags.push(problems::too_deep(c.span));
            return None;
        }
        match &c.node {
            CondKind::And(..) | CondKind::Or(..) => {
                let is_and = matches!(c.node, CondKind::And(..));
                let parts = flatten(c, |k| match (k, is_and) {
                    (CondKind::And(a, b), true) | (CondKind::Or(a, b), false) => Some((&**a, &**b)),
                    _ => None,
                });
                let typed: Vec<Option<RCond>> = parts
                    .into_iter()
                    .map(|q| self.cond(q, depth + 1, uses, diags))
                    .collect();
                let typed: Option<Vec<RCond>> = typed.into_iter().collect();
                typed.map(|v| if is_and { RCond::And(v) } else { RCond::Or(v) })
            }
            CondKind::Not(q) => self
                .cond(q, depth + 1, uses, diags)
                .map(|q| RCond::Not(Box::new(q))),
            CondKind::Mtls => {
                uses.mtls.get_or_insert(c.span);
                Some(RCond::Dynamic(Condition::Atom(Atom::Mtls)))
            }
            CondKind::Time { start, end, .. } => self.report(time_window(start, end), diags),
            CondKind::Days(ranges) => Some(RCond::Dynamic(Condition::Atom(Atom::Days {
                mask: day_mask(ranges),
            }))),
            CondKind::Compare { attr, op, value } => {
                let target = self.report(self.cond_attr(attr, uses), diags)?;
                let r = self.typed_test(&target, attr, std::slice::from_ref(value), diags)?;
                Some(match (r, op) {
                    (Test::Static(side, key, mut vs), CmpOp::Eq) => {
                        RCond::Static(side, RPred::Eq(key, vs.remove(0)))
                    }
                    (Test::Static(side, key, mut vs), CmpOp::Ne) => {
                        RCond::Static(side, RPred::Ne(key, vs.remove(0)))
                    }
                    (Test::Dynamic(t, vs), CmpOp::Eq) => {
                        RCond::Dynamic(Condition::Atom(t.atom(ValueTest::In(vs))))
                    }
                    (Test::Dynamic(t, vs), CmpOp::Ne) => RCond::Dynamic(Condition::And(vec![
                        Condition::Atom(t.atom(ValueTest::Present)),
                        Condition::Not(Box::new(Condition::Atom(t.atom(ValueTest::In(vs))))),
                    ])),
                })
            }
            CondKind::In { attr, values } => {
                let target = self.report(self.cond_attr(attr, uses), diags)?;
                Some(match self.typed_test(&target, attr, values, diags)? {
                    Test::Static(side, key, vs) => RCond::Static(side, RPred::In(key, vs)),
                    Test::Dynamic(t, vs) => {
                        RCond::Dynamic(Condition::Atom(t.atom(ValueTest::In(vs))))
                    }
                })
            }
            CondKind::Matches { attr, pattern } => {
                let target = self.report(self.cond_attr(attr, uses), diags)?;
                let ty = target.ty();
                if !ty.is_textual() {
                    diags.push(problems::glob_on_non_string(
                        attr.span,
                        &attr.node.join("."),
                        &ty.describe(),
                    ));
                    return None;
                }
                Some(match target {
                    Target::Static(side, key, _) => {
                        RCond::Static(side, RPred::Glob(key, pattern.node.clone()))
                    }
                    Target::Dynamic(t) => RCond::Dynamic(Condition::Atom(
                        t.atom(ValueTest::Glob(pattern.node.clone())),
                    )),
                })
            }
            CondKind::Has(attr) => Some(match self.report(self.cond_attr(attr, uses), diags)? {
                Target::Static(side, key, _) => RCond::Static(side, RPred::Has(key)),
                Target::Dynamic(t) => RCond::Dynamic(Condition::Atom(t.atom(ValueTest::Present))),
            }),
            CondKind::Bare(attr) => {
                let target = self.report(self.cond_attr(attr, uses), diags)?;
                if target.ty() != AttrTy::Bool {
                    diags.push(problems::not_boolean(
                        attr.span,
                        &attr.node.join("."),
                        &target.ty().describe(),
                    ));
                    return None;
                }
                Some(match target {
                    Target::Static(side, key, _) => {
                        RCond::Static(side, RPred::Eq(key, Value::Bool(true)))
                    }
                    Target::Dynamic(t) => {
                        RCond::Dynamic(Condition::Atom(t.atom(ValueTest::IsTrue)))
                    }
                })
            }
        }
    }

    fn typed_test<'t>(
        &self,
        target: &Target<'t>,
        attr: &ast::AttrRef,
        values: &[Spanned<ast::Value>],
        diags: &mut Diagnostics,
    ) -> Option<Test<'t>> {
        let text = attr.node.join(".");
        let vs = self.values(&text, &target.ty(), values, diags)?;
        Some(match target {
            Target::Static(side, key, _) => Test::Static(*side, key.clone(), vs),
            Target::Dynamic(t) => Test::Dynamic(t.clone(), vs),
        })
    }

    /// What a condition attribute path refers to.
    fn cond_attr(
        &self,
        attr: &ast::AttrRef,
        uses: &mut CondUses,
    ) -> Result<Target<'_>, Diagnostic> {
        let path = &attr.node;
        let (root, rest) = match path.split_first() {
            Some((r, rest)) => (r.as_str(), rest),
            None => ("", &[][..]),
        };
        match (root, rest) {
            ("source" | "destination", [_, ..]) => {
                let side = if root == "source" {
                    Side::Source
                } else {
                    Side::Destination
                };
                let slot = if side == Side::Source {
                    &mut uses.source
                } else {
                    &mut uses.destination
                };
                slot.get_or_insert(attr.span);
                let (key, ty) = self.identity_attr(rest, attr.span)?;
                Ok(Target::Static(side, key, ty))
            }
            ("request", [field]) if field == "method" => {
                Ok(Target::Dynamic(DynTarget::Request(RequestField::Method)))
            }
            ("request", [field]) if field == "path" => {
                Ok(Target::Dynamic(DynTarget::Request(RequestField::Path)))
            }
            ("request", _) => {
                let field = rest.join(".");
                Err(problems::unknown_request_field(
                    attr.span,
                    &field,
                    did_you_mean(&field, ["method", "path"]),
                ))
            }
            ("context", [name]) => match self.contexts.get(name) {
                Some(input) => Ok(Target::Dynamic(DynTarget::Context(
                    name.clone(),
                    AttrTy::from(&input.ty.node),
                ))),
                None => Err(problems::undeclared_context(
                    attr.span,
                    name,
                    did_you_mean(name, self.contexts.keys().map(String::as_str)),
                )),
            },
            _ => {
                let text = path.join(".");
                let fix = if root == "context" || root == "source" || root == "destination" {
                    format!("name one attribute after `{root}.`")
                } else {
                    format!(
                        "write `source.{text}` or `destination.{text}` for an identity attribute"
                    )
                };
                Err(problems::invalid_condition(
                    attr.span,
                    format!("`{text}` is not a condition attribute"),
                    "unknown condition attribute",
                    fix,
                ))
            }
        }
    }
}

enum Target<'a> {
    Static(Side, AttrKey, AttrTy<'a>),
    Dynamic(DynTarget<'a>),
}

/// A runtime value: an L7 request field or a declared context input.
#[derive(Clone)]
enum DynTarget<'a> {
    Request(RequestField),
    Context(String, AttrTy<'a>),
}

impl DynTarget<'_> {
    fn atom(&self, test: ValueTest) -> Atom {
        match self {
            DynTarget::Request(field) => Atom::Request {
                field: *field,
                test,
            },
            DynTarget::Context(name, _) => Atom::Context {
                name: name.clone(),
                test,
            },
        }
    }
}

impl<'a> Target<'a> {
    fn ty(&self) -> AttrTy<'a> {
        match self {
            Target::Static(_, _, t) | Target::Dynamic(DynTarget::Context(_, t)) => t.clone(),
            Target::Dynamic(DynTarget::Request(_)) => AttrTy::String,
        }
    }
}

enum Test<'a> {
    Static(Side, AttrKey, Vec<Value>),
    Dynamic(DynTarget<'a>, Vec<Value>),
}

fn attr_ty(t: &AttrType) -> AttrTy<'_> {
    match t {
        AttrType::String => AttrTy::String,
        AttrType::Int => AttrTy::Int,
        AttrType::Bool => AttrTy::Bool,
        AttrType::Enum(v) => AttrTy::Enum(v),
    }
}

fn time_window(
    start: &Spanned<seg_ir::TimeOfDay>,
    end: &Spanned<seg_ir::TimeOfDay>,
) -> Result<RCond, Diagnostic> {
    let span = start.span.to(end.span);
    if start.node.0 >= 1440 {
        return Err(problems::invalid_range(
            span,
            format!("time window cannot start at {}", start.node),
            "starts at the end of the day",
            "a window is [start, end) in UTC; 24:00 is only an end".into(),
            "start the window at `00:00`",
        ));
    }
    if start.node == end.node {
        return Err(problems::invalid_range(
            span,
            format!("empty time window `{}..{}`", start.node, end.node),
            "start equals end",
            "a window is [start, end) in UTC, so equal ends leave no time".into(),
            "give the window a later end, or write `00:00..24:00` for the whole day",
        ));
    }
    Ok(RCond::Dynamic(Condition::Atom(Atom::Time {
        start: start.node,
        end: end.node,
    })))
}

/// Weekday bitmask (bit 0 = Monday); `fri..mon` wraps over the weekend.
pub(crate) fn day_mask(ranges: &[Spanned<ast::DayRange>]) -> u8 {
    let mut mask = 0u8;
    for r in ranges {
        let (from, to) = (r.node.from.0.min(6), r.node.to.0.min(6));
        let mut d = from;
        loop {
            mask |= 1 << d;
            if d == to {
                break;
            }
            d = (d + 1) % 7;
        }
    }
    mask
}
