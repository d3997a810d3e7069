//! `seg grant`: an accepted grant checks, tests and builds; every refusal
//! leaves the grants file byte for byte as it was (or absent); the `[jit]`
//! lints on a hand-edited grants file.

use super::project::bank_copy;
use crate::run::{code, seg_in, shown, stderr, stdout};
use std::path::Path;

const NOW: &str = "2026-11-24T10:00:00Z";

/// An earlier grant and a comment: what a refusal must keep, byte for byte.
const EXISTING: &str = "// Grants of the on-call rota.\n\npolicy grant-20261124-090000 {\n  allow payments-worker -> kube-dns on tcp/8053\n    expires 2026-11-24T11:00:00Z\n    reason \"debug resolution\"\n    owner \"alice\"\n    created 2026-11-24T09:00:00Z\n}\n// kept as written\n";

fn project(grants: Option<&str>) -> tempfile::TempDir {
    // The bank's `[jit]`: max-ttl 8h; grantable `not tier == 1`.
    let p = bank_copy(&[]);
    let toml = std::fs::read_to_string(p.path().join("seg.toml")).expect("seg.toml");
    assert!(toml.contains("max-ttl = \"8h\"") && toml.contains("grantable = \"not tier == 1\""));
    if let Some(g) = grants {
        std::fs::write(p.path().join("policy/grants.seg"), g).expect("grants");
    }
    p
}

fn grant(root: &Path, rule: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["grant", rule, "--now", NOW, "--owner", "alice"];
    args.extend(extra);
    seg_in(root, &args)
}

fn grants(root: &Path) -> Option<Vec<u8>> {
    std::fs::read(root.join("policy/grants.seg")).ok()
}

#[test]
fn an_accepted_grant_expires_at_now_plus_its_duration_and_checks_tests_and_builds() {
    let p = project(Some(EXISTING));
    let root = p.path();
    let o = grant(
        root,
        "payments-worker -> ledger on postgres",
        &[
            "--for",
            "1h30m",
            "--reason",
            "reconcile \"batch\" 7",
            "--ticket",
            "OPS-9",
            "--approved-by",
            "bob",
        ],
    );
    assert_eq!(code(&o), 0, "{}", shown(&o));
    assert!(
        stdout(&o).contains("granted `grant-20261124-100000/1`: payments-worker -> ledger on postgres until 2026-11-24T11:30:00Z (1 h 30 min), owner alice"),
        "{}",
        shown(&o)
    );
    let text = String::from_utf8(grants(root).expect("grants file")).expect("utf-8");
    // The earlier grant and the comments are kept; the new one follows, formatted,
    // with the imports it needs.
    assert!(
        text.starts_with("// Grants of the on-call rota.\n"),
        "{text}"
    );
    assert!(text.contains("// kept as written\n"), "{text}");
    assert!(
        text.contains("use ./payments.seg::{ledger}\nuse std::services::{postgres}\n"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "policy grant-20261124-100000 {\n  allow payments-worker -> ledger on postgres\n    expires 2026-11-24T11:30:00Z\n    reason \"reconcile \\\"batch\\\" 7\"\n    owner \"alice\"\n    ticket \"OPS-9\"\n    approved-by \"bob\"\n    created 2026-11-24T10:00:00Z\n}\n"
        ),
        "{text}"
    );
    let fmt = seg_in(root, &["fmt", "--check", "policy/grants.seg"]);
    assert_eq!(code(&fmt), 0, "{}", shown(&fmt));
    for args in [
        vec!["check", "--now", NOW],
        vec!["test", "--now", NOW],
        vec!["build", "--now", NOW, "--out", "out"],
    ] {
        let o = seg_in(root, &args);
        assert_eq!(code(&o), 0, "{args:?}: {}", shown(&o));
    }
    // The output names rules by id; report.json says which id the grant has.
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("out/report.json")).expect("report.json"),
    )
    .expect("report JSON");
    let id = report["rule_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["label"] == "grant-20261124-100000/1")
        .and_then(|r| r["id"].as_str())
        .expect("the grant's rule id in report.json");
    let data =
        std::fs::read_to_string(root.join("out/opa/bundle/seg/data.json")).expect("opa data");
    assert!(
        data.contains(&format!("\"{id}\"")),
        "the bundle lacks the grant {id}"
    );
    // Live until the second before its end.
    let explain = |at: &str| {
        seg_in(
            root,
            &[
                "explain",
                "payments-worker",
                "ledger-postgres",
                "tcp/5432",
                "--at",
                at,
                "--now",
                NOW,
                "--fail",
            ],
        )
    };
    assert_eq!(code(&explain("2026-11-24T11:29:59Z")), 0);
    assert_eq!(code(&explain("2026-11-24T11:30:00Z")), 1);
}

/// Each refusal: its exit code, what it says, and no byte of the grants file changed.
#[test]
fn refused_grants_leave_the_file_byte_identical() {
    let p = project(Some(EXISTING));
    let root = p.path();
    let before = grants(root);
    let cases: &[(&str, &[&str], i32, &str)] = &[
        // Over the ceiling.
        (
            "payments-worker -> kube-dns on dns",
            &["--for", "9h", "--reason", "r"],
            1,
            "longer than `[jit] max-ttl` (8h)",
        ),
        // A tier-1 identity without an approver.
        (
            "payments-worker -> ledger-postgres on postgres",
            &["--for", "2h", "--reason", "r"],
            1,
            "W0313",
        ),
        // Does not check: an unknown name.
        (
            "payments-worker -> nosuch-db on postgres",
            &["--for", "2h", "--reason", "r"],
            1,
            "E0201",
        ),
        // Contradicts a test (`expect deny web-frontend -> ledger-postgres ... with mtls`).
        (
            "web-frontend -> ledger-postgres on postgres",
            &["--for", "2h", "--reason", "r", "--approved-by", "bob"],
            1,
            "a test expectation fail",
        ),
        // Durations.
        (
            "payments-worker -> kube-dns on dns",
            &["--for", "0s", "--reason", "r"],
            2,
            "`--for 0s`",
        ),
        (
            "payments-worker -> kube-dns on dns",
            &["--for", "10y", "--reason", "r"],
            2,
            "`y` in `10y` is not a unit",
        ),
        (
            "payments-worker -> kube-dns on dns",
            &["--for", "2", "--reason", "r"],
            2,
            "no unit",
        ),
        // Clauses the flags set, a second item smuggled in, a deny.
        (
            "payments-worker -> kube-dns on dns expires 2027-01-01",
            &["--for", "2h", "--reason", "r"],
            2,
            "`expires` (use `--for`)",
        ),
        (
            "payments-worker -> kube-dns on dns } policy evil { allow any -> any on any",
            &["--for", "2h", "--reason", "r"],
            2,
            "not a grant",
        ),
        (
            "deny payments-worker -> kube-dns on dns",
            &["--for", "2h", "--reason", "r"],
            2,
            "not a grant",
        ),
        // Hostile text for the file's strings.
        (
            "payments-worker -> kube-dns on dns",
            &["--for", "2h", "--reason", "line\nbreak"],
            2,
            "control",
        ),
        (
            "payments-worker -> kube-dns on dns",
            &["--for", "2h", "--reason", "a\u{202e}b"],
            2,
            "direction-override",
        ),
        // A bad instant for now.
        (
            "payments-worker -> kube-dns on dns",
            &[
                "--for",
                "2h",
                "--reason",
                "r",
                "--now",
                "2026-11-24T10:00:00+25:00",
            ],
            2,
            "is not a time",
        ),
    ];
    for (rule, extra, want, says) in cases {
        let o = if extra.contains(&"--now") {
            let mut args = vec!["grant", *rule, "--owner", "alice"];
            args.extend(*extra);
            seg_in(root, &args)
        } else {
            grant(root, rule, extra)
        };
        assert_eq!(code(&o), *want, "{rule} {extra:?}: {}", shown(&o));
        assert!(
            stderr(&o).contains(says),
            "{rule} {extra:?}: wants `{says}`\n{}",
            shown(&o)
        );
        assert!(stderr(&o).contains("nothing was written"), "{}", shown(&o));
        assert_eq!(
            grants(root),
            before,
            "{rule} {extra:?} changed the grants file"
        );
    }
    // Without a grants file, a refusal creates none.
    let fresh = project(None);
    let o = grant(
        fresh.path(),
        "payments-worker -> kube-dns on dns",
        &["--for", "9h", "--reason", "r"],
    );
    assert_eq!(code(&o), 1, "{}", shown(&o));
    assert_eq!(grants(fresh.path()), None);
    // A dry run writes nothing either.
    let o = grant(
        fresh.path(),
        "payments-worker -> kube-dns on dns",
        &["--for", "2h", "--reason", "r", "--dry-run"],
    );
    assert_eq!(code(&o), 0, "{}", shown(&o));
    assert!(
        stdout(&o)
            .contains("allow payments-worker -> kube-dns on dns\n    expires 2026-11-24T12:00:00Z"),
        "{}",
        shown(&o)
    );
    assert_eq!(grants(fresh.path()), None);
}

#[test]
fn the_grants_file_lints_are_errors_by_default() {
    let lint = |rule: &str| {
        let p = project(Some(&format!(
            "policy g {{\n  allow payments-worker -> kube-dns on tcp/8053\n{rule}\n}}\n"
        )));
        seg_in(p.path(), &["check", "--now", NOW])
    };
    let o = lint(
        "    expires 2026-11-25T10:00:00Z\n    reason \"r\"\n    owner \"a\"\n    created 2026-11-24T10:00:00Z",
    );
    assert_eq!(code(&o), 1, "{}", shown(&o));
    assert!(
        stderr(&o).contains("error[W0311]: grant lives 1 day, longer than `[jit] max-ttl` (8h)"),
        "{}",
        shown(&o)
    );
    let o = lint("    expires 2026-11-24T12:00:00Z\n    created 2026-11-24T10:00:00Z");
    assert_eq!(code(&o), 1, "{}", shown(&o));
    assert!(
        stderr(&o).contains("error[W0312]: grant has no owner"),
        "{}",
        shown(&o)
    );
    assert!(
        stderr(&o).contains("error[W0312]: grant has no reason"),
        "{}",
        shown(&o)
    );
    let o = lint("    reason \"r\"\n    owner \"a\"");
    assert!(
        stderr(&o).contains("error[W0311]: grant never expires"),
        "{}",
        shown(&o)
    );
    let o = lint(
        "    expires 2026-11-25T12:00:00Z\n    reason \"r\"\n    owner \"a\"\n    created 2026-11-25T10:00:00Z",
    );
    assert!(
        stderr(&o).contains("error[W0311]: grant created in the future"),
        "{}",
        shown(&o)
    );
    // Within the ceiling, with owner and reason: no W0303 either, a grant is meant to end soon.
    let o = lint(
        "    expires 2026-11-24T12:00:00Z\n    reason \"r\"\n    owner \"a\"\n    created 2026-11-24T10:00:00Z",
    );
    assert_eq!(code(&o), 0, "{}", shown(&o));
    assert!(!stderr(&o).contains("policy/grants.seg"), "{}", shown(&o));
}
