//! The generator: sizes, determinism, validity of names and values, speed.

use seg_gen::{Spec, generate};
use std::collections::BTreeSet;

fn small() -> Spec {
    Spec {
        identities: 600,
        rules: 120,
        seed: 7,
    }
}

#[test]
fn the_same_spec_gives_the_same_bytes_and_seeds_differ() {
    let a = generate(&small());
    assert_eq!(a, generate(&small()));
    let b = generate(&Spec { seed: 8, ..small() });
    assert_ne!(a.inventory_yaml, b.inventory_yaml);
}

#[test]
fn sizes_are_as_asked() {
    for (identities, rules) in [(600, 120), (5_000, 1_000), (20, 3)] {
        let e = generate(&Spec {
            identities,
            rules,
            seed: 1,
        });
        let names = e
            .inventory_yaml
            .lines()
            .filter(|l| l.starts_with("  - name: "))
            .count();
        assert_eq!(names, identities.max(8), "{identities}");
        let count = |prefix: &str| {
            e.policies
                .iter()
                .flat_map(|(_, t)| t.lines())
                .filter(|l| l.trim_start().starts_with(prefix))
                .count()
        };
        // Two baseline rules plus the requested ones.
        assert_eq!(
            count("allow ") + count("deny "),
            rules + 2,
            "{identities}/{rules}"
        );
        assert!(count("deny ") >= 1);
    }
}

#[test]
fn names_are_unique_and_valid_and_addresses_distinct() {
    let e = generate(&Spec {
        identities: 5_000,
        rules: 1_000,
        seed: 3,
    });
    let mut names = BTreeSet::new();
    let mut addrs = BTreeSet::new();
    for line in e.inventory_yaml.lines() {
        if let Some(name) = line.strip_prefix("  - name: ") {
            let b = name.as_bytes();
            assert!(b[0].is_ascii_lowercase(), "{name}");
            assert!(!name.contains("--") && !name.ends_with('-'), "{name}");
            assert!(
                name.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'),
                "{name}"
            );
            assert!(names.insert(name.to_string()), "duplicate {name}");
        }
        if let Some(list) = line.strip_prefix("    addresses: [") {
            for a in list.trim_end_matches(']').split(", ") {
                assert!(
                    addrs.insert(a.trim_matches('"').to_string()),
                    "duplicate address {a}"
                );
            }
        }
    }
    assert!(addrs.iter().any(|a| a.contains(':')), "some IPv6");
    for binding in [
        "kubernetes: {",
        "aws: {}",
        "aws: { security_group: sg-",
        "gcp: {",
        "spiffe: spiffe://",
    ] {
        assert!(e.inventory_yaml.contains(binding), "{binding}");
    }
    for kind in ["workload", "service_account", "agent", "ci_job", "api_key"] {
        assert!(
            e.inventory_yaml.contains(&format!("kind: {kind}\n")),
            "{kind}"
        );
    }
}

#[test]
fn policies_use_every_construct() {
    let e = generate(&Spec {
        identities: 5_000,
        rules: 1_000,
        seed: 1,
    });
    let all: String = e.policies.iter().map(|(_, t)| t.as_str()).collect();
    for construct in [
        "use std::services::{postgres, https}",
        "identities where team == ",
        "segment payments-dbs = [",
        "network 100.64.0.0/24, 2001:db8:0::/48",
        "when mtls",
        "when time 01:00..03:00 utc",
        "expires 2030-12-31",
        "reason \"ticket OPS-",
        "days mon..fri",
        "request.method in [\"GET\", \"HEAD\"]",
        "request.path matches \"/api/*\"",
        "context.break_glass",
        "<->",
        "owner \"team-",
        "deny ",
        "test \"payments access\"",
        "expect allow",
        " - [",
        " & ",
        " | ",
        "///",
    ] {
        assert!(all.contains(construct), "{construct}");
    }
    assert!(
        e.policies
            .iter()
            .all(|(p, _)| p.starts_with("policy/") && p.ends_with(".seg"))
    );
    assert!(e.seg_toml.contains("[targets.opa]") && e.seg_toml.contains("layered = [\"mtls\"]"));
}

#[test]
fn writes_a_project_folder() {
    let dir = tempfile::tempdir().unwrap();
    let e = generate(&small());
    e.write(dir.path()).unwrap();
    assert!(dir.path().join("seg.toml").is_file());
    assert!(dir.path().join("inventory.yaml").is_file());
    assert!(dir.path().join("policy/base.seg").is_file());
    assert!(dir.path().join("policy/teams/payments.seg").is_file());
}

#[test]
fn fifty_thousand_identities_are_quick() {
    let start = std::time::Instant::now();
    let e = generate(&Spec {
        identities: 50_000,
        rules: 10_000,
        seed: 1,
    });
    let took = start.elapsed();
    assert!(e.inventory_yaml.len() > 5_000_000);
    // Speed is measured by `cargo bench -p seg-gen`, not asserted in a test.
    eprintln!("50k identities, 10k rules: {took:?}");
}

#[test]
fn the_command_line_writes_what_generate_returns() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("estate");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_seg-gen"))
        .args([
            "--identities",
            "300",
            "--rules",
            "40",
            "--seed",
            "5",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let e = generate(&Spec {
        identities: 300,
        rules: 40,
        seed: 5,
    });
    assert_eq!(
        std::fs::read_to_string(out.join("inventory.yaml")).unwrap(),
        e.inventory_yaml
    );
    assert_eq!(
        std::fs::read_to_string(out.join("seg.toml")).unwrap(),
        e.seg_toml
    );
    for (path, text) in &e.policies {
        assert_eq!(
            &std::fs::read_to_string(out.join(path)).unwrap(),
            text,
            "{path}"
        );
    }
    assert!(String::from_utf8_lossy(&status.stdout).starts_with("wrote "));
}

#[test]
fn the_pairs_job_has_the_comparison_shape() {
    let spec = seg_gen::PairsSpec::job(2_500);
    let e = seg_gen::pairs::generate(&spec);
    assert_eq!(e, seg_gen::pairs::generate(&spec), "deterministic");
    let names = e
        .inventory_yaml
        .lines()
        .filter(|l| l.starts_with("  - name: "))
        .count();
    assert_eq!(names, 2_000);
    let mut cidrs = BTreeSet::new();
    for line in e.inventory_yaml.lines() {
        if let Some(list) = line.strip_prefix("    addresses: [") {
            for a in list.trim_end_matches(']').split(", ") {
                assert!(!a.contains(':'), "IPv4 only: {a}");
                assert!(cidrs.insert(a.to_string()), "duplicate {a}");
            }
        }
    }
    // About 5,000 CIDRs at 2,000 identities, as in the comparison.
    assert!((4_500..5_500).contains(&cidrs.len()), "{}", cidrs.len());
    let rules: Vec<&str> = e
        .policies
        .iter()
        .flat_map(|(_, t)| t.lines())
        .filter(|l| l.trim_start().starts_with("allow "))
        .collect();
    assert_eq!(rules.len(), 2_500);
    let mut services_per_rule = BTreeSet::new();
    for r in &rules {
        let (pair, on) = r.trim_start()["allow ".len()..].split_once(" on ").unwrap();
        let (from, to) = pair.split_once(" -> ").unwrap();
        assert_ne!(from, to, "{r}");
        services_per_rule.insert(on.split(", ").count());
    }
    assert_eq!(services_per_rule, BTreeSet::from([1, 2, 3]));
    // Services file plus three rule files (1,000 rules each at most).
    assert_eq!(e.policies.len(), 4);
    assert!(
        e.seg_toml.contains("[targets.iptables]") && e.seg_toml.contains("[targets.kubernetes]")
    );
}
