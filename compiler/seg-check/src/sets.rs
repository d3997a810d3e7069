//! Evaluation of set expressions and service lists, with the environment
//! every later stage reads (index, scopes, evaluated segments and services).
//!
//! Membership (docs/language.md): an identity is in a set if the set names it
//! (by name, `[..]`, `identities where`, `any`) or one of its addresses
//! overlaps one of the set's networks. [`Members::ids`] therefore always holds
//! every identity that overlaps [`Members::nets`]; the operators keep that
//! invariant: union and intersection work member-wise, and `A - B` keeps
//! the identities of A not in B and the networks of A minus B's networks and
//! the addresses of B's identities.

use crate::Unit;
use crate::idset::IdSet;
use crate::index::InvIndex;
use crate::pred::PredEval;
use crate::problems;
use crate::resolve::{Resolved, relative_path};
use crate::typeck::{MAX_DEPTH, Typer};
use seg_diag::{Diagnostics, Span, did_you_mean};
use seg_ir::{CidrSet, PortSet};
use seg_syntax::ast::{self, PortSpec, ServiceRefKind, SetExprKind};
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Members {
    pub(crate) ids: IdSet,
    /// Identities the expression names itself (not through a segment).
    pub(crate) explicit: IdSet,
    pub(crate) nets: CidrSet,
    /// Built from `any` or a /0 network outside the right side of `-`.
    pub(crate) broad: bool,
    /// False when the expression is made of networks only.
    pub(crate) has_identities: bool,
}

impl Members {
    /// The value after an error: empty, and claiming identities so no
    /// follow-up "network only" error piles on.
    fn poisoned() -> Members {
        Members {
            has_identities: true,
            ..Members::default()
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.nets.is_empty()
    }
}

/// An identity named directly in a set expression.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mention {
    pub(crate) id: u32,
    pub(crate) span: Span,
}

pub(crate) struct Env<'a> {
    pub(crate) units: &'a [Unit],
    pub(crate) index: &'a InvIndex<'a>,
    pub(crate) preds: PredEval<'a>,
    pub(crate) res: Resolved<'a>,
    /// Evaluated segments (`None`: in a cycle or not evaluated).
    pub(crate) segs: Vec<Option<Rc<Members>>>,
    pub(crate) svcs: Vec<Option<PortSet>>,
    /// Segments whose members are in doubt: an error inside them, or a segment in doubt
    /// among their parts (their members then lack what the error left out).
    doubtful: Vec<bool>,
    /// Set when an evaluation reads a segment in doubt (or one never evaluated).
    doubt_seen: Cell<bool>,
    /// The unit defining each segment and service name, for "import it" hints.
    seg_homes: HashMap<&'a str, usize>,
    svc_homes: HashMap<&'a str, usize>,
}

enum Op {
    Union,
    Intersect,
    Difference,
}

impl<'a> Env<'a> {
    pub(crate) fn new(units: &'a [Unit], index: &'a InvIndex<'a>, res: Resolved<'a>) -> Env<'a> {
        let mut seg_homes = HashMap::new();
        let mut svc_homes = HashMap::new();
        for s in &res.segs {
            seg_homes
                .entry(s.def.name.node.text.as_str())
                .or_insert(s.unit);
        }
        for s in &res.svcs {
            svc_homes
                .entry(s.def.name.node.text.as_str())
                .or_insert(s.unit);
        }
        let segs = vec![None; res.segs.len()];
        let svcs = vec![None; res.svcs.len()];
        let doubtful = vec![false; res.segs.len()];
        Env {
            units,
            index,
            preds: PredEval::new(index),
            res,
            segs,
            svcs,
            doubtful,
            doubt_seen: Cell::new(false),
            seg_homes,
            svc_homes,
        }
    }

    pub(crate) fn typer(&self) -> Typer<'_> {
        Typer {
            inv: self.index.inv,
            contexts: &self.res.contexts,
        }
    }

    /// Evaluate every acyclic segment in dependency order. Diagnostics of a
    /// standard-library segment are kept apart: they only matter if it is used.
    pub(crate) fn eval_segments(&mut self, diags: &mut Diagnostics) -> Vec<Diagnostics> {
        let mut deferred = vec![Diagnostics::new(); self.segs.len()];
        for i in self.res.seg_order.clone() {
            let info = &self.res.segs[i as usize];
            let (unit, expr) = (info.unit, &info.def.expr);
            let stdlib = self.units[unit].module.is_some();
            let sink = if stdlib {
                &mut deferred[i as usize]
            } else {
                &mut *diags
            };
            let mut mentions = Vec::new();
            let before = sink.error_count();
            self.doubt_seen.set(false);
            let mut m = self.eval(unit, expr, &mut mentions, sink);
            self.check_mentions(&mentions, sink);
            self.doubtful[i as usize] = sink.error_count() > before || self.doubt_seen.get();
            if !stdlib && sink.error_count() == before && m.is_empty() {
                sink.push(problems::empty_segment(
                    info.def.name.span,
                    &info.def.name.node.text,
                ));
            }
            // Through a segment, members are implied, never explicit.
            m.explicit = IdSet::empty();
            self.segs[i as usize] = Some(Rc::new(m));
        }
        deferred
    }

    /// Every segment with its evaluated members, for editors.
    /// Every segment with its members; the standard library's segments no
    /// rule uses, which the check skips, are evaluated here (they are networks).
    pub(crate) fn outline(&self, map: &seg_diag::SourceMap) -> Vec<crate::SegmentOutline> {
        self.res
            .segs
            .iter()
            .zip(&self.segs)
            .map(|(info, members)| {
                let stdlib = self.units[info.unit].module.is_some();
                let evaluated = match members {
                    Some(m) => Some((**m).clone()),
                    None if stdlib => Some(self.eval(
                        info.unit,
                        &info.def.expr,
                        &mut Vec::new(),
                        &mut Diagnostics::new(),
                    )),
                    None => None,
                };
                let (line, _) = map.line_col(info.def.span);
                crate::SegmentOutline {
                    unit: info.unit,
                    name: info.def.name.node.text.clone(),
                    span: info.def.name.span,
                    members: evaluated.as_ref().map(|m| m.ids.iter().collect()),
                    networks: evaluated
                        .as_ref()
                        .map_or_else(Vec::new, |m| m.nets.to_cidrs()),
                    file: self.units[info.unit].path.clone(),
                    line: line as u32,
                    doc: info.def.doc.as_ref().map(|d| d.node.clone()),
                    stdlib,
                }
            })
            .collect()
    }

    pub(crate) fn eval_services(&mut self, diags: &mut Diagnostics) {
        for i in self.res.svc_order.clone() {
            let info = &self.res.svcs[i as usize];
            let ports = self.ports(info.unit, &info.def.ports, diags);
            self.svcs[i as usize] = ports;
        }
    }

    /// E0208/E0209 for identities named directly.
    pub(crate) fn check_mentions(&self, mentions: &[Mention], diags: &mut Diagnostics) {
        for m in mentions {
            let ident = self.index.identity(m.id);
            if self.index.is_disabled(m.id) {
                diags.push(problems::disabled_identity(
                    m.span,
                    &ident.name,
                    ident.origin,
                ));
            } else if self.index.is_expired(m.id) {
                let date = (self.index.details(m.id).expires)
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                diags.push(problems::expired_identity(
                    m.span,
                    &ident.name,
                    &date,
                    ident.origin,
                ));
            }
        }
    }

    /// Start watching for segments in doubt; [`Env::read_doubtful`] tells whether an
    /// evaluation since read one.
    pub(crate) fn watch_doubt(&self) {
        self.doubt_seen.set(false);
    }

    pub(crate) fn read_doubtful(&self) -> bool {
        self.doubt_seen.get()
    }

    /// The members of a set expression in `unit`'s scope.
    pub(crate) fn eval(
        &self,
        unit: usize,
        e: &ast::SetExpr,
        mentions: &mut Vec<Mention>,
        diags: &mut Diagnostics,
    ) -> Members {
        self.eval_at(unit, e, 0, mentions, diags)
    }

    fn eval_at(
        &self,
        unit: usize,
        e: &ast::SetExpr,
        depth: usize,
        mentions: &mut Vec<Mention>,
        diags: &mut Diagnostics,
    ) -> Members {
        if depth > MAX_DEPTH {
            diags.push(problems::too_deep(e.span));
            return Members::poisoned();
        }
        match &e.node {
            SetExprKind::Union(..) | SetExprKind::Intersect(..) | SetExprKind::Difference(..) => {
                // Walk the left spine iteratively: `a | b | c | ...` may be long.
                let mut ops = Vec::new();
                let mut cur = e;
                loop {
                    let (op, a, b) = match &cur.node {
                        SetExprKind::Union(a, b) => (Op::Union, a, b),
                        SetExprKind::Intersect(a, b) => (Op::Intersect, a, b),
                        SetExprKind::Difference(a, b) => (Op::Difference, a, b),
                        _ => break,
                    };
                    ops.push((op, &**b));
                    cur = a;
                }
                let mut acc = self.eval_at(unit, cur, depth + 1, mentions, diags);
                for (op, rhs) in ops.into_iter().rev() {
                    let r = self.eval_at(unit, rhs, depth + 1, mentions, diags);
                    acc = self.combine(op, acc, r);
                }
                acc
            }
            SetExprKind::Name(n) => self.name(unit, &n.text, e.span, mentions, diags),
            SetExprKind::List(names) => {
                let mut ids = Vec::with_capacity(names.len());
                for name in names {
                    match self.index.lookup(&name.node.text) {
                        Some(id) => {
                            mentions.push(Mention {
                                id,
                                span: name.span,
                            });
                            ids.push(id);
                        }
                        None => {
                            let is_segment =
                                self.res.scopes[unit].segments.contains_key(&name.node.text);
                            let suggestion = did_you_mean(&name.node.text, self.index.names());
                            diags.push(problems::unknown_identity(
                                name.span,
                                &name.node.text,
                                suggestion,
                                is_segment,
                            ));
                        }
                    }
                }
                let ids = IdSet::from_unsorted(ids);
                Members {
                    explicit: ids.clone(),
                    ids,
                    nets: CidrSet::empty(),
                    broad: false,
                    has_identities: true,
                }
            }
            SetExprKind::Where(p) => match self.typer().pred(p, depth + 1, diags) {
                Some(rp) => Members {
                    ids: self.preds.eval(&rp).ids.clone(),
                    has_identities: true,
                    ..Members::default()
                },
                None => Members::poisoned(),
            },
            SetExprKind::Network(nets) => {
                let set = CidrSet::from_nets(nets.iter().map(|n| &n.node));
                Members {
                    ids: self.index.overlapping(&set),
                    explicit: IdSet::empty(),
                    nets: set,
                    broad: nets.iter().any(|n| n.node.prefix_len() == 0),
                    has_identities: false,
                }
            }
            SetExprKind::Any => Members {
                ids: IdSet::all(self.index.n),
                explicit: IdSet::empty(),
                nets: CidrSet::all(),
                broad: true,
                has_identities: true,
            },
        }
    }

    fn name(
        &self,
        unit: usize,
        name: &str,
        span: Span,
        mentions: &mut Vec<Mention>,
        diags: &mut Diagnostics,
    ) -> Members {
        if let Some(seg) = self.res.segment(unit, name) {
            return match &self.segs[seg as usize] {
                Some(m) => {
                    if self.doubtful[seg as usize] {
                        self.doubt_seen.set(true);
                    }
                    (**m).clone()
                }
                None => {
                    self.doubt_seen.set(true);
                    Members::poisoned()
                }
            };
        }
        if let Some(id) = self.index.lookup(name) {
            mentions.push(Mention { id, span });
            let ids = IdSet::one(id);
            return Members {
                explicit: ids.clone(),
                ids,
                nets: CidrSet::empty(),
                broad: false,
                has_identities: true,
            };
        }
        let scope = &self.res.scopes[unit];
        let candidates = scope
            .segments
            .keys()
            .map(String::as_str)
            .chain(self.index.names());
        let suggestion = did_you_mean(name, candidates);
        let import = self.import_hint(unit, self.seg_homes.get(name).copied());
        diags.push(problems::unknown_name(
            span,
            name,
            suggestion,
            import.as_deref(),
            self.index.n as usize,
        ));
        Members::poisoned()
    }

    /// What `unit` would write to import a name that `home` defines.
    fn import_hint(&self, unit: usize, home: Option<usize>) -> Option<String> {
        let home = home.filter(|h| *h != unit)?;
        let target = &self.units[home];
        Some(match &target.module {
            Some(m) => m.clone(),
            None => relative_path(&self.units[unit].path, &target.path),
        })
    }

    fn combine(&self, op: Op, a: Members, b: Members) -> Members {
        match op {
            Op::Union => Members {
                ids: a.ids.union(&b.ids),
                explicit: a.explicit.union(&b.explicit),
                nets: a.nets.union(&b.nets),
                broad: a.broad || b.broad,
                has_identities: a.has_identities || b.has_identities,
            },
            Op::Intersect => {
                let ids = a.ids.intersect(&b.ids);
                Members {
                    explicit: a.explicit.union(&b.explicit).intersect(&ids),
                    ids,
                    nets: a.nets.intersect(&b.nets),
                    broad: a.broad && b.broad,
                    has_identities: a.has_identities && b.has_identities,
                }
            }
            Op::Difference => {
                let ids = a.ids.difference(&b.ids);
                let nets = if a.nets.is_empty() {
                    a.nets
                } else {
                    a.nets
                        .difference(&b.nets.union(&self.index.addresses_of(&b.ids)))
                };
                Members {
                    explicit: a.explicit.intersect(&ids),
                    ids,
                    nets,
                    broad: a.broad,
                    has_identities: a.has_identities,
                }
            }
        }
    }

    /// The ports of a service list (`on ...` or a service definition).
    pub(crate) fn ports(
        &self,
        unit: usize,
        refs: &[ast::ServiceRef],
        diags: &mut Diagnostics,
    ) -> Option<PortSet> {
        let mut out = PortSet::empty();
        let mut ok = true;
        for r in refs {
            match &r.node {
                ServiceRefKind::Named(n) => match self.res.service(unit, &n.text) {
                    Some(id) => match &self.svcs[id as usize] {
                        Some(p) => out = out.union(p),
                        None => ok = false,
                    },
                    None => {
                        let scope = &self.res.scopes[unit];
                        let suggestion =
                            did_you_mean(&n.text, scope.services.keys().map(String::as_str));
                        let import =
                            self.import_hint(unit, self.svc_homes.get(n.text.as_str()).copied());
                        diags.push(problems::unknown_service(
                            r.span,
                            &n.text,
                            suggestion,
                            import.as_deref(),
                        ));
                        ok = false;
                    }
                },
                ServiceRefKind::Port(spec) => match port_set(spec, r.span) {
                    Ok(p) => out = out.union(&p),
                    Err(d) => {
                        diags.push(d);
                        ok = false;
                    }
                },
            }
        }
        ok.then_some(out)
    }
}

pub(crate) fn port_set(spec: &PortSpec, span: Span) -> Result<PortSet, seg_diag::Diagnostic> {
    match *spec {
        PortSpec::Any => Ok(PortSet::any()),
        PortSpec::Icmp => Ok(PortSet::icmp()),
        PortSpec::Ports { protocol, lo, hi } => {
            if lo > hi {
                return Err(problems::invalid_range(
                    span,
                    format!("port range `{lo}-{hi}` is reversed"),
                    "start is after end",
                    "a port range is inclusive and runs from low to high".into(),
                    "write the lower port first",
                ));
            }
            Ok(PortSet::ports(protocol, lo, hi))
        }
    }
}
