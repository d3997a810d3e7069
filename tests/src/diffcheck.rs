//! A diff checked against the reference evaluator on every boundary flow of
//! two programs (shared by `analysis/seg-diff/tests/exact.rs` on random IR
//! programs and `tests/tests/diff.rs` on generated estates).
//!
//! Boundary flows: every identity of either side and the edge addresses of
//! every network and identity address (first, last, one outside), every
//! service edge and one past, and for each such endpoint pair and port every
//! combination of context values that the conditions of the rules holding
//! them can tell apart — instants at every window edge (a second before and
//! at) over a week from `now` and at every expiry's end, mTLS both ways, the
//! methods, paths and inputs the conditions test plus values none of them
//! names. The values are derived from the conditions here, independently of
//! how `seg_space` finds its points.
//!
//! Both decisions of a flow depend only on the rules whose sets and services
//! hold its endpoints and port, and on its context; the diff's answer only
//! on the row holding them and the context. So the contexts are swept once
//! per (rules old, rules new, row): flows repeating all three would get the
//! same answers.

use ipnet::IpNet;
use seg_diff::{Context, Diff, EndpointRef, FlowRef};
use seg_ir::eval::{decide, member};
use seg_ir::{
    Atom, Condition, ContextType, Program, Protocol, RequestField, Rule, Timestamp, Value,
    ValueTest,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Check `d` (the diff of `a` and `b`): every row's witness is decided
/// differently by the reference evaluator, and every boundary flow is
/// reported iff it is. Returns how many flows were decided.
pub fn check(a: &Program, b: &Program, d: &Diff) -> Result<usize, String> {
    for row in &d.changes {
        let w = &row.witness;
        let ctx = w.context();
        let before = reference(a, &w.src, &w.dst, w.protocol, w.port, &ctx);
        let after = reference(b, &w.src, &w.dst, w.protocol, w.port, &ctx);
        if before == after || row.before.allows(&ctx) != before || row.after.allows(&ctx) != after {
            return Err(format!(
                "the witness of a row is not a change (old {before}, new {after}): {row:#?}"
            ));
        }
    }
    let mut checked = 0;
    let mut swept: BTreeSet<(Vec<u32>, Vec<u32>, Option<usize>)> = BTreeSet::new();
    let ports = ports(a, b);
    let ends = endpoints(a, b);
    let holding = [Holding::of(a, &ends), Holding::of(b, &ends)];
    for (si, src) in ends.iter().enumerate() {
        for (di, dst) in ends.iter().enumerate() {
            for &(proto, port) in &ports {
                let lists = [0, 1].map(|k| holding[k].rules(si, di, proto, port));
                let probe = FlowRef {
                    src: src.clone(),
                    dst: dst.clone(),
                    protocol: proto,
                    port,
                    context: Context::at(b.now),
                };
                let row = d.changes.iter().position(|r| r.holds(&probe));
                let rules: Vec<&Rule> = lists[0]
                    .iter()
                    .map(|&i| &a.rules[i as usize])
                    .chain(lists[1].iter().map(|&i| &b.rules[i as usize]))
                    .collect();
                let [old, new] = lists;
                if !swept.insert((old, new, row)) {
                    continue;
                }
                let declared = [&a.contexts, &b.contexts];
                for ctx in contexts(b.now, &rules, &declared) {
                    let before = reference(a, src, dst, proto, port, &ctx);
                    let after = reference(b, src, dst, proto, port, &ctx);
                    let flow = FlowRef {
                        context: ctx,
                        ..probe.clone()
                    };
                    if (before != after) != d.reports(&flow) {
                        return Err(format!(
                            "flow {flow:?}: old {before}, new {after}, but the diff {} it; row {:#?}",
                            if before != after { "misses" } else { "reports" },
                            d.row_of(&flow)
                        ));
                    }
                    checked += 1;
                }
            }
        }
    }
    Ok(checked)
}

/// The reference decision on one side; a name the side lacks is denied.
pub fn reference(
    p: &Program,
    src: &EndpointRef,
    dst: &EndpointRef,
    proto: Protocol,
    port: u16,
    ctx: &Context,
) -> bool {
    match (src.resolve(p), dst.resolve(p)) {
        (Some(s), Some(d)) => decide(p, &ctx.flow(s, d, proto, port)).allowed,
        _ => false,
    }
}

/// Per endpoint of the list, which rules of one program hold it as source
/// and as destination.
struct Holding<'p> {
    program: &'p Program,
    src: Vec<Vec<u32>>,
    dst: Vec<BTreeSet<u32>>,
}

impl<'p> Holding<'p> {
    fn of(p: &'p Program, ends: &[EndpointRef]) -> Holding<'p> {
        let mut src = Vec::new();
        let mut dst = Vec::new();
        for e in ends {
            let (mut s, mut d) = (Vec::new(), BTreeSet::new());
            if let Some(fe) = e.resolve(p) {
                for r in &p.rules {
                    if member(p, &r.src, fe) {
                        s.push(r.id.0);
                    }
                    if member(p, &r.dst, fe) {
                        d.insert(r.id.0);
                    }
                }
            }
            src.push(s);
            dst.push(d);
        }
        Holding {
            program: p,
            src,
            dst,
        }
    }

    fn rules(&self, s: usize, d: usize, proto: Protocol, port: u16) -> Vec<u32> {
        self.src[s]
            .iter()
            .copied()
            .filter(|r| {
                self.dst[d].contains(r)
                    && self.program.rules[*r as usize]
                        .services
                        .contains(proto, port)
            })
            .collect()
    }
}

/// The address one above or below. (Not `estate::flows::step`: this file is
/// also compiled alone into `seg-diff`'s tests, where `estate` does not exist.)
fn step(a: IpAddr, up: bool) -> Option<IpAddr> {
    match a {
        IpAddr::V4(v) => {
            let x = u32::from(v);
            let y = if up {
                x.checked_add(1)
            } else {
                x.checked_sub(1)
            };
            y.map(|y| IpAddr::V4(y.into()))
        }
        IpAddr::V6(v) => {
            let x = u128::from(v);
            let y = if up {
                x.checked_add(1)
            } else {
                x.checked_sub(1)
            };
            y.map(|y| IpAddr::V6(y.into()))
        }
    }
}

/// Every name and edge address of both programs.
pub fn endpoints(a: &Program, b: &Program) -> Vec<EndpointRef> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut nets: Vec<IpNet> = Vec::new();
    for p in [a, b] {
        names.extend(p.identities.iter().map(|i| i.name.clone()));
        nets.extend(
            p.identities
                .iter()
                .flat_map(|i| i.addresses.iter().copied()),
        );
        for r in &p.rules {
            nets.extend(r.src.networks.to_cidrs());
            nets.extend(r.dst.networks.to_cidrs());
        }
    }
    let mut addrs: BTreeSet<IpAddr> = BTreeSet::new();
    for n in &nets {
        addrs.extend([n.network(), n.broadcast()]);
        addrs.extend(step(n.network(), false));
        addrs.extend(step(n.broadcast(), true));
    }
    for s in ["203.0.113.9", "2001:db8::1", "10.250.0.9"] {
        addrs.extend(s.parse::<IpAddr>().ok());
    }
    let mut out: Vec<EndpointRef> = names.into_iter().map(EndpointRef::Name).collect();
    out.extend(addrs.into_iter().map(EndpointRef::Address));
    out
}

/// Every service edge and the port just outside it, of both programs.
pub fn ports(a: &Program, b: &Program) -> Vec<(Protocol, u16)> {
    let mut out: BTreeSet<(Protocol, u16)> = BTreeSet::from([
        (Protocol::Tcp, 12345),
        (Protocol::Icmp, 0),
        (Protocol::Other(47), 0),
    ]);
    for p in [a, b] {
        for r in &p.rules {
            for (proto, ranges) in r.services.by_protocol() {
                for &(lo, hi) in ranges.ranges() {
                    out.extend(
                        [lo.checked_sub(1), Some(lo), Some(hi), hi.checked_add(1)]
                            .into_iter()
                            .flatten()
                            .map(|x| (proto, x)),
                    );
                }
            }
        }
    }
    out.into_iter().collect()
}

fn atoms<'c>(c: &'c Condition, out: &mut Vec<&'c Atom>) {
    match c {
        Condition::And(cs) | Condition::Or(cs) => cs.iter().for_each(|c| atoms(c, out)),
        Condition::Not(c) => atoms(c, out),
        Condition::Atom(a) => out.push(a),
        _ => {}
    }
}

/// Strings a glob or literal test tells apart: each literal, each glob with
/// its stars empty and with `x/y` in them, and one string none names.
fn strings(tests: &[&ValueTest]) -> Vec<String> {
    let mut out = BTreeSet::from(["zz-none".to_string(), String::new()]);
    for t in tests {
        match t {
            ValueTest::In(vs) => out.extend(vs.iter().filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })),
            ValueTest::Glob(g) => {
                out.insert(g.replace('*', ""));
                out.insert(g.replace('*', "x/y"));
            }
            _ => {}
        }
    }
    out.into_iter().collect()
}

/// Contexts telling apart what these rules' conditions and expiry can.
pub fn contexts(
    now: Timestamp,
    rules: &[&Rule],
    declared: &[&BTreeMap<String, ContextType>],
) -> Vec<Context> {
    let mut used: Vec<&Atom> = Vec::new();
    let mut ends = BTreeSet::new();
    for r in rules {
        atoms(&r.condition, &mut used);
        ends.extend(r.expires.map(seg_ir::Expiry::end));
    }
    let mut minutes: BTreeSet<i64> = BTreeSet::from([0]);
    let mut days = false;
    for a in &used {
        match a {
            Atom::Time { start, end } => {
                minutes.insert(i64::from(start.0));
                minutes.insert(i64::from(end.0));
            }
            Atom::Days { .. } => days = true,
            _ => {}
        }
    }
    let mut instants: BTreeSet<Timestamp> = BTreeSet::from([now]);
    if minutes.len() > 1 || days || !ends.is_empty() {
        for day in 0..7 {
            let start = now.date().add_days(day).start().0;
            for m in &minutes {
                instants.insert(Timestamp(start + m * 60 - 1));
                instants.insert(Timestamp(start + m * 60));
            }
        }
        for end in &ends {
            instants.extend([Timestamp(end.0 - 1), *end, Timestamp(end.0 + 7 * 86_400)]);
        }
    }
    let mtls: Vec<bool> = if used.iter().any(|a| matches!(a, Atom::Mtls)) {
        vec![false, true]
    } else {
        vec![false]
    };
    let request = |field: RequestField| -> Vec<Option<String>> {
        let tests: Vec<&ValueTest> = used
            .iter()
            .filter_map(|a| match a {
                Atom::Request { field: f, test } if *f == field => Some(test),
                _ => None,
            })
            .collect();
        if tests.is_empty() {
            return vec![None];
        }
        std::iter::once(None)
            .chain(strings(&tests).into_iter().map(Some))
            .collect()
    };
    let methods = request(RequestField::Method);
    let paths = request(RequestField::Path);
    let names: BTreeSet<&String> = used
        .iter()
        .filter_map(|a| match a {
            Atom::Context { name, .. } => Some(name),
            _ => None,
        })
        .collect();
    // Per input: absent, and the values of its declared types.
    let mut inputs: Vec<(String, Vec<Option<Value>>)> = Vec::new();
    for name in names {
        let tests: Vec<&ValueTest> = used
            .iter()
            .filter_map(|a| match a {
                Atom::Context { name: n, test } if n == name => Some(test),
                _ => None,
            })
            .collect();
        let mut values: Vec<Option<Value>> = vec![None];
        for ty in declared.iter().filter_map(|d| d.get(name)) {
            match ty {
                ContextType::Bool => {
                    values.extend([Some(Value::Bool(true)), Some(Value::Bool(false))])
                }
                ContextType::Int => {
                    let ints: Vec<i64> = tests
                        .iter()
                        .flat_map(|t| match t {
                            ValueTest::In(vs) => vs.clone(),
                            _ => Vec::new(),
                        })
                        .filter_map(|v| match v {
                            Value::Int(i) => Some(i),
                            _ => None,
                        })
                        .collect();
                    let next = ints.iter().max().map_or(0, |m| m.saturating_add(1));
                    values.extend(ints.into_iter().chain([next]).map(|i| Some(Value::Int(i))));
                }
                ContextType::String => {
                    values.extend(strings(&tests).into_iter().map(|s| Some(Value::String(s))))
                }
                ContextType::Enum(vs) => {
                    values.extend(vs.iter().map(|s| Some(Value::String(s.clone()))))
                }
            }
        }
        values.dedup();
        inputs.push((name.clone(), values));
    }
    let mut out = Vec::new();
    for &at in instants.iter().filter(|t| **t >= now) {
        for &m in &mtls {
            for method in &methods {
                for path in &paths {
                    let base = Context {
                        at,
                        mtls: m,
                        method: method.clone(),
                        path: path.clone(),
                        context: BTreeMap::new(),
                    };
                    let mut partial = vec![base];
                    for (name, values) in &inputs {
                        let mut next = Vec::new();
                        for c in &partial {
                            for v in values {
                                let mut c = c.clone();
                                if let Some(v) = v {
                                    c.context.insert(name.clone(), v.clone());
                                }
                                next.push(c);
                            }
                        }
                        partial = next;
                    }
                    out.extend(partial);
                }
            }
        }
    }
    out
}
