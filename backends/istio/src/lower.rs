//! One rule → its Istio sources ([`Peer`]s) and operations ([`Ops`]), for
//! the workloads it protects; [`crate::merge`] folds a workload's rules into
//! fewer Istio rules.
//!
//! - Sources: identities by principal (mTLS peers); identities the mesh
//!   knows only by address, and networks, by `ipBlocks`; `any` by no `from`
//!   at all. A source the mesh cannot name exactly is left out of an allow
//!   (narrower) and widened in a deny (its namespace: broader), with W0431.
//! - Operations: TCP ports (`ports`, or `notPorts` when shorter), and
//!   `methods`/`paths` (and their `not*` forms) from `request.*` literals;
//!   each disjunct of the condition is one rule. `mtls` holds for every
//!   connection that reaches a workload (its namespace is STRICT) and
//!   `not mtls` for none.
//! - Istio mediates TCP only: UDP, SCTP, ICMP and other protocols pass the
//!   proxy untouched; a deny of them is not enforced here (W0430).

use crate::estate::Estate;
use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::capability::{Approximation, ApproximationKind, Literal, disjuncts};
use seg_ir::eval::glob;
use seg_ir::{
    Action, Atom, CidrSet, IdentityId, PortRanges, Program, RequestField, Rule, Value, ValueTest,
};
use std::collections::{BTreeMap, BTreeSet};

/// One source of an Istio rule (the sources of a rule are ORed).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    /// Every source: the rule has no `from`.
    Any,
    Principal(String),
    Namespace(String),
    /// A CIDR (`ipBlocks`).
    Block(String),
}

/// The HTTP part of an operation (each list empty: no constraint).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Http {
    pub methods: Vec<String>,
    pub not_methods: Vec<String>,
    pub paths: Vec<String>,
    pub not_paths: Vec<String>,
}

/// What a rule matches at the destination: per HTTP constraint, the TCP
/// ports (1–65535) where it applies; the entries are ORed.
pub type Ops = BTreeMap<Http, PortRanges>;

/// TCP ports Istio can name: 1–65535.
pub fn every_port() -> PortRanges {
    PortRanges::range(1, u16::MAX)
}

/// A rule as Istio matches it: any of `peers` × any of `ops`.
#[derive(Clone)]
pub struct Lowered {
    pub peers: Vec<Peer>,
    pub ops: Ops,
    /// `peers` as indices into the table of [`crate::merge::intern`]
    /// (sorted), so that merging compares numbers, not strings.
    pub ids: Vec<u32>,
}

/// One field's positive constraint: exact values, or one Istio pattern.
#[derive(Clone, Debug, PartialEq)]
enum Positive {
    Values(Vec<String>),
    Pattern(String),
}

#[derive(Clone, Debug, Default)]
struct Field {
    positive: Option<Positive>,
    negative: Vec<String>,
}

/// An Istio string pattern for a seg glob: exact, `prefix*`, `*suffix` or `*`.
fn pattern(glob_text: &str) -> Option<String> {
    let stars = glob_text.matches('*').count();
    let ok = stars == 0
        || glob_text == "*"
        || (stars == 1 && (glob_text.starts_with('*') || glob_text.ends_with('*')));
    ok.then(|| glob_text.to_string())
}

/// Whether a value Istio compares as a string would pass `p`.
fn istio_matches(p: &str, v: &str) -> bool {
    if p == "*" {
        return !v.is_empty();
    }
    glob(p, v)
}

pub struct Lowerer<'a> {
    pub program: &'a Program,
    pub estate: &'a Estate,
    pub approximations: Vec<Approximation>,
}

impl<'a> Lowerer<'a> {
    fn approximate(&mut self, rule: &Rule, kind: ApproximationKind, reason: String) {
        let a = Approximation::of("istio", rule, kind, reason);
        if !self.approximations.contains(&a) {
            self.approximations.push(a);
        }
    }

    /// The operations of a rule, one per disjunct of its condition; `None`
    /// when it matches no TCP connection.
    fn operations(&mut self, rule: &Rule, diags: &mut Diagnostics) -> Option<Ops> {
        let ports = tcp_ports(&rule.services)?;
        let deny = rule.action == Action::Deny;
        let mut out = Ops::new();
        let mut narrowed = false;
        let mut widened = false;
        let mut on_http = false;
        'disjunct: for conj in disjuncts(&rule.condition) {
            let mut fields = [Field::default(), Field::default()];
            for Literal { positive, atom } in &conj {
                match atom {
                    // Every connection that reaches the workload is mTLS (STRICT).
                    Atom::Mtls if *positive => {}
                    Atom::Mtls => continue 'disjunct,
                    Atom::Request { field, test } => {
                        on_http = true;
                        let f = &mut fields[usize::from(*field == RequestField::Path)];
                        match (positive, test) {
                            (true, ValueTest::In(values)) => {
                                let vs: Vec<String> = values
                                    .iter()
                                    .filter_map(|v| match v {
                                        Value::String(s) => Some(s.clone()),
                                        _ => None,
                                    })
                                    .collect();
                                f.positive = Some(match f.positive.take() {
                                    None => Positive::Values(vs),
                                    Some(Positive::Values(old)) => Positive::Values(
                                        old.into_iter().filter(|o| vs.contains(o)).collect(),
                                    ),
                                    Some(Positive::Pattern(p)) => Positive::Values(
                                        vs.into_iter().filter(|v| istio_matches(&p, v)).collect(),
                                    ),
                                });
                            }
                            (true, ValueTest::Glob(_) | ValueTest::Present) => {
                                let g = match test {
                                    ValueTest::Glob(g) => g.clone(),
                                    _ => "*".to_string(),
                                };
                                let p = match pattern(&g) {
                                    Some(p) => p,
                                    None if deny => {
                                        widened = true;
                                        let head = g.split('*').next().unwrap_or("");
                                        format!("{head}*")
                                    }
                                    None => {
                                        narrowed = true;
                                        continue 'disjunct;
                                    }
                                };
                                f.positive = Some(match f.positive.take() {
                                    None => Positive::Pattern(p),
                                    Some(Positive::Values(old)) => Positive::Values(
                                        old.into_iter().filter(|o| istio_matches(&p, o)).collect(),
                                    ),
                                    Some(keep @ Positive::Pattern(_)) if deny => {
                                        widened = true;
                                        keep
                                    }
                                    Some(Positive::Pattern(_)) => {
                                        narrowed = true;
                                        continue 'disjunct;
                                    }
                                });
                            }
                            // A request value is a string: never `true`.
                            (true, _) => continue 'disjunct,
                            (false, ValueTest::In(values)) => {
                                f.negative.extend(values.iter().filter_map(|v| match v {
                                    Value::String(s) => Some(s.clone()),
                                    _ => None,
                                }))
                            }
                            (false, ValueTest::Glob(g)) => match pattern(g) {
                                Some(p) => f.negative.push(p),
                                // Dropping a negation widens: fine in a deny.
                                None if deny => widened = true,
                                None => {
                                    narrowed = true;
                                    continue 'disjunct;
                                }
                            },
                            (false, ValueTest::Present) => continue 'disjunct,
                            (false, _) => {}
                        }
                    }
                    // The capability pass removed every other class.
                    _ if deny => widened = true,
                    _ => {
                        narrowed = true;
                        continue 'disjunct;
                    }
                }
            }
            let mut http = Http::default();
            for (i, f) in fields.into_iter().enumerate() {
                let (pos, neg) = if i == 0 {
                    (&mut http.methods, &mut http.not_methods)
                } else {
                    (&mut http.paths, &mut http.not_paths)
                };
                match f.positive {
                    Some(Positive::Values(vs)) if vs.is_empty() => continue 'disjunct,
                    Some(Positive::Values(vs)) => *pos = dedup(vs),
                    Some(Positive::Pattern(p)) => *pos = vec![p],
                    None => {}
                }
                *neg = dedup(f.negative);
            }
            let entry = out.entry(http).or_default();
            *entry = entry.union(&ports);
        }
        let p = &rule.provenance;
        if narrowed {
            diags.push(
                Diagnostic::warning(Code::RuleNarrowed, format!("rule `{}` narrowed on `istio`: a `request` glob Istio cannot match", p.label))
                    .with_primary(p.origin, "narrowed on istio")
                    .with_note("Istio matches a value exactly, by prefix (`/api/*`), by suffix (`*.json`) or by presence (`*`); the alternatives of the condition that need another glob are left out")
                    .with_help("write the glob with one `*` at its start or end"),
            );
            self.approximate(rule, ApproximationKind::Narrowed, "a `request` glob with a `*` inside, or two globs on one field: Istio cannot match it".into());
        }
        if widened {
            diags.push(
                Diagnostic::warning(
                    Code::DenyWidened,
                    format!(
                        "deny `{}` widened on `istio`: a `request` glob Istio cannot match",
                        p.label
                    ),
                )
                .with_primary(p.origin, "widened on istio")
                .with_note(
                    "the glob is matched by its part before the first `*`, which matches more",
                )
                .with_help("write the glob with one `*` at its start or end"),
            );
            self.approximate(
                rule,
                ApproximationKind::DenyWidened,
                "a `request` glob Istio cannot match is matched by its prefix".into(),
            );
        }
        if deny && on_http && !out.is_empty() {
            self.approximate(
                rule,
                ApproximationKind::DenyWidened,
                "on a port Istio treats as plain TCP the HTTP fields (methods, paths) of a DENY rule are ignored: the deny applies to every connection there".into(),
            );
        }
        Some(out)
    }

    /// The sources and operations of `rule` (for every workload it protects);
    /// `None` when it matches no connection Istio mediates.
    pub fn lower(&mut self, rule: &Rule, diags: &mut Diagnostics) -> Option<Lowered> {
        self.not_mediated(rule, diags);
        let ops = self.operations(rule, diags)?;
        if ops.is_empty() {
            return None;
        }
        let peers = self.sources(rule, diags)?;
        Some(Lowered {
            peers,
            ops,
            ids: Vec::new(),
        })
    }

    fn not_mediated(&mut self, rule: &Rule, diags: &mut Diagnostics) {
        let s = &rule.services;
        let other: Vec<&str> = [
            (!s.udp.is_empty(), "udp"),
            (!s.sctp.is_empty(), "sctp"),
            (s.icmp, "icmp"),
            (s.other, "other protocols"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect();
        if other.is_empty() || rule.action == Action::Allow {
            return;
        }
        let p = &rule.provenance;
        let list = other.join(", ");
        diags.push(
            Diagnostic::warning(Code::NotMediated, format!("deny `{}` is not enforced on `istio` for {list}", p.label))
                .with_primary(p.origin, format!("{list} not mediated by the mesh"))
                .with_note("Istio's proxies mediate TCP connections only; other traffic passes them untouched")
                .with_help("enforce this deny with an L3/L4 target as well (`kubernetes`, `iptables`, `nftables`)"),
        );
    }

    /// The sources of a rule; `None` when none is left.
    fn sources(&mut self, rule: &Rule, diags: &mut Diagnostics) -> Option<Vec<Peer>> {
        let set = &rule.src;
        let everything = set.networks == CidrSet::all();
        if everything {
            return Some(vec![Peer::Any]);
        }
        let deny = rule.action == Action::Deny;
        let mut principals: BTreeSet<String> = BTreeSet::new();
        let mut namespaces: BTreeSet<String> = BTreeSet::new();
        let mut addresses = set.networks.clone();
        let mut dropped: Vec<(IdentityId, String)> = Vec::new();
        for &id in &set.identities {
            let identity = self.program.identity(id);
            let role = self.estate.role(id);
            if let Some(p) = &role.principal {
                let sharers = &self.estate.by_principal[p];
                let all = sharers.iter().all(|s| set.identities.contains(s));
                if deny || all {
                    if !all {
                        self.approximate(rule, ApproximationKind::DenyWidened, format!("the principal `{p}` is shared: the deny applies to every identity that has it"));
                    }
                    principals.insert(p.clone());
                } else {
                    let other = sharers
                        .iter()
                        .find(|s| !set.identities.contains(s))
                        .copied()
                        .unwrap_or(id);
                    dropped.push((
                        id,
                        format!(
                            "shares the principal `{p}` with `{}`",
                            self.program.identity(other).name.escape_debug()
                        ),
                    ));
                }
                continue;
            }
            match &identity.kubernetes {
                Some(k) if deny => {
                    namespaces.insert(k.namespace.clone());
                }
                Some(_) => dropped.push((id, "a workload without a principal (no `service_account` and no SPIFFE id of Istio's form)".into())),
                None => addresses = addresses.union(&CidrSet::from_nets(&identity.addresses)),
            }
        }
        if !dropped.is_empty() || (deny && !namespaces.is_empty()) {
            self.mesh_identity(rule, deny, &dropped, &namespaces, diags);
        }
        let mut peers: Vec<Peer> = principals.into_iter().map(Peer::Principal).collect();
        peers.extend(namespaces.into_iter().map(Peer::Namespace));
        if !addresses.is_empty() {
            peers.extend(
                addresses
                    .to_cidrs()
                    .iter()
                    .map(|c| Peer::Block(c.to_string())),
            );
            if !deny {
                self.approximate(rule, ApproximationKind::Narrowed, "clients outside the mesh cannot connect to a workload whose namespace requires mTLS (STRICT): the sources matched by address reach it only from mesh workloads".into());
            }
        }
        (!peers.is_empty()).then_some(peers)
    }

    fn mesh_identity(
        &mut self,
        rule: &Rule,
        deny: bool,
        dropped: &[(IdentityId, String)],
        namespaces: &BTreeSet<String>,
        diags: &mut Diagnostics,
    ) {
        let p = &rule.provenance;
        let names: Vec<String> = dropped
            .iter()
            .map(|(id, why)| {
                format!(
                    "`{}` ({why})",
                    self.program.identity(*id).name.escape_debug()
                )
            })
            .collect();
        if deny {
            let ns: Vec<&str> = namespaces.iter().map(String::as_str).collect();
            diags.push(
                Diagnostic::warning(
                    Code::MeshIdentity,
                    format!(
                        "deny `{}` widened on `istio` to whole namespaces: {}",
                        p.label,
                        ns.join(", ")
                    ),
                )
                .with_primary(p.origin, "widened on istio")
                .with_note(
                    "a source workload without a principal can only be named by its namespace",
                )
                .with_help("give the workload a `service_account` in its `kubernetes` binding"),
            );
            self.approximate(
                rule,
                ApproximationKind::DenyWidened,
                format!(
                    "sources without a principal denied by namespace: {}",
                    ns.join(", ")
                ),
            );
        } else {
            diags.push(
                Diagnostic::warning(Code::MeshIdentity, format!("rule `{}` narrowed on `istio`: sources the mesh cannot name", p.label))
                    .with_primary(p.origin, "narrowed on istio")
                    .with_note(format!("left out: {}", names.join(", ")))
                    .with_help("give each workload its own service account (`kubernetes.service_account`) or SPIFFE id"),
            );
            self.approximate(
                rule,
                ApproximationKind::IdentityDropped,
                format!(
                    "sources the mesh cannot name left out: {}",
                    names.join(", ")
                ),
            );
        }
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// TCP ports 1–65535 of a service set; `None` when it has none.
fn tcp_ports(services: &seg_ir::PortSet) -> Option<PortRanges> {
    let tcp = services.tcp.intersect(&every_port());
    (!tcp.is_empty()).then_some(tcp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_istio_can_match() {
        assert_eq!(pattern("/api/*").as_deref(), Some("/api/*"));
        assert_eq!(pattern("*.json").as_deref(), Some("*.json"));
        assert_eq!(pattern("*").as_deref(), Some("*"));
        assert_eq!(pattern("/exact").as_deref(), Some("/exact"));
        assert_eq!(pattern("/a/*/b"), None);
        assert_eq!(pattern("*a*"), None);
    }

    #[test]
    fn tcp_ports_leave_out_port_zero_and_other_protocols() {
        let s = |lo, hi| seg_ir::PortSet::ports(seg_ir::Protocol::Tcp, lo, hi);
        assert_eq!(tcp_ports(&s(80, 81)), Some(PortRanges::range(80, 81)));
        assert_eq!(tcp_ports(&s(0, 65535)), Some(every_port()));
        assert_eq!(tcp_ports(&s(0, 0)), None);
        assert_eq!(
            tcp_ports(&seg_ir::PortSet::ports(seg_ir::Protocol::Udp, 53, 53)),
            None
        );
    }
}
