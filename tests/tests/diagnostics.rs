//! Every diagnostic code has a case: `tests/cases/<CODE>-<name>/` is a small
//! project whose `seg.toml` starts with `# expect: CODE[, CODE...]` (and
//! optionally `# command: build` and `# targets: a, b`, or `# command: audit`,
//! `# flows: FILE, ...` and `# max-malformed: SHARE` to read flow logs of the
//! case as `seg audit` does). Each case is compiled by the real driver and
//! snapshotted with its sources and rendered diagnostics.

use seg::driver::{self, Input};
use seg_diag::{Code, ColorChoice, Diagnostic};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const NOW: &str = "2026-11-24T00:00:00Z";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cases() -> Vec<PathBuf> {
    let v = seg_tests::projects(&repo().join("tests/cases"));
    assert!(!v.is_empty(), "no case under tests/cases");
    v
}

struct Directives {
    expect: Vec<String>,
    build: bool,
    targets: Vec<String>,
    audit: bool,
    flows: Vec<String>,
    max_malformed: Option<f64>,
}

fn directives(case: &Path) -> Directives {
    let text = fs::read_to_string(case.join("seg.toml")).unwrap_or_default();
    let mut d = Directives {
        expect: Vec::new(),
        build: false,
        targets: Vec::new(),
        audit: false,
        flows: Vec::new(),
        max_malformed: None,
    };
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        let list = |rest: &str| {
            rest.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        if let Some(rest) = line.strip_prefix("# expect:") {
            d.expect = list(rest);
        } else if let Some(rest) = line.strip_prefix("# command:") {
            d.build = rest.trim() == "build";
            d.audit = rest.trim() == "audit";
        } else if let Some(rest) = line.strip_prefix("# flows:") {
            d.flows = list(rest);
        } else if let Some(rest) = line.strip_prefix("# max-malformed:") {
            d.max_malformed = Some(rest.trim().parse().expect("a share"));
        } else if let Some(rest) = line.strip_prefix("# targets:") {
            d.targets = list(rest);
        }
    }
    d
}

/// Compile (and build, if asked) a case; the diagnostics as the CLI would print them.
fn run(case: &Path) -> (String, Vec<Diagnostic>) {
    let d = directives(case);
    let now = seg_ir::Timestamp::parse(NOW).expect("now");
    let input = Input::from_args(Some(case), &[]).expect("case is a project");
    let mut comp = driver::compile(&input, now);
    if d.build
        && let (Some(program), Some(manifest)) = (&comp.program, &comp.manifest)
        && !comp.diags.has_errors()
    {
        let _ = driver::build(program, manifest, &comp.root, &d.targets, &mut comp.diags);
    }
    if d.audit
        && let (Some(program), Some(inventory), Some(manifest)) =
            (&comp.program, &comp.inventory, &comp.manifest)
        && !comp.diags.has_errors()
    {
        read_flows(case, &d, program, inventory, manifest, &mut comp.diags);
    }
    let levels = comp
        .manifest
        .as_ref()
        .map(|m| m.lints.clone())
        .unwrap_or_default();
    comp.diags.apply_levels(&levels, false);
    comp.diags.sort();
    let diags: Vec<Diagnostic> = comp.diags.iter().cloned().collect();
    // Flow-log messages name files by the path given: show it from the case.
    let rendered = seg_diag::render_human(&comp.map, &diags, ColorChoice::Never)
        .replace(&format!("{}/", case.display()), "");
    (rendered, diags)
}

/// Read a case's flow logs as `seg audit` does: each malformed record and a
/// fatal reader error become diagnostics.
fn read_flows(
    case: &Path,
    d: &Directives,
    program: &seg_ir::Program,
    inventory: &seg_check::inventory::Inventory,
    manifest: &seg_check::manifest::Manifest,
    diags: &mut seg_diag::Diagnostics,
) {
    let plan = seg_audit::plan::Plan::new(program, inventory, &manifest.audit, None, None);
    let flows: Vec<String> = d
        .flows
        .iter()
        .map(|f| case.join(f).to_string_lossy().into_owned())
        .collect();
    let mut options = seg_flows::ReaderOptions::default();
    if let Some(share) = d.max_malformed {
        options.max_malformed_share = share;
    }
    let mut malformed = Vec::new();
    let read = seg_audit::read(
        &plan,
        &flows,
        seg_flows::FormatChoice::Auto,
        &options,
        |m| malformed.push(m.diagnostic()),
    );
    diags.extend(malformed);
    if let Err(e) = read {
        diags.push(e.diagnostic());
    }
}

fn sources(case: &Path) -> String {
    let mut files = Vec::new();
    let mut stack = vec![case.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).expect("read_dir").flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    files.sort();
    let mut out = String::new();
    for f in files {
        let rel = f
            .strip_prefix(case)
            .expect("prefix")
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = fs::read(&f).expect("read");
        let text = match String::from_utf8(bytes) {
            Ok(t) if t.len() <= 4000 => t,
            Ok(t) => format!("<{} bytes of text>\n", t.len()),
            Err(e) => format!("<{} bytes, not UTF-8>\n", e.as_bytes().len()),
        };
        out.push_str(&format!("//// {rel}\n{text}"));
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

#[test]
fn every_case_reports_its_codes() {
    let mut failures = Vec::new();
    for case in cases() {
        let name = case
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let d = directives(&case);
        assert!(
            !d.expect.is_empty(),
            "{name}: seg.toml must start with `# expect: CODE`"
        );
        let (rendered, diags) = run(&case);
        let got: BTreeSet<&str> = diags
            .iter()
            .filter_map(|d| d.code.map(Code::as_str))
            .collect();
        for want in &d.expect {
            if !got.contains(want.as_str()) {
                failures.push(format!("{name}: expected {want}, got {got:?}\n{rendered}"));
            }
        }
        insta::with_settings!({ snapshot_path => repo().join("tests/cases/snapshots"), prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(name.clone(), format!("{}----- DIAGNOSTICS\n{rendered}", sources(&case)));
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_code_has_a_case_and_a_documentation_page() {
    let mut covered = BTreeSet::new();
    for case in cases() {
        covered.extend(directives(&case).expect);
    }
    let mut missing = Vec::new();
    for code in Code::ALL {
        let c = code.as_str();
        // E9001 marks a bug in seg itself: no valid input may produce it.
        if *code != Code::InternalError && !covered.contains(c) {
            missing.push(format!("{c}: no case in tests/cases"));
        }
        if !repo().join(format!("docs/diagnostics/{c}.md")).is_file() {
            missing.push(format!("{c}: no docs/diagnostics/{c}.md"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
