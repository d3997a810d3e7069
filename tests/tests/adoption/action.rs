//! The composite GitHub Action (`action.yml`): valid for GitHub (its action schema, as
//! vendored in check-jsonschema), and its steps run here as a runner runs them, expressions
//! evaluated, `actions/cache` emulated by a folder, in a copy of this repository's tracked
//! files standing for the action's checkout. `cargo install` there would be a release build of
//! everything (minutes), so on a cache miss a `cargo` on PATH records its arguments and installs
//! this build of seg; `cargo metadata --locked` checks the checkout resolves as the install does.

use super::run::{NOW, code, git, seg_exe, seg_in, shown};
use super::runner::Runner;
use seg_tests::tools;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn action() -> Json {
    let text = std::fs::read_to_string(tools::repo().join("action.yml")).expect("action.yml");
    seg_tests::yaml::document(&text).expect("action.yml is YAML")
}

/// The repository's tracked files, as GitHub checks out an action (no target/, no .venv).
fn checkout(dir: &Path) -> PathBuf {
    let repo = tools::repo();
    let to = dir.join("seg action");
    let files = git(
        &repo,
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    );
    for rel in files.split('\0').filter(|f| !f.is_empty()) {
        let from = repo.join(rel);
        if !from.is_file() {
            continue;
        }
        let target = to.join(rel);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&from, &target).expect("copy");
    }
    to
}

/// A `cargo` that records its arguments and, for `install --root R`, installs this seg in R.
fn cargo_shim(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("shim");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let record = dir.join("cargo-args");
    let script = format!(
        "#!/bin/bash\nprintf '%s\\n' \"$@\" > '{}'\nroot=\nwhile [ $# -gt 0 ]; do [ \"$1\" = --root ] && root=$2; shift; done\n\
         mkdir -p \"$root/bin\" && cp '{}' \"$root/bin/seg\" && chmod 755 \"$root/bin/seg\"\n",
        record.display(),
        seg_exe().display()
    );
    let shim = bin.join("cargo");
    std::fs::write(&shim, script).expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (bin, record)
}

/// What one use of the action did.
struct ActionRun {
    ok: bool,
    outputs: BTreeMap<String, String>,
    /// Whether the install step ran (a cache miss).
    installed: bool,
    log: String,
}

/// `uses: ./action` with `inputs`, in the workspace `root`; `cache` is the runner's cache.
fn use_action(
    root: &Path,
    action_path: &Path,
    inputs: &[(&str, &str)],
    cache: &Path,
    shim: &Path,
) -> ActionRun {
    let spec = action();
    let mut ctx: BTreeMap<String, String> = BTreeMap::new();
    for (name, input) in spec["inputs"].as_object().expect("inputs") {
        let given = inputs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_string());
        let default = input["default"].as_str().map(String::from);
        ctx.insert(
            format!("inputs.{name}"),
            given.or(default).unwrap_or_default(),
        );
    }
    for (k, _) in inputs {
        assert!(ctx.contains_key(&format!("inputs.{k}")), "no input `{k}`");
    }
    let mut runner = Runner::new(root);
    runner.add_path(shim);
    ctx.insert(
        "runner.temp".into(),
        runner.runner_temp.display().to_string(),
    );
    ctx.insert("runner.os".into(), "Linux".into());
    ctx.insert(
        "github.action_path".into(),
        action_path.display().to_string(),
    );
    let mut installed = false;
    let mut saves: Vec<(String, PathBuf)> = Vec::new();
    let mut ok = true;
    for step in spec["runs"]["steps"].as_array().expect("steps") {
        if let Some(cond) = step["if"].as_str()
            && !condition(cond, &ctx)
        {
            continue;
        }
        let id = step["id"].as_str().unwrap_or("");
        let name = subst(step["name"].as_str().unwrap_or(""), &ctx);
        let mut outputs = BTreeMap::new();
        if let Some(uses) = step["uses"].as_str() {
            assert_eq!(
                uses, "actions/cache@v5",
                "the action uses `{uses}`, which this test does not emulate"
            );
            let key = subst(step["with"]["key"].as_str().expect("key"), &ctx);
            let path = PathBuf::from(subst(step["with"]["path"].as_str().expect("path"), &ctx));
            let stored = cache.join(key.replace('/', "_"));
            let hit = stored.exists();
            if hit {
                copy_tree(&stored, &path);
            } else {
                saves.push((key, path));
            }
            outputs.insert("cache-hit".to_string(), hit.to_string());
        } else {
            let script = step["run"].as_str().expect("a step runs or uses");
            assert!(!script.contains("${{"), "expression in a script: {script}");
            assert_eq!(
                step["shell"], "bash",
                "{name}: composite steps name their shell"
            );
            if name == "install seg" {
                installed = true;
            }
            let env: BTreeMap<String, String> = step["env"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), subst(v.as_str().expect("string"), &ctx)))
                .chain([(
                    "GITHUB_ACTION_PATH".to_string(),
                    action_path.display().to_string(),
                )])
                .collect();
            let dir = subst(step["working-directory"].as_str().unwrap_or("."), &ctx);
            let (success, written) = runner.bash(&name, script, &dir, &env);
            outputs = written;
            if !success {
                ok = false;
            }
        }
        for (k, v) in outputs {
            ctx.insert(format!("steps.{id}.outputs.{k}"), v);
        }
        if !ok {
            break;
        }
    }
    // actions/cache saves at the end of a job that missed.
    for (key, path) in saves.into_iter().filter(|_| ok) {
        copy_tree(&path, &cache.join(key.replace('/', "_")));
    }
    let outputs = spec["outputs"]
        .as_object()
        .expect("outputs")
        .iter()
        .map(|(k, o)| (k.clone(), subst(o["value"].as_str().unwrap_or(""), &ctx)))
        .collect();
    ActionRun {
        ok,
        outputs,
        installed,
        log: runner.log,
    }
}

/// `${{ a.b }}` replaced by the value of `a.b` (empty when unknown).
fn subst(s: &str, ctx: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed expression") + start;
        let expr = rest[start + 3..end].trim();
        out.push_str(ctx.get(expr).map_or("", String::as_str));
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The `if:` forms the action uses: `A == 'v'` and `A != 'v'`.
fn condition(cond: &str, ctx: &BTreeMap<String, String>) -> bool {
    let (a, op, v) = if let Some((a, v)) = cond.split_once("!=") {
        (a, false, v)
    } else if let Some((a, v)) = cond.split_once("==") {
        (a, true, v)
    } else {
        panic!("unsupported condition `{cond}`");
    };
    let value = ctx.get(a.trim()).map_or("", String::as_str);
    (value == v.trim().trim_matches('\'')) == op
}

fn copy_tree(from: &Path, to: &Path) {
    let o = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .expect("cp");
    assert!(o.status.success(), "{}", shown(&o));
}

#[test]
fn the_action_is_valid_for_github() {
    let Some(tool) = tools::venv_tool("check-jsonschema") else {
        return;
    };
    let o = Command::new(tool)
        .args(["--builtin-schema", "vendor.github-actions"])
        .arg(tools::repo().join("action.yml"))
        .output()
        .expect("run check-jsonschema");
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let spec = action();
    assert_eq!(spec["runs"]["using"], "composite");
}

#[test]
fn the_action_installs_seg_and_runs_a_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let action_path = checkout(dir.path());
    // The checkout resolves with its own lock file, as `cargo install --locked --path` needs.
    let o = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--locked",
            "--offline",
            "--no-deps",
            "--format-version",
            "1",
        ])
        .current_dir(&action_path)
        .output()
        .expect("run cargo metadata");
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let workspace = dir.path().join("workspace");
    std::fs::create_dir(&workspace).expect("mkdir");
    let o = seg_in(&workspace, &["init", "policies", "--now", NOW, "-q"]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).expect("mkdir");
    let (shim, record) = cargo_shim(dir.path());

    // First use: a cache miss installs seg, then checks the project.
    let run = use_action(
        &workspace,
        &action_path,
        &[
            ("working-directory", "policies"),
            ("args", "--deny-warnings --now 2026-11-24"),
            ("install-flags", "--debug"),
        ],
        &cache,
        &shim,
    );
    assert!(run.ok && run.installed, "{}", run.log);
    assert_eq!(run.outputs["exit-code"], "0", "{}", run.log);
    assert!(run.log.contains("ok: 5 rules"), "{}", run.log);
    let args: Vec<String> = std::fs::read_to_string(&record)
        .expect("cargo ran")
        .lines()
        .map(String::from)
        .collect();
    let root = args
        .iter()
        .position(|a| a == "--root")
        .map(|i| args[i + 1].clone())
        .expect("--root");
    assert_eq!(
        args,
        [
            "install",
            "--locked",
            "--path",
            &action_path.display().to_string(),
            "--root",
            &root,
            "--bin",
            "seg",
            "--debug",
        ],
    );

    // Second use: seg comes from the cache; SARIF to a file, uploaded by a later step.
    std::fs::remove_file(&record).expect("rm");
    let run = use_action(
        &workspace,
        &action_path,
        &[
            ("working-directory", "policies"),
            ("args", "--format sarif --now 2026-11-24"),
            ("output", "seg.sarif"),
            ("install-flags", "--debug"),
        ],
        &cache,
        &shim,
    );
    assert!(run.ok && !run.installed, "{}", run.log);
    assert!(!record.exists(), "cargo ran on a cache hit");
    let sarif: Json = serde_json::from_slice(
        &std::fs::read(workspace.join("policies/seg.sarif")).expect("sarif"),
    )
    .expect("json");
    super::sarif::assert_accepted(&[("the action's output", &sarif)]);

    // A failing command fails the step, with its exit code as the action's output.
    let main = workspace.join("policies/policy/main.seg");
    let text = std::fs::read_to_string(&main).expect("read");
    std::fs::write(
        &main,
        text.replace("allow frontends ->", "allow frontend ->"),
    )
    .expect("write");
    let run = use_action(
        &workspace,
        &action_path,
        &[
            ("command", "test"),
            ("working-directory", "policies"),
            ("install-flags", "--debug"),
        ],
        &cache,
        &shim,
    );
    assert!(!run.ok, "{}", run.log);
    assert_eq!(run.outputs["exit-code"], "1", "{}", run.log);
    assert!(run.log.contains("error[E0201]"), "{}", run.log);
}
