//! Every file the iptables backend generates loads in the real tools:
//! `ipset restore`, `iptables-restore --test`, `ip6tables-restore --test`, then
//! a real load (`--noflush`, as `seg-apply.sh` loads them) whose
//! `iptables-save` must hold exactly the file's rules and the jumps to seg's
//! entry chains, with the built-in chains' policies left as they were.
//! Each host gets a fresh network namespace, deleted afterwards.

mod iptables;

use iptables::fixtures::{self, Case};
use iptables::lab::{self, Lab};
use seg_diag::Diagnostics;
use seg_ir::backend::IptablesOptions;
use seg_ir::{Backend, Emission, TargetOptions};

fn emit(case: &Case, threshold: usize) -> Emission {
    let mut diags = Diagnostics::new();
    let e = seg_iptables::Iptables.emit(
        &case.program,
        &TargetOptions::Iptables(IptablesOptions {
            ipset_threshold: threshold,
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

fn cases() -> Vec<Case> {
    let now = fixtures::now();
    let mut all = fixtures::examples(now);
    all.extend([
        fixtures::bank(now),
        fixtures::edges(now),
        fixtures::clock(now),
        fixtures::hostile(now),
        fixtures::shared_ip6(now),
    ]);
    all
}

fn legacy_available() -> bool {
    lab::run(&["iptables-legacy-restore", "--version"], None).is_ok()
}

/// The `-A` lines of a rules file or of `iptables-save` output.
fn rule_count(text: &str) -> usize {
    text.lines().filter(|l| l.starts_with("-A ")).count()
}

/// Load one host's files in a fresh namespace and check what the kernel holds.
fn check_host(lab: &mut Lab, case: &str, e: &Emission, stem: &str, n: usize, legacy: bool) {
    let get = |path: String| {
        e.artifacts
            .iter()
            .find(|a| a.path == path)
            .map(|a| a.contents.clone())
    };
    let ns = lab.add_namespace(&format!("h{n}")).expect("namespace");
    if let Some(sets) = get(format!("{stem}.ipset")) {
        lab::run_in(&ns, &["ipset", "restore"], Some(&sets))
            .unwrap_or_else(|err| panic!("{case}: {stem}.ipset: {err}"));
        let text = String::from_utf8_lossy(&sets);
        let saved = lab::run_in(&ns, &["ipset", "save"], None).expect("ipset save");
        let count = |t: &str, w: &str| t.lines().filter(|l| l.starts_with(w)).count();
        assert_eq!(
            count(&saved, "create "),
            count(&text, "create "),
            "{case}: {stem}.ipset sets"
        );
        assert_eq!(
            count(&saved, "add "),
            count(&text, "add "),
            "{case}: {stem}.ipset members"
        );
    }
    // The host's IPv6 ruleset: its own file or the shared one its rules name.
    let v4 = get(format!("{stem}.rules")).unwrap_or_else(|| panic!("{case}: no {stem}.rules"));
    let v6 = seg_iptables::ip6_file(stem, &String::from_utf8_lossy(&v4));
    let mut tools = vec![
        ("iptables", format!("{stem}.rules")),
        ("ip6tables", v6.clone()),
    ];
    if legacy {
        tools.push(("iptables-legacy", format!("{stem}.rules")));
        tools.push(("ip6tables-legacy", v6));
    }
    for (tool, path) in tools {
        let text = get(path.clone()).unwrap_or_else(|| panic!("{case}: no {path}"));
        let restore = format!("{tool}-restore");
        lab::run_in(&ns, &[&restore, "--test"], Some(&text))
            .unwrap_or_else(|err| panic!("{case}: {path} fails `{restore} --test`: {err}"));
        lab::run_in(&ns, &[&restore, "--noflush"], Some(&text))
            .unwrap_or_else(|err| panic!("{case}: {path} fails `{restore} --noflush`: {err}"));
        let saved =
            lab::run_in(&ns, &[&format!("{tool}-save"), "-t", "filter"], None).expect("save");
        // The file's `-A` lines and its two `-I` jumps.
        let want = rule_count(&String::from_utf8_lossy(&text)) + 2;
        assert_eq!(
            rule_count(&saved),
            want,
            "{case}: {path} loaded with {tool}: rule count\n{saved}"
        );
        // Every comment survives verbatim (none was cut or re-quoted).
        for line in String::from_utf8_lossy(&text).lines() {
            if let Some(c) = line
                .split("--comment \"")
                .nth(1)
                .and_then(|r| r.split('"').next())
            {
                assert!(
                    saved.contains(c),
                    "{case}: {path}: comment `{c}` not kept\n{saved}"
                );
            }
        }
        for (chain, entry) in [("INPUT", "seg-input"), ("OUTPUT", "seg-output")] {
            let hook =
                format!("-A {chain} -m comment --comment \"seg: policy of this host\" -j {entry}");
            assert!(
                saved.contains(&hook),
                "{case}: {path}: no `{hook}`\n{saved}"
            );
            assert!(
                saved.contains(&format!(":{chain} ACCEPT")),
                "{case}: {path}: {chain}'s policy changed\n{saved}"
            );
        }
    }
}

#[test]
fn every_generated_file_loads_in_the_kernel() {
    if !lab::tools_or_skip("every_generated_file_loads_in_the_kernel") {
        return;
    }
    let legacy = legacy_available();
    let started = std::time::Instant::now();
    let mut files = 0;
    for case in cases() {
        // The default threshold, and 1 so every address group is an ipset.
        for threshold in [8, 1] {
            let e = emit(&case, threshold);
            let mut lab = Lab::new("restore").expect("lab");
            let hosts: Vec<&str> = e
                .artifacts
                .iter()
                .filter_map(|a| a.path.strip_suffix(".rules"))
                .filter(|stem| !stem.ends_with(".ip6"))
                .collect();
            assert!(!hosts.is_empty(), "{}: no host", case.name);
            for (n, stem) in hosts.iter().enumerate() {
                check_host(&mut lab, &case.name, &e, stem, n, legacy);
            }
            // Every IPv6 file was loaded: a host's own, or the shared one.
            let ip6 = e
                .artifacts
                .iter()
                .filter(|a| a.path.ends_with(".ip6.rules"))
                .count();
            let loaded: std::collections::BTreeSet<String> = hosts
                .iter()
                .map(|stem| {
                    let v4 = e
                        .artifacts
                        .iter()
                        .find(|a| a.path == format!("{stem}.rules"));
                    let v4 = String::from_utf8_lossy(&v4.expect("rules").contents).into_owned();
                    seg_iptables::ip6_file(stem, &v4)
                })
                .collect();
            assert_eq!(
                loaded.len(),
                ip6,
                "{}: an IPv6 file no host loads",
                case.name
            );
            files += e.artifacts.len();
        }
    }
    eprintln!(
        "{files} files loaded (legacy too: {legacy}) in {:?}",
        started.elapsed()
    );
}

/// The check has teeth: a file the tool rejects is reported as a failure.
#[test]
fn a_broken_file_fails_the_check() {
    if !lab::tools_or_skip("a_broken_file_fails_the_check") {
        return;
    }
    let mut lab = Lab::new("broken").expect("lab");
    let ns = lab.add_namespace("h").expect("namespace");
    let good = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n-A INPUT -m time --timestart 01:00:00 --timestop 02:59:59 -j ACCEPT\nCOMMIT\n";
    lab::run_in(&ns, &["iptables-restore", "--test"], Some(good.as_bytes())).expect("valid file");
    for bad in [
        good.replace("02:59:59", "25:00:00"),
        good.replace("-j ACCEPT", "-p tcp --dport 70000 -j ACCEPT"),
        good.replace(
            "-m time --timestart 01:00:00 --timestop 02:59:59",
            "-m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 -p tcp",
        ),
        good.replace("COMMIT\n", ""),
    ] {
        assert!(
            lab::run_in(&ns, &["iptables-restore", "--test"], Some(bad.as_bytes())).is_err(),
            "accepted:\n{bad}"
        );
    }
    // A chain name one byte too long is rejected.
    let long_chain = format!("*filter\n:{} - [0:0]\nCOMMIT\n", "c".repeat(29));
    assert!(
        lab::run_in(
            &ns,
            &["iptables-restore", "--test"],
            Some(long_chain.as_bytes())
        )
        .is_err()
    );
    let ok_chain = format!("*filter\n:{} - [0:0]\nCOMMIT\n", "c".repeat(28));
    lab::run_in(
        &ns,
        &["iptables-restore", "--test"],
        Some(ok_chain.as_bytes()),
    )
    .expect("28-byte chain name");
    // Longer comments are not rejected but cut silently (iptables 1.8.9), so
    // seg must cut them itself; the file check compares comments verbatim.
    let comment = |n: usize| {
        format!(
            "*filter\n-A INPUT -m comment --comment \"{}\" -j ACCEPT\nCOMMIT\n",
            "x".repeat(n)
        )
    };
    lab::run_in(&ns, &["iptables-restore"], Some(comment(300).as_bytes()))
        .expect("300-byte comment");
    let saved = lab::run_in(&ns, &["iptables-save", "-t", "filter"], None).expect("save");
    assert!(
        saved.contains(&"x".repeat(255)) && !saved.contains(&"x".repeat(256)),
        "{saved}"
    );
}
