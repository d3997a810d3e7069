//! IR → the data documents of the bundle (`data.seg`, `data.seg.tests`).
//!
//! Input: a program prepared for `opa` by the capability pass. Output:
//! [`SegData`]: every rule at its rule id (provenance for decisions), the
//! distinct endpoint sets, principals and address classes resolved to
//! endpoints, and the index of [`crate::index`] holding a match record per
//! rule (action, ports, expiry, condition) next to the keys that lead to it.
//!
//! Problems: two identities with one principal (E0402: OPA could not tell
//! them apart), a condition that expands too far (E0403).

use crate::addresses;
use crate::condition;
use crate::index::{self, Entry};
use crate::input;
use crate::model::{
    AddressesDoc, ContextDoc, EndpointDoc, IdentityDoc, MatchDoc, Meta, ProtocolDoc, RuleDoc,
    SegData, ServicesDoc, TestCase, TestsData,
};
use crate::rego;
use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::{
    Action, Bugs, CidrSet, ContextType, EndpointSet, IdentityId, PortRanges, PortSet, Program, Rule,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub struct Rendered {
    pub data: SegData,
    pub tests: TestsData,
    /// The most middle pieces of any glob (sizes the Rego glob matcher).
    pub glob_pieces: usize,
    /// Rules reachable through the index.
    pub indexed_rules: usize,
}

/// What the data documents are made of, with every problem found: the
/// identities, each principal's identity, and each rule's encoded condition.
pub struct Plan {
    identities: BTreeMap<String, IdentityDoc>,
    principals: BTreeMap<String, IdentityId>,
    whens: Vec<Value>,
}

/// The parts of the documents that can fail (see the module's problems).
pub fn plan(program: &Program, diags: &mut Diagnostics) -> Plan {
    let (identities, principals) = identities(program, diags);
    let whens = program
        .rules
        .iter()
        .map(|rule| match condition::encode(&rule.condition) {
            Ok(w) => w,
            Err(n) => {
                // An error stops the build; the rule still fails closed here.
                diags.push(too_large(rule, n));
                match rule.action {
                    Action::Allow => Value::Array(Vec::new()),
                    Action::Deny => Value::Null,
                }
            }
        })
        .collect();
    Plan {
        identities,
        principals,
        whens,
    }
}

/// `meaning` is the hash of the program's meaning the data records.
pub fn render(
    program: &Program,
    plan: Plan,
    header: &str,
    meaning: &str,
    bugs: &mut Bugs,
) -> Rendered {
    let Plan {
        identities,
        principals,
        whens,
    } = plan;
    let mut sets = SetTable::default();
    let rule_sets: Vec<(usize, usize)> = program
        .rules
        .iter()
        .map(|r| (sets.intern(program, &r.src), sets.intern(program, &r.dst)))
        .collect();
    let classes = addresses::classes(&sets.coverage);
    let keys: Vec<Vec<String>> = sets
        .members
        .iter()
        .zip(&classes.members)
        .map(|(ids, nets)| {
            ids.iter()
                .map(|&id| identity_key(program, id))
                .chain(nets.iter().cloned())
                .collect()
        })
        .collect();

    let names: Vec<String> = keys.iter().map(|k| set_name(k)).collect();
    let mut rules = BTreeMap::new();
    let mut entries = Vec::new();
    for ((rule, &(src, dst)), when) in program.rules.iter().zip(&rule_sets).zip(whens) {
        let never = when.as_array().is_some_and(Vec::is_empty);
        let id = &rule.provenance.id;
        let can_match =
            !never && !keys[src].is_empty() && !keys[dst].is_empty() && !rule.services.is_empty();
        if can_match {
            entries.push(Entry {
                src,
                dst,
                record: match_doc(id, rule, &when),
            });
        }
        let doc = rule_doc(rule, names[src].clone(), names[dst].clone(), when);
        if rules.insert(id.clone(), doc).is_some() {
            bugs.push(format!(
                "two rules share the id `{}` in the opa bundle",
                id.escape_debug()
            ));
        }
    }
    let indexed_rules = entries.len();
    let built = index::build(&keys, &names, entries);
    let endpoint = |key: &str| EndpointDoc {
        key: key.to_string(),
        src: built.src_sets.get(key).cloned().unwrap_or_default(),
        dst: built.dst_sets.get(key).cloned().unwrap_or_default(),
    };
    let principals = principals
        .into_iter()
        .map(|(p, id)| (p, endpoint(&identity_key(program, id))))
        .collect();
    let class_endpoints = classes
        .cidrs
        .keys()
        .map(|k| (k.clone(), endpoint(k)))
        .collect();

    let data = SegData {
        header: header.to_string(),
        meta: Meta {
            generator: format!("seg {}", env!("CARGO_PKG_VERSION")),
            project: program.project.clone(),
            meaning: meaning.to_string(),
        },
        identities,
        principals,
        contexts: program
            .contexts
            .iter()
            .map(|(n, t)| (n.clone(), context_doc(t)))
            .collect(),
        protocols: PROTOCOLS.iter().map(|&(name, p)| (name, p)).collect(),
        protocol_numbers: PROTOCOL_NUMBERS.iter().map(|&(n, p)| (n, p)).collect(),
        addresses: AddressesDoc {
            octets: (0..=255u16)
                .map(|o| (o.to_string(), format!("{o:02x}")))
                .collect(),
            v4: classes.v4.keys,
            v4_lengths: classes.v4.lengths.into_iter().collect(),
            v6: classes.v6.keys,
            v6_lengths: classes.v6.lengths.into_iter().collect(),
            endpoints: class_endpoints,
            classes: classes.cidrs,
        },
        sets: names.into_iter().zip(keys).collect(),
        rules,
        index: built.index,
    };
    let glob_pieces = condition::max_glob_pieces(program.rules.iter().map(|r| &r.condition));
    Rendered {
        data,
        tests: tests(program, header),
        glob_pieces,
        indexed_rules,
    }
}

const fn protocol(name: &'static str, ports: bool) -> ProtocolDoc {
    ProtocolDoc { name, ports }
}

const PROTOCOLS: [(&str, ProtocolDoc); 4] = [
    ("tcp", protocol("tcp", true)),
    ("udp", protocol("udp", true)),
    ("sctp", protocol("sctp", true)),
    ("icmp", protocol("icmp", false)),
];

/// The named protocols by number (ICMPv6 is `icmp` too), so a flow cannot
/// escape the port rules of TCP by being written as protocol 6.
const PROTOCOL_NUMBERS: [(&str, ProtocolDoc); 5] = [
    ("1", protocol("icmp", false)),
    ("6", protocol("tcp", true)),
    ("17", protocol("udp", true)),
    ("58", protocol("icmp", false)),
    ("132", protocol("sctp", true)),
];

fn action(a: Action) -> &'static str {
    match a {
        Action::Allow => "allow",
        Action::Deny => "deny",
    }
}

fn identity_key(program: &Program, id: IdentityId) -> String {
    format!("id:{}", program.identity(id).name)
}

/// The identities for people, and each principal's identity.
fn identities(
    program: &Program,
    diags: &mut Diagnostics,
) -> (BTreeMap<String, IdentityDoc>, BTreeMap<String, IdentityId>) {
    let mut docs = BTreeMap::new();
    let mut principals: BTreeMap<String, IdentityId> = BTreeMap::new();
    let mut first: HashMap<&str, &seg_ir::Identity> = HashMap::new();
    for identity in &program.identities {
        let principal = identity.principal();
        if let Some(other) = first.get(principal) {
            diags.push(
                Diagnostic::error(
                    Code::InvalidTargetValue,
                    format!(
                        "identities `{}` and `{}` have the same opa principal",
                        other.name, identity.name
                    ),
                )
                .with_primary(identity.origin, "same principal as another")
                .with_secondary(other.origin, "first identity with it")
                .with_note(format!(
                    "the principal is `{principal}`: the SPIFFE ID, else the name"
                ))
                .with_note("the opa bundle identifies a caller by its principal alone")
                .with_help("give each identity its own `spiffe` id"),
            );
            continue;
        }
        first.insert(principal, identity);
        principals.insert(principal.to_string(), identity.id);
        docs.insert(
            identity.name.clone(),
            IdentityDoc {
                kind: identity.kind.as_str(),
                principal: principal.to_string(),
                spiffe: identity.spiffe.clone(),
                owner: identity.owner.clone(),
                addresses: identity.addresses.iter().map(|a| a.to_string()).collect(),
            },
        );
    }
    (docs, principals)
}

fn context_doc(t: &ContextType) -> ContextDoc {
    match t {
        ContextType::String => ContextDoc {
            ty: "string",
            values: None,
        },
        ContextType::Int => ContextDoc {
            ty: "int",
            values: None,
        },
        ContextType::Bool => ContextDoc {
            ty: "bool",
            values: None,
        },
        ContextType::Enum(v) => ContextDoc {
            ty: "enum",
            values: Some(v.clone()),
        },
    }
}

/// The distinct endpoint sets of the rules, with what the policy needs of each.
#[derive(Default)]
struct SetTable<'p> {
    ids: HashMap<(&'p BTreeSet<IdentityId>, &'p CidrSet), usize>,
    /// Member identities of each set.
    members: Vec<&'p BTreeSet<IdentityId>>,
    /// Addresses in each set: its networks and its identities' addresses.
    coverage: Vec<CidrSet>,
}

impl<'p> SetTable<'p> {
    fn intern(&mut self, program: &Program, set: &'p EndpointSet) -> usize {
        let key = (&set.identities, &set.networks);
        if let Some(&i) = self.ids.get(&key) {
            return i;
        }
        let own = set
            .identities
            .iter()
            .filter_map(|id| program.identities.get(id.0 as usize))
            .flat_map(|i| i.addresses.iter());
        let coverage = set.networks.union(&CidrSet::from_nets(own));
        let i = self.members.len();
        self.ids.insert(key, i);
        self.members.push(&set.identities);
        self.coverage.push(coverage);
        i
    }
}

/// The record the policy decides a rule with.
fn match_doc(id: &str, rule: &Rule, when: &Value) -> MatchDoc {
    let s = &rule.services;
    let ranges = |r: &PortRanges| {
        r.ranges()
            .iter()
            .map(|&(lo, hi)| [lo, hi])
            .collect::<Vec<_>>()
    };
    let mut ports = BTreeMap::new();
    for (name, r) in [("tcp", &s.tcp), ("udp", &s.udp), ("sctp", &s.sctp)] {
        if !r.is_empty() {
            ports.insert(name, ranges(r));
        }
    }
    for (name, on) in [("icmp", s.icmp), ("other", s.other)] {
        if on {
            ports.insert(name, vec![[0, 0]]);
        }
    }
    let not_after = not_after(rule);
    MatchDoc {
        rule: id.to_string(),
        allow: rule.action == Action::Allow,
        plain: when.is_null() && not_after.is_none(),
        ports,
        not_after,
        when: when.clone(),
    }
}

/// The first nanosecond a rule is gone, saturated beyond any clock reading.
fn not_after(rule: &Rule) -> Option<i64> {
    rule.expires
        .map(|d| d.end().0.saturating_mul(1_000_000_000))
}

/// `s` + 16 hex digits of SHA-256 over a set's endpoint keys: the same
/// members, the same name, in every build.
fn set_name(keys: &[String]) -> String {
    let mut h = Sha256::new();
    for k in keys {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
    }
    let hex: String = h
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("s{hex}")
}

fn rule_doc(rule: &Rule, src: String, dst: String, when: Value) -> RuleDoc {
    let p = &rule.provenance;
    RuleDoc {
        action: action(rule.action),
        policy: p.policy.clone(),
        owner: p.owner.clone(),
        doc: p.doc.clone(),
        reason: p.reason.clone(),
        src,
        dst,
        services: services(&rule.services),
        expires: rule.expires.map(|d| d.to_string()),
        not_after: not_after(rule),
        when,
    }
}

fn services(s: &PortSet) -> ServicesDoc {
    let ranges = |r: &PortRanges| r.ranges().iter().map(|&(lo, hi)| [lo, hi]).collect();
    ServicesDoc {
        tcp: ranges(&s.tcp),
        udp: ranges(&s.udp),
        sctp: ranges(&s.sctp),
        icmp: s.icmp,
        other: s.other,
    }
}

fn too_large(rule: &Rule, clauses: usize) -> Diagnostic {
    Diagnostic::error(
        Code::TargetQuotaExceeded,
        format!(
            "the condition of `{}` is too large for the opa bundle",
            rule.provenance.label
        ),
    )
    .with_primary(rule.provenance.origin, "condition too large")
    .with_note(format!(
        "it expands to at least {clauses} alternatives; the bundle allows {}",
        condition::MAX_CLAUSES
    ))
    .with_help("split the rule into several rules with smaller conditions")
}

fn tests(program: &Program, header: &str) -> TestsData {
    let mut cases = Vec::new();
    for test in &program.tests {
        for e in &test.expectations {
            cases.push(TestCase {
                rule: rego::test_rule_name(cases.len() + 1, &test.name),
                test: test.name.clone(),
                expect: action(e.decision),
                input: input::for_flow(program, &e.flow),
            });
        }
    }
    TestsData {
        header: header.to_string(),
        cases,
    }
}
