//! Decision latency of the bundle in regorus on a synthetic estate:
//! 2,000 identities, 200 segments, 10,000 rules (a tenth with runtime
//! conditions, one in twenty a deny, one in twenty from an external network).
//!
//! `cargo bench -p seg-opa --bench decide` prints the p10, median and p90
//! (thread CPU time) and the wall median and p99 of `data.seg.authz.allow`,
//! the decision a PEP asks for, for identity flows that some rule covers,
//! identity pairs drawn at random, and flows from external addresses. A
//! timed decision is `set_input` (a reference count) plus the evaluation,
//! with the input already parsed, as OPA's server parses it before
//! evaluating; nothing is serialised or cloned. Lines for the timing alone
//! (two clock reads) and for a constant rule (the engine's floor) show what
//! is not the policy's.
//!
//! `SEG_BENCH_RULES` changes the size, `SEG_BENCH_ROUNDS` the timed rounds
//! (default 2, after one warm-up), `SEG_BENCH_SETS` picks among `covered`,
//! `random` and `external`. `SEG_BENCH_ENGINES` (`interpreter`,
//! `rvm`) picks the engines. To work on the policy: `SEG_BENCH_POLICY`
//! replaces `authz.rego` by a file and `SEG_BENCH_DATA` the bundle's
//! `data.json` (a changed layout), `SEG_BENCH_VERSUS` times
//! the policy against another file decision by decision in the same
//! process (so both see the same load; the robust comparison on a busy
//! machine), `SEG_BENCH_PARTS` (rule names of `data.seg.authz`) times parts
//! alone in the VM, `SEG_BENCH_STEPS=1` prints the VM instructions per
//! decision (found by bisecting the VM's instruction limit) and
//! `SEG_BENCH_LISTING` writes the VM program's assembly listing to a file
//! and `SEG_BENCH_BUNDLE` the emitted bundle files into a folder (its
//! `seg/authz.rego` is the starting point for `SEG_BENCH_POLICY`).

use ipnet::IpNet;
use regorus::languages::rego::compiler::Compiler;
use seg_diag::{Diagnostics, FileId, Span};
use seg_ir::backend::OpaOptions;
use seg_ir::time::{Date, TimeOfDay, Timestamp};
use seg_ir::{
    Action, Atom, Backend, CidrSet, Condition, EndpointSet, Identity, IdentityId, IdentityKind,
    PortSet, Program, Protocol, Provenance, RequestField, Rule, RuleId, TargetOptions, Value,
    ValueTest,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const IDENTITIES: usize = 2_000;
const SEGMENT: usize = 10;

/// A small deterministic generator (no dependency, same estate every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn identity(i: usize) -> Identity {
    let addr: IpNet = format!("10.{}.{}.{}/32", i / 65536, (i / 256) % 256, i % 256)
        .parse()
        .expect("address");
    Identity {
        id: IdentityId(i as u32),
        name: format!("svc-{i:04}"),
        kind: IdentityKind::Workload,
        owner: Some(format!("team-{}", i / 100)),
        attributes: BTreeMap::new(),
        labels: BTreeMap::new(),
        addresses: vec![addr],
        kubernetes: None,
        aws: None,
        gcp: None,
        spiffe: Some(format!(
            "spiffe://bench.example/ns/team-{}/sa/svc-{i:04}",
            i / 100
        )),
        origin: Span::new(FileId(0), 0, 0),
    }
}

fn segment(s: usize) -> EndpointSet {
    let ids: BTreeSet<IdentityId> = (s * SEGMENT..(s + 1) * SEGMENT)
        .map(|i| IdentityId(i as u32))
        .collect();
    EndpointSet {
        identities: ids.clone(),
        explicit: ids,
        networks: CidrSet::empty(),
    }
}

fn condition(rng: &mut Lcg) -> Condition {
    match rng.below(4) {
        0 => Condition::Atom(Atom::Time {
            start: TimeOfDay(60 * rng.below(24) as u16),
            end: TimeOfDay(60 * rng.below(24) as u16),
        }),
        1 => Condition::Atom(Atom::Mtls),
        2 => Condition::And(vec![
            Condition::Atom(Atom::Mtls),
            Condition::Atom(Atom::Request {
                field: RequestField::Method,
                test: ValueTest::In(vec![
                    Value::String("GET".into()),
                    Value::String("HEAD".into()),
                ]),
            }),
        ]),
        _ => Condition::Atom(Atom::Request {
            field: RequestField::Path,
            test: ValueTest::Glob("/api/*/items/*".into()),
        }),
    }
}

fn program(rules: usize) -> Program {
    let mut rng = Lcg(7);
    let segments = IDENTITIES / SEGMENT;
    let identities: Vec<Identity> = (0..IDENTITIES).map(identity).collect();
    let mut out = Vec::with_capacity(rules);
    for k in 0..rules {
        let external = k % 20 == 7;
        let src = if external {
            let net: IpNet = format!("203.0.{}.0/24", k % 256).parse().expect("network");
            EndpointSet {
                networks: CidrSet::from_net(net),
                ..EndpointSet::default()
            }
        } else {
            segment(rng.below(segments))
        };
        let dst = segment(rng.below(segments));
        let port = 8000 + rng.below(100) as u16;
        let action = if k % 20 == 3 {
            Action::Deny
        } else {
            Action::Allow
        };
        let condition = if k % 10 == 1 {
            condition(&mut rng)
        } else {
            Condition::True
        };
        let expires = (k % 50 == 9).then(|| Date::new(2030, 1, 1 + (k % 28) as u8).expect("date"));
        out.push(Rule {
            id: RuleId(k as u32),
            action,
            src,
            dst,
            services: PortSet::ports(Protocol::Tcp, port, port),
            condition,
            expires: expires.map(Into::into),
            provenance: Provenance {
                label: format!("bench/{}", k + 1),
                id: format!("bench#{}", k + 1),
                file: "policy/bench.seg".into(),
                line: k as u32 + 1,
                column: 3,
                policy: "bench".into(),
                owner: None,
                doc: None,
                reason: None,
                origin: Span::new(FileId(0), 0, 0),
            },
        });
    }
    Program {
        project: "bench".into(),
        source_hash: "0".repeat(64),
        now: Timestamp(Date::new(2026, 11, 20).expect("date").start().0),
        identities: identities.into(),
        rules: out,
        omitted: Vec::new(),
        contexts: BTreeMap::new(),
        tests: Vec::new(),
    }
}

fn engine(program: &Program) -> regorus::Engine {
    let mut diags = Diagnostics::new();
    let emission = seg_opa::Opa.emit(
        program,
        &TargetOptions::Opa(OpaOptions { signing: None }),
        &mut diags,
    );
    assert!(
        !diags.has_errors(),
        "emit failed: {:?}",
        diags.iter().collect::<Vec<_>>()
    );
    if let Ok(dir) = std::env::var("SEG_BENCH_BUNDLE") {
        for a in &emission.artifacts {
            let path = std::path::Path::new(&dir).join(&a.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("SEG_BENCH_BUNDLE folder");
            }
            std::fs::write(path, &a.contents).expect("SEG_BENCH_BUNDLE");
        }
    }
    let mut engine = regorus::Engine::new();
    for a in &emission.artifacts {
        let text = || String::from_utf8(a.contents.clone()).expect("utf-8");
        match a.path.as_str() {
            "bundle/seg/data.json" => {
                // SEG_BENCH_DATA: another data.json to try with the policy.
                let json = match std::env::var("SEG_BENCH_DATA") {
                    Ok(path) => std::fs::read_to_string(path).expect("SEG_BENCH_DATA"),
                    Err(_) => text(),
                };
                let data = format!("{{\"seg\":{json}}}");
                engine
                    .add_data(regorus::Value::from_json_str(&data).expect("data"))
                    .expect("add data");
            }
            "bundle/seg/authz.rego" => {
                // SEG_BENCH_POLICY: another authz.rego to try on the same data.
                let text = match std::env::var("SEG_BENCH_POLICY") {
                    Ok(path) => std::fs::read_to_string(path).expect("SEG_BENCH_POLICY"),
                    Err(_) => text(),
                };
                engine.add_policy(a.path.clone(), text).expect("policy");
            }
            _ => {}
        }
    }
    engine
}

fn flow(program: &Program, src: usize, dst: usize, port: u16) -> regorus::Value {
    let json = serde_json::json!({
        "source": {"principal": program.identities[src].principal()},
        "destination": {"principal": program.identities[dst].principal()},
        "protocol": "tcp",
        "port": port,
        "mtls": true,
        "request": {"method": "GET", "path": "/api/v1/items/42"},
    });
    regorus::Value::from_json_str(&json.to_string()).expect("input")
}

fn external(program: &Program, k: usize, dst: usize, port: u16) -> regorus::Value {
    let json = serde_json::json!({
        "source": {"address": format!("203.0.{}.9", k % 256)},
        "destination": {"principal": program.identities[dst].principal()},
        "protocol": "tcp",
        "port": port,
    });
    regorus::Value::from_json_str(&json.to_string()).expect("input")
}

/// CPU time this thread has used: unlike wall time, not inflated when the
/// machine is busy with other work.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Time `decide` on every input (a warm-up round, then `SEG_BENCH_ROUNDS`)
/// and print the quantiles of wall and thread CPU time; returns the
/// decisions of the last round.
fn measure(
    name: &str,
    inputs: &[regorus::Value],
    mut decide: impl FnMut(&regorus::Value) -> regorus::Value,
) -> Vec<bool> {
    let (mut wall, mut cpu): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    let mut decisions = Vec::new();
    for round in 0..=env_usize("SEG_BENCH_ROUNDS", 2) {
        decisions.clear();
        for input in inputs {
            let (start, start_cpu) = (Instant::now(), thread_cpu());
            let v = decide(input);
            let (took, took_cpu) = (start.elapsed(), thread_cpu().saturating_sub(start_cpu));
            if round > 0 {
                wall.push(took);
                cpu.push(took_cpu);
            }
            decisions.push(v == regorus::Value::Bool(true));
        }
    }
    let q = |v: &mut Vec<Duration>, q: f64| {
        v.sort_unstable();
        v[((v.len() as f64 * q) as usize).min(v.len() - 1)].as_secs_f64() * 1e6
    };
    let allowed = decisions.iter().filter(|d| **d).count();
    println!(
        "{name:<44} n={:<5} cpu p10 {:>5.1} median {:>6.1} µs p90 {:>6.1} µs | wall median {:>6.1} µs p99 {:>7.1} µs | allowed {:.0}%",
        wall.len(),
        q(&mut cpu, 0.1),
        q(&mut cpu, 0.5),
        q(&mut cpu, 0.9),
        q(&mut wall, 0.5),
        q(&mut wall, 0.99),
        100.0 * allowed as f64 / decisions.len().max(1) as f64,
    );
    decisions
}

/// The register VM for `policy` (an `authz.rego`) on `data`.
fn vm_for(data: regorus::Value, policy: String) -> regorus::rvm::RegoVM {
    compile_vm(
        data,
        "bundle/seg/authz.rego",
        policy,
        "data.seg.authz.allow",
    )
}

/// The register VM for the rule `entry` of `policy` (file `file`) on `data`.
fn compile_vm(
    data: regorus::Value,
    file: &str,
    policy: String,
    entry: &str,
) -> regorus::rvm::RegoVM {
    let mut engine = regorus::Engine::new();
    engine.add_data(data).expect("data");
    engine.add_policy(file.into(), policy).expect("policy");
    let name: regorus::Rc<str> = entry.into();
    let compiled = engine.compile_with_entrypoint(&name).expect("compile");
    let program = Compiler::compile_from_policy(&compiled, &[entry]).expect("rvm program");
    let mut vm = regorus::rvm::RegoVM::new();
    vm.load_program(program);
    vm.set_data(engine.get_data()).expect("rvm data");
    vm
}

/// `SEG_BENCH_VERSUS`: the bundle's policy (a) and another one (b) on the
/// same inputs, decision by decision in alternating order, so both see the
/// same load; prints both CPU medians and fails on any disagreement.
fn versus(
    a: &mut regorus::rvm::RegoVM,
    b: &mut regorus::rvm::RegoVM,
    name: &str,
    inputs: &[regorus::Value],
) {
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    let time = |vm: &mut regorus::rvm::RegoVM, input: &regorus::Value| {
        let start = thread_cpu();
        vm.set_input(input.clone());
        let v = vm
            .execute_entry_point_by_name("data.seg.authz.allow")
            .expect("rvm evaluation");
        (thread_cpu().saturating_sub(start), v)
    };
    for round in 0..=env_usize("SEG_BENCH_ROUNDS", 2) {
        for (i, input) in inputs.iter().enumerate() {
            let ((da, va), (db, vb)) = if i % 2 == 0 {
                let x = time(a, input);
                (x, time(b, input))
            } else {
                let y = time(b, input);
                (time(a, input), y)
            };
            assert_eq!(va, vb, "the two policies disagree on {input}");
            if round > 0 {
                ta.push(da);
                tb.push(db);
            }
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort_unstable();
        v[v.len() / 2].as_secs_f64() * 1e6
    };
    let (ma, mb) = (median(&mut ta), median(&mut tb));
    println!(
        "versus: {name:<36} cpu median bundle {ma:>6.1} µs | other {mb:>6.1} µs | other/bundle {:.3}",
        mb / ma
    );
}

/// The VM instructions one decision executes: the least instruction limit
/// under which it completes (the VM counts but does not report them).
fn executed(vm: &mut regorus::rvm::RegoVM, input: &regorus::Value, entry: &str) -> usize {
    vm.set_input(input.clone());
    let (mut lo, mut hi) = (0, 1 << 20);
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        vm.set_max_instructions(mid);
        if vm.execute_entry_point_by_name(entry).is_ok() {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    vm.set_max_instructions(1 << 20);
    hi
}

fn main() {
    let rules = env_usize("SEG_BENCH_RULES", 10_000);
    let program = program(rules);
    let start = Instant::now();
    let mut engine = engine(&program);
    println!(
        "{rules} rules: emitted and loaded in {:.2} s",
        start.elapsed().as_secs_f64()
    );

    let mut rng = Lcg(11);
    let mut covered = Vec::new();
    let mut random = Vec::new();
    let mut externals = Vec::new();
    for _ in 0..2_000 {
        let rule = &program.rules[rng.below(program.rules.len())];
        let port = rule.services.tcp.ranges()[0].0;
        let dst = rule
            .dst
            .identities
            .iter()
            .next()
            .map_or(0, |i| i.0 as usize);
        match rule.src.identities.iter().next() {
            Some(src) => covered.push(flow(&program, src.0 as usize, dst, port)),
            None => externals.push(external(
                &program,
                rule.provenance.line as usize - 1,
                dst,
                port,
            )),
        }
        random.push(flow(
            &program,
            rng.below(IDENTITIES),
            rng.below(IDENTITIES),
            8000 + rng.below(100) as u16,
        ));
    }
    // SEG_BENCH_ENGINES: `interpreter`, `rvm` or both (the default).
    let engines = std::env::var("SEG_BENCH_ENGINES").unwrap_or_else(|_| "interpreter,rvm".into());
    // SEG_BENCH_SETS: some of `covered`, `random`, `external` (all by default).
    let chosen =
        std::env::var("SEG_BENCH_SETS").unwrap_or_else(|_| "covered,random,external".into());
    let sets: Vec<(&str, &Vec<regorus::Value>)> = [
        ("covered", "identity flows a rule covers", &covered),
        ("random", "random identity pairs", &random),
        ("external", "external address sources", &externals),
    ]
    .into_iter()
    .filter(|(key, _, _)| chosen.split(',').any(|c| c == *key))
    .map(|(_, name, inputs)| (name, inputs))
    .collect();
    let mut expected = Vec::new();
    if engines.contains("interpreter") {
        // The floor: a policy whose only rule is a constant, in the same run.
        let mut floor = regorus::Engine::new();
        floor
            .add_policy(
                "floor.rego".into(),
                "package floor\n\nallow := true\n".into(),
            )
            .expect("floor");
        measure(
            "interpreter: a constant rule (the floor)",
            &covered,
            |input| {
                floor.set_input(input.clone());
                floor
                    .eval_rule("data.floor.allow".to_string())
                    .expect("evaluation")
            },
        );
        for &(name, inputs) in &sets {
            expected.push(measure(&format!("interpreter: {name}"), inputs, |input| {
                engine.set_input(input.clone());
                engine
                    .eval_rule("data.seg.authz.allow".to_string())
                    .expect("evaluation")
            }));
        }
    }
    if !engines.contains("rvm") {
        return;
    }
    // The same policy compiled for regorus' register VM; SEG_BENCH_PARTS
    // (rule names of `data.seg.authz`, comma-separated) times parts of it.
    let parts = std::env::var("SEG_BENCH_PARTS").unwrap_or_default();
    let mut entries = vec!["data.seg.authz.allow".to_string()];
    entries.extend(
        parts
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| format!("data.seg.authz.{p}")),
    );
    let entry_refs: Vec<&str> = entries.iter().map(String::as_str).collect();
    let entry: regorus::Rc<str> = "data.seg.authz.allow".into();
    let compiled = engine.compile_with_entrypoint(&entry).expect("compile");
    let rvm = Compiler::compile_from_policy(&compiled, &entry_refs).expect("rvm program");
    if let Ok(path) = std::env::var("SEG_BENCH_LISTING") {
        let config = regorus::rvm::program::AssemblyListingConfig::default();
        let listing = regorus::rvm::program::generate_assembly_listing(&rvm, &config);
        std::fs::write(path, listing).expect("SEG_BENCH_LISTING");
    }
    let mut vm = regorus::rvm::RegoVM::new();
    vm.load_program(rvm);
    vm.set_data(engine.get_data()).expect("rvm data");
    {
        // What the timing itself costs (two clock reads, no evaluation).
        measure("harness: clock reads alone", &covered, |_| {
            regorus::Value::Bool(false)
        });
        // The VM's floor: a constant rule, same inputs.
        let mut floor_vm = compile_vm(
            regorus::Value::new_object(),
            "floor.rego",
            "package floor\n\nallow := true\n".into(),
            "data.floor.allow",
        );
        measure("rvm: a constant rule (the floor)", &covered, |input| {
            floor_vm.set_input(input.clone());
            floor_vm
                .execute_entry_point_by_name("data.floor.allow")
                .expect("rvm evaluation")
        });
    }
    if let Ok(path) = std::env::var("SEG_BENCH_VERSUS") {
        let policy = std::fs::read_to_string(path).expect("SEG_BENCH_VERSUS");
        let mut other = vm_for(engine.get_data(), policy);
        for &(name, inputs) in &sets {
            versus(&mut vm, &mut other, name, inputs);
        }
    }
    if std::env::var("SEG_BENCH_STEPS").is_ok_and(|v| v == "1") {
        for &(name, inputs) in &sets {
            let mut steps: Vec<usize> = inputs
                .iter()
                .map(|input| executed(&mut vm, input, "data.seg.authz.allow"))
                .collect();
            steps.sort_unstable();
            println!(
                "rvm: {name:<39} instructions per decision: median {} p90 {} max {}",
                steps[steps.len() / 2],
                steps[steps.len() * 9 / 10],
                steps[steps.len() - 1]
            );
        }
    }
    for part in &entries[1..] {
        for &(name, inputs) in &sets {
            let short = name.split(' ').next().unwrap_or(name);
            measure(&format!("rvm: {part} ({short})"), inputs, |input| {
                vm.set_input(input.clone());
                vm.execute_entry_point_by_name(part)
                    .expect("rvm evaluation")
            });
        }
    }
    let mut expected = expected.into_iter();
    for &(name, inputs) in &sets {
        let got = measure(&format!("rvm: {name}"), inputs, |input| {
            vm.set_input(input.clone());
            vm.execute_entry_point_by_name("data.seg.authz.allow")
                .expect("rvm evaluation")
        });
        let Some(want) = expected.next() else {
            continue;
        };
        let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ,
            0,
            "the VM and the interpreter disagree on {differ} of {} decisions ({name})",
            want.len()
        );
    }
}
