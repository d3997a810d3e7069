//! Sets of inventory identities as sorted, deduplicated index vectors.
//!
//! The checker works on these instead of `BTreeSet<IdentityId>` because set
//! algebra over tens of thousands of identities must stay linear (merge) or
//! better (binary search when one side is much smaller).

use seg_ir::IdentityId;
use std::collections::BTreeSet;

/// Sorted, unique identity indexes (positions in the inventory).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct IdSet(Vec<u32>);

impl IdSet {
    pub(crate) fn empty() -> IdSet {
        IdSet(Vec::new())
    }

    /// Every identity of an inventory with `n` identities.
    pub(crate) fn all(n: u32) -> IdSet {
        IdSet((0..n).collect())
    }

    pub(crate) fn one(id: u32) -> IdSet {
        IdSet(vec![id])
    }

    pub(crate) fn from_unsorted(mut v: Vec<u32>) -> IdSet {
        v.sort_unstable();
        v.dedup();
        IdSet(v)
    }

    /// `v` must already be sorted and unique (checked in debug builds).
    pub(crate) fn from_sorted(v: Vec<u32>) -> IdSet {
        debug_assert!(v.windows(2).all(|w| w[0] < w[1]));
        IdSet(v)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn first(&self) -> Option<u32> {
        self.0.first().copied()
    }

    pub(crate) fn contains(&self, id: u32) -> bool {
        self.0.binary_search(&id).is_ok()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().copied()
    }

    pub(crate) fn union(&self, o: &IdSet) -> IdSet {
        if o.is_empty() {
            return self.clone();
        }
        if self.is_empty() {
            return o.clone();
        }
        let (a, b) = (&self.0, &o.0);
        let mut out = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => {
                    out.push(a[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    out.push(b[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    out.push(a[i]);
                    i += 1;
                    j += 1;
                }
            }
        }
        out.extend_from_slice(&a[i..]);
        out.extend_from_slice(&b[j..]);
        IdSet(out)
    }

    pub(crate) fn intersect(&self, o: &IdSet) -> IdSet {
        let (small, large) = if self.len() <= o.len() {
            (self, o)
        } else {
            (o, self)
        };
        if small.is_empty() {
            return IdSet::empty();
        }
        if skewed(small.len(), large.len()) {
            return IdSet(
                small
                    .0
                    .iter()
                    .copied()
                    .filter(|x| large.contains(*x))
                    .collect(),
            );
        }
        let (a, b) = (&self.0, &o.0);
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
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
        IdSet(out)
    }

    pub(crate) fn difference(&self, o: &IdSet) -> IdSet {
        if o.is_empty() || self.is_empty() {
            return self.clone();
        }
        if skewed(self.len(), o.len()) || skewed(o.len(), self.len()) {
            return IdSet(self.0.iter().copied().filter(|x| !o.contains(*x)).collect());
        }
        let (a, b) = (&self.0, &o.0);
        let mut out = Vec::with_capacity(a.len());
        let mut j = 0;
        for &x in a {
            while j < b.len() && b[j] < x {
                j += 1;
            }
            if j >= b.len() || b[j] != x {
                out.push(x);
            }
        }
        IdSet(out)
    }

    pub(crate) fn is_subset(&self, o: &IdSet) -> bool {
        if self.len() > o.len() {
            return false;
        }
        if let (Some(&a), Some(&b)) = (self.0.first(), self.0.last())
            && !(o.0.first().is_some_and(|&x| x <= a) && o.0.last().is_some_and(|&y| b <= y))
        {
            return false;
        }
        if skewed(self.len(), o.len()) {
            return self.0.iter().all(|x| o.contains(*x));
        }
        let mut j = 0;
        for &x in &self.0 {
            while j < o.0.len() && o.0[j] < x {
                j += 1;
            }
            if j >= o.0.len() || o.0[j] != x {
                return false;
            }
        }
        true
    }

    /// Do the sets share an element? (No allocation.)
    pub(crate) fn overlaps(&self, o: &IdSet) -> bool {
        // Disjoint spans (teams' identities often sit in runs) need no search.
        match (self.0.first(), self.0.last(), o.0.first(), o.0.last()) {
            (Some(a), Some(b), Some(c), Some(d)) if a <= d && c <= b => {}
            _ => return false,
        }
        let (small, large) = if self.len() <= o.len() {
            (self, o)
        } else {
            (o, self)
        };
        if skewed(small.len(), large.len()) {
            return small.0.iter().any(|x| large.contains(*x));
        }
        let (a, b) = (&small.0, &large.0);
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    pub(crate) fn to_btree(&self) -> BTreeSet<IdentityId> {
        if self.0.len() <= SMALL {
            // Most rules name one or two identities a side: inserting them
            // costs one node, where collecting sorts a list first.
            let mut set = BTreeSet::new();
            for &i in &self.0 {
                set.insert(IdentityId(i));
            }
            return set;
        }
        self.0.iter().map(|&i| IdentityId(i)).collect()
    }
}

/// Up to this many ids, [`IdSet::to_btree`] inserts them one by one.
const SMALL: usize = 8;

/// Whether probing the larger side by binary search beats a linear merge.
fn skewed(small: usize, large: usize) -> bool {
    small.saturating_mul(16) < large
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u32]) -> IdSet {
        IdSet::from_unsorted(v.to_vec())
    }

    #[test]
    fn algebra_matches_btreeset() {
        let cases: [(&[u32], &[u32]); 7] = [
            (&[1, 3, 5, 7], &[3, 4, 5]),
            (&[], &[1]),
            (
                &[2],
                &[
                    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                    22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
                ],
            ),
            (
                &[40],
                &[
                    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                    22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
                ],
            ),
            (&[9, 9, 1], &[1, 9]),
            (&[1, 2], &[3, 4]),
            (&[1, 5], &[2, 3, 4]),
        ];
        for (a, b) in cases {
            let (x, y) = (s(a), s(b));
            let (bx, by): (BTreeSet<u32>, BTreeSet<u32>) =
                (a.iter().copied().collect(), b.iter().copied().collect());
            let as_vec = |t: &IdSet| t.iter().collect::<Vec<_>>();
            for (p, q, bp, bq) in [(&x, &y, &bx, &by), (&y, &x, &by, &bx)] {
                assert_eq!(
                    as_vec(&p.union(q)),
                    bp.union(bq).copied().collect::<Vec<_>>()
                );
                assert_eq!(
                    as_vec(&p.intersect(q)),
                    bp.intersection(bq).copied().collect::<Vec<_>>()
                );
                assert_eq!(
                    as_vec(&p.difference(q)),
                    bp.difference(bq).copied().collect::<Vec<_>>()
                );
                assert_eq!(p.is_subset(q), bp.is_subset(bq));
                assert_eq!(p.overlaps(q), !bp.is_disjoint(bq));
            }
        }
        assert_eq!(IdSet::all(3).to_btree().len(), 3);
        // Inserted one by one or collected, the same set.
        for n in 0..(2 * SMALL as u32) {
            let ids: Vec<u32> = (0..n).map(|i| i * 7 % 23 + i).collect();
            let expected: BTreeSet<IdentityId> = ids.iter().map(|&i| IdentityId(i)).collect();
            assert_eq!(IdSet::from_unsorted(ids).to_btree(), expected, "{n}");
        }
    }
}
