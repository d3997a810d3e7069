//! Sources and destinations partitioned by the rules of several programs.
//!
//! Per role (source or destination), every rule's endpoint set is reduced to
//! its *membership*: the identities (by [`Uid`]) and the addresses that are
//! members. Membership is what the reference evaluator tests: an identity
//! endpoint is a member iff it is one of the set's identities; an address is
//! a member iff it lies in the set's networks or in an address of one of its
//! identities (docs/semantics.md §3). So two sets with the same membership
//! are one [`SetId`], across programs, however they were written.
//!
//! Endpoints are then grouped into **classes** that no set tells apart:
//! - an identity class holds the identities that belong to exactly the same
//!   sets (and share the caller's refinement key, e.g. "added in the new
//!   version");
//! - an address region holds the addresses that belong to exactly the same
//!   sets and are owned (are an address of an identity, in any program) by
//!   identities of the same refinement keys — so a region never mixes an
//!   added identity's addresses with a changed one's, or owned addresses
//!   with unowned ones (found by one sweep over the sets' and identities'
//!   address ranges).
//!
//! Every rule matches either all or none of a class, so a decision computed
//! for one member of a class holds for all of them.

use crate::universe::{Uid, Universe};
use seg_ir::fasthash::FastMap;
use seg_ir::{CidrSet, EndpointSet, FlowEndpoint, IdentityId, Program};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// A distinct membership of a role (index into [`Role::sets`]).
pub type SetId = u32;
/// An endpoint class of a role (index into [`Role::classes`]).
pub type ClassId = u32;

/// An endpoint set reduced to its membership.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Membership {
    /// Member identities, ascending.
    pub identities: Vec<Uid>,
    /// Member addresses: the networks and every member identity's addresses.
    pub addresses: CidrSet,
}

/// What a class holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Members {
    /// Identities, ascending by uid.
    Identities(Vec<Uid>),
    /// Addresses (a flow from or to any of them).
    Addresses(CidrSet),
}

/// Endpoints no set of the role tells apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Class {
    pub members: Members,
    /// The sets it belongs to, ascending.
    pub sets: Vec<SetId>,
}

/// One rule of one of the programs, placed in the space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    /// Index of the program (in the order given to [`Space::new`]).
    pub program: usize,
    /// Index into that program's `rules`.
    pub index: usize,
    pub src: SetId,
    pub dst: SetId,
}

/// One role's sets and classes.
#[derive(Clone, Debug, Default)]
pub struct Role {
    pub sets: Vec<Membership>,
    /// Per set: the rules (indices into [`Space::rules`]) with it in this role.
    pub rules_of_set: Vec<Vec<u32>>,
    /// Identity classes first, then address regions.
    pub classes: Vec<Class>,
    /// Per set: the classes inside it, ascending.
    pub classes_of_set: Vec<Vec<ClassId>>,
    /// Per uid: its identity class.
    class_of_identity: Vec<ClassId>,
    /// Address regions as sorted, disjoint ranges: (first, last, class), per family.
    v4: Vec<(u32, u32, ClassId)>,
    v6: Vec<(u128, u128, ClassId)>,
}

impl Role {
    /// The class of an identity.
    pub fn class_of_identity(&self, uid: Uid) -> ClassId {
        self.class_of_identity[uid as usize]
    }

    /// The class of an address; `None` when no set of the role holds it.
    pub fn class_of_address(&self, addr: IpAddr) -> Option<ClassId> {
        fn find<T: Ord + Copy>(v: &[(T, T, ClassId)], x: T) -> Option<ClassId> {
            let i = v.partition_point(|r| r.1 < x);
            v.get(i).filter(|r| r.0 <= x).map(|r| r.2)
        }
        match addr {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => find(&self.v6, u128::from(a)),
        }
    }

    /// The address regions overlapping `addresses`, ascending.
    pub fn address_classes(&self, addresses: &CidrSet) -> Vec<ClassId> {
        fn overlapping<T: Ord + Copy>(v: &[(T, T, ClassId)], lo: T, hi: T, out: &mut Vec<ClassId>) {
            let start = v.partition_point(|r| r.1 < lo);
            out.extend(v[start..].iter().take_while(|r| r.0 <= hi).map(|r| r.2));
        }
        let mut out = Vec::new();
        for (lo, hi) in addresses.ranges() {
            match (lo, hi) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    overlapping(&self.v4, u32::from(a), u32::from(b), &mut out)
                }
                (IpAddr::V6(a), IpAddr::V6(b)) => {
                    overlapping(&self.v6, u128::from(a), u128::from(b), &mut out)
                }
                _ => {}
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// How many rules hold the class in this role (with repeats across sets).
    pub fn rule_count(&self, class: ClassId) -> usize {
        self.classes[class as usize]
            .sets
            .iter()
            .map(|s| self.rules_of_set[*s as usize].len())
            .sum()
    }
}

/// The flow space of several programs: identities, rules, and per role the
/// sets and classes (see the module docs).
#[derive(Clone, Debug)]
pub struct Space {
    pub universe: Universe,
    /// Every rule of every program, programs in order, rules in order.
    pub rules: Vec<Placed>,
    pub src: Role,
    pub dst: Role,
}

impl Space {
    /// Partition the flow space of `programs`. Identities whose `refine`
    /// keys differ are never put in one class (use `|_| 0` for none).
    pub fn new(programs: &[&Program], refine: impl Fn(Uid) -> u64) -> Space {
        let universe = Universe::new(programs);
        let mut src = RoleBuilder::default();
        let mut dst = RoleBuilder::default();
        let mut rules = Vec::new();
        let mut owned: Vec<(CidrSet, u64)> = Vec::new();
        for (p, program) in programs.iter().enumerate() {
            for identity in &program.identities {
                if !identity.addresses.is_empty() {
                    let uid = universe.uid(p, identity.id);
                    owned.push((CidrSet::from_nets(&identity.addresses), refine(uid)));
                }
            }
            let addrs: Vec<CidrSet> = program
                .identities
                .iter()
                .map(|i| CidrSet::from_nets(&i.addresses))
                .collect();
            let mut local_src = FastMap::default();
            let mut local_dst = FastMap::default();
            for (index, rule) in program.rules.iter().enumerate() {
                let s = src.set(&mut local_src, &rule.src, p, &universe, &addrs);
                let d = dst.set(&mut local_dst, &rule.dst, p, &universe, &addrs);
                rules.push(Placed {
                    program: p,
                    index,
                    src: s,
                    dst: d,
                });
            }
        }
        let src = src.finish(&rules, &universe, &refine, &owned, |r| r.src);
        let dst = dst.finish(&rules, &universe, &refine, &owned, |r| r.dst);
        Space {
            universe,
            rules,
            src,
            dst,
        }
    }

    /// The class of program `p`'s flow endpoint in a role; `None` for an
    /// address no set of the role holds.
    pub fn class_of(&self, role: &Role, p: usize, endpoint: FlowEndpoint) -> Option<ClassId> {
        match endpoint {
            FlowEndpoint::Identity(id) => Some(role.class_of_identity(self.universe.uid(p, id))),
            FlowEndpoint::Address(a) => role.class_of_address(a),
        }
    }

    /// The rules (indices into [`Space::rules`], ascending) whose source
    /// holds class `s` and whose destination holds class `d`.
    pub fn rules_between(&self, s: ClassId, d: ClassId) -> Vec<u32> {
        let (src, dst) = (&self.src.classes[s as usize], &self.dst.classes[d as usize]);
        let mut out: Vec<u32> = Vec::new();
        // Walk the side with fewer rules; look the other side's set up.
        if self.src.rule_count(s) <= self.dst.rule_count(d) {
            for set in &src.sets {
                out.extend(
                    self.src.rules_of_set[*set as usize]
                        .iter()
                        .filter(|&&r| dst.sets.binary_search(&self.rules[r as usize].dst).is_ok()),
                );
            }
        } else {
            for set in &dst.sets {
                out.extend(
                    self.dst.rules_of_set[*set as usize]
                        .iter()
                        .filter(|&&r| src.sets.binary_search(&self.rules[r as usize].src).is_ok()),
                );
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[derive(Default)]
struct RoleBuilder {
    sets: Vec<Membership>,
    /// Hashed with the fast keyed hasher: endpoint sets are hashed once per
    /// rule (SipHash over every member dominated building the space), and
    /// their members are the author's.
    ids: FastMap<Membership, SetId>,
}

impl RoleBuilder {
    /// The set id of one rule's endpoint set (each distinct set of a program
    /// is reduced once).
    fn set<'p>(
        &mut self,
        local: &mut FastMap<(&'p BTreeSet<IdentityId>, &'p CidrSet), SetId>,
        set: &'p EndpointSet,
        p: usize,
        universe: &Universe,
        addrs: &[CidrSet],
    ) -> SetId {
        if let Some(&id) = local.get(&(&set.identities, &set.networks)) {
            return id;
        }
        let mut identities: Vec<Uid> = set.identities.iter().map(|i| universe.uid(p, *i)).collect();
        identities.sort_unstable();
        let mut ranges = set.networks.ranges();
        for i in &set.identities {
            if let Some(a) = addrs.get(i.0 as usize) {
                ranges.extend(a.ranges());
            }
        }
        let membership = Membership {
            identities,
            addresses: CidrSet::from_ranges(ranges),
        };
        let next = self.sets.len() as SetId;
        let id = *self.ids.entry(membership.clone()).or_insert_with(|| {
            self.sets.push(membership);
            next
        });
        local.insert((&set.identities, &set.networks), id);
        id
    }

    fn finish(
        self,
        rules: &[Placed],
        universe: &Universe,
        refine: &impl Fn(Uid) -> u64,
        owned: &[(CidrSet, u64)],
        which: impl Fn(&Placed) -> SetId,
    ) -> Role {
        let sets = self.sets;
        let mut rules_of_set = vec![Vec::new(); sets.len()];
        for (i, r) in rules.iter().enumerate() {
            rules_of_set[which(r) as usize].push(i as u32);
        }
        // Identity classes: identities with the same sets and key.
        let mut signature: Vec<Vec<SetId>> = vec![Vec::new(); universe.len()];
        for (s, m) in sets.iter().enumerate() {
            for &uid in &m.identities {
                signature[uid as usize].push(s as SetId);
            }
        }
        let mut classes: Vec<Class> = Vec::new();
        let mut by_key: HashMap<(u64, Vec<SetId>), ClassId> = HashMap::new();
        let mut class_of_identity = Vec::with_capacity(universe.len());
        for (uid, sig) in signature.into_iter().enumerate() {
            let key = (refine(uid as Uid), sig);
            let class = match by_key.get(&key) {
                Some(&c) => c,
                None => {
                    let c = classes.len() as ClassId;
                    classes.push(Class {
                        members: Members::Identities(Vec::new()),
                        sets: key.1.clone(),
                    });
                    by_key.insert(key, c);
                    c
                }
            };
            if let Members::Identities(m) = &mut classes[class as usize].members {
                m.push(uid as Uid);
            }
            class_of_identity.push(class);
        }
        let (v4, v6) = regions(&sets, owned, &mut classes);
        let mut classes_of_set = vec![Vec::new(); sets.len()];
        for (c, class) in classes.iter().enumerate() {
            for s in &class.sets {
                classes_of_set[*s as usize].push(c as ClassId);
            }
        }
        Role {
            sets,
            rules_of_set,
            classes,
            classes_of_set,
            class_of_identity,
            v4,
            v6,
        }
    }
}

/// A 128-bit key per set or owner key; a region's key is the XOR of the
/// keys of its sets and of its owners' keys.
fn zobrist(x: u64, salt: u64) -> u128 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let s = mix(x ^ salt);
    (u128::from(mix(s)) << 64) | u128::from(mix(s ^ 0x5EED))
}

type Regions = (Vec<(u32, u32, ClassId)>, Vec<(u128, u128, ClassId)>);

/// What starts or ends at a position of the sweep.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A set's range (`true`: starts).
    Set(bool, SetId),
    /// An identity's address range, by its owner key (`true`: starts).
    Owner(bool, u64),
}

/// Address regions by one sweep per family over every set's and every
/// owned address's ranges; appends them to `classes` and returns the range
/// index.
fn regions(sets: &[Membership], owned: &[(CidrSet, u64)], classes: &mut Vec<Class>) -> Regions {
    let mut events: [Vec<(u128, Event)>; 2] = [Vec::new(), Vec::new()];
    let mut push = |lo: IpAddr, hi: IpAddr, start: Event, end: Event| {
        let (family, lo, hi, max) = match (lo, hi) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (
                0,
                u128::from(u32::from(a)),
                u128::from(u32::from(b)),
                u128::from(u32::MAX),
            ),
            (IpAddr::V6(a), IpAddr::V6(b)) => (1, u128::from(a), u128::from(b), u128::MAX),
            _ => return,
        };
        events[family].push((lo, start));
        if hi < max {
            events[family].push((hi + 1, end));
        }
    };
    for (s, m) in sets.iter().enumerate() {
        for (lo, hi) in m.addresses.ranges() {
            push(
                lo,
                hi,
                Event::Set(true, s as SetId),
                Event::Set(false, s as SetId),
            );
        }
    }
    for (addresses, key) in owned {
        for (lo, hi) in addresses.ranges() {
            push(lo, hi, Event::Owner(true, *key), Event::Owner(false, *key));
        }
    }
    let mut by_key: HashMap<u128, ClassId> = HashMap::new();
    let mut pieces: Vec<Vec<(IpAddr, IpAddr)>> = Vec::new();
    let first_region = classes.len();
    let mut index = [Vec::new(), Vec::new()];
    for (family, mut events) in events.into_iter().enumerate() {
        let max = if family == 0 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        let ip = |x: u128| -> IpAddr {
            if family == 0 {
                IpAddr::V4((x as u32).into())
            } else {
                IpAddr::V6(x.into())
            }
        };
        // Ends before starts at one position: what leaves and what enters
        // there both take effect before the next piece.
        events.sort_unstable();
        let mut active: BTreeSet<SetId> = BTreeSet::new();
        // Owner keys with how many identity ranges hold them here.
        let mut owners: HashMap<u64, usize> = HashMap::new();
        let mut key: u128 = 0;
        let mut i = 0;
        while i < events.len() {
            let pos = events[i].0;
            while i < events.len() && events[i].0 == pos {
                match events[i].1 {
                    Event::Set(start, s) => {
                        if start {
                            active.insert(s);
                        } else {
                            active.remove(&s);
                        }
                        key ^= zobrist(u64::from(s), 0);
                    }
                    Event::Owner(start, k) => {
                        let n = owners.entry(k).or_insert(0);
                        let before = *n > 0;
                        *n = if start { *n + 1 } else { n.saturating_sub(1) };
                        if before != (*n > 0) {
                            key ^= zobrist(k, 0xA11D_0E5C);
                        }
                    }
                }
                i += 1;
            }
            if active.is_empty() {
                continue;
            }
            let end = events.get(i).map_or(max, |e| e.0 - 1);
            let class = *by_key.entry(key).or_insert_with(|| {
                classes.push(Class {
                    members: Members::Addresses(CidrSet::empty()),
                    sets: active.iter().copied().collect(),
                });
                pieces.push(Vec::new());
                (classes.len() - 1) as ClassId
            });
            pieces[class as usize - first_region].push((ip(pos), ip(end)));
            index[family].push((pos, end, class));
        }
    }
    for (k, ranges) in pieces.into_iter().enumerate() {
        classes[first_region + k].members = Members::Addresses(CidrSet::from_ranges(ranges));
    }
    let [v4, v6] = index;
    (
        v4.into_iter()
            .map(|(a, b, c)| (a as u32, b as u32, c))
            .collect(),
        v6,
    )
}
