//! The exact diff: which flow classes two programs decide differently.
//!
//! 1. The flow space of both programs is partitioned (`seg_space::Space`):
//!    identity classes (by name, never mixing identities added, removed or
//!    changed differently), address regions, and per class pair the rules
//!    that hold it.
//! 2. A rule whose meaning (action, source and destination membership,
//!    services, condition, expiry) also exists on the other side changes
//!    nothing. The others are paired across sides (same source text, else
//!    same label) and only the class pairs where a pair's rules differ —
//!    or the whole box of an unpaired rule — are candidates: outside them
//!    every flow matches the same meanings on both sides, so it is decided
//!    alike.
//! 3. Each candidate class pair is cut into port atoms by its rules'
//!    services; per atom the two sides' rules are compared at every context
//!    from `now` on (`seg_space::context::compare`). Results are cached by
//!    rule list, since many class pairs share theirs.
//! 4. Atoms, then sources, then destinations that changed the same way
//!    (same rules on each side) are merged into rows.

use crate::inventory;
use crate::model::*;
use seg_diag::SourceMap;
use seg_ir::{Action, Condition, Expiry, Identity, PortSet, Program, Protocol};
use seg_space::context::{self, Comparison, Context, Extent, Guard};
use seg_space::{ClassId, Members, Space, Uid, Universe};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};

/// One version of the policy to compare.
pub struct Side<'a> {
    pub program: &'a Program,
    /// The sources, to pair edited rules by their text (else by label).
    pub map: Option<&'a SourceMap>,
    /// How the user named this version (a folder, a git revision).
    pub label: String,
}

/// The reachability diff of `old` and `new` (see the module docs). Both
/// programs should be compiled with the same `now`; `new`'s is used.
pub fn diff(old: &Side, new: &Side) -> Diff {
    Engine::new(old, new).run()
}

const OLD: usize = 0;
const NEW: usize = 1;

struct Engine<'a> {
    sides: [&'a Side<'a>; 2],
    universe: Universe,
    lifecycle: Vec<Lifecycle>,
    causes: Vec<Vec<FieldChange>>,
    space: Space,
    /// Per placed rule: whether the other side has a rule of the same meaning.
    unchanged: Vec<bool>,
    infos: Vec<Info>,
    info_ids: HashMap<(Vec<u32>, Vec<u32>), usize>,
    signatures: HashMap<(Vec<String>, Vec<String>), usize>,
    /// Per role, per address region: the identities whose addresses (on
    /// either side) overlap it.
    owners: [HashMap<ClassId, Vec<Uid>>; 2],
    complete: bool,
}

/// The rules deciding one port atom of a class pair, on each side, and how
/// their decisions compare.
struct Info {
    old: Vec<u32>,
    new: Vec<u32>,
    comparison: Comparison,
    /// The meaning of both rule lists (see [`Engine::signature`]).
    signature: usize,
}

/// A rule's meaning, comparable across sides.
#[derive(PartialEq, Eq, Hash)]
struct Meaning<'p> {
    action: Action,
    src: u32,
    dst: u32,
    services: &'p PortSet,
    condition: &'p Condition,
    expires: Option<Expiry>,
}

impl<'a> Engine<'a> {
    fn new(old: &'a Side<'a>, new: &'a Side<'a>) -> Engine<'a> {
        let programs = [old.program, new.program];
        let universe = Universe::new(&programs);
        let mut lifecycle = Vec::with_capacity(universe.len());
        let mut causes = Vec::with_capacity(universe.len());
        for uid in 0..universe.len() as Uid {
            let o = universe.id_in(uid, OLD).map(|id| old.program.identity(id));
            let n = universe.id_in(uid, NEW).map(|id| new.program.identity(id));
            let (life, why) = match (o, n) {
                (Some(o), Some(n)) => (Lifecycle::Persistent, inventory::changes(o, n)),
                (None, _) => (Lifecycle::Added, Vec::new()),
                (_, None) => (Lifecycle::Removed, Vec::new()),
            };
            lifecycle.push(life);
            causes.push(why);
        }
        let keys: Vec<u64> = (0..universe.len())
            .map(|u| {
                let mut h = DefaultHasher::new();
                (lifecycle[u], &causes[u]).hash(&mut h);
                h.finish()
            })
            .collect();
        let space = Space::new(&programs, |uid| keys[uid as usize]);
        let owners = [&space.src, &space.dst].map(|role| {
            let mut owners: HashMap<ClassId, Vec<Uid>> = HashMap::new();
            for (p, program) in programs.iter().enumerate() {
                for identity in &program.identities {
                    let addrs = seg_ir::CidrSet::from_nets(&identity.addresses);
                    for c in role.address_classes(&addrs) {
                        owners
                            .entry(c)
                            .or_default()
                            .push(universe.uid(p, identity.id));
                    }
                }
            }
            for v in owners.values_mut() {
                v.sort_unstable();
                v.dedup();
            }
            owners
        });
        Engine {
            sides: [old, new],
            universe,
            lifecycle,
            causes,
            space,
            unchanged: Vec::new(),
            infos: Vec::new(),
            info_ids: HashMap::new(),
            signatures: HashMap::new(),
            owners,
            complete: true,
        }
    }

    fn program(&self, p: usize) -> &'a Program {
        self.sides[p].program
    }

    fn rule(&self, placed: u32) -> &'a seg_ir::Rule {
        let r = &self.space.rules[placed as usize];
        &self.program(r.program).rules[r.index]
    }

    fn meaning(&self, placed: u32) -> Meaning<'a> {
        let p = &self.space.rules[placed as usize];
        let rule = self.rule(placed);
        Meaning {
            action: rule.action,
            src: p.src,
            dst: p.dst,
            services: &rule.services,
            condition: &rule.condition,
            expires: rule.expires,
        }
    }

    fn run(mut self) -> Diff {
        let n = self.space.rules.len() as u32;
        let meanings: [HashSet<Meaning>; 2] = [OLD, NEW].map(|side| {
            (0..n)
                .filter(|&r| self.space.rules[r as usize].program == side)
                .map(|r| self.meaning(r))
                .collect()
        });
        self.unchanged = (0..n)
            .map(|r| {
                let other = 1 - self.space.rules[r as usize].program;
                meanings[other].contains(&self.meaning(r))
            })
            .collect();
        drop(meanings);
        let cells = self.candidates();
        let changes = self.evaluate(cells);
        let rows = self.rows(changes);
        self.finish(rows)
    }

    // ---- candidates ----------------------------------------------------------

    /// Class pairs where some changed rule could decide differently.
    fn candidates(&self) -> Vec<(ClassId, ClassId)> {
        let changed: Vec<u32> = (0..self.space.rules.len() as u32)
            .filter(|&r| !self.unchanged[r as usize])
            .collect();
        let (olds, news): (Vec<u32>, Vec<u32>) = changed
            .iter()
            .partition(|&&r| self.space.rules[r as usize].program == OLD);
        let mut cells = Vec::new();
        for block in self.pair(olds, news) {
            match block {
                (a, Some(b)) => self.pair_cells(a, b, &mut cells),
                (a, None) => self.box_cells(a, &mut cells),
            }
        }
        cells.sort_unstable();
        cells.dedup();
        cells
    }

    /// Pair changed rules across sides: by source text, then by label;
    /// unpaired rules stand alone.
    fn pair(&self, olds: Vec<u32>, news: Vec<u32>) -> Vec<(u32, Option<u32>)> {
        let mut out = Vec::new();
        let mut rest_new = news;
        let mut rest_old = olds;
        for key in [Self::text_key as fn(&Self, u32) -> String, Self::label_key] {
            let mut by_key: HashMap<String, Vec<u32>> = HashMap::new();
            for &r in rest_new.iter().rev() {
                by_key.entry(key(self, r)).or_default().push(r);
            }
            let mut unpaired = Vec::new();
            for &r in &rest_old {
                match by_key.get_mut(&key(self, r)).and_then(Vec::pop) {
                    Some(m) => out.push((r, Some(m))),
                    None => unpaired.push(r),
                }
            }
            rest_old = unpaired;
            let paired: HashSet<u32> = out.iter().filter_map(|(_, m)| *m).collect();
            rest_new.retain(|r| !paired.contains(r));
        }
        out.extend(rest_old.into_iter().map(|r| (r, None)));
        out.extend(rest_new.into_iter().map(|r| (r, None)));
        out
    }

    fn text_key(&self, r: u32) -> String {
        let side = self.sides[self.space.rules[r as usize].program];
        let rule = self.rule(r);
        let text = side
            .map
            .map(|m| m.snippet(rule.provenance.origin))
            .unwrap_or_default();
        let words: Vec<&str> = text.split_whitespace().collect();
        // `<->` and `or` over static conditions lower one text to several rules.
        let part = rule
            .provenance
            .label
            .rsplit_once('.')
            .map_or("", |(_, k)| k);
        format!(
            "{}\u{0}{}\u{0}{part}",
            rule.provenance.policy,
            words.join(" ")
        )
    }

    fn label_key(&self, r: u32) -> String {
        self.rule(r).provenance.label.clone()
    }

    fn box_cells(&self, r: u32, cells: &mut Vec<(ClassId, ClassId)>) {
        let p = &self.space.rules[r as usize];
        let srcs = &self.space.src.classes_of_set[p.src as usize];
        let dsts = &self.space.dst.classes_of_set[p.dst as usize];
        product(srcs, dsts, cells);
    }

    fn pair_cells(&self, a: u32, b: u32, cells: &mut Vec<(ClassId, ClassId)>) {
        let (ra, rb) = (self.rule(a), self.rule(b));
        let (pa, pb) = (&self.space.rules[a as usize], &self.space.rules[b as usize]);
        let same_guard =
            ra.action == rb.action && ra.condition == rb.condition && ra.expires == rb.expires;
        if !same_guard || ra.services != rb.services {
            self.box_cells(a, cells);
            self.box_cells(b, cells);
            return;
        }
        let src = &self.space.src.classes_of_set;
        let dst = &self.space.dst.classes_of_set;
        let (sa, sb) = (&src[pa.src as usize], &src[pb.src as usize]);
        let (da, db) = (&dst[pa.dst as usize], &dst[pb.dst as usize]);
        if pa.src != pb.src {
            product(&symmetric_difference(sa, sb), &union(da, db), cells);
        }
        if pa.dst != pb.dst {
            product(&union(sa, sb), &symmetric_difference(da, db), cells);
        }
    }

    // ---- evaluation ----------------------------------------------------------

    /// Per candidate class pair, the port sets whose decision changed and
    /// the info (rules and comparison) of each.
    fn evaluate(&mut self, mut cells: Vec<(ClassId, ClassId)>) -> Vec<Changed> {
        // Cells are taken by the role whose classes repeat more among them:
        // that class's rules are indexed once, by the other role's set.
        let distinct = |f: fn(&(ClassId, ClassId)) -> ClassId| {
            cells.iter().map(f).collect::<HashSet<ClassId>>().len()
        };
        let by_src = distinct(|c| c.0) <= distinct(|c| c.1);
        if !by_src {
            cells.sort_unstable_by_key(|&(s, d)| (d, s));
        }
        let mut out = Vec::new();
        let mut cache: HashMap<Vec<u32>, Vec<Piece>> = HashMap::new();
        // The ports of each list of changed rules met.
        let mut ports_cache: HashMap<Vec<u32>, PortSet> = HashMap::new();
        let mut i = 0;
        while i < cells.len() {
            let key = |c: &(ClassId, ClassId)| if by_src { c.0 } else { c.1 };
            let fixed = key(&cells[i]);
            // The fixed class's rules, by their set in the other role.
            let mine = if by_src {
                &self.space.src
            } else {
                &self.space.dst
            };
            let mut index: HashMap<u32, Vec<u32>> = HashMap::new();
            for set in &mine.classes[fixed as usize].sets {
                for &r in &mine.rules_of_set[*set as usize] {
                    let placed = &self.space.rules[r as usize];
                    let other = if by_src { placed.dst } else { placed.src };
                    index.entry(other).or_default().push(r);
                }
            }
            while i < cells.len() && key(&cells[i]) == fixed {
                let (s, d) = cells[i];
                i += 1;
                let (other, theirs) = if by_src {
                    (d, &self.space.dst)
                } else {
                    (s, &self.space.src)
                };
                let mut matched: Vec<u32> = theirs.classes[other as usize]
                    .sets
                    .iter()
                    .filter_map(|set| index.get(set))
                    .flatten()
                    .copied()
                    .collect();
                // Only ports a changed rule holds can be decided differently
                // (unchanged meanings hold the pair alike on both sides), and
                // only rules meeting those ports decide them.
                let touched: Vec<u32> = matched
                    .iter()
                    .copied()
                    .filter(|&r| !self.unchanged[r as usize])
                    .collect();
                if touched.is_empty() {
                    continue;
                }
                let changed = ports_cache
                    .entry(touched)
                    .or_insert_with_key(|t| {
                        t.iter().fold(PortSet::empty(), |acc, &r| {
                            acc.union(&self.rule(r).services)
                        })
                    })
                    .clone();
                matched.retain(|&r| overlaps(&self.rule(r).services, &changed));
                matched.sort_unstable();
                if !cache.contains_key(&matched) {
                    let result = self.cell(&matched, &changed);
                    cache.insert(matched.clone(), result);
                }
                out.extend(cache[&matched].iter().map(|piece| Changed {
                    src: s,
                    dst: d,
                    piece: piece.clone(),
                }));
            }
        }
        out
    }

    /// The changed port sets of a class pair whose rules are `matched`,
    /// within the ports `changed` (those its changed rules hold), one per
    /// meaning of the deciding rules.
    fn cell(&mut self, matched: &[u32], changed: &PortSet) -> Vec<Piece> {
        let services: Vec<PortSet> = matched
            .iter()
            .map(|&r| self.rule(r).services.intersect(changed))
            .collect();
        let refs: Vec<&PortSet> = services.iter().collect();
        let mut by_meaning: BTreeMap<usize, (PortSet, Vec<usize>)> = BTreeMap::new();
        for atom in seg_space::ports::atoms(&refs) {
            let rules: Vec<u32> = atom.members.iter().map(|&m| matched[m]).collect();
            let (old, new): (Vec<u32>, Vec<u32>) = rules
                .iter()
                .partition(|&&r| self.space.rules[r as usize].program == OLD);
            if self.same_meanings(&old, &new) {
                continue;
            }
            let info = self.info(old, new);
            if self.infos[info].comparison.changed() {
                let entry = by_meaning.entry(self.infos[info].signature).or_default();
                entry.0 = entry.0.union(&atom.ports);
                if !entry.1.contains(&info) {
                    entry.1.push(info);
                }
            }
        }
        by_meaning
            .into_iter()
            .map(|(meaning, (ports, infos))| Piece {
                ports,
                meaning,
                infos: infos.into(),
            })
            .collect()
    }

    /// Both sides hold rules of the same meanings here: decided alike.
    fn same_meanings(&self, old: &[u32], new: &[u32]) -> bool {
        let key = |rs: &[u32]| {
            let mut v: Vec<(bool, &Condition, Option<Expiry>)> = rs
                .iter()
                .map(|&r| {
                    let rule = self.rule(r);
                    (rule.action == Action::Allow, &rule.condition, rule.expires)
                })
                .collect();
            v.sort_by(|a, b| {
                let end = |e: Option<Expiry>| e.map(|e| (e.end(), e.to_string()));
                (a.0, format!("{:?}", a.1), end(a.2)).cmp(&(b.0, format!("{:?}", b.1), end(b.2)))
            });
            v.dedup();
            v
        };
        old.iter().all(|&r| self.unchanged[r as usize])
            && new.iter().all(|&r| self.unchanged[r as usize])
            && key(old) == key(new)
    }

    fn info(&mut self, old: Vec<u32>, new: Vec<u32>) -> usize {
        let key = (old, new);
        if let Some(&i) = self.info_ids.get(&key) {
            return i;
        }
        let guards = |rs: &[u32]| -> Vec<Guard<'a>> {
            rs.iter()
                .map(|&r| {
                    let rule = self.rule(r);
                    Guard {
                        action: rule.action,
                        condition: &rule.condition,
                        expires: rule.expires,
                    }
                })
                .collect()
        };
        let declared = [&self.program(OLD).contexts, &self.program(NEW).contexts];
        let comparison = context::compare(
            self.program(NEW).now,
            &declared,
            &guards(&key.0),
            &guards(&key.1),
        );
        self.complete &= comparison.complete;
        let signature = self.signature(&key.0, &key.1);
        self.infos.push(Info {
            old: key.0.clone(),
            new: key.1.clone(),
            comparison,
            signature,
        });
        self.info_ids.insert(key, self.infos.len() - 1);
        self.infos.len() - 1
    }

    /// The meaning of two rule lists: each side's distinct (action,
    /// condition, expiry), sorted. Lists of one meaning decide alike.
    fn signature(&mut self, old: &[u32], new: &[u32]) -> usize {
        let side = |rs: &[u32]| -> Vec<String> {
            let mut v: Vec<String> = rs
                .iter()
                .map(|&r| {
                    let rule = self.rule(r);
                    format!("{:?}|{:?}|{:?}", rule.action, rule.condition, rule.expires)
                })
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let key = (side(old), side(new));
        let next = self.signatures.len();
        *self.signatures.entry(key).or_insert(next)
    }

    // ---- rows ----------------------------------------------------------------

    /// Merge changed cells into rows: sources, then destinations, that
    /// changed alike on the same ports. "Alike" is the same meaning of the
    /// deciding rules on each side (action, condition, expiry; a cell's
    /// pieces are already one per meaning), so a row's decision is one
    /// function whichever rules decide it.
    fn rows(&self, changes: Vec<Changed>) -> Vec<Grouped> {
        type Infos = BTreeSet<usize>;
        // (member(s), ports, meaning, kind of member)
        type Key<M> = (M, PortSet, usize, u64);
        type Groups<M> = HashMap<Key<M>, (Vec<ClassId>, Infos)>;
        // Sources with the same destination, ports, meaning and kind of member.
        let mut by_dst: Groups<ClassId> = HashMap::new();
        for c in changes {
            let kind = self.kind_key(0, c.src);
            let entry = by_dst
                .entry((c.dst, c.piece.ports, c.piece.meaning, kind))
                .or_default();
            entry.0.push(c.src);
            entry.1.extend(c.piece.infos.iter().copied());
        }
        let mut by_src: Groups<Vec<ClassId>> = HashMap::new();
        for ((d, ports, sig, _), (mut srcs, infos)) in by_dst {
            srcs.sort_unstable();
            let kind = self.kind_key(1, d);
            let entry = by_src.entry((srcs, ports, sig, kind)).or_default();
            entry.0.push(d);
            entry.1.extend(infos);
        }
        // Rows are sorted for output later; this order only makes the work repeatable.
        let mut out: Vec<Grouped> = by_src
            .into_iter()
            .map(|((srcs, ports, _, _), (mut dsts, infos))| {
                dsts.sort_unstable();
                Grouped {
                    srcs,
                    dsts,
                    ports,
                    infos: infos.into_iter().collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.srcs, &a.dsts, &a.infos).cmp(&(&b.srcs, &b.dsts, &b.infos)));
        out
    }

    /// Classes merge only with classes of the same life cycle and inventory
    /// change. An address region takes the key of the identities owning it
    /// when they share one (so an identity and its addresses form one row),
    /// else it merges with other addresses only.
    fn kind_key(&self, role: usize, c: ClassId) -> u64 {
        let r = if role == 0 {
            &self.space.src
        } else {
            &self.space.dst
        };
        match &r.classes[c as usize].members {
            Members::Addresses(_) => {
                let owners = self.owners[role]
                    .get(&c)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let keys: HashSet<u64> = owners.iter().map(|&u| self.identity_key(u)).collect();
                match keys.len() {
                    1 => keys.into_iter().next().unwrap_or(0),
                    _ => 0,
                }
            }
            Members::Identities(m) => m.first().map_or(0, |&u| self.identity_key(u)),
        }
    }

    fn identity_key(&self, uid: Uid) -> u64 {
        let mut h = DefaultHasher::new();
        (
            self.lifecycle.get(uid as usize),
            self.causes.get(uid as usize),
        )
            .hash(&mut h);
        h.finish() | 1
    }

    fn endpoints(&self, which: usize, classes: &[ClassId]) -> Endpoints {
        let role = if which == 0 {
            &self.space.src
        } else {
            &self.space.dst
        };
        let mut names: Vec<String> = Vec::new();
        let mut uids: Vec<Uid> = Vec::new();
        let mut ranges = Vec::new();
        for &c in classes {
            match &role.classes[c as usize].members {
                Members::Identities(m) => uids.extend(m),
                Members::Addresses(a) => ranges.extend(a.ranges()),
            }
        }
        let addresses = seg_ir::CidrSet::from_ranges(ranges);
        uids.sort_unstable();
        names.extend(uids.iter().map(|&u| self.universe.name(u).to_string()));
        names.sort();
        // An address-only group owned alike by identities tells their story.
        let owner = || {
            classes.iter().find_map(|c| {
                (self.kind_key(which, *c) > 1)
                    .then(|| self.owners[which].get(c).and_then(|o| o.first().copied()))
                    .flatten()
            })
        };
        let first = uids.first().copied().or_else(owner).map(|u| u as usize);
        let lifecycle = first.map_or(Lifecycle::Persistent, |u| self.lifecycle[u]);
        let causes = first.map(|u| self.causes[u].clone()).unwrap_or_default();
        let records: Vec<&Identity> = uids.iter().filter_map(|&u| self.record(u)).collect();
        let own_addresses = !uids.is_empty()
            && !addresses.is_empty()
            && classes
                .iter()
                .all(|c| match &role.classes[*c as usize].members {
                    Members::Identities(_) => true,
                    Members::Addresses(_) => self.owners[which].get(c).is_some_and(|o| {
                        !o.is_empty() && o.iter().all(|u| uids.binary_search(u).is_ok())
                    }),
                });
        Endpoints {
            identities: names,
            addresses: addresses.to_cidrs(),
            own_addresses,
            lifecycle,
            causes,
            common: inventory::common(&records),
        }
    }

    /// The identity's record, from the new version when it has it.
    fn record(&self, uid: Uid) -> Option<&'a Identity> {
        [NEW, OLD].into_iter().find_map(|p| {
            self.universe
                .id_in(uid, p)
                .map(|id| self.program(p).identity(id))
        })
    }

    fn rule_info(&self, placed: u32) -> RuleInfo {
        let rule = self.rule(placed);
        let p = &rule.provenance;
        RuleInfo {
            rule: p.label.clone(),
            action: rule.action,
            file: p.file.clone(),
            line: p.line,
            policy: p.policy.clone(),
            owner: p.owner.clone(),
            when: (rule.condition != Condition::True).then(|| rule.condition.to_string()),
            expires: rule.expires,
            changed: !self.unchanged[placed as usize],
        }
    }

    fn verdict(&self, rules: &[u32], allowed: Extent) -> Verdict {
        let guards: Vec<OwnedGuard> = rules
            .iter()
            .map(|&r| {
                let rule = self.rule(r);
                OwnedGuard {
                    action: rule.action,
                    condition: rule.condition.clone(),
                    expires: rule.expires,
                }
            })
            .collect();
        let denies: Vec<u32> = rules
            .iter()
            .copied()
            .filter(|&r| self.rule(r).action == Action::Deny)
            .collect();
        let allows: Vec<u32> = rules
            .iter()
            .copied()
            .filter(|&r| self.rule(r).action == Action::Allow)
            .collect();
        let shown: Vec<u32> = match allowed {
            Extent::Always => allows.clone(),
            Extent::Never if !denies.is_empty() => denies.clone(),
            _ => rules.to_vec(),
        };
        Verdict {
            allowed,
            text: verdict_text(allowed, &guards),
            rules: shown.into_iter().map(|r| self.rule_info(r)).collect(),
            guards,
        }
    }

    fn finish(self, grouped: Vec<Grouped>) -> Diff {
        let mut rows = Vec::new();
        for g in grouped {
            let Some(&first) = g.infos.first() else {
                continue;
            };
            let c = &self.infos[first].comparison;
            let union = |pick: fn(&Info) -> &Vec<u32>| {
                let mut rules: Vec<u32> = g
                    .infos
                    .iter()
                    .flat_map(|&i| pick(&self.infos[i]).iter().copied())
                    .collect();
                rules.sort_unstable();
                rules.dedup();
                rules
            };
            let (old_rules, new_rules) = (union(|i| &i.old), union(|i| &i.new));
            let change = match (c.before, c.after, &c.gained, &c.lost) {
                (Extent::Never, _, _, _) => Change::NewlyAllowed,
                (_, Extent::Never, _, _) => Change::NewlyDenied,
                (_, _, Some(_), None) => Change::Widened,
                (_, _, None, Some(_)) => Change::Narrowed,
                _ => Change::Changed,
            };
            let src = self.endpoints(0, &g.srcs);
            let dst = self.endpoints(1, &g.dsts);
            let section = if src.lifecycle == Lifecycle::Added || dst.lifecycle == Lifecycle::Added
            {
                Section::Added
            } else if src.lifecycle == Lifecycle::Removed || dst.lifecycle == Lifecycle::Removed {
                Section::Removed
            } else {
                Section::Persistent
            };
            let ctx = c
                .gained
                .clone()
                .or_else(|| c.lost.clone())
                .unwrap_or_else(|| Context::at(self.program(NEW).now));
            let (protocol, port) = first_port(&g.ports);
            let (Some(ws), Some(wd)) = (src.first(), dst.first()) else {
                continue;
            };
            let witness = Witness {
                src: ws,
                dst: wd,
                protocol,
                port,
                at: ctx.at,
                mtls: ctx.mtls,
                method: ctx.method.clone(),
                path: ctx.path.clone(),
                context: ctx.context.clone(),
            };
            rows.push(Row {
                section,
                change,
                before: self.verdict(&old_rules, c.before),
                after: self.verdict(&new_rules, c.after),
                src,
                dst,
                ports: g.ports,
                witness,
                intent: None,
            });
        }
        rows.sort_by_cached_key(|r: &Row| {
            (
                r.section,
                r.change,
                r.src.identities.first().cloned(),
                r.src.addresses.first().map(|n| (n.addr(), n.prefix_len())),
                r.dst.identities.first().cloned(),
                r.dst.addresses.first().map(|n| (n.addr(), n.prefix_len())),
                r.ports.to_string(),
            )
        });
        let mut identities = IdentityChanges::default();
        for uid in 0..self.universe.len() {
            let name = self.universe.name(uid as Uid).to_string();
            match self.lifecycle[uid] {
                Lifecycle::Added => identities.added.push(name),
                Lifecycle::Removed => identities.removed.push(name),
                Lifecycle::Persistent if !self.causes[uid].is_empty() => {
                    identities.changed.push(IdentityChange {
                        name,
                        changes: self.causes[uid].clone(),
                    })
                }
                Lifecycle::Persistent => {}
            }
        }
        identities.added.sort();
        identities.removed.sort();
        identities.changed.sort_by(|a, b| a.name.cmp(&b.name));
        let summary = Summary {
            newly_allowed: rows
                .iter()
                .filter(|r| r.change == Change::NewlyAllowed)
                .count(),
            newly_denied: rows
                .iter()
                .filter(|r| r.change == Change::NewlyDenied)
                .count(),
            conditions_changed: rows.iter().filter(|r| r.change.is_condition()).count(),
            identities_added: identities.added.len(),
            identities_removed: identities.removed.len(),
            identities_changed: identities.changed.len(),
        };
        Diff {
            schema: SCHEMA,
            old: version(self.sides[OLD]),
            new: version(self.sides[NEW]),
            now: self.program(NEW).now,
            summary,
            identities,
            changes: rows,
            targets: None,
            complete: self.complete,
        }
    }
}

/// The ports of a class pair whose deciding rules have one meaning, and the
/// infos (rule lists) behind them.
#[derive(Clone)]
struct Piece {
    ports: PortSet,
    meaning: usize,
    infos: std::rc::Rc<[usize]>,
}

/// A class pair's piece that changed.
struct Changed {
    src: ClassId,
    dst: ClassId,
    piece: Piece,
}

struct Grouped {
    srcs: Vec<ClassId>,
    dsts: Vec<ClassId>,
    ports: PortSet,
    /// Every info merged into the row (all of one meaning).
    infos: Vec<usize>,
}

fn version(side: &Side) -> Version {
    Version {
        label: side.label.clone(),
        project: side.program.project.clone(),
        source_hash: side.program.source_hash.clone(),
        rules: side.program.rules.len(),
        identities: side.program.identities.len(),
    }
}

fn product(a: &[ClassId], b: &[ClassId], out: &mut Vec<(ClassId, ClassId)>) {
    for &x in a {
        out.extend(b.iter().map(|&y| (x, y)));
    }
}

fn union(a: &[ClassId], b: &[ClassId]) -> Vec<ClassId> {
    let mut v: Vec<ClassId> = a.iter().chain(b).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Classes in exactly one of two ascending lists.
fn symmetric_difference(a: &[ClassId], b: &[ClassId]) -> Vec<ClassId> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                out.push(*x);
                i += 1;
            }
            (Some(x), None) => {
                out.push(*x);
                i += 1;
            }
            (_, Some(y)) => {
                out.push(*y);
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// Whether two port sets share a (protocol, port).
fn overlaps(a: &PortSet, b: &PortSet) -> bool {
    fn ranges(x: &seg_ir::PortRanges, y: &seg_ir::PortRanges) -> bool {
        let (x, y) = (x.ranges(), y.ranges());
        let (mut i, mut j) = (0, 0);
        while i < x.len() && j < y.len() {
            if x[i].1 < y[j].0 {
                i += 1;
            } else if y[j].1 < x[i].0 {
                j += 1;
            } else {
                return true;
            }
        }
        false
    }
    (a.icmp && b.icmp)
        || (a.other && b.other)
        || ranges(&a.tcp, &b.tcp)
        || ranges(&a.udp, &b.udp)
        || ranges(&a.sctp, &b.sctp)
}

/// The lowest (protocol, port) of a non-empty port set.
fn first_port(p: &PortSet) -> (Protocol, u16) {
    for (protocol, ranges) in p.by_protocol() {
        if let Some(&(lo, _)) = ranges.ranges().first() {
            return (protocol, lo);
        }
    }
    if p.icmp {
        (Protocol::Icmp, 0)
    } else {
        // `other`: any protocol number seg does not name; 47 is GRE.
        (Protocol::Other(47), 0)
    }
}

/// `deny`, `allow`, `allow when mtls until 2026-12-31`, `allow unless context.x`.
fn verdict_text(allowed: Extent, guards: &[OwnedGuard]) -> String {
    match allowed {
        Extent::Never => return "deny".into(),
        Extent::Always => return "allow".into(),
        Extent::Sometimes => {}
    }
    let part = |g: &OwnedGuard| {
        let mut s = match &g.condition {
            Condition::True => String::new(),
            Condition::Or(_) => format!("({})", g.condition),
            c => c.to_string(),
        };
        if let Some(d) = g.expires {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&format!("until {d}"));
        }
        s
    };
    let allows: Vec<String> = guards
        .iter()
        .filter(|g| g.action == Action::Allow)
        .map(part)
        .collect();
    let denies: Vec<String> = guards
        .iter()
        .filter(|g| g.action == Action::Deny)
        .map(part)
        .collect();
    let mut text = String::from("allow");
    let conditional: Vec<&String> = allows.iter().filter(|s| !s.is_empty()).collect();
    if !conditional.is_empty() && conditional.len() == allows.len() {
        let joined: Vec<&str> = conditional.iter().map(|s| s.as_str()).collect();
        text.push_str(&format!(" when {}", joined.join(" or ")));
    }
    if !denies.is_empty() {
        let joined: Vec<String> = denies
            .iter()
            .map(|s| {
                if s.is_empty() {
                    "always".into()
                } else {
                    s.clone()
                }
            })
            .collect();
        text.push_str(&format!(" unless {}", joined.join(" or ")));
    }
    text
}
