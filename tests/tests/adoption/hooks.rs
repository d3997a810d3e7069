//! `.pre-commit-hooks.yaml`: the hooks seg-check, seg-test and seg-fmt, run by the real
//! pre-commit (`try-repo`, and `run` with a config naming a project in a subfolder) on a
//! temporary git repository holding a project.

use super::run::{NOW, code, git, seg_exe, seg_in, shown, stdout};
use seg_tests::tools;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A git repository holding only this repository's hooks file, committed, as pre-commit
/// fetches a hook repository (the file may not be committed here yet).
fn hook_repo(dir: &Path) -> (PathBuf, String) {
    let repo = dir.join("hooks");
    std::fs::create_dir(&repo).expect("mkdir");
    std::fs::copy(
        tools::repo().join(".pre-commit-hooks.yaml"),
        repo.join(".pre-commit-hooks.yaml"),
    )
    .expect("copy the hooks");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(
        &repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "commit",
            "-qm",
            "hooks",
        ],
    );
    let rev = git(&repo, &["rev-parse", "HEAD"]);
    (repo, rev)
}

/// `pre-commit ARGS` in `repo`, with this build of seg on PATH as `seg`.
fn pre_commit(tool: &Path, repo: &Path, home: &Path, args: &[&str]) -> Output {
    let bin = home.join("bin");
    if !bin.join("seg").exists() {
        std::fs::create_dir_all(&bin).expect("mkdir");
        let o = Command::new("cp")
            .arg(seg_exe())
            .arg(bin.join("seg"))
            .output()
            .expect("cp");
        assert!(o.status.success(), "{}", shown(&o));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(bin).chain(std::env::split_paths(&path));
    Command::new(tool)
        .args(args)
        .current_dir(repo)
        .env("PATH", std::env::join_paths(dirs).expect("PATH"))
        .env("PRE_COMMIT_HOME", home.join("cache"))
        .env("SOURCE_DATE_EPOCH", "1795478400") // NOW
        .env("NO_COLOR", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .output()
        .expect("run pre-commit")
}

fn hook_line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines().find(|l| l.starts_with(name)).unwrap_or("")
}

#[test]
fn the_hooks_are_declared() {
    let text =
        std::fs::read_to_string(tools::repo().join(".pre-commit-hooks.yaml")).expect("hooks");
    let hooks = seg_tests::yaml::document(&text).expect("YAML");
    let ids: Vec<&str> = hooks
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|h| h["id"].as_str())
        .collect();
    assert_eq!(ids, ["seg-check", "seg-test", "seg-fmt"]);
    for h in hooks.as_array().expect("a list") {
        let entry = h["entry"].as_str().expect("entry");
        let command = entry.split_whitespace().nth(1).expect("a seg command");
        let o = seg_in(&tools::repo(), &[command, "--help"]);
        assert_eq!(code(&o), 0, "`{entry}`: {}", shown(&o));
    }
}

#[test]
fn pre_commit_runs_the_hooks_on_a_project() {
    let Some(tool) = tools::venv_tool("pre-commit") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (hooks, rev) = hook_repo(dir.path());
    let home = dir.path().join("home");
    let project = dir.path().join("project");
    let o = seg_in(dir.path(), &["init", "project", "--now", NOW, "-q"]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    git(&project, &["init", "-q"]);
    git(&project, &["add", "-A"]);
    let hooks_arg = hooks.to_str().expect("utf-8");

    // The untouched scaffold passes every hook.
    let o = pre_commit(
        &tool,
        &project,
        &home,
        &["try-repo", hooks_arg, "--all-files"],
    );
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    for hook in ["seg check", "seg test", "seg fmt"] {
        assert!(hook_line(&out, hook).ends_with("Passed"), "{hook}: {out}");
    }

    // seg-fmt lays out a changed file and fails the commit until it is staged again.
    let extra = project.join("policy/extra.seg");
    std::fs::write(&extra, "segment   ops =   [api]\n").expect("write");
    git(&project, &["add", "-A"]);
    let o = pre_commit(&tool, &project, &home, &["try-repo", hooks_arg, "seg-fmt"]);
    assert_eq!(code(&o), 1, "{}", shown(&o));
    assert!(
        stdout(&o).contains("files were modified by this hook"),
        "{}",
        shown(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&extra).expect("read"),
        "segment ops = [api]\n"
    );

    // seg-check fails on a policy error; seg-test on a failing expectation.
    std::fs::write(&extra, "segment ops = [nobody]\n").expect("write");
    git(&project, &["add", "-A"]);
    let o = pre_commit(
        &tool,
        &project,
        &home,
        &["try-repo", hooks_arg, "seg-check"],
    );
    assert_eq!(code(&o), 1, "{}", shown(&o));
    assert!(stdout(&o).contains("error[E0201]"), "{}", shown(&o));
    std::fs::remove_file(&extra).expect("rm");
    let main = project.join("policy/main.seg");
    let text = std::fs::read_to_string(&main).expect("read");
    std::fs::write(&main, text.replace("expect deny  web", "expect allow web")).expect("write");
    git(&project, &["add", "-A"]);
    let o = pre_commit(&tool, &project, &home, &["try-repo", hooks_arg, "seg-test"]);
    assert_eq!(code(&o), 1, "{}", shown(&o));
    assert!(stdout(&o).contains("FAIL"), "{}", shown(&o));

    // A project in a subfolder: the config passes its folder.
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    let o = seg_in(&repo, &["init", "policies", "--now", NOW, "-q"]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    std::fs::write(
        repo.join(".pre-commit-config.yaml"),
        format!(
            "repos:\n  - repo: {hooks_arg}\n    rev: {rev}\n    hooks:\n      - id: seg-check\n        args: [policies]\n      - id: seg-test\n        args: [policies]\n      - id: seg-fmt\n"
        ),
    )
    .expect("write");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    let o = pre_commit(&tool, &repo, &home, &["run", "--all-files"]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let out = stdout(&o);
    for hook in ["seg check", "seg test", "seg fmt"] {
        assert!(hook_line(&out, hook).ends_with("Passed"), "{hook}: {out}");
    }
}
