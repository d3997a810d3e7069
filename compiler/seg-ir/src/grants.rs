//! Denies compiled into allow sets, for targets without native deny
//! (Kubernetes NetworkPolicy, AWS security groups).
//!
//! Input: a program (normally the output of the capability pass for such a
//! target). Output: [`Grant`]s, pieces of the allows with every deny's box
//! (source × destination × services) carved out, in allow order.
//!
//! Invariants:
//! - Every deny is carved as if unconditional and always live. After the
//!   capability pass a deny on a target without native deny is always
//!   unconditional; a conditional deny that reaches this function anyway is
//!   treated as unconditional, which denies more (fail closed). Likewise a
//!   deny's `expires` is ignored: its hole stays after it expires.
//! - Membership is exact (see [`crate::eval`]): the grants allow exactly the
//!   flows that "some allow ∧ no deny" allows, except flows whose endpoint is
//!   an identity with addresses overlapping another identity's (W0101) or a
//!   network the identity is not a member of. Such an identity cannot stay in
//!   a piece outside a carved set without bringing the carved addresses back
//!   with it, so it stays there only as its other addresses: its identity
//!   flows are lost (fail closed), its address flows stay exact.
//! - Every grant has non-empty sources, destinations and services.

use crate::eval::{holds, live, member};
use crate::net::CidrSet;
use crate::ports::PortSet;
use crate::program::{Action, Condition, EndpointSet, Flow, IdentityId, Program, Rule, RuleId};
use serde::Serialize;

/// A piece of an allow rule left after carving out the denies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The allow it comes from (its provenance, expiry and label).
    pub rule: RuleId,
    pub src: EndpointSet,
    pub dst: EndpointSet,
    pub services: PortSet,
    /// The allow's condition.
    pub condition: Condition,
}

/// One deny, with the address sets its membership covers precomputed.
struct Hole<'p> {
    rule: &'p Rule,
    /// `networks` ∪ addresses of member identities, for source and destination.
    src_addrs: CidrSet,
    dst_addrs: CidrSet,
}

struct Carver<'p> {
    /// Each identity's addresses as a set.
    addrs: Vec<CidrSet>,
    holes: Vec<Hole<'p>>,
}

/// The allows of `program` with every deny carved out (see the module docs).
pub fn subtract_denies(program: &Program) -> Vec<Grant> {
    let addrs: Vec<CidrSet> = program
        .identities
        .iter()
        .map(|i| CidrSet::from_nets(&i.addresses))
        .collect();
    let covered = |s: &EndpointSet| {
        s.identities
            .iter()
            .filter_map(|id| addrs.get(id.0 as usize))
            .fold(s.networks.clone(), |acc, a| acc.union(a))
    };
    let holes: Vec<Hole> = program
        .rules
        .iter()
        .filter(|r| r.action == Action::Deny)
        .map(|rule| Hole {
            rule,
            src_addrs: covered(&rule.src),
            dst_addrs: covered(&rule.dst),
        })
        .collect();
    let carver = Carver { addrs, holes };
    let mut grants = Vec::new();
    for rule in program.rules.iter().filter(|r| r.action == Action::Allow) {
        let mut pieces = vec![Piece {
            src: rule.src.clone(),
            dst: rule.dst.clone(),
            services: rule.services.clone(),
        }];
        for hole in &carver.holes {
            pieces = pieces
                .into_iter()
                .flat_map(|p| carver.carve(p, hole))
                .collect();
        }
        grants.extend(pieces.into_iter().filter(Piece::is_live).map(|p| Grant {
            rule: rule.id,
            src: p.src,
            dst: p.dst,
            services: p.services,
            condition: rule.condition.clone(),
        }));
    }
    grants
}

/// Whether some grant allows the flow: the flow is in its box, its allow is
/// live at `flow.at` and the allow's condition holds.
pub fn grant_allows(program: &Program, grants: &[Grant], flow: &Flow) -> bool {
    grants.iter().any(|g| {
        let Some(rule) = program.rules.iter().find(|r| r.id == g.rule) else {
            return false;
        };
        g.services.contains(flow.protocol, flow.port)
            && live(rule.expires, flow.at)
            && member(program, &g.dst, flow.dst)
            && member(program, &g.src, flow.src)
            && holds(&g.condition, flow)
    })
}

#[derive(Clone, Debug)]
struct Piece {
    src: EndpointSet,
    dst: EndpointSet,
    services: PortSet,
}

impl Piece {
    /// Whether some flow is in the piece.
    fn is_live(&self) -> bool {
        !is_empty(&self.src) && !is_empty(&self.dst) && !self.services.is_empty()
    }
}

impl Carver<'_> {
    /// `piece − hole` as at most three disjoint non-empty pieces.
    fn carve(&self, piece: Piece, hole: &Hole) -> Vec<Piece> {
        let deny = hole.rule;
        let services = piece.services.intersect(&deny.services);
        if services.is_empty() {
            return vec![piece];
        }
        let src_in = self.intersect(&piece.src, &deny.src, &hole.src_addrs);
        if is_empty(&src_in) {
            return vec![piece];
        }
        let dst_in = self.intersect(&piece.dst, &deny.dst, &hole.dst_addrs);
        if is_empty(&dst_in) {
            return vec![piece];
        }
        let candidates = [
            Piece {
                src: self.difference(&piece.src, &deny.src, &hole.src_addrs),
                ..piece.clone()
            },
            Piece {
                src: src_in.clone(),
                dst: self.difference(&piece.dst, &deny.dst, &hole.dst_addrs),
                services: piece.services.clone(),
            },
            Piece {
                src: src_in,
                dst: dst_in,
                services: piece.services.difference(&deny.services),
            },
        ];
        candidates
            .into_iter()
            .filter(|p| !is_empty(&p.src) && !is_empty(&p.dst) && !p.services.is_empty())
            .collect()
    }

    /// Members of `a` that are not members of `b` (`b_addrs`: the addresses `b` covers).
    fn difference(&self, a: &EndpointSet, b: &EndpointSet, b_addrs: &CidrSet) -> EndpointSet {
        if is_subset(a, b, b_addrs) {
            return EndpointSet::default();
        }
        // An identity whose addresses meet `b` would bring those addresses
        // back: it stays only as its other addresses.
        let mut identities = std::collections::BTreeSet::new();
        let mut networks = a.networks.difference(b_addrs);
        for &id in a.identities.difference(&b.identities) {
            match self.addrs.get(id.0 as usize) {
                Some(own) if !own.is_empty() && own.overlaps(b_addrs) => {
                    networks = networks.union(&own.difference(b_addrs));
                }
                _ => {
                    identities.insert(id);
                }
            }
        }
        let explicit = a.explicit.intersection(&identities).copied().collect();
        EndpointSet {
            identities,
            explicit,
            networks,
        }
    }

    /// Members of both `a` and `b`.
    fn intersect(&self, a: &EndpointSet, b: &EndpointSet, b_addrs: &CidrSet) -> EndpointSet {
        if is_subset(a, b, b_addrs) {
            return a.clone();
        }
        let identities: std::collections::BTreeSet<IdentityId> =
            a.identities.intersection(&b.identities).copied().collect();
        let mut networks = a.networks.intersect(b_addrs);
        // Addresses of `a`'s other identities that `b` covers stay members as addresses.
        for id in a.identities.difference(&b.identities) {
            if let Some(own) = self.addrs.get(id.0 as usize)
                && !own.is_empty()
                && own.overlaps(b_addrs)
            {
                networks = networks.union(&own.intersect(b_addrs));
            }
        }
        let explicit = a.explicit.intersection(&identities).copied().collect();
        EndpointSet {
            identities,
            explicit,
            networks,
        }
    }
}

fn is_subset(a: &EndpointSet, b: &EndpointSet, b_addrs: &CidrSet) -> bool {
    a.identities.is_subset(&b.identities) && a.networks.is_subset(b_addrs)
}

fn is_empty(s: &EndpointSet) -> bool {
    s.identities.is_empty() && s.networks.is_empty()
}
