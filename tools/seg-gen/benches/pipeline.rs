//! Front-end stages and the reference evaluator on generated estates.
//!
//! `cargo bench -p seg-gen --bench pipeline` runs 5k and 50k identities with
//! 1k and 10k rules. `SEG_BENCH_BIG=1` adds the 100k-rule estates (slow: run
//! them on purpose only). `SEG_BENCH_FILTER=...` is criterion's usual filter.
//!
//! `cargo bench -p seg-gen --bench pipeline -- '^parse/'` times the parser alone
//! (pest and the tree it builds) on the pairs job's policy files, per rule.

#[path = "../tests/stages/mod.rs"]
mod stages;

use criterion::{BenchmarkId, Criterion, Throughput};
use seg_diag::{Diagnostics, SourceMap};
use seg_gen::pairs::{self, PairsSpec};
use seg_gen::{Spec, generate};
use seg_ir::eval::{Evaluator, decide};
use seg_ir::{Flow, FlowEndpoint, IdentityId, Program, Protocol};
use std::hint::black_box;
use std::time::Duration;

fn sizes() -> Vec<(usize, usize)> {
    let mut v = vec![
        (5_000, 1_000),
        (5_000, 10_000),
        (50_000, 1_000),
        (50_000, 10_000),
    ];
    if std::env::var_os("SEG_BENCH_BIG").is_some() {
        v.extend([(5_000, 100_000), (50_000, 100_000)]);
    }
    v
}

fn label(identities: usize, rules: usize) -> String {
    format!("{}k-ids/{}k-rules", identities / 1000, rules / 1000)
}

fn bench_generate(c: &mut Criterion) {
    let mut g = c.benchmark_group("generate");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for identities in [5_000, 50_000] {
        let spec = Spec {
            identities,
            rules: 1_000,
            seed: 1,
        };
        g.bench_function(BenchmarkId::from_parameter(label(identities, 1_000)), |b| {
            b.iter(|| generate(black_box(&spec)))
        });
    }
    g.finish();
}

fn bench_stages(c: &mut Criterion) {
    let mut g = c.benchmark_group("stages");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for (identities, rules) in sizes() {
        let estate = generate(&Spec {
            identities,
            rules,
            seed: 1,
        });
        let name = label(identities, rules);
        g.bench_function(BenchmarkId::new("parse", &name), |b| {
            b.iter(|| {
                let (mut map, mut diags) = (SourceMap::default(), Diagnostics::new());
                stages::parse(&estate, &mut map, &mut diags)
            })
        });
        g.bench_function(BenchmarkId::new("inventory", &name), |b| {
            b.iter(|| {
                let (mut map, mut diags) = (SourceMap::default(), Diagnostics::new());
                stages::inventory(&estate, &mut map, &mut diags)
            })
        });
        let (mut map, mut diags) = (SourceMap::default(), Diagnostics::new());
        let units = stages::parse(&estate, &mut map, &mut diags);
        let Some(inventory) = stages::inventory(&estate, &mut map, &mut diags) else {
            eprintln!("{name}: the inventory does not load; skipping check");
            continue;
        };
        // The program is what the stage produces and what the backends then
        // read: freeing it (its rules; the identities are shared with the
        // inventory) is timed apart, as `drop-ir`.
        g.bench_function(BenchmarkId::new("check+ir", &name), |b| {
            b.iter_with_large_drop(|| {
                stages::check(&units, &inventory, &map, &mut Diagnostics::new())
            })
        });
        g.bench_function(BenchmarkId::new("drop-ir", &name), |b| {
            b.iter_batched(
                || stages::check(&units, &inventory, &map, &mut Diagnostics::new()),
                drop,
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// Flows between identities and a few addresses, spread over the program.
fn flows(program: &Program, n: usize) -> Vec<Flow> {
    let ids = program.identities.len().max(1) as u64;
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            let src = if i % 8 == 0 {
                FlowEndpoint::Address([100, 64, (next() % 200) as u8, 7].into())
            } else {
                FlowEndpoint::Identity(IdentityId((next() % ids) as u32))
            };
            let dst = FlowEndpoint::Identity(IdentityId((next() % ids) as u32));
            let port = [5432, 443, 53, 8000, 30017][(next() % 5) as usize];
            Flow {
                src,
                dst,
                protocol: Protocol::Tcp,
                port,
                at: program.now,
                mtls: next() % 2 == 0,
                method: Some("GET".into()),
                path: Some("/api/x".into()),
                context: Default::default(),
            }
        })
        .collect()
}

fn bench_eval(c: &mut Criterion) {
    let mut g = c.benchmark_group("eval");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
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
        let fs = flows(&program, 1_000);
        let name = label(identities, rules);
        g.throughput(Throughput::Elements(fs.len() as u64));
        g.bench_function(BenchmarkId::new("indexed", &name), |b| {
            let ev = Evaluator::new(&program);
            b.iter(|| fs.iter().filter(|f| ev.decide(f).allowed).count())
        });
        g.bench_function(BenchmarkId::new("index-build", &name), |b| {
            b.iter(|| Evaluator::new(&program).program().rules.len())
        });
        let few = &fs[..100];
        g.throughput(Throughput::Elements(few.len() as u64));
        g.bench_function(BenchmarkId::new("scan", &name), |b| {
            b.iter(|| few.iter().filter(|f| decide(&program, f).allowed).count())
        });
    }
    g.finish();
}

/// `seg_syntax::parse` alone on the pairs job (`seg-gen --job pairs`): its
/// 10 policy files of 1,000 rules and the services file, throughput per rule.
fn bench_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    let rules = 10_000;
    let estate = pairs::generate(&PairsSpec::job(rules));
    g.throughput(Throughput::Elements(rules as u64));
    g.bench_function(BenchmarkId::new("pairs", "10k-rules"), |b| {
        b.iter(|| {
            let mut items = 0;
            for (i, (path, text)) in estate.policies.iter().enumerate() {
                match seg_syntax::parse(seg_diag::FileId(i as u32), black_box(text)) {
                    Ok(file) => items += file.items.len(),
                    Err(d) => panic!("{path} does not parse: {}", d.message),
                }
            }
            items
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_parse(&mut c);
    bench_generate(&mut c);
    bench_stages(&mut c);
    bench_eval(&mut c);
    c.final_summary();
}
