//! Blast radius of every identity at once: transitive reach over the class
//! graph with bitsets, not one search per identity.
//!
//! `R(A)`, the classes a compromise of a member of class A reaches in any
//! number of hops, is `∪ {B} ∪ R(B)` over A's out-edges B, where `R(B)` is
//! taken only when B can be pivoted through. Among pivotable classes, those
//! of one strongly connected component share `R`; components are visited in
//! reverse topological order (Tarjan gives them in that order), so each `R`
//! is the union of bitsets already known. A member's blast radius counts the
//! members of every class in `R(A)`, less itself when `A ∈ R(A)`.

use crate::analysis::Analysis;

/// A fixed-size set of class indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bits(Vec<u64>);

impl Bits {
    pub fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }

    pub fn insert(&mut self, i: u32) {
        self.0[i as usize / 64] |= 1 << (i % 64);
    }

    pub fn contains(&self, i: u32) -> bool {
        self.0
            .get(i as usize / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub fn union_with(&mut self, o: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a |= b;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            let mut b = bits;
            std::iter::from_fn(move || {
                if b == 0 {
                    return None;
                }
                let t = b.trailing_zeros();
                b &= b - 1;
                Some(w as u32 * 64 + t)
            })
        })
    }
}

/// `R` for every class.
pub struct Closure {
    /// Per pivotable class, its component; `u32::MAX` for the others.
    comp: Vec<u32>,
    /// `R` of each component of pivotable classes.
    reach: Vec<Bits>,
}

impl Closure {
    pub fn new(a: &Analysis) -> Closure {
        let k = a.classes.len();
        let pivot: Vec<bool> = a.classes.list.iter().map(|c| c.pivot).collect();
        let (comp, order) = components(a, &pivot);
        let mut reach: Vec<Bits> = Vec::with_capacity(order.len());
        for members in &order {
            let id = reach.len() as u32;
            let mut r = Bits::new(k);
            for &c in members {
                for &b in a.out(c) {
                    r.insert(b);
                    let cb = comp[b as usize];
                    if cb != u32::MAX && cb != id {
                        r.union_with(&reach[cb as usize]);
                    }
                }
            }
            reach.push(r);
        }
        Closure { comp, reach }
    }

    /// `R(c)`: every class a compromise of a member of `c` reaches.
    pub fn of(&self, a: &Analysis, c: u32) -> Bits {
        match self.comp[c as usize] {
            u32::MAX => {
                let mut r = Bits::new(a.classes.len());
                for &b in a.out(c) {
                    r.insert(b);
                    if let Some(&cb) = self.comp.get(b as usize)
                        && cb != u32::MAX
                    {
                        r.union_with(&self.reach[cb as usize]);
                    }
                }
                r
            }
            id => self.reach[id as usize].clone(),
        }
    }

    /// The blast radius (identities reached, itself excluded) of every
    /// identity, in identity order.
    pub fn sizes(&self, a: &Analysis) -> Vec<u64> {
        let class_sizes: Vec<u64> = a
            .classes
            .list
            .iter()
            .map(|c| c.members.len() as u64)
            .collect();
        let per_class: Vec<u64> = (0..a.classes.len() as u32)
            .map(|c| {
                let visit = |r: &Bits| {
                    let total: u64 = r.iter().map(|b| class_sizes[b as usize]).sum();
                    total - u64::from(r.contains(c))
                };
                match self.comp[c as usize] {
                    u32::MAX => visit(&self.of(a, c)),
                    id => visit(&self.reach[id as usize]),
                }
            })
            .collect();
        a.classes
            .of
            .iter()
            .map(|&c| per_class[c as usize])
            .collect()
    }
}

/// Strongly connected components of the pivotable classes (edges between
/// pivotable classes only), in reverse topological order, by an iterative
/// Tarjan. Returns each class's component (`u32::MAX` if not pivotable) and
/// the components' members.
fn components(a: &Analysis, pivot: &[bool]) -> (Vec<u32>, Vec<Vec<u32>>) {
    let k = pivot.len();
    const UNSEEN: u32 = u32::MAX;
    let mut index = vec![UNSEEN; k];
    let mut low = vec![0u32; k];
    let mut on_stack = vec![false; k];
    let mut stack: Vec<u32> = Vec::new();
    let mut comp = vec![u32::MAX; k];
    let mut order: Vec<Vec<u32>> = Vec::new();
    let mut next = 0u32;
    // (class, position in its out-edge list)
    let mut calls: Vec<(u32, usize)> = Vec::new();
    for root in 0..k as u32 {
        if !pivot[root as usize] || index[root as usize] != UNSEEN {
            continue;
        }
        calls.push((root, 0));
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        while let Some(&mut (v, ref mut pos)) = calls.last_mut() {
            let out = a.out(v);
            if *pos < out.len() {
                let w = out[*pos];
                *pos += 1;
                if !pivot[w as usize] {
                    continue;
                }
                if index[w as usize] == UNSEEN {
                    index[w as usize] = next;
                    low[w as usize] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    calls.push((w, 0));
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent as usize] = low[parent as usize].min(low[v as usize]);
            }
            if low[v as usize] == index[v as usize] {
                let id = order.len() as u32;
                let mut members = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w as usize] = false;
                    comp[w as usize] = id;
                    members.push(w);
                    if w == v {
                        break;
                    }
                }
                order.push(members);
            }
        }
    }
    (comp, order)
}
