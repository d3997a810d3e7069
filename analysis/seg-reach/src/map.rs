//! `seg graph`: who can reach whom, as nodes and edges a person can read.
//!
//! Nodes are segments (or identities with `identities`): every identity sits
//! in one node, its *home*, the smallest of the project's segments that holds
//! it (first defined on a tie), or "other identities"; every network segment a
//! policy uses is a node of the addresses no identity owns and no smaller
//! network segment holds. An edge A -> B exists when some member of A reaches
//! some member of B in one hop under the attacker model (see [`crate::model`]):
//! the class pairs between them aggregated, labelled with the services the
//! deciding rules write, the ports, the rules, and the denies that carve part
//! of it. Where denies take the whole of what allows would give, the edge is
//! kept as *denied* so the carve-out shows.
//!
//! With a start (`from`), the map is the blast radius: the nodes of the reached
//! identities (with their hop) and the edges of shortest paths.

use crate::analysis::{Analysis, EntryPart, Hop, RuleLists};
use crate::model::Model;
use crate::report::{Describe, RuleRef, network_text};
use crate::search::{Origin, Search, Via};
use seg_check::Outline;
use seg_ir::{CidrSet, IdentityId, PortSet, Program};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Serialize)]
pub struct MapNode {
    /// Stable within one map: `n0`, `n1`, …
    pub id: String,
    pub label: String,
    /// `segment`, `identity`, `network` or `other`.
    pub kind: &'static str,
    /// Identities in the node (0 for networks).
    pub members: usize,
    /// Up to [`NAMES_SHOWN`] member names (identities), or the CIDRs (networks).
    pub names: Vec<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub doc: Option<String>,
    pub owner: Option<String>,
    /// With a start: the hop at which the node is first reached (0: the start).
    pub hop: Option<u32>,
    /// Holds a critical identity (`seg.toml [reach] critical`).
    pub critical: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct MapEdge {
    pub from: String,
    pub to: String,
    /// `allow`, or `denied` when denies take all that allows would give.
    pub kind: &'static str,
    pub services: Vec<String>,
    pub ports: String,
    pub rules: Vec<RuleRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carved: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub carved_by: Vec<RuleRef>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Map {
    pub assumptions: String,
    /// `segments` or `identities`.
    pub nodes_are: &'static str,
    pub from: Option<String>,
    pub nodes: Vec<MapNode>,
    pub edges: Vec<MapEdge>,
    /// Per node (by index), the nodes a compromise of its members reaches,
    /// with the hop: the blast-radius view of a clicked node.
    #[serde(skip)]
    pub blast: Vec<Vec<(u32, u32)>>,
}

/// How many member names a node lists.
pub const NAMES_SHOWN: usize = 20;

/// What to draw.
pub struct MapRequest<'a> {
    pub identities: bool,
    /// Keep only this segment and its neighbours.
    pub segment: Option<&'a str>,
    /// Draw the blast radius from these origins (and their name).
    pub from: Option<(String, Vec<Origin>)>,
    pub hops: Option<u32>,
    pub critical: &'a [IdentityId],
    /// Also compute each node's blast radius (for the HTML page).
    pub blast: bool,
}

/// A node's members before numbering.
enum Home {
    Segment(usize),
    Identity(IdentityId),
    Network(usize),
    Others,
}

/// The count of nodes and edges a request would draw, before drawing it.
pub struct Size {
    pub nodes: usize,
    pub edges: usize,
}

pub struct Mapper<'p> {
    pub analysis: Analysis<'p>,
    program: &'p Program,
    outline: &'p Outline,
    identities: bool,
    /// Node of each identity (its home), and of each network part.
    home_of: Vec<u32>,
    homes: Vec<Home>,
    /// Network nodes' address parts (as destination and as source).
    exits: Vec<(u32, EntryPart)>,
    entries: Vec<(u32, EntryPart)>,
    /// Each node's identities.
    members_of: Vec<Vec<IdentityId>>,
    /// Every (from node, to node, rule lists) of the map, computed once.
    pairs: std::cell::OnceCell<Vec<(u32, u32, RuleLists)>>,
}

impl<'p> Mapper<'p> {
    pub fn new(
        program: &'p Program,
        outline: &'p Outline,
        model: Model,
        identities: bool,
    ) -> Mapper<'p> {
        let mut homes: Vec<Home> = Vec::new();
        let mut home_of = vec![u32::MAX; program.identities.len()];
        if identities {
            for i in &program.identities {
                home_of[i.id.0 as usize] = homes.len() as u32;
                homes.push(Home::Identity(i.id));
            }
        } else {
            // The smallest project segment holding each identity.
            let mut best: Vec<Option<(usize, usize)>> = vec![None; program.identities.len()];
            for (s, seg) in outline
                .segments
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.stdlib)
            {
                let size = seg.members.as_ref().map_or(0, Vec::len);
                for id in seg.identities() {
                    let slot = &mut best[id.0 as usize];
                    if slot.is_none_or(|(sz, _)| size < sz) {
                        *slot = Some((size, s));
                    }
                }
            }
            let mut node_of_segment: BTreeMap<usize, u32> = BTreeMap::new();
            let mut others = None;
            for (i, b) in best.iter().enumerate() {
                home_of[i] = match b {
                    Some((_, s)) => *node_of_segment.entry(*s).or_insert_with(|| {
                        homes.push(Home::Segment(*s));
                        (homes.len() - 1) as u32
                    }),
                    None => *others.get_or_insert_with(|| {
                        homes.push(Home::Others);
                        (homes.len() - 1) as u32
                    }),
                };
            }
        }
        let group = |id: IdentityId| home_of[id.0 as usize];
        let analysis = Analysis::grouped(program, model, group);
        let mut m = Mapper {
            analysis,
            program,
            outline,
            identities,
            home_of,
            homes,
            exits: Vec::new(),
            entries: Vec::new(),
            members_of: Vec::new(),
            pairs: std::cell::OnceCell::new(),
        };
        m.networks();
        m.members_of = vec![Vec::new(); m.homes.len()];
        for (i, h) in m.home_of.iter().enumerate() {
            m.members_of[*h as usize].push(IdentityId(i as u32));
        }
        m
    }

    /// Network nodes: every project segment with networks and every standard
    /// segment a rule writes, each the addresses no identity owns and no
    /// smaller such segment holds.
    fn networks(&mut self) {
        let written: BTreeSet<&str> = self
            .outline
            .rules
            .values()
            .flat_map(|r| [r.src.as_str(), r.dst.as_str()])
            .flat_map(|t| t.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_')))
            .collect();
        let mut segs: Vec<(usize, CidrSet)> = self
            .outline
            .segments
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                !s.networks.is_empty() && (!s.stdlib || written.contains(s.name.as_str()))
            })
            .map(|(i, s)| (i, s.network_set()))
            .collect();
        // Smaller segments first: each keeps what no smaller one took.
        segs.sort_by_key(|(i, n)| (n.ranges().iter().map(|r| addr_span(*r)).sum::<u128>(), *i));
        let mut taken = CidrSet::empty();
        for (i, nets) in segs {
            let own = nets.difference(&taken);
            taken = taken.union(&nets);
            if own.is_empty() {
                continue;
            }
            let node = self.homes.len() as u32;
            self.homes.push(Home::Network(i));
            for p in self.analysis.exit_parts(&own) {
                self.exits.push((node, p));
            }
            for p in self.analysis.entry_parts(&own) {
                self.entries.push((node, p));
            }
        }
    }

    fn node(&self, n: u32, critical: &BTreeSet<IdentityId>) -> MapNode {
        let p = self.program;
        let (label, kind, members, names, seg): (
            String,
            &'static str,
            Vec<IdentityId>,
            Vec<String>,
            Option<usize>,
        ) = match &self.homes[n as usize] {
            Home::Segment(s) => {
                let m = self.members(n);
                let names = m
                    .iter()
                    .take(NAMES_SHOWN)
                    .map(|id| p.identity(*id).name.clone())
                    .collect();
                (
                    self.outline.segments[*s].name.clone(),
                    "segment",
                    m,
                    names,
                    Some(*s),
                )
            }
            Home::Identity(id) => (
                p.identity(*id).name.clone(),
                "identity",
                vec![*id],
                Vec::new(),
                None,
            ),
            Home::Network(s) => {
                let nets: Vec<String> = self
                    .exits
                    .iter()
                    .chain(&self.entries)
                    .filter(|(k, _)| *k == n)
                    .fold(CidrSet::empty(), |acc, (_, part)| acc.union(&part.addrs))
                    .to_cidrs()
                    .iter()
                    .take(NAMES_SHOWN)
                    .map(ToString::to_string)
                    .collect();
                (
                    self.outline.segments[*s].name.clone(),
                    "network",
                    Vec::new(),
                    nets,
                    Some(*s),
                )
            }
            Home::Others => {
                let m = self.members(n);
                let names = m
                    .iter()
                    .take(NAMES_SHOWN)
                    .map(|id| p.identity(*id).name.clone())
                    .collect();
                ("other identities".to_string(), "other", m, names, None)
            }
        };
        let seg = seg.map(|s| &self.outline.segments[s]);
        let owner = match &self.homes[n as usize] {
            Home::Identity(id) => p.identity(*id).owner.clone(),
            _ => None,
        };
        MapNode {
            id: format!("n{n}"),
            label,
            kind,
            members: members.len(),
            critical: members.iter().any(|m| critical.contains(m)),
            names,
            file: seg.map(|s| s.file.clone()),
            line: seg.map(|s| s.line),
            doc: seg.and_then(|s| s.doc.clone()),
            owner,
            hop: None,
        }
    }

    fn members(&self, n: u32) -> Vec<IdentityId> {
        self.members_of.get(n as usize).cloned().unwrap_or_default()
    }

    /// Every (from node, to node, rule lists) of the map.
    fn pairs(&self) -> &[(u32, u32, RuleLists)] {
        self.pairs.get_or_init(|| {
            let a = &self.analysis;
            let mut out = Vec::new();
            for c in 0..a.classes.len() as u32 {
                let group = a.classes.list[c as usize].group;
                for (b, lists) in a.candidates(c) {
                    out.push((group, a.classes.list[b as usize].group, lists));
                }
                for (node, part) in &self.exits {
                    let lists = a.lists_to_part(c, part);
                    if !lists.0.is_empty() {
                        out.push((group, *node, lists));
                    }
                }
            }
            for (node, part) in &self.entries {
                for b in 0..a.classes.len() as u32 {
                    let lists = a.lists_from_part(part, b);
                    if !lists.0.is_empty() {
                        out.push((*node, a.classes.list[b as usize].group, lists));
                    }
                }
            }
            out
        })
    }

    /// Nodes and edges the request draws, counted without drawing (to refuse
    /// early what a format cannot show). Edges are counted before carving.
    pub fn size(&self, req: &MapRequest) -> Size {
        let keep = self.kept(req);
        let mut edges = BTreeSet::new();
        for &(f, t, _) in self.pairs() {
            let network_loop = f == t && matches!(self.homes[f as usize], Home::Network(_));
            if !network_loop
                && keep
                    .as_ref()
                    .is_none_or(|k| k.contains(&f) && k.contains(&t))
            {
                edges.insert((f, t));
            }
        }
        let nodes = match &keep {
            Some(k) => k.len(),
            None => self.homes.len(),
        };
        Size {
            nodes,
            edges: edges.len(),
        }
    }

    /// Nodes kept by `--segment`/`--from` (`None`: all).
    fn kept(&self, req: &MapRequest) -> Option<BTreeSet<u32>> {
        let mut keep: Option<BTreeSet<u32>> = None;
        if let Some((_, origins)) = &req.from {
            let s = Search::run(&self.analysis, origins.clone(), req.hops);
            let mut k: BTreeSet<u32> = s
                .reached()
                .iter()
                .map(|(id, _)| self.home_of[id.0 as usize])
                .collect();
            for o in origins {
                k.extend(self.origin_nodes(o));
            }
            keep = Some(k);
        }
        if let Some(name) = req.segment {
            let seg = self.outline.segment(name);
            let mut inside: BTreeSet<u32> = BTreeSet::new();
            if let Some(seg) = seg {
                inside.extend(seg.identities().map(|id| self.home_of[id.0 as usize]));
                if let Some(i) = self
                    .outline
                    .segments
                    .iter()
                    .position(|s| std::ptr::eq(s, seg))
                {
                    inside.extend(
                        self.homes
                            .iter()
                            .enumerate()
                            .filter(|(_, h)| matches!(h, Home::Network(s) | Home::Segment(s) if *s == i))
                            .map(|(n, _)| n as u32),
                    );
                }
            }
            let mut k = inside.clone();
            for (f, t, lists) in self.pairs() {
                if (inside.contains(f) || inside.contains(t)) && !lists.0.is_empty() {
                    k.insert(*f);
                    k.insert(*t);
                }
            }
            keep = Some(match keep {
                Some(prev) => prev.intersection(&k).copied().collect(),
                None => k,
            });
        }
        keep
    }

    fn origin_nodes(&self, o: &Origin) -> Vec<u32> {
        match o {
            Origin::Identity(id) => vec![self.home_of[id.0 as usize]],
            Origin::Part(p) => self
                .entries
                .iter()
                .filter(|(_, e)| e.addrs.overlaps(&p.addrs))
                .map(|(n, _)| *n)
                .collect(),
        }
    }

    /// Draw the map.
    pub fn draw(&self, req: &MapRequest) -> Map {
        let a = &self.analysis;
        let describe = Describe::new(self.program, Some(self.outline));
        let critical: BTreeSet<IdentityId> = req.critical.iter().copied().collect();
        let keep = self.kept(req);
        // Aggregate the class pairs per node pair.
        #[derive(Default)]
        struct Agg {
            allowed: PortSet,
            carved: PortSet,
            allows: BTreeSet<usize>,
            denies: BTreeSet<usize>,
        }
        let mut agg: BTreeMap<(u32, u32), Agg> = BTreeMap::new();
        let shortest = req
            .from
            .as_ref()
            .map(|(_, origins)| self.shortest_edges(origins, req.hops));
        for &(f, t, ref lists) in self.pairs() {
            if f == t && matches!(self.homes[f as usize], Home::Network(_)) {
                continue;
            }
            if keep
                .as_ref()
                .is_some_and(|k| !(k.contains(&f) && k.contains(&t)))
            {
                continue;
            }
            if shortest.as_ref().is_some_and(|s| !s.contains(&(f, t))) {
                continue;
            }
            let hop: Hop = a.decide_lists(lists);
            if hop.allowed.is_empty() && hop.carved.is_empty() {
                continue;
            }
            let e = agg.entry((f, t)).or_default();
            e.allowed = e.allowed.union(&hop.allowed);
            e.carved = e.carved.union(&hop.carved);
            e.allows.extend(&hop.allows);
            e.denies.extend(&hop.denies);
        }
        let mut used: BTreeSet<u32> = match &keep {
            Some(k) => k.clone(),
            None => (0..self.homes.len() as u32).collect(),
        };
        if keep.is_none() {
            // Network nodes no edge touches are noise.
            used.retain(|n| {
                !matches!(self.homes[*n as usize], Home::Network(_))
                    || agg.keys().any(|(f, t)| f == n || t == n)
            });
        }
        let index: BTreeMap<u32, usize> = used.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut nodes: Vec<MapNode> = used.iter().map(|n| self.node(*n, &critical)).collect();
        for (node, n) in nodes.iter_mut().zip(&used) {
            node.id = format!("n{}", index[n]);
        }
        if let Some((_, origins)) = &req.from {
            let s = Search::run(a, origins.clone(), req.hops);
            for (id, hop) in s.reached() {
                if let Some(&i) = index.get(&self.home_of[id.0 as usize]) {
                    let h = &mut nodes[i].hop;
                    *h = Some(h.map_or(hop, |x| x.min(hop)));
                }
            }
            for o in origins {
                for n in self.origin_nodes(o) {
                    if let Some(&i) = index.get(&n) {
                        nodes[i].hop = Some(0);
                    }
                }
            }
        }
        let edges = agg
            .into_iter()
            .filter(|((f, t), _)| index.contains_key(f) && index.contains_key(t))
            .map(|((f, t), e)| {
                let hop = Hop {
                    allowed: e.allowed.clone(),
                    allows: e.allows.iter().copied().collect(),
                    carved: e.carved.difference(&e.allowed),
                    denies: e.denies.iter().copied().collect(),
                };
                let mut step =
                    describe.step(&crate::search::Node::Identity(IdentityId(0)), None, &hop);
                let denied = e.allowed.is_empty();
                if denied {
                    // Denied edges name the allows that denies cancel.
                    step.ports = e.carved.to_string();
                }
                MapEdge {
                    from: format!("n{}", index[&f]),
                    to: format!("n{}", index[&t]),
                    kind: if denied { "denied" } else { "allow" },
                    services: step.services,
                    ports: step.ports,
                    rules: step.rules,
                    carved: step.carved,
                    carved_by: step.carved_by,
                }
            })
            .collect();
        let blast = if req.blast {
            self.blasts(&used, &index)
        } else {
            Vec::new()
        };
        Map {
            assumptions: a.model.describe(self.program),
            nodes_are: if self.identities {
                "identities"
            } else {
                "segments"
            },
            from: req.from.as_ref().map(|(name, _)| name.clone()),
            nodes,
            edges,
            blast,
        }
    }

    /// Node pairs on shortest paths from the origins.
    fn shortest_edges(&self, origins: &[Origin], hops: Option<u32>) -> BTreeSet<(u32, u32)> {
        let a = &self.analysis;
        let s = Search::run(a, origins.to_vec(), hops);
        let mut out = BTreeSet::new();
        for &c in &s.order {
            let d = s.dist[c as usize];
            let to = a.classes.list[c as usize].group;
            if d == 1 {
                for (o, origin) in origins.iter().enumerate() {
                    let reaches = match origin {
                        Origin::Identity(id) => a.out(a.class_of(*id)).binary_search(&c).is_ok(),
                        Origin::Part(p) => !a.lists_from_part(p, c).0.is_empty(),
                    };
                    if reaches {
                        let _ = o;
                        for n in self.origin_nodes(origin) {
                            out.insert((n, to));
                        }
                    }
                }
                continue;
            }
            for &p in &s.order {
                if s.dist[p as usize] + 1 == d
                    && a.classes.list[p as usize].pivot
                    && a.out(p).binary_search(&c).is_ok()
                {
                    out.insert((a.classes.list[p as usize].group, to));
                }
            }
            let _ = Via::Class(c);
        }
        out
    }

    /// For each kept node, the kept nodes a compromise of its members reaches.
    fn blasts(&self, used: &BTreeSet<u32>, index: &BTreeMap<u32, usize>) -> Vec<Vec<(u32, u32)>> {
        let a = &self.analysis;
        let mut out = Vec::with_capacity(used.len());
        for &n in used {
            let origins: Vec<Origin> = match &self.homes[n as usize] {
                Home::Network(_) => self
                    .entries
                    .iter()
                    .filter(|(k, _)| *k == n)
                    .map(|(_, p)| Origin::Part(p.clone()))
                    .collect(),
                _ => self.members(n).into_iter().map(Origin::Identity).collect(),
            };
            let s = Search::run(a, origins, None);
            let mut best: BTreeMap<u32, u32> = BTreeMap::new();
            for (id, hop) in s.reached() {
                if let Some(&i) = index.get(&self.home_of[id.0 as usize]) {
                    let e = best.entry(i as u32).or_insert(hop);
                    *e = (*e).min(hop);
                }
            }
            out.push(best.into_iter().collect());
        }
        out
    }
}

fn addr_span((lo, hi): (std::net::IpAddr, std::net::IpAddr)) -> u128 {
    let v = |a: std::net::IpAddr| match a {
        std::net::IpAddr::V4(x) => u128::from(u32::from(x)),
        std::net::IpAddr::V6(x) => u128::from(x),
    };
    v(hi).saturating_sub(v(lo)).saturating_add(1)
}

/// A node's label for formats without hover: name, size or addresses, hop.
pub fn node_caption(n: &MapNode) -> String {
    let text = match n.kind {
        "network" => format!("{}\n{}", n.label, shorten(&n.names.join(", "), 48)),
        "identity" => n.label.clone(),
        _ => format!(
            "{}\n{} {}",
            n.label,
            n.members,
            if n.members == 1 {
                "identity"
            } else {
                "identities"
            }
        ),
    };
    match n.hop {
        Some(0) => format!("{text}\nstart"),
        Some(h) => format!("{text}\nhop {h}"),
        None => text,
    }
}

/// An edge's label: the services, else the ports.
pub fn edge_caption(e: &MapEdge) -> String {
    let named: Vec<&String> = e
        .services
        .iter()
        .filter(|s| !(s.contains('/') || *s == "icmp" || *s == "any"))
        .collect();
    let text = if named.is_empty() {
        e.ports.clone()
    } else {
        named
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = shorten(&text, 40);
    if e.kind == "denied" {
        format!("denied: {text}")
    } else {
        text
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The network text of a set, for node details.
pub fn addresses(s: &CidrSet) -> String {
    network_text(s)
}
