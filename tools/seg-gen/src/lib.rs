//! Synthetic estates for benchmarks and scale tests: an inventory, a
//! `seg.toml` and `.seg` policies of chosen sizes, valid Seg that checks
//! without errors (warnings from lints are expected).
//!
//! Input: a [`Spec`] (identity count, rule count, seed). Output: an
//! [`Estate`] held in memory; [`Estate::write`] puts it in a folder.
//! The same spec always gives byte-identical output.
//!
//! Shape of an estate: teams (payments, ledger, …, then `team<N>`) each with
//! workloads in dev/staging/prod, service accounts, agents, CI jobs and API
//! keys. Every workload and agent has a distinct /32 (a quarter also a /128);
//! some have Kubernetes, AWS or GCP bindings; most have a SPIFFE ID. A
//! `platform` team runs DNS. Each team has a policy file with segments
//! (attribute queries, explicit lists, partner networks), a service, and
//! rules cycling through templates: mTLS, time windows with expiry, partner
//! access, weekday windows, denies, L7 conditions, explicit lists, `<->`,
//! context inputs, set algebra. The first teams get `test` blocks whose
//! expectations hold by construction.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

pub mod aerleon;
pub mod collide;
pub mod pairs;
pub use pairs::PairsSpec;

/// How big an estate to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Inventory identities (at least 2 + 6 per team are always written).
    pub identities: usize,
    /// Policy rules, spread over the teams (plus two baseline rules).
    pub rules: usize,
    pub seed: u64,
}

/// A generated project, in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Estate {
    pub seg_toml: String,
    pub inventory_yaml: String,
    /// (`policy/...seg` path relative to the project, text).
    pub policies: Vec<(String, String)>,
}

impl Estate {
    /// Write the project under `dir` (created if missing).
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("seg.toml"), &self.seg_toml)?;
        std::fs::write(dir.join("inventory.yaml"), &self.inventory_yaml)?;
        write_files(dir, &self.policies)
    }

    /// Total size of the text, in bytes.
    pub fn bytes(&self) -> usize {
        self.seg_toml.len()
            + self.inventory_yaml.len()
            + self.policies.iter().map(|(_, t)| t.len()).sum::<usize>()
    }
}

/// Write each (relative path, text) under `dir`, creating folders as needed.
pub fn write_files(dir: &Path, files: &[(String, String)]) -> io::Result<()> {
    for (path, text) in files {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, text)?;
    }
    Ok(())
}

/// SplitMix64: small, fast and stable across platforms and versions.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const TEAM_NAMES: [&str; 20] = [
    "payments",
    "ledger",
    "web",
    "search",
    "identity",
    "billing",
    "risk",
    "fraud",
    "catalog",
    "checkout",
    "shipping",
    "stock",
    "analytics",
    "reporting",
    "mobile",
    "partner",
    "support",
    "messaging",
    "media",
    "growth",
];
const ROLES: [&str; 10] = [
    "api", "worker", "db", "cache", "web", "batch", "gateway", "queue", "ml", "sync",
];
/// Teams that get a `test` block.
const TESTED_TEAMS: usize = 8;

fn team_name(t: usize) -> String {
    TEAM_NAMES
        .get(t)
        .map_or_else(|| format!("team{t}"), |s| s.to_string())
}

fn team_count(identities: usize) -> usize {
    (identities / 250).clamp(1, 200)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Workload,
    ServiceAccount,
    Agent,
    CiJob,
    ApiKey,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Workload => "workload",
            Kind::ServiceAccount => "service_account",
            Kind::Agent => "agent",
            Kind::CiJob => "ci_job",
            Kind::ApiKey => "api_key",
        }
    }
}

struct Ident {
    name: String,
    team: usize,
    kind: Kind,
    env: &'static str,
    role: &'static str,
    tier: u8,
    /// Written by hand into test expectations: never drawn into random lists.
    fixed: bool,
}

/// Generate an estate (see the module docs).
pub fn generate(spec: &Spec) -> Estate {
    let mut rng = Rng(spec.seed ^ 0x5E6_6E4E_u64);
    let teams = team_count(spec.identities);
    let idents = identities(spec, teams, &mut rng);
    let inventory_yaml = inventory(&idents, &mut rng);
    let mut policies = vec![("policy/base.seg".to_string(), base())];
    let by_team = group(&idents, teams);
    let mut j = 0;
    for (t, members) in by_team.iter().enumerate() {
        let n = spec.rules * (t + 1) / teams - spec.rules * t / teams;
        let text = team_policy(t, teams, n, members, &mut j, &mut rng);
        policies.push((format!("policy/teams/{}.seg", team_name(t)), text));
    }
    let seg_toml = format!(
        "# generated by seg-gen: {} identities, {} rules, seed {}\n\
         [project]\nname = \"gen-{}-{}\"\ninventory = [\"inventory.yaml\"]\nsources = [\"policy/**/*.seg\"]\n\n\
         [targets.iptables]\n[targets.kubernetes]\n[targets.aws]\nformats = [\"terraform\", \"cloudformation\"]\n\
         [targets.gcp]\nnetwork = \"gen-prod\"\n[targets.opa]\n\n\
         [enforcement]\n# mTLS is checked by the OPA layer.\nlayered = [\"mtls\"]\n",
        spec.identities, spec.rules, spec.seed, spec.identities, spec.rules
    );
    Estate {
        seg_toml,
        inventory_yaml,
        policies,
    }
}

fn identities(spec: &Spec, teams: usize, rng: &mut Rng) -> Vec<Ident> {
    let mut out = Vec::with_capacity(spec.identities.max(8));
    let fixed = |name: String, team, kind, env, role| Ident {
        name,
        team,
        kind,
        env,
        role,
        tier: 1,
        fixed: true,
    };
    for i in 1..=2 {
        out.push(fixed(
            format!("platform-dns-{i}"),
            usize::MAX,
            Kind::Workload,
            "prod",
            "dns",
        ));
    }
    for t in 0..teams {
        let n = team_name(t);
        out.push(fixed(
            format!("{n}-api-1"),
            t,
            Kind::Workload,
            "prod",
            "api",
        ));
        out.push(fixed(format!("{n}-db-1"), t, Kind::Workload, "prod", "db"));
        out.push(fixed(
            format!("{n}-gateway-1"),
            t,
            Kind::Workload,
            "prod",
            "gateway",
        ));
        out.push(fixed(
            format!("{n}-api-2"),
            t,
            Kind::Workload,
            "staging",
            "api",
        ));
        out.push(fixed(format!("{n}-ci-1"), t, Kind::CiJob, "prod", "ci"));
        out.push(fixed(
            format!("{n}-svc-1"),
            t,
            Kind::ServiceAccount,
            "prod",
            "svc",
        ));
    }
    // Per team and role, the next free number (1 and 2 are the fixed ones).
    let mut counters = vec![[3usize; ROLES.len() + 4]; teams];
    while out.len() < spec.identities {
        let t = rng.below(teams);
        let kind = match rng.below(100) {
            0..=79 => Kind::Workload,
            80..=87 => Kind::ServiceAccount,
            88..=92 => Kind::Agent,
            93..=97 => Kind::CiJob,
            _ => Kind::ApiKey,
        };
        let (slot, role) = match kind {
            Kind::Workload => {
                let r = rng.below(ROLES.len());
                (r, ROLES[r])
            }
            Kind::ServiceAccount => (ROLES.len(), "svc"),
            Kind::Agent => (ROLES.len() + 1, "agent"),
            Kind::CiJob => (ROLES.len() + 2, "ci"),
            Kind::ApiKey => (ROLES.len() + 3, "key"),
        };
        let k = counters[t][slot];
        counters[t][slot] += 1;
        let env = match rng.below(4) {
            0 => "dev",
            1 => "staging",
            _ => "prod",
        };
        let tier = 1 + rng.below(3) as u8;
        out.push(Ident {
            name: format!("{}-{role}-{k}", team_name(t)),
            team: t,
            kind,
            env,
            role,
            tier,
            fixed: false,
        });
    }
    out
}

fn group(idents: &[Ident], teams: usize) -> Vec<Vec<&Ident>> {
    let mut by_team = vec![Vec::new(); teams];
    for i in idents.iter().filter(|i| i.team < teams) {
        by_team[i.team].push(i);
    }
    by_team
}

fn inventory(idents: &[Ident], rng: &mut Rng) -> String {
    let mut s = String::with_capacity(idents.len() * 320);
    s.push_str("# generated by seg-gen\nversion: 1\nattributes:\n  team: string\n  env: enum[dev, staging, prod]\n");
    s.push_str("  tier: int\n  pci: bool\nidentities:\n");
    for (g, i) in idents.iter().enumerate() {
        let team = if i.team == usize::MAX {
            "platform".to_string()
        } else {
            team_name(i.team)
        };
        let _ = writeln!(
            s,
            "  - name: {}\n    kind: {}\n    owner: team-{team}",
            i.name,
            i.kind.as_str()
        );
        let _ = write!(
            s,
            "    attributes: {{ team: {team}, env: {}, tier: {}",
            i.env, i.tier
        );
        if team == "payments" || team == "ledger" {
            s.push_str(", pci: true");
        }
        s.push_str(" }\n");
        let _ = writeln!(s, "    labels: {{ app: {}, tier: \"{}\" }}", i.role, i.tier);
        let has_address = match i.kind {
            Kind::Workload | Kind::Agent => true,
            Kind::CiJob => i.fixed || rng.chance(50),
            Kind::ServiceAccount | Kind::ApiKey => false,
        };
        if has_address {
            let (a, b, c) = (64 + (g >> 16) as u32, (g >> 8) & 0xff, g & 0xff);
            let _ = write!(s, "    addresses: [10.{a}.{b}.{c}/32");
            if g % 4 == 0 {
                let _ = write!(s, ", \"fd00::{:x}:{:x}/128\"", g >> 16, g & 0xffff);
            }
            s.push_str("]\n");
        }
        let namespace = format!("{team}-{}", i.env);
        let k8s = match i.kind {
            Kind::Workload => rng.chance(60),
            Kind::ServiceAccount => true,
            _ => false,
        };
        if k8s {
            let _ = writeln!(
                s,
                "    kubernetes: {{ namespace: {namespace}, labels: {{ app: {}, team: {team} }}, service_account: {} }}",
                i.name, i.name
            );
        }
        if i.kind == Kind::Workload && rng.chance(20) {
            if rng.chance(50) {
                s.push_str("    aws: {}\n");
            } else {
                let _ = writeln!(s, "    aws: {{ security_group: sg-0{:016x} }}", rng.next());
            }
        }
        if matches!(i.kind, Kind::Workload | Kind::ServiceAccount) && rng.chance(15) {
            let _ = writeln!(
                s,
                "    gcp: {{ service_account: {}@gen-{team}.iam.gserviceaccount.com }}",
                i.name
            );
        }
        if i.kind != Kind::ApiKey && (i.fixed || rng.chance(70)) {
            let _ = writeln!(
                s,
                "    spiffe: spiffe://gen.example/ns/{namespace}/sa/{}",
                i.name
            );
        }
    }
    s
}

fn base() -> String {
    "// generated by seg-gen: what every team shares\n\
     use std::services::{dns}\n\
     use std::segments::{cloud-metadata}\n\n\
     context {\n  break_glass: bool,\n  region: enum[eu, us],\n  ticket: string,\n}\n\n\
     /// Every workload of the estate.\n\
     segment everyone = identities where kind == workload\n\
     segment dns-servers = [platform-dns-1, platform-dns-2]\n\n\
     policy baseline {\n  owner \"team-platform\"\n  review-by 2030-06-30\n\n\
     \x20 /// Name resolution for every workload.\n\
     \x20 allow everyone -> dns-servers on dns\n\n\
     \x20 /// Nothing reaches the cloud metadata service.\n\
     \x20 deny any -> cloud-metadata on any\n}\n"
        .to_string()
}

/// Up to `n` distinct names drawn from the team's non-fixed identities of these kinds.
fn pick(members: &[&Ident], kinds: &[Kind], n: usize, rng: &mut Rng) -> Vec<String> {
    let pool: Vec<&&Ident> = members
        .iter()
        .filter(|i| !i.fixed && kinds.contains(&i.kind))
        .collect();
    let mut out: Vec<String> = Vec::new();
    for _ in 0..n * 3 {
        if out.len() >= n || pool.is_empty() {
            break;
        }
        let name = &pool[rng.below(pool.len())].name;
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

fn team_policy(
    t: usize,
    teams: usize,
    rules: usize,
    members: &[&Ident],
    j: &mut usize,
    rng: &mut Rng,
) -> String {
    let n = team_name(t);
    let mut s = String::with_capacity(200 + rules * 120);
    let _ = writeln!(
        s,
        "// generated by seg-gen: team {n}\nuse std::services::{{postgres, https}}\n"
    );
    let where_team = |env: &str| {
        format!("identities where team == \"{n}\" and env == \"{env}\" and kind == workload")
    };
    let _ = writeln!(
        s,
        "/// Production workloads of {n}.\nsegment {n}-prod = {}",
        where_team("prod")
    );
    let _ = writeln!(s, "segment {n}-staging = {}", where_team("staging"));
    let mut dbs = vec![format!("{n}-db-1")];
    dbs.extend(
        members
            .iter()
            .filter(|i| i.role == "db" && !i.fixed && i.env == "prod")
            .take(7)
            .map(|i| i.name.clone()),
    );
    let _ = writeln!(s, "segment {n}-dbs = [{}]", dbs.join(", "));
    let _ = writeln!(
        s,
        "segment {n}-ci = identities where team == \"{n}\" and kind == ci_job"
    );
    let _ = writeln!(
        s,
        "segment {n}-callers = identities where team == \"{n}\" and (kind == service_account or kind == api_key or kind == agent)"
    );
    let _ = writeln!(
        s,
        "segment {n}-partners = network 100.64.{t}.0/24, 2001:db8:{t:x}::/48"
    );
    let _ = writeln!(
        s,
        "service {n}-api = tcp/{}, tcp/{}-{}\n",
        8000 + t % 1000,
        20000 + t * 10,
        20009 + t * 10
    );
    let _ = writeln!(
        s,
        "/// Access to the {n} services.\npolicy {n}-access {{\n  owner \"team-{n}\"\n  review-by 2030-06-30\n"
    );
    for k in 0..rules {
        let port = 30000 + *j % 30000;
        *j += 1;
        let other = team_name((t + 1 + rng.below(teams.max(2) - 1)) % teams.max(1));
        let template = if k < 5 { k } else { 5 + (k - 5) % 7 };
        let rule = match template {
            0 => format!(
                "  /// The services read and write their databases.\n  allow {n}-prod -> {n}-dbs on postgres when mtls"
            ),
            1 => format!(
                "  /// Nightly schema migrations.\n  allow {n}-ci -> {n}-dbs on postgres\n    when time 01:00..03:00 utc\n    \
                 expires 2030-12-31\n    reason \"ticket OPS-{j}\""
            ),
            2 => format!("  allow {n}-partners -> {n}-gateway-1 on https, {n}-api"),
            3 => format!(
                "  allow {n}-staging -> {n}-dbs on tcp/5433 when days mon..fri and time 08:00..18:00"
            ),
            4 => format!(
                "  /// Staging never reaches production.\n  deny {n}-staging -> {n}-prod on any"
            ),
            5 => format!(
                "  allow (identities where team == \"{other}\" and env == \"prod\" and kind == workload) -> {n}-prod on {n}-api\n    \
                 when request.method in [\"GET\", \"HEAD\"] and request.path matches \"/api/*\""
            ),
            6 => {
                let names = pick(members, &[Kind::Workload, Kind::Agent], 3, rng);
                if names.is_empty() {
                    format!("  allow {n}-prod -> {n}-dbs on tcp/{port}")
                } else {
                    format!(
                        "  allow [{}] -> {n}-dbs on tcp/{port}\n    owner \"team-{other}\"",
                        names.join(", ")
                    )
                }
            }
            7 => format!("  allow {n}-prod <-> {n}-prod on tcp/{port}"),
            8 => format!(
                "  allow {n}-callers -> {n}-gateway-1 on tcp/{port}\n    when context.break_glass or context.region == \"eu\""
            ),
            9 => format!(
                "  allow {n}-prod -> (identities where team == \"{other}\" and env == \"prod\" and kind == workload and tier == 1) \
                 on tcp/{port}\n    when mtls and not days sat..sun"
            ),
            10 => match rng.below(3) {
                0 => format!("  deny {n}-callers -> {n}-dbs on tcp/{port}"),
                1 => format!(
                    "  allow {n}-prod - [{n}-api-1] -> network 198.51.100.0/24 on tcp/{port}"
                ),
                _ => format!(
                    "  allow {n}-ci | {n}-callers -> {n}-prod & {n}-dbs on tcp/{port} when time 22:00..02:00"
                ),
            },
            _ => format!("  allow {n}-prod -> {n}-dbs on tcp/{port} expires 2030-06-30"),
        };
        let _ = writeln!(s, "{rule}\n");
    }
    s.push_str("}\n");
    if t < TESTED_TEAMS {
        tests(&mut s, t, teams, rules);
    }
    s
}

/// Expectations that hold by construction (see the templates above).
fn tests(s: &mut String, t: usize, teams: usize, rules: usize) {
    let n = team_name(t);
    let mut lines = Vec::new();
    if rules > 0 {
        lines.push(format!(
            "expect allow {n}-api-1 -> {n}-db-1 on tcp/5432 with mtls"
        ));
        lines.push(format!("expect deny  {n}-api-1 -> {n}-db-1 on tcp/5432"));
        if teams > 1 {
            let o = team_name((t + 1) % teams);
            lines.push(format!(
                "expect deny  {n}-api-1 -> {o}-db-1 on tcp/5432 with mtls"
            ));
        }
    }
    if rules > 1 {
        lines.push(format!(
            "expect allow {n}-ci-1 -> {n}-db-1 on tcp/5432 at 2030-01-15T01:30:00Z"
        ));
        lines.push(format!(
            "expect deny  {n}-ci-1 -> {n}-db-1 on tcp/5432 at 2030-01-15T12:00:00Z"
        ));
    }
    if rules > 2 {
        lines.push(format!(
            "expect allow 100.64.{t}.7 -> {n}-gateway-1 on tcp/443"
        ));
        lines.push(format!("expect deny  100.64.{t}.7 -> {n}-db-1 on tcp/443"));
    }
    if rules > 4 {
        lines.push(format!(
            "expect deny  {n}-api-2 -> {n}-api-1 on tcp/{}",
            8000 + t % 1000
        ));
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(s, "\ntest \"{n} access\" {{");
    for l in lines {
        let _ = writeln!(s, "  {l}");
    }
    s.push_str("}\n");
}

/// The same estate after a typical pull request, for `seg diff`
/// benchmarks: `rule_edits` rule edits across the teams' policies (in turn:
/// a rule added, one removed, a port moved, a condition added, a
/// destination widened from a team's databases to its production
/// workloads) and `inventory_edits` inventory edits (in turn: a staging
/// workload promoted to prod, a workload moved to another team, a workload
/// added, a workload removed, an address changed). Identities a policy
/// names are never removed or renamed, so the result checks as the
/// original does. The same input and seed give the same output.
pub fn edit(estate: &Estate, rule_edits: usize, inventory_edits: usize, seed: u64) -> Estate {
    let mut out = estate.clone();
    let mut rng = Rng(seed ^ 0xD1FF);
    let teams: Vec<usize> = (0..out.policies.len())
        .filter(|&i| out.policies[i].0.starts_with("policy/teams/"))
        .collect();
    for k in 0..rule_edits {
        // A pick can meet a paragraph the edit does not apply to: try others.
        for _ in 0..64 {
            if teams.is_empty() {
                break;
            }
            let file = teams[rng.below(teams.len())];
            if let Some(text) = rule_edit(&out.policies[file], k, &mut rng) {
                out.policies[file].1 = text;
                break;
            }
        }
    }
    let named: String = out.policies.iter().map(|(_, t)| t.as_str()).collect();
    let mut entries: Vec<String> = split_identities(&out.inventory_yaml);
    let header_end = out
        .inventory_yaml
        .find("identities:\n")
        .map_or(0, |i| i + "identities:\n".len());
    let header = out.inventory_yaml[..header_end].to_string();
    let free = |e: &str| {
        let name = e
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("  - name: ")
            .to_string();
        e.contains("kind: workload")
            && !named.contains(name.as_str())
            && !name.starts_with("platform")
    };
    for k in 0..inventory_edits {
        let candidates: Vec<usize> = (0..entries.len()).filter(|&i| free(&entries[i])).collect();
        if candidates.is_empty() {
            break;
        }
        let i = candidates[rng.below(candidates.len())];
        match k % 5 {
            0 => {
                let e = &entries[i];
                entries[i] = if e.contains("env: staging") {
                    e.replacen("env: staging", "env: prod", 1)
                } else if e.contains("env: dev") {
                    e.replacen("env: dev", "env: prod", 1)
                } else {
                    e.replacen("env: prod", "env: staging", 1)
                };
            }
            1 => {
                let other = team_name(rng.below(4));
                let e = entries[i].clone();
                let team = e
                    .split("team: ")
                    .nth(1)
                    .and_then(|s| s.split([',', ' ', '}']).next())
                    .unwrap_or("")
                    .to_string();
                entries[i] = e.replacen(
                    &format!("attributes: {{ team: {team},"),
                    &format!("attributes: {{ team: {other},"),
                    1,
                );
            }
            2 => {
                let e = entries[i].clone();
                let name = e
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("  - name: ")
                    .to_string();
                let fresh = format!("{name}-new");
                let mut copy = e.replace(&name, &fresh);
                copy = copy.replacen("addresses: [10.", "addresses: [11.", 1);
                entries.push(copy);
            }
            3 => {
                entries.remove(i);
            }
            _ => {
                entries[i] = entries[i].replacen("addresses: [10.", "addresses: [12.", 1);
            }
        }
    }
    out.inventory_yaml = format!("{header}{}", entries.concat());
    out
}

/// Edit `k` (see [`edit`]) applied to one team's policy file; `None` when
/// the paragraph picked does not take it.
fn rule_edit((path, text): &(String, String), k: usize, rng: &mut Rng) -> Option<String> {
    let team = path
        .trim_start_matches("policy/teams/")
        .trim_end_matches(".seg")
        .to_string();
    // Rule paragraphs: the text between blank lines inside the policy.
    let open = text.find("-access {")?;
    let close = text[open..].find("\n}\n").map(|i| open + i)?;
    let starts: Vec<usize> = text[open..close]
        .match_indices("\n\n  ")
        .map(|(i, _)| open + i + 2)
        .collect();
    let at = *starts.get(rng.below(starts.len().max(1)))?;
    let end = text[at..].find("\n\n").map_or(close, |i| at + i);
    let para = &text[at..end];
    let mut out = text.clone();
    let edited = match k % 5 {
        0 => {
            out.insert_str(
                close,
                &format!(
                    "\n  allow {team}-prod -> {team}-dbs on tcp/{}\n",
                    40_000 + k
                ),
            );
            return Some(out);
        }
        1 => {
            out.replace_range(at..(end + 1).min(close), "");
            return Some(out);
        }
        2 => para.replacen("tcp/3", "tcp/4", 1),
        3 if !para.contains("when") && !para.contains("expires") && !para.contains("owner \"") => {
            format!("{para} when mtls")
        }
        3 => return None,
        _ => para.replacen(
            &format!("-> {team}-dbs on tcp/"),
            &format!("-> {team}-prod on tcp/"),
            1,
        ),
    };
    if edited == para {
        return None;
    }
    out.replace_range(at..end, &edited);
    Some(out)
}

/// The inventory's identity entries, each from its `  - name:` line on.
fn split_identities(yaml: &str) -> Vec<String> {
    let Some(start) = yaml.find("identities:\n") else {
        return Vec::new();
    };
    let body = &yaml[start + "identities:\n".len()..];
    let mut out: Vec<String> = Vec::new();
    for line in body.split_inclusive('\n') {
        if line.starts_with("  - name: ") || out.is_empty() {
            out.push(String::new());
        }
        if let Some(last) = out.last_mut() {
            last.push_str(line);
        }
    }
    out
}
