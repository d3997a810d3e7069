//! `seg reach` end to end: the real binary on the bank example and on small
//! projects made here (hops, paths, `--at`, `--target`, `--to`, bad input).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NOW: &str = "2026-11-24T00:00:00Z";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn seg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seg-cli"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .current_dir(repo())
        // These run in the source tree: no compiled-program cache is left
        // there (reach_cache.rs tests the cache in a copy).
        .env("SEG_NO_CACHE", "1")
        .output()
        .expect("run seg")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    assert_eq!(o.status.code(), Some(0), "{}", err(o));
    serde_json::from_slice(&o.stdout).expect("json on stdout")
}

/// A chain: partners -> gateway -> api -> ledger-db, api also -> cache (an
/// api_key-free chain), `batch` only at night, and a deny carving one port.
fn chain() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::create_dir(p.join("policy")).expect("mkdir");
    fs::write(
        p.join("seg.toml"),
        "[project]\nname = \"chain\"\n\n[targets.iptables]\n[targets.kubernetes]\n\n[enforcement]\nlayered = [\"mtls\"]\n\n[reach]\ncritical = 'tier == 0'\nentry = [\"partners\"]\n",
    )
    .expect("seg.toml");
    let ident = |name: &str, tier: u8, addr: &str| {
        format!(
            "  - name: {name}\n    kind: workload\n    owner: team-{name}\n    attributes: {{ tier: {tier} }}\n    addresses: [{addr}/32]\n    kubernetes: {{ namespace: ns-{name}, labels: {{ app: {name} }} }}\n"
        )
    };
    let mut inv = String::from("version: 1\nattributes:\n  tier: int\nidentities:\n");
    inv += &ident("gateway", 2, "10.0.0.1");
    inv += &ident("api", 1, "10.0.1.1");
    inv += &ident("ledger-db", 0, "10.0.2.1");
    inv += &ident("cache", 1, "10.0.3.1");
    inv += &ident("batch", 1, "10.0.4.1");
    fs::write(p.join("inventory.yaml"), inv).expect("inventory");
    fs::write(
        p.join("policy/main.seg"),
        r#"segment partners = network 203.0.113.0/24

policy edge {
  owner "team-edge"
  allow partners -> gateway on tcp/443
  allow gateway -> api on tcp/8443 when mtls
  allow api -> ledger-db on tcp/5432, tcp/22
  allow api -> cache on tcp/6379
  deny api -> ledger-db on tcp/22
  allow batch -> ledger-db on tcp/5432 when time 01:00..03:00 utc expires 2026-12-31
}
"#,
    )
    .expect("policy");
    dir
}

fn path(dir: &Path) -> &str {
    dir.to_str().expect("utf-8 path")
}

#[test]
fn reach_lists_every_hop_with_its_rules_and_paths() {
    let dir = chain();
    let o = seg(&["reach", "gateway", path(dir.path()), "--now", NOW]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let text = out(&o);
    assert!(
        text.starts_with("gateway reaches 3 identities (deepest: hop 2)"),
        "{text}"
    );
    assert!(text.contains("hop 1 — 1 identity\n  api\n      gateway -> api on tcp/8443 — allowed by edge/2 at policy/main.seg:6, owner team-edge, when mtls"), "{text}");
    assert!(text.contains("hop 2 — 2 identities"), "{text}");
    // One shortest path per reached identity, each hop with its rule; the deny is shown.
    assert!(text.contains("api -> ledger-db on tcp/5432 — allowed by edge/3 at policy/main.seg:7, owner team-edge [denied: tcp/22 by edge/5 at policy/main.seg:9]"), "{text}");
    assert!(text.contains("api -> cache on tcp/6379"), "{text}");

    let v = json(&seg(&[
        "reach",
        "gateway",
        path(dir.path()),
        "--now",
        NOW,
        "--format",
        "json",
    ]));
    assert_eq!(v["reached"], 3);
    assert_eq!(v["hops"][1]["hop"], 2);
    let groups = v["hops"][1]["groups"].as_array().expect("groups");
    let ledger = groups
        .iter()
        .find(|g| g["identities"][0] == "ledger-db")
        .expect("ledger-db group");
    assert_eq!(ledger["path"][0]["from"], "gateway");
    assert_eq!(ledger["path"][0]["to"], "api");
    assert_eq!(ledger["path"][1]["to"], serde_json::Value::Null);
    assert_eq!(ledger["path"][1]["ports"], "tcp/5432");
    assert_eq!(ledger["path"][1]["carved"], "tcp/22");
    assert_eq!(ledger["path"][1]["rules"][0]["line"], 7);

    // --hops stops the search.
    let v = json(&seg(&[
        "reach",
        "gateway",
        path(dir.path()),
        "--now",
        NOW,
        "--hops",
        "1",
        "--format",
        "json",
    ]));
    assert_eq!(v["reached"], 1);
    // An entry network, by segment name or address.
    for from in ["partners", "203.0.113.9"] {
        let v = json(&seg(&[
            "reach",
            from,
            path(dir.path()),
            "--now",
            NOW,
            "--format",
            "json",
        ]));
        assert_eq!(v["reached"], 4, "{from}");
        assert_eq!(v["deepest"], 3, "{from}");
    }
    // No pivoting: one hop only.
    let v = json(&seg(&[
        "reach",
        "gateway",
        path(dir.path()),
        "--now",
        NOW,
        "--pivot",
        "none",
        "--format",
        "json",
    ]));
    assert_eq!(v["reached"], 1);
}

#[test]
fn reach_to_prints_every_shortest_path() {
    let dir = chain();
    let o = seg(&[
        "reach",
        "partners",
        path(dir.path()),
        "--now",
        NOW,
        "--to",
        "ledger-db",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let text = out(&o);
    assert!(
        text.starts_with("segment partners reaches ledger-db in 3 hops, by 1 shortest path"),
        "{text}"
    );
    assert!(
        text.contains("  203.0.113.0/24 -> gateway on tcp/443"),
        "{text}"
    );
    let v = json(&seg(&[
        "reach",
        "gateway",
        path(dir.path()),
        "--now",
        NOW,
        "--to",
        "cache",
        "--format",
        "json",
    ]));
    assert_eq!(v["hop"], 2);
    assert_eq!(v["count"], 1);
    assert_eq!(v["paths"][0]["steps"][1]["to"], "cache");
    let v = json(&seg(&[
        "reach",
        "cache",
        path(dir.path()),
        "--now",
        NOW,
        "--to",
        "gateway",
        "--format",
        "json",
    ]));
    assert_eq!(v["hop"], serde_json::Value::Null);
}

#[test]
fn reach_at_evaluates_windows_and_expiry() {
    let dir = chain();
    let reached = |extra: &[&str]| {
        let mut args = vec![
            "reach",
            "batch",
            path(dir.path()),
            "--now",
            NOW,
            "--format",
            "json",
        ];
        args.extend(extra);
        json(&seg(&args))["reached"].clone()
    };
    // Without --at the window opens at some time.
    assert_eq!(reached(&[]), 1);
    assert_eq!(reached(&["--at", "2026-11-25T01:30:00Z"]), 1);
    assert_eq!(reached(&["--at", "2026-11-25T12:00:00Z"]), 0);
    // The last day is live, the next is not.
    assert_eq!(reached(&["--at", "2026-12-31T02:59:59Z"]), 1);
    assert_eq!(reached(&["--at", "2027-01-01T01:30:00Z"]), 0);
}

#[test]
fn reach_target_uses_the_policy_the_target_enforces() {
    let dir = chain();
    // Kubernetes has no time windows: the night rule is left out (fail closed);
    // mTLS is layered, so gateway -> api still counts.
    let o = seg(&[
        "reach",
        "batch",
        path(dir.path()),
        "--now",
        NOW,
        "--target",
        "kubernetes",
    ]);
    let text = out(&o);
    assert!(text.starts_with("batch reaches 0 identities"), "{text}");
    assert!(text.contains("policy as `kubernetes` enforces it; layered, counted as satisfied: mtls; not enforced there, failed closed: time, request, context"), "{text}");
    let v = json(&seg(&[
        "reach",
        "gateway",
        path(dir.path()),
        "--now",
        NOW,
        "--target",
        "kubernetes",
        "--format",
        "json",
    ]));
    assert_eq!(v["reached"], 3);
    assert_eq!(v["target"]["layered"][0], "mtls");
    // iptables enforces time windows.
    let v = json(&seg(&[
        "reach",
        "batch",
        path(dir.path()),
        "--now",
        NOW,
        "--target",
        "iptables",
        "--at",
        "2026-11-25T01:30:00Z",
        "--format",
        "json",
    ]));
    assert_eq!(v["reached"], 1);
}

#[test]
fn reach_bad_input_is_a_clear_usage_error() {
    let dir = chain();
    let cases: [(&[&str], &str); 6] = [
        (&["reach", "gatewy"], "did you mean `gateway`?"),
        (
            &["reach", "gateway", "--to", "ledgr-db"],
            "did you mean `ledger-db`?",
        ),
        (
            &["reach", "gateway", "--target", "iptable"],
            "did you mean `iptables`?",
        ),
        (
            &["reach", "gateway", "--at", "noon"],
            "`--at noon` is not a time",
        ),
        (
            &["reach", "gateway", "--pivot", "workloads"],
            "did you mean `workload`?",
        ),
        (
            &["reach", "gateway", "--format", "sarif"],
            "prints `human` or `json`",
        ),
    ];
    for (args, want) in cases {
        let mut args = args.to_vec();
        args.insert(2, path(dir.path()));
        let o = seg(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(want), "{args:?}: {}", err(&o));
        assert!(out(&o).is_empty(), "{args:?}");
    }
}

#[test]
fn check_reports_exposure_paths_and_build_reports_blast_radius() {
    let dir = chain();
    let o = seg(&["check", path(dir.path()), "--now", NOW, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let exposures: Vec<&serde_json::Value> = v["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["code"] == "W0501")
        .collect();
    assert_eq!(exposures.len(), 1, "{v:#}");
    assert!(
        exposures[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("`partners` reaches critical identity `ledger-db` in 3 hops")
    );
    // hops = 2 is too short for the path.
    let toml = fs::read_to_string(dir.path().join("seg.toml")).expect("read") + "hops = 2\n";
    fs::write(dir.path().join("seg.toml"), toml).expect("write");
    let o = seg(&["check", path(dir.path()), "--now", NOW]);
    assert!(!err(&o).contains("W0501"), "{}", err(&o));

    let outdir = dir.path().join("out");
    let o = seg(&[
        "build",
        path(dir.path()),
        "--now",
        NOW,
        "--out",
        outdir.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(outdir.join("report.json")).expect("report"))
            .expect("json");
    let radius = &report["blast_radius"];
    assert_eq!(radius["identities"]["gateway"], 3);
    assert_eq!(radius["identities"]["api"], 2);
    assert_eq!(radius["identities"]["ledger-db"], 0);
    assert_eq!(radius["largest"][0]["identity"], "gateway");
    assert_eq!(radius["largest"].as_array().map(Vec::len), Some(5));
}
