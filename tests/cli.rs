//! End-to-end tests of the `seg` binary: exit codes, output formats, atomic
//! builds, reproducibility and hostile input. Each runs the real executable.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NOW: &str = "2026-11-24T00:00:00Z";

fn seg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seg"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        // These run in the source tree: no compiled-program cache is left
        // there (tests/tests/reach_cache.rs tests the cache in a copy).
        .env("SEG_NO_CACHE", "1")
        .env_remove("SEG_NO_SPARE")
        .current_dir(repo())
        .output()
        .expect("run seg")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A scratch project: the bank inventory and seg.toml with the given policy.
fn project(policy: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let bank = repo().join("examples/bank");
    fs::copy(
        bank.join("inventory.yaml"),
        dir.path().join("inventory.yaml"),
    )
    .expect("copy inventory");
    fs::copy(bank.join("seg.toml"), dir.path().join("seg.toml")).expect("copy seg.toml");
    fs::create_dir(dir.path().join("policy")).expect("mkdir");
    fs::write(dir.path().join("policy/main.seg"), policy).expect("write policy");
    dir
}

/// `seg build examples/bank` into `out`, with more arguments.
fn build_bank(out: &Path, more: &[&str]) -> Output {
    let mut args = vec!["build", "examples/bank", "--now", NOW, "--out"];
    args.push(out.to_str().expect("utf8"));
    args.extend(more);
    seg(&args)
}

fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("prefix")
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn help_lists_every_command_and_the_exit_codes() {
    let o = seg(&["--help"]);
    assert_eq!(code(&o), 0);
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn bank_example_checks_without_errors() {
    let o = seg(&["check", "examples/bank", "--now", NOW]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).starts_with("ok: "), "{}", stdout(&o));
    assert!(!stderr(&o).contains("error"), "{}", stderr(&o));
}

#[test]
fn bank_example_tests_pass() {
    let o = seg(&["test", "examples/bank", "--now", NOW]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("14 passed, 0 failed"), "{}", stdout(&o));
}

/// The shipped example builds every target with exactly the warnings its README
/// explains. No W0420: it allows DNS where its pods need it (and kube-dns its
/// upstream resolvers and the API server), so its Kubernetes output can be
/// applied to a cluster as it stands.
#[test]
fn bank_example_builds_with_only_the_warnings_its_readme_explains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let o = build_bank(&out, &["--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json output");
    let codes: std::collections::BTreeSet<&str> = v["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| d["code"].as_str().expect("code"))
        .collect();
    assert_eq!(
        codes,
        ["W0102", "W0103", "W0401", "W0404"].into(),
        "{}",
        stdout(&o)
    );
    assert!(out.join("kubernetes/kustomization.yaml").is_file());
}

#[test]
fn a_failing_expectation_names_the_line_and_the_deciding_rule() {
    let dir = project(
        "use std::services::{postgres}\npolicy p {\n  owner \"team\"\n  allow payments-api -> ledger-postgres on postgres\n}\ntest \"t\" {\n  expect deny payments-api -> ledger-postgres on tcp/5432\n}\n",
    );
    let o = seg(&["test", dir.path().to_str().expect("utf8"), "--now", NOW]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("FAIL  policy/main.seg:7"), "{out}");
    assert!(
        out.contains("expected deny, the policy decided allow"),
        "{out}"
    );
    assert!(out.contains("allowed by p/1 (policy/main.seg:4)"), "{out}");
    assert!(out.contains("0 passed, 1 failed"), "{out}");
}

#[test]
fn explain_prints_the_decision_and_matching_rules() {
    let o = seg(&[
        "explain",
        "payments-api",
        "ledger-postgres",
        "tcp/5432",
        "examples/bank",
        "--mtls",
        "--now",
        NOW,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("allow: payments-api -> ledger-postgres on tcp/5432"),
        "{out}"
    );
    assert!(out.contains("policy/payments.seg:18"), "{out}");
    let o = seg(&[
        "explain",
        "payments-api",
        "ledger-postgres",
        "tcp/5432",
        "examples/bank",
        "--now",
        NOW,
    ]);
    assert!(stdout(&o).starts_with("deny:"), "{}", stdout(&o));
    let o = seg(&[
        "explain",
        "payment-api",
        "ledger-postgres",
        "tcp/5432",
        "examples/bank",
        "--now",
        NOW,
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("did you mean `payments-api`?"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unknown_name_is_a_policy_error_with_a_suggestion() {
    let dir = project(
        "policy p {\n  owner \"x\"\n  allow payment-api -> ledger-postgres on tcp/5432\n}\n",
    );
    let o = seg(&["check", dir.path().to_str().expect("utf8"), "--now", NOW]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains("error[E0201]"), "{err}");
    assert!(err.contains("policy/main.seg:3:9"), "{err}");
    assert!(err.contains("did you mean `payments-api`?"), "{err}");
}

#[test]
fn json_and_sarif_are_well_formed() {
    let dir = project(
        "policy p {\n  owner \"x\"\n  allow payment-api -> ledger-postgres on tcp/5432\n}\n",
    );
    let path = dir.path().to_str().expect("utf8");
    let o = seg(&["check", path, "--now", NOW, "--format", "json"]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json output");
    assert_eq!(v["errors"], 1);
    let diags = v["diagnostics"].as_array().expect("diagnostics");
    let e = diags
        .iter()
        .find(|d| d["severity"] == "error")
        .expect("an error");
    assert_eq!(e["code"], "E0201");
    assert_eq!(e["location"]["file"], "policy/main.seg");
    assert_eq!(e["location"]["line"], 3);
    assert_eq!(e["location"]["column"], 9);
    let o = seg(&["check", path, "--now", NOW, "--format", "sarif"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("sarif output");
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().expect("results");
    let result = results
        .iter()
        .find(|r| r["level"] == "error")
        .expect("an error result");
    assert_eq!(result["ruleId"], "E0201");
    assert_eq!(result["level"], "error");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "policy/main.seg"
    );
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        3
    );
    let rules = v["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    assert!(rules.iter().any(|r| r["id"] == "E0201"), "{rules:?}");
}

#[test]
fn sarif_maps_credential_lints_to_security_frameworks() {
    let o = seg(&["check", "examples/bank", "--now", NOW, "--format", "sarif"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("sarif output");
    let rules = v["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .clone();
    let shared = rules
        .iter()
        .find(|r| r["id"] == "W0102")
        .expect("shared credential lint on the bank inventory");
    let tags = shared["properties"]["tags"].to_string();
    assert!(
        tags.contains("OWASP-NHI") && tags.contains("PR.AA"),
        "{tags}"
    );
}

#[test]
fn deny_warnings_turns_warnings_into_errors() {
    let o = seg(&["check", "examples/bank", "--now", NOW]);
    assert_eq!(code(&o), 0);
    assert!(
        stderr(&o).contains("warning"),
        "the bank example has warnings: {}",
        stderr(&o)
    );
    let o = seg(&["check", "examples/bank", "--now", NOW, "--deny-warnings"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
}

#[test]
fn source_date_epoch_fixes_now() {
    // 2027-06-01: the bank's review-by date (2027-03-01) has passed.
    let o = Command::new(env!("CARGO_BIN_EXE_seg"))
        .args(["check", "examples/bank"])
        .env("SOURCE_DATE_EPOCH", "1811808000")
        .env("NO_COLOR", "1")
        .current_dir(repo())
        .output()
        .expect("run seg");
    assert!(stderr(&o).contains("W0302"), "{}", stderr(&o));
}

#[test]
fn usage_and_io_errors_exit_2() {
    assert_eq!(code(&seg(&["check", "does/not/exist"])), 2);
    assert_eq!(
        code(&seg(&["check", "examples/bank", "--now", "yesterday"])),
        2
    );
    assert_eq!(code(&seg(&["frobnicate"])), 2);
    assert_eq!(
        code(&seg(&[
            "build",
            "examples/bank",
            "--target",
            "nope",
            "--now",
            NOW
        ])),
        2
    );
}

#[test]
fn build_is_byte_identical_and_atomic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for out in [&a, &b] {
        let o = seg(&[
            "build",
            "examples/bank",
            "--now",
            NOW,
            "--out",
            out.to_str().expect("utf8"),
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let (fa, fb) = (files_under(&a), files_under(&b));
    assert!(
        fa.len() > 5,
        "expected output files: {:?}",
        fa.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(fa, fb, "two builds of the same input differ");
    for (path, bytes) in &fa {
        let text = String::from_utf8_lossy(bytes);
        let binary = path.ends_with(".tar.gz");
        assert!(
            binary || text.contains("generated") && text.contains("do not edit"),
            "{path} has no header"
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(a.join("report.json")).expect("report")).expect("json");
    assert_eq!(report["tool"], "seg");

    // A failing build leaves the previous output untouched and no temporary folder.
    let broken =
        project("policy p {\n  owner \"x\"\n  allow nobody -> ledger-postgres on tcp/5432\n}\n");
    let o = seg(&[
        "build",
        broken.path().to_str().expect("utf8"),
        "--now",
        NOW,
        "--out",
        a.to_str().expect("utf8"),
    ]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        files_under(&a),
        fa,
        "a failed build changed the previous output"
    );
    // So does one refused after every target has rendered, its files already
    // streamed into the temporary folder (the bank's warnings, denied).
    let o = seg(&[
        "build",
        "examples/bank",
        "--now",
        NOW,
        "--deny-warnings",
        "--out",
        a.to_str().expect("utf8"),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing was written"), "{}", stderr(&o));
    assert_eq!(
        files_under(&a),
        fa,
        "a build failed after rendering changed the previous output"
    );
    let names: Vec<String> = fs::read_dir(dir.path())
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "leftover temporary folders: {names:?}");
}

/// A rebuild of an unchanged project whose output has more folders (one
/// per namespace) than the process may hold open files still keeps the
/// output: checking the compared files must not hold every folder open.
#[cfg(target_os = "linux")]
#[test]
fn an_unchanged_rebuild_with_more_folders_than_open_files_is_kept() {
    use std::os::unix::process::CommandExt;
    const NAMESPACES: usize = 300;
    const OPEN_FILES: libc::rlim_t = 200;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::create_dir(p.join("policy")).expect("policy");
    fs::write(
        p.join("seg.toml"),
        "[project]\nname = \"ns\"\ninventory = [\"inventory.yaml\"]\nsources = [\"policy/**/*.seg\"]\n\n[targets.kubernetes]\n",
    )
    .expect("seg.toml");
    let mut inventory = String::from("version: 1\nidentities:\n");
    let mut policy = String::from("policy main {\n  owner \"t\"\n");
    for i in 0..NAMESPACES {
        inventory += &format!(
            "  - {{ name: w{i}, kind: workload, owner: t, addresses: [10.0.{}.{}/32], kubernetes: {{ namespace: ns-{i}, labels: {{ app: w{i} }} }} }}\n",
            i / 250,
            i % 250 + 1
        );
        policy += &format!(
            "  allow w{i} -> w{} on tcp/{}\n",
            (i + 1) % NAMESPACES,
            1000 + i
        );
    }
    policy += "}\n";
    fs::write(p.join("inventory.yaml"), inventory).expect("inventory");
    fs::write(p.join("policy/main.seg"), policy).expect("policy");
    let out = p.join("out");
    let build = |limited: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_seg"));
        cmd.args(["build", "-v", "--now", NOW, "--out"])
            .arg(&out)
            .arg(p)
            .env("NO_COLOR", "1")
            .env("SEG_NO_CACHE", "1")
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("SEG_NO_SPARE");
        if limited {
            // SAFETY: setrlimit is async-signal-safe; the child only lowers
            // its own soft limit before exec.
            unsafe {
                cmd.pre_exec(|| {
                    let mut lim = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    lim.rlim_cur = lim.rlim_cur.min(OPEN_FILES);
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd.output().expect("run seg")
    };
    let o = build(false);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let folders = fs::read_dir(out.join("kubernetes"))
        .expect("kubernetes")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
        .count();
    assert!(folders >= NAMESPACES, "{folders} folders");
    let o = build(true);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("kept the previous output"),
        "{}",
        stderr(&o)
    );
}

/// A rebuild of an unchanged project keeps `--out` itself: the same folder
/// and files (only the report, which holds the time, may be replaced), and
/// the same bytes as a build into an empty folder. (The opa target's tests
/// hold the time too: not these targets.)
#[cfg(unix)]
#[test]
fn an_unchanged_rebuild_keeps_the_output_folder() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let targets = ["--target", "iptables,kubernetes"];
    let o = build_bank(&a, &targets);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let folder = fs::metadata(&a).expect("out").ino();
    for now in [NOW, "2026-11-24T00:00:01Z"] {
        let mut args = vec!["build", "examples/bank", "-v", "--now", now, "--out"];
        args.push(a.to_str().expect("utf8"));
        args.extend(targets);
        let o = seg(&args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("kept the previous output"),
            "{}",
            stderr(&o)
        );
        assert_eq!(fs::metadata(&a).expect("out").ino(), folder);
        let o = seg(&[
            "build",
            "examples/bank",
            "--now",
            now,
            "--out",
            b.to_str().expect("utf8"),
            "--target",
            "iptables,kubernetes",
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(files_under(&a), files_under(&b), "at {now}");
        fs::remove_dir_all(&b).expect("rm");
    }
    // A file edited by hand: the output is rebuilt whole.
    fs::write(a.join("report.json"), "{\"tool\": \"seg\"}").expect("write");
    let rules = files_under(&a)
        .into_iter()
        .find(|(p, _)| p.ends_with(".rules"))
        .expect("an iptables file")
        .0;
    fs::write(a.join(&rules), "edited").expect("write");
    let o = build_bank(&a, &targets);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_ne!(fs::metadata(&a).expect("out").ino(), folder);
    assert_ne!(fs::read(a.join(&rules)).expect("read"), b"edited");
    // The replaced output is kept as the spare for the next build; nothing else.
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".a.seg-spare", "a"], "no temporary folder left");
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A build that fails keeps the spare beside `--out`; `--no-spare` (or
/// `SEG_NO_SPARE=1`) removes it and the output it replaces, and writes what
/// a build into an empty folder writes.
#[test]
fn no_spare_removes_the_spare_and_a_failed_build_keeps_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let both = ["--target", "iptables,kubernetes"];
    for targets in [both, ["--target", "iptables"]] {
        let o = build_bank(&a, &targets);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    assert_eq!(names_in(dir.path()), [".a.seg-spare", "a"]);
    let built = files_under(&a);
    // Refused after every target has rendered into the spare: it stays.
    let o = build_bank(&a, &["--target", "iptables,kubernetes", "--deny-warnings"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing was written"), "{}", stderr(&o));
    assert_eq!(files_under(&a), built, "--out as it was");
    assert_eq!(names_in(dir.path()), [".a.seg-spare", "a"]);
    // Without a spare: the output replaced, nothing beside it.
    let o = build_bank(&a, &["--target", "iptables,kubernetes", "--no-spare", "-v"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("old output removed"), "{}", stderr(&o));
    assert_eq!(names_in(dir.path()), ["a"]);
    let o = build_bank(&b, &both);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        files_under(&a),
        files_under(&b),
        "as a build into an empty folder"
    );
    // The environment says the same; an unchanged rebuild removes the spare too.
    let o = build_bank(&a, &["--target", "iptables"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = build_bank(&a, &["--target", "iptables"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(names_in(dir.path()), [".a.seg-spare", "a", "b"]);
    let mut args = vec!["build", "examples/bank", "-v", "--now", NOW, "--out"];
    args.extend([a.to_str().expect("utf8"), "--target", "iptables"]);
    let o = Command::new(env!("CARGO_BIN_EXE_seg"))
        .args(&args)
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("SEG_NO_CACHE", "1")
        .env("SEG_NO_SPARE", "1")
        .current_dir(repo())
        .output()
        .expect("run seg");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("kept the previous output"),
        "{}",
        stderr(&o)
    );
    assert_eq!(names_in(dir.path()), ["a", "b"]);
}

#[test]
fn build_refuses_to_replace_a_folder_it_did_not_write() {
    let dir = project(
        "policy p {\n  owner \"x\"\n  allow payments-api -> ledger-postgres on tcp/5432\n}\n",
    );
    let path = dir.path().to_str().expect("utf8");
    let o = seg(&["build", path, "--now", NOW, "--target", "ir", "--out", path]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(dir.path().join("seg.toml").exists());
}

/// `seg build` over its own previous output lists, per target, the objects
/// the new output no longer has (what an apply must prune).
#[test]
fn build_lists_what_the_new_output_removes() {
    let v1 = "policy p {\n  owner \"x\"\n  allow payments-api -> ledger-postgres on tcp/5432\n  allow web-frontend -> payments-api on tcp/8443\n}\n";
    let dir = project(v1);
    let path = dir.path().to_str().expect("utf8");
    let out = dir.path().join("out");
    let out = out.to_str().expect("utf8");
    let build = || seg(&["build", path, "--now", NOW, "--out", out]);
    let o = build();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stdout(&o).contains("to prune"), "{}", stdout(&o));

    let v2 = v1.replace("  allow web-frontend -> payments-api on tcp/8443\n", "");
    fs::write(dir.path().join("policy/main.seg"), v2).expect("write v2");
    let o = build();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("\nkubernetes: 1 NetworkPolicy to prune: web/seg-allow-web-frontend\n"),
        "{text}"
    );
    for target in ["iptables", "aws", "gcp", "opa"] {
        assert!(text.contains(&format!("\n{target}: ")), "{target}: {text}");
    }
    // The summary says how to apply each target so that the removal happens.
    assert!(
        text.contains(
            " && KUBECTL_APPLYSET=true kubectl apply -k . --prune --applyset=applysets.seg.dev/"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            ": on each host, as root, with its files and seg.base.ip6.rules: sh seg-apply.sh <host>"
        ),
        "{text}"
    );
    assert_eq!(text.matches(" apply in ").count(), 5, "{text}");
    let o = build();
    assert!(stdout(&o).contains("nothing to prune"), "{}", stdout(&o));

    // A report that is not seg's is refused, as the writer refuses the folder.
    fs::write(dir.path().join("out/report.json"), "{\"tool\": \"other\"}").expect("write");
    let o = build();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

/// A narrowing only the lowering sees (AWS holds SCTP with every port only)
/// is a warning and an entry of `report.json`'s approximations.
#[test]
fn emission_time_narrowings_are_listed_in_the_report() {
    let dir = project(
        "policy p {\n  owner \"x\"\n  allow payments-api -> ledger-replica on sctp/3868-3870\n}\n",
    );
    let out = dir.path().join("out");
    let o = seg(&[
        "build",
        dir.path().to_str().expect("utf8"),
        "--now",
        NOW,
        "--target",
        "aws",
        "--out",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("W0402"), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("report.json")).expect("report")).expect("json");
    let listed = &report["targets"][0]["approximations"];
    assert_eq!(report["targets"][0]["target"], "aws");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed:#}");
    assert_eq!(listed[0]["kind"], "narrowed", "{listed:#}");
    assert_eq!(listed[0]["location"], "policy/main.seg:3", "{listed:#}");
    assert!(
        listed[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("sctp")),
        "{listed:#}"
    );
}

#[test]
fn ir_target_writes_the_program_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let o = build_bank(&out, &["--target", "ir"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("ir/program.json")).expect("ir")).expect("json");
    assert_eq!(v["schema"], "seg-ir/1");
    assert_eq!(v["program"]["project"], "bank");
    let program: seg_ir::Program =
        serde_json::from_value(v["program"].clone()).expect("the IR round-trips");
    assert!(!program.rules.is_empty());
}

#[test]
fn deeply_nested_input_is_a_diagnostic_not_a_crash() {
    let deep = format!(
        "segment s = {}payments-api{}\n",
        "(".repeat(20_000),
        ")".repeat(20_000)
    );
    let dir = project(&deep);
    let o = seg(&["check", dir.path().to_str().expect("utf8"), "--now", NOW]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("E0003"), "{}", stderr(&o));
}

#[test]
fn binary_garbage_as_policy_or_inventory_is_a_diagnostic() {
    let garbage: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let dir = project("");
    fs::write(dir.path().join("policy/main.seg"), &garbage).expect("write");
    let o = seg(&["check", dir.path().to_str().expect("utf8"), "--now", NOW]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("E0004") || stderr(&o).contains("E0001"),
        "{}",
        stderr(&o)
    );

    let dir = project(
        "policy p {\n  owner \"x\"\n  allow payments-api -> ledger-postgres on tcp/5432\n}\n",
    );
    fs::write(dir.path().join("inventory.yaml"), &garbage).expect("write");
    let o = seg(&["check", dir.path().to_str().expect("utf8"), "--now", NOW]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("E0004") || stderr(&o).contains("E0101"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn ten_megabytes_of_random_tokens_is_a_diagnostic() {
    let tokens = [
        "allow",
        "deny",
        "->",
        "<->",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "segment",
        "policy",
        "on",
        "when",
        "payments",
        "tcp/443",
        "\"s\"",
        ",",
        "=",
        "|",
        "&",
        "-",
        "10.0.0.0/8",
        "mtls",
        "and",
        "not",
        "test",
        "expect",
    ];
    let mut text = String::with_capacity(10_500_000);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while text.len() < 10_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push_str(tokens[(x % tokens.len() as u64) as usize]);
        text.push(if x.is_multiple_of(11) { '\n' } else { ' ' });
    }
    let dir = project(&text);
    fs::write(dir.path().join("inventory.yaml"), &text).expect("write");
    let o = seg(&["check", dir.path().to_str().expect("utf8"), "--now", NOW]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("error["), "{}", stderr(&o));
}

#[test]
fn explain_code_prints_the_page() {
    let o = seg(&["explain-code", "E0201"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).starts_with('#'), "{}", stdout(&o));
    assert_eq!(code(&seg(&["explain-code", "E9999"])), 2);
}

#[test]
fn targets_table_matches_the_documented_capability_matrix() {
    let o = seg(&["targets"]);
    assert_eq!(code(&o), 0);
    insta::assert_snapshot!(stdout(&o), @r"
    target       deny   time   mtls   request  context  layered  expires
    ir           (the checked IR as JSON)
    iptables     native yes    no     no       no       yes      clock
    nftables     native yes    no     no       no       yes      clock
    kubernetes   carved no     no     no       no       yes      rebuild
    istio        native no     yes    yes      no       yes      rebuild
    aws          carved no     no     no       no       yes      rebuild
    gcp          native no     no     no       no       yes      rebuild
    opa          native yes    yes    yes      yes      no       clock
");
}

#[test]
fn init_scaffolds_a_project_that_checks_tests_and_builds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("shop");
    let root_s = root.to_str().expect("utf-8 path");
    let o = seg(&["init", root_s, "--now", NOW]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("created project `shop`"),
        "{}",
        stdout(&o)
    );
    let created: Vec<String> = files_under(&root).into_iter().map(|(p, _)| p).collect();
    for f in [
        "seg.toml",
        "policy/main.seg",
        "inventory.yaml",
        ".github/workflows/seg.yml",
    ] {
        assert!(created.iter().any(|p| p == f), "{f} missing: {created:?}");
    }
    let toml = fs::read_to_string(root.join("seg.toml")).expect("seg.toml");
    assert!(toml.contains("name = \"shop\""), "{toml}");
    // The review date lies 180 days after now: no past-review lint.
    let policy = fs::read_to_string(root.join("policy/main.seg")).expect("policy");
    assert!(policy.contains("review-by 2027-05-23"), "{policy}");

    let o = seg(&["check", root_s, "--now", NOW, "--deny-warnings"]);
    assert_eq!(code(&o), 0, "check: {}", stderr(&o));
    let o = seg(&["fmt", "--check", root_s]);
    assert_eq!(
        code(&o),
        0,
        "the scaffold is laid out as seg fmt would: {}",
        stdout(&o)
    );
    let o = seg(&["test", root_s, "--now", NOW]);
    assert_eq!(code(&o), 0, "test: {}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("7 passed, 0 failed"), "{}", stdout(&o));
    let out = dir.path().join("out");
    let o = seg(&[
        "build",
        root_s,
        "--out",
        out.to_str().expect("utf-8"),
        "--now",
        NOW,
    ]);
    assert_eq!(code(&o), 0, "build: {}", stderr(&o));
    for target in ["iptables", "kubernetes", "opa"] {
        assert!(out.join(target).is_dir(), "no {target} output");
    }
}

#[test]
fn init_never_overwrites_and_refuses_bad_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("p");
    let root_s = root.to_str().expect("utf-8 path");
    fs::create_dir_all(root.join("policy")).expect("mkdir");
    fs::write(root.join("policy/main.seg"), "// mine\n").expect("write");
    let o = seg(&["init", root_s, "--now", NOW]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("`policy/main.seg`"), "{}", stderr(&o));
    // Nothing written, the existing file untouched.
    let files: Vec<(String, Vec<u8>)> = files_under(&root);
    assert_eq!(
        files,
        vec![("policy/main.seg".to_string(), b"// mine\n".to_vec())]
    );

    let fresh = dir.path().join("q");
    for bad in ["a\"b", "x\ny", "../up", "", "9lives"] {
        let o = seg(&["init", fresh.to_str().expect("utf-8"), "--name", bad]);
        assert_eq!(code(&o), 2, "{bad:?}: {}", stderr(&o));
        assert!(!fresh.exists(), "{bad:?} created the folder");
    }
}

fn seg_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_seg"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run seg");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait")
}

#[test]
fn fmt_check_lists_files_to_change_and_writes_nothing() {
    let dir = project("policy p {\nallow   a->b on tcp/1 // why\n}\n");
    let main = dir.path().join("policy/main.seg");
    let path = dir.path().to_string_lossy().into_owned();
    let o = seg(&["fmt", "--check", &path]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stdout(&o).contains("main.seg"), "{}", stdout(&o));
    assert_eq!(
        fs::read_to_string(&main).expect("read"),
        "policy p {\nallow   a->b on tcp/1 // why\n}\n"
    );
    let o = seg(&["fmt", "--check", "--diff", &path]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("+  allow a -> b on tcp/1 // why"),
        "{}",
        stdout(&o)
    );
    // Without --check the file is rewritten, then checks clean.
    let o = seg(&["fmt", &path]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(&main).expect("read"),
        "policy p {\n  allow a -> b on tcp/1 // why\n}\n"
    );
    let o = seg(&["fmt", "--check", &path]);
    assert_eq!(code(&o), 0);
    assert_eq!(stdout(&o), "");
}

#[test]
fn fmt_leaves_a_file_with_a_syntax_error_untouched() {
    let broken = "policy p {\n  allow a b on c\n}\n";
    let dir = project(broken);
    let main = dir.path().join("policy/main.seg");
    let o = seg(&["fmt", &main.to_string_lossy()]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("error[E0001]"), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&main).expect("read"), broken);
    let o = seg(&["fmt", "does/not/exist.seg"]);
    assert_eq!(code(&o), 2);
}

#[test]
fn fmt_reads_stdin_and_writes_stdout() {
    let o = seg_stdin(&["fmt", "-"], "segment s=[b,a]\n");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "segment s = [b, a]\n");
    let o = seg_stdin(&["fmt", "--check", "-"], "segment s=[b,a]\n");
    assert_eq!(code(&o), 1);
    let o = seg_stdin(&["fmt", "--check", "-"], "segment s = [b, a]\n");
    assert_eq!(code(&o), 0);
    let o = seg_stdin(&["fmt", "-"], "segment s = [\n");
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("<stdin>"), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
}

/// `--no-spare` on a build that stops on policy errors (before anything is
/// written) still leaves no spare beside `--out`, as `--deny-warnings`
/// refusing a build does: `--out` as it was, nothing older beside it.
#[test]
fn no_spare_removes_the_spare_when_the_policy_has_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a");
    for targets in [
        ["--target", "iptables,kubernetes"],
        ["--target", "iptables"],
    ] {
        let o = build_bank(&a, &targets);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    assert_eq!(names_in(dir.path()), [".a.seg-spare", "a"]);
    let built = files_under(&a);
    let broken = project(
        "policy p {\n  owner \"x\"\n  allow nobody-known -> ledger-postgres on tcp/5432\n}\n",
    );
    let path = broken.path().to_str().expect("utf8");
    let out = a.to_str().expect("utf8");
    let o = seg(&["build", path, "--now", NOW, "--out", out, "--no-spare"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(files_under(&a), built, "--out as it was");
    assert_eq!(names_in(dir.path()), ["a"], "no older build beside --out");
}
