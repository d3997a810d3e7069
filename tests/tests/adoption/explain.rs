//! `seg explain --target T`: the decision as one target enforces the policy, with the
//! omission or relaxation that decided it; `--fail`: a denied flow exits 1.

use super::run::{NOW, code, seg_in, shown, stderr, stdout};
use seg_tests::tools;
use serde_json::Value as Json;

fn scaffold() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = seg_in(dir.path(), &["init", "p", "--now", NOW]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let p = dir.path().join("p");
    (dir, p)
}

#[test]
fn a_target_that_cannot_see_the_condition_denies_and_says_why() {
    let (_dir, p) = scaffold();
    let flow = ["explain", "api", "db", "tcp/5432", "--mtls", "--now", NOW];
    let o = seg_in(&p, &flow);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    assert!(stdout(&o).starts_with("allow: api -> db"), "{}", stdout(&o));

    let mut on_k8s = flow.to_vec();
    on_k8s.extend(["--target", "kubernetes"]);
    let o = seg_in(&p, &on_k8s);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let out = stdout(&o);
    assert!(out.starts_with("deny on `kubernetes`: api -> db"), "{out}");
    assert!(out.contains("omitted       access/2"), "{out}");
    assert!(out.contains("`kubernetes` cannot enforce `mtls`"), "{out}");
    assert!(
        out.contains("the policy itself would allow this flow"),
        "{out}"
    );

    // --fail: the denied flow exits 1, the allowed one 0.
    on_k8s.push("--fail");
    assert_eq!(code(&seg_in(&p, &on_k8s)), 1);
    let mut on_opa = flow.to_vec();
    on_opa.extend(["--target", "opa", "--fail"]);
    let o = seg_in(&p, &on_opa);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    assert!(stdout(&o).contains("enforced as written"), "{}", stdout(&o));

    // A time window: iptables keeps it, Kubernetes leaves the rule out.
    let night = format!("{}T01:30:00Z", &NOW[..10]);
    let at = [
        "explain",
        "deploy-job",
        "db",
        "tcp/5432",
        "--at",
        &night,
        "--now",
        NOW,
        "--target",
    ];
    let mut ipt = at.to_vec();
    ipt.push("iptables");
    assert!(stdout(&seg_in(&p, &ipt)).starts_with("allow on `iptables`"));
    let mut k8s = at.to_vec();
    k8s.push("kubernetes");
    let out = stdout(&seg_in(&p, &k8s));
    assert!(
        out.starts_with("deny on `kubernetes`") && out.contains("cannot enforce `time`"),
        "{out}"
    );
}

#[test]
fn a_layered_relaxation_that_allows_is_shown_too() {
    let repo = tools::repo();
    let args = [
        "explain",
        "payments-api",
        "ledger-postgres",
        "tcp/5432",
        "examples/bank",
        "--now",
        NOW,
        "--target",
        "iptables",
        "--format",
        "json",
    ];
    let o = seg_in(&repo, &args);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let v: Json = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["target"], "iptables");
    assert_eq!(v["allow"], true, "{v:#}");
    assert_eq!(
        v["policy_allows"], false,
        "without mTLS the policy denies: {v:#}"
    );
    let a = &v["approximations"][0];
    assert_eq!(
        (a["kind"].as_str(), a["rule"].as_str()),
        (Some("layered"), Some("ledger-access/1")),
        "{v:#}"
    );
}

#[test]
fn fail_and_bad_targets() {
    let (_dir, p) = scaffold();
    // Without a target, --fail follows the policy's own decision.
    let o = seg_in(
        &p,
        &["explain", "web", "db", "tcp/5432", "--now", NOW, "--fail"],
    );
    assert_eq!(code(&o), 1, "{}", shown(&o));
    assert!(stdout(&o).starts_with("deny: web -> db"), "{}", stdout(&o));
    let o = seg_in(
        &p,
        &[
            "explain", "web", "api", "tcp/8080", "--now", NOW, "--fail", "-q",
        ],
    );
    assert_eq!(
        (code(&o), stdout(&o).lines().count()),
        (0, 1),
        "{}",
        shown(&o)
    );
    for bad in ["kubernets", "ir", "k8s"] {
        let o = seg_in(
            &p,
            &[
                "explain", "web", "api", "tcp/8080", "--now", NOW, "--target", bad,
            ],
        );
        assert_eq!(code(&o), 2, "{bad}: {}", shown(&o));
        assert!(
            stderr(&o).contains("is not a target that enforces policy"),
            "{}",
            stderr(&o)
        );
    }
    let o = seg_in(
        &p,
        &["explain", "web", "api", "tcp/8080", "--target", "kubernets"],
    );
    assert!(
        stderr(&o).contains("did you mean `kubernetes`?"),
        "{}",
        stderr(&o)
    );
}
