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

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_reach(&mut c);
    c.final_summary();
}
