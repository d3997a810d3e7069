//! The reference evaluator: LANGUAGE.md §4 over a checked [`Program`].
//!
//! Input: a program and a [`Flow`]. Output: a [`Decision`] naming every live
//! rule that matched. Every backend is verified against this function, run on
//! the program the capability pass prepared for it (see docs/semantics.md).
//!
//! Semantics, exactly:
//! - default deny; allowed iff some live `allow` matches and no live `deny`
//!   matches (deny overrides allow, order is irrelevant);
//! - a rule matches when the source and destination are members of its sets,
//!   (protocol, port) is in its services, it has not expired at the flow's
//!   instant ([`live`]: `at < expires.end()`, to the second) and its condition holds;
//! - membership: an identity endpoint is a member iff it is in
//!   `EndpointSet::identities`; an address endpoint iff it lies in `networks`
//!   or in an address of a member identity;
//! - conditions: see [`holds`].
//!
//! [`decide`] scans every rule; [`Evaluator`] indexes the program once for
//! callers that decide many flows.

use crate::program::{
    Action, Atom, Condition, EndpointSet, Flow, FlowEndpoint, IdentityId, Program, RequestField,
    Rule, RuleId, Value, ValueTest,
};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;

/// The reference decision for one flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Every live rule that matched, allows and denies, in program order.
    pub matched: Vec<RuleId>,
    /// The denies that matched when a deny decided; else the allows that
    /// allowed; empty when nothing allowed the flow (default deny).
    pub deciding: Vec<RuleId>,
}

impl Decision {
    fn from_matches<'r>(matched: impl Iterator<Item = &'r Rule>) -> Decision {
        let (mut all, mut allows, mut denies) = (Vec::new(), Vec::new(), Vec::new());
        for rule in matched {
            all.push(rule.id);
            match rule.action {
                Action::Allow => allows.push(rule.id),
                Action::Deny => denies.push(rule.id),
            }
        }
        let allowed = denies.is_empty() && !allows.is_empty();
        let deciding = if !denies.is_empty() { denies } else { allows };
        Decision {
            allowed,
            matched: all,
            deciding,
        }
    }

    /// One line for people: `allowed by ledger-access/1 (policy/payments.seg:17)`,
    /// `denied by ...`, or `denied by default: no allow rule matched`.
    pub fn reason(&self, program: &Program) -> String {
        let names = |ids: &[RuleId]| {
            ids.iter()
                .filter_map(|id| program.rules.iter().find(|r| r.id == *id))
                .map(|r| format!("{} ({})", r.provenance.label, r.provenance.location()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.deciding.is_empty() {
            "denied by default: no allow rule matched".to_string()
        } else if self.allowed {
            format!("allowed by {}", names(&self.deciding))
        } else {
            format!("denied by {}", names(&self.deciding))
        }
    }
}

/// The reference decision for `flow` (a scan of every rule).
pub fn decide(program: &Program, flow: &Flow) -> Decision {
    let src_owners = owners_by_scan(program, flow.src);
    let dst_owners = owners_by_scan(program, flow.dst);
    Decision::from_matches(
        program
            .rules
            .iter()
            .filter(|r| rule_matches(r, flow, &src_owners, &dst_owners)),
    )
}

/// Whether the endpoint is a member of the set (see the module docs).
pub fn member(program: &Program, set: &EndpointSet, endpoint: FlowEndpoint) -> bool {
    in_set(set, endpoint, &owners_by_scan(program, endpoint))
}

/// Whether a rule is live at `flow.at` and matches the flow.
pub fn matches(program: &Program, rule: &Rule, flow: &Flow) -> bool {
    rule_matches(
        rule,
        flow,
        &owners_by_scan(program, flow.src),
        &owners_by_scan(program, flow.dst),
    )
}

/// Whether a rule with this `expires` is live at the instant: the one place
/// that decides liveness. A day-expiry is live through the whole of its UTC
/// day; an instant-expiry is live up to the second before it and gone at it.
pub fn live(expires: Option<crate::time::Expiry>, at: crate::time::Timestamp) -> bool {
    expires.is_none_or(|e| at < e.end())
}

/// The identities owning an address endpoint (one of their addresses
/// contains it); empty for identity endpoints.
fn owners_by_scan(program: &Program, endpoint: FlowEndpoint) -> Vec<IdentityId> {
    match endpoint {
        FlowEndpoint::Identity(_) => Vec::new(),
        FlowEndpoint::Address(addr) => program
            .identities
            .iter()
            .filter(|i| i.addresses.iter().any(|n| n.contains(&addr)))
            .map(|i| i.id)
            .collect(),
    }
}

fn in_set(set: &EndpointSet, endpoint: FlowEndpoint, owners: &[IdentityId]) -> bool {
    match endpoint {
        FlowEndpoint::Identity(id) => set.identities.contains(&id),
        FlowEndpoint::Address(addr) => {
            set.networks.contains(addr) || owners.iter().any(|o| set.identities.contains(o))
        }
    }
}

fn rule_matches(
    rule: &Rule,
    flow: &Flow,
    src_owners: &[IdentityId],
    dst_owners: &[IdentityId],
) -> bool {
    rule.services.contains(flow.protocol, flow.port)
        && live(rule.expires, flow.at)
        && in_set(&rule.dst, flow.dst, dst_owners)
        && in_set(&rule.src, flow.src, src_owners)
        && holds(&rule.condition, flow)
}

/// Whether a dynamic condition holds for the flow's context.
///
/// - `Time { start, end }`: the UTC second of day `s` satisfies
///   `start*60 <= s < end*60`, or when `end <= start` (crossing midnight)
///   `s >= start*60 || s < end*60`;
/// - `Days { mask }`: bit `weekday` (Monday = 0) of the flow's UTC date is set;
/// - `Mtls`: the flow is mutually authenticated;
/// - `Request`/`Context`: the [`ValueTest`] on the value; a missing value fails it.
pub fn holds(condition: &Condition, flow: &Flow) -> bool {
    match condition {
        Condition::True => true,
        Condition::False => false,
        Condition::And(cs) => cs.iter().all(|c| holds(c, flow)),
        Condition::Or(cs) => cs.iter().any(|c| holds(c, flow)),
        Condition::Not(c) => !holds(c, flow),
        Condition::Atom(a) => atom_holds(a, flow),
    }
}

/// Whether one atom holds for the flow.
pub fn atom_holds(atom: &Atom, flow: &Flow) -> bool {
    match atom {
        Atom::Time { start, end } => {
            let s = flow.at.second_of_day();
            let (lo, hi) = (i64::from(start.0) * 60, i64::from(end.0) * 60);
            if lo < hi {
                lo <= s && s < hi
            } else {
                s >= lo || s < hi
            }
        }
        Atom::Days { mask } => mask & (1 << flow.at.weekday().0) != 0,
        Atom::Mtls => flow.mtls,
        Atom::Request { field, test } => {
            let v = match field {
                RequestField::Method => flow.method.as_ref(),
                RequestField::Path => flow.path.as_ref(),
            };
            value_test(test, v.map(|s| Value::String(s.clone())).as_ref())
        }
        Atom::Context { name, test } => value_test(test, flow.context.get(name)),
    }
}

/// A test on a runtime value; a missing value fails every test.
pub fn value_test(test: &ValueTest, value: Option<&Value>) -> bool {
    let Some(value) = value else { return false };
    match test {
        ValueTest::In(vs) => vs.contains(value),
        ValueTest::Glob(pattern) => matches!(value, Value::String(s) if glob(pattern, s)),
        ValueTest::IsTrue => *value == Value::Bool(true),
        ValueTest::Present => true,
    }
}

/// `*` matches any run of characters, `/` included; every other character is literal.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen and the text position it currently absorbs up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A program indexed for deciding many flows: rules by destination identity,
/// addresses by prefix. Gives the same decisions as [`decide`].
pub struct Evaluator<'p> {
    program: &'p Program,
    /// Per identity id: the rules whose destination set contains it.
    by_dst: Vec<Vec<u32>>,
    /// Rules whose destination set has networks (candidates for every
    /// address destination, besides the rules of the address's owners).
    by_dst_network: Vec<u32>,
    /// Identity addresses grouped by prefix length, for owner lookups.
    owners: Vec<(u8, HashMap<IpNet, Vec<IdentityId>>)>,
}

impl<'p> Evaluator<'p> {
    pub fn new(program: &'p Program) -> Evaluator<'p> {
        let mut by_dst = vec![Vec::new(); program.identities.len()];
        let mut by_dst_network = Vec::new();
        for (i, rule) in program.rules.iter().enumerate() {
            for id in &rule.dst.identities {
                if let Some(v) = by_dst.get_mut(id.0 as usize) {
                    v.push(i as u32);
                }
            }
            if !rule.dst.networks.is_empty() {
                by_dst_network.push(i as u32);
            }
        }
        let mut lens: HashMap<u8, HashMap<IpNet, Vec<IdentityId>>> = HashMap::new();
        for identity in &program.identities {
            for net in &identity.addresses {
                // IPv4 prefix lengths as they are, IPv6 ones shifted past them.
                let key = if net.addr().is_ipv4() {
                    net.prefix_len()
                } else {
                    64 + net.prefix_len()
                };
                lens.entry(key)
                    .or_default()
                    .entry(net.trunc())
                    .or_default()
                    .push(identity.id);
            }
        }
        let mut owners: Vec<_> = lens.into_iter().collect();
        owners.sort_by_key(|(k, _)| *k);
        Evaluator {
            program,
            by_dst,
            by_dst_network,
            owners,
        }
    }

    pub fn program(&self) -> &'p Program {
        self.program
    }

    /// The identities whose addresses contain `addr`, ascending.
    pub fn owners(&self, addr: IpAddr) -> Vec<IdentityId> {
        let mut out = Vec::new();
        for (key, nets) in &self.owners {
            let (v4, len) = if *key < 64 {
                (true, *key)
            } else {
                (false, *key - 64)
            };
            if v4 != addr.is_ipv4() {
                continue;
            }
            if let Ok(net) = IpNet::new(addr, len)
                && let Some(ids) = nets.get(&net.trunc())
            {
                out.extend(ids);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn endpoint_owners(&self, endpoint: FlowEndpoint) -> Vec<IdentityId> {
        match endpoint {
            FlowEndpoint::Identity(_) => Vec::new(),
            FlowEndpoint::Address(a) => self.owners(a),
        }
    }

    pub fn decide(&self, flow: &Flow) -> Decision {
        let src_owners = self.endpoint_owners(flow.src);
        let dst_owners = self.endpoint_owners(flow.dst);
        Decision::from_matches(
            self.candidates(flow, &src_owners, &dst_owners)
                .filter(|r| holds(&r.condition, flow)),
        )
    }

    /// The live rules whose sets and services hold the flow, in program
    /// order, before their conditions are evaluated; address endpoints are
    /// owned by the identities given (not by the program's addresses). For
    /// callers that know more about an address than the program does, such
    /// as who held it when a logged flow happened, or that decide conditions
    /// themselves.
    pub fn candidates<'a>(
        &'a self,
        flow: &'a Flow,
        src_owners: &'a [IdentityId],
        dst_owners: &'a [IdentityId],
    ) -> impl Iterator<Item = &'p Rule> + 'a {
        let mut candidates: Vec<u32> = match flow.dst {
            FlowEndpoint::Identity(id) => {
                self.by_dst.get(id.0 as usize).cloned().unwrap_or_default()
            }
            FlowEndpoint::Address(_) => {
                let mut c = self.by_dst_network.clone();
                for o in dst_owners {
                    c.extend(self.by_dst.get(o.0 as usize).into_iter().flatten());
                }
                c
            }
        };
        candidates.sort_unstable();
        candidates.dedup();
        let program = self.program;
        candidates
            .into_iter()
            .filter_map(move |i| program.rules.get(i as usize))
            .filter(move |r| {
                r.services.contains(flow.protocol, flow.port)
                    && live(r.expires, flow.at)
                    && in_set(&r.dst, flow.dst, dst_owners)
                    && in_set(&r.src, flow.src, src_owners)
            })
    }
}
