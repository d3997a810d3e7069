//! `-q/--quiet`, `-v/--verbose`, and the progress line a terminal gets (and nothing else does).

use super::run::{NOW, code, seg_exe, seg_in, shown, stderr, stdout};
use seg_tests::tools;
use std::process::Command;

#[test]
fn quiet_prints_results_and_problems_only() {
    let repo = tools::repo();
    let o = seg_in(&repo, &["check", "examples/bank", "--now", NOW, "-q"]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    assert_eq!(stdout(&o), "", "no summary line");
    assert!(
        stderr(&o).contains("warning[W0102]"),
        "problems are still shown: {}",
        stderr(&o)
    );

    let o = seg_in(&repo, &["--quiet", "test", "examples/bank", "--now", NOW]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    assert_eq!(stdout(&o), "14 passed, 0 failed\n");

    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let o = seg_in(
        &repo,
        &[
            "build",
            "examples/bank",
            "--now",
            NOW,
            "-q",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code(&o), 0, "{}", shown(&o));
    assert_eq!(stdout(&o), "");
    assert!(out.join("report.json").is_file());

    let o = seg_in(
        &repo,
        &[
            "explain",
            "payments-api",
            "ledger-postgres",
            "tcp/5432",
            "examples/bank",
            "--now",
            NOW,
            "-q",
        ],
    );
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));

    let o = seg_in(dir.path(), &["init", "p", "--now", NOW, "-q"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (0, ""), "{}", shown(&o));

    let o = seg_in(&repo, &["check", "examples/bank", "-q", "-v"]);
    assert_eq!(code(&o), 2, "{}", shown(&o));
}

#[test]
fn verbose_tells_what_was_read_how_long_it_took_and_every_approximation() {
    let repo = tools::repo();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let o = seg_in(
        &repo,
        &[
            "-v",
            "build",
            "examples/bank",
            "--now",
            NOW,
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let err = stderr(&o);
    assert!(
        err.contains("info: project `examples/bank`: read seg.toml, "),
        "{err}"
    );
    assert!(err.contains("policy/payments.seg"), "{err}");
    assert_eq!(err.matches("info: checked in ").count(), 1, "{err}");
    for target in ["iptables", "kubernetes", "aws", "gcp", "opa"] {
        assert!(
            err.contains(&format!("info: built {target} in ")),
            "{target}: {err}"
        );
    }
    // Every approximation of report.json, one line each.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report"))
            .expect("json");
    let listed: usize = report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["approximations"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(listed > 0, "the bank example has approximations");
    let lines = err.lines().filter(|l| l.contains(" (policy/")).count();
    assert_eq!(lines, listed, "{err}");

    let o = seg_in(&repo, &["test", "examples/bank", "--now", NOW, "--verbose"]);
    let text = stdout(&o);
    let ok = text
        .lines()
        .filter(|l| l.trim_start().starts_with("ok "))
        .count();
    let why = text
        .lines()
        .filter(|l| l.contains("allowed by") || l.contains("denied by"))
        .count();
    assert_eq!(
        (ok, why),
        (14, 14),
        "each passing expectation with what decided it:\n{text}"
    );
}

/// `seg ARGS` on a pseudo-terminal (util-linux `script`): what the terminal showed.
fn on_terminal(args: &str) -> Option<String> {
    let script = tools::system_tool("script")?;
    let o = Command::new(script)
        .args([
            "-qec",
            &format!("'{}' {args}", seg_exe().display()),
            "/dev/null",
        ])
        .current_dir(tools::repo())
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .output()
        .expect("run script");
    assert!(o.status.success(), "{}", shown(&o));
    Some(stdout(&o))
}

#[test]
fn a_terminal_sees_progress_and_nothing_else_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let build = format!("build examples/bank --now {NOW} --out {}", out.display());
    let Some(screen) = on_terminal(&build) else {
        return;
    };
    for step in [
        "[1/5] building iptables",
        "[5/5] building opa",
        "checking examples/bank",
    ] {
        assert!(
            screen.contains(&format!("\x1b[2K{step}")),
            "{step}: {screen:?}"
        );
    }
    // The line is erased before the summary.
    assert!(screen.contains("\r\x1b[2Kbuilt `bank`"), "{screen:?}");
    let quiet = on_terminal(&format!("{build} -q")).expect("script");
    assert!(!quiet.contains("\x1b[2K"), "{quiet:?}");
    // Not a terminal: no progress at all.
    let o = seg_in(
        &tools::repo(),
        &[
            "build",
            "examples/bank",
            "--now",
            NOW,
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code(&o), 0, "{}", shown(&o));
    assert!(
        !stderr(&o).contains('\r') && !stderr(&o).contains("building"),
        "{:?}",
        stderr(&o)
    );
}

#[test]
fn an_audit_shows_progress_on_a_terminal_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = seg_in(dir.path(), &["init", "p", "--now", NOW, "-q"]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    // web (10.0.1.10) calls api (10.0.2.10) on 8080, as the policy allows.
    let flows = dir.path().join("flows.jsonl");
    std::fs::write(
        &flows,
        "{\"start\":\"2026-11-23T10:00:00Z\",\"end\":\"2026-11-23T10:01:00Z\",\"src\":\"10.0.1.10\",\"dst\":\"10.0.2.10\",\"src_port\":43122,\"dst_port\":8080,\"protocol\":6,\"verdict\":\"allowed\"}\n",
    )
    .expect("write");
    let args = format!(
        "audit {} --flows {} --now {NOW}",
        dir.path().join("p").display(),
        flows.display()
    );
    let Some(screen) = on_terminal(&args) else {
        return;
    };
    for step in ["reading flow logs: ", "auditing"] {
        assert!(
            screen.contains(&format!("\x1b[2K{step}")),
            "{step}: {screen:?}"
        );
    }
    let o = seg_in(
        dir.path(),
        &[
            "audit",
            "p",
            "--flows",
            flows.to_str().expect("utf-8"),
            "--now",
            NOW,
        ],
    );
    assert!(!stderr(&o).contains('\r'), "{}", shown(&o));
    assert!(
        !on_terminal(&format!("{args} -q"))
            .expect("script")
            .contains("\x1b[2K")
    );
}
