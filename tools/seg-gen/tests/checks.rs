//! Generated estates are valid Seg: they parse, load and check without
//! errors, and their `test` expectations hold under the reference semantics.

mod stages;

use seg_diag::{ColorChoice, Severity};
use seg_gen::{Spec, generate};
use seg_ir::Action;
use seg_ir::eval::Evaluator;

/// The estate's program and diagnostics; fails with the rendered errors if any.
fn compiled(estate: &seg_gen::Estate) -> (seg_ir::Program, seg_diag::Diagnostics) {
    let (map, program, diags) = stages::compile(estate);
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).cloned().collect();
    assert!(
        errors.is_empty(),
        "{}",
        seg_diag::render_human(&map, &errors, ColorChoice::Never)
    );
    (program.expect("a program when there is no error"), diags)
}

fn checks(spec: Spec) {
    let (program, diags) = compiled(&generate(&spec));
    assert_eq!(program.identities.len(), spec.identities.max(8));
    // `<->` gives two IR rules; every source rule gives at least one.
    assert!(
        program.rules.len() >= spec.rules + 2,
        "{} rules",
        program.rules.len()
    );
    assert!(program.rules.iter().any(|r| r.action == Action::Deny));
    let ev = Evaluator::new(&program);
    let mut expectations = 0;
    for test in &program.tests {
        for e in &test.expectations {
            let d = ev.decide(&e.flow);
            assert_eq!(
                d.allowed,
                e.decision == Action::Allow,
                "{} line {}: {}",
                e.file,
                e.line,
                d.reason(&program)
            );
            expectations += 1;
        }
    }
    assert!(expectations >= 7, "{expectations} expectations");
    let mut codes = std::collections::BTreeMap::new();
    for d in diags.iter() {
        *codes.entry(d.code.map_or("-", |c| c.as_str())).or_insert(0) += 1;
    }
    eprintln!("{spec:?}: {codes:?}");
    let bugs = diags.iter().filter(|d| d.severity == Severity::Bug).count();
    assert_eq!(bugs, 0);
}

#[test]
fn a_small_estate_checks_without_errors_and_passes_its_tests() {
    checks(Spec {
        identities: 600,
        rules: 150,
        seed: 1,
    });
}

#[test]
fn other_seeds_and_a_single_team_check_too() {
    checks(Spec {
        identities: 1_200,
        rules: 300,
        seed: 42,
    });
    checks(Spec {
        identities: 40,
        rules: 12,
        seed: 9,
    });
}

#[test]
fn the_pairs_job_checks_without_errors() {
    let spec = seg_gen::PairsSpec {
        identities: 300,
        services: 12,
        rules: 1_200,
        seed: 3,
    };
    let (program, _) = compiled(&seg_gen::pairs::generate(&spec));
    assert_eq!(program.identities.len(), 300);
    assert_eq!(program.rules.len(), 1_200);
    assert!(program.rules.iter().all(|r| r.action == Action::Allow));
}

#[test]
fn an_edited_estate_checks_and_the_diff_sees_its_edits() {
    let spec = Spec {
        identities: 600,
        rules: 150,
        seed: 1,
    };
    let old = generate(&spec);
    let new = seg_gen::edit(&old, 10, 5, 1);
    assert_eq!(new, seg_gen::edit(&old, 10, 5, 1));
    let (map_o, a, _) = stages::compile(&old);
    let (map_n, b, diags) = stages::compile(&new);
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).cloned().collect();
    assert!(
        errors.is_empty(),
        "{}",
        seg_diag::render_human(&map_n, &errors, ColorChoice::Never)
    );
    let (a, b) = (a.expect("old program"), b.expect("new program"));
    let side = |p, map, label: &str| seg_diff::Side {
        program: p,
        map: Some(map),
        label: label.into(),
    };
    let d = seg_diff::diff(&side(&a, &map_o, "old"), &side(&b, &map_n, "new"));
    let ids = &d.identities;
    assert_eq!((ids.added.len(), ids.removed.len()), (1, 1), "{ids:?}");
    assert!(ids.changed.len() >= 2, "{ids:?}");
    assert!(
        d.summary.newly_allowed > 0 && d.summary.newly_denied > 0,
        "{:?}",
        d.summary
    );
}

/// The istio target's output stays below the kubernetes target's. Their ratio
/// depends on the estate's shape (istio lists every source principal, which
/// grows with identities; kubernetes names pods by labels): at 5k identities /
/// 10k rules (docs/performance.md) istio writes 98.5% of kubernetes' bytes, at
/// this shape 86%. Writing 1.5% more would put the 5k/10k estate over, so the
/// bound here keeps that margin: 87.5%.
#[test]
fn istio_writes_fewer_bytes_than_kubernetes() {
    use seg_diag::Diagnostics;
    use seg_ir::backend::{IstioOptions, KubernetesOptions};
    use seg_ir::{Backend, ConditionClass, TargetOptions};
    let (program, _) = compiled(&generate(&Spec {
        identities: 2_000,
        rules: 1_000,
        seed: 1,
    }));
    let bytes = |backend: &dyn Backend, options: TargetOptions| -> usize {
        let mut diags = Diagnostics::new();
        let prepared =
            seg_ir::capability::prepare(&program, backend, &[ConditionClass::Mtls], &mut diags);
        let emission = backend.emit(&prepared.program, &options, &mut diags);
        assert!(!diags.has_errors(), "{}", backend.name());
        emission.artifacts.iter().map(|a| a.contents.len()).sum()
    };
    let kubernetes = bytes(
        &seg_k8s::Kubernetes,
        TargetOptions::Kubernetes(KubernetesOptions::default()),
    );
    let istio = bytes(
        &seg_istio::Istio,
        TargetOptions::Istio(IstioOptions::default()),
    );
    assert!(
        istio * 1000 <= kubernetes * 875,
        "istio {istio} bytes, kubernetes {kubernetes} ({:.1}%)",
        istio as f64 * 100.0 / kubernetes as f64
    );
}
