//! Smaller variants of an estate model, biggest cuts first, for a greedy
//! minimiser: keep the first variant that still fails, start again from it,
//! stop when none does. Every variant renders to a valid estate (see the
//! module docs of `model`), so a variant that stops failing was not needed.

use super::FlowSpec;
use super::model::*;

fn without<T: Clone>(v: &[T], i: usize) -> Vec<T> {
    let mut out = v.to_vec();
    out.remove(i);
    out
}

/// Smaller set expressions: its operands, then simpler forms.
fn set_variants(e: &SetExpr) -> Vec<SetExpr> {
    match e {
        SetExpr::Union(a, b) | SetExpr::Inter(a, b) | SetExpr::Diff(a, b) => {
            let mut out = vec![(**a).clone(), (**b).clone()];
            for x in set_variants(a) {
                out.push(rebuild(e, x, (**b).clone()));
            }
            for y in set_variants(b) {
                out.push(rebuild(e, (**a).clone(), y));
            }
            out
        }
        SetExpr::List(v) if v.len() > 1 => {
            (0..v.len()).map(|i| SetExpr::List(without(v, i))).collect()
        }
        SetExpr::Network(v) if v.len() > 1 => (0..v.len())
            .map(|i| SetExpr::Network(without(v, i)))
            .collect(),
        SetExpr::Where(p) => pred_variants(p).into_iter().map(SetExpr::Where).collect(),
        _ => Vec::new(),
    }
}

fn rebuild(shape: &SetExpr, a: SetExpr, b: SetExpr) -> SetExpr {
    let (a, b) = (Box::new(a), Box::new(b));
    match shape {
        SetExpr::Union(..) => SetExpr::Union(a, b),
        SetExpr::Inter(..) => SetExpr::Inter(a, b),
        _ => SetExpr::Diff(a, b),
    }
}

fn pred_variants(p: &Pred) -> Vec<Pred> {
    match p {
        Pred::Not(x) => vec![(**x).clone()],
        Pred::And(a, b) | Pred::Or(a, b) => vec![(**a).clone(), (**b).clone()],
        Pred::Env(v) if v.len() > 1 => vec![Pred::Env(vec![v[0]])],
        _ => Vec::new(),
    }
}

fn cond_variants(c: &Cond) -> Vec<Cond> {
    match c {
        Cond::Not(x) => vec![(**x).clone()],
        Cond::And(cs) | Cond::Or(cs) => {
            let mut out: Vec<Cond> = cs.clone();
            if cs.len() > 2 {
                for i in 0..cs.len() {
                    let rest = without(cs, i);
                    out.push(match c {
                        Cond::And(_) => Cond::And(rest),
                        _ => Cond::Or(rest),
                    });
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

fn rule_variants(r: &RuleSpec) -> Vec<RuleSpec> {
    let mut out = Vec::new();
    let mut push = |f: &dyn Fn(&mut RuleSpec)| {
        let mut x = r.clone();
        f(&mut x);
        if x != *r {
            out.push(x);
        }
    };
    push(&|x| x.carve = None);
    push(&|x| x.when = None);
    push(&|x| x.expires = None);
    push(&|x| x.both = false);
    if r.services.len() > 1 {
        for i in 0..r.services.len() {
            let s = without(&r.services, i);
            push(&move |x| x.services = s.clone());
        }
    }
    for v in set_variants(&r.src) {
        push(&move |x| x.src = v.clone());
    }
    for v in set_variants(&r.dst) {
        push(&move |x| x.dst = v.clone());
    }
    if let Some(c) = &r.when {
        for v in cond_variants(c) {
            push(&move |x| x.when = Some(v.clone()));
        }
    }
    push(&|x| {
        x.owner = false;
        x.reason = false;
        x.doc = false;
    });
    out
}

fn identity_variants(i: &IdentitySpec) -> Vec<IdentitySpec> {
    let mut out = Vec::new();
    let mut push = |f: &dyn Fn(&mut IdentitySpec)| {
        let mut x = i.clone();
        f(&mut x);
        if x != *i {
            out.push(x);
        }
    };
    push(&|x| x.kubernetes = None);
    push(&|x| x.aws = None);
    push(&|x| x.gcp = false);
    push(&|x| x.spiffe = false);
    push(&|x| x.v6 = false);
    push(&|x| x.v4_block = false);
    push(&|x| x.overlap = false);
    push(&|x| x.v4 = false);
    push(&|x| x.credential = None);
    push(&|x| x.status = Status::Active);
    push(&|x| x.quoted = false);
    push(&|x| x.bare_addresses = false);
    push(&|x| {
        x.env = None;
        x.tier = None;
        x.pci = None;
        x.tier_label = None;
    });
    out
}

fn flow_variants(f: &FlowSpec) -> Vec<FlowSpec> {
    let mut out = Vec::new();
    let mut push = |g: &dyn Fn(&mut FlowSpec)| {
        let mut x = f.clone();
        g(&mut x);
        if x != *f {
            out.push(x);
        }
    };
    push(&|x| x.mtls = false);
    push(&|x| x.method = None);
    push(&|x| x.path = None);
    push(&|x| x.context.clear());
    push(&|x| x.at = super::now());
    // An address outside every inventory instead of a named identity, so
    // the identity can go too.
    for (i, outside) in ["203.0.113.9", "203.0.113.10"].iter().enumerate() {
        let addr: std::net::IpAddr = outside.parse().unwrap_or([0, 0, 0, 0].into());
        push(&move |x| {
            let end = if i == 0 { &mut x.src } else { &mut x.dst };
            if matches!(end, super::Endpoint::Name(_)) {
                *end = super::Endpoint::Address(addr);
            }
        });
    }
    push(&|x| {
        if matches!(x.protocol, seg_ir::Protocol::Other(_)) {
            x.protocol = seg_ir::Protocol::Tcp;
            x.port = 80;
        }
    });
    out
}

impl EstateModel {
    /// Smaller variants of this model, biggest cuts first.
    pub fn shrink_candidates(&self) -> Vec<EstateModel> {
        let mut out = Vec::new();
        let with = |f: &dyn Fn(&mut EstateModel)| {
            let mut x = self.clone();
            f(&mut x);
            x
        };
        if let Some(flows) = &self.pinned {
            for i in (0..flows.len()).filter(|_| flows.len() > 1) {
                out.push(with(&|m| m.pinned = Some(without(flows, i))));
            }
        } else if self.flows.len() > 1 {
            let half = self.flows.len() / 2;
            out.push(with(&|m| m.flows.truncate(half)));
            out.push(with(&|m| m.flows = m.flows.split_off(half)));
        }
        for p in 0..self.policies.len() {
            out.push(with(&|m| {
                m.policies.remove(p);
            }));
        }
        for p in 0..self.policies.len() {
            for r in 0..self.policies[p].rules.len() {
                out.push(with(&|m| {
                    m.policies[p].rules.remove(r);
                }));
            }
        }
        for s in 0..self.segments.len() {
            out.push(with(&|m| {
                m.segments.remove(s);
            }));
        }
        for s in 0..self.services.len() {
            out.push(with(&|m| {
                m.services.remove(s);
            }));
        }
        for i in (0..self.identities.len()).filter(|_| self.identities.len() > 1) {
            out.push(with(&|m| {
                m.identities.remove(i);
            }));
        }
        for p in 0..self.policies.len() {
            for r in 0..self.policies[p].rules.len() {
                for v in rule_variants(&self.policies[p].rules[r]) {
                    out.push(with(&|m| m.policies[p].rules[r] = v.clone()));
                }
            }
        }
        for s in 0..self.segments.len() {
            for v in set_variants(&self.segments[s]) {
                out.push(with(&|m| m.segments[s] = v.clone()));
            }
        }
        for i in 0..self.identities.len() {
            for v in identity_variants(&self.identities[i]) {
                out.push(with(&|m| m.identities[i] = v.clone()));
            }
        }
        let flags = with(&|m| {
            m.split_inventory = false;
            m.files = 1;
            m.small_ipsets = false;
        });
        if flags != *self {
            out.push(flags);
        }
        for c in 0..4 {
            if self.layered[c] {
                out.push(with(&|m| m.layered[c] = false));
            }
        }
        for p in 0..self.policies.len() {
            if self.policies[p].owner || self.policies[p].review_overdue {
                out.push(with(&|m| {
                    m.policies[p].owner = false;
                    m.policies[p].review_overdue = false;
                }));
            }
        }
        if let Some(flows) = &self.pinned {
            for (i, f) in flows.iter().enumerate() {
                for v in flow_variants(f) {
                    out.push(with(&|m| {
                        if let Some(fs) = &mut m.pinned {
                            fs[i] = v.clone();
                        }
                    }));
                }
            }
        }
        out
    }

    /// Number of parts, for reporting how small a minimised case is.
    pub fn size(&self) -> usize {
        self.identities.len()
            + self.segments.len()
            + self.services.len()
            + self
                .policies
                .iter()
                .map(|p| 1 + p.rules.len())
                .sum::<usize>()
            + self.pinned.as_ref().map_or(self.flows.len(), Vec::len)
    }
}
