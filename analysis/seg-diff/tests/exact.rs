//! The diff is exact: on random pairs of programs (a program and an edited
//! copy: rules removed, added, re-conditioned, re-aimed; identities re-labelled,
//! re-addressed, added, removed), for every boundary flow, the reference
//! evaluator decides differently on the two sides iff the diff reports the
//! flow; and every row's witness is such a flow.
//!
//! Boundary flows: every identity of either side and the edge addresses of
//! every network and identity address (first, last, one outside), every
//! service edge and one past, and for each such endpoint pair and port every
//! combination of the context values the matching rules' conditions can
//! tell apart (instants at every window edge and expiry edge over a week
//! from `now`; mTLS; methods, paths and context inputs the generator uses).

#[path = "../../../tests/src/gen.rs"]
#[allow(dead_code)]
mod strategies;

use proptest::prelude::*;
use proptest::sample::Index;
use seg_diff::{EndpointRef, FlowRef, Side, diff};
use seg_ir::eval::{decide, member};
use seg_ir::{
    Atom, CidrSet, Condition, EndpointSet, FlowEndpoint, Identity, IdentityId, Program, Protocol,
    RequestField, Rule, Timestamp, Value,
};
use seg_space::context::Context;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use strategies::{self as sg, GenConfig};

#[derive(Clone, Debug)]
enum IdentityEdit {
    /// Flip the team attribute and join a rule's source (as a segment would).
    Relabel(Index, Index),
    /// One more address.
    Readdress(Index),
    /// A new identity, in a rule's source and another's destination.
    Add(Index, Index),
    /// The last identity goes, out of every set.
    RemoveLast,
}

#[derive(Clone, Debug)]
enum RuleEdit {
    Remove(Index),
    Condition(Index, Condition),
    Services(Index, seg_ir::PortSet),
    Source(Index, EndpointSet),
    Add(Box<Rule>),
}

fn cfg() -> GenConfig {
    GenConfig {
        max_identities: 5,
        max_rules: 5,
        ..GenConfig::default()
    }
}

fn pair() -> impl Strategy<Value = (Program, Program)> {
    sg::program(cfg())
        .prop_flat_map(|a| {
            let ids: Vec<Identity> = a.identities.to_vec();
            let rule_edit = prop_oneof![
                any::<Index>().prop_map(RuleEdit::Remove),
                (any::<Index>(), sg::condition()).prop_map(|(i, c)| RuleEdit::Condition(i, c)),
                (any::<Index>(), sg::services()).prop_map(|(i, s)| RuleEdit::Services(i, s)),
                (any::<Index>(), sg::endpoint_set(&ids)).prop_map(|(i, s)| RuleEdit::Source(i, s)),
                sg::rule(&ids, cfg()).prop_map(|r| RuleEdit::Add(Box::new(r))),
            ];
            let identity_edit = prop_oneof![
                (any::<Index>(), any::<Index>()).prop_map(|(a, b)| IdentityEdit::Relabel(a, b)),
                any::<Index>().prop_map(IdentityEdit::Readdress),
                (any::<Index>(), any::<Index>()).prop_map(|(a, b)| IdentityEdit::Add(a, b)),
                Just(IdentityEdit::RemoveLast),
            ];
            (
                Just(a),
                prop::collection::vec(rule_edit, 0..=3),
                prop::collection::vec(identity_edit, 0..=2),
            )
        })
        .prop_map(|(a, rule_edits, identity_edits)| {
            let b = edit(&a, &rule_edits, &identity_edits);
            (a, b)
        })
}

fn edit(a: &Program, rule_edits: &[RuleEdit], identity_edits: &[IdentityEdit]) -> Program {
    let mut ids: Vec<Identity> = a.identities.to_vec();
    let mut rules: Vec<Rule> = a.rules.clone();
    for e in rule_edits {
        let pick = |i: &Index, rules: &Vec<Rule>| (!rules.is_empty()).then(|| i.index(rules.len()));
        match e {
            RuleEdit::Remove(i) => {
                if let Some(k) = pick(i, &rules) {
                    rules.remove(k);
                }
            }
            RuleEdit::Condition(i, c) => {
                if let Some(k) = pick(i, &rules) {
                    rules[k].condition = c.clone();
                }
            }
            RuleEdit::Services(i, s) => {
                if let Some(k) = pick(i, &rules) {
                    rules[k].services = s.clone();
                }
            }
            RuleEdit::Source(i, s) => {
                if let Some(k) = pick(i, &rules) {
                    rules[k].src = s.clone();
                }
            }
            RuleEdit::Add(r) => rules.push(r.as_ref().clone()),
        }
    }
    for e in identity_edits {
        match e {
            IdentityEdit::Relabel(i, r) => {
                let k = i.index(ids.len());
                let team = match ids[k].attributes.get("team") {
                    Some(Value::String(t)) if t == "web" => "payments",
                    _ => "web",
                };
                ids[k]
                    .attributes
                    .insert("team".into(), Value::String(team.into()));
                if !rules.is_empty() {
                    let n = r.index(rules.len());
                    rules[n].src.identities.insert(IdentityId(k as u32));
                }
            }
            IdentityEdit::Readdress(i) => {
                let k = i.index(ids.len());
                let extra = format!("10.0.{k}.77/32").parse().expect("net");
                ids[k].addresses.push(extra);
                ids[k].addresses.sort();
            }
            IdentityEdit::Add(r, s) => {
                let n = ids.len();
                let mut fresh = ids[0].clone();
                fresh.id = IdentityId(n as u32);
                fresh.name = format!("id{n}");
                fresh.addresses = vec![format!("10.0.{n}.1/32").parse().expect("net")];
                ids.push(fresh);
                if !rules.is_empty() {
                    let (x, y) = (r.index(rules.len()), s.index(rules.len()));
                    rules[x].src.identities.insert(IdentityId(n as u32));
                    rules[y].dst.identities.insert(IdentityId(n as u32));
                }
            }
            IdentityEdit::RemoveLast if ids.len() > 1 => {
                let gone = ids.pop().map(|i| i.id).expect("an identity");
                for r in &mut rules {
                    for set in [&mut r.src, &mut r.dst] {
                        set.identities.remove(&gone);
                        set.explicit.remove(&gone);
                    }
                }
            }
            IdentityEdit::RemoveLast => {}
        }
    }
    let mut b = sg::empty_program(ids.clone());
    for mut r in rules {
        sg::close(&mut r.src, &ids);
        sg::close(&mut r.dst, &ids);
        sg::push_rule(&mut b, r);
    }
    b
}

fn side<'a>(p: &'a Program, label: &str) -> Side<'a> {
    Side {
        program: p,
        map: None,
        label: label.into(),
    }
}

/// Every name and edge address of both programs.
fn endpoints(a: &Program, b: &Program) -> Vec<EndpointRef> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut addrs: BTreeSet<IpAddr> = BTreeSet::new();
    for p in [a, b] {
        names.extend(p.identities.iter().map(|i| i.name.clone()));
        addrs.extend(sg::boundary_addresses(p));
    }
    let mut out: Vec<EndpointRef> = names.into_iter().map(EndpointRef::Name).collect();
    out.extend(addrs.into_iter().map(EndpointRef::Address));
    out
}

fn ports(a: &Program, b: &Program) -> Vec<(Protocol, u16)> {
    let mut out: BTreeSet<(Protocol, u16)> = BTreeSet::new();
    out.extend(sg::boundary_ports(a));
    out.extend(sg::boundary_ports(b));
    out.into_iter().collect()
}

/// The rules whose sets and services hold the flow's endpoints and port,
/// whatever their condition.
fn structural(
    p: &Program,
    src: FlowEndpoint,
    dst: FlowEndpoint,
    proto: Protocol,
    port: u16,
) -> Vec<&Rule> {
    p.rules
        .iter()
        .filter(|r| {
            r.services.contains(proto, port) && member(p, &r.src, src) && member(p, &r.dst, dst)
        })
        .collect()
}

fn atoms<'c>(c: &'c Condition, out: &mut Vec<&'c Atom>) {
    match c {
        Condition::And(cs) | Condition::Or(cs) => cs.iter().for_each(|c| atoms(c, out)),
        Condition::Not(c) => atoms(c, out),
        Condition::Atom(a) => out.push(a),
        _ => {}
    }
}

/// Contexts telling apart what these rules' conditions and expiry can.
fn contexts(now: Timestamp, rules: &[&Rule]) -> Vec<Context> {
    let mut used: Vec<&Atom> = Vec::new();
    let mut expiries = BTreeSet::new();
    for r in rules {
        atoms(&r.condition, &mut used);
        expiries.extend(r.expires.map(seg_ir::Expiry::end));
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
    let timed = minutes.len() > 1 || days || !expiries.is_empty();
    let mut instants: BTreeSet<Timestamp> = BTreeSet::from([now]);
    if timed {
        for day in 0..7 {
            let start = now.date().add_days(day).start().0;
            for m in &minutes {
                instants.insert(Timestamp(start + m * 60 - 1));
                instants.insert(Timestamp(start + m * 60));
            }
        }
        for end in &expiries {
            instants.extend([Timestamp(end.0 - 1), *end, Timestamp(end.0 + 7 * 86_400)]);
        }
    }
    let has = |f: &dyn Fn(&Atom) -> bool| used.iter().any(|a| f(a));
    let mtls: Vec<bool> = if has(&|a| matches!(a, Atom::Mtls)) {
        vec![false, true]
    } else {
        vec![false]
    };
    let request = |field: RequestField, values: &[&str]| -> Vec<Option<String>> {
        if has(&|a| matches!(a, Atom::Request { field: f, .. } if *f == field)) {
            std::iter::once(None)
                .chain(values.iter().map(|v| Some(v.to_string())))
                .collect()
        } else {
            vec![None]
        }
    };
    let methods = request(RequestField::Method, &["GET", "HEAD", "POST"]);
    // One path per combination of the generator's globs `/api/*`, `*`, `/a*i/*`.
    let paths = request(RequestField::Path, &["/api/x", "/aXi/y", ""]);
    let input = |name: &str, values: Vec<Value>| -> Vec<Option<Value>> {
        if has(&|a| matches!(a, Atom::Context { name: n, .. } if n == name)) {
            std::iter::once(None)
                .chain(values.into_iter().map(Some))
                .collect()
        } else {
            vec![None]
        }
    };
    let s = |v: &str| Value::String(v.into());
    let regions = input("region", vec![s("eu"), s("us")]);
    let glass = input("break_glass", vec![Value::Bool(true), Value::Bool(false)]);
    let tickets = input("ticket", vec![s("T-1")]);
    let mut out = Vec::new();
    for &at in instants.iter().filter(|t| **t >= now) {
        for &m in &mtls {
            for method in &methods {
                for path in &paths {
                    for region in &regions {
                        for g in &glass {
                            for t in &tickets {
                                let mut context = BTreeMap::new();
                                for (k, v) in
                                    [("region", region), ("break_glass", g), ("ticket", t)]
                                {
                                    if let Some(v) = v {
                                        context.insert(k.to_string(), v.clone());
                                    }
                                }
                                out.push(Context {
                                    at,
                                    mtls: m,
                                    method: method.clone(),
                                    path: path.clone(),
                                    context,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The reference decision on one side; a name the side lacks is denied.
fn reference(
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

fn check(a: &Program, b: &Program) -> Result<usize, TestCaseError> {
    let d = diff(&side(a, "old"), &side(b, "new"));
    prop_assert!(d.complete);
    // No invented change: every row's witness is decided differently.
    for row in &d.changes {
        let w = &row.witness;
        let ctx = w.context();
        let before = reference(a, &w.src, &w.dst, w.protocol, w.port, &ctx);
        let after = reference(b, &w.src, &w.dst, w.protocol, w.port, &ctx);
        prop_assert_ne!(before, after, "witness {:?} of row {:?}", w, row);
        prop_assert_eq!(row.before.allows(&ctx), before);
        prop_assert_eq!(row.after.allows(&ctx), after);
    }
    // No missed change, no invented change: every boundary flow. Both
    // decisions depend only on the rules whose sets and services hold the
    // endpoints and port, and on the context; the diff's answer only on the
    // row holding them and the context. So a sweep over the contexts is
    // needed once per (rules old, rules new, row): flows that repeat all
    // three get the same answers.
    let mut checked = 0;
    let mut swept: BTreeSet<(Vec<u32>, Vec<u32>, Option<usize>)> = BTreeSet::new();
    let ports = ports(a, b);
    let ends = endpoints(a, b);
    for src in &ends {
        for dst in &ends {
            for &(proto, port) in &ports {
                let mut lists = [Vec::new(), Vec::new()];
                let mut rules = Vec::new();
                for (k, p) in [a, b].into_iter().enumerate() {
                    if let (Some(s), Some(t)) = (src.resolve(p), dst.resolve(p)) {
                        let found = structural(p, s, t, proto, port);
                        lists[k] = found.iter().map(|r| r.id.0).collect();
                        rules.extend(found);
                    }
                }
                let probe = FlowRef {
                    src: src.clone(),
                    dst: dst.clone(),
                    protocol: proto,
                    port,
                    context: Context::at(b.now),
                };
                let row = d.changes.iter().position(|r| r.holds(&probe));
                let [old, new] = lists;
                if !swept.insert((old, new, row)) {
                    continue;
                }
                for ctx in contexts(b.now, &rules) {
                    let before = reference(a, src, dst, proto, port, &ctx);
                    let after = reference(b, src, dst, proto, port, &ctx);
                    let flow = FlowRef {
                        context: ctx,
                        ..probe.clone()
                    };
                    prop_assert_eq!(
                        before != after,
                        d.reports(&flow),
                        "flow {:?}: old {}, new {}; row {:?}",
                        flow,
                        before,
                        after,
                        d.row_of(&flow)
                    );
                    checked += 1;
                }
            }
        }
    }
    Ok(checked)
}

fn cases() -> u32 {
    std::env::var("SEG_DIFF_EXACT_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn the_diff_is_exact_on_every_boundary_flow((a, b) in pair()) {
        check(&a, &b)?;
    }

    #[test]
    fn a_program_against_itself_and_a_reordered_copy_is_no_change(a in sg::program(cfg())) {
        let d = diff(&side(&a, "old"), &side(&a, "new"));
        prop_assert!(d.is_empty());
        let mut reordered = sg::empty_program(a.identities.to_vec());
        for r in a.rules.iter().rev() {
            sg::push_rule(&mut reordered, r.clone());
        }
        let d = diff(&side(&a, "old"), &side(&reordered, "new"));
        prop_assert!(d.is_empty(), "{:?}", d.changes);
    }
}

#[test]
fn address_regions_are_exact_around_an_identity_that_moved() {
    // Not random: an identity's address moves out of a network the rule names.
    let ids = |addr: &str| {
        let mut p = sg::empty_program(Vec::new());
        let mut i = p.identities.to_vec();
        let _ = &mut p;
        i.push(Identity {
            id: IdentityId(0),
            name: "db".into(),
            kind: seg_ir::IdentityKind::Workload,
            owner: None,
            attributes: BTreeMap::new(),
            labels: BTreeMap::new(),
            addresses: vec![addr.parse().expect("net")],
            kubernetes: None,
            aws: None,
            gcp: None,
            spiffe: None,
            origin: seg_diag::Span::new(seg_diag::FileId(0), 0, 0),
        });
        i
    };
    let program = |addr: &str| {
        let identities = ids(addr);
        let mut p = sg::empty_program(identities.clone());
        let mut src = EndpointSet {
            networks: CidrSet::from_net("192.0.2.0/24".parse().expect("net")),
            ..EndpointSet::default()
        };
        sg::close(&mut src, &identities);
        let dst = EndpointSet {
            identities: BTreeSet::from([IdentityId(0)]),
            ..EndpointSet::default()
        };
        sg::push_rule(
            &mut p,
            Rule {
                id: seg_ir::RuleId(0),
                action: seg_ir::Action::Allow,
                src,
                dst,
                services: seg_ir::PortSet::ports(Protocol::Tcp, 5432, 5432),
                condition: Condition::True,
                expires: None,
                provenance: a_provenance(),
            },
        );
        p
    };
    let (a, b) = (program("192.0.2.7/32"), program("10.9.9.9/32"));
    let checked = check(&a, &b).expect("exact");
    assert!(checked > 0);
    let d = diff(&side(&a, "old"), &side(&b, "new"));
    // db as a source moved out of 192.0.2.0/24: db -> db is no longer allowed,
    // because its address changed; 192.0.2.7 is no longer db's as a
    // destination, 10.9.9.9 now is. Its old address stays apart from the
    // rest of the network: its rows name db's address change.
    assert_eq!(
        (d.summary.newly_allowed, d.summary.newly_denied),
        (2, 3),
        "{:#?}",
        d.changes
    );
    assert_eq!(d.identities.changed.len(), 1);
    let db = d
        .changes
        .iter()
        .find(|r| r.src.identities == ["db"] && r.dst.identities == ["db"])
        .expect("db -> db");
    assert_eq!(db.change, seg_diff::Change::NewlyDenied);
    assert_eq!(db.src.causes[0].field, "addresses");
}

fn a_provenance() -> seg_ir::Provenance {
    seg_ir::Provenance {
        label: "x/1".into(),
        id: "x#1".into(),
        file: "x.seg".into(),
        line: 1,
        column: 1,
        policy: "x".into(),
        owner: None,
        doc: None,
        reason: None,
        origin: seg_diag::Span::new(seg_diag::FileId(0), 0, 0),
    }
}
