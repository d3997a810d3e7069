//! Semantic edits of an estate model: what a pull request does to a policy
//! and its inventory. Rules are added, removed, narrowed and widened (a side
//! intersected with or joined to another set, services replaced), denies
//! carved out of allows, conditions and expiry changed; identities added,
//! removed and re-labelled (team, env, tier: they join and leave segments).
//!
//! Like the model, an edit names what it changes by small numbers resolved
//! modulo what exists, so every edit applies to every model and the result
//! renders to a valid estate. `seg diff` is checked on `(model, edited)`
//! pairs ([`edited`]).

use super::model::*;
use proptest::prelude::*;

/// One change to an estate model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// A new rule at the end of a policy.
    AddRule {
        policy: u8,
        rule: Box<RuleSpec>,
    },
    RemoveRule {
        pick: u8,
    },
    /// One side becomes `side & with`.
    Narrow {
        pick: u8,
        src: bool,
        with: SetExpr,
    },
    /// One side becomes `side | with`.
    Widen {
        pick: u8,
        src: bool,
        with: SetExpr,
    },
    /// Other services.
    Services {
        pick: u8,
        services: Vec<SvcItem>,
    },
    /// A deny carved out of an allow.
    AddDeny {
        policy: u8,
        carve: Carve,
    },
    /// Another condition, or none.
    Condition {
        pick: u8,
        when: Option<Cond>,
    },
    /// Another expiry (an index into [`EXPIRY_DAYS`]), or none.
    Expiry {
        pick: u8,
        expires: Option<u8>,
    },
    AddIdentity {
        identity: Box<IdentitySpec>,
    },
    RemoveIdentity {
        pick: u8,
    },
    /// Another team, env and tier for an identity.
    Relabel {
        pick: u8,
        team: u8,
        env: Option<u8>,
        tier: Option<u8>,
    },
}

/// A random edit.
pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => (any::<u8>(), rule()).prop_map(|(policy, r)| Edit::AddRule { policy, rule: Box::new(r) }),
        2 => any::<u8>().prop_map(|pick| Edit::RemoveRule { pick }),
        1 => (any::<u8>(), any::<bool>(), set_expr()).prop_map(|(pick, src, with)| Edit::Narrow { pick, src, with }),
        1 => (any::<u8>(), any::<bool>(), set_expr()).prop_map(|(pick, src, with)| Edit::Widen { pick, src, with }),
        1 => (any::<u8>(), prop::collection::vec(svc_item(), 1..=2)).prop_map(|(pick, services)| Edit::Services { pick, services }),
        2 => (any::<u8>(), any::<u8>(), any::<bool>(), prop::bool::weighted(0.3), any::<u8>())
            .prop_map(|(policy, allow, narrow_src, port_only, pick)| Edit::AddDeny {
                policy,
                carve: Carve { allow, narrow_src, port_only, pick },
            }),
        2 => (any::<u8>(), prop::option::weighted(0.7, cond())).prop_map(|(pick, when)| Edit::Condition { pick, when }),
        1 => (any::<u8>(), prop::option::weighted(0.7, 0..EXPIRY_DAYS.len() as u8))
            .prop_map(|(pick, expires)| Edit::Expiry { pick, expires }),
        1 => identity(false).prop_map(|i| Edit::AddIdentity { identity: Box::new(i) }),
        1 => any::<u8>().prop_map(|pick| Edit::RemoveIdentity { pick }),
        2 => (any::<u8>(), 0..3u8, prop::option::of(0..3u8), prop::option::of(1..4u8))
            .prop_map(|(pick, team, env, tier)| Edit::Relabel { pick, team, env, tier }),
    ]
}

/// The rule a pick names: (policy, index) over every rule in order.
fn rule_at(m: &EstateModel, pick: u8) -> Option<(usize, usize)> {
    let all: Vec<(usize, usize)> = m
        .policies
        .iter()
        .enumerate()
        .flat_map(|(p, pol)| (0..pol.rules.len()).map(move |r| (p, r)))
        .collect();
    (!all.is_empty()).then(|| all[pick as usize % all.len()])
}

impl Edit {
    /// The model with this edit made.
    pub fn apply(&self, m: &EstateModel) -> EstateModel {
        let mut out = m.clone();
        match self {
            Edit::AddRule { policy, rule: r } => {
                if let Some(p) = pick_mut(&mut out.policies, *policy) {
                    p.rules.push(r.as_ref().clone());
                }
            }
            Edit::RemoveRule { pick } => {
                if let Some((p, r)) = rule_at(&out, *pick) {
                    out.policies[p].rules.remove(r);
                    if out.policies[p].rules.is_empty() {
                        out.policies.remove(p);
                    }
                }
            }
            Edit::Narrow { pick, src, with } | Edit::Widen { pick, src, with } => {
                let widen = matches!(self, Edit::Widen { .. });
                if let Some(r) = rule_mut(&mut out, *pick) {
                    // A carved deny takes its sets from its allow: edit it plainly.
                    r.carve = None;
                    let side = if *src { &mut r.src } else { &mut r.dst };
                    let (a, b) = (Box::new(side.clone()), Box::new(with.clone()));
                    *side = if widen {
                        SetExpr::Union(a, b)
                    } else {
                        SetExpr::Inter(a, b)
                    };
                }
            }
            Edit::Services { pick, services } => {
                if let Some(r) = rule_mut(&mut out, *pick) {
                    r.carve = None;
                    r.services.clone_from(services);
                }
            }
            Edit::AddDeny { policy, carve } => {
                if let Some(p) = pick_mut(&mut out.policies, *policy) {
                    p.rules.push(RuleSpec {
                        deny: true,
                        both: false,
                        src: SetExpr::Any,
                        dst: SetExpr::Any,
                        services: vec![SvcItem::Any],
                        when: None,
                        expires: None,
                        owner: false,
                        reason: false,
                        doc: false,
                        carve: Some(carve.clone()),
                    });
                }
            }
            Edit::Condition { pick, when } => {
                if let Some(r) = rule_mut(&mut out, *pick) {
                    r.when.clone_from(when);
                }
            }
            Edit::Expiry { pick, expires } => {
                if let Some(r) = rule_mut(&mut out, *pick) {
                    r.expires = *expires;
                }
            }
            Edit::AddIdentity { identity } => {
                let next = out
                    .identities
                    .iter()
                    .map(|i| i.ordinal)
                    .max()
                    .map_or(0, |o| o.saturating_add(1));
                if next < u8::MAX {
                    let mut i = identity.as_ref().clone();
                    i.ordinal = next;
                    out.identities.push(i);
                }
            }
            Edit::RemoveIdentity { pick } => {
                if out.identities.len() > 1 {
                    let k = *pick as usize % out.identities.len();
                    out.identities.remove(k);
                }
            }
            Edit::Relabel {
                pick,
                team,
                env,
                tier,
            } => {
                if let Some(i) = pick_mut(&mut out.identities, *pick) {
                    i.team = *team;
                    i.env = *env;
                    i.tier = *tier;
                }
            }
        }
        out
    }
}

fn rule_mut(m: &mut EstateModel, pick: u8) -> Option<&mut RuleSpec> {
    let (p, r) = rule_at(m, pick)?;
    m.policies.get_mut(p)?.rules.get_mut(r)
}

fn pick_mut<T>(v: &mut [T], pick: u8) -> Option<&mut T> {
    let n = v.len();
    (n > 0).then(|| &mut v[pick as usize % n])
}

/// A model and the same model after one to three edits.
pub fn edited(cfg: EstateConfig) -> BoxedStrategy<(EstateModel, EstateModel)> {
    (model(cfg), prop::collection::vec(edit(), 1..=3))
        .prop_map(|(m, edits)| {
            let after = edits.iter().fold(m.clone(), |acc, e| e.apply(&acc));
            (m, after)
        })
        .boxed()
}
