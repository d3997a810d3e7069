//! Helpers of `tests/hostile.rs`: the corpus, the projects it is written
//! into, running the binary, and the checks of each output against its real
//! reader and against the benign baseline. The bundle loader, the network
//! namespace lab and the venv tools are the other oracle tests' modules.

#![allow(dead_code)]

pub mod carried;
pub mod corpus;
pub mod project;
pub mod run;
pub mod text;
pub mod verify;

#[path = "../opa/bundle.rs"]
pub mod bundle;
#[path = "../cloud/tools.rs"]
pub mod cloud_tools;
#[path = "../k8s/tools.rs"]
pub mod k8s_tools;
#[path = "../iptables/lab.rs"]
pub mod lab;

use project::Case;
use run::Outcome;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Run every case, check each against its baseline, then run the batch
/// validators (kubernetes-validate, cfn-lint) once on every hostile file that
/// differs from its baseline. Returns the outcomes and every problem.
pub fn check(test: &str, cases: &[Case]) -> (Vec<Outcome>, Vec<String>) {
    let started = std::time::Instant::now();
    let lab = match lab::check_tools() {
        Ok(()) => Some(lab::Lab::new("hostile").expect("network namespace")),
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: iptables-restore is needed (CI=true): {why}")
        }
        Err(why) => {
            eprintln!("{test}: rulesets not loaded in iptables-restore: {why}");
            None
        }
    };
    let ns = lab.as_ref().map(|l| l.namespace(0));
    let mut outcomes = Vec::new();
    let mut problems = Vec::new();
    let (mut manifests, mut templates): (Vec<PathBuf>, Vec<PathBuf>) = (Vec::new(), Vec::new());
    let mut times: BTreeMap<&str, f64> = BTreeMap::new();
    let mut clock = std::time::Instant::now();
    let mut lap = |times: &mut BTreeMap<&str, f64>, what| {
        *times.entry(what).or_default() += clock.elapsed().as_secs_f64();
        clock = std::time::Instant::now();
    };
    for case in cases {
        let o = run::run(case);
        lap(&mut times, "builds");
        problems.extend(o.problems.iter().cloned());
        if !o.hostile.is_empty() {
            problems.extend(verify::compare(case, &o, ns.as_deref()));
            lap(&mut times, "compare");
            problems.extend(carried::check(case, &o));
            let (bh, hh) = (
                verify::source_hash(&o.baseline),
                verify::source_hash(&o.hostile),
            );
            for (path, bytes) in &o.hostile {
                let same = o
                    .baseline
                    .get(path)
                    .is_some_and(|b| verify::normalized(b, &bh) == verify::normalized(bytes, &hh));
                let file = o.work.out().join(path);
                if same {
                    continue;
                }
                // The ApplySet parent is of seg's own kind, which the validator
                // has no schema for (the skeleton comparison still covers it).
                if path.starts_with("kubernetes/")
                    && !path.ends_with("kustomization.yaml")
                    && path != "kubernetes/applyset.yaml"
                {
                    manifests.push(file);
                } else if path == "aws/template.json" {
                    templates.push(file);
                }
            }
        }
        outcomes.push(o);
    }
    if !manifests.is_empty()
        && let Some(tool) = k8s_tools::kubernetes_validate()
    {
        problems.extend(kubernetes_validate(&tool, &manifests));
    }
    lap(&mut times, "kubernetes-validate");
    // cfn-lint takes seconds per template: only the small manifest projects'.
    if !templates.is_empty()
        && cases.iter().all(|c| c.kind == project::Kind::Manifest)
        && let Some(lint) = cloud_tools::cfn_lint()
    {
        let out = std::process::Command::new(lint)
            .args(["--format", "json"])
            .args(&templates)
            .output()
            .expect("run cfn-lint");
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !matches!(stdout.trim(), "" | "[]") {
            problems.push(format!(
                "cfn-lint on the hostile templates ({}): {stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    lap(&mut times, "cfn-lint");
    // `$(touch …)` in the corpus: nothing may run a value through a shell.
    if std::path::Path::new("/tmp/seg-hostile-pwned").exists() {
        problems.push("a value was run as a shell command (/tmp/seg-hostile-pwned exists)".into());
    }
    eprintln!(
        "{test}: {} case(s), {} slot(s) in {:.1} s ({})",
        cases.len(),
        cases.iter().map(|c| c.slots.len()).sum::<usize>(),
        started.elapsed().as_secs_f64(),
        times
            .iter()
            .map(|(k, v)| format!("{k} {v:.1} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    (outcomes, problems)
}

/// Per field: which values were carried through and which rejected (with
/// the codes), one line each, for the snapshot.
pub fn summary(cases: &[Case], outcomes: &[Outcome]) -> String {
    let mut by_field: BTreeMap<(String, bool), Vec<String>> = BTreeMap::new();
    for (case, o) in cases.iter().zip(outcomes) {
        for (slot, s) in case.slots.iter().enumerate() {
            let label = &case.values[s.value].label;
            let (rejected, item) = match &o.rejected[slot] {
                Some(codes) => (true, format!("{label} ({codes})")),
                None => (false, label.clone()),
            };
            // Manifest cases hold one value each: one line for all of them.
            let case_name = match case.kind {
                project::Kind::Manifest => "manifest",
                _ => case.name.as_str(),
            };
            by_field
                .entry((format!("{case_name} {}", s.field.name()), rejected))
                .or_default()
                .push(item);
        }
    }
    let mut out = String::new();
    for ((field, rejected), items) in by_field {
        let verb = if rejected { "rejected" } else { "carried" };
        out.push_str(&format!("{field} {verb} ({}):\n", items.len()));
        // Wrapped, so a change shows as a small diff.
        let mut line = String::new();
        for item in items {
            if !line.is_empty() && line.len() + item.len() > 90 {
                out.push_str(&format!("   {line}\n"));
                line.clear();
            }
            line.push(' ');
            line.push_str(&item);
        }
        out.push_str(&format!("   {line}\n"));
    }
    out
}

/// `kubernetes-validate --strict` against the newest schema the other tests
/// use (one version: YAML reading and value types do not differ between
/// them, and each object costs about 20 ms): every file must pass, and a
/// `WARN` counts as a failure.
fn kubernetes_validate(tool: &std::path::Path, files: &[PathBuf]) -> Vec<String> {
    let version = k8s_tools::KUBERNETES_VERSIONS[k8s_tools::KUBERNETES_VERSIONS.len() - 1];
    let mut args: Vec<String> = vec!["--strict".into(), "-k".into(), version.into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = k8s_tools::run(tool, &argv);
    let mut problems = Vec::new();
    if code != 0 || !stderr.trim().is_empty() {
        problems.push(format!("kubernetes-validate exits {code}: {stderr}"));
    }
    let passed: std::collections::BTreeSet<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("INFO "))
        .filter_map(|l| l.split(" passed for resource ").next())
        .collect();
    let resources = [
        " passed for resource networkpolicy/",
        " passed for resource customresourcedefinition/",
    ];
    for line in stdout.lines() {
        if !(line.starts_with("INFO ") && resources.iter().any(|r| line.contains(r))) {
            problems.push(format!("kubernetes-validate: {line}"));
        }
    }
    for f in files {
        if !passed.contains(f.display().to_string().as_str()) {
            problems.push(format!("kubernetes-validate did not pass {}", f.display()));
        }
    }
    problems
}
