//! Verification of the nftables backend in the kernel, in throwaway network
//! namespaces (`tests/tests/iptables/`: the lab, the programs and the probes
//! the iptables tests use):
//!
//! - every file of every example and hand-made program (bank, CIDR/port
//!   edges, clock-relative windows, hostile names, 10,000 identities on one
//!   host), with the set threshold at 8 and at 1, passes `nft -c -f` and then
//!   loads with `nft -f`; the loaded table holds as many rules as the file
//!   and every comment verbatim;
//! - applying a host's file over any other version leaves exactly the new
//!   version (`nft -j list table inet seg` equals a fresh load) and leaves
//!   other tables alone;
//! - the rules are the same whatever `TZ` nft runs with (times are numbers);
//! - packets: each host's file loaded in its namespace, TCP and UDP probes
//!   over IPv4 and IPv6 give the reference decision on the program prepared
//!   for `nftables`, at the kernel's clock (a flow whose decision changes in
//!   the next minutes is left out, as for iptables).

mod iptables;

use iptables::fixtures::{self, Case};
use iptables::lab::{self, Lab};
use iptables::probe::{self, Flavour};
use seg_diag::Diagnostics;
use seg_ir::backend::NftablesOptions;
use seg_ir::{Backend, Emission, TargetOptions, Timestamp};
use seg_nftables::Nftables;

/// The case prepared for nftables (the same capabilities as iptables, so
/// the programs mean the same; the pass is run for this target anyway).
fn nft_case(case: Case) -> Case {
    Case {
        name: case.name,
        program: fixtures::prepare_for(&case.program, &Nftables, &[]),
    }
}

fn emit(case: &Case, threshold: usize) -> Emission {
    let mut diags = Diagnostics::new();
    let e = Nftables.emit(
        &case.program,
        &TargetOptions::Nftables(NftablesOptions {
            set_threshold: threshold,
        }),
        &mut diags,
    );
    assert!(
        !diags.has_errors(),
        "{}: {:?}",
        case.name,
        diags.iter().collect::<Vec<_>>()
    );
    e
}

/// One host with 10,000 client identities: one named set of 10,000 members.
fn crowd(now: Timestamp) -> Case {
    let mut fx = fixtures::Fx::new(now);
    let server = fx.host("server", &["10.200.0.1/32", "fd00:200::1/128"]);
    let clients: Vec<_> = (0..10_000u32)
        .map(|i| {
            fx.host(
                &format!("client-{i}"),
                &[&format!(
                    "10.{}.{}.{}/32",
                    201 + i / 65_536,
                    (i / 256) % 256,
                    i % 256
                )],
            )
        })
        .collect();
    let (src, dst) = (fx.set(&clients, &[]), fx.set(&[server], &[]));
    fx.rule(
        seg_ir::Action::Allow,
        "crowd",
        src,
        dst,
        seg_ir::PortSet::ports(seg_ir::Protocol::Tcp, 443, 443),
    );
    Case {
        name: "10,000 identities to one host".into(),
        program: fx.p,
    }
}

fn cases() -> Vec<Case> {
    let now = fixtures::now();
    let mut all = fixtures::examples(now);
    all.extend([
        fixtures::bank(now),
        fixtures::edges(now),
        fixtures::clock(now),
        fixtures::hostile(now),
    ]);
    all.into_iter().map(nft_case).collect()
}

/// Rule lines of a file or of `nft list` output (lines ending in a verdict
/// or a jump, with or without a comment), outside set bodies.
fn rule_count(text: &str) -> usize {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with("type "))
        .filter(|l| {
            let head = l.split(" comment \"").next().unwrap_or(l);
            head.ends_with(" accept")
                || head.ends_with(" drop")
                || head.starts_with("jump ")
                || head.contains(" vmap ")
        })
        .count()
}

/// Write the host file to a temporary path (nft reports errors by file and line).
fn write_tmp(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path.display().to_string()
}

/// `nft -j list table inet seg` without handles: the table as the kernel holds it.
fn listing(ns: &str) -> serde_json::Value {
    let out = lab::run_in(ns, &["nft", "-j", "list", "table", "inet", "seg"], None)
        .expect("nft list table");
    let mut v: serde_json::Value = serde_json::from_str(&out).expect("nft JSON");
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("handle");
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    // The metainfo entry names the nft version and ruleset generation.
    if let Some(a) = v["nftables"].as_array_mut() {
        a.retain(|e| e.get("metainfo").is_none());
    }
    v
}

#[test]
fn every_generated_file_passes_nft_check_and_loads() {
    if !lab::nft_or_skip("every_generated_file_passes_nft_check_and_loads") {
        return;
    }
    let started = std::time::Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut files = 0;
    let mut lab = Lab::new("nftload").expect("lab");
    let ns = lab.add_namespace("h").expect("namespace");
    // Every host of the crowd is a client with a one-line file but the
    // server, whose file holds the 10,000-member set: load that one.
    let mut all: Vec<(Case, Option<&str>)> = cases().into_iter().map(|c| (c, None)).collect();
    all.push((nft_case(crowd(fixtures::now())), Some("server.nft")));
    for (case, only) in &all {
        for threshold in [8, 1] {
            let e = emit(case, threshold);
            assert!(!e.artifacts.is_empty(), "{}: no host", case.name);
            let picked: Vec<_> = e
                .artifacts
                .iter()
                .filter(|a| only.is_none_or(|o| a.path == o))
                .collect();
            assert!(!picked.is_empty(), "{}: no {only:?}", case.name);
            for a in picked {
                assert!(a.path.ends_with(".nft"), "{}: {}", case.name, a.path);
                let path = write_tmp(tmp.path(), &format!("f{files}.nft"), &a.contents);
                lab::run_in(&ns, &["nft", "-c", "-f", &path], None).unwrap_or_else(|err| {
                    panic!("{}: {} fails `nft -c`: {err}", case.name, a.path)
                });
                lab::run_in(&ns, &["nft", "-f", &path], None).unwrap_or_else(|err| {
                    panic!("{}: {} fails `nft -f`: {err}", case.name, a.path)
                });
                let text = String::from_utf8_lossy(&a.contents);
                let loaded =
                    lab::run_in(&ns, &["nft", "list", "table", "inet", "seg"], None).expect("list");
                assert_eq!(
                    rule_count(&loaded),
                    rule_count(&text),
                    "{}: {}: rule count\n{loaded}",
                    case.name,
                    a.path
                );
                for c in text.split("comment \"").skip(1) {
                    let c = c.split('"').next().unwrap_or_default();
                    assert!(
                        loaded.contains(&format!("comment \"{c}\"")),
                        "{}: {}: comment `{c}` not kept",
                        case.name,
                        a.path
                    );
                }
                files += 1;
            }
        }
    }
    eprintln!(
        "{files} files checked and loaded in {:?}",
        started.elapsed()
    );
}

#[test]
fn a_broken_file_fails_the_check() {
    if !lab::nft_or_skip("a_broken_file_fails_the_check") {
        return;
    }
    let mut lab = Lab::new("nftbroken").expect("lab");
    let ns = lab.add_namespace("h").expect("namespace");
    let good = "table inet seg {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tjump in-allow-x\n\t}\n\tchain in-allow-x {\n\t\tip saddr @v4-x tcp dport 80 meta hour 3600-7199 accept comment \"c\"\n\t}\n\tset v4-x {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { 10.0.0.0/8 }\n\t}\n}\n";
    lab::run_in(&ns, &["nft", "-c", "-f", "-"], Some(good.as_bytes())).expect("valid file");
    for bad in [
        good.replace("@v4-x", "@v4-y"),
        good.replace("3600-7199", "\"25:00\"-\"26:00\""),
        good.replace("dport 80", "dport 70000"),
        good.replace("comment \"c\"", &format!("comment \"{}\"", "x".repeat(129))),
        good.replace("chain in-allow-x {", "chain fwd {"),
    ] {
        assert!(
            lab::run_in(&ns, &["nft", "-c", "-f", "-"], Some(bad.as_bytes())).is_err(),
            "accepted:\n{bad}"
        );
    }
}

#[test]
fn applying_a_version_over_another_leaves_exactly_the_new_one() {
    if !lab::nft_or_skip("applying_a_version_over_another_leaves_exactly_the_new_one") {
        return;
    }
    let now = fixtures::now();
    let edges = nft_case(fixtures::edges(now));
    let clock = nft_case(fixtures::clock(now));
    let file = |e: &Emission, stem: &str| -> Vec<u8> {
        e.artifacts
            .iter()
            .find(|a| a.path == format!("{stem}.nft"))
            .unwrap_or_else(|| panic!("no {stem}.nft"))
            .contents
            .clone()
    };
    // Versions of one host that differ in sets (threshold 1 vs 8), chains
    // and rules; and a file of another program entirely.
    let (sets, plain) = (emit(&edges, 1), emit(&edges, 8));
    let versions = [
        file(&sets, "db"),
        file(&plain, "db"),
        file(&sets, "cache"),
        file(&emit(&clock, 8), "clock-b"),
    ];
    let other = b"table inet other {\n\tchain keep {\n\t\ttype filter hook input priority 10; policy accept;\n\t\ttcp dport 9 counter accept comment \"not seg's\"\n\t}\n}\n";
    let mut lab = Lab::new("nftapply").expect("lab");
    for (i, old) in versions.iter().enumerate() {
        for (j, new) in versions.iter().enumerate() {
            if i == j {
                continue;
            }
            let ns = lab.add_namespace(&format!("a{i}{j}")).expect("namespace");
            let fresh = lab.add_namespace(&format!("f{i}{j}")).expect("namespace");
            lab::run_in(&ns, &["nft", "-f", "-"], Some(other)).expect("other table");
            let before = lab::run_in(&ns, &["nft", "list", "table", "inet", "other"], None)
                .expect("list other");
            lab::run_in(&ns, &["nft", "-f", "-"], Some(old)).expect("version N-1");
            lab::run_in(&ns, &["nft", "-f", "-"], Some(new)).expect("version N over N-1");
            lab::run_in(&fresh, &["nft", "-f", "-"], Some(new)).expect("version N alone");
            assert_eq!(
                listing(&ns),
                listing(&fresh),
                "version {j} over {i} differs from version {j} alone"
            );
            let after = lab::run_in(&ns, &["nft", "list", "table", "inet", "other"], None)
                .expect("list other");
            assert_eq!(before, after, "another table was changed");
            let tables = lab::run_in(&ns, &["nft", "list", "tables"], None).expect("tables");
            assert_eq!(tables.lines().count(), 2, "{tables}");
        }
    }
}

#[test]
fn the_rules_do_not_depend_on_the_time_zone_nft_runs_in() {
    if !lab::nft_or_skip("the_rules_do_not_depend_on_the_time_zone_nft_runs_in") {
        return;
    }
    let clock = nft_case(fixtures::clock(fixtures::now()));
    let e = emit(&clock, 8);
    let mut lab = Lab::new("nfttz").expect("lab");
    let mut listings = Vec::new();
    for (i, tz) in [
        "UTC",
        "Asia/Tokyo",
        "America/New_York",
        "Australia/Lord_Howe",
    ]
    .iter()
    .enumerate()
    {
        let ns = lab.add_namespace(&format!("tz{i}")).expect("namespace");
        for a in &e.artifacts {
            let loaded = std::process::Command::new("ip")
                .args(["netns", "exec", &ns, "nft", "-f", "-"])
                .env("TZ", tz)
                .stdin(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().expect("stdin").write_all(&a.contents)?;
                    c.wait()
                })
                .expect("nft");
            assert!(loaded.success(), "{tz}: {}", a.path);
            listings.push((tz, a.path.clone(), listing(&ns)));
        }
    }
    let utc: Vec<_> = listings.iter().filter(|l| *l.0 == "UTC").collect();
    for (tz, path, l) in &listings {
        let same = utc.iter().find(|u| u.1 == *path).expect("UTC listing");
        assert_eq!(
            *l, same.2,
            "{path} loaded under TZ={tz} differs from TZ=UTC"
        );
    }
    // A `meta hour` in the file is the second of the UTC day as written.
    let text = String::from_utf8_lossy(&e.artifacts[0].contents).into_owned();
    assert!(
        !text.contains("meta hour \""),
        "times must be numbers: {text}"
    );
}

/// Probe a program's hosts in the kernel with its nftables files.
fn probe_case(case: &Case) -> Vec<probe::Outcome> {
    let started = std::time::Instant::now();
    let t0 = fixtures::now();
    let t1 = Timestamp(t0.0 + 180);
    let e = emit(case, 3);
    let candidates = fixtures::candidates(&case.program, t0, 300);
    let plan = probe::plan(&case.program, &candidates, t0, t1);
    let outcomes = probe::execute("nft", &case.program, &e.artifacts, &plan, Flavour::Nftables)
        .unwrap_or_else(|err| panic!("{}: {err}", case.name));
    let bad = probe::mismatches(&case.program, &outcomes);
    let allowed = outcomes.iter().filter(|o| o.allowed).count();
    eprintln!(
        "{} (nftables): {} probes, {allowed} allowed, {} not probed, {:?}",
        case.name,
        outcomes.len(),
        plan.skipped.len(),
        started.elapsed()
    );
    assert!(
        bad.is_empty(),
        "{}: kernel and reference disagree on {} of {} flows:\n{}",
        case.name,
        bad.len(),
        outcomes.len(),
        bad.join("\n")
    );
    assert!(
        allowed > 0 && allowed < outcomes.len(),
        "{}: only one verdict in {} probes",
        case.name,
        outcomes.len()
    );
    outcomes
}

#[test]
fn packets_behave_like_the_reference_in_the_kernel() {
    if !lab::nft_or_skip("packets_behave_like_the_reference_in_the_kernel") {
        return;
    }
    let now = fixtures::now();
    let mut all: Vec<Case> = fixtures::examples(now).into_iter().map(nft_case).collect();
    all.push(nft_case(fixtures::bank(now)));
    for case in &all {
        probe_case(case);
    }
    let outcomes = probe_case(&nft_case(fixtures::edges(now)));
    for (what, pick) in [
        (
            "IPv6",
            &(|o: &probe::Outcome| o.probe.dst_ip.is_ipv6()) as &dyn Fn(&probe::Outcome) -> bool,
        ),
        ("UDP", &|o: &probe::Outcome| o.probe.udp),
    ] {
        let n = |allowed: bool| {
            outcomes
                .iter()
                .filter(|o| pick(o) && o.allowed == allowed)
                .count()
        };
        assert!(
            n(true) > 0 && n(false) > 0,
            "{what}: {} allowed, {} denied",
            n(true),
            n(false)
        );
    }
}

#[test]
fn time_windows_and_expiry_follow_the_kernel_clock() {
    if !lab::nft_or_skip("time_windows_and_expiry_follow_the_kernel_clock") {
        return;
    }
    let outcomes = probe_case(&nft_case(fixtures::clock(fixtures::now())));
    let clock_ports = (7001..=7021)
        .filter(|p| outcomes.iter().any(|o| o.probe.port == *p))
        .count();
    assert!(
        clock_ports >= 7,
        "only {clock_ports} of the clock rules were probed"
    );
}
