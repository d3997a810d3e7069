//! Identity classes: identities that are members of exactly the same rules'
//! sources and destinations (and share a pivot flag and, for maps, a node).
//!
//! Membership of an identity endpoint is `set.identities.contains(id)`, so
//! the reference evaluator gives every member of a class the same decision
//! towards every member of another: reachability is computed between
//! classes, a few thousand even for 50k identities, and expanded to
//! identities only when printed.

use seg_ir::{IdentityId, Program};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Rules by position in [`crate::Analysis::rules`] (the active rules).
pub type RuleIx = u32;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Class {
    /// Ascending.
    pub members: Vec<IdentityId>,
    pub pivot: bool,
    /// The map node the members belong to (0 outside maps).
    pub group: u32,
    /// Active allows and denies whose source, resp. destination, holds the members.
    pub src_allow: Vec<RuleIx>,
    pub src_deny: Vec<RuleIx>,
    pub dst_allow: Vec<RuleIx>,
    pub dst_deny: Vec<RuleIx>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Classes {
    pub list: Vec<Class>,
    /// Identity → class.
    pub of: Vec<u32>,
}

impl Classes {
    /// Partition the identities of `program` by their membership in the
    /// `rules` (program rule indices; `allow[k]` tells the action of `rules[k]`),
    /// their pivot flag and their `group`.
    ///
    /// Partition refinement: every rule side splits each class it cuts into
    /// the members inside and those outside, so the work is a few passes over
    /// the memberships rather than one signature per identity.
    pub fn build(
        program: &Program,
        rules: &[usize],
        allow: &[bool],
        pivot: impl Fn(IdentityId) -> bool,
        group: impl Fn(IdentityId) -> u32,
    ) -> Classes {
        let n = program.identities.len();
        let mut of = vec![0u32; n];
        let mut size: Vec<u32> = Vec::new();
        let mut first: HashMap<(bool, u32), u32> = HashMap::new();
        for (i, slot) in of.iter_mut().enumerate() {
            let id = IdentityId(i as u32);
            let c = *first.entry((pivot(id), group(id))).or_insert_with(|| {
                size.push(0);
                (size.len() - 1) as u32
            });
            size[c as usize] += 1;
            *slot = c;
        }
        let sides = || {
            rules.iter().flat_map(|&r| {
                let rule = &program.rules[r];
                [&rule.src.identities, &rule.dst.identities]
            })
        };
        // Refine: per set, count its members in each class, then move them
        // to a new class unless the set holds the whole class.
        let mut hits: Vec<u32> = vec![0; size.len()];
        let mut to: Vec<u32> = vec![u32::MAX; size.len()];
        let mut touched: Vec<u32> = Vec::new();
        for set in sides() {
            for id in set {
                let Some(&c) = of.get(id.0 as usize) else {
                    continue;
                };
                if hits[c as usize] == 0 {
                    touched.push(c);
                }
                hits[c as usize] += 1;
            }
            let mut splits = false;
            for &c in &touched {
                if hits[c as usize] < size[c as usize] {
                    to[c as usize] = size.len() as u32;
                    size.push(0);
                    hits.push(0);
                    to.push(u32::MAX);
                    splits = true;
                }
            }
            // Most sets, once the first rules have split the identities,
            // hold whole classes: nothing moves.
            if splits {
                for id in set {
                    let Some(slot) = of.get_mut(id.0 as usize) else {
                        continue;
                    };
                    let c = *slot as usize;
                    let t = to[c];
                    if t != u32::MAX {
                        size[c] -= 1;
                        size[t as usize] += 1;
                        *slot = t;
                    }
                }
            }
            for &c in &touched {
                hits[c as usize] = 0;
                to[c as usize] = u32::MAX;
            }
            touched.clear();
        }
        // Number the classes by first member, then list each one's rules.
        let mut renum = vec![u32::MAX; size.len()];
        let mut list: Vec<Class> = Vec::new();
        for (i, c) in of.iter_mut().enumerate() {
            let id = IdentityId(i as u32);
            if renum[*c as usize] == u32::MAX {
                renum[*c as usize] = list.len() as u32;
                list.push(Class {
                    pivot: pivot(id),
                    group: group(id),
                    ..Class::default()
                });
            }
            *c = renum[*c as usize];
            list[*c as usize].members.push(id);
        }
        let mut seen = vec![u32::MAX; list.len()];
        for (k, set) in sides().enumerate() {
            let (rule, src) = ((k / 2) as u32, k % 2 == 0);
            for id in set {
                let Some(&c) = of.get(id.0 as usize) else {
                    continue;
                };
                if seen[c as usize] == k as u32 {
                    continue;
                }
                seen[c as usize] = k as u32;
                let class = &mut list[c as usize];
                match (src, allow[rule as usize]) {
                    (true, true) => class.src_allow.push(rule),
                    (true, false) => class.src_deny.push(rule),
                    (false, true) => class.dst_allow.push(rule),
                    (false, false) => class.dst_deny.push(rule),
                }
            }
        }
        Classes { list, of }
    }

    /// Whether these classes could be those of a program of `identities`
    /// identities analysed over `rules` active rules with this `pivot`: a
    /// partition of the identities, each member's class saying so, pivot
    /// flags as `pivot` says, rule lists ascending and in range. (That they
    /// are *the* classes of the program is for whoever kept them to know.)
    pub fn fits(
        &self,
        identities: usize,
        rules: usize,
        pivot: impl Fn(IdentityId) -> bool,
    ) -> bool {
        let ascending = |l: &[RuleIx]| {
            l.windows(2).all(|w| w[0] < w[1]) && l.last().is_none_or(|&r| (r as usize) < rules)
        };
        if self.of.len() != identities {
            return false;
        }
        let mut seen = 0;
        let classes_fit = self.list.iter().enumerate().all(|(c, class)| {
            seen += class.members.len();
            !class.members.is_empty()
                && class.members.windows(2).all(|w| w[0] < w[1])
                && class.members.iter().all(|m| {
                    self.of.get(m.0 as usize) == Some(&(c as u32)) && pivot(*m) == class.pivot
                })
                && [
                    &class.src_allow,
                    &class.src_deny,
                    &class.dst_allow,
                    &class.dst_deny,
                ]
                .iter()
                .all(|l| ascending(l))
        });
        classes_fit && seen == identities
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Elements of both sorted lists.
pub fn intersect(a: &[RuleIx], b: &[RuleIx]) -> Vec<RuleIx> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(members: &[u32], src_allow: &[RuleIx]) -> Class {
        Class {
            members: members.iter().map(|&i| IdentityId(i)).collect(),
            pivot: true,
            src_allow: src_allow.to_vec(),
            ..Class::default()
        }
    }

    #[test]
    fn kept_classes_fit_only_a_partition_of_as_many_identities_and_rules() {
        let good = Classes {
            list: vec![class(&[0, 2], &[0, 1]), class(&[1], &[])],
            of: vec![0, 1, 0],
        };
        let pivot = |_| true;
        assert!(good.fits(3, 2, pivot));
        assert!(!good.fits(4, 2, pivot), "another number of identities");
        assert!(!good.fits(3, 1, pivot), "a rule out of range");
        assert!(!good.fits(3, 2, |_| false), "other pivot flags");
        let broken: [fn(&mut Classes); 5] = [
            |c| c.of[2] = 1,
            |c| c.list[1].members = vec![IdentityId(7)],
            |c| c.list[0].members = vec![IdentityId(2), IdentityId(0)],
            |c| c.list[0].src_allow = vec![1, 0],
            |c| c.list.push(Class::default()),
        ];
        for (i, breaks) in broken.iter().enumerate() {
            let mut c = good.clone();
            breaks(&mut c);
            assert!(!c.fits(3, 2, pivot), "case {i}");
        }
    }
}
