//! Resolved, typed predicates over one identity's attributes and their
//! evaluation to identity sets through the inventory index (memoised: rules
//! that share `source.env == "prod"` evaluate it once).
//!
//! Semantics: a comparison with an absent attribute is false (so `!=` needs
//! the attribute to be present); `not` is boolean negation.

use crate::fasthash::FastMap;
use crate::idset::IdSet;
use crate::index::{AttrKey, InvIndex};
use seg_ir::Value;
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum RPred {
    And(Vec<RPred>),
    Or(Vec<RPred>),
    Not(Box<RPred>),
    Eq(AttrKey, Value),
    Ne(AttrKey, Value),
    In(AttrKey, Vec<Value>),
    Glob(AttrKey, String),
    Has(AttrKey),
}

pub(crate) struct PredEval<'a> {
    pub(crate) index: &'a InvIndex<'a>,
    memo: RefCell<FastMap<RPred, Rc<Evaluated>>>,
}

/// A predicate's identities, plus a bitmap of them built when a large set is
/// intersected with a small one (membership in O(1) instead of a search).
#[derive(Debug, Default)]
pub(crate) struct Evaluated {
    pub(crate) ids: IdSet,
    bits: OnceCell<Vec<u64>>,
}

impl std::ops::Deref for Evaluated {
    type Target = IdSet;
    fn deref(&self) -> &IdSet {
        &self.ids
    }
}

impl Evaluated {
    fn new(ids: IdSet) -> Evaluated {
        Evaluated {
            ids,
            bits: OnceCell::new(),
        }
    }

    fn has(&self, id: u32) -> bool {
        let bits = self.bits.get_or_init(|| {
            let words = self.ids.iter().last().map_or(0, |m| m as usize / 64 + 1);
            let mut b = vec![0u64; words];
            for i in self.ids.iter() {
                b[i as usize / 64] |= 1 << (i % 64);
            }
            b
        });
        bits.get(id as usize / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }
}

impl<'a> PredEval<'a> {
    pub(crate) fn new(index: &'a InvIndex<'a>) -> PredEval<'a> {
        PredEval {
            index,
            memo: RefCell::default(),
        }
    }

    /// The identities for which `p` holds.
    pub(crate) fn eval(&self, p: &RPred) -> Rc<Evaluated> {
        if let Some(hit) = self.memo.borrow().get(p) {
            return hit.clone();
        }
        let out = Rc::new(Evaluated::new(self.compute(p)));
        self.memo.borrow_mut().insert(p.clone(), out.clone());
        out
    }

    fn compute(&self, p: &RPred) -> IdSet {
        let ix = self.index;
        match p {
            RPred::And(ps) => {
                let mut sets: Vec<Rc<Evaluated>> = ps.iter().map(|p| self.eval(p)).collect();
                sets.sort_by_key(|s| s.len());
                let mut it = sets.into_iter();
                let Some(first) = it.next() else {
                    return IdSet::all(ix.n);
                };
                it.fold(first.ids.clone(), |acc, s| {
                    if acc.len().saturating_mul(8) < s.len() {
                        IdSet::from_sorted(acc.iter().filter(|&i| s.has(i)).collect())
                    } else {
                        acc.intersect(&s)
                    }
                })
            }
            RPred::Or(ps) => ps
                .iter()
                .fold(IdSet::empty(), |acc, p| acc.union(&self.eval(p))),
            RPred::Not(p) => IdSet::all(ix.n).difference(&self.eval(p)),
            RPred::Eq(AttrKey::Name, Value::String(name)) => {
                ix.lookup(name).map_or_else(IdSet::empty, IdSet::one)
            }
            RPred::Eq(k, v) => ix.attr(k).values.get(v).cloned().unwrap_or_default(),
            RPred::Ne(k, v) => self
                .eval(&RPred::Has(k.clone()))
                .difference(&self.eval(&RPred::Eq(k.clone(), v.clone()))),
            RPred::In(k, vs) => vs.iter().fold(IdSet::empty(), |acc, v| {
                acc.union(&self.eval(&RPred::Eq(k.clone(), v.clone())))
            }),
            RPred::Glob(AttrKey::Name, pat) => IdSet::from_sorted(
                (0..ix.n)
                    .filter(|&i| glob_match(pat, &ix.identity(i).name))
                    .collect(),
            ),
            RPred::Glob(k, pat) => {
                let attr = ix.attr(k);
                attr.values
                    .iter()
                    .filter(|(v, _)| matches!(v, Value::String(s) if glob_match(pat, s)))
                    .fold(IdSet::empty(), |acc, (_, ids)| acc.union(ids))
            }
            RPred::Has(AttrKey::Name | AttrKey::Kind) => IdSet::all(ix.n),
            RPred::Has(k) => ix.attr(k).present.clone(),
        }
    }
}

/// Does `text` match `pattern`, where `*` stands for any run of characters?
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut i, mut j) = (0, 0);
    // Position of the last `*` and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == t[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("/api/*", "/api/v1/x"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("payments-*", "payments-api"));
        assert!(!glob_match("payments-*", "ledger"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exact2"));
    }
}
