//! Each observed tuple decided by the policy, with the reference semantics
//! (`seg_ir::eval`): rule sets, services and liveness through
//! [`Evaluator::candidates`], conditions here in three values, because flow
//! logs show the instant (time windows and days are decided) but not mTLS,
//! the request or the context (those are unknown).

use crate::model::{Endpoint, TupleKey};
use crate::plan::ir_protocol;
use seg_ir::eval::{Evaluator, atom_holds};
use seg_ir::{
    Action, Atom, Condition, ConditionClass, Flow, FlowEndpoint, Program, Rule, RuleId, Timestamp,
};
use std::collections::{BTreeMap, BTreeSet};

/// A condition's value when some facts are unknown (Kleene's logic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

/// What the policy does with a tuple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    /// Denied by these deny rules, or by default when empty.
    Denied(Vec<RuleId>),
    /// Allowed only if conditions the logs cannot show hold.
    Conditional(BTreeSet<ConditionClass>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub outcome: Outcome,
    /// Rules that matched or may have matched (their condition not false).
    pub matched: Vec<RuleId>,
    /// Indexes (into [`ExpiredRules::rules`]) of expired rules that would match
    /// if they had not expired.
    pub expired: Vec<usize>,
}

/// The rules omitted because they expired, with their expiry lifted, as a
/// program of their own.
pub struct ExpiredRules {
    pub program: Program,
    /// (index of the omitted rule in `Program::omitted`) per rule.
    pub source: Vec<usize>,
}

impl ExpiredRules {
    pub fn new(program: &Program) -> ExpiredRules {
        let mut rules = Vec::new();
        let mut source = Vec::new();
        for (i, o) in program.omitted.iter().enumerate() {
            for r in &o.rules {
                rules.push(Rule {
                    id: RuleId(rules.len() as u32),
                    expires: None,
                    ..r.clone()
                });
                source.push(i);
            }
        }
        ExpiredRules {
            program: Program {
                rules,
                omitted: Vec::new(),
                tests: Vec::new(),
                ..program.clone()
            },
            source,
        }
    }
}

/// The IR flow of a tuple at an instant. Addresses nobody held belong to no
/// identity (their owners are not looked up in the program).
pub fn flow_of(key: &TupleKey, at: Timestamp) -> Flow {
    let endpoint = |e: &Endpoint| match e {
        Endpoint::Identity(id) => FlowEndpoint::Identity(*id),
        Endpoint::Address(ip) | Endpoint::Workload(_, ip) => FlowEndpoint::Address(*ip),
    };
    Flow {
        src: endpoint(&key.src),
        dst: endpoint(&key.dst),
        protocol: ir_protocol(key.protocol),
        port: key.port,
        at,
        mtls: false,
        method: None,
        path: None,
        context: BTreeMap::new(),
    }
}

pub fn evaluate(
    live: &Evaluator<'_>,
    expired: &Evaluator<'_>,
    key: &TupleKey,
    at: Timestamp,
) -> Evaluation {
    let flow = flow_of(key, at);
    let mut classes = BTreeSet::new();
    let (mut def_allow, mut pos_allow) = (false, false);
    let (mut def_deny, mut pos_deny) = (Vec::new(), false);
    let mut matched = Vec::new();
    for rule in live.candidates(&flow, &[], &[]) {
        let t = truth(&rule.condition, &flow, &mut classes);
        if t == Truth::False {
            continue;
        }
        matched.push(rule.id);
        match (rule.action, t) {
            (Action::Allow, Truth::True) => {
                def_allow = true;
                pos_allow = true;
            }
            (Action::Allow, _) => pos_allow = true,
            (Action::Deny, Truth::True) => {
                def_deny.push(rule.id);
                pos_deny = true;
            }
            (Action::Deny, _) => pos_deny = true,
        }
    }
    let outcome = if !def_deny.is_empty() {
        Outcome::Denied(def_deny)
    } else if !pos_allow {
        Outcome::Denied(Vec::new())
    } else if def_allow && !pos_deny {
        Outcome::Allowed
    } else {
        Outcome::Conditional(classes)
    };
    let mut ignored = BTreeSet::new();
    let expired = expired
        .candidates(&flow, &[], &[])
        .filter(|r| truth(&r.condition, &flow, &mut ignored) != Truth::False)
        .map(|r| r.id.0 as usize)
        .collect();
    Evaluation {
        outcome,
        matched,
        expired,
    }
}

/// A condition over what the logs show: time and days are decided at the
/// flow's instant; mTLS, request and context are unknown (their classes are
/// collected).
pub fn truth(c: &Condition, flow: &Flow, unknown: &mut BTreeSet<ConditionClass>) -> Truth {
    match c {
        Condition::True => Truth::True,
        Condition::False => Truth::False,
        Condition::And(cs) => {
            let mut out = Truth::True;
            for c in cs {
                match truth(c, flow, unknown) {
                    Truth::False => return Truth::False,
                    Truth::Unknown => out = Truth::Unknown,
                    Truth::True => {}
                }
            }
            out
        }
        Condition::Or(cs) => {
            let mut out = Truth::False;
            for c in cs {
                match truth(c, flow, unknown) {
                    Truth::True => return Truth::True,
                    Truth::Unknown => out = Truth::Unknown,
                    Truth::False => {}
                }
            }
            out
        }
        Condition::Not(c) => match truth(c, flow, unknown) {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        },
        Condition::Atom(a @ (Atom::Time { .. } | Atom::Days { .. })) => {
            if atom_holds(a, flow) {
                Truth::True
            } else {
                Truth::False
            }
        }
        Condition::Atom(a) => {
            unknown.insert(a.class());
            Truth::Unknown
        }
    }
}
