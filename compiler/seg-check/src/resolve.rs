//! Scopes: which segment and service names each file sees.
//!
//! Input: the parsed units. Output: every segment and service definition with
//! a global index, one [`Scope`] per unit (its own definitions plus the names
//! it imports), the declared context inputs, and the dependency order of
//! segments and services with cycles reported (E0206).
//!
//! A file sees its own definitions and what it imports with `use`; a `use`
//! imports only the target's own definitions (no re-export). Segments and
//! services are separate namespaces. Policy, test and context names are global.
//! Reports E0204 (imports), E0205 (duplicates), E0206 (cycles).

use crate::Unit;
use crate::problems;
use indexmap::IndexMap;
use seg_diag::{Diagnostics, Span, did_you_mean};
use seg_syntax::ast::{self, Item, SetExprKind, UsePath};
use std::cell::Cell;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Binding {
    pub(crate) id: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Scope {
    pub(crate) segments: IndexMap<String, Binding>,
    pub(crate) services: IndexMap<String, Binding>,
}

pub(crate) struct SegInfo<'a> {
    pub(crate) unit: usize,
    pub(crate) def: &'a ast::SegmentDef,
}

pub(crate) struct SvcInfo<'a> {
    pub(crate) unit: usize,
    pub(crate) def: &'a ast::ServiceDef,
}

pub(crate) struct Resolved<'a> {
    pub(crate) segs: Vec<SegInfo<'a>>,
    pub(crate) svcs: Vec<SvcInfo<'a>>,
    pub(crate) scopes: Vec<Scope>,
    pub(crate) contexts: IndexMap<String, &'a ast::ContextInput>,
    pub(crate) seg_used: Vec<Cell<bool>>,
    pub(crate) svc_used: Vec<Cell<bool>>,
    /// Segments in dependency order (a segment after those it refers to), cycles excluded.
    pub(crate) seg_order: Vec<u32>,
    pub(crate) svc_order: Vec<u32>,
}

impl Resolved<'_> {
    pub(crate) fn segment(&self, unit: usize, name: &str) -> Option<u32> {
        let b = self.scopes.get(unit)?.segments.get(name)?;
        if let Some(c) = self.seg_used.get(b.id as usize) {
            c.set(true);
        }
        Some(b.id)
    }

    pub(crate) fn service(&self, unit: usize, name: &str) -> Option<u32> {
        let b = self.scopes.get(unit)?.services.get(name)?;
        if let Some(c) = self.svc_used.get(b.id as usize) {
            c.set(true);
        }
        Some(b.id)
    }
}

pub(crate) fn resolve<'a>(units: &'a [Unit], diags: &mut Diagnostics) -> Resolved<'a> {
    let mut segs = Vec::new();
    let mut svcs = Vec::new();
    let mut scopes: Vec<Scope> = Vec::with_capacity(units.len());
    let mut first_span: HashMap<(usize, bool, String), Span> = HashMap::new();
    // Local definitions first, so imports can refer to any file.
    for (u, unit) in units.iter().enumerate() {
        let mut scope = Scope::default();
        for item in &unit.ast.items {
            match item {
                Item::Segment(def) => {
                    let key = (u, true, def.name.node.text.clone());
                    if let Some(first) = first_span.get(&key) {
                        diags.push(problems::duplicate(
                            "segment",
                            &def.name.node.text,
                            def.name.span,
                            *first,
                        ));
                        continue;
                    }
                    first_span.insert(key, def.name.span);
                    scope.segments.insert(
                        def.name.node.text.clone(),
                        Binding {
                            id: segs.len() as u32,
                        },
                    );
                    segs.push(SegInfo { unit: u, def });
                }
                Item::Service(def) => {
                    let key = (u, false, def.name.node.text.clone());
                    if let Some(first) = first_span.get(&key) {
                        diags.push(problems::duplicate(
                            "service",
                            &def.name.node.text,
                            def.name.span,
                            *first,
                        ));
                        continue;
                    }
                    first_span.insert(key, def.name.span);
                    scope.services.insert(
                        def.name.node.text.clone(),
                        Binding {
                            id: svcs.len() as u32,
                        },
                    );
                    svcs.push(SvcInfo { unit: u, def });
                }
                _ => {}
            }
        }
        scopes.push(scope);
    }
    let locals: Vec<(IndexMap<String, Binding>, IndexMap<String, Binding>)> = scopes
        .iter()
        .map(|s| (s.segments.clone(), s.services.clone()))
        .collect();
    for (u, unit) in units.iter().enumerate() {
        for item in &unit.ast.items {
            if let Item::Use(us) = item {
                import(
                    units,
                    u,
                    us,
                    &locals,
                    &mut scopes[u],
                    &mut first_span,
                    diags,
                );
            }
        }
    }
    let contexts = global_names(units, diags);
    let seg_used: Vec<Cell<bool>> = (0..segs.len()).map(|_| Cell::new(false)).collect();
    let svc_used: Vec<Cell<bool>> = (0..svcs.len()).map(|_| Cell::new(false)).collect();
    // An imported definition counts as used: the importing file answers for it.
    for (u, scope) in scopes.iter().enumerate() {
        for b in scope.segments.values() {
            if segs
                .get(b.id as usize)
                .is_some_and(|s: &SegInfo| s.unit != u)
            {
                seg_used[b.id as usize].set(true);
            }
        }
        for b in scope.services.values() {
            if svcs
                .get(b.id as usize)
                .is_some_and(|s: &SvcInfo| s.unit != u)
            {
                svc_used[b.id as usize].set(true);
            }
        }
    }
    let mut r = Resolved {
        segs,
        svcs,
        scopes,
        contexts,
        seg_used,
        svc_used,
        seg_order: Vec::new(),
        svc_order: Vec::new(),
    };
    r.seg_order = order_segments(units, &r, diags);
    r.svc_order = order_services(&r, diags);
    r
}

type Locals = (IndexMap<String, Binding>, IndexMap<String, Binding>);

fn import(
    units: &[Unit],
    u: usize,
    us: &ast::Use,
    locals: &[Locals],
    scope: &mut Scope,
    first_span: &mut HashMap<(usize, bool, String), Span>,
    diags: &mut Diagnostics,
) {
    let (target, shown) = match &us.path.node {
        UsePath::Module(parts) => {
            let module = parts.join("::");
            let found = units
                .iter()
                .position(|t| t.module.as_deref() == Some(module.as_str()));
            if found.is_none() {
                let known: Vec<&str> = units.iter().filter_map(|t| t.module.as_deref()).collect();
                diags.push(problems::unknown_module(
                    us.path.span,
                    &module,
                    did_you_mean(&module, known),
                ));
            }
            (found, module)
        }
        UsePath::File(rel) => {
            let resolved = join_path(&units[u].path, rel);
            let found = units
                .iter()
                .position(|t| t.module.is_none() && t.path == resolved);
            if found.is_none() {
                let known: Vec<&str> = units
                    .iter()
                    .filter(|t| t.module.is_none())
                    .map(|t| t.path.as_str())
                    .collect();
                diags.push(problems::unknown_file(
                    us.path.span,
                    rel,
                    &resolved,
                    did_you_mean(&resolved, known),
                ));
            }
            (found, rel.clone())
        }
    };
    let Some(t) = target else { return };
    let (segs, svcs) = &locals[t];
    for name in &us.names {
        let text = &name.node.text;
        let (seg, svc) = (segs.get(text), svcs.get(text));
        if seg.is_none() && svc.is_none() {
            let candidates = segs.keys().chain(svcs.keys()).map(String::as_str);
            diags.push(problems::unknown_import(
                name.span,
                text,
                &shown,
                did_you_mean(text, candidates),
            ));
            continue;
        }
        for (is_seg, binding) in [(true, seg), (false, svc)] {
            let Some(binding) = binding else { continue };
            let key = (u, is_seg, text.clone());
            if let Some(first) = first_span.get(&key) {
                let kind = if is_seg { "segment" } else { "service" };
                // Point at whichever comes later in the file as the repeat.
                let (again, before) =
                    if name.span.start < first.start && name.span.file == first.file {
                        (*first, name.span)
                    } else {
                        (name.span, *first)
                    };
                diags.push(problems::duplicate(kind, text, again, before));
                continue;
            }
            first_span.insert(key, name.span);
            let map = if is_seg {
                &mut scope.segments
            } else {
                &mut scope.services
            };
            map.insert(text.clone(), *binding);
        }
    }
}

/// `rel` (`./common.seg`, `../x.seg`) relative to the folder of `from`.
pub(crate) fn join_path(from: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The path that `use` in `from` writes to reach `to` (inverse of [`join_path`]).
pub(crate) fn relative_path(from: &str, to: &str) -> String {
    let mut dirs: Vec<&str> = from.split('/').collect();
    dirs.pop();
    let target: Vec<&str> = to.split('/').collect();
    let (target_dirs, file) = target.split_at(target.len().saturating_sub(1));
    let common = dirs
        .iter()
        .zip(target_dirs)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts = vec![".."; dirs.len() - common];
    let ups = parts.len();
    parts.extend(&target_dirs[common..]);
    parts.extend(file);
    if ups == 0 {
        format!("./{}", parts.join("/"))
    } else {
        parts.join("/")
    }
}

/// Context inputs, policy and test names: global, each defined once.
fn global_names<'a>(
    units: &'a [Unit],
    diags: &mut Diagnostics,
) -> IndexMap<String, &'a ast::ContextInput> {
    let mut contexts: IndexMap<String, &ast::ContextInput> = IndexMap::new();
    let mut policies: HashMap<&str, Span> = HashMap::new();
    let mut tests: HashMap<&str, Span> = HashMap::new();
    for unit in units {
        for item in &unit.ast.items {
            match item {
                Item::Context(c) => {
                    for input in &c.inputs {
                        if let Some(first) = contexts.get(&input.name.node.text) {
                            diags.push(problems::duplicate(
                                "context input",
                                &input.name.node.text,
                                input.name.span,
                                first.name.span,
                            ));
                        } else {
                            contexts.insert(input.name.node.text.clone(), input);
                        }
                    }
                }
                Item::Policy(p) => {
                    if let Some(first) = policies.insert(&p.name.node.text, p.name.span) {
                        diags.push(problems::duplicate(
                            "policy",
                            &p.name.node.text,
                            p.name.span,
                            first,
                        ));
                        policies.insert(&p.name.node.text, first);
                    }
                }
                Item::Test(t) => {
                    if let Some(first) = tests.insert(&t.name.node, t.name.span) {
                        diags.push(problems::duplicate(
                            "test",
                            &t.name.node,
                            t.name.span,
                            first,
                        ));
                        tests.insert(&t.name.node, first);
                    }
                }
                _ => {}
            }
        }
    }
    contexts
}

/// Every segment name used in a set expression, with its span (no recursion:
/// long operator chains must not exhaust the stack).
pub(crate) fn segment_refs<'e>(expr: &'e ast::SetExpr, out: &mut Vec<(&'e str, Span)>) {
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        match &e.node {
            SetExprKind::Name(n) => out.push((&n.text, e.span)),
            SetExprKind::Union(a, b)
            | SetExprKind::Intersect(a, b)
            | SetExprKind::Difference(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            SetExprKind::List(_)
            | SetExprKind::Where(_)
            | SetExprKind::Network(_)
            | SetExprKind::Any => {}
        }
    }
}

/// Segments in dependency order, limited to those that matter: every segment
/// of a project file and what rules and those segments refer to (standard
/// library segments nobody uses are never evaluated).
fn order_segments(units: &[Unit], r: &Resolved, diags: &mut Diagnostics) -> Vec<u32> {
    let mut edges: Vec<Vec<(u32, Span)>> = Vec::with_capacity(r.segs.len());
    for s in &r.segs {
        let mut refs = Vec::new();
        segment_refs(&s.def.expr, &mut refs);
        let scope = &r.scopes[s.unit];
        edges.push(
            refs.into_iter()
                .filter_map(|(n, sp)| scope.segments.get(n).map(|b| (b.id, sp)))
                .collect(),
        );
    }
    let names: Vec<(&str, Span)> = r
        .segs
        .iter()
        .map(|s| (s.def.name.node.text.as_str(), s.def.name.span))
        .collect();
    mark_used(&edges, &r.seg_used);
    let needed = needed_segments(units, r, &edges);
    let mut order = order("segment", &edges, &names, diags);
    order.retain(|&i| needed[i as usize]);
    order
}

fn needed_segments(units: &[Unit], r: &Resolved, edges: &[Vec<(u32, Span)>]) -> Vec<bool> {
    let mut needed = vec![false; r.segs.len()];
    let mut stack: Vec<u32> = (0..r.segs.len() as u32)
        .filter(|&i| units[r.segs[i as usize].unit].module.is_none())
        .collect();
    for (u, unit) in units.iter().enumerate() {
        for item in &unit.ast.items {
            let Item::Policy(p) = item else { continue };
            for rule in &p.rules {
                let mut refs = Vec::new();
                segment_refs(&rule.src, &mut refs);
                segment_refs(&rule.dst, &mut refs);
                stack.extend(
                    refs.into_iter()
                        .filter_map(|(n, _)| r.scopes[u].segments.get(n).map(|b| b.id)),
                );
            }
        }
    }
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut needed[i as usize], true) {
            stack.extend(edges[i as usize].iter().map(|(t, _)| *t));
        }
    }
    needed
}

fn order_services(r: &Resolved, diags: &mut Diagnostics) -> Vec<u32> {
    let mut edges: Vec<Vec<(u32, Span)>> = Vec::with_capacity(r.svcs.len());
    for s in &r.svcs {
        let scope = &r.scopes[s.unit];
        edges.push(
            s.def
                .ports
                .iter()
                .filter_map(|p| match &p.node {
                    ast::ServiceRefKind::Named(n) => {
                        scope.services.get(&n.text).map(|b| (b.id, p.span))
                    }
                    ast::ServiceRefKind::Port(_) => None,
                })
                .collect(),
        );
    }
    let names: Vec<(&str, Span)> = r
        .svcs
        .iter()
        .map(|s| (s.def.name.node.text.as_str(), s.def.name.span))
        .collect();
    mark_used(&edges, &r.svc_used);
    order("service", &edges, &names, diags)
}

/// A definition another one refers to is used (even when a cycle stops its evaluation).
fn mark_used(edges: &[Vec<(u32, Span)>], used: &[Cell<bool>]) {
    for (target, _) in edges.iter().flatten() {
        if let Some(c) = used.get(*target as usize) {
            c.set(true);
        }
    }
}

/// Dependency order of the acyclic definitions; one E0206 per cycle. Members
/// of a cycle, and definitions that depend on one, are left out of the order.
fn order(
    kind: &str,
    edges: &[Vec<(u32, Span)>],
    names: &[(&str, Span)],
    diags: &mut Diagnostics,
) -> Vec<u32> {
    let adj: Vec<Vec<u32>> = edges
        .iter()
        .map(|e| e.iter().map(|(t, _)| *t).collect())
        .collect();
    let mut poisoned = vec![false; adj.len()];
    let mut out = Vec::with_capacity(adj.len());
    for comp in sccs(&adj) {
        let cyclic = comp.len() > 1 || adj[comp[0] as usize].contains(&comp[0]);
        if cyclic {
            let mut members = comp.clone();
            members.sort_unstable();
            let head = members[0];
            let chain = cycle_path(&adj, &members, head)
                .into_iter()
                .map(|i| names[i as usize].0.to_string())
                .collect::<Vec<_>>();
            let refs: Vec<Span> = members
                .iter()
                .flat_map(|&m| {
                    edges[m as usize]
                        .iter()
                        .filter(|(t, _)| members.binary_search(t).is_ok())
                        .map(|(_, s)| *s)
                })
                .take(4)
                .collect();
            let (name, span) = names[head as usize];
            diags.push(problems::cyclic(kind, name, span, &chain, &refs));
            for m in comp {
                poisoned[m as usize] = true;
            }
            continue;
        }
        let v = comp[0];
        if adj[v as usize].iter().any(|&t| poisoned[t as usize]) {
            poisoned[v as usize] = true;
        } else {
            out.push(v);
        }
    }
    out
}

/// A path `head -> ... -> head` inside one strongly connected component (BFS).
fn cycle_path(adj: &[Vec<u32>], members: &[u32], head: u32) -> Vec<u32> {
    let mut prev: HashMap<u32, u32> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([head]);
    while let Some(v) = queue.pop_front() {
        for &w in &adj[v as usize] {
            if members.binary_search(&w).is_err() {
                continue;
            }
            if w == head {
                let mut path = vec![head];
                let mut cur = v;
                while cur != head {
                    path.push(cur);
                    cur = prev[&cur];
                }
                path.push(head);
                let last = path.len() - 1;
                path[1..last].reverse();
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    vec![head, head]
}

/// Strongly connected components, each after every component it points to
/// (Tarjan's algorithm with an explicit stack).
pub(crate) fn sccs(adj: &[Vec<u32>]) -> Vec<Vec<u32>> {
    const UNSEEN: u32 = u32::MAX;
    let n = adj.len();
    let (mut index, mut low, mut on_stack) = (vec![UNSEEN; n], vec![0u32; n], vec![false; n]);
    let (mut stack, mut out, mut next) = (Vec::new(), Vec::new(), 0u32);
    let mut call: Vec<(u32, usize)> = Vec::new();
    for root in 0..n as u32 {
        if index[root as usize] != UNSEEN {
            continue;
        }
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        call.push((root, 0));
        while let Some(frame) = call.last_mut() {
            let (v, pos) = (frame.0 as usize, frame.1);
            if pos < adj[v].len() {
                frame.1 += 1;
                let w = adj[v][pos] as usize;
                if index[w] == UNSEEN {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w as u32);
                    on_stack[w] = true;
                    call.push((w as u32, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            call.pop();
            if let Some(&(u, _)) = call.last() {
                low[u as usize] = low[u as usize].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w as usize] = false;
                    comp.push(w);
                    if w as usize == v {
                        break;
                    }
                }
                out.push(comp);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_relative_to_the_importing_file() {
        assert_eq!(
            join_path("policy/payments.seg", "./common.seg"),
            "policy/common.seg"
        );
        assert_eq!(
            join_path("policy/payments.seg", "common.seg"),
            "policy/common.seg"
        );
        assert_eq!(join_path("policy/a/b.seg", "../c.seg"), "policy/c.seg");
        assert_eq!(join_path("main.seg", "../c.seg"), "../c.seg");
        for (from, to) in [
            ("policy/sub/b.seg", "policy/a.seg"),
            ("policy/main.seg", "policy/common.seg"),
            ("a.seg", "x/y/b.seg"),
            ("x/y/a.seg", "z/b.seg"),
        ] {
            let rel = relative_path(from, to);
            assert_eq!(join_path(from, &rel), to, "{from} -> {to} via {rel}");
        }
        assert_eq!(
            relative_path("policy/sub/b.seg", "policy/a.seg"),
            "../a.seg"
        );
        assert_eq!(
            relative_path("policy/main.seg", "policy/common.seg"),
            "./common.seg"
        );
    }

    #[test]
    fn sccs_come_dependencies_first_and_survive_long_chains() {
        // 0 -> 1 -> 2, 3 <-> 4, 5 -> 5
        let adj = vec![vec![1], vec![2], vec![], vec![4], vec![3], vec![5]];
        let comps = sccs(&adj);
        let pos = |x: u32| comps.iter().position(|c| c.contains(&x)).expect("present");
        assert!(pos(2) < pos(1) && pos(1) < pos(0));
        assert_eq!(comps[pos(3)].len(), 2);
        let n = 200_000u32;
        let chain: Vec<Vec<u32>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![] })
            .collect();
        assert_eq!(sccs(&chain).len(), n as usize);
        assert_eq!(
            cycle_path(&[vec![1], vec![2], vec![0]], &[0, 1, 2], 0),
            [0, 1, 2, 0]
        );
    }
}
