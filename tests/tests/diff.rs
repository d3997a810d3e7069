//! `seg diff` end to end: on generated estates through the whole front end
//! (random semantic edits are diffed exactly, edits that change no meaning
//! give an empty diff), every format on a fixture pull request
//! (`tests/diff/bank-pr`, snapshots), git mode in a temporary repository,
//! `--expect`, the markdown cut, bad input on either side.
//!
//! `SEG_DIFF_ESTATE_CASES` (default 12) and `SEG_DIFF_ESTATE_SEED` size the
//! estate properties.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use seg_diff::{Side, diff};
use seg_ir::{Program, Timestamp};
use seg_tests::estate::{self, Estate, EstateConfig};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NOW: &str = "2026-11-24T00:00:00Z";

fn seg_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_seg-cli"))
}

fn seg_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(seg_exe())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .current_dir(cwd)
        .output()
        .expect("run seg")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn shown(o: &Output) -> String {
    format!("exit {}\n{}{}", code(o), stdout(o), stderr(o))
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("diff/bank-pr")
}

// ---- estates -----------------------------------------------------------------

fn small() -> EstateConfig {
    EstateConfig {
        max_identities: 5,
        max_segments: 3,
        max_policies: 2,
        max_rules_per_policy: 3,
        flows: 0,
        overlapping_addresses: true,
    }
}

fn runner() -> TestRunner {
    let cases = std::env::var("SEG_DIFF_ESTATE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let seed: u64 = std::env::var("SEG_DIFF_ESTATE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

/// Write an estate and compile it with the estates' "now".
fn compile(e: &Estate, dir: &Path) -> Result<Program, String> {
    e.write(dir).map_err(|err| err.to_string())?;
    seg::driver::compile_project(dir, Some(estate::now())).map(|(_, p)| p)
}

fn side<'a>(p: &'a Program, label: &str) -> Side<'a> {
    Side {
        program: p,
        map: None,
        label: label.into(),
    }
}

#[test]
fn edited_estates_are_diffed_exactly_on_every_boundary_flow() {
    let flows = std::cell::Cell::new(0);
    let rows = std::cell::Cell::new(0);
    runner()
        .run(&estate::edits::edited(small()), |(before, after)| {
            let dir = tempfile::tempdir().expect("tempdir");
            let (old, new) = (before.render(), after.render());
            let a = compile(&old, &dir.path().join("old")).map_err(TestCaseError::fail)?;
            let b = compile(&new, &dir.path().join("new")).map_err(TestCaseError::fail)?;
            let d = diff(&side(&a, "old"), &side(&b, "new"));
            prop_assert!(d.complete);
            let checked = seg_tests::diffcheck::check(&a, &b, &d).map_err(TestCaseError::fail)?;
            flows.set(flows.get() + checked);
            rows.set(rows.get() + d.changes.len());
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // The edits do change reachability, and every boundary flow was decided.
    let (rows, flows) = (rows.get(), flows.get());
    assert!(rows > 0 && flows > 1000, "{rows} rows, {flows} flows");
}

#[test]
fn edits_that_change_no_meaning_give_an_empty_diff() {
    runner()
        .run(&estate::models(small()), |m| {
            let dir = tempfile::tempdir().expect("tempdir");
            let original = m.render();
            let a =
                compile(&original, &dir.path().join("original")).map_err(TestCaseError::fail)?;
            for (k, (name, variant)) in estate::variants::variants(&original)
                .into_iter()
                .enumerate()
            {
                // Reordering one rule, or moving one of none, leaves the text as it was.
                if variant.files == original.files {
                    prop_assert!(
                        matches!(name, "reordered" | "moved rule"),
                        "{} changed nothing",
                        name
                    );
                    continue;
                }
                let b = compile(&variant, &dir.path().join(format!("v{k}")))
                    .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
                let d = diff(&side(&a, "original"), &side(&b, name));
                prop_assert!(d.is_empty(), "{}: {:#?}", name, d.changes);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_command_says_nothing_changed_with_exit_0() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let model = estate::models(small())
        .new_tree(&mut runner)
        .map(|t| t.current())
        .expect("a model");
    let dir = tempfile::tempdir().expect("tempdir");
    let original = model.render();
    original.write(&dir.path().join("a")).expect("write");
    let (_, all) = estate::variants::variants(&original)
        .pop()
        .expect("variants");
    all.write(&dir.path().join("b")).expect("write");
    let o = seg_in(dir.path(), &["diff", "a", "b", "--now", estate::NOW]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    assert!(
        stdout(&o).starts_with("seg diff: no reachability change;"),
        "{}",
        shown(&o)
    );
    // Nor does any target's output change: the same objects, the same
    // fail-closed choices (rules matched by meaning, not position).
    let o = seg_in(
        dir.path(),
        &[
            "diff",
            "a",
            "b",
            "--now",
            estate::NOW,
            "--targets",
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let targets = v["targets"].as_array().expect("targets");
    assert!(!targets.is_empty(), "{}", shown(&o));
    for t in targets {
        assert_eq!(t["presence"], "both", "{t}");
        let objects = &t["objects"];
        for list in ["added", "removed", "changed"] {
            assert_eq!(objects[list], serde_json::json!([]), "{t}");
        }
        assert!(objects["unchanged"].as_u64().unwrap_or(0) > 0, "{t}");
        assert_eq!(t["new_approximations"], serde_json::json!([]), "{t}");
        assert_eq!(t["gone_approximations"], serde_json::json!([]), "{t}");
    }
}

// ---- the fixture pull request, every format ----------------------------------------

fn fixture_diff(args: &[&str]) -> Output {
    let mut all = vec!["diff", "old", "new", "--now", NOW];
    all.extend(args);
    seg_in(&fixture(), &all)
}

#[test]
fn human_format() {
    let o = fixture_diff(&[]);
    assert_eq!(code(&o), 4, "{}", shown(&o));
    assert_eq!(stderr(&o), "");
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn human_format_in_colour_with_every_member() {
    let o = fixture_diff(&["--color", "always", "--members"]);
    assert_eq!(code(&o), 4, "{}", shown(&o));
    let text = stdout(&o);
    assert!(
        text.contains("\x1b[32m+\x1b[0m") && text.contains("\x1b[31m-\x1b[0m"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn markdown_format() {
    let o = fixture_diff(&["--format", "markdown"]);
    assert_eq!(code(&o), 4, "{}", shown(&o));
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn json_format() {
    let o = fixture_diff(&["--format", "json"]);
    assert_eq!(code(&o), 4, "{}", shown(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(v["schema"], "seg-diff/1");
    assert_eq!(v["summary"]["identities_added"], 2);
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn expect_marks_rows_intended_and_collateral() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("intended.seg");
    std::fs::write(
        &file,
        "// The replica's sync ports open to the payments services at night.\n\
         expect allow payments-api -> ledger-replica on tcp/9000-9100 at 2026-11-25T01:30:00Z\n\
         expect allow payments-worker -> ledger-replica on tcp/9000-9100 at 2026-11-25T01:30:00Z\n\
         // Already denied before the change: reported as missing.\n\
         expect deny web-frontend -> ledger-postgres on tcp/5432\n",
    )
    .expect("write");
    let path = file.to_string_lossy().into_owned();
    let o = fixture_diff(&["--expect", &path]);
    assert_eq!(code(&o), 5, "{}", shown(&o));
    let text = stdout(&o);
    assert!(
        text.contains("expect FAILED: 1 row intended, 10 collateral, 1 intended change missing"),
        "{text}"
    );
    assert!(text.contains("already denied before the change"), "{text}");
    let json = fixture_diff(&["--expect", &path, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    let intents: Vec<&serde_json::Value> = v["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|r| &r["intent"])
        .collect();
    assert_eq!(intents.iter().filter(|i| **i == "intended").count(), 1);
    assert_eq!(v["expect"]["missing"][0][1], "already_before");

    // Every change named: exit 4, and the markdown says so.
    let o = seg_in(
        &fixture(),
        &["diff", "old", "old", "--now", NOW, "--expect", &path],
    );
    assert_eq!(
        code(&o),
        5,
        "nothing changed, so the intended changes are missing: {}",
        shown(&o)
    );
    let names =
        "expect allow payments-api -> ledger-replica on tcp/9000-9100 at 2026-11-25T01:30:00Z\n";
    std::fs::write(&file, names).expect("write");
    let narrow = dir.path().join("narrow");
    copy_dir(&fixture().join("old"), &narrow);
    let policy = narrow.join("policy/payments.seg");
    let text = std::fs::read_to_string(&policy).expect("policy");
    std::fs::write(
        &policy,
        text.replace(
            "  allow payments -> kube-dns on dns",
            "  allow payments-api -> ledger-replica on tcp/9000-9100 when time 01:00..03:00 utc\n  allow payments -> kube-dns on dns",
        ),
    )
    .expect("write");
    let old = fixture().join("old").to_string_lossy().into_owned();
    let o = seg_in(
        dir.path(),
        &[
            "diff", &old, "narrow", "--now", NOW, "--expect", &path, "--format", "markdown",
        ],
    );
    assert_eq!(code(&o), 4, "{}", shown(&o));
    assert!(
        stdout(&o).contains("expect ok: 1 row intended, 0 collateral, 0 intended changes missing"),
        "{}",
        shown(&o)
    );
}

#[test]
fn a_bad_expect_file_is_reported_with_its_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.seg");
    std::fs::write(
        &file,
        "expect allow payments-api -> ledger-replca on tcp/1\n",
    )
    .expect("write");
    let o = fixture_diff(&["--expect", &file.to_string_lossy()]);
    assert_eq!(code(&o), 1, "{}", shown(&o));
    assert_eq!(stdout(&o), "");
    assert!(
        stderr(&o).contains("error[E0201]")
            && stderr(&o).contains("did you mean `ledger-replica`?"),
        "{}",
        shown(&o)
    );
    std::fs::write(&file, "allow a -> b on tcp/1\n").expect("write");
    let o = fixture_diff(&["--expect", &file.to_string_lossy()]);
    assert_eq!(code(&o), 1, "{}", shown(&o));
    assert!(
        stderr(&o).contains("error[E0001]") && stderr(&o).contains("`expect`"),
        "{}",
        shown(&o)
    );
}

// ---- bad input ---------------------------------------------------------------------

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

#[test]
fn errors_on_either_side_are_labelled_and_no_diff_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = fixture().join("old");
    let broken = dir.path().join("broken");
    copy_dir(&good, &broken);
    let policy = broken.join("policy/payments.seg");
    let text = std::fs::read_to_string(&policy).expect("policy");
    std::fs::write(
        &policy,
        text.replace("allow payments -> ledger", "allow paymnts -> ledger"),
    )
    .expect("write");
    let good = good.to_string_lossy().into_owned();
    for (args, side) in [
        (["broken", good.as_str()], "old"),
        ([good.as_str(), "broken"], "new"),
    ] {
        for format in ["human", "markdown", "json"] {
            let o = seg_in(
                dir.path(),
                &["diff", args[0], args[1], "--now", NOW, "--format", format],
            );
            assert_eq!(code(&o), 1, "{}", shown(&o));
            assert_eq!(stdout(&o), "", "no diff output");
            let err = stderr(&o);
            assert!(err.contains(&format!("error[E0201]: {side}: ")), "{err}");
            assert!(
                err.contains("paymnts") && err.contains("policy/payments.seg"),
                "{err}"
            );
            assert!(err.contains("no diff: fix the errors above first"), "{err}");
        }
    }
    // Both broken: both sides' errors.
    let o = seg_in(dir.path(), &["diff", "broken", "broken", "--now", NOW]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("old: ") && stderr(&o).contains("new: "),
        "{}",
        shown(&o)
    );
    // Not a project, not there, wrong arguments, a bad time: usage errors.
    std::fs::create_dir(dir.path().join("empty")).expect("mkdir");
    for args in [
        vec!["diff", &good, "empty"],
        vec!["diff", "nowhere", &good],
        vec!["diff", &good],
        vec!["diff", &good, &good, &good],
        vec!["diff", &good, &good, "--now", "yesterday"],
    ] {
        let o = seg_in(dir.path(), &args);
        assert_eq!(code(&o), 2, "{args:?}: {}", shown(&o));
        assert_eq!(stdout(&o), "");
    }
}

#[test]
fn hostile_names_stay_text_in_every_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = fixture().join("old");
    let new = dir.path().join("new");
    copy_dir(&old, &new);
    let inventory = new.join("inventory.yaml");
    let text = std::fs::read_to_string(&inventory).expect("inventory");
    // Control and bidi characters never get this far: the inventory refuses them.
    let hostile = "x|</td><script>alert(1)</script>`*_[]";
    let entry = format!(
        "  - name: {}\n    kind: workload\n    owner: team-payments\n    attributes: {{ team: payments, env: prod, tier: 2 }}\n    addresses: [10.1.2.99/32]\n",
        serde_json::to_string(hostile).expect("json")
    );
    std::fs::write(
        &inventory,
        text.replace(
            "  - name: ledger-postgres",
            &format!("{entry}  - name: ledger-postgres"),
        ),
    )
    .expect("write");
    let old = old.to_string_lossy().into_owned();
    let md = seg_in(
        dir.path(),
        &["diff", &old, "new", "--now", NOW, "--format", "markdown"],
    );
    assert_eq!(code(&md), 4, "{}", shown(&md));
    let text = stdout(&md);
    assert!(
        !text.contains("<script>") && !text.contains('\u{1b}') && text.contains("&lt;script&gt;"),
        "{text}"
    );
    let human = seg_in(dir.path(), &["diff", &old, "new", "--now", NOW]);
    assert!(!stdout(&human).contains('\u{1b}'), "{}", shown(&human));
    let json = seg_in(
        dir.path(),
        &["diff", &old, "new", "--now", NOW, "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    assert_eq!(v["identities"]["added"][0], hostile);
}

#[test]
fn markdown_is_cut_at_sixty_thousand_characters_with_a_note() {
    // Many identities, each its own row: a port of its own per identity.
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old");
    let new = dir.path().join("new");
    let mut inventory = String::from("version: 1\nattributes:\n  team: string\nidentities:\n");
    let mut rules = String::new();
    for i in 0..400 {
        inventory.push_str(&format!(
            "  - name: service-with-a-long-name-{i:04}\n    kind: workload\n    owner: team-a\n    attributes: {{ team: a }}\n    addresses: [10.2.{}.{}/32]\n",
            i / 200,
            i % 200 + 1
        ));
        rules.push_str(&format!(
            "  allow service-with-a-long-name-{i:04} -> service-with-a-long-name-{:04} on tcp/{}\n",
            (i + 1) % 400,
            20_000 + i
        ));
    }
    for (dir, policy) in [(&old, String::new()), (&new, rules)] {
        std::fs::create_dir_all(dir.join("policy")).expect("mkdir");
        std::fs::write(dir.join("seg.toml"), "[project]\nname = \"many\"\ninventory = [\"inventory.yaml\"]\nsources = [\"policy/**/*.seg\"]\n").expect("write");
        std::fs::write(dir.join("inventory.yaml"), &inventory).expect("write");
        std::fs::write(
            dir.join("policy/main.seg"),
            format!("policy many {{\n  owner \"team-a\"\n  review-by 2027-06-30\n  allow network 192.0.2.0/24 -> network 198.51.100.0/24 on tcp/1\n{policy}}}\n"),
        )
        .expect("write");
    }
    let o = seg_in(
        dir.path(),
        &["diff", "old", "new", "--now", NOW, "--format", "markdown"],
    );
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.chars().count() <= 60_000,
        "{} characters",
        text.chars().count()
    );
    assert!(
        text.contains("> **Cut:**") && text.contains("of 400 rows are not shown"),
        "{}",
        &text[text.len().saturating_sub(400)..]
    );
    assert_eq!(
        text.matches("<details").count(),
        text.matches("</details>").count()
    );
    let human = seg_in(dir.path(), &["diff", "old", "new", "--now", NOW]);
    assert!(
        stdout(&human).starts_with("seg diff: 400 flows newly allowed"),
        "{}",
        shown(&human)
    );
}

// ---- git mode ----------------------------------------------------------------------

fn git(cwd: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run git");
    assert!(o.status.success(), "git {args:?}: {}", shown(&o));
    stdout(&o).trim().to_string()
}

fn commit(repo: &Path, message: &str) -> String {
    git(repo, &["add", "-A"]);
    git(
        repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            message,
        ],
    );
    git(repo, &["rev-parse", "HEAD"])
}

/// Every file under `dir` with its bytes and modification time.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let meta = std::fs::metadata(&p).expect("metadata");
                out.push((
                    p.clone(),
                    std::fs::read(&p).expect("read"),
                    meta.modified().expect("mtime"),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn git_mode_reads_the_base_from_the_repository_and_leaves_the_work_tree_alone() {
    let repo = tempfile::tempdir().expect("repo");
    git(repo.path(), &["init", "-q"]);
    // The project in a subfolder, committed as the base, then the pull request's change
    // committed on top and one more edit left in the work tree.
    let project = repo.path().join("policies/bank");
    copy_dir(&fixture().join("old"), &project);
    let base = commit(repo.path(), "base");
    std::fs::remove_dir_all(&project).expect("rm");
    copy_dir(&fixture().join("new"), &project);
    commit(repo.path(), "change");

    let before = snapshot(repo.path());
    let git_mode = seg_in(
        &project,
        &["diff", "--base", &base, "--now", NOW, "--format", "json"],
    );
    assert_eq!(code(&git_mode), 4, "{}", shown(&git_mode));
    assert_eq!(
        snapshot(repo.path()),
        before,
        "the work tree and .git changed"
    );
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");

    // The same diff as between the two folders, but for the labels.
    let folders = fixture_diff(&["--format", "json"]);
    let strip = |o: &Output| {
        let mut v: serde_json::Value = serde_json::from_str(&stdout(o)).expect("JSON");
        v["old"]["label"] = serde_json::Value::Null;
        v["new"]["label"] = serde_json::Value::Null;
        v
    };
    assert_eq!(strip(&git_mode), strip(&folders));
    let v: serde_json::Value = serde_json::from_str(&stdout(&git_mode)).expect("JSON");
    assert_eq!(v["old"]["label"], format!("{base} ({})", &base[..12]));
    assert_eq!(v["new"]["label"], ". (work tree)");

    // From the repository root with PATH, from HEAD, with a work-tree edit.
    let root = seg_in(
        repo.path(),
        &["diff", "--base", "HEAD", "policies/bank", "--now", NOW],
    );
    assert_eq!(code(&root), 0, "HEAD is the work tree: {}", shown(&root));
    let policy = project.join("policy/payments.seg");
    let text = std::fs::read_to_string(&policy).expect("policy");
    std::fs::write(
        &policy,
        text.replace("deny payments-worker -> kube-dns on dns", ""),
    )
    .expect("write");
    let edited = seg_in(
        repo.path(),
        &["diff", "--base", "HEAD", "policies/bank", "--now", NOW],
    );
    assert_eq!(code(&edited), 4, "{}", shown(&edited));
    assert!(
        stdout(&edited).contains("payments-worker -> kube-dns"),
        "{}",
        shown(&edited)
    );

    // A revision without the project: everything is new.
    let empty = commit_empty_first(repo.path());
    let o = seg_in(&project, &["diff", "--base", &empty, "--now", NOW]);
    assert_eq!(code(&o), 4, "{}", shown(&o));
    assert!(stderr(&o).contains("has no seg.toml at"), "{}", shown(&o));
    assert!(
        stdout(&o).contains("10 identities added, 0 removed"),
        "{}",
        shown(&o)
    );

    // Usage errors: an unknown revision, a folder outside any repository.
    let o = seg_in(
        &project,
        &["diff", "--base", "no-such-branch", "--now", NOW],
    );
    assert_eq!(code(&o), 2, "{}", shown(&o));
    assert!(stderr(&o).contains("is not a commit"), "{}", shown(&o));
    let outside = tempfile::tempdir().expect("outside");
    let o = seg_in(outside.path(), &["diff", "--base", "HEAD", "--now", NOW]);
    assert_eq!(code(&o), 2, "{}", shown(&o));
    assert!(
        stderr(&o).contains("not in a git repository"),
        "{}",
        shown(&o)
    );
    let o = seg_in(
        &project,
        &["diff", "--base", "--upload-pack=x", "--now", NOW],
    );
    assert_eq!(code(&o), 2, "{}", shown(&o));
}

/// A commit holding no project (an orphan branch's first commit).
fn commit_empty_first(repo: &Path) -> String {
    let tree = git(repo, &["mktree"]);
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit-tree",
            &tree,
            "-m",
            "empty",
        ])
        .current_dir(repo)
        .output()
        .expect("git commit-tree");
    assert!(o.status.success(), "{}", shown(&o));
    stdout(&o).trim().to_string()
}

#[test]
fn the_same_now_is_used_on_both_sides() {
    // The old version's migration window expires on 2026-12-31, the new one's on
    // 2027-01-31. Before the old end, the old migrator loses it; after, it had nothing
    // left to lose: the old version was compiled at the same `now`.
    let rows = |now: &str| {
        let o = seg_in(
            &fixture(),
            &["diff", "old", "new", "--now", now, "--format", "json"],
        );
        assert_eq!(code(&o), 4, "{}", shown(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
        assert_eq!(
            v["now"],
            Timestamp::parse(now)
                .map(|t| t.to_string())
                .unwrap_or_default()
        );
        v["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|r| {
                (
                    r["src"]["identities"].to_string(),
                    r["after"]["text"].to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let early = rows("2026-11-24T00:00:00Z");
    assert!(
        early
            .iter()
            .any(|(src, _)| src.contains("\"migrator-job\"")),
        "{early:?}"
    );
    let late = rows("2027-01-15T00:00:00Z");
    assert!(
        !late.iter().any(|(src, _)| src.contains("\"migrator-job\"")),
        "{late:?}"
    );
    assert!(
        late.iter()
            .any(|(src, after)| src.contains("migrator-job-v2")
                && after.contains("until 2027-01-31")),
        "{late:?}"
    );
}

// ---- --targets ---------------------------------------------------------------------

#[test]
fn targets_name_their_object_changes_and_newly_omitted_rules() {
    let o = fixture_diff(&["--targets", "--format", "json"]);
    assert_eq!(code(&o), 4, "{}", shown(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let targets = v["targets"].as_array().expect("targets");
    let names: Vec<&str> = targets
        .iter()
        .filter_map(|t| t["target"].as_str())
        .collect();
    assert_eq!(names, ["aws", "gcp", "iptables", "kubernetes", "opa"]);
    let k8s = &targets[3];
    assert_eq!(k8s["presence"], "both");
    let added: Vec<&str> = k8s["objects"]["added"]
        .as_array()
        .expect("added")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert!(
        added.contains(&"payments/seg-allow-payments-batch"),
        "{added:?}"
    );
    // The new nightly rule and the partners' new window cannot be enforced there.
    let omitted: Vec<(&str, &str)> = k8s["new_approximations"]
        .as_array()
        .expect("new")
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap_or(""),
                a["kind"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        omitted,
        [
            ("ledger-access/3", "omitted"),
            ("ledger-access/4", "omitted")
        ]
    );
    assert_eq!(k8s["gone_approximations"], serde_json::json!([]));
    // OPA enforces time: nothing newly omitted there.
    assert_eq!(targets[4]["new_approximations"], serde_json::json!([]));
    let human = fixture_diff(&["--targets"]);
    assert!(
        stdout(&human).contains("now omitted: ledger-access/4 (policy/payments.seg:30): `kubernetes` cannot enforce `time`"),
        "{}",
        shown(&human)
    );
    let md = fixture_diff(&["--targets", "--format", "markdown"]);
    assert!(
        stdout(&md).contains("<b>Targets</b> (5 of 5 with changes)"),
        "{}",
        shown(&md)
    );
}

#[test]
fn targets_added_to_seg_toml_and_builds_that_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old");
    let new = dir.path().join("new");
    copy_dir(&fixture().join("old"), &old);
    copy_dir(&fixture().join("old"), &new);
    let manifest = old.join("seg.toml");
    let text = std::fs::read_to_string(&manifest).expect("seg.toml");
    std::fs::write(&manifest, text.replace("[targets.opa]\n", "")).expect("write");
    let o = seg_in(
        dir.path(),
        &[
            "diff",
            "old",
            "new",
            "--now",
            NOW,
            "--targets",
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&o), 0, "no reachability change: {}", shown(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let opa = v["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["target"] == "opa")
        .expect("opa");
    assert_eq!(opa["presence"], "new_only");
    // What only the build reads (the bundle's signing key) failing on a
    // side is that side's error, labelled, with no diff.
    let manifest = new.join("seg.toml");
    let text = std::fs::read_to_string(&manifest).expect("seg.toml");
    let text = text.replace(
        "[targets.opa]\n",
        "[targets.opa]\nsigning-key = \"keys/missing.pem\"\n",
    );
    std::fs::write(&manifest, text).expect("write");
    let o = seg_in(
        dir.path(),
        &["diff", "old", "new", "--now", NOW, "--targets"],
    );
    assert_eq!(code(&o), 1, "{}", shown(&o));
    assert_eq!(stdout(&o), "");
    assert!(
        stderr(&o).contains("new: cannot read the bundle signing key `keys/missing.pem`"),
        "{}",
        shown(&o)
    );
}
