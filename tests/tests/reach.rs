//! `seg_reach` against a brute-force search over the reference evaluator, on
//! estates generated as source (`seg_tests::estate`).
//!
//! For every estate, program (as checked, and as iptables, Kubernetes and AWS
//! enforce it after the capability pass) and attacker model (windows open or
//! fixed instants around windows and expiry; pivot kinds), the brute force
//! decides every identity pair with `seg_ir::eval::decide` over boundary
//! ports and a fixed vocabulary of contexts, then searches identity by
//! identity. It must give every identity's hop from every start, the blast
//! radius sizes of `Closure`, the number of shortest paths `all_paths`
//! spells, and the same from entry networks (addresses no identity owns).
//!
//! Budget: `SEG_REACH_CASES` estates (default 24) from `SEG_REACH_SEED`.

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use seg::driver::Input;
use seg_ir::eval::decide;
use seg_ir::{
    Atom, CidrSet, Condition, Flow, FlowEndpoint, IdentityId, IdentityKind, Program, Protocol,
    RequestField, Timestamp, Value,
};
use seg_reach::{Analysis, Closure, Model, Node, Origin, Search};
use seg_tests::estate::{self, EstateConfig};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;

thread_local! {
    /// (reached pairs, longest hop) seen, for the summary line.
    static STATS: std::cell::RefCell<(u64, u32)> = const { std::cell::RefCell::new((0, 0)) };
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The vocabulary the brute force tries, wider than what estates mention.
const METHODS: [Option<&str>; 5] = [None, Some("GET"), Some("HEAD"), Some("POST"), Some("PUT")];
const PATHS: [Option<&str>; 7] = [
    None,
    Some(""),
    Some("/"),
    Some("/api/"),
    Some("/api/x"),
    Some("/admin"),
    Some("/x"),
];

/// Fields a condition reads, so the brute force varies only those.
#[derive(Default, Clone, Copy)]
struct Uses {
    time: bool,
    mtls: bool,
    method: bool,
    path: bool,
    region: bool,
    break_glass: bool,
    ticket: bool,
}

fn uses(c: &Condition, u: &mut Uses) {
    match c {
        Condition::And(cs) | Condition::Or(cs) => cs.iter().for_each(|c| uses(c, u)),
        Condition::Not(c) => uses(c, u),
        Condition::Atom(a) => match a {
            Atom::Time { .. } | Atom::Days { .. } => u.time = true,
            Atom::Mtls => u.mtls = true,
            Atom::Request { field, .. } => match field {
                RequestField::Method => u.method = true,
                RequestField::Path => u.path = true,
            },
            Atom::Context { name, .. } => match name.as_str() {
                "region" => u.region = true,
                "break_glass" => u.break_glass = true,
                _ => u.ticket = true,
            },
        },
        _ => {}
    }
}

/// Instants tried when windows are open: every window edge of the generator,
/// and the second before, on each day of a week.
fn week() -> Vec<Timestamp> {
    let monday = Timestamp::parse("2026-11-16T00:00:00Z").expect("time").0;
    let mut out = Vec::new();
    for d in 0..7 {
        for m in estate::model::WINDOW_MINUTES {
            let t = monday + d * 86_400 + i64::from(m) * 60;
            out.push(Timestamp(t));
            out.push(Timestamp(t - 1));
        }
    }
    out
}

/// Ports at every edge of every rule's services.
fn ports(program: &Program) -> Vec<(Protocol, u16)> {
    let mut set = BTreeSet::new();
    for r in &program.rules {
        for (p, ranges) in r.services.by_protocol() {
            for &(lo, hi) in ranges.ranges() {
                for x in [lo.checked_sub(1), Some(lo), Some(hi), hi.checked_add(1)]
                    .into_iter()
                    .flatten()
                {
                    set.insert((p, x));
                }
            }
        }
    }
    set.insert((Protocol::Icmp, 0));
    set.insert((Protocol::Other(47), 0));
    set.into_iter().collect()
}

struct Brute<'p> {
    program: &'p Program,
    at: Option<Timestamp>,
    ports: Vec<(Protocol, u16)>,
    week: Vec<Timestamp>,
}

impl Brute<'_> {
    /// Whether some port and context allow `src -> dst`.
    fn direct(&self, src: FlowEndpoint, dst: FlowEndpoint) -> bool {
        let live_at = self.at.unwrap_or(self.program.now);
        for &(protocol, port) in &self.ports {
            let mut flow = Flow {
                src,
                dst,
                protocol,
                port,
                at: live_at,
                mtls: false,
                method: None,
                path: None,
                context: BTreeMap::new(),
            };
            // Rules that could match whatever the context: only their
            // conditions' fields need varying (a sound shortcut).
            let mut u = Uses::default();
            let mut any_allow = false;
            for r in &self.program.rules {
                let loose = seg_ir::Rule {
                    condition: Condition::True,
                    ..r.clone()
                };
                if seg_ir::eval::matches(self.program, &loose, &flow) {
                    uses(&r.condition, &mut u);
                    any_allow |= r.action == seg_ir::Action::Allow;
                }
            }
            if !any_allow {
                continue;
            }
            let times: Vec<Timestamp> = match self.at {
                Some(t) => vec![t],
                None if u.time => self.week.clone(),
                None => vec![self.program.now],
            };
            let bools: &[bool] = if u.mtls { &[false, true] } else { &[false] };
            let methods: &[Option<&str>] = if u.method { &METHODS } else { &[None] };
            let paths: &[Option<&str>] = if u.path { &PATHS } else { &[None] };
            let regions: &[Option<&str>] = if u.region {
                &[None, Some("eu"), Some("us")]
            } else {
                &[None]
            };
            let glass: &[Option<bool>] = if u.break_glass {
                &[None, Some(true), Some(false)]
            } else {
                &[None]
            };
            let tickets: &[Option<&str>] = if u.ticket {
                &[None, Some("t-1")]
            } else {
                &[None]
            };
            for &t in &times {
                flow.at = t;
                for &mtls in bools {
                    flow.mtls = mtls;
                    for m in methods {
                        flow.method = m.map(str::to_string);
                        for p in paths {
                            flow.path = p.map(str::to_string);
                            for r in regions {
                                for g in glass {
                                    for k in tickets {
                                        flow.context.clear();
                                        if let Some(r) = r {
                                            flow.context.insert(
                                                "region".into(),
                                                Value::String(r.to_string()),
                                            );
                                        }
                                        if let Some(g) = g {
                                            flow.context
                                                .insert("break_glass".into(), Value::Bool(*g));
                                        }
                                        if let Some(k) = k {
                                            flow.context.insert(
                                                "ticket".into(),
                                                Value::String(k.to_string()),
                                            );
                                        }
                                        if self.allowed(&flow) {
                                            return true;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        false
    }

    fn allowed(&self, flow: &Flow) -> bool {
        match self.at {
            Some(_) => decide(self.program, flow).allowed,
            None => {
                // Expiry at `now`, windows at the flow's instant.
                let now = self.program.now;
                let (mut allow, mut deny) = (false, false);
                for r in &self.program.rules {
                    if !seg_ir::eval::live(r.expires, now) {
                        continue;
                    }
                    let timeless = seg_ir::Rule {
                        expires: None,
                        ..r.clone()
                    };
                    if seg_ir::eval::matches(self.program, &timeless, flow) {
                        match r.action {
                            seg_ir::Action::Allow => allow = true,
                            seg_ir::Action::Deny => deny = true,
                        }
                    }
                }
                allow && !deny
            }
        }
    }
}

/// Hops from `starts` over the identity graph `direct` (pivoting through
/// `pivot` kinds); starts are not reported.
fn bfs(
    program: &Program,
    starts: &[usize],
    first: &[Vec<usize>],
    direct: &[Vec<usize>],
    pivot: &BTreeSet<IdentityKind>,
) -> (Vec<Option<u32>>, Vec<u64>) {
    let n = program.identities.len();
    let mut dist: Vec<Option<u32>> = vec![None; n];
    let mut count = vec![0u64; n];
    let mut queue = VecDeque::new();
    for out in first {
        for &j in out {
            if starts.contains(&j) {
                continue;
            }
            if dist[j].is_none() {
                dist[j] = Some(1);
                queue.push_back(j);
            }
            count[j] += 1;
        }
    }
    while let Some(i) = queue.pop_front() {
        if !pivot.contains(&program.identities[i].kind) {
            continue;
        }
        let d = dist[i].unwrap_or(0);
        for &j in &direct[i] {
            if starts.contains(&j) {
                continue;
            }
            match dist[j] {
                None => {
                    dist[j] = Some(d + 1);
                    count[j] += count[i];
                    queue.push_back(j);
                }
                Some(dj) if dj == d + 1 => count[j] += count[i],
                _ => {}
            }
        }
    }
    (dist, count)
}

/// Addresses worth trying as an outside source in `network`: the edges of
/// every rule network and identity address, and one step outside them.
fn outside_addresses(program: &Program, network: &CidrSet) -> Vec<IpAddr> {
    let owned = CidrSet::from_nets(program.identities.iter().flat_map(|i| &i.addresses));
    let mut sets: Vec<CidrSet> = vec![network.clone(), owned.clone()];
    for r in &program.rules {
        sets.push(r.src.networks.clone());
    }
    let mut out = BTreeSet::new();
    for s in sets {
        for (lo, hi) in s.ranges() {
            for a in [lo, hi, step(lo, -1), step(hi, 1)].into_iter() {
                if network.contains(a) && !owned.contains(a) {
                    out.insert(a);
                }
            }
        }
    }
    out.into_iter().collect()
}

fn step(a: IpAddr, d: i128) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let x = u32::from(v);
            let y = if d < 0 {
                x.saturating_sub(1)
            } else {
                x.saturating_add(1)
            };
            IpAddr::V4(y.into())
        }
        IpAddr::V6(v) => {
            let x = u128::from(v);
            let y = if d < 0 {
                x.saturating_sub(1)
            } else {
                x.saturating_add(1)
            };
            IpAddr::V6(y.into())
        }
    }
}

/// Compare the analysis with the brute force on one program and model.
fn compare(program: &Program, model: &Model, what: &str) -> usize {
    let n = program.identities.len();
    let brute = Brute {
        program,
        at: model.at,
        ports: ports(program),
        week: week(),
    };
    let direct: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            (0..n)
                .filter(|&j| {
                    j != i
                        && brute.direct(
                            FlowEndpoint::Identity(IdentityId(i as u32)),
                            FlowEndpoint::Identity(IdentityId(j as u32)),
                        )
                })
                .collect()
        })
        .collect();
    let a = Analysis::new(program, model.clone());
    let closure = Closure::new(&a);
    let sizes = closure.sizes(&a);
    let mut checked = 0;
    for i in 0..n {
        let start = IdentityId(i as u32);
        let (dist, count) = bfs(program, &[i], &[direct[i].clone()], &direct, &model.pivot);
        let search = Search::run(&a, vec![Origin::Identity(start)], None);
        let reached = dist.iter().filter(|d| d.is_some()).count() as u64;
        assert_eq!(
            sizes[i],
            reached,
            "{what}: blast radius of {} (brute force reaches {:?})",
            program.identities[i].name,
            dist.iter()
                .enumerate()
                .filter_map(|(j, d)| d.map(|d| (&program.identities[j].name, d)))
                .collect::<Vec<_>>()
        );
        for j in 0..n {
            let got = search.hop_of(IdentityId(j as u32));
            assert_eq!(
                got, dist[j],
                "{what}: hop of {} from {}",
                program.identities[j].name, program.identities[i].name
            );
            checked += 1;
            let Some(h) = dist[j] else { continue };
            STATS.with(|st| {
                let mut st = st.borrow_mut();
                st.0 += 1;
                st.1 = st.1.max(h);
            });
            // A hop-limited search stops where the limit says.
            if h > 1 {
                let limited = Search::run(&a, vec![Origin::Identity(start)], Some(h - 1));
                assert_eq!(
                    limited.hop_of(IdentityId(j as u32)),
                    None,
                    "{what}: --hops {}",
                    h - 1
                );
            }
            let path = search
                .path(IdentityId(j as u32))
                .expect("a path to a reached identity");
            assert_eq!(path.steps.len() as u32, h, "{what}: path length");
            let mut from = i;
            for (k, s) in path.steps.iter().enumerate() {
                let to = s.to.0 as usize;
                assert!(
                    direct[from].contains(&to),
                    "{what}: step {k} of the path is no hop"
                );
                assert!(
                    !s.hop.allowed.is_empty() && !s.hop.allows.is_empty(),
                    "{what}: step without rules"
                );
                if k > 0 {
                    assert!(model.pivot.contains(&program.identities[from].kind));
                }
                from = to;
            }
            let all = search
                .all_paths(IdentityId(j as u32), 100_000)
                .expect("paths");
            let spelled: u64 = all
                .paths
                .iter()
                .map(|(_, through)| through.iter().map(|m| m.len() as u64).product::<u64>())
                .sum();
            assert_eq!(
                spelled, count[j],
                "{what}: shortest paths to {}",
                program.identities[j].name
            );
        }
    }
    // Entry networks: every network a rule names, and everything.
    let mut entries: Vec<CidrSet> = vec![CidrSet::all()];
    for r in &program.rules {
        if !r.src.networks.is_empty() && !entries.contains(&r.src.networks) {
            entries.push(r.src.networks.clone());
        }
    }
    for network in entries.iter().take(4) {
        let addrs = outside_addresses(program, network);
        let first: Vec<Vec<usize>> = addrs
            .iter()
            .map(|&addr| {
                (0..n)
                    .filter(|&j| {
                        brute.direct(
                            FlowEndpoint::Address(addr),
                            FlowEndpoint::Identity(IdentityId(j as u32)),
                        )
                    })
                    .collect()
            })
            .collect();
        let (dist, _) = bfs(program, &[], &first, &direct, &model.pivot);
        let origins: Vec<Origin> = a
            .entry_parts(network)
            .into_iter()
            .map(Origin::Part)
            .collect();
        let search = Search::run(&a, origins, None);
        for (j, want) in dist.iter().enumerate() {
            assert_eq!(
                search.hop_of(IdentityId(j as u32)),
                *want,
                "{what}: hop of {} from entry {:?}",
                program.identities[j].name,
                network.to_cidrs()
            );
            if want.is_some() {
                let path = search.path(IdentityId(j as u32)).expect("path");
                assert!(matches!(path.steps[0].from, Node::Network(_)));
            }
        }
    }
    checked
}

fn runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

#[test]
fn reach_matches_a_brute_force_search_over_the_reference_evaluator() {
    let cases = env_number("SEG_REACH_CASES", 24) as usize;
    let seed = env_number("SEG_REACH_SEED", 20);
    let cfg = EstateConfig {
        max_identities: 7,
        max_segments: 3,
        max_policies: 2,
        max_rules_per_policy: 5,
        flows: 0,
        overlapping_addresses: true,
    };
    let strategy = estate::models(cfg);
    let mut runner = runner(seed);
    let now = estate::now();
    let instants = [
        None,
        Some(now),
        // Saturday 01:30, inside night windows and outside weekday ones.
        Some(Timestamp(now.0 + 86_400 - 12 * 3600 + 5400)),
        // Thursday 22:30 two weeks on: after most expiries.
        Some(Timestamp(now.0 + 13 * 86_400 + 10 * 3600 + 1800)),
    ];
    let mut checked = 0;
    let mut compiled = 0;
    for case in 0..cases {
        let model = strategy.new_tree(&mut runner).expect("estate").current();
        let estate = model.render();
        let dir = tempfile::tempdir().expect("temp dir");
        estate.write(dir.path()).expect("write estate");
        let input = Input::from_args(Some(dir.path()), &[]).expect("input");
        let comp = seg::driver::compile(&input, now);
        let (Some(program), Some(manifest)) = (comp.program, comp.manifest) else {
            panic!("case {case}: the estate does not compile");
        };
        compiled += 1;
        let mut programs = vec![("reference".to_string(), program.clone())];
        for t in ["iptables", "kubernetes", "aws"] {
            let backend = seg::driver::backend_for(t).expect("target");
            let mut diags = seg_diag::Diagnostics::new();
            let prepared =
                seg_ir::capability::prepare(&program, backend, &manifest.layered, &mut diags);
            programs.push((t.to_string(), prepared.program.into_owned()));
        }
        for (name, p) in &programs {
            for (k, at) in instants.iter().enumerate() {
                // Every pivot setting on the reference; the default elsewhere.
                let pivots: Vec<BTreeSet<IdentityKind>> = if name == "reference" && k == 0 {
                    vec![
                        Model::default_pivot(),
                        BTreeSet::from([IdentityKind::Workload]),
                        BTreeSet::new(),
                    ]
                } else {
                    vec![Model::default_pivot()]
                };
                for pivot in pivots {
                    let m = Model { at: *at, pivot };
                    checked += compare(
                        p,
                        &m,
                        &format!("case {case} ({name}, at {at:?}, pivot {:?})", m.pivot),
                    );
                }
            }
        }
    }
    assert_eq!(compiled, cases);
    let (reached, longest) = STATS.with(|s| *s.borrow());
    eprintln!(
        "reach: {cases} estates, {checked} (start, identity) pairs compared, {reached} reached, longest {longest} hops"
    );
    assert!(
        reached > 0 && longest > 1,
        "the estates exercise multi-hop reach"
    );
}
