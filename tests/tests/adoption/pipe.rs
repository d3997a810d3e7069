//! `seg test | head`: when the reader of seg's output goes away, seg ends quietly with
//! success, whatever the command.

use super::run::{NOW, seg_exe, shown};
use seg_tests::tools;
use std::process::{Command, Stdio};

/// Run `seg ARGS` with its stdout a pipe whose reader has already gone.
fn with_closed_stdout(args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    let mut child = Command::new(seg_exe())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        // These run in the source tree: no compiled-program cache is left
        // there (reach_cache.rs tests the cache in a copy).
        .env("SEG_NO_CACHE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn seg");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait for seg")
}

#[test]
fn every_command_ends_quietly_when_its_reader_goes_away() {
    let repo = tools::repo();
    let scratch = tempfile::tempdir().expect("tempdir");
    let out = scratch.path().join("out");
    let init = scratch.path().join("new");
    let commands: Vec<Vec<&str>> = vec![
        vec!["check", "examples/bank", "--now", NOW],
        vec!["check", "examples/bank", "--now", NOW, "--format", "json"],
        vec!["check", "examples/bank", "--now", NOW, "--format", "sarif"],
        vec!["test", "examples/bank", "--now", NOW],
        vec!["test", "examples/bank", "--now", NOW, "--format", "json"],
        vec![
            "build",
            "examples/bank",
            "--now",
            NOW,
            "--out",
            out.to_str().expect("utf-8"),
        ],
        // Its diagnostics go to stdout before the new tree replaces `--out`.
        vec![
            "build",
            "examples/bank",
            "--now",
            NOW,
            "--format",
            "json",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        vec![
            "explain",
            "payments-api",
            "ledger-postgres",
            "tcp/5432",
            "examples/bank",
            "--now",
            NOW,
        ],
        vec!["explain-code", "E0201"],
        vec!["targets"],
        vec!["init", init.to_str().expect("utf-8"), "--now", NOW],
        vec!["completions", "bash"],
        vec!["man", "check"],
        vec!["schema", "inventory"],
        vec!["schema", "manifest"],
        vec!["fmt", "--check", "--diff", "examples/bank"],
        // After the build above: it reads that output's report.json.
        vec!["stale", out.to_str().expect("utf-8"), "--now", NOW],
        vec![
            "stale",
            out.to_str().expect("utf-8"),
            "--now",
            NOW,
            "--format",
            "json",
        ],
        vec![
            "grant",
            "payments-worker -> ledger on postgres",
            "--for",
            "2h",
            "--reason",
            "pipe",
            "--owner",
            "alice",
            "--approved-by",
            "bob",
            "--now",
            NOW,
            "--manifest-path",
            "examples/bank/seg.toml",
            "--dry-run",
        ],
        vec!["gc", "examples/bank", "--check", "--now", NOW],
        vec!["--help"],
        vec!["--version"],
    ];
    // The audits of one allowed flow, in every output.
    let flows = scratch.path().join("flows.jsonl");
    std::fs::write(
        &flows,
        "{\"start\":\"2026-11-23T10:00:00Z\",\"end\":\"2026-11-23T10:01:00Z\",\"src\":\"10.0.1.20\",\"dst\":\"10.0.3.10\",\"src_port\":43122,\"dst_port\":5432,\"protocol\":6,\"verdict\":\"allowed\"}\n",
    )
    .expect("write");
    let flows = flows.to_str().expect("utf-8");
    let audit = ["audit", "examples/bank", "--flows", flows, "--now", NOW];
    let mut commands = commands;
    let explain = commands
        .iter()
        .find(|c| c[0] == "explain")
        .expect("explain")
        .clone();
    commands.push([&explain[..], &["--format", "json"]].concat());
    for extra in [
        &[][..],
        &["--format", "json"],
        &["--format", "sarif"],
        &["--format", "markdown"],
        &["--draft"],
    ] {
        commands.push(audit.iter().chain(extra).copied().collect());
    }
    commands.push(vec!["audit", "examples/bank", "--emit-sql", "trino"]);
    for format in ["human", "json"] {
        let reach = ["reach", "payments-api", "examples/bank", "--now", NOW];
        commands.push([&reach[..], &["--format", format]].concat());
    }
    for format in ["dot", "mermaid", "json", "html"] {
        commands.push(vec![
            "graph",
            "examples/bank",
            "--now",
            NOW,
            "--format",
            format,
        ]);
    }
    for format in ["human", "markdown", "json"] {
        let diff = ["diff", "examples/bank", "examples/bank", "--now", NOW];
        commands.push([&diff[..], &["--format", format]].concat());
    }
    // Every command of `seg --help` is tried (the language server speaks LSP on stdio instead).
    for c in super::shell::commands() {
        assert!(
            c == "lsp" || commands.iter().any(|args| args[0] == c),
            "`seg {c}` is not tried with a closed stdout here"
        );
    }
    for args in &commands {
        let o = with_closed_stdout(args, &repo);
        assert_eq!(o.status.code(), Some(0), "seg {args:?}: {}", shown(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !err.contains("internal error") && !err.contains("Broken pipe"),
            "seg {args:?}: {err}"
        );
        // A build ended by its reader leaves no half-made output folder.
        let left: Vec<String> = std::fs::read_dir(scratch.path())
            .expect("read scratch")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("seg-tmp"))
            .collect();
        assert!(left.is_empty(), "seg {args:?} left {left:?}");
    }
}

/// The invocation of the report, through a shell: seg's own exit status is 0.
#[test]
fn seg_test_into_head() {
    let script = format!(
        "set -o pipefail; '{}' test examples/bank --now {NOW} 2>/dev/null | head -n 1",
        seg_exe().display()
    );
    let o = Command::new("bash")
        .args(["-c", &script])
        .current_dir(tools::repo())
        .output()
        .expect("run bash");
    assert_eq!(o.status.code(), Some(0), "{}", shown(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "test \"cluster dns\"\n");
}
