//! The "pairs" job: the shape of the comparison with other ACL generators.
//!
//! Identities that each own one to four IPv4 CIDRs (a host /32 plus
//! subnets), bound to pods in a handful of Kubernetes namespaces; a set of
//! TCP services; and N `allow` rules, each from one random identity to
//! another on one to three random services. No IPv6, no conditions, no
//! segments: the plainest policy an ACL generator takes, so that the time
//! measured is the compiler's, not the language's.
//!
//! At the default sizes (2,000 identities, 50 services) the inventory holds
//! about 5,000 CIDRs. The same spec always gives byte-identical output.

use crate::{Estate, Rng};
use std::fmt::Write as _;

/// How big a pairs job to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairsSpec {
    /// Identities (hosts and pods), at least 2.
    pub identities: usize,
    /// TCP services, at least 1 and at most [`MAX_SERVICES`].
    pub services: usize,
    /// `allow` rules between random pairs.
    pub rules: usize,
    pub seed: u64,
}

impl PairsSpec {
    /// The comparison job at `rules` rules: 2,000 identities, 50 services, seed 1.
    pub fn job(rules: usize) -> PairsSpec {
        PairsSpec {
            identities: 2_000,
            services: 50,
            rules,
            seed: 1,
        }
    }
}

/// Rules per policy file: a large job is spread over files as a real one is.
pub const RULES_PER_FILE: usize = 1_000;
/// Kubernetes namespaces the pods are spread over.
const NAMESPACES: usize = 10;

/// The name of identity `i`, in the seg inventory and in a peer's input alike.
pub fn identity(i: usize) -> String {
    format!("host-{i:05}")
}

/// The name of service `s`.
pub fn service(s: usize) -> String {
    format!("svc-{s:02}")
}

/// The first service's TCP port; service `s` is on `FIRST_PORT + s`.
const FIRST_PORT: u16 = 10_000;

/// The most services a job can have: their ports must stay valid.
pub const MAX_SERVICES: usize = (u16::MAX - FIRST_PORT) as usize + 1;

/// The TCP port of service `s` (below [`MAX_SERVICES`]: [`model`] holds no more).
pub fn port(s: usize) -> u16 {
    u16::try_from(s)
        .ok()
        .and_then(|s| FIRST_PORT.checked_add(s))
        .unwrap_or(u16::MAX)
}

/// The CIDRs of identity `i`: its host address, then `extra` subnets, all
/// disjoint from every other identity's (the host addresses live in
/// 10.0.0.0/10, the subnets in 10.64.0.0/10 and above, each identity in its
/// own /22 there).
fn cidrs(i: usize, extra: usize) -> Vec<String> {
    let mut out = vec![format!(
        "10.{}.{}.{}/32",
        i >> 16,
        (i >> 8) & 0xff,
        i & 0xff
    )];
    let base = 0x0a40_0000u32 + (i as u32) * 4 * 256;
    for k in 0..extra {
        let net = base + (k as u32) * 256;
        let prefix = [24, 26, 28][k % 3];
        out.push(format!(
            "{}.{}.{}.{}/{prefix}",
            net >> 24,
            (net >> 16) & 0xff,
            (net >> 8) & 0xff,
            net & 0xff
        ));
    }
    out
}

/// One identity of the job: its CIDRs, host address first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub cidrs: Vec<String>,
}

/// One `allow` rule: identity `from` may open TCP connections to identity
/// `to` on the listed services (one to three, distinct, in drawn order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub from: usize,
    pub to: usize,
    pub services: Vec<usize>,
}

/// The job as data: what the seg project and a peer's input are both
/// written from, so that they cannot drift apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pairs {
    pub spec: PairsSpec,
    /// Identity `i` is named [`identity`]`(i)`.
    pub identities: Vec<Identity>,
    /// Services `0..services`, named [`service`], on [`port`].
    pub services: usize,
    pub rules: Vec<Rule>,
}

impl Pairs {
    /// The rules of each policy file, in file order ([`RULES_PER_FILE`] each,
    /// at least one file even with no rules).
    pub fn files(&self) -> impl Iterator<Item = std::ops::Range<usize>> {
        let n = self.rules.len();
        (0..n.div_ceil(RULES_PER_FILE).max(1))
            .map(move |f| f * RULES_PER_FILE..((f + 1) * RULES_PER_FILE).min(n))
    }
}

/// Draw the job (identities, their CIDRs, the rules) from the spec's seed.
pub fn model(spec: &PairsSpec) -> Pairs {
    let mut rng = Rng(spec.seed ^ 0x9A1E_5EED);
    let n = spec.identities.max(2);
    let services = spec.services.clamp(1, MAX_SERVICES);
    let identities = (0..n)
        .map(|i| Identity {
            cidrs: cidrs(i, rng.below(4)),
        })
        .collect();
    let rules = (0..spec.rules)
        .map(|_| {
            let from = rng.below(n);
            let to = (from + 1 + rng.below(n - 1)) % n;
            let mut on: Vec<usize> = Vec::with_capacity(3);
            for _ in 0..1 + rng.below(3) {
                let s = rng.below(services);
                if !on.contains(&s) {
                    on.push(s);
                }
            }
            Rule {
                from,
                to,
                services: on,
            }
        })
        .collect();
    Pairs {
        spec: *spec,
        identities,
        services,
        rules,
    }
}

/// Generate a pairs job (see the module docs).
pub fn generate(spec: &PairsSpec) -> Estate {
    estate(&model(spec))
}

/// The seg project of a drawn job.
pub fn estate(job: &Pairs) -> Estate {
    let n = job.identities.len();
    let mut inv = String::with_capacity(n * 200);
    inv.push_str("# generated by seg-gen (pairs job)\nversion: 1\nidentities:\n");
    let mut total_cidrs = 0;
    for (i, ident) in job.identities.iter().enumerate() {
        let name = identity(i);
        total_cidrs += ident.cidrs.len();
        let _ = writeln!(
            inv,
            "  - name: {name}\n    kind: workload\n    owner: team-{}\n    addresses: [{}]\n    \
             kubernetes: {{ namespace: ns-{}, labels: {{ app: {name} }} }}",
            i % NAMESPACES,
            ident.cidrs.join(", "),
            i % NAMESPACES,
        );
    }

    let mut svc = String::from("// generated by seg-gen (pairs job): the services\n");
    for s in 0..job.services {
        let _ = writeln!(svc, "service {} = tcp/{}", service(s), port(s));
    }
    let mut policies = vec![("policy/services.seg".to_string(), svc)];

    let names: Vec<String> = (0..job.services).map(service).collect();
    for (f, range) in job.files().enumerate() {
        let (first, last) = (range.start, range.end);
        let mut s = String::with_capacity((last - first) * 70 + 200);
        let _ = writeln!(
            s,
            "// generated by seg-gen (pairs job): rules {first}..{last}\n\
             use ./services.seg::{{{}}}\n\n\
             policy pairs-{f:03} {{\n  owner \"team-net\"\n  review-by 2099-12-31\n",
            names.join(", ")
        );
        for rule in &job.rules[range] {
            let on: Vec<&str> = rule.services.iter().map(|&s| names[s].as_str()).collect();
            let _ = writeln!(
                s,
                "  allow {} -> {} on {}",
                identity(rule.from),
                identity(rule.to),
                on.join(", ")
            );
        }
        s.push_str("}\n");
        policies.push((format!("policy/rules-{f:03}.seg"), s));
    }

    let spec = &job.spec;
    let seg_toml = format!(
        "# generated by seg-gen (pairs job): {n} identities ({total_cidrs} CIDRs), {} services, \
         {} rules, seed {}\n\
         [project]\nname = \"pairs-{}\"\ninventory = [\"inventory.yaml\"]\nsources = [\"policy/**/*.seg\"]\n\n\
         [targets.iptables]\n[targets.kubernetes]\n",
        job.services, spec.rules, spec.seed, spec.rules
    );
    Estate {
        seg_toml,
        inventory_yaml: inv,
        policies,
    }
}
