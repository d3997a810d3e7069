//! `seg diff` on two versions of a generated estate: 5k identities and 10k
//! rules, the second after `seg_gen::edit` (10 rule edits, 5 inventory
//! edits). Times the analysis alone (both programs compiled) and the whole
//! command's work (compile both versions at once, as `seg diff` does, then
//! diff).
//!
//! `cargo bench -p seg-gen --bench diff`. `SEG_BENCH_DIFF_SIZE=IDS,RULES`
//! changes the size. Peak memory is measured on the `seg` binary, see
//! docs/performance.md.

#[path = "../tests/stages/mod.rs"]
mod stages;

use criterion::Criterion;
use seg_gen::{Spec, edit, generate};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn size() -> (usize, usize) {
    std::env::var("SEG_BENCH_DIFF_SIZE")
        .ok()
        .and_then(|s| {
            let (a, b) = s.split_once(',')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .unwrap_or((5_000, 10_000))
}

fn side<'a>(
    p: &'a seg_ir::Program,
    map: &'a seg_diag::SourceMap,
    label: &str,
) -> seg_diff::Side<'a> {
    seg_diff::Side {
        program: p,
        map: Some(map),
        label: label.into(),
    }
}

fn bench_diff(c: &mut Criterion) {
    let (identities, rules) = size();
    let old = generate(&Spec {
        identities,
        rules,
        seed: 1,
    });
    let new = edit(&old, 10, 5, 1);
    let t = Instant::now();
    let (map_o, a, _) = stages::compile(&old);
    let (map_n, b, _) = stages::compile(&new);
    let compiled = t.elapsed();
    let (Some(a), Some(b)) = (a, b) else {
        eprintln!("the estates do not compile");
        return;
    };
    let t = Instant::now();
    let d = seg_diff::diff(&side(&a, &map_o, "old"), &side(&b, &map_n, "new"));
    eprintln!(
        "{identities} identities, {rules} rules: compile both {compiled:?}, diff once {:?}; {} rows ({:?}), {} rules old / {} new",
        t.elapsed(),
        d.changes.len(),
        d.summary,
        a.rules.len(),
        b.rules.len()
    );
    let mut g = c.benchmark_group("diff");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("analysis", |bench| {
        bench.iter(|| {
            seg_diff::diff(
                black_box(&side(&a, &map_o, "old")),
                &side(&b, &map_n, "new"),
            )
        })
    });
    // As `seg diff` does it: both versions compiled at once, one per core.
    g.bench_function("compile-both-and-diff", |bench| {
        bench.iter(|| {
            let ((mo, a, _), (mn, b, _)) = std::thread::scope(|s| {
                let o = s.spawn(|| stages::compile(black_box(&old)));
                let n = stages::compile(black_box(&new));
                (o.join().expect("compile"), n)
            });
            match (a, b) {
                (Some(a), Some(b)) => seg_diff::diff(&side(&a, &mo, "old"), &side(&b, &mn, "new"))
                    .changes
                    .len(),
                _ => 0,
            }
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_diff(&mut c);
    c.final_summary();
}
