//! Every backend's emission on generated estates: the shared capability pass
//! plus `emit`, per target, after the front end has run once.
//!
//! `cargo bench -p seg-gen --bench emit` runs 5k identities with 1k and 10k
//! rules. Besides criterion's timings it prints, once per target and size, what
//! was emitted: files, bytes, rules (iptables: also rule lines per host, median
//! and maximum, and all lines; kubernetes:
//! objects; aws/gcp: rules and groups; opa: bundle size).

#[path = "../tests/stages/mod.rs"]
mod stages;

use criterion::{BenchmarkId, Criterion};
use seg_diag::Diagnostics;
use seg_gen::{Spec, generate};
use seg_ir::backend::{
    AwsFormat, AwsOptions, GcpOptions, IptablesOptions, KubernetesOptions, OpaOptions,
    TargetOptions,
};
use seg_ir::capability::prepare;
use seg_ir::{Backend, ConditionClass, Program};
use std::hint::black_box;
use std::time::Duration;

fn targets() -> Vec<(&'static dyn Backend, TargetOptions)> {
    vec![
        (
            &seg_iptables::Iptables,
            TargetOptions::Iptables(IptablesOptions { ipset_threshold: 8 }),
        ),
        (
            &seg_k8s::Kubernetes,
            TargetOptions::Kubernetes(KubernetesOptions::default()),
        ),
        (
            &seg_cloud::Aws,
            TargetOptions::Aws(AwsOptions {
                formats: vec![AwsFormat::Terraform, AwsFormat::CloudFormation],
                // The quota check is an error; the benchmark measures emission.
                max_rules_per_group: 1_000_000,
                max_groups_per_interface: 16,
                vpc_id: None,
            }),
        ),
        (
            &seg_cloud::Gcp,
            TargetOptions::Gcp(GcpOptions {
                network: "bench".into(),
            }),
        ),
        (
            &seg_opa::Opa,
            TargetOptions::Opa(OpaOptions { signing: None }),
        ),
    ]
}

fn program(identities: usize, rules: usize) -> Option<Program> {
    stages::compile(&generate(&Spec {
        identities,
        rules,
        seed: 1,
    }))
    .1
}

/// iptables: rule lines (`-A` on a policy chain, both families) per host,
/// median and maximum, and the lines of all files.
fn iptables_stats(emission: &seg_ir::Emission) -> String {
    let mut per_host: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut lines = 0;
    for a in &emission.artifacts {
        let text = String::from_utf8_lossy(&a.contents);
        lines += text.lines().count();
        let Some(stem) = a.path.strip_suffix(".rules") else {
            continue;
        };
        let stem = stem.strip_suffix(".ip6").unwrap_or(stem);
        let rules = text
            .lines()
            .filter(|l| {
                l.starts_with("-A ") && !l.starts_with("-A INPUT ") && !l.starts_with("-A OUTPUT ")
            })
            .count();
        *per_host.entry(stem).or_default() += rules;
    }
    let mut counts: Vec<usize> = per_host.into_values().collect();
    counts.sort_unstable();
    format!(
        "{} hosts; rule lines per host: median {}, max {}; {lines} lines in all files",
        counts.len(),
        counts.get(counts.len() / 2).copied().unwrap_or(0),
        counts.last().copied().unwrap_or(0)
    )
}

fn bench_emit(c: &mut Criterion) {
    let layered = [ConditionClass::Mtls];
    let mut g = c.benchmark_group("emit");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for (identities, rules) in [(5_000, 1_000), (5_000, 10_000)] {
        let Some(program) = program(identities, rules) else {
            eprintln!(
                "{identities} identities / {rules} rules: the estate does not check; skipped"
            );
            continue;
        };
        let size = format!("{}k-ids/{}k-rules", identities / 1000, rules / 1000);
        for (backend, options) in targets() {
            let prepared = prepare(&program, backend, &layered, &mut Diagnostics::new()).program;
            let emission = backend.emit(&prepared, &options, &mut Diagnostics::new());
            let bytes: usize = emission.artifacts.iter().map(|a| a.contents.len()).sum();
            eprintln!(
                "{size} {}: {} files, {bytes} bytes, {} rules; {}",
                backend.name(),
                emission.artifacts.len(),
                emission.rules,
                emission.notes.join("; ")
            );
            if backend.name() == "iptables" {
                eprintln!("  {}", iptables_stats(&emission));
            }
            g.bench_function(BenchmarkId::new(backend.name(), &size), |b| {
                b.iter(|| {
                    let prepared = prepare(
                        black_box(&program),
                        backend,
                        &layered,
                        &mut Diagnostics::new(),
                    );
                    backend.emit(&prepared.program, &options, &mut Diagnostics::new())
                })
            });
        }
    }
    g.finish();
}

criterion::criterion_group!(benches, bench_emit);
criterion::criterion_main!(benches);
