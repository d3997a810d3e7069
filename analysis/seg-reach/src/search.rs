//! Hop by hop from a compromised start: a breadth-first search over the class
//! graph, one shortest path per reached class, and every shortest path to a
//! chosen identity.
//!
//! The start is a set of *origins*: compromised identities (their class's
//! out-edges) and entry-network parts. Reached classes are expanded only when
//! pivotable. Hop counts are exact for identities: a member of a reached
//! class B is reached at B's hop, except the start identities themselves
//! (never reported) — another member of a start identity's class is reached
//! only if that class is reached again through some path.

use crate::analysis::{Analysis, EntryPart, Hop};
use seg_ir::IdentityId;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

/// Where a search starts.
#[derive(Clone, Debug)]
pub enum Origin {
    Identity(IdentityId),
    Part(EntryPart),
}

/// The step before a class on its shortest path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Via {
    Origin(u32),
    Class(u32),
}

pub struct Search<'a, 'p> {
    pub analysis: &'a Analysis<'p>,
    pub origins: Vec<Origin>,
    /// Identities compromised at hop 0.
    pub start: BTreeSet<IdentityId>,
    /// Hop of each class (`u32::MAX`: not reached).
    pub dist: Vec<u32>,
    /// First predecessor on a shortest path.
    pub via: Vec<Option<Via>>,
    /// Every class reached, in order of discovery (by hop, then class).
    pub order: Vec<u32>,
    origin_out: Vec<Vec<u32>>,
    /// Hops already decided, by (source, class): paths share their prefixes.
    hops: RefCell<HashMap<(Via, u32), Hop>>,
}

impl<'a, 'p> Search<'a, 'p> {
    /// Search from `origins`, at most `hops` hops (`None`: until nothing new).
    pub fn run(
        analysis: &'a Analysis<'p>,
        origins: Vec<Origin>,
        hops: Option<u32>,
    ) -> Search<'a, 'p> {
        let k = analysis.classes.len();
        let mut dist = vec![u32::MAX; k];
        let mut via = vec![None; k];
        let mut order = Vec::new();
        let start: BTreeSet<IdentityId> = origins
            .iter()
            .filter_map(|o| match o {
                Origin::Identity(id) => Some(*id),
                Origin::Part(_) => None,
            })
            .collect();
        let origin_out: Vec<Vec<u32>> = origins
            .iter()
            .map(|o| match o {
                Origin::Identity(id) => analysis.out(analysis.class_of(*id)).to_vec(),
                Origin::Part(p) => analysis.entry_out(p),
            })
            .collect();
        let limit = hops.unwrap_or(u32::MAX);
        let mut frontier = Vec::new();
        if limit >= 1 {
            for (o, out) in origin_out.iter().enumerate() {
                for &b in out {
                    if dist[b as usize] == u32::MAX {
                        dist[b as usize] = 1;
                        via[b as usize] = Some(Via::Origin(o as u32));
                        frontier.push(b);
                    }
                }
            }
        }
        frontier.sort_unstable();
        let mut hop = 1;
        while !frontier.is_empty() {
            order.extend(&frontier);
            if hop >= limit {
                break;
            }
            let mut next = Vec::new();
            for &c in &frontier {
                if !analysis.classes.list[c as usize].pivot {
                    continue;
                }
                for &b in analysis.out(c) {
                    if dist[b as usize] == u32::MAX {
                        dist[b as usize] = hop + 1;
                        via[b as usize] = Some(Via::Class(c));
                        next.push(b);
                    }
                }
            }
            next.sort_unstable();
            frontier = next;
            hop += 1;
        }
        Search {
            analysis,
            origins,
            start,
            dist,
            via,
            order,
            origin_out,
            hops: RefCell::new(HashMap::new()),
        }
    }

    /// The identities of class `c` this search reaches (start identities excluded).
    pub fn members(&self, c: u32) -> Vec<IdentityId> {
        if self.dist[c as usize] == u32::MAX {
            return Vec::new();
        }
        self.analysis.classes.list[c as usize]
            .members
            .iter()
            .filter(|m| !self.start.contains(m))
            .copied()
            .collect()
    }

    /// Every reached identity with its hop, by hop then identity.
    pub fn reached(&self) -> Vec<(IdentityId, u32)> {
        let mut out: Vec<(IdentityId, u32)> = self
            .order
            .iter()
            .flat_map(|&c| self.members(c).into_iter().map(move |m| (m, c)))
            .map(|(m, c)| (m, self.dist[c as usize]))
            .collect();
        out.sort_by_key(|&(m, h)| (h, m));
        out
    }

    /// Hop of an identity (`None`: not reached, or a start).
    pub fn hop_of(&self, id: IdentityId) -> Option<u32> {
        if self.start.contains(&id) {
            return None;
        }
        match self.dist[self.analysis.class_of(id) as usize] {
            u32::MAX => None,
            h => Some(h),
        }
    }

    /// The class steps of one shortest path to class `c`: the origin, then
    /// each class in turn (ending with `c`).
    pub fn class_path(&self, c: u32) -> Option<(u32, Vec<u32>)> {
        let mut path = vec![c];
        let mut cur = c;
        loop {
            match self.via[cur as usize]? {
                Via::Origin(o) => {
                    path.reverse();
                    return Some((o, path));
                }
                Via::Class(p) => {
                    path.push(p);
                    cur = p;
                }
            }
        }
    }

    /// One shortest path to `target`: the identity or entry it starts from
    /// and every hop with what allows it.
    pub fn path(&self, target: IdentityId) -> Option<Path> {
        let c = self.analysis.class_of(target);
        self.hop_of(target)?;
        let (o, classes) = self.class_path(c)?;
        Some(self.spell(o, &classes, target))
    }

    /// A class path as identities: a representative of each intermediate
    /// class (its first member; never a start identity), ending at `target`.
    fn spell(&self, o: u32, classes: &[u32], target: IdentityId) -> Path {
        let a = self.analysis;
        let origin = &self.origins[o as usize];
        let mut steps = Vec::with_capacity(classes.len());
        let mut from = match origin {
            Origin::Identity(id) => Node::Identity(*id),
            Origin::Part(p) => Node::Network(p.addrs.clone()),
        };
        let mut prev: Option<u32> = None;
        for (i, &c) in classes.iter().enumerate() {
            let to = if i + 1 == classes.len() {
                target
            } else {
                self.representative(c)
            };
            let key = match prev {
                Some(p) => (Via::Class(p), c),
                None => (Via::Origin(o), c),
            };
            let cached = self.hops.borrow().get(&key).cloned();
            let hop = cached.unwrap_or_else(|| {
                let hop = match (prev, origin) {
                    (Some(p), _) => a.hop(p, c),
                    (None, Origin::Identity(id)) => a.hop(a.class_of(*id), c),
                    (None, Origin::Part(part)) => a.entry_hop(part, c),
                };
                self.hops.borrow_mut().insert(key, hop.clone());
                hop
            });
            steps.push(Step {
                from: from.clone(),
                to,
                hop,
            });
            from = Node::Identity(to);
            prev = Some(c);
        }
        Path { steps }
    }

    fn representative(&self, c: u32) -> IdentityId {
        let members = &self.analysis.classes.list[c as usize].members;
        members
            .iter()
            .find(|m| !self.start.contains(m))
            .or(members.first())
            .copied()
            .unwrap_or(IdentityId(0))
    }

    /// Every shortest class path to `target` (at most `cap`), each step with
    /// the identities it may go through. `None` when not reached.
    pub fn all_paths(&self, target: IdentityId, cap: usize) -> Option<AllPaths> {
        let tc = self.analysis.class_of(target);
        let hop = self.hop_of(target)?;
        let a = self.analysis;
        // Predecessors on shortest paths, walked back from the target.
        let mut out = Vec::new();
        let mut truncated = false;
        let mut stack: Vec<Vec<u32>> = vec![vec![tc]];
        while let Some(partial) = stack.pop() {
            let head = partial[partial.len() - 1];
            let d = self.dist[head as usize];
            if d == 1 {
                for (o, outs) in self.origin_out.iter().enumerate() {
                    if outs.binary_search(&head).is_ok() {
                        if out.len() >= cap {
                            truncated = true;
                            break;
                        }
                        let mut classes = partial.clone();
                        classes.reverse();
                        out.push((o as u32, classes));
                    }
                }
                continue;
            }
            let mut preds: Vec<u32> = (0..a.classes.len() as u32)
                .filter(|&p| {
                    self.dist[p as usize] == d - 1
                        && a.classes.list[p as usize].pivot
                        && a.out(p).binary_search(&head).is_ok()
                })
                .collect();
            preds.reverse();
            for p in preds {
                let mut next = partial.clone();
                next.push(p);
                stack.push(next);
            }
            if truncated {
                break;
            }
        }
        out.sort();
        let paths = out
            .into_iter()
            .map(|(o, classes)| {
                let spelled = self.spell(o, &classes, target);
                let through = classes[..classes.len() - 1]
                    .iter()
                    .map(|&c| self.members(c))
                    .collect();
                (spelled, through)
            })
            .collect();
        Some(AllPaths {
            hop,
            paths,
            truncated,
        })
    }
}

/// An endpoint of a hop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Identity(IdentityId),
    /// Addresses of an entry network.
    Network(seg_ir::CidrSet),
}

#[derive(Clone, Debug)]
pub struct Step {
    pub from: Node,
    pub to: IdentityId,
    pub hop: Hop,
}

#[derive(Clone, Debug)]
pub struct Path {
    pub steps: Vec<Step>,
}

/// Every shortest path to one identity: each as one spelled path plus, per
/// intermediate step, every identity it may go through instead.
#[derive(Clone, Debug)]
pub struct AllPaths {
    pub hop: u32,
    pub paths: Vec<(Path, Vec<Vec<IdentityId>>)>,
    pub truncated: bool,
}
