//! `seg audit` end to end: planted traffic estates (`seg_tests::estate::traffic`)
//! rendered in every input format, audited by the real binary, and the
//! findings compared with the planted truth (100 % precision and recall);
//! drafts that check and break nothing; bad input.

use seg_flows::FormatChoice;
use seg_ir::Timestamp;
use seg_tests::estate::traffic::{self, Key, TrafficEstate};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

const NOW: &str = "2026-11-20T12:00:00Z";
const FORMATS: [FormatChoice; 6] = [
    FormatChoice::Seg,
    FormatChoice::Aws,
    FormatChoice::AwsParquet,
    FormatChoice::Gcp,
    FormatChoice::Hubble,
    FormatChoice::Azure,
];

fn seg() -> Command {
    Command::new(env!("CARGO_BIN_EXE_seg-cli"))
}

/// A fresh folder per call (pid and counter: several runs of the suite may share the machine).
fn scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "seg-audit-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A traffic estate written to a fresh folder.
fn project(seed: u64, name: &str) -> (TrafficEstate, PathBuf) {
    let estate = traffic::estate(seed);
    let dir = scratch(name);
    estate.write(&dir).expect("project written");
    (estate, dir)
}

fn write_flows(dir: &Path, estate: &TrafficEstate, format: FormatChoice) -> PathBuf {
    let bytes = seg_flows::write::render(format, &estate.entries_for(format));
    let path = dir.join(format!("flows-{}", format.name()));
    std::fs::write(&path, bytes).expect("flows written");
    path
}

fn audit(dir: &Path, flows: &Path, format: FormatChoice, extra: &[&str]) -> Output {
    seg()
        .arg("audit")
        .arg(dir)
        .arg("--flows")
        .arg(flows)
        .args(["--flow-format", format.name()])
        .args([
            "--since",
            traffic::SINCE,
            "--until",
            traffic::UNTIL,
            "--now",
            NOW,
        ])
        .args(extra)
        .output()
        .expect("seg runs")
}

fn keys(report: &Value) -> BTreeSet<Key> {
    report["findings"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| {
                    (
                        f["kind"].as_str().unwrap_or("").to_string(),
                        f["subject"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn planted_findings_are_found_exactly_in_every_format() {
    for seed in 0..3 {
        let (estate, dir) = project(seed, "planted");
        for format in FORMATS {
            let flows = write_flows(&dir, &estate, format);
            let out = audit(&dir, &flows, format, &["--format", "json"]);
            assert_eq!(
                out.status.code(),
                Some(1),
                "would-break is an error: {}",
                text(&out)
            );
            let report: Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("JSON report ({e}): {}", text(&out)));
            let got = keys(&report);
            let want = estate.expected(format);
            let missed: Vec<&Key> = want.difference(&got).collect();
            let extra: Vec<&Key> = got.difference(&want).collect();
            assert!(
                missed.is_empty() && extra.is_empty(),
                "seed {seed}, {format}: missed (recall) {missed:?}, not planted (precision) {extra:?}\n{}",
                serde_json::to_string_pretty(&report["findings"]).unwrap_or_default()
            );
            let input = &report["input"];
            if format != FormatChoice::Azure {
                assert_eq!(input["replies_folded"], estate.replies() as u64, "{format}");
                assert_eq!(input["undetermined_direction"], 3, "{format}");
            } else {
                assert_eq!(input["replies_folded"], 0, "{format}");
            }
            // Every record here has an end attributed through an address written
            // without a validity window (only the pods' address has one).
            let a = &report["attribution"];
            assert_eq!(a["without_window_evidence"], a["records"], "{a}");
            assert!(a["records"].as_u64().unwrap_or(0) > 0);
            // Per-rule hits: the unused rule has none, the web → api rule some.
            let rules = report["rules"].as_array().cloned().unwrap_or_default();
            let hits = |label: &str| {
                rules
                    .iter()
                    .find(|r| r["label"] == label)
                    .map(|r| r["hits"]["records"].as_u64().unwrap_or(0))
            };
            assert_eq!(hits("main/3"), Some(0), "{format}");
            assert!(hits("main/1").unwrap_or(0) > 0, "{format}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn findings_carry_the_rule_place_owner_and_counts_in_every_output() {
    let (estate, dir) = project(7, "outputs");
    let flows = write_flows(&dir, &estate, FormatChoice::Aws);
    let json = audit(&dir, &flows, FormatChoice::Aws, &["--format", "json"]);
    let report: Value = serde_json::from_slice(&json.stdout).expect("json");
    let unused = report["findings"]
        .as_array()
        .and_then(|fs| {
            fs.iter()
                .find(|f| f["kind"] == "unused-rule" && f["subject"] == "main/3")
        })
        .cloned()
        .expect("unused rule");
    assert_eq!(unused["rule"]["file"], "policy/main.seg");
    assert_eq!(unused["rule"]["line"], 12);
    assert_eq!(unused["rule"]["owner"], "team-platform");
    assert_eq!(unused["window"]["since"], traffic::SINCE);
    let over = report["findings"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["kind"] == "over-broad"))
        .cloned()
        .expect("over-broad");
    let proposal = over["proposal"].as_str().unwrap_or("");
    assert!(proposal.starts_with("allow [api-1, api-2"), "{proposal}");
    assert!(
        proposal.contains("on tcp/5432 owner \"team-platform\""),
        "{proposal}"
    );
    assert!(over["counts"]["records"].as_u64().unwrap_or(0) > 0);
    assert!(over["counts"]["first_seen"].is_string());

    // SARIF: the unused rule at its line, would-break at the identity's entry.
    let sarif = audit(&dir, &flows, FormatChoice::Aws, &["--format", "sarif"]);
    let log: Value = serde_json::from_slice(&sarif.stdout).expect("sarif");
    let results = log["runs"][0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let at = |rule: &str| -> Vec<(String, u64)> {
        results
            .iter()
            .filter(|r| r["ruleId"] == rule)
            .map(|r| {
                let l = &r["locations"][0]["physicalLocation"];
                (
                    l["artifactLocation"]["uri"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    l["region"]["startLine"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    assert!(
        at("unused-rule")
            .iter()
            .any(|(u, l)| u.ends_with("policy/main.seg") && *l == 12),
        "{:?}",
        at("unused-rule")
    );
    assert!(
        at("would-break")
            .iter()
            .all(|(u, _)| u.ends_with(".seg") || u.ends_with("inventory.yaml"))
    );
    assert!(
        results
            .iter()
            .all(|r| r["locations"].as_array().is_some_and(|l| !l.is_empty()))
    );
    let levels: BTreeSet<&str> = results.iter().filter_map(|r| r["level"].as_str()).collect();
    assert!(levels.contains("error") && levels.contains("warning") && levels.contains("note"));

    // Human and Markdown name the same findings.
    for (fmt, needle) in [
        ("human", "warning[unused-rule]"),
        ("markdown", "### `unused-rule` (1)"),
    ] {
        let out = audit(&dir, &flows, FormatChoice::Aws, &["--format", fmt]);
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains(needle), "{fmt}:\n{s}");
        assert!(s.contains("would-break"), "{fmt}");
    }

    // Levels from seg.toml: would-break as a warning leaves no error (exit 0).
    let toml = dir.join("seg.toml");
    let mut manifest = std::fs::read_to_string(&toml).expect("seg.toml");
    manifest.push_str("\n[audit]\nwould-break = \"warning\"\nunresolved = \"off\"\n");
    std::fs::write(&toml, manifest).expect("seg.toml");
    let out = audit(&dir, &flows, FormatChoice::Aws, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(!keys(&report).iter().any(|(k, _)| k == "unresolved"));
    assert_eq!(report["summary"]["errors"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_draft_checks_and_breaks_nothing_of_the_traffic_it_was_drafted_from() {
    for (seed, format) in [
        (1, FormatChoice::Aws),
        (2, FormatChoice::Hubble),
        (3, FormatChoice::Gcp),
    ] {
        let (estate, dir) = project(seed, "draft");
        let flows = write_flows(&dir, &estate, format);
        let out = audit(&dir, &flows, format, &["--draft"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let draft = String::from_utf8_lossy(&out.stdout).to_string();
        // Deterministic.
        let again = audit(&dir, &flows, format, &["--draft"]);
        assert_eq!(draft, String::from_utf8_lossy(&again.stdout));
        // No ephemeral port, no reply direction.
        assert!(
            !draft.contains("/5") || !draft.lines().any(|l| l.contains("udp/5")),
            "{draft}"
        );
        // The draft replaces the policy.
        std::fs::remove_file(dir.join("policy/main.seg")).expect("old policy removed");
        std::fs::write(dir.join("policy/draft.seg"), &draft).expect("draft written");
        let check = seg()
            .arg("check")
            .arg(&dir)
            .args(["--now", NOW])
            .output()
            .expect("seg check");
        assert_eq!(check.status.code(), Some(0), "{draft}\n{}", text(&check));
        let out = audit(&dir, &flows, format, &["--format", "json"]);
        let report: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        let breaks: Vec<Key> = keys(&report)
            .into_iter()
            .filter(|(k, _)| k == "would-break")
            .collect();
        assert!(breaks.is_empty(), "{format}: {breaks:?}\n{draft}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn bad_input_is_a_clear_message_and_nothing_else() {
    let (estate, dir) = project(4, "bad");
    let good = write_flows(&dir, &estate, FormatChoice::Aws);
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
        e.write_all(&std::fs::read(&good).expect("flows"))
            .expect("gzip");
        e.finish().expect("gzip");
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated.gz", gz[..gz.len() / 2].to_vec(), "E0171"),
        (
            "garbage.bin",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "E01",
        ),
        (
            "no-header.log",
            b"eni-1 10.0.0.1 10.0.0.2 443 ACCEPT\neni-1 10.0.0.1 10.0.0.2 443 ACCEPT\n".to_vec(),
            "E0172",
        ),
        (
            "mostly-bad.log",
            {
                let mut s = String::from(
                    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
                );
                for i in 0..50 {
                    s.push_str(&format!(
                        "2 1 eni-1 10.0.0.{i} nowhere x y z 1 1 1 1 ACCEPT OK\n"
                    ));
                }
                s.into_bytes()
            },
            "E0173",
        ),
    ];
    for (name, bytes, code) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("bad input written");
        let before = listing(&dir);
        for fmt in ["json", "human"] {
            let out = seg()
                .arg("audit")
                .arg(&dir)
                .arg("--flows")
                .arg(&path)
                .args(["--now", NOW, "--format", fmt])
                .output()
                .expect("seg runs");
            assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
            assert!(
                out.stdout.is_empty(),
                "{name}: nothing on stdout: {}",
                text(&out)
            );
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(code) && err.contains(name), "{name}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
        assert_eq!(before, listing(&dir), "{name}: nothing written");
    }
    // Usage mistakes.
    for (args, needle) in [
        (vec!["--since", "yesterday"], "is not a time"),
        (
            vec!["--since", "2026-11-19", "--until", "2026-11-18"],
            "window is empty",
        ),
        (vec!["--aws-fields", "version bogus"], "--aws-fields"),
    ] {
        let out = seg()
            .arg("audit")
            .arg(&dir)
            .arg("--flows")
            .arg(&good)
            .args(&args)
            .output()
            .expect("seg runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{}",
            text(&out)
        );
    }
    let out = seg().arg("audit").arg(&dir).output().expect("seg runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no flows to audit"));
    // A malformed aggregated file.
    let agg = dir.join("agg.csv");
    std::fs::write(&agg, "kind,src\ntuple,\"unclosed\n").expect("written");
    let out = seg()
        .arg("audit")
        .arg(&dir)
        .arg("--aggregated")
        .arg(&agg)
        .output()
        .expect("seg runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("agg.csv:2"),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.clone(),
                    std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0),
                ));
            }
        }
    }
    out.sort();
    out
}

/// The venv's Python with `duckdb`, or `None` (skip; a failure under `CI=true`).
fn duckdb_python() -> Option<PathBuf> {
    let python = seg_tests::tools::venv_tool("python")?;
    let ok = Command::new(&python)
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(python)
    } else {
        seg_tests::tools::unavailable(&format!(
            "duckdb not importable by {}: run scripts/install-test-deps",
            python.display()
        ))
    }
}

/// The emitted SQL (DuckDB variant of the same plan) run by DuckDB on a table
/// of the generated records gives, read back with `--aggregated`, the very
/// findings of the streaming path.
#[test]
fn the_emitted_sql_on_duckdb_finds_what_the_streaming_path_finds() {
    let Some(python) = duckdb_python() else {
        return;
    };
    for seed in [5, 6] {
        let (estate, dir) = project(seed, "sql");
        let flows = write_flows(&dir, &estate, FormatChoice::Aws);
        // The table: the AWS text with `_` for `-` in the header, as Athena names the columns.
        let aws = std::fs::read_to_string(&flows).expect("aws text");
        let (header, body) = aws.split_once('\n').expect("header line");
        let fields = header.to_string();
        let table_file = dir.join("table.txt");
        std::fs::write(&table_file, format!("{}\n{body}", header.replace('-', "_")))
            .expect("table");
        let emitted = seg()
            .arg("audit")
            .arg(&dir)
            .args([
                "--emit-sql",
                "duckdb",
                "--table",
                "flow_logs",
                "--aws-fields",
                &fields,
            ])
            .args([
                "--since",
                traffic::SINCE,
                "--until",
                traffic::UNTIL,
                "--now",
                NOW,
            ])
            .output()
            .expect("seg runs");
        assert_eq!(emitted.status.code(), Some(0), "{}", text(&emitted));
        let sql = String::from_utf8_lossy(&emitted.stdout)
            .trim()
            .trim_end_matches(';')
            .to_string();
        std::fs::write(dir.join("query.sql"), &sql).expect("sql");
        let result = dir.join("tuples.csv");
        let script = format!(
            "import duckdb\ncon = duckdb.connect()\ncon.execute(\"CREATE TABLE flow_logs AS SELECT * FROM read_csv('{}', delim=' ', header=true, nullstr='-')\")\nq = open('{}').read()\ncon.execute(\"COPY (\" + q + \") TO '{}' (HEADER)\")\n",
            table_file.display(),
            dir.join("query.sql").display(),
            result.display()
        );
        let run = Command::new(&python)
            .args(["-c", &script])
            .output()
            .expect("python runs");
        assert!(run.status.success(), "duckdb: {}\n{sql}", text(&run));
        let streamed = audit(&dir, &flows, FormatChoice::Aws, &["--format", "json"]);
        let from_sql = seg()
            .arg("audit")
            .arg(&dir)
            .arg("--aggregated")
            .arg(&result)
            .args([
                "--since",
                traffic::SINCE,
                "--until",
                traffic::UNTIL,
                "--now",
                NOW,
                "--format",
                "json",
            ])
            .output()
            .expect("seg runs");
        assert_eq!(
            from_sql.status.code(),
            streamed.status.code(),
            "{}",
            text(&from_sql)
        );
        let a: Value = serde_json::from_slice(&streamed.stdout).expect("json");
        let b: Value = serde_json::from_slice(&from_sql.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", text(&from_sql)));
        assert_eq!(
            serde_json::to_string_pretty(&a["findings"]).unwrap_or_default(),
            serde_json::to_string_pretty(&b["findings"]).unwrap_or_default(),
            "seed {seed}: the SQL path's findings differ"
        );
        assert_eq!(a["rules"], b["rules"], "per-rule hits");
        assert_eq!(keys(&a), estate.expected(FormatChoice::Aws));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Hubble endpoints are attributed by namespace and labels (not by their
/// pod addresses, which another identity holds in the inventory), and an
/// endpoint whose labels match no binding is reported by namespace/pod.
#[test]
fn hubble_endpoints_resolve_by_namespace_and_labels() {
    use seg_flows::{Entry, Flow, Hints, K8sEndpoint, Origin, Verdict};
    use std::sync::Arc;
    let dir = scratch("hubble");
    std::fs::write(dir.join("seg.toml"), "[project]\nname = \"k8s\"\n").expect("seg.toml");
    std::fs::write(
        dir.join("inventory.yaml"),
        "version: 1\nidentities:\n  - name: checkout\n    kind: workload\n    owner: team-shop\n    kubernetes: { namespace: shop, labels: { app: checkout } }\n  - name: payments\n    kind: workload\n    owner: team-pay\n    kubernetes: { namespace: pay, labels: { app: payments }, service_account: payments }\n  - name: squatter\n    kind: workload\n    addresses: [10.0.0.0/16]\n",
    )
    .expect("inventory");
    std::fs::write(
        dir.join("main.seg"),
        "policy p {\n  owner \"team-pay\"\n  allow [checkout] -> [payments] on tcp/8443\n}\n",
    )
    .expect("policy");
    let k8s = |ns: &str, pod: &str, labels: &[(&str, &str)], sa: Option<&str>| {
        Some(Arc::new(K8sEndpoint {
            namespace: Some(ns.into()),
            pod: Some(pod.into()),
            service_account: sa.map(str::to_string),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            identity: Some(1234),
            workloads: Vec::new(),
        }))
    };
    let base = Timestamp::parse("2026-11-18T10:00:00Z").expect("t");
    let flow = |src: &str, dst: &str, port: u16, s, d, minute: i64| {
        Entry::Flow(Flow {
            start: Timestamp(base.0 + minute * 60),
            end: Timestamp(base.0 + minute * 60),
            src: src.parse().expect("ip"),
            dst: dst.parse().expect("ip"),
            src_port: Some(45_000),
            dst_port: Some(port),
            protocol: 6,
            verdict: Verdict::Allowed,
            packets: None,
            bytes: None,
            hints: Hints {
                tcp_flags: Some(2),
                is_reply: Some(false),
                ..Hints::default()
            },
            src_k8s: s,
            dst_k8s: d,
            interface: Some(Arc::from("node-1")),
            rule: None,
            origin: Origin::default(),
        })
    };
    let checkout = k8s("shop", "checkout-7d9f", &[("app", "checkout")], None);
    let payments = k8s(
        "pay",
        "payments-0",
        &[("app", "payments"), ("tier", "api")],
        Some("payments"),
    );
    let rogue = k8s("pay", "debug-pod", &[("app", "debug")], None);
    let entries = vec![
        flow(
            "10.0.1.5",
            "10.0.2.9",
            8443,
            checkout.clone(),
            payments.clone(),
            0,
        ),
        flow(
            "10.0.1.5",
            "10.0.2.9",
            9000,
            checkout.clone(),
            payments.clone(),
            1,
        ),
        flow("10.0.3.3", "10.0.2.9", 8443, rogue, payments, 2),
    ];
    let path = dir.join("hubble.json");
    std::fs::write(
        &path,
        seg_flows::write::render(FormatChoice::Hubble, &entries),
    )
    .expect("flows");
    let out = seg()
        .arg("audit")
        .arg(&dir)
        .arg("--flows")
        .arg(&path)
        .args(["--now", NOW, "--format", "json"])
        .output()
        .expect("seg runs");
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let got = keys(&report);
    let want: BTreeSet<Key> = [
        ("would-break", "checkout -> payments on tcp/9000"),
        (
            "would-break",
            "pay/debug-pod (10.0.3.3) -> payments on tcp/8443",
        ),
        ("unresolved", "pay/debug-pod (10.0.3.3)"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(
        got,
        want,
        "{}",
        serde_json::to_string_pretty(&report["findings"]).unwrap_or_default()
    );
    assert_eq!(report["attribution"]["by_kubernetes_labels"], 3);
    assert_eq!(report["attribution"]["without_window_evidence"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `[audit] nodata`: by default an AWS `NODATA` interval is a coverage gap, so
/// a rule between identities that interface saw is not judged unused; with
/// `idle` the interval is covered and the unused rule is reported.
#[test]
fn nodata_is_a_gap_unless_the_manifest_says_idle() {
    let dir = scratch("nodata");
    std::fs::write(
        dir.join("inventory.yaml"),
        "version: 1\nidentities:\n  - { name: api, kind: workload, owner: team-a, addresses: [10.0.0.1/32] }\n  - { name: db, kind: workload, owner: team-a, addresses: [10.0.1.5/32] }\n  - { name: cache, kind: workload, owner: team-a, addresses: [10.0.2.7/32] }\n",
    )
    .expect("inventory");
    std::fs::create_dir_all(dir.join("policy")).expect("policy folder");
    std::fs::write(
        dir.join("policy/main.seg"),
        "policy main {\n  owner \"team-a\"\n  allow api -> db on tcp/5432\n  allow cache -> db on tcp/5432\n  allow api -> cache on tcp/6379\n}\n",
    )
    .expect("policy");
    let t0 = Timestamp::parse("2026-11-19T10:00:00Z").expect("t0").0;
    let flows = dir.join("flows.log");
    std::fs::write(
        &flows,
        format!(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n\
             2 1 eni-api 10.0.0.1 10.0.1.5 40001 5432 6 5 400 {t0} {} ACCEPT OK\n\
             2 1 eni-cache 10.0.2.7 10.0.1.5 40002 5432 6 5 400 {} {} ACCEPT OK\n\
             2 1 eni-api - - - - - - - {} {} - NODATA\n",
            t0 + 60,
            t0 + 120,
            t0 + 180,
            t0 + 240,
            t0 + 600,
        ),
    )
    .expect("flows");
    let run = |nodata: Option<&str>| -> BTreeSet<Key> {
        let mut manifest = "[project]\nname = \"nodata\"\ninventory = [\"inventory.yaml\"]\nsources = [\"policy/**/*.seg\"]\n".to_string();
        if let Some(n) = nodata {
            manifest.push_str(&format!("\n[audit]\nnodata = \"{n}\"\n"));
        }
        std::fs::write(dir.join("seg.toml"), manifest).expect("seg.toml");
        let out = seg()
            .arg("audit")
            .arg(&dir)
            .arg("--flows")
            .arg(&flows)
            .args(["--now", NOW, "--format", "json"])
            .output()
            .expect("seg runs");
        assert_eq!(out.status.code(), Some(0), "{nodata:?}: {}", text(&out));
        let report: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        keys(&report)
            .into_iter()
            .filter(|(kind, _)| kind != "unresolved")
            .collect()
    };
    let unused = ("unused-rule".to_string(), "main/3".to_string());
    let gap = run(None);
    assert!(
        gap.contains(&("coverage-gap".into(), "eni-api".into())),
        "{gap:?}"
    );
    assert!(!gap.contains(&unused), "{gap:?}");
    assert!(
        gap.iter()
            .any(|(k, s)| k == "not-enough-evidence" && s == &unused.1),
        "{gap:?}"
    );
    assert_eq!(gap, run(Some("gap")), "gap is the default");
    let idle = run(Some("idle"));
    assert!(idle.contains(&unused), "{idle:?}");
    assert!(
        !idle
            .iter()
            .any(|(k, _)| k == "coverage-gap" || k == "not-enough-evidence"),
        "{idle:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
