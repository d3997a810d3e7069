//! Every backend's emission on generated estates: the shared capability pass
//! plus `emit`, per target, after the front end has run once.
//!
//! `cargo bench -p seg-gen --bench emit` runs 5k identities with 1k and 10k
//! rules. Besides criterion's timings it prints, once per target and size, what
//! was emitted: files, bytes, rules (iptables: also rule lines per host, median
//! and maximum, and all lines; nftables: hosts, rule lines and named sets;
//! kubernetes and istio: objects; aws/gcp: rules and groups; opa: bundle size), and the gist of any
//! error. `SEG_BENCH_TARGETS=aws,gcp` limits the targets (also the one-off
//! runs that print); `SEG_BENCH_DUMP=<dir>` writes the files there.
//!
//! AWS runs with its default quotas (60 rules per group, direction and address
//! family; 5 groups per interface) and both formats, as the generated
//! `seg.toml` asks. The estate does not fit any quota AWS allows (its rules
//! name segments of hundreds of scattered /32s, one rule each), so emission
//! ends in E0403 after the whole lowering and packing: that is what
//! `emit/aws` measures, and the printed note says how many groups and rules
//! the identities would need and how many exceed one group. `emit/aws-fits`
//! measures an emission that writes files: 30 rules, Terraform, 1000 × 1.

#[path = "../tests/stages/mod.rs"]
mod stages;

use criterion::{BenchmarkId, Criterion};
use seg_diag::Diagnostics;
use seg_gen::{Spec, generate};
use seg_ir::backend::{
    AwsFormat, AwsOptions, GcpOptions, IptablesOptions, IstioOptions, KubernetesOptions,
    NftablesOptions, OpaOptions, TargetOptions,
};
use seg_ir::capability::prepare;
use seg_ir::{Backend, ConditionClass, Program};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

fn targets() -> Vec<(&'static dyn Backend, TargetOptions)> {
    vec![
        (
            &seg_iptables::Iptables,
            TargetOptions::Iptables(IptablesOptions { ipset_threshold: 8 }),
        ),
        (
            &seg_nftables::Nftables,
            TargetOptions::Nftables(NftablesOptions { set_threshold: 8 }),
        ),
        (
            &seg_k8s::Kubernetes,
            TargetOptions::Kubernetes(KubernetesOptions::default()),
        ),
        (
            &seg_istio::Istio,
            TargetOptions::Istio(IstioOptions::default()),
        ),
        (
            &seg_cloud::Aws,
            TargetOptions::Aws(AwsOptions {
                formats: vec![AwsFormat::Terraform, AwsFormat::CloudFormation],
                // AWS's defaults (see the module docs).
                max_rules_per_group: 60,
                max_groups_per_interface: 5,
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

fn wanted(target: &str) -> bool {
    std::env::var("SEG_BENCH_TARGETS").map_or(true, |t| t.split(',').any(|t| t == target))
}

/// iptables: rule lines (`-A` on a policy chain, both families) per host,
/// median and maximum, and the lines of all files.
fn iptables_stats(emission: &seg_ir::Emission) -> String {
    let mut per_host: BTreeMap<&str, usize> = BTreeMap::new();
    let mut lines = 0;
    for a in &emission.artifacts {
        let text = String::from_utf8_lossy(&a.contents);
        lines += text.lines().count();
        // The IPv6 file hosts without IPv6 rules share is no host's.
        let Some(stem) = a.path.strip_suffix(".rules") else {
            continue;
        };
        if a.path == seg_iptables::SHARED_IP6 {
            continue;
        }
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

/// Emit once and print what came out (see the module docs).
fn report(
    label: &str,
    size: &str,
    backend: &dyn Backend,
    program: &Program,
    options: &TargetOptions,
    layered: &[ConditionClass],
) {
    let start = std::time::Instant::now();
    let prepared = prepare(program, backend, layered, &mut Diagnostics::new()).program;
    let mut diags = Diagnostics::new();
    let emission = backend.emit(&prepared, options, &mut diags);
    let took = start.elapsed();
    let bytes: usize = emission.artifacts.iter().map(|a| a.contents.len()).sum();
    eprintln!(
        "{size} {label} (once: {took:.2?}): {} files, {bytes} bytes, {} rules; {}",
        emission.artifacts.len(),
        emission.rules,
        emission.notes.join("; ")
    );
    if label == "iptables" {
        eprintln!("  {}", iptables_stats(&emission));
    }
    let mut errors: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for d in diags.iter().filter(|d| d.is_error()) {
        let code = d.code.map_or("bug", |c| c.as_str()).to_string();
        errors.entry(code).or_insert((0, d.message.clone())).0 += 1;
    }
    for (code, (n, first)) in errors {
        eprintln!("  {code} x{n}, e.g. {first}");
    }
    if let Ok(dir) = std::env::var("SEG_BENCH_DUMP") {
        for a in &emission.artifacts {
            let path = std::path::Path::new(&dir)
                .join(label)
                .join(size)
                .join(&a.path);
            if let Some(parent) = path.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = std::fs::write(path, &a.contents);
        }
    }
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
            if !wanted(backend.name()) {
                continue;
            }
            report(backend.name(), &size, backend, &program, &options, &layered);
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
    if wanted("aws")
        && let Some(program) = program(5_000, 30)
    {
        let options = TargetOptions::Aws(AwsOptions {
            formats: vec![AwsFormat::Terraform],
            max_rules_per_group: 1000,
            max_groups_per_interface: 1,
            vpc_id: None,
        });
        let size = "5k-ids/30-rules";
        report(
            "aws-fits",
            size,
            &seg_cloud::Aws,
            &program,
            &options,
            &layered,
        );
        g.bench_function(BenchmarkId::new("aws-fits", size), |b| {
            b.iter(|| {
                let prepared = prepare(
                    black_box(&program),
                    &seg_cloud::Aws,
                    &layered,
                    &mut Diagnostics::new(),
                );
                seg_cloud::Aws.emit(&prepared.program, &options, &mut Diagnostics::new())
            })
        });
    }
    g.finish();
}

criterion::criterion_group!(benches, bench_emit);
criterion::criterion_main!(benches);
