//! The diff is exact: on random pairs of programs (a program and an edited
//! copy: rules removed, added, re-conditioned, re-aimed; identities re-labelled,
//! re-addressed, added, removed), for every boundary flow, the reference
//! evaluator decides differently on the two sides iff the diff reports the
//! flow; and every row's witness is such a flow (`tests/src/diffcheck.rs`).

#[path = "../../../tests/src/gen.rs"]
#[allow(dead_code)]
mod strategies;

#[path = "../../../tests/src/diffcheck.rs"]
mod diffcheck;

use proptest::prelude::*;
use proptest::sample::Index;
use seg_diff::{Side, diff};
use seg_ir::{
    CidrSet, Condition, EndpointSet, Identity, IdentityId, Program, Protocol, Rule, Value,
};
use std::collections::{BTreeMap, BTreeSet};
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

fn check(a: &Program, b: &Program) -> Result<usize, TestCaseError> {
    let d = diff(&side(a, "old"), &side(b, "new"));
    prop_assert!(d.complete);
    diffcheck::check(a, b, &d).map_err(TestCaseError::fail)
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
