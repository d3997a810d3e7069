//! The class graph: which identity classes reach which, under a [`Model`].
//!
//! Built once per program: the active rules (live at the model's instant,
//! condition satisfiable by the attacker), the identity classes, and for
//! every class the classes it reaches in one hop. A hop from class A to
//! class B exists when, for some port and some attacker context, some allow
//! whose source holds A and destination holds B matches and no such deny
//! does — exactly the reference evaluator's decision on the identity flow,
//! quantified over ports and contexts. Pairs with no deny between them are
//! decided from the rule lists alone; the others through [`Analysis::hop`]'s
//! witness search, memoised by their (allows, denies) lists.

use crate::classes::{Classes, RuleIx, intersect};
use crate::model::{Model, Witnesses, satisfiable};
use seg_ir::eval::{holds, live};
use seg_ir::{Action, CidrSet, IdentityId, PortSet, Program};
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;

/// What one hop allows: the ports, the allows that give them and the denies
/// that carve some of them away.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hop {
    /// Ports on which some attacker context is allowed.
    pub allowed: PortSet,
    /// Program rule indices of the allows that allow part of `allowed`.
    pub allows: Vec<usize>,
    /// Ports the allows would give that denies take away in every context.
    pub carved: PortSet,
    /// Program rule indices of the denies that take something away.
    pub denies: Vec<usize>,
}

/// A part of an entry network: addresses no inventory identity owns, all
/// members of the same rules' sources.
#[derive(Clone, Debug)]
pub struct EntryPart {
    pub addrs: CidrSet,
    pub allow: Vec<RuleIx>,
    pub deny: Vec<RuleIx>,
}

/// The allows and denies between a source and a destination.
pub type RuleLists = (Vec<RuleIx>, Vec<RuleIx>);

pub struct Analysis<'p> {
    pub program: &'p Program,
    pub model: Model,
    /// Active rules: program rule indices in program order.
    pub rules: Vec<usize>,
    pub allow: Vec<bool>,
    pub classes: Classes,
    /// Per active rule, the classes whose members its destination holds.
    rule_dst: Vec<Vec<u32>>,
    /// Class out-edges, each row ascending, computed when first asked for.
    out: Vec<OnceCell<Vec<u32>>>,
    scratch: RefCell<Scratch>,
    memo: RefCell<HashMap<RuleLists, bool>>,
    hops: RefCell<HashMap<RuleLists, Hop>>,
}

impl<'p> Analysis<'p> {
    pub fn new(program: &'p Program, model: Model) -> Analysis<'p> {
        Analysis::grouped(program, model, |_| 0)
    }

    /// An analysis whose classes also keep apart identities of different
    /// `group`s (the nodes of a map).
    pub fn grouped(
        program: &'p Program,
        model: Model,
        group: impl Fn(IdentityId) -> u32,
    ) -> Analysis<'p> {
        let rules = Analysis::active_rules(program, &model);
        let allow = actions(program, &rules);
        let pivot = |id: IdentityId| model.pivot.contains(&program.identity(id).kind);
        let classes = Classes::build(program, &rules, &allow, pivot, group);
        Analysis::assemble(program, model, rules, allow, classes)
    }

    /// The rules an analysis under `model` works on: live at its instant,
    /// with some service, and a condition the attacker can meet (program
    /// rule indices, in program order).
    pub fn active_rules(program: &Program, model: &Model) -> Vec<usize> {
        let at = model.expiry_at(program);
        // Rules often share a condition: decide each distinct one once.
        let mut usable: HashMap<&seg_ir::Condition, bool> = HashMap::new();
        program
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                live(r.expires, at)
                    && !r.services.is_empty()
                    && *usable
                        .entry(&r.condition)
                        .or_insert_with(|| satisfiable(program, model, &r.condition))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// [`Analysis::new`] over classes built before by an analysis of the same
    /// program, `model.pivot` and `rules` (from [`Analysis::active_rules`]),
    /// e.g. kept by the compiled-program cache. `None` when they do not fit
    /// the program (another number of identities or rules, a member out of
    /// place): the caller builds them instead.
    pub fn with_classes(
        program: &'p Program,
        model: Model,
        rules: Vec<usize>,
        classes: Classes,
    ) -> Option<Analysis<'p>> {
        let pivot = |id: IdentityId| model.pivot.contains(&program.identity(id).kind);
        if !classes.fits(program.identities.len(), rules.len(), pivot) {
            return None;
        }
        let allow = actions(program, &rules);
        Some(Analysis::assemble(program, model, rules, allow, classes))
    }

    fn assemble(
        program: &'p Program,
        model: Model,
        rules: Vec<usize>,
        allow: Vec<bool>,
        classes: Classes,
    ) -> Analysis<'p> {
        let mut rule_dst = vec![Vec::new(); rules.len()];
        for (c, class) in classes.list.iter().enumerate() {
            for &r in class.dst_allow.iter().chain(&class.dst_deny) {
                rule_dst[r as usize].push(c as u32);
            }
        }
        let k = classes.len();
        Analysis {
            program,
            model,
            rules,
            allow,
            classes,
            rule_dst,
            out: (0..k).map(|_| OnceCell::new()).collect(),
            scratch: RefCell::new(Scratch::new(k)),
            memo: RefCell::new(HashMap::new()),
            hops: RefCell::new(HashMap::new()),
        }
    }

    /// Classes one hop away from a source member of exactly these allows and
    /// denies (`me`: the source's own class, reachable only when it has
    /// another member).
    fn reach_from(
        &self,
        src_allow: &[RuleIx],
        src_deny: &[RuleIx],
        me: Option<u32>,
        s: &mut Scratch,
    ) -> Vec<u32> {
        for &r in src_allow {
            for &b in &self.rule_dst[r as usize] {
                if s.allows[b as usize].is_empty() {
                    s.touched.push(b);
                }
                s.allows[b as usize].push(r);
            }
        }
        for &d in src_deny {
            for &b in &self.rule_dst[d as usize] {
                if !s.allows[b as usize].is_empty() {
                    s.denies[b as usize].push(d);
                }
            }
        }
        s.touched.sort_unstable();
        let mut out = Vec::with_capacity(s.touched.len());
        for &b in &s.touched {
            let (allows, denies) = (&s.allows[b as usize], &s.denies[b as usize]);
            let alone = me == Some(b) && self.classes.list[b as usize].members.len() < 2;
            if !alone && (denies.is_empty() || self.allowed(allows, denies)) {
                out.push(b);
            }
        }
        for &b in &s.touched {
            s.allows[b as usize].clear();
            s.denies[b as usize].clear();
        }
        s.touched.clear();
        out
    }

    /// Every class some allow leads to from class `c` (whether the hop is
    /// allowed or carved away by denies), with the allows and denies between.
    pub fn candidates(&self, c: u32) -> Vec<(u32, RuleLists)> {
        let class = &self.classes.list[c as usize];
        let mut s = self.scratch.borrow_mut();
        let s = &mut *s;
        for &r in &class.src_allow {
            for &b in &self.rule_dst[r as usize] {
                if s.allows[b as usize].is_empty() {
                    s.touched.push(b);
                }
                s.allows[b as usize].push(r);
            }
        }
        for &d in &class.src_deny {
            for &b in &self.rule_dst[d as usize] {
                if !s.allows[b as usize].is_empty() {
                    s.denies[b as usize].push(d);
                }
            }
        }
        s.touched.sort_unstable();
        let alone = class.members.len() < 2;
        let out = s
            .touched
            .iter()
            .filter(|&&b| !(alone && b == c))
            .map(|&b| {
                let lists = (s.allows[b as usize].clone(), s.denies[b as usize].clone());
                (b, lists)
            })
            .collect();
        for &b in &s.touched {
            s.allows[b as usize].clear();
            s.denies[b as usize].clear();
        }
        s.touched.clear();
        out
    }

    /// The full decision between these rule lists (memoised).
    pub fn decide_lists(&self, lists: &RuleLists) -> Hop {
        if let Some(hit) = self.hops.borrow().get(lists) {
            return hit.clone();
        }
        let hop = self.decide(&lists.0, &lists.1, false);
        self.hops.borrow_mut().insert(lists.clone(), hop.clone());
        hop
    }

    /// The rule lists between a class (as source) and an address part (as destination).
    pub fn lists_to_part(&self, c: u32, part: &EntryPart) -> RuleLists {
        let class = &self.classes.list[c as usize];
        (
            intersect(&class.src_allow, &part.allow),
            intersect(&class.src_deny, &part.deny),
        )
    }

    /// The rule lists between an address part (as source) and a class.
    pub fn lists_from_part(&self, part: &EntryPart, c: u32) -> RuleLists {
        let class = &self.classes.list[c as usize];
        (
            intersect(&part.allow, &class.dst_allow),
            intersect(&part.deny, &class.dst_deny),
        )
    }

    /// Classes one hop from class `c`.
    pub fn out(&self, c: u32) -> &[u32] {
        self.out[c as usize].get_or_init(|| {
            let class = &self.classes.list[c as usize];
            let mut s = self.scratch.borrow_mut();
            self.reach_from(&class.src_allow, &class.src_deny, Some(c), &mut s)
        })
    }

    /// Class edges (every class's out-edges are computed).
    pub fn edge_count(&self) -> usize {
        (0..self.classes.len() as u32)
            .map(|c| self.out(c).len())
            .sum()
    }

    /// Whether some port and attacker context is allowed by these allows and
    /// not denied by these denies (memoised).
    fn allowed(&self, allows: &[RuleIx], denies: &[RuleIx]) -> bool {
        let key = (allows.to_vec(), denies.to_vec());
        if let Some(&hit) = self.memo.borrow().get(&key) {
            return hit;
        }
        let answer = !self.decide(allows, denies, true).allowed.is_empty();
        self.memo.borrow_mut().insert(key, answer);
        answer
    }

    /// The full decision of a hop between these rule lists; with `first`,
    /// stop at the first allowed context (only `allowed` non-empty matters).
    fn decide(&self, allows: &[RuleIx], denies: &[RuleIx], first: bool) -> Hop {
        let rule = |k: &RuleIx| &self.program.rules[self.rules[*k as usize]];
        let conditions = allows.iter().chain(denies).map(|k| &rule(k).condition);
        if conditions.clone().all(|c| *c == seg_ir::Condition::True) {
            return self.decide_unconditional(allows, denies);
        }
        let witnesses = Witnesses::new(self.program, &self.model, conditions);
        let mut hop = Hop::default();
        let mut would = PortSet::empty();
        let mut allow_used = vec![false; allows.len()];
        let mut deny_used = vec![false; denies.len()];
        witnesses.any(|flow| {
            let mut granted = PortSet::empty();
            let mut held = Vec::new();
            for (i, k) in allows.iter().enumerate() {
                if holds(&rule(k).condition, flow) {
                    granted = granted.union(&rule(k).services);
                    held.push(i);
                }
            }
            if granted.is_empty() {
                return false;
            }
            let mut denied = PortSet::empty();
            for (i, k) in denies.iter().enumerate() {
                if holds(&rule(k).condition, flow) {
                    let svc = &rule(k).services;
                    if !svc.intersect(&granted).is_empty() {
                        deny_used[i] = true;
                    }
                    denied = denied.union(svc);
                }
            }
            let left = granted.difference(&denied);
            for i in held {
                if !rule(&allows[i]).services.difference(&denied).is_empty() {
                    allow_used[i] = true;
                }
            }
            would = would.union(&granted);
            hop.allowed = hop.allowed.union(&left);
            first && !left.is_empty()
        });
        hop.carved = would.difference(&hop.allowed);
        hop.allows = allows
            .iter()
            .zip(&allow_used)
            .filter(|(_, u)| **u)
            .map(|(k, _)| self.rules[*k as usize])
            .collect();
        if !hop.carved.is_empty() {
            hop.denies = denies
                .iter()
                .zip(&deny_used)
                .filter(|(_, u)| **u)
                .map(|(k, _)| self.rules[*k as usize])
                .collect();
        }
        hop
    }

    /// [`Analysis::decide`] when no rule has a condition: one context decides all.
    fn decide_unconditional(&self, allows: &[RuleIx], denies: &[RuleIx]) -> Hop {
        let rule = |k: &RuleIx| &self.program.rules[self.rules[*k as usize]];
        let granted = allows
            .iter()
            .fold(PortSet::empty(), |acc, k| acc.union(&rule(k).services));
        let denied = denies
            .iter()
            .fold(PortSet::empty(), |acc, k| acc.union(&rule(k).services));
        let allowed = granted.difference(&denied);
        let carved = granted.intersect(&denied);
        Hop {
            allows: allows
                .iter()
                .filter(|k| !rule(k).services.difference(&denied).is_empty())
                .map(|k| self.rules[*k as usize])
                .collect(),
            denies: if carved.is_empty() {
                Vec::new()
            } else {
                denies
                    .iter()
                    .filter(|k| !rule(k).services.intersect(&granted).is_empty())
                    .map(|k| self.rules[*k as usize])
                    .collect()
            },
            allowed,
            carved,
        }
    }

    /// What the hop from class `a` to class `b` allows (also when nothing).
    /// Memoised by the rule lists between them: the paths of a report end in
    /// thousands of class pairs, most of which share their lists.
    pub fn hop(&self, a: u32, b: u32) -> Hop {
        let (ca, cb) = (
            &self.classes.list[a as usize],
            &self.classes.list[b as usize],
        );
        self.decide_lists(&(
            intersect(&ca.src_allow, &cb.dst_allow),
            intersect(&ca.src_deny, &cb.dst_deny),
        ))
    }

    /// What the hop from an entry part to class `b` allows.
    pub fn entry_hop(&self, part: &EntryPart, b: u32) -> Hop {
        let cb = &self.classes.list[b as usize];
        self.decide_lists(&(
            intersect(&part.allow, &cb.dst_allow),
            intersect(&part.deny, &cb.dst_deny),
        ))
    }

    /// Classes one hop from an entry part.
    pub fn entry_out(&self, part: &EntryPart) -> Vec<u32> {
        let mut s = self.scratch.borrow_mut();
        self.reach_from(&part.allow, &part.deny, None, &mut s)
    }

    /// The addresses of `network` that no identity owns, split so that each
    /// part is in the same active rules' sources.
    pub fn entry_parts(&self, network: &CidrSet) -> Vec<EntryPart> {
        self.address_parts(network, true)
    }

    /// The same, split by the rules' destinations (`seg graph`'s network nodes).
    pub fn exit_parts(&self, network: &CidrSet) -> Vec<EntryPart> {
        self.address_parts(network, false)
    }

    fn address_parts(&self, network: &CidrSet, source: bool) -> Vec<EntryPart> {
        let owned = CidrSet::from_nets(self.program.identities.iter().flat_map(|i| &i.addresses));
        let outside = network.difference(&owned);
        if outside.is_empty() {
            return Vec::new();
        }
        // (addresses, rules whose source covers them), refined rule by rule.
        let mut parts: Vec<(CidrSet, Vec<RuleIx>)> = vec![(outside, Vec::new())];
        for (k, &r) in self.rules.iter().enumerate() {
            let rule = &self.program.rules[r];
            let nets = if source {
                &rule.src.networks
            } else {
                &rule.dst.networks
            };
            if nets.is_empty() {
                continue;
            }
            let mut next = Vec::with_capacity(parts.len() + 1);
            for (addrs, sig) in parts {
                let inside = addrs.intersect(nets);
                if inside.is_empty() {
                    next.push((addrs, sig));
                    continue;
                }
                let rest = addrs.difference(nets);
                if !rest.is_empty() {
                    next.push((rest, sig.clone()));
                }
                let mut sig = sig;
                sig.push(k as u32);
                next.push((inside, sig));
            }
            parts = next;
        }
        // Parts with the same rules behave alike: merge them.
        let mut merged: Vec<(CidrSet, Vec<RuleIx>)> = Vec::new();
        let mut index: HashMap<Vec<RuleIx>, usize> = HashMap::new();
        for (addrs, sig) in parts {
            match index.get(&sig) {
                Some(&i) => merged[i].0 = merged[i].0.union(&addrs),
                None => {
                    index.insert(sig.clone(), merged.len());
                    merged.push((addrs, sig));
                }
            }
        }
        merged
            .into_iter()
            .map(|(addrs, sig)| {
                let (allow, deny) = sig.iter().partition(|k| self.allow[**k as usize]);
                EntryPart { addrs, allow, deny }
            })
            .collect()
    }

    /// The class of an identity.
    pub fn class_of(&self, id: IdentityId) -> u32 {
        self.classes.of[id.0 as usize]
    }
}

/// Whether each of `rules` (program rule indices) is an allow.
fn actions(program: &Program, rules: &[usize]) -> Vec<bool> {
    rules
        .iter()
        .map(|&r| program.rules[r].action == Action::Allow)
        .collect()
}

/// Per-class accumulators reused across source classes.
struct Scratch {
    allows: Vec<Vec<RuleIx>>,
    denies: Vec<Vec<RuleIx>>,
    touched: Vec<u32>,
}

impl Scratch {
    fn new(k: usize) -> Scratch {
        Scratch {
            allows: vec![Vec::new(); k],
            denies: vec![Vec::new(); k],
            touched: Vec::new(),
        }
    }
}
