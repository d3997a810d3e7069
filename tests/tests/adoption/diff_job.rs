//! The workflow's `diff` job on a pull request, run here step by step: `seg diff --base`
//! against the base commit, the markdown posted as one comment, edited on the next push.
//! GitHub's API is stood in for by a `gh` on PATH that keeps the comments in a folder.

use super::run::{NOW, git, git_repo};
use super::workflow::{Event, JobRun, assert_ok, init, run_job_with, validate};
use std::path::Path;

/// A `gh` that answers `gh api` as the issue-comments endpoints would: comments are files
/// `<id>.md` under `$GH_STATE`; the listing prints the ids whose body starts with `$MARKER`
/// (what the job's `--jq` filter selects), POST creates, PATCH replaces. Every call is
/// logged to `$GH_STATE/calls`.
const FAKE_GH: &str = r#"#!/bin/bash
set -eu
state="$GH_STATE"
echo "$*" >> "$state/calls"
[ "$1" = api ] || { echo "fake gh: only api" >&2; exit 1; }
shift
method=GET body=
while [ $# -gt 0 ]; do
  case "$1" in
    -X) method=$2; shift 2 ;;
    -F) body=${2#body=@}; shift 2 ;;
    --jq) shift 2 ;;
    --paginate) shift ;;
    *) url=$1; shift ;;
  esac
done
[ -n "$GH_TOKEN" ] || { echo "fake gh: no token" >&2; exit 1; }
case "$method $url" in
  "GET repos/$REPO/issues/$PR/comments")
    for f in "$state"/*.md; do
      [ -e "$f" ] || continue
      if [ "$(head -n 1 "$f")" = "$MARKER" ]; then basename "$f" .md; fi
    done ;;
  "POST repos/$REPO/issues/$PR/comments")
    id=$((1000 + $(ls "$state" | grep -c '\.md$' || true)))
    cp "$body" "$state/$id.md"; echo "{\"id\": $id}" ;;
  "PATCH repos/$REPO/issues/comments/"*)
    id=${url##*/}; [ -e "$state/$id.md" ] || exit 1
    cp "$body" "$state/$id.md"; echo "{\"id\": $id}" ;;
  *) echo "fake gh: unexpected $method $url" >&2; exit 1 ;;
esac
"#;

struct Pr {
    repo: tempfile::TempDir,
    tools: tempfile::TempDir,
    wf: serde_json::Value,
    base: String,
}

impl Pr {
    fn state(&self) -> std::path::PathBuf {
        self.tools.path().join("state")
    }

    fn run(&self) -> JobRun {
        let mut event = Event::default();
        for (k, v) in [
            ("github.event.pull_request.base.sha", self.base.as_str()),
            ("github.token", "token-for-tests"),
            ("github.repository", "shop/policies"),
            ("github.event.pull_request.number", "7"),
        ] {
            event.expressions.insert(k.into(), v.into());
        }
        event.path.push(self.tools.path().join("bin"));
        run_job_with(self.repo.path(), &self.wf, "diff", &event)
    }

    fn comments(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = std::fs::read_dir(self.state())
            .expect("state")
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "md"))
            .map(|e| {
                let id = e
                    .path()
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                (id, std::fs::read_to_string(e.path()).expect("comment"))
            })
            .collect();
        out.sort();
        out
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.state().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read");
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replace(from, to)).expect("write");
}

/// A repository with a project in `policies/prod` committed as the base, and the pull
/// request's change committed on top.
fn pull_request(change: impl Fn(&Path)) -> Pr {
    let repo = git_repo();
    let (file, mut wf) = init(repo.path(), "policies/prod", &[]);
    validate(&file);
    git(repo.path(), &["add", "."]);
    git(
        repo.path(),
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "base",
        ],
    );
    let base = git(repo.path(), &["rev-parse", "HEAD"]);
    change(&repo.path().join("policies/prod"));
    git(repo.path(), &["add", "."]);
    git(
        repo.path(),
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "change",
        ],
    );
    let tools = tempfile::tempdir().expect("tools");
    let bin = tools.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::create_dir_all(tools.path().join("state")).expect("state");
    let gh = bin.join("gh");
    std::fs::write(&gh, FAKE_GH).expect("gh");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gh, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // `diff` always runs with the time the test fixes.
    wf["env"]["SOURCE_DATE_EPOCH"] = serde_json::json!(
        seg_ir::Timestamp::parse(NOW)
            .map(|t| t.0.to_string())
            .unwrap_or_default()
    );
    // The fake gh finds its state through the environment the job passes on.
    wf["env"]["GH_STATE"] = serde_json::json!(tools.path().join("state").to_string_lossy());
    Pr {
        repo,
        tools,
        wf,
        base,
    }
}

#[test]
fn the_diff_job_comments_the_reachability_change_and_edits_its_comment() {
    let pr = pull_request(|project| {
        let policy = project.join("policy/main.seg");
        let text = std::fs::read_to_string(&policy).expect("policy");
        // One more service on an existing rule: a reachability change.
        let first_rule = text
            .lines()
            .find(|l| l.trim_start().starts_with("allow "))
            .expect("an allow rule")
            .to_string();
        edit(&policy, &first_rule, &format!("{first_rule}, tcp/9999"));
    });
    let job = &pr.wf["jobs"]["diff"];
    assert_eq!(job["needs"], "install");
    assert_eq!(job["permissions"]["pull-requests"], "write");
    assert_eq!(job["steps"][0]["with"]["fetch-depth"], 0);

    let run = pr.run();
    assert_ok("diff", &run);
    assert!(run.log.contains("seg diff exited with 4"), "{}", run.log);
    let comments = pr.comments();
    assert_eq!(comments.len(), 1, "{:?}\n{}", pr.calls(), run.log);
    let (id, body) = &comments[0];
    assert!(
        body.starts_with("<!-- seg diff: prod -->\n### seg diff: "),
        "{body}"
    );
    assert!(
        body.contains("newly allowed") && body.contains("tcp/9999"),
        "{body}"
    );
    assert!(body.contains("<details"), "{body}");

    // The next push edits the same comment.
    let again = pr.run();
    assert_ok("diff", &again);
    let comments = pr.comments();
    assert_eq!(comments.len(), 1, "{:?}", pr.calls());
    assert_eq!(&comments[0].0, id);
    let calls = pr.calls();
    assert!(
        calls.iter().any(|c| c.starts_with("api -X POST")),
        "{calls:?}"
    );
    assert!(
        calls.last().is_some_and(|c| c.starts_with(&format!(
            "api -X PATCH repos/shop/policies/issues/comments/{id}"
        ))),
        "{calls:?}"
    );
    // The job wrote only its own files into the checkout.
    let status = git(pr.repo.path(), &["status", "--porcelain"]);
    let mut touched: Vec<&str> = status.lines().collect();
    touched.sort();
    assert_eq!(
        touched,
        [
            "?? policies/prod/seg-diff-comment.md",
            "?? policies/prod/seg-diff.md"
        ]
    );
}

#[test]
fn the_diff_job_fails_when_the_pull_request_breaks_the_policy() {
    let pr = pull_request(|project| {
        let policy = project.join("policy/main.seg");
        let text = std::fs::read_to_string(&policy).expect("policy");
        std::fs::write(
            &policy,
            format!("{text}\nallow nobody -> anybody on tcp/1\n"),
        )
        .expect("write");
    });
    let run = pr.run();
    assert_eq!(
        run.outcome,
        Err("reachability diff against the base branch".into()),
        "{}",
        run.log
    );
    assert!(
        run.log.contains("new:") && run.log.contains("seg diff exited with 1"),
        "{}",
        run.log
    );
    assert!(pr.comments().is_empty());
}
