//! Blast radius on generated estates: every identity's at once (the class
//! graph, its closure and the sizes) and one `seg reach` search with a path
//! to every reached identity.
//!
//! `cargo bench -p seg-gen --bench reach` runs 5k/1k and 50k/10k; it prints
//! the class and edge counts once before timing. Figures in docs/performance.md.

#[path = "../tests/stages/mod.rs"]
mod stages;

use criterion::{BenchmarkId, Criterion};
use seg_gen::{Spec, generate};
use seg_reach::{Analysis, Closure, Model, Origin, Search};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn label(identities: usize, rules: usize) -> String {
    format!("{}k-ids/{}k-rules", identities / 1000, rules / 1000)
}

fn bench_reach(c: &mut Criterion) {
    let mut g = c.benchmark_group("reach");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for (identities, rules) in [(5_000, 1_000), (50_000, 10_000)] {
        let estate = generate(&Spec {
            identities,
            rules,
            seed: 1,
        });
        let (_, program, diags) = stages::compile(&estate);
        let Some(program) = program else {
            eprintln!(
                "{}: does not check ({} errors); skipping",
                label(identities, rules),
                diags.error_count()
            );
            continue;
        };
        let name = label(identities, rules);
        let t = Instant::now();
        let a = Analysis::new(&program, Model::new(None));
        let built = t.elapsed();
        let closure = Closure::new(&a);
        let sizes = closure.sizes(&a);
        let (largest, at) = sizes
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, i))
            .max()
            .unwrap_or((0, 0));
        eprintln!(
            "{name}: {} active rules, {} classes, {} class edges (graph in {built:?}); largest blast radius {largest} ({})",
            a.rules.len(),
            a.classes.len(),
            a.edge_count(),
            program.identities[at].name
        );
        cpu_breakdown(&name, &program, at);
        g.bench_function(BenchmarkId::new("every-identity", &name), |b| {
            b.iter(|| {
                let a = Analysis::new(&program, Model::new(None));
                let closure = Closure::new(&a);
                black_box(closure.sizes(&a))
            })
        });
        let start = program.identities[at].id;
        g.bench_function(BenchmarkId::new("one-identity", &name), |b| {
            b.iter(|| {
                let a = Analysis::new(&program, Model::new(None));
                let s = Search::run(&a, vec![Origin::Identity(start)], None);
                let reached = s.reached();
                // A path per reached class, as `seg reach` prints them.
                let mut classes: Vec<u32> = reached.iter().map(|(id, _)| a.class_of(*id)).collect();
                classes.dedup();
                black_box(classes.iter().filter_map(|&c| s.class_path(c)).count())
            })
        });
    }
    g.finish();
}

/// CPU seconds (user + system) of this process so far: on a shared machine
/// a steadier figure than wall time.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name (which may hold spaces) `rest` starts at field 3:
    // utime is field 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (field(11) + field(12)) / 100.0
}

/// The median CPU time of each step, over five runs: the class graph, the
/// closure with every size, one search with a path per reached class.
fn cpu_breakdown(name: &str, program: &seg_ir::Program, at: usize) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] * 1000.0
    };
    let (mut build, mut close, mut search) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = cpu_seconds();
        let a = Analysis::new(program, Model::new(None));
        let t1 = cpu_seconds();
        black_box(Closure::new(&a).sizes(&a));
        let t2 = cpu_seconds();
        let s = Search::run(&a, vec![Origin::Identity(program.identities[at].id)], None);
        let mut classes: Vec<u32> = s.reached().iter().map(|(id, _)| a.class_of(*id)).collect();
        classes.dedup();
        black_box(classes.iter().filter_map(|&c| s.class_path(c)).count());
        let t3 = cpu_seconds();
        build.push(t1 - t);
        close.push(t2 - t1);
        search.push(t3 - t2);
    }
    eprintln!(
        "{name}: CPU medians of 5 (10 ms ticks): class graph {:.0} ms, closure and sizes {:.0} ms, one search with paths {:.0} ms",
        median(build),
        median(close),
        median(search)
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_reach(&mut c);
    c.final_summary();
}
