//! The static/dynamic split of a `when` condition.
//!
//! Input: a typed [`RCond`]. Output: disjuncts, each a conjunction of static
//! literals (which narrow the rule's source and destination at compile time)
//! and a dynamic [`Condition`] kept for the runtime. The condition is put in
//! negation normal form and expanded into a disjunction over the static
//! literals only: a sub-condition without static literals stays one opaque
//! dynamic part. Disjuncts with the same static literals are merged (their
//! dynamic parts joined with `or`). The expansion is capped.
//!
//! Invariant: `OR_k (statics_k AND dynamic_k)` is equivalent to the input.

use crate::pred::RPred;
use crate::typeck::{RCond, Side};
use indexmap::IndexMap;
use seg_ir::Condition;

/// One static test, possibly negated.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Literal {
    pub(crate) side: Side,
    pub(crate) negated: bool,
    pub(crate) pred: RPred,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Disjunct {
    /// Sorted, without duplicates; empty means "no static narrowing".
    pub(crate) statics: Vec<Literal>,
    /// Simplified; never `False` (such disjuncts are dropped).
    pub(crate) dynamic: Condition,
}

enum Nnf {
    And(Vec<Nnf>),
    Or(Vec<Nnf>),
    Lit(Literal),
    Dyn(Condition),
}

type Expansion = Vec<(Vec<Literal>, Vec<Condition>)>;

/// Split `c` into at most `cap` disjuncts; `Err(n)` when it needs `n > cap`.
pub(crate) fn split(c: &RCond, cap: usize) -> Result<Vec<Disjunct>, usize> {
    let n = nnf(c, false);
    if !has_static(&n) {
        let dynamic = simplify(to_condition(&n));
        let none = dynamic == Condition::False;
        return Ok(if none {
            Vec::new()
        } else {
            vec![Disjunct {
                statics: Vec::new(),
                dynamic,
            }]
        });
    }
    let expanded = dnf(&n, cap)?;
    let mut merged: IndexMap<Vec<Literal>, Vec<Condition>> = IndexMap::new();
    for (mut statics, dyns) in expanded {
        statics.sort();
        statics.dedup();
        merged
            .entry(statics)
            .or_default()
            .push(simplify(Condition::And(dyns)));
    }
    Ok(merged
        .into_iter()
        .map(|(statics, alts)| Disjunct {
            statics,
            dynamic: simplify(Condition::Or(alts)),
        })
        .filter(|d| d.dynamic != Condition::False)
        .collect())
}

fn nnf(c: &RCond, neg: bool) -> Nnf {
    match c {
        RCond::And(v) if neg => Nnf::Or(v.iter().map(|x| nnf(x, true)).collect()),
        RCond::And(v) => Nnf::And(v.iter().map(|x| nnf(x, false)).collect()),
        RCond::Or(v) if neg => Nnf::And(v.iter().map(|x| nnf(x, true)).collect()),
        RCond::Or(v) => Nnf::Or(v.iter().map(|x| nnf(x, false)).collect()),
        RCond::Not(x) => nnf(x, !neg),
        RCond::Static(side, pred) => Nnf::Lit(Literal {
            side: *side,
            negated: neg,
            pred: pred.clone(),
        }),
        RCond::Dynamic(d) if neg => Nnf::Dyn(Condition::Not(Box::new(d.clone()))),
        RCond::Dynamic(d) => Nnf::Dyn(d.clone()),
    }
}

fn has_static(n: &Nnf) -> bool {
    match n {
        Nnf::And(v) | Nnf::Or(v) => v.iter().any(has_static),
        Nnf::Lit(_) => true,
        Nnf::Dyn(_) => false,
    }
}

/// A sub-condition without static literals, as one runtime condition.
fn to_condition(n: &Nnf) -> Condition {
    match n {
        Nnf::And(v) => Condition::And(v.iter().map(to_condition).collect()),
        Nnf::Or(v) => Condition::Or(v.iter().map(to_condition).collect()),
        // Unreachable by construction (only called on static-free trees); `False`
        // would make the rule match less, never more.
        Nnf::Lit(_) => Condition::False,
        Nnf::Dyn(c) => c.clone(),
    }
}

fn dnf(n: &Nnf, cap: usize) -> Result<Expansion, usize> {
    if !has_static(n) {
        return Ok(vec![(Vec::new(), vec![to_condition(n)])]);
    }
    match n {
        Nnf::Lit(l) => Ok(vec![(vec![l.clone()], Vec::new())]),
        Nnf::Dyn(c) => Ok(vec![(Vec::new(), vec![c.clone()])]),
        Nnf::Or(v) => {
            let mut out = Vec::new();
            for x in v {
                out.extend(dnf(x, cap)?);
                if out.len() > cap {
                    return Err(out.len());
                }
            }
            Ok(out)
        }
        Nnf::And(v) => {
            let mut acc: Expansion = vec![(Vec::new(), Vec::new())];
            for x in v {
                let part = dnf(x, cap)?;
                let total = acc.len().saturating_mul(part.len());
                if total > cap {
                    return Err(total);
                }
                let mut next = Vec::with_capacity(total);
                for (s1, d1) in &acc {
                    for (s2, d2) in &part {
                        let statics = s1.iter().chain(s2).cloned().collect();
                        let dyns = d1.iter().chain(d2).cloned().collect();
                        next.push((statics, dyns));
                    }
                }
                acc = next;
            }
            Ok(acc)
        }
    }
}

/// Flatten, fold constants, drop duplicates; never leaves `And([])`/`Or([])`.
pub(crate) fn simplify(c: Condition) -> Condition {
    match c {
        Condition::And(v) => {
            let mut out: Vec<Condition> = Vec::with_capacity(v.len());
            for x in v {
                match simplify(x) {
                    Condition::True => {}
                    Condition::False => return Condition::False,
                    Condition::And(inner) => {
                        for y in inner {
                            if !out.contains(&y) {
                                out.push(y);
                            }
                        }
                    }
                    y => {
                        if !out.contains(&y) {
                            out.push(y);
                        }
                    }
                }
            }
            match out.len() {
                0 => Condition::True,
                1 => out.remove(0),
                _ => Condition::And(out),
            }
        }
        Condition::Or(v) => {
            let mut out: Vec<Condition> = Vec::with_capacity(v.len());
            for x in v {
                match simplify(x) {
                    Condition::False => {}
                    Condition::True => return Condition::True,
                    Condition::Or(inner) => {
                        for y in inner {
                            if !out.contains(&y) {
                                out.push(y);
                            }
                        }
                    }
                    y => {
                        if !out.contains(&y) {
                            out.push(y);
                        }
                    }
                }
            }
            match out.len() {
                0 => Condition::False,
                1 => out.remove(0),
                _ => Condition::Or(out),
            }
        }
        Condition::Not(x) => match simplify(*x) {
            Condition::True => Condition::False,
            Condition::False => Condition::True,
            Condition::Not(y) => *y,
            y => Condition::Not(Box::new(y)),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::AttrKey;
    use seg_ir::{Atom, Value};

    fn st(side: Side, v: &str) -> RCond {
        RCond::Static(
            side,
            RPred::Eq(AttrKey::Attr("env".into()), Value::String(v.into())),
        )
    }
    fn mtls() -> RCond {
        RCond::Dynamic(Condition::Atom(Atom::Mtls))
    }

    #[test]
    fn pure_dynamic_conditions_stay_one_disjunct() {
        let c = RCond::Or(vec![mtls(), RCond::Not(Box::new(mtls()))]);
        let d = split(&c, 64).expect("small");
        assert_eq!(d.len(), 1);
        assert!(d[0].statics.is_empty());
    }

    #[test]
    fn negation_is_pushed_to_the_literals() {
        // not (source.env == "prod" and mtls) == (not source.env == "prod") or (not mtls)
        let c = RCond::Not(Box::new(RCond::And(vec![st(Side::Source, "prod"), mtls()])));
        let d = split(&c, 64).expect("small");
        assert_eq!(d.len(), 2);
        assert!(d[0].statics[0].negated);
        assert_eq!(d[0].dynamic, Condition::True);
        assert!(d[1].statics.is_empty());
        assert_eq!(
            d[1].dynamic,
            Condition::Not(Box::new(Condition::Atom(Atom::Mtls)))
        );
    }

    #[test]
    fn disjuncts_with_equal_statics_merge_and_the_cap_holds() {
        let c = RCond::Or(vec![
            RCond::And(vec![st(Side::Source, "a"), mtls()]),
            st(Side::Source, "a"),
        ]);
        let d = split(&c, 64).expect("small");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].dynamic, Condition::True);
        // (a1 or b1) and ... 7 times = 128 disjuncts.
        let pair = || RCond::Or(vec![st(Side::Source, "x"), st(Side::Destination, "y")]);
        let big = RCond::And((0..7).map(|_| pair()).collect());
        assert_eq!(split(&big, 64), Err(128));
    }

    #[test]
    fn simplify_folds_and_flattens() {
        let m = Condition::Atom(Atom::Mtls);
        assert_eq!(simplify(Condition::And(vec![])), Condition::True);
        assert_eq!(
            simplify(Condition::And(vec![
                Condition::True,
                m.clone(),
                Condition::And(vec![m.clone()])
            ])),
            m
        );
        assert_eq!(
            simplify(Condition::Or(vec![m.clone(), Condition::True])),
            Condition::True
        );
        assert_eq!(
            simplify(Condition::Not(Box::new(Condition::Not(Box::new(
                m.clone()
            ))))),
            m
        );
    }
}
