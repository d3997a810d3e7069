//! `seg check` reports exactly what `seg build` reports: for every example
//! project, every diagnostic case, the hostile corpus and generated estates,
//! the diagnostics of `driver::check` (capability pass and lowering, no
//! rendering) equal those of `driver::build` (the same, then rendering,
//! report and blast radius) — codes, spans, messages, notes and order — for
//! every target at once. A backend that warned or refused only while
//! rendering would fail here.

#![allow(dead_code)]

#[path = "hostile/corpus.rs"]
mod corpus;
#[path = "hostile/project.rs"]
mod project;
#[path = "hostile/text.rs"]
mod text;

use seg::driver::{self, Input, TARGETS};
use seg_diag::{Diagnostic, Diagnostics};
use std::path::{Path, PathBuf};

const NOW: &str = "2026-11-24T00:00:00Z";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every target but `ir` (which has no lowering).
fn targets() -> Vec<String> {
    TARGETS
        .iter()
        .filter(|t| **t != "ir")
        .map(|t| t.to_string())
        .collect()
}

/// What one project came to: whether it reached the targets, and how many
/// target diagnostics both commands gave.
#[derive(Debug, Default)]
struct Seen {
    lowered: bool,
    diagnostics: usize,
}

/// Compile `dir`, then check and build every target; panics with the
/// differing diagnostics if they disagree.
fn agree(dir: &Path, label: &str) -> Seen {
    let now = seg_ir::Timestamp::parse(NOW).expect("now");
    let Ok(input) = Input::from_args(Some(dir), &[]) else {
        return Seen::default();
    };
    let mut comp = driver::compile(&input, now);
    if comp.diags.has_errors() {
        return Seen::default();
    }
    let (Some(program), Some(manifest)) = (&mut comp.program, &comp.manifest) else {
        return Seen::default();
    };
    let all = targets();
    let mut checked = Diagnostics::new();
    let written = program.clone();
    let n = driver::check(
        program,
        manifest,
        &comp.root,
        &all,
        &mut checked,
        &mut |_, _, _| {},
    );
    assert_eq!(n, all.len(), "{label}");
    // The targets lower it in stable-id order, sorted in place: it is put back.
    assert!(
        *program == written,
        "{label}: check left the program otherwise than written"
    );
    let mut built = Diagnostics::new();
    let _ = driver::build(program, manifest, &comp.root, &all, &mut built);
    let checked: Vec<Diagnostic> = checked.iter().cloned().collect();
    let built: Vec<Diagnostic> = built.iter().cloned().collect();
    if checked != built {
        let show =
            |ds: &[Diagnostic]| seg_diag::render_human(&comp.map, ds, seg_diag::ColorChoice::Never);
        panic!(
            "{label}: check and build disagree\n--- check ({}):\n{}\n--- build ({}):\n{}",
            checked.len(),
            show(&checked),
            built.len(),
            show(&built)
        );
    }
    Seen {
        lowered: true,
        diagnostics: built.len(),
    }
}

#[test]
fn examples_and_cases() {
    let mut dirs = seg_tests::projects(&repo().join("examples"));
    let examples = dirs.len();
    dirs.extend(seg_tests::projects(&repo().join("tests/cases")));
    let mut lowered = 0;
    let mut diagnostics = 0;
    for dir in &dirs {
        let seen = agree(dir, &dir.display().to_string());
        lowered += usize::from(seen.lowered);
        diagnostics += seen.diagnostics;
    }
    // The examples and the target cases (E04xx, W04xx) reach the targets.
    assert!(lowered > examples + 10, "only {lowered} projects lowered");
    assert!(diagnostics > 20, "only {diagnostics} target diagnostics");
}

/// Every hostile value in every position a user controls at once; the
/// values the compiler rejects are put back to their benign stand-ins (as
/// `tests/hostile.rs` does) until the project reaches the targets.
#[test]
fn hostile_corpus() {
    let values = corpus::values();
    for case in [
        project::Case::inventory(values.clone()),
        project::Case::policy(values),
    ] {
        let mut mask = vec![true; case.slots.len()];
        let dir = loop {
            let tree = case.render(&mask);
            let dir = tempfile::tempdir().expect("tempdir");
            for (rel, text) in &tree.files {
                let p = dir.path().join(rel);
                std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                std::fs::write(&p, text).expect("write");
            }
            let input = Input::from_args(Some(dir.path()), &[]).expect("a project");
            let comp = driver::compile(&input, seg_ir::Timestamp::parse(NOW).expect("now"));
            let root = dir.path().canonicalize().expect("canonical");
            let before = mask.clone();
            for span in comp
                .diags
                .iter()
                .filter(|d| d.is_error())
                .filter_map(Diagnostic::primary_span)
            {
                let name = PathBuf::from(comp.map.name(span.file));
                let file = name.strip_prefix(&root).unwrap_or(&name);
                let (slots, _) = tree.attribute(
                    &file.to_string_lossy(),
                    span.start as usize,
                    span.end as usize,
                );
                for s in slots {
                    mask[s] = false;
                }
            }
            if !comp.diags.has_errors() {
                break dir;
            }
            assert!(
                mask != before,
                "{}: an error points at no hostile value",
                case.name
            );
        };
        let kept = mask.iter().filter(|&&m| m).count();
        assert!(
            kept * 4 > mask.len(),
            "{}: only {kept} hostile slots kept",
            case.name
        );
        let seen = agree(dir.path(), &case.name);
        assert!(seen.lowered, "{}", case.name);
        assert!(seen.diagnostics > 0, "{}: no target diagnostic", case.name);
    }
}

/// Generated estates: every binding and condition (`seg-gen`) and the
/// comparison job's random pairs.
#[test]
fn generated_estates() {
    let estates = [
        seg_gen::generate(&seg_gen::Spec {
            identities: 300,
            rules: 200,
            seed: 7,
        }),
        seg_gen::pairs::generate(&seg_gen::PairsSpec {
            identities: 200,
            services: 20,
            rules: 300,
            seed: 1,
        }),
    ];
    for (i, estate) in estates.iter().enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        estate.write(dir.path()).expect("write estate");
        let seen = agree(dir.path(), &format!("estate {i}"));
        assert!(seen.lowered, "estate {i} did not compile");
    }
}
