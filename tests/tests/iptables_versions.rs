//! Revocation reaches the host: three versions of a program applied in turn
//! with `seg-apply.sh` to the same network namespaces.
//!
//! v1 → v2 adds a policy, removes one and narrows a rule; v2 → v3 removes an
//! identity (its host is taken off seg with `seg-apply.sh --remove`). After
//! each step, on every host:
//! - `iptables-save`/`ip6tables-save` hold exactly the chains of that
//!   version's file (no stale seg chain), INPUT and OUTPUT jump to seg once,
//!   and a chain and rule of another tool are still there, untouched;
//! - `ipset list -n` holds exactly that version's sets;
//! - TCP probes between the namespaces give the reference's decision for
//!   that version.

mod iptables;

use iptables::fixtures::{self, Fx};
use iptables::lab::{self, Lab};
use iptables::probe::{self, Plan};
use seg_diag::Diagnostics;
use seg_ir::backend::IptablesOptions;
use seg_ir::{
    Action, Artifact, Backend, IdentityId, PortSet, Program, Protocol, TargetOptions, Timestamp,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

const HOSTS: [(&str, &str); 4] = [
    ("a", "10.61.0.1/32"),
    ("b", "10.61.0.2/32"),
    ("c", "10.61.0.3/32"),
    ("d", "10.61.0.4/32"),
];

/// d's IPv6 address: its rules give b (v1, v2) and c (v1) IPv6 rules of
/// their own, so b and c move from their own IPv6 file to the shared one
/// (c in v2, b in v3) and their old IPv6 chains must be pruned.
const D_V6: &str = "fd61::4/128";

/// A chain and rule of another tool on every host, which no apply may touch.
const FOREIGN: &str = "*filter\n:other-tool - [0:0]\n-A other-tool -s 192.0.2.1/32 -j ACCEPT\n-A INPUT -j other-tool\nCOMMIT\n";

fn tcp(ports: &[u16]) -> PortSet {
    ports.iter().fold(PortSet::empty(), |set, &p| {
        set.union(&PortSet::ports(Protocol::Tcp, p, p))
    })
}

/// A rule whose id is `<policy>#<id>`; no ports means any.
#[allow(clippy::too_many_arguments)]
fn rule(
    fx: &mut Fx,
    action: Action,
    policy: &str,
    id: &str,
    src: &[IdentityId],
    dst: &[IdentityId],
    ports: &[u16],
) {
    let (src, dst) = (fx.set(src, &[]), fx.set(dst, &[]));
    let services = if ports.is_empty() {
        PortSet::any()
    } else {
        tcp(ports)
    };
    fx.rule(action, policy, src, dst, services).provenance.id = format!("{policy}#{id}");
}

/// v1, v2 or v3 (see the module comment); rule ids are content names, as
/// the front end makes them, so an unchanged rule keeps its id.
fn version(n: u8, now: Timestamp) -> Program {
    let mut fx = Fx::new(now);
    let hosts: Vec<_> = HOSTS
        .iter()
        .filter(|(name, _)| n < 3 || *name != "d")
        .map(|(name, addr)| {
            if *name == "d" {
                fx.host(name, &[addr, D_V6])
            } else {
                fx.host(name, &[addr])
            }
        })
        .collect();
    let (a, b, c) = (hosts[0], hosts[1], hosts[2]);
    let web_from = if n < 3 { vec![a, hosts[3]] } else { vec![a] };
    let web_ports: &[u16] = if n == 1 { &[80, 443] } else { &[443] };
    let web_id = if n == 1 { "0001" } else { "0002" };
    rule(
        &mut fx,
        Action::Allow,
        "web",
        web_id,
        &web_from,
        &[b],
        web_ports,
    );
    rule(&mut fx, Action::Allow, "db", "0003", &[b], &[c], &[5432]);
    if n == 1 {
        rule(
            &mut fx,
            Action::Allow,
            "ops",
            "0004",
            &[hosts[3]],
            &[c],
            &[22],
        );
    } else {
        rule(
            &mut fx,
            Action::Allow,
            "metrics",
            "0005",
            &[c],
            &[a],
            &[9100],
        );
    }
    rule(&mut fx, Action::Deny, "guard", "0006", &[a], &[c], &[]);
    fx.p
}

fn emit(program: &Program) -> Vec<Artifact> {
    let mut diags = Diagnostics::new();
    // Threshold 2: web's two sources become a set in v1 and v2, not in v3.
    let e = seg_iptables::Iptables.emit(
        program,
        &TargetOptions::Iptables(IptablesOptions { ipset_threshold: 2 }),
        &mut diags,
    );
    assert!(
        !diags.has_errors(),
        "{:?}",
        diags.iter().collect::<Vec<_>>()
    );
    e.artifacts
}

fn write(dir: &Path, artifacts: &[Artifact]) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for a in artifacts {
        std::fs::write(dir.join(&a.path), &a.contents).expect("write");
    }
}

/// Chains a save or a rules file declares (`:name …` lines).
fn chains(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

/// The seg sets an ipset file creates.
fn set_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("create "))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

fn file<'a>(artifacts: &'a [Artifact], path: &str) -> Option<&'a str> {
    artifacts
        .iter()
        .find(|a| a.path == path)
        .map(|a| std::str::from_utf8(&a.contents).expect("ascii"))
}

/// What a host holds after an apply: seg's part equals `want` (chains per
/// family, sets); the other tool's chain and rule are still there.
fn check_host(ns: &str, step: &str, want: [BTreeSet<String>; 2], sets: BTreeSet<String>) {
    for (tool, want) in [("iptables-save", &want[0]), ("ip6tables-save", &want[1])] {
        let saved = lab::run_in(ns, &[tool, "-t", "filter"], None).expect("save");
        let builtin = ["INPUT", "FORWARD", "OUTPUT", "other-tool"];
        let mut have = chains(&saved);
        let foreign_kept = have.contains("other-tool")
            && saved.contains("-A other-tool -s 192.0.2.1/32 -j ACCEPT")
            && saved.contains("-A INPUT -j other-tool");
        if tool == "iptables-save" {
            assert!(
                foreign_kept,
                "{step}: the other tool's rules are gone\n{saved}"
            );
        }
        have.retain(|c| !builtin.contains(&c.as_str()));
        assert_eq!(&have, want, "{step}: {tool}\n{saved}");
        for (chain, entry) in [("INPUT", "seg-input"), ("OUTPUT", "seg-output")] {
            let jumps = saved
                .lines()
                .filter(|l| {
                    l.starts_with(&format!("-A {chain} ")) && l.ends_with(&format!("-j {entry}"))
                })
                .count();
            let expected = usize::from(!want.is_empty());
            assert_eq!(jumps, expected, "{step}: {tool}: jumps to {entry}\n{saved}");
        }
        for (chain, policy) in [("INPUT", ":INPUT ACCEPT"), ("OUTPUT", ":OUTPUT ACCEPT")] {
            assert!(
                saved.contains(policy),
                "{step}: {chain}'s policy changed\n{saved}"
            );
        }
    }
    let listed = lab::run_in(ns, &["ipset", "list", "-n"], None).expect("ipset list");
    let have: BTreeSet<String> = listed
        .lines()
        .filter(|l| l.starts_with("seg4-") || l.starts_with("seg6-"))
        .map(String::from)
        .collect();
    assert_eq!(have, sets, "{step}: ipsets");
}

#[test]
fn versions_applied_in_turn_leave_exactly_each_version() {
    if !lab::tools_or_skip("versions_applied_in_turn_leave_exactly_each_version") {
        return;
    }
    let now = fixtures::now();
    let later = Timestamp(now.0 + 180);
    let programs: Vec<Program> = (1..=3).map(|n| version(n, now)).collect();
    let plans: Vec<Plan> = programs
        .iter()
        .map(|p| probe::plan(p, &fixtures::candidates(p, now, 200), now, later))
        .collect();
    // One namespace per host of any version, and one for the outside world,
    // each with every address a plan puts on it.
    let key = |p: &Program, node: &probe::Node| {
        node.identity
            .map_or("ext".to_string(), |id| p.identity(id).name.clone())
    };
    let mut ips: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
    for (p, plan) in programs.iter().zip(&plans) {
        for node in &plan.nodes {
            ips.entry(key(p, node)).or_default().extend(&node.ips);
        }
    }
    let mut lab = Lab::new("ver").expect("lab");
    let mut ns: BTreeMap<String, String> = BTreeMap::new();
    for (name, ips) in &ips {
        let list: Vec<IpAddr> = ips.iter().copied().collect();
        ns.insert(name.clone(), lab.add_host(name, &list).expect("host"));
    }
    for (name, _) in HOSTS {
        lab::run_in(
            &ns[name],
            &["iptables-restore", "--noflush"],
            Some(FOREIGN.as_bytes()),
        )
        .expect("the other tool's rules");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // (step, host, whether it loaded the shared IPv6 file)
    let mut on_shared = BTreeSet::new();
    for (i, (program, plan)) in programs.iter().zip(&plans).enumerate() {
        let step = format!("v{}", i + 1);
        let artifacts = emit(program);
        let out = dir.path().join(&step);
        write(&out, &artifacts);
        let script = out.join("seg-apply.sh");
        let (script, out) = (
            script.to_str().expect("utf-8"),
            out.to_str().expect("utf-8"),
        );
        for (name, _) in HOSTS {
            let host = &ns[name];
            let managed = program.identity_by_name(name).is_some();
            if managed {
                lab::run_in(host, &["sh", script, name, out], None)
                    .unwrap_or_else(|e| panic!("{step}: apply on {name}: {e}"));
                let rules = file(&artifacts, &format!("{name}.rules")).expect("rules");
                let ip6 = seg_iptables::ip6_file(name, rules);
                on_shared.insert((step.clone(), name, ip6 == seg_iptables::SHARED_IP6));
                let want = [
                    chains(rules),
                    chains(file(&artifacts, &ip6).expect("the IPv6 file it names")),
                ];
                let sets = file(&artifacts, &format!("{name}.ipset"))
                    .map(set_names)
                    .unwrap_or_default();
                check_host(host, &format!("{step} on {name}"), want, sets);
            } else {
                // No longer in the inventory: take seg off the host.
                lab::run_in(host, &["sh", script, "--remove"], None)
                    .unwrap_or_else(|e| panic!("{step}: remove on {name}: {e}"));
                check_host(
                    host,
                    &format!("{step} on {name}"),
                    Default::default(),
                    BTreeSet::new(),
                );
            }
        }
        let ns_of: Vec<String> = plan
            .nodes
            .iter()
            .map(|node| ns[&key(program, node)].clone())
            .collect();
        let outcomes = probe::run(plan, &ns_of).unwrap_or_else(|e| panic!("{step}: {e}"));
        let bad = probe::mismatches(program, &outcomes);
        assert!(
            bad.is_empty(),
            "{step}: kernel and reference disagree on {} of {} flows:\n{}",
            bad.len(),
            outcomes.len(),
            bad.join("\n")
        );
        assert!(
            outcomes.iter().any(|o| o.allowed),
            "{step}: nothing allowed"
        );
        assert!(
            outcomes.iter().any(|o| !o.allowed),
            "{step}: nothing denied"
        );
    }
    // Hosts moved from their own IPv6 file to the shared one, and the kernel
    // then held exactly the shared file's chains (checked above).
    for (step, host, shared) in [
        ("v1", "b", false),
        ("v2", "b", false),
        ("v3", "b", true),
        ("v1", "c", false),
        ("v2", "c", true),
        ("v1", "a", true),
    ] {
        assert!(
            on_shared.contains(&(step.to_string(), host, shared)),
            "{step} {host}: shared {shared}: {on_shared:?}"
        );
    }
    // The steps really changed something: v1's web set and ops chains are gone.
    let v1 = emit(&programs[0]);
    assert!(file(&v1, "b.ipset").is_some(), "v1 uses a set");
    assert!(file(&v1, "c.rules").is_some_and(|t| t.contains(":in-allow-ops-")));
    drop(lab);
}

/// seg's chains (`seg-*` and policy chains) a save of one family holds.
fn seg_chains(ns: &str, tool: &str) -> BTreeSet<String> {
    let saved = lab::run_in(ns, &[tool, "-t", "filter"], None).expect("save");
    let mut have = chains(&saved);
    have.retain(|c| !["INPUT", "FORWARD", "OUTPUT", "other-tool"].contains(&c.as_str()));
    have
}

#[test]
fn seg_apply_checks_the_ipv6_file_before_changing_anything() {
    if !lab::tools_or_skip("seg_apply_checks_the_ipv6_file_before_changing_anything") {
        return;
    }
    let now = fixtures::now();
    let (v1, v2) = (emit(&version(1, now)), emit(&version(2, now)));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("v2");
    write(&out, &v2);
    let script = out.join("seg-apply.sh");
    let (script, outs) = (
        script.to_str().expect("utf-8"),
        out.to_str().expect("utf-8"),
    );
    // a has no IPv6 rule of its own: its rules name the shared file.
    let rules = file(&v2, "a.rules").expect("rules");
    assert_eq!(seg_iptables::ip6_file("a", rules), seg_iptables::SHARED_IP6);
    let shared = out.join(seg_iptables::SHARED_IP6);
    let mut lab = Lab::new("ver6").expect("lab");
    let ns = lab.add_namespace("a").expect("namespace");
    let untouched = |what: &str| {
        for tool in ["iptables-save", "ip6tables-save"] {
            assert_eq!(seg_chains(&ns, tool), BTreeSet::new(), "{what}: {tool}");
        }
        let sets = lab::run_in(&ns, &["ipset", "list", "-n"], None).expect("ipset list");
        assert!(!sets.contains("seg"), "{what}: {sets}");
    };
    // The shared file missing: refused, and nothing applied (IPv4 neither).
    std::fs::remove_file(&shared).expect("remove");
    let err = lab::run_in(&ns, &["sh", script, "a", outs], None).expect_err("refused");
    assert!(
        err.contains("seg.base.ip6.rules") && err.contains("nothing applied"),
        "{err}"
    );
    untouched("no IPv6 file");
    // The shared file of another build: refused too.
    let other = file(&v1, seg_iptables::SHARED_IP6).expect("v1 shares the file too");
    std::fs::write(&shared, other).expect("write");
    let err = lab::run_in(&ns, &["sh", script, "a", outs], None).expect_err("refused");
    assert!(err.contains("not from the same build"), "{err}");
    untouched("another build's IPv6 file");
    // Both IPv6 files right, but the address sets of another build: refused too.
    write(&out, &v2);
    let sets = out.join("a.ipset");
    assert!(!sets.exists(), "a uses no set in this fixture");
    let foreign = format!(
        "# seg: generated: do not edit\n# meaning: sha256 {}\ncreate seg4-000000000000000000000000 hash:net family inet\n",
        "0".repeat(64)
    );
    std::fs::write(&sets, foreign).expect("write");
    let err = lab::run_in(&ns, &["sh", script, "a", outs], None).expect_err("refused");
    assert!(
        err.contains("a.ipset") && err.contains("not from the same build"),
        "{err}"
    );
    untouched("another build's address sets");
    std::fs::remove_file(&sets).expect("remove");
    // A stale `a.ip6.rules` that would accept everything is not what a's rules name.
    write(&out, &v2);
    let stale = "*filter\n:seg-input - [0:0]\n:seg-output - [0:0]\n:stale-allow - [0:0]\n-A seg-input -j stale-allow\n-A stale-allow -j ACCEPT\nCOMMIT\n";
    std::fs::write(out.join("a.ip6.rules"), stale).expect("write");
    lab::run_in(&ns, &["sh", script, "a", outs], None).expect("apply");
    let want = chains(file(&v2, seg_iptables::SHARED_IP6).expect("shared"));
    assert_eq!(seg_chains(&ns, "ip6tables-save"), want);
    assert_eq!(
        want,
        ["seg-input", "seg-output"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    let saved = lab::run_in(&ns, &["ip6tables-save", "-t", "filter"], None).expect("save");
    assert!(
        saved.contains("-A seg-input -m comment --comment \"seg: nothing else\" -j DROP"),
        "{saved}"
    );
    assert!(
        saved.contains("-A INPUT -m comment --comment \"seg: policy of this host\" -j seg-input"),
        "{saved}"
    );
    // --remove takes the shared file's chains off too.
    lab::run_in(&ns, &["sh", script, "--remove"], None).expect("remove");
    untouched("after --remove");
    drop(lab);
}
