//! Indexes over the inventory so that name lookups, attribute predicates and
//! network-overlap membership cost time in the size of the answer, not in the
//! number of identities times the number of rules.
//!
//! Input: the validated [`Inventory`] and "now". Output: lookups by name,
//! attribute value, address range; status facts. Attribute indexes are built
//! lazily, once per attribute a policy actually uses.

use crate::fasthash::FastMap;
use crate::idset::IdSet;
use crate::inventory::{Details, Inventory, Status, has_network_presence};
use ipnet::IpNet;
use seg_ir::{CidrSet, Now, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::rc::Rc;

/// An identity attribute as the checker addresses it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum AttrKey {
    Name,
    Kind,
    Owner,
    /// A declared attribute of the inventory.
    Attr(String),
    /// `labels.KEY`.
    Label(String),
}

/// Identities by value of one attribute.
#[derive(Debug, Default)]
pub(crate) struct AttrIndex {
    pub(crate) values: BTreeMap<Value, IdSet>,
    /// Identities that have the attribute at all.
    pub(crate) present: IdSet,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum ValueRef<'a> {
    Bool(bool),
    Int(i64),
    Str(&'a str),
}

/// Identities grouped by a borrowed value while an index is built.
#[derive(Default)]
struct Grouping<'a> {
    groups: FastMap<ValueRef<'a>, Vec<u32>>,
    present: Vec<u32>,
}

impl<'a> Grouping<'a> {
    /// Ids must be added in increasing order.
    fn add(&mut self, id: u32, v: ValueRef<'a>) {
        self.present.push(id);
        self.groups.entry(v).or_default().push(id);
    }

    fn finish(self) -> AttrIndex {
        AttrIndex {
            values: self
                .groups
                .into_iter()
                .map(|(v, ids)| (v.to_value(), IdSet::from_sorted(ids)))
                .collect(),
            present: IdSet::from_sorted(self.present),
        }
    }
}

impl<'a> ValueRef<'a> {
    fn of(v: &'a Value) -> ValueRef<'a> {
        match v {
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Int(n) => ValueRef::Int(*n),
            Value::String(s) => ValueRef::Str(s),
        }
    }

    fn to_value(self) -> Value {
        match self {
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Int(n) => Value::Int(n),
            ValueRef::Str(s) => Value::String(s.to_string()),
        }
    }
}

/// Blocks of one size (one prefix length), sorted by their first address.
struct Group<T> {
    /// Block size minus one.
    span: T,
    items: Vec<(T, u32)>,
}

pub(crate) struct InvIndex<'a> {
    pub(crate) inv: &'a Inventory,
    pub(crate) n: u32,
    by_name: FastMap<&'a str, u32>,
    /// Identities with no network presence (cannot be destinations).
    pub(crate) absent: IdSet,
    /// `present[i]`: identity `i` has network presence.
    present: Vec<bool>,
    attr_cache: RefCell<FastMap<AttrKey, Rc<AttrIndex>>>,
    v4: Vec<Group<u32>>,
    v6: Vec<Group<u128>>,
    now: &'a Now,
}

impl<'a> InvIndex<'a> {
    pub(crate) fn new(inv: &'a Inventory, now: &'a Now) -> InvIndex<'a> {
        let n = u32::try_from(inv.identities.len()).unwrap_or(u32::MAX);
        let mut by_name =
            FastMap::with_capacity_and_hasher(inv.identities.len(), Default::default());
        let mut absent = Vec::new();
        let mut present = Vec::with_capacity(inv.identities.len());
        let count = |v6: bool| {
            inv.identities
                .iter()
                .flat_map(|x| &x.addresses)
                .filter(|a| a.addr().is_ipv6() == v6)
                .count()
        };
        let mut v4: Vec<(u8, u32, u32)> = Vec::with_capacity(count(false));
        let mut v6: Vec<(u8, u128, u32)> = Vec::with_capacity(count(true));
        for (i, ident) in inv.identities.iter().enumerate().take(n as usize) {
            let i = i as u32;
            by_name.entry(ident.name.as_str()).or_insert(i);
            present.push(has_network_presence(ident));
            if !has_network_presence(ident) {
                absent.push(i);
            }
            for net in &ident.addresses {
                // `network()` masks the host bits, so every block starts aligned.
                match net {
                    IpNet::V4(v) => v4.push((v.prefix_len(), u32::from(v.network()), i)),
                    IpNet::V6(v) => v6.push((v.prefix_len(), u128::from(v.network()), i)),
                }
            }
        }
        v4.sort_unstable();
        v6.sort_unstable();
        let v4 = groups(&v4, |len| u32::MAX.checked_shr(u32::from(len)).unwrap_or(0));
        let v6 = groups(&v6, |len| {
            u128::MAX.checked_shr(u32::from(len)).unwrap_or(0)
        });
        InvIndex {
            inv,
            n,
            by_name,
            absent: IdSet::from_sorted(absent),
            present,
            attr_cache: RefCell::default(),
            v4,
            v6,
            now,
        }
    }

    /// Take indexes built ahead (by [`columns`], on another core) as if
    /// [`InvIndex::attr`] had built them.
    pub(crate) fn prefill(&self, built: Vec<(AttrKey, AttrIndex)>) {
        let mut cache = self.attr_cache.borrow_mut();
        for (k, ix) in built {
            cache.entry(k).or_insert_with(|| Rc::new(ix));
        }
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn identity(&self, id: u32) -> &'a seg_ir::Identity {
        &self.inv.identities[id as usize]
    }

    pub(crate) fn details(&self, id: u32) -> &'a Details {
        &self.inv.details[id as usize]
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.inv.identities.iter().map(|i| i.name.as_str())
    }

    /// The members of `ids` that can be reached over the network.
    pub(crate) fn reachable(&self, ids: &IdSet) -> IdSet {
        if self.absent.is_empty() {
            return ids.clone();
        }
        IdSet::from_sorted(
            ids.iter()
                .filter(|&i| self.present.get(i as usize).copied().unwrap_or(false))
                .collect(),
        )
    }

    pub(crate) fn is_disabled(&self, id: u32) -> bool {
        self.details(id).status == Status::Disabled
    }

    /// Past its own `expires` date (live up to and including that day).
    pub(crate) fn is_expired(&self, id: u32) -> bool {
        self.details(id)
            .expires
            .is_some_and(|d| self.now.reached(d.end()))
    }

    /// The value of an attribute, borrowed from the inventory.
    fn value_ref(&self, id: u32, key: &AttrKey) -> Option<ValueRef<'a>> {
        let i = self.identity(id);
        match key {
            AttrKey::Name => Some(ValueRef::Str(&i.name)),
            AttrKey::Kind => Some(ValueRef::Str(i.kind.as_str())),
            AttrKey::Owner => i.owner.as_deref().map(ValueRef::Str),
            AttrKey::Attr(a) => i.attributes.get(a).map(ValueRef::of),
            AttrKey::Label(k) => i.labels.get(k).map(|v| ValueRef::Str(v)),
        }
    }

    /// The value index of one attribute, built on first use. The declared
    /// attributes, `kind` and `owner` are indexed together in one pass over
    /// the inventory; labels and names one key at a time.
    pub(crate) fn attr(&self, key: &AttrKey) -> Rc<AttrIndex> {
        if let Some(ix) = self.attr_cache.borrow().get(key) {
            return ix.clone();
        }
        let built: Vec<(AttrKey, AttrIndex)> = match key {
            AttrKey::Attr(_) | AttrKey::Kind | AttrKey::Owner => columns(self.inv),
            AttrKey::Name | AttrKey::Label(_) => {
                let mut g = Grouping::default();
                for id in 0..self.n {
                    if let Some(v) = self.value_ref(id, key) {
                        g.add(id, v);
                    }
                }
                vec![(key.clone(), g.finish())]
            }
        };
        let mut cache = self.attr_cache.borrow_mut();
        for (k, ix) in built {
            cache.insert(k, Rc::new(ix));
        }
        let found = cache.get(key).cloned();
        // A declared attribute no identity sets still gets an (empty) index.
        found.unwrap_or_else(|| {
            let empty = Rc::new(AttrIndex::default());
            cache.insert(key.clone(), empty.clone());
            empty
        })
    }

    /// Identities one of whose addresses overlaps `nets` (the membership rule).
    pub(crate) fn overlapping(&self, nets: &CidrSet) -> IdSet {
        if nets.is_empty() {
            return IdSet::empty();
        }
        let mut out = Vec::new();
        for (lo, hi) in nets.ranges() {
            match (lo, hi) {
                (IpAddr::V4(lo), IpAddr::V4(hi)) => {
                    scan(&self.v4, u32::from(lo), u32::from(hi), &mut out)
                }
                (IpAddr::V6(lo), IpAddr::V6(hi)) => {
                    scan(&self.v6, u128::from(lo), u128::from(hi), &mut out)
                }
                _ => {}
            }
        }
        IdSet::from_unsorted(out)
    }

    /// Every address of the given identities.
    pub(crate) fn addresses_of(&self, ids: &IdSet) -> CidrSet {
        CidrSet::from_nets(ids.iter().flat_map(|id| self.identity(id).addresses.iter()))
    }
}

/// Indexes of every declared attribute plus `kind` and `owner`, in one pass
/// over the inventory.
pub(crate) fn columns(inv: &Inventory) -> Vec<(AttrKey, AttrIndex)> {
    let declared: FastMap<&str, usize> = inv
        .attributes
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let (kind, owner) = (declared.len(), declared.len() + 1);
    let mut groups: Vec<Grouping<'_>> = (0..declared.len() + 2)
        .map(|_| Grouping::default())
        .collect();
    let n = u32::try_from(inv.identities.len()).unwrap_or(u32::MAX);
    for (id, ident) in (0..n).zip(inv.identities.iter()) {
        for (k, v) in &ident.attributes {
            if let Some(&col) = declared.get(k.as_str()) {
                groups[col].add(id, ValueRef::of(v));
            }
        }
        groups[kind].add(id, ValueRef::Str(ident.kind.as_str()));
        if let Some(o) = &ident.owner {
            groups[owner].add(id, ValueRef::Str(o));
        }
    }
    let mut keys: Vec<AttrKey> = inv
        .attributes
        .keys()
        .map(|k| AttrKey::Attr(k.clone()))
        .collect();
    keys.extend([AttrKey::Kind, AttrKey::Owner]);
    keys.into_iter()
        .zip(groups)
        .map(|(k, g)| (k, g.finish()))
        .collect()
}

/// Split `(prefix length, first address, id)` triples, sorted, into one group per length.
fn groups<T: Copy>(items: &[(u8, T, u32)], span: impl Fn(u8) -> T) -> Vec<Group<T>> {
    items
        .chunk_by(|a, b| a.0 == b.0)
        .map(|chunk| Group {
            span: span(chunk[0].0),
            items: chunk.iter().map(|&(_, lo, id)| (lo, id)).collect(),
        })
        .collect()
}

trait Addr: Copy + Ord {
    fn minus(self, o: Self) -> Self;
}
impl Addr for u32 {
    fn minus(self, o: u32) -> u32 {
        self.saturating_sub(o)
    }
}
impl Addr for u128 {
    fn minus(self, o: u128) -> u128 {
        self.saturating_sub(o)
    }
}

/// Blocks `[l, l + span]` overlapping `[lo, hi]` have `lo - span <= l <= hi`.
fn scan<T: Addr>(groups: &[Group<T>], lo: T, hi: T, out: &mut Vec<u32>) {
    for g in groups {
        let from = lo.minus(g.span);
        let start = g.items.partition_point(|&(l, _)| l < from);
        let end = g.items.partition_point(|&(l, _)| l <= hi);
        if start < end {
            out.extend(g.items[start..end].iter().map(|&(_, id)| id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{InvIdentity, Status};
    use seg_diag::{FileId, Span};
    use seg_ir::IdentityKind;

    pub(crate) fn ident(name: &str, addrs: &[&str]) -> InvIdentity {
        InvIdentity {
            name: name.into(),
            name_span: Span::new(FileId(0), 0, 0),
            span: Span::new(FileId(0), 0, 0),
            kind: IdentityKind::Workload,
            owner: None,
            attributes: BTreeMap::new(),
            labels: BTreeMap::new(),
            addresses: addrs
                .iter()
                .map(|a| a.parse().expect("test cidr"))
                .collect(),
            held: Vec::new(),
            kubernetes: None,
            aws: None,
            gcp: None,
            spiffe: None,
            credential: None,
            status: Status::Active,
            expires: None,
        }
    }

    #[test]
    fn overlap_finds_blocks_of_every_size() {
        let inv = Inventory::new(
            Default::default(),
            vec![
                ident("a", &["10.0.0.5/32"]),
                ident("b", &["10.0.1.0/24"]),
                ident("c", &["10.0.0.0/8"]),
                ident("d", &["192.168.0.1/32", "fd00::1/128"]),
                ident("e", &[]),
            ],
        );
        let now = Now::new(seg_ir::Timestamp(0));
        let ix = InvIndex::new(&inv, &now);
        let q = |s: &str| {
            let nets: Vec<IpNet> = s.split(',').map(|n| n.parse().expect("cidr")).collect();
            ix.overlapping(&CidrSet::from_nets(&nets))
                .iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(q("10.0.0.5/32"), [0, 2]);
        assert_eq!(q("10.0.1.200/32"), [1, 2]);
        assert_eq!(q("10.0.0.0/16"), [0, 1, 2]);
        assert_eq!(q("11.0.0.0/8"), Vec::<u32>::new());
        assert_eq!(q("fd00::/64"), [3]);
        assert_eq!(q("0.0.0.0/0"), [0, 1, 2, 3]);
        assert_eq!(ix.absent.iter().collect::<Vec<_>>(), [4]);
        assert_eq!(ix.lookup("d"), Some(3));
    }
}
