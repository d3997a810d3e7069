//! SARIF that GitHub code scanning accepts: valid against the OASIS SARIF 2.1.0 schema
//! (vendored in tests/schemas/), and within GitHub's upload rules: every result has a
//! location, every rule id is described, URIs are relative to the repository root and
//! percent-encoded, at most 25,000 results and 10 MB per run.

use super::run::{NOW, code, git_repo, seg_exe, seg_in, shown, stderr};
use seg_tests::tools;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `seg ARGS` in `cwd`; its stdout parsed as a SARIF log.
fn sarif(cwd: &Path, args: &[&str]) -> (i32, Json, String) {
    let o = seg_in(cwd, args);
    let log = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("seg {args:?}: not JSON ({e}): {}", shown(&o)));
    (code(&o), log, stderr(&o))
}

/// Every problem GitHub's upload would have with `log` (besides the schema).
pub fn github_problems(log: &Json, bytes: usize) -> Vec<String> {
    let mut problems = Vec::new();
    if bytes > 10 * 1024 * 1024 {
        problems.push(format!("{bytes} bytes: more than 10 MB"));
    }
    let runs = log["runs"].as_array().cloned().unwrap_or_default();
    if runs.is_empty() || runs.len() > 20 {
        problems.push(format!("{} runs", runs.len()));
    }
    for run in &runs {
        let rules = run["tool"]["driver"]["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (i, rule) in rules.iter().enumerate() {
            let id = rule["id"].as_str().unwrap_or("?");
            for key in ["shortDescription", "fullDescription"] {
                if rule[key]["text"].as_str().is_none_or(str::is_empty) {
                    problems.push(format!("rule {id}: no {key}"));
                }
            }
            for key in ["text", "markdown"] {
                if rule["help"][key]
                    .as_str()
                    .is_none_or(|t| !t.starts_with('#'))
                {
                    problems.push(format!("rule {id}: no help {key} from its page"));
                }
            }
            if let Some(uri) = rule["helpUri"].as_str()
                && !uri.starts_with("https://")
                && !uri.starts_with("http://")
            {
                problems.push(format!("rule {id}: helpUri `{uri}` is not absolute"));
            }
            if rule["properties"]["tags"]
                .as_array()
                .is_some_and(|t| t.len() > 20)
            {
                problems.push(format!("rule {id}: more than 20 tags"));
            }
            if rules[..i].iter().any(|r| r["id"] == rule["id"]) {
                problems.push(format!("rule {id} twice"));
            }
        }
        let bases = run["originalUriBaseIds"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (name, base) in &bases {
            let uri = base["uri"].as_str().unwrap_or("");
            if !uri.starts_with("file:///") || !uri.ends_with('/') {
                problems.push(format!(
                    "base {name}: `{uri}` is not an absolute folder URI"
                ));
            }
        }
        let results = run["results"].as_array().cloned().unwrap_or_default();
        if results.len() > 25_000 {
            problems.push(format!("{} results in a run", results.len()));
        }
        for r in &results {
            let id = r["ruleId"].as_str().unwrap_or("");
            match r["ruleIndex"].as_u64().and_then(|i| rules.get(i as usize)) {
                Some(rule) if rule["id"] == id => {}
                _ => problems.push(format!(
                    "result `{id}`: not in tool.driver.rules at its ruleIndex"
                )),
            }
            let locations = r["locations"].as_array().cloned().unwrap_or_default();
            let related = r["relatedLocations"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if locations.is_empty() {
                problems.push(format!("result `{id}` has no location: {r}"));
            }
            if locations.len() + related.len() > 1_000 {
                problems.push(format!("result `{id}` has more than 1000 locations"));
            }
            for l in locations.iter().chain(&related) {
                let p = &l["physicalLocation"];
                let uri = p["artifactLocation"]["uri"].as_str().unwrap_or("");
                let base = p["artifactLocation"]["uriBaseId"].as_str().unwrap_or("");
                if uri.is_empty()
                    || uri.contains("://")
                    || uri.starts_with('/')
                    || uri.contains("..")
                {
                    problems.push(format!(
                        "result `{id}`: uri `{uri}` is not relative to the repository"
                    ));
                }
                if !uri
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~/%".contains(&b))
                {
                    problems.push(format!("result `{id}`: uri `{uri}` is not percent-encoded"));
                }
                if !bases.contains_key(base) {
                    problems.push(format!("result `{id}`: uriBaseId `{base}` is not declared"));
                }
                if p["region"]["startLine"].as_u64().is_none_or(|l| l == 0) {
                    problems.push(format!("result `{id}`: no region.startLine"));
                }
            }
        }
    }
    problems
}

/// The logs against the vendored OASIS schema, and GitHub's rules.
pub fn assert_accepted(logs: &[(&str, &Json)]) {
    for (what, log) in logs {
        let bytes = serde_json::to_string(log).expect("json").len();
        let problems = github_problems(log, bytes);
        assert!(problems.is_empty(), "{what}: {problems:#?}");
    }
    let Some(check) = tools::venv_tool("check-jsonschema") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let files: Vec<PathBuf> = logs
        .iter()
        .enumerate()
        .map(|(i, (_, log))| {
            let f = dir.path().join(format!("{i}.sarif.json"));
            std::fs::write(&f, serde_json::to_vec(log).expect("json")).expect("write");
            f
        })
        .collect();
    let schema = tools::repo().join("tests/schemas/sarif-2.1.0/sarif-schema-2.1.0.json");
    let o = Command::new(check)
        .arg("--schemafile")
        .arg(&schema)
        .args(&files)
        .output()
        .expect("run check-jsonschema");
    let names: Vec<&str> = logs.iter().map(|(w, _)| *w).collect();
    assert_eq!(
        code(&o),
        0,
        "{names:?} against the SARIF schema: {}",
        shown(&o)
    );
}

fn results(log: &Json) -> Vec<Json> {
    log["runs"][0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn uri(result: &Json) -> &str {
    result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap_or("")
}

#[test]
fn diagnostics_of_every_kind_are_accepted() {
    let repo = tools::repo();
    let out = tempfile::tempdir().expect("tempdir");
    let out = out.path().to_str().expect("utf-8");
    // Warnings with spans (the bank), a warning without a span (W0405, a build), errors with
    // secondary labels, and usage errors that have no code and no file.
    let (_, bank, _) = sarif(
        &repo,
        &["check", "examples/bank", "--now", NOW, "--format", "sarif"],
    );
    let (c, nothing, _) = sarif(
        &repo,
        &[
            "build",
            "tests/cases/W0405-nothing-managed",
            "--target",
            "gcp",
            "--now",
            NOW,
            "--format",
            "sarif",
            "--out",
            out,
        ],
    );
    assert_eq!(c, 0);
    let (c, missing, _) = sarif(&repo, &["check", "does/not/exist", "--format", "sarif"]);
    assert_eq!(c, 2);
    let (c, bad_now, _) = sarif(
        &repo,
        &[
            "check",
            "examples/bank",
            "--now",
            "yesterday",
            "--format",
            "sarif",
        ],
    );
    assert_eq!(c, 2);
    let (c, cyclic, _) = sarif(
        &repo,
        &[
            "check",
            "tests/cases/E0206-cyclic-segment",
            "--now",
            NOW,
            "--format",
            "sarif",
        ],
    );
    assert_eq!(c, 1);
    assert_accepted(&[
        ("bank", &bank),
        ("W0405", &nothing),
        ("missing", &missing),
        ("bad --now", &bad_now),
        ("E0206", &cyclic),
    ]);

    // Inside this repository, URIs start at its root.
    let r = results(&bank);
    assert!(r.iter().any(|r| r["ruleId"] == "W0102"), "{r:#?}");
    assert!(
        r.iter().all(|r| uri(r).starts_with("examples/bank/")),
        "{r:#?}"
    );
    let base = &bank["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"];
    let root = repo.canonicalize().expect("canonical");
    assert_eq!(
        base.as_str(),
        Some(format!("file://{}/", root.display()).as_str())
    );

    // A result without a span points at seg.toml.
    let w = results(&nothing);
    let w0405 = w.iter().find(|r| r["ruleId"] == "W0405").expect("W0405");
    assert_eq!(uri(w0405), "tests/cases/W0405-nothing-managed/seg.toml");

    // A usage error is rule `usage`, described like any other, at the input it names.
    let m = results(&missing);
    assert_eq!(m[0]["ruleId"], "usage");
    assert_eq!(uri(&m[0]), "does/not/exist");
    assert_eq!(
        missing["runs"][0]["invocations"][0]["executionSuccessful"],
        false
    );
    assert_eq!(uri(&results(&bad_now)[0]), "examples/bank/seg.toml");
    let rules = &missing["runs"][0]["tool"]["driver"]["rules"];
    assert_eq!(rules[0]["id"], "usage");
    // No helpUri without a configured absolute base.
    for log in [&bank, &missing] {
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .expect("rules");
        assert!(
            rules.iter().all(|r| r.get("helpUri").is_none()),
            "{rules:#?}"
        );
    }
}

#[test]
fn help_uris_need_an_absolute_base() {
    let run = |base: &str| {
        let o = Command::new(seg_exe())
            .args(["check", "examples/bank", "--now", NOW, "--format", "sarif"])
            .current_dir(tools::repo())
            .env("SEG_HELP_URI_BASE", base)
            .output()
            .expect("run seg");
        let log: Json = serde_json::from_slice(&o.stdout).expect("sarif");
        log["runs"][0]["tool"]["driver"]["rules"][0].clone()
    };
    let rule = run("https://seg.example.org/docs/diagnostics");
    let id = rule["id"].as_str().expect("id");
    assert_eq!(
        rule["helpUri"],
        format!("https://seg.example.org/docs/diagnostics/{id}.md")
    );
    assert!(run("docs/diagnostics/").get("helpUri").is_none());
}

/// A project in a subfolder of a git repository, with names that need percent-encoding.
#[test]
fn uris_are_relative_to_the_repository_root_and_percent_encoded() {
    let repo = git_repo();
    let project = repo.path().join("policies/my project");
    let o = seg_in(
        repo.path(),
        &["init", "policies/my project", "--name", "p", "--now", NOW],
    );
    assert_eq!(code(&o), 0, "{}", shown(&o));
    std::fs::write(project.join("policy/ä b#1.seg"), "segment s = [nobody]\n").expect("write");
    let (c, log, _) = sarif(
        &project.join("policy"),
        &["check", "--format", "sarif", "--now", NOW],
    );
    assert_eq!(c, 1);
    assert_accepted(&[("subfolder", &log)]);
    let r = results(&log);
    let e = r.iter().find(|r| r["ruleId"] == "E0201").expect("E0201");
    assert_eq!(uri(e), "policies/my%20project/policy/%C3%A4%20b%231.seg");
    let root = repo.path().canonicalize().expect("canonical");
    assert_eq!(
        log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"].as_str(),
        Some(format!("file://{}/", root.display()).as_str())
    );
}

#[test]
fn test_writes_sarif_and_explain_refuses_it() {
    let repo = tools::repo();
    let dir = tempfile::tempdir().expect("tempdir");
    let o = seg_in(dir.path(), &["init", "p", "--now", NOW]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let main = dir.path().join("p/policy/main.seg");
    let text = std::fs::read_to_string(&main).expect("read");
    let wrong = "expect deny  api        -> db on tcp/5432\n";
    assert!(text.contains(wrong), "{text}");
    std::fs::write(
        &main,
        text.replace(wrong, "expect allow api        -> db on tcp/5432\n"),
    )
    .expect("write");
    let (c, failing, _) = sarif(
        dir.path(),
        &["test", "p", "--format", "sarif", "--now", NOW],
    );
    assert_eq!(c, 1);
    let (c, passing, _) = sarif(
        &repo,
        &["test", "examples/bank", "--format", "sarif", "--now", NOW],
    );
    assert_eq!(c, 0);
    assert_accepted(&[("failing test", &failing), ("bank tests", &passing)]);
    let r = results(&failing);
    let failed: Vec<&Json> = r.iter().filter(|r| r["ruleId"] == "test-failed").collect();
    assert_eq!(failed.len(), 1, "{r:#?}");
    assert_eq!(uri(failed[0]), "policy/main.seg");
    assert_eq!(
        failed[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        34
    );
    let message = failed[0]["message"]["text"].as_str().expect("message");
    assert!(
        message.contains("expected allow, the policy decided deny"),
        "{message}"
    );
    assert!(
        !results(&passing)
            .iter()
            .any(|r| r["ruleId"] == "test-failed")
    );

    let o = seg_in(
        &repo,
        &[
            "explain",
            "payments-api",
            "ledger-postgres",
            "tcp/5432",
            "examples/bank",
            "--format",
            "sarif",
        ],
    );
    assert_eq!(code(&o), 2, "{}", shown(&o));
    assert!(o.stdout.is_empty());
    assert!(
        stderr(&o).contains("`seg explain` has no SARIF output"),
        "{}",
        stderr(&o)
    );
}

/// More findings than code scanning takes: the most severe are kept, then the first by file
/// and line (so every run keeps the same ones), within 25,000 results and 10 MB, and the log
/// and stderr say what was left out.
#[test]
fn a_huge_run_is_cut_deterministically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = seg_in(dir.path(), &["init", "p", "--now", NOW]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    // 26,000 unused segments (warnings), then two errors.
    let mut text = String::with_capacity(26_000 * 40);
    for i in 0..26_000 {
        text.push_str(&format!("segment unused-{i} = [web]\n"));
    }
    text.push_str("segment broken-1 = [nobody]\nsegment broken-2 = [nobody]\n");
    std::fs::write(dir.path().join("p/policy/many.seg"), text).expect("write");
    let o = seg_in(
        dir.path(),
        &["check", "p", "--format", "sarif", "--now", NOW],
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        o.stdout.len() <= 10 * 1024 * 1024,
        "{} bytes",
        o.stdout.len()
    );
    let mut log: Json = serde_json::from_slice(&o.stdout).expect("sarif");
    let r = results(&log);
    assert!(r.len() <= 25_000 && r.len() > 10_000, "{} results", r.len());
    // Errors first, then warnings by line: a prefix of one fixed order.
    let key = |r: &Json| {
        let level = ["error", "warning", "note"]
            .iter()
            .position(|l| r["level"] == *l);
        let line = r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64();
        (level, uri(r).to_string(), line)
    };
    assert!(
        r.windows(2).all(|w| key(&w[0]) <= key(&w[1])),
        "not in severity, file, line order"
    );
    assert_eq!(
        r.iter().filter(|r| r["level"] == "error").count(),
        2,
        "the errors are kept"
    );
    let line_of = |r: &Json| r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64();
    let last_kept = r
        .iter()
        .rev()
        .find(|r| uri(r) == "policy/many.seg")
        .and_then(line_of);
    assert_eq!(
        last_kept,
        Some(r.len() as u64 - 2 - results_before_many(&r)),
        "the first lines are kept"
    );
    let notice =
        log["runs"][0]["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
            .as_str()
            .expect("a notification")
            .to_string();
    let (kept, total) = notice
        .split_once(" of ")
        .and_then(|(k, rest)| {
            Some((
                k.parse::<usize>().ok()?,
                rest.split(' ').next()?.parse::<usize>().ok()?,
            ))
        })
        .expect("N of M results");
    assert_eq!(kept, r.len(), "{notice}");
    assert!(total > 26_000, "{notice}");
    assert!(
        stderr(&o).contains(&format!("warning: {notice}")),
        "{}",
        stderr(&o)
    );
    // The schema, on the same log with fewer results (validating 10 MB takes long).
    log["runs"][0]["results"] = Json::Array(r[..100].to_vec());
    assert_accepted(&[("cut", &log)]);
}

/// Warnings of files before `policy/many.seg` in the kept results.
fn results_before_many(r: &[Json]) -> u64 {
    r.iter()
        .filter(|r| r["level"] == "warning" && uri(r) < "policy/many.seg")
        .count() as u64
}

/// Every rule id a SARIF log can name has its page behind `seg explain-code`.
#[test]
fn every_rule_id_has_a_page() {
    let repo = tools::repo();
    for id in [
        "usage",
        "test-failed",
        "E0201",
        "w0305",
        "E0170",
        "would-break",
    ] {
        let o = seg_in(&repo, &["explain-code", id]);
        assert_eq!(code(&o), 0, "{id}: {}", shown(&o));
        assert!(super::run::stdout(&o).starts_with('#'), "{id}");
    }
    assert_eq!(code(&seg_in(&repo, &["explain-code", "../README"])), 2);
}

/// `seg audit --format sarif`, as a CI job uploads it: findings of every level, and a log
/// (not an empty file) when the policy has errors, the flow logs cannot be read or an
/// option is wrong, every URI from the repository root.
#[test]
fn audit_writes_sarif_code_scanning_accepts() {
    let repo = git_repo();
    let o = seg_in(repo.path(), &["init", "policies", "--now", NOW, "-q"]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let record = |src: &str, dst: &str, port: u16| {
        format!(
            "{{\"start\":\"2026-11-23T10:00:00Z\",\"end\":\"2026-11-23T10:01:00Z\",\"src\":\"{src}\",\"dst\":\"{dst}\",\"src_port\":43122,\"dst_port\":{port},\"protocol\":6,\"verdict\":\"allowed\"}}\n"
        )
    };
    // web -> api (allowed), web -> db (the policy denies it), an unknown client, api -> db
    // (allowed only with mTLS, which logs cannot show).
    let flows = repo.path().join("flows.jsonl");
    std::fs::write(
        &flows,
        [
            record("10.0.1.10", "10.0.2.10", 8080),
            record("10.0.1.10", "10.0.3.10", 5432),
            record("192.0.2.7", "10.0.2.10", 8080),
            record("10.0.2.10", "10.0.3.10", 5432),
        ]
        .concat(),
    )
    .expect("write");
    let audit = |extra: &[&str]| {
        let mut args = vec![
            "audit",
            "policies",
            "--flows",
            "flows.jsonl",
            "--now",
            NOW,
            "--format",
            "sarif",
        ];
        args.extend(extra);
        sarif(repo.path(), &args)
    };
    let (c, findings, _) = audit(&[]);
    assert_eq!(c, 1, "would-break is an error");
    let levels: std::collections::BTreeSet<String> = results(&findings)
        .iter()
        .filter_map(|r| r["level"].as_str().map(String::from))
        .collect();
    assert_eq!(levels.len(), 3, "{findings:#}");
    assert!(
        results(&findings)
            .iter()
            .all(|r| uri(r).starts_with("policies/")),
        "{findings:#}"
    );
    let (c, unreadable, _) = audit(&["--flows", "missing.jsonl"]);
    assert_eq!(c, 2);
    let r = results(&unreadable);
    assert_eq!(
        (r[0]["ruleId"].as_str(), uri(&r[0])),
        (Some("E0170"), "policies/seg.toml")
    );
    assert!(
        r[0]["message"]["text"]
            .as_str()
            .is_some_and(|m| m.contains("missing.jsonl"))
    );
    assert_eq!(
        unreadable["runs"][0]["invocations"][0]["executionSuccessful"],
        false
    );
    let (c, bad_since, _) = audit(&["--since", "yesterday"]);
    assert_eq!(c, 2);
    assert_eq!(results(&bad_since)[0]["ruleId"], "usage");

    let main = repo.path().join("policies/policy/main.seg");
    let text = std::fs::read_to_string(&main).expect("read");
    std::fs::write(
        &main,
        text.replace("allow frontends ->", "allow frontend ->"),
    )
    .expect("write");
    let (c, broken, _) = audit(&[]);
    assert_eq!(c, 1);
    let e = results(&broken);
    let e = e.iter().find(|r| r["ruleId"] == "E0201").expect("E0201");
    assert_eq!(uri(e), "policies/policy/main.seg");
    assert_accepted(&[
        ("audit findings", &findings),
        ("unreadable flows", &unreadable),
        ("bad --since", &bad_since),
        ("audit of a broken policy", &broken),
    ]);
}
