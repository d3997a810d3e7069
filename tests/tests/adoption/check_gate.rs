//! `seg check` as the whole CI gate: it reports everything `seg build` would reject or warn
//! about for the targets of seg.toml, and one run reports every problem (the coverage lints
//! run on the rules that lowered even when other rules have errors).

use super::run::{NOW, code, seg_in, shown, stderr};
use seg_tests::tools;
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::path::Path;

/// The diagnostics of `seg ARGS --format json` as (code, message, file:line) triples.
fn diagnostics(cwd: &Path, args: &[&str]) -> (i32, BTreeSet<(String, String, String)>) {
    let mut all = args.to_vec();
    all.extend(["--format", "json", "--now", NOW]);
    let o = seg_in(cwd, &all);
    let v: Json = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("seg {all:?}: {e}: {}", shown(&o)));
    let set = v["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or("").to_string(),
                d["message"].as_str().unwrap_or("").to_string(),
                format!(
                    "{}:{}",
                    d["location"]["file"].as_str().unwrap_or(""),
                    d["location"]["line"]
                ),
            )
        })
        .collect();
    (code(&o), set)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// Every case whose problem only `seg build` used to find (`# command: build`), with its
/// targets in seg.toml: `seg check` reports exactly what `seg build` does.
#[test]
fn check_reports_what_build_rejects_or_warns_about() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut seen = 0;
    for case in seg_tests::projects(&tools::repo().join("tests/cases")) {
        let toml = std::fs::read_to_string(case.join("seg.toml")).expect("seg.toml");
        let header: Vec<&str> = toml.lines().take_while(|l| l.starts_with('#')).collect();
        if !header.iter().any(|l| l.trim() == "# command: build") {
            continue;
        }
        let expect: Vec<&str> = header
            .iter()
            .find_map(|l| l.strip_prefix("# expect:"))
            .map(|r| r.split(',').map(str::trim).collect())
            .unwrap_or_default();
        let targets: Vec<&str> = header
            .iter()
            .find_map(|l| l.strip_prefix("# targets:"))
            .map(|r| r.split(',').map(str::trim).collect())
            .unwrap_or_default();
        let name = case
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let dir = scratch.path().join(&name);
        copy_dir(&case, &dir);
        let mut toml = toml.clone();
        for t in &targets {
            if !toml.contains(&format!("[targets.{t}]")) {
                toml.push_str(&format!("\n[targets.{t}]\n"));
            }
        }
        std::fs::write(dir.join("seg.toml"), toml).expect("write");
        let (check_code, check) = diagnostics(&dir, &["check"]);
        let out = dir.join("out");
        let (build_code, build) =
            diagnostics(&dir, &["build", "--out", out.to_str().expect("utf-8")]);
        assert_eq!(check, build, "{name}: check and build differ");
        assert_eq!(check_code, build_code, "{name}");
        for e in &expect {
            assert!(
                check.iter().any(|(c, _, _)| c == e),
                "{name}: check misses {e}: {check:?}"
            );
        }
        assert!(
            !out.exists() || build_code == 0,
            "{name}: a failed build wrote output"
        );
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} build cases");
}

/// The report's scaffold: `check` and `build --deny-warnings` agree, as shipped and once
/// the fail-closed omissions are warnings again.
#[test]
fn check_and_build_agree_on_the_scaffold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = seg_in(dir.path(), &["init", "p", "--now", NOW]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let p = dir.path().join("p");
    for args in [["check", "--deny-warnings"], ["build", "--deny-warnings"]] {
        let o = seg_in(&p, &[args[0], args[1], "--now", NOW]);
        assert_eq!(
            code(&o),
            0,
            "untouched scaffold, seg {args:?}: {}",
            shown(&o)
        );
    }
    let toml = std::fs::read_to_string(p.join("seg.toml")).expect("read");
    std::fs::write(
        p.join("seg.toml"),
        toml.replace("fail-closed = \"allow\"", "fail-closed = \"warn\""),
    )
    .expect("write");
    let (c, check) = diagnostics(&p, &["check", "--deny-warnings"]);
    let (b, build) = diagnostics(&p, &["build", "--deny-warnings"]);
    assert_eq!((c, b), (1, 1));
    assert_eq!(check, build);
    let omitted = check.iter().filter(|(c, _, _)| c == "W0401").count();
    assert_eq!(omitted, 3, "{check:?}");
}

/// Errors in some rules do not silence the coverage lints on the others; a rule that reads
/// a segment with an error in it is not called shadowed for want of the members it lost.
#[test]
fn one_run_reports_coverage_lints_next_to_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = seg_in(dir.path(), &["init", "p", "--now", NOW]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let p = dir.path().join("p");
    std::fs::write(
        p.join("policy/main.seg"),
        "segment partial = [web, nobody]\n\
         policy p {\n  owner \"team\"\n\
         \x20 allow api -> db on tcp/5432 when mtls\n\
         \x20 allow api -> db on tcp/5432\n\
         \x20 allow web -> resolver on udp/53\n\
         \x20 deny any -> resolver on udp/53\n\
         \x20 allow web -> db on tcp/1\n\
         \x20 allow partial -> db on tcp/1\n\
         \x20 allow missing -> db on tcp/9\n}\n",
    )
    .expect("write");
    let o = seg_in(&p, &["check", "--now", NOW]);
    assert_eq!(code(&o), 1, "{}", shown(&o));
    let err = stderr(&o);
    let found: Vec<(String, String)> = err
        .lines()
        .zip(err.lines().skip(1))
        .filter(|(head, _)| head.starts_with("error[") || head.starts_with("warning["))
        .map(|(head, at)| {
            let code =
                head[head.find('[').unwrap_or(0) + 1..head.find(']').unwrap_or(0)].to_string();
            let at = at.rsplit(' ').next().unwrap_or("").to_string();
            (code, at)
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("E0201", "policy/main.seg:1:25"), // `nobody` in the segment
        ("W0306", "policy/main.seg:4:3"),  // the mtls rule repeats the plain one
        ("W0307", "policy/main.seg:6:3"),  // the deny cancels the resolver allow
        ("E0201", "policy/main.seg:10:9"), // `missing` in a rule
    ]
    .iter()
    .map(|(c, a)| (c.to_string(), a.to_string()))
    .collect();
    // Nothing about line 9: `allow web -> db on tcp/1` covers what `partial` kept, but
    // `partial` has an error, so its rule is not judged.
    assert_eq!(found, expected, "{err}");
}
