//! Unit tests of the merging of a chain's lines ([`crate::chain`]): what may
//! share a line, the limits of a line, the provenance each line keeps, and a
//! pseudo-random check that a chain's merged lines match exactly the ports,
//! peers, protocols and windows of the rules in it.

use crate::names;
use crate::tests::{Fx, file, ids, nets, rule_lines, tcp};
use seg_ir::{Action, Atom, Condition, PortSet, Protocol, TimeOfDay};
use std::collections::{BTreeMap, BTreeSet};

/// The comment of a line.
fn comment(line: &str) -> &str {
    line.split("--comment \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("comment")
}

/// Chain lines of a file with their chain name.
fn chain_lines<'t>(text: &'t str, prefix: &str) -> Vec<&'t str> {
    rule_lines(text)
        .into_iter()
        .filter(|l| l.starts_with(&format!("-A {prefix}")))
        .collect()
}

#[test]
fn ports_of_one_chain_coalesce_into_one_line() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(80, 80));
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(81, 90));
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(85, 91));
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(443, 443));
    let (e, _) = fx.emit(8);
    let lines = chain_lines(file(&e, "b.rules"), "in-allow-p-");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains(
            " -s 10.0.0.1/32 -p tcp -m multiport --dports 80:91,443 -m comment --comment \"p#1,2,3,4\" -j ACCEPT"
        ),
        "{lines:#?}"
    );
    let out = chain_lines(file(&e, "a.rules"), "out-allow-p-");
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(out[0].contains(" -d 10.0.0.2/32 -p tcp -m multiport --dports 80:91,443 "));
}

#[test]
fn lines_merge_only_within_a_chain_and_a_key() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let c = fx.id("c", &["10.0.0.3/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(80, 80));
    // Another policy, a deny, a window, another peer, another protocol.
    fx.rule(Action::Allow, "q", ids(&[a]), ids(&[b]), tcp(81, 81));
    fx.rule(Action::Deny, "p", ids(&[a]), ids(&[b]), tcp(82, 82));
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(83, 83))
        .condition = Condition::Atom(Atom::Time {
        start: TimeOfDay(60),
        end: TimeOfDay(120),
    });
    fx.rule(Action::Allow, "p", ids(&[c]), ids(&[b]), tcp(84, 84));
    fx.rule(
        Action::Allow,
        "p",
        ids(&[a]),
        ids(&[b]),
        PortSet::ports(Protocol::Udp, 85, 85),
    );
    // Only this one joins the first rule's line.
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(86, 86));
    let (e, _) = fx.emit(8);
    let text = file(&e, "b.rules");
    let p = chain_lines(text, "in-allow-p-");
    assert_eq!(p.len(), 4, "{p:#?}");
    assert!(
        p.iter().any(|l| l.contains(
            "-s 10.0.0.1/32 -p tcp -m multiport --dports 80,86 -m comment --comment \"p#1,6\""
        )),
        "{p:#?}"
    );
    assert!(
        p.iter().any(|l| l.contains("--dport 83 -m time ")),
        "{p:#?}"
    );
    assert!(
        p.iter()
            .any(|l| l.contains("-s 10.0.0.3/32 -p tcp --dport 84 "))
    );
    assert!(p.iter().any(|l| l.contains("-p udp --dport 85 ")));
    let q = chain_lines(text, "in-allow-q-");
    assert_eq!(q.len(), 1, "{q:#?}");
    let deny = chain_lines(text, "in-deny-p-");
    assert_eq!(deny.len(), 1, "{deny:#?}");
    assert!(deny[0].contains("--dport 82 ") && deny[0].ends_with("-j DROP"));
}

#[test]
fn identical_lines_of_several_rules_become_one() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), PortSet::any());
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), PortSet::any());
    let (e, _) = fx.emit(8);
    let lines = chain_lines(file(&e, "b.rules"), "in-allow-p-");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].ends_with("-s 10.0.0.1/32 -m comment --comment \"p#1,2\" -j ACCEPT"));
}

#[test]
fn lines_keep_the_multiport_and_comment_limits() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    // 20 rules with one port each (not adjacent): 15 + 5 slots.
    for i in 0..20 {
        fx.rule(
            Action::Allow,
            "p",
            ids(&[a]),
            ids(&[b]),
            tcp(1000 + 2 * i, 1000 + 2 * i),
        );
    }
    // 60 rules with the same port: one range, too many rules for one comment
    // (ids as real ones are: the policy, `#`, 8 hex digits).
    let long = "a-policy-name-long-enough-to-fill-comments";
    for i in 0..60 {
        fx.rule(Action::Allow, long, ids(&[a]), ids(&[b]), tcp(22, 22))
            .provenance
            .id = format!("{long}#{i:08x}");
    }
    let (e, _) = fx.emit(8);
    let text = file(&e, "b.rules");
    let p = chain_lines(text, "in-allow-p-");
    assert_eq!(p.len(), 2, "{p:#?}");
    let slots: Vec<usize> = p
        .iter()
        .map(|l| {
            l.split("--dports ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .map_or(1, |list| list.split(',').count())
        })
        .collect();
    assert_eq!(slots, [15, 5]);
    let chain = names::chain_name("in-allow", long, 8);
    let lines = chain_lines(text, &chain);
    assert!(lines.len() > 1, "{lines:#?}");
    let mut named = BTreeSet::new();
    for l in &lines {
        let c = comment(l);
        assert!(c.len() <= names::MAX_COMMENT, "{l}");
        assert!(l.contains(" -p tcp --dport 22 "), "{l}");
        let rest = c.strip_prefix(&format!("{long}#")).expect("policy");
        named.extend(rest.split(',').map(String::from));
    }
    let want: BTreeSet<String> = (0..60).map(|n| format!("{n:08x}")).collect();
    assert_eq!(named, want, "every rule is named once the lines are merged");
}

#[test]
fn ids_that_do_not_name_the_policy_stay_alone() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(80, 80));
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(81, 81))
        .provenance
        .id = "odd".into();
    // Another file does not matter: a line names rules by id, not by place.
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(82, 82))
        .provenance
        .file = "policy/other.seg".into();
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(83, 83));
    let (e, _) = fx.emit(8);
    let lines = chain_lines(file(&e, "b.rules"), "in-allow-p-");
    let comments: Vec<&str> = lines.iter().map(|l| comment(l)).collect();
    assert_eq!(comments, ["p#1,3,4", "odd"], "{lines:#?}");
}

#[test]
fn notes_give_the_owner_once_and_more_only_where_there_is_more() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(80, 80));
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(81, 81))
        .provenance
        .owner = Some("team-y".into());
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(82, 82))
        .provenance
        .doc = Some("Why 82.".into());
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(83, 83))
        .provenance
        .reason = Some("OPS-1".into());
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(84, 84));
    let (e, _) = fx.emit(8);
    let text = file(&e, "b.rules");
    let notes: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("# policy p:"))
        .take_while(|l| l.starts_with('#'))
        .collect();
    assert_eq!(
        notes,
        [
            "# policy p: allow rules for traffic to this host, owner team-x",
            "# p#2 allow on tcp/81, owner team-y",
            "# p#3 allow on tcp/82, owner team-x",
            "# /// Why 82.",
            "# p#4 allow on tcp/83, owner team-x",
            "# reason: OPS-1",
        ]
    );
}

/// A tiny deterministic generator (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Port intervals, merged: the set of ports they cover, canonically.
fn normalize(mut v: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    v.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if lo <= last.1 + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// (chain, peer, protocol, time) → port intervals, parsed from a rules file.
type Coverage = BTreeMap<(String, String, String, String), Vec<(u32, u32)>>;

fn parse_coverage(text: &str) -> (Coverage, BTreeMap<String, BTreeSet<String>>) {
    let mut cov = Coverage::new();
    let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in rule_lines(text) {
        let (body, _) = l.split_once(" -m comment").expect("comment");
        let words: Vec<&str> = body.split(' ').collect();
        let chain = words[1].to_string();
        let (mut peer, mut proto, mut ports, mut time) = (
            String::new(),
            String::from("any"),
            vec![(0, 65_535)],
            String::new(),
        );
        let mut i = 2;
        while i < words.len() {
            match words[i] {
                "-s" | "-d" => {
                    peer = format!("{} {}", words[i], words[i + 1]);
                    i += 2;
                }
                "-p" => {
                    proto = words[i + 1].to_string();
                    i += 2;
                }
                "--dport" => {
                    ports = vec![range(words[i + 1])];
                    i += 2;
                }
                "-m" if words[i + 1] == "multiport" => {
                    ports = words[i + 3].split(',').map(range).collect();
                    i += 4;
                }
                "-m" if words[i + 1] == "time" => {
                    time = words[i..].join(" ");
                    break;
                }
                other => panic!("unexpected `{other}` in {l}"),
            }
        }
        let key = (chain.clone(), peer, proto, time);
        cov.entry(key).or_default().extend(ports);
        let c = comment(l);
        let (policy, ns) = c.split_once('#').expect("policy");
        labels
            .entry(chain)
            .or_default()
            .extend(ns.split(',').map(|n| format!("{policy}#{n}")));
    }
    for v in cov.values_mut() {
        *v = normalize(std::mem::take(v));
    }
    (cov, labels)
}

fn range(s: &str) -> (u32, u32) {
    match s.split_once(':') {
        Some((a, b)) => (a.parse().expect("port"), b.parse().expect("port")),
        None => {
            let p = s.parse().expect("port");
            (p, p)
        }
    }
}

/// Random rules over five hosts with one address each (no CIDR can join two
/// hosts, no set: every peer is one `-s`/`-d` per address), random ports,
/// protocols, actions, policies and a window on some: every host chain must
/// cover exactly the ports its rules ask for, per peer, protocol and window,
/// and name exactly its rules.
#[test]
fn merged_lines_match_exactly_the_ports_of_their_rules() {
    let seed = std::env::var("SEG_IPTABLES_MERGE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let mut rng = Lcg(seed);
    let mut fx = Fx::new();
    let hosts: Vec<_> = (0..5)
        .map(|i| fx.id(&format!("h{i}"), &[&format!("10.0.0.{}/32", 2 * i + 1)]))
        .collect();
    let window = "-m time --timestart 01:00:00 --timestop 01:59:59";
    let mut want = Coverage::new();
    let mut want_labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for _ in 0..400 {
        let pick = |rng: &mut Lcg| -> Vec<usize> {
            let v: Vec<usize> = (0..5).filter(|_| rng.next(3) == 0).collect();
            if v.is_empty() {
                vec![rng.next(5) as usize]
            } else {
                v
            }
        };
        let (src, dst) = (pick(&mut rng), pick(&mut rng));
        let policy = ["p", "q"][rng.next(2) as usize];
        let action = if rng.next(5) == 0 {
            Action::Deny
        } else {
            Action::Allow
        };
        let timed = rng.next(4) == 0;
        let mut services = PortSet::empty();
        let mut asked: Vec<(&str, Vec<(u32, u32)>)> = Vec::new();
        match rng.next(8) {
            0 => {
                services = PortSet::any();
                asked.push(("any", vec![(0, 65_535)]));
            }
            1 => {
                services.icmp = true;
                asked.push(("icmp", vec![(0, 65_535)]));
            }
            _ => {
                for _ in 0..=rng.next(3) {
                    let (proto, name) = if rng.next(2) == 0 {
                        (Protocol::Tcp, "tcp")
                    } else {
                        (Protocol::Udp, "udp")
                    };
                    let lo = 20 + rng.next(60) as u16;
                    let hi = lo + [0, 0, 1, 5][rng.next(4) as usize];
                    services = services.union(&PortSet::ports(proto, lo, hi));
                    asked.push((name, vec![(u32::from(lo), u32::from(hi))]));
                }
            }
        }
        let src_ids: Vec<_> = src.iter().map(|&i| hosts[i]).collect();
        let dst_ids: Vec<_> = dst.iter().map(|&i| hosts[i]).collect();
        let rule = fx.rule(action, policy, ids(&src_ids), ids(&dst_ids), services);
        if timed {
            rule.condition = Condition::Atom(Atom::Time {
                start: TimeOfDay(60),
                end: TimeOfDay(120),
            });
        }
        let label = rule.provenance.id.clone();
        let act = if action == Action::Allow {
            "allow"
        } else {
            "deny"
        };
        let time = if timed {
            window.to_string()
        } else {
            String::new()
        };
        for (local, peers, dir, flag) in [(&dst, &src, "in", "-s"), (&src, &dst, "out", "-d")] {
            let chain = names::chain_name(&format!("{dir}-{act}"), policy, 8);
            for &h in local.iter() {
                for &peer in peers.iter() {
                    for (proto, ports) in &asked {
                        let key = (
                            format!("h{h}/{chain}"),
                            format!("{flag} 10.0.0.{}/32", 2 * peer + 1),
                            proto.to_string(),
                            time.clone(),
                        );
                        want.entry(key).or_default().extend(ports.iter().copied());
                    }
                    want_labels
                        .entry(format!("h{h}/{chain}"))
                        .or_default()
                        .insert(label.clone());
                }
            }
        }
    }
    for v in want.values_mut() {
        *v = normalize(std::mem::take(v));
    }
    let (e, diags) = fx.emit(100);
    assert!(diags.is_empty(), "{diags:?}");
    let mut got = Coverage::new();
    let mut got_labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for h in 0..5 {
        let (cov, labels) = parse_coverage(file(&e, &format!("h{h}.rules")));
        for ((chain, peer, proto, time), ports) in cov {
            got.insert((format!("h{h}/{chain}"), peer, proto, time), ports);
        }
        for (chain, l) in labels {
            got_labels.insert(format!("h{h}/{chain}"), l);
        }
    }
    assert_eq!(got, want, "seed {seed}");
    assert_eq!(got_labels, want_labels, "seed {seed}");
    let unmerged: usize = want.len();
    assert!(
        e.rules < unmerged * 2,
        "{} lines for {unmerged} keys",
        e.rules
    );
}

#[test]
fn sets_are_still_shared_by_name() {
    let mut fx = Fx::new();
    let dst = fx.id("db", &["10.9.0.1/32"]);
    let eight: Vec<String> = (0..8).map(|i| format!("192.0.2.{}/32", i * 2)).collect();
    let e8: Vec<&str> = eight.iter().map(String::as_str).collect();
    fx.rule(Action::Allow, "p", nets(&e8), ids(&[dst]), tcp(5432, 5432));
    fx.rule(Action::Allow, "p", nets(&e8), ids(&[dst]), tcp(5433, 5433));
    let (e, _) = fx.emit(8);
    let lines = chain_lines(file(&e, "db.rules"), "in-allow-p-");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains(" src -p tcp --dport 5432:5433 "),
        "{lines:#?}"
    );
}

#[test]
fn only_chains_another_host_may_hold_are_kept() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    let c = fx.id("c", &["10.0.0.3/32"]);
    let d = fx.id("d", &["10.0.0.4/32"]);
    // A pair: a's outgoing chain and b's incoming one are theirs alone.
    fx.rule(Action::Allow, "pair", ids(&[a]), ids(&[b]), tcp(80, 80));
    // b and d each get an incoming chain of this one block: the same chain.
    fx.rule(
        Action::Allow,
        "both",
        ids(&[c]),
        ids(&[b, d]),
        tcp(443, 443),
    );
    assert_eq!(crate::render::chains_kept(&fx.p), 1);
    // The shared chain prints the same on both hosts.
    let (e, _) = fx.emit(8);
    let on = |host| chain_lines(file(&e, host), "in-allow-both-").join("\n");
    assert_eq!(on("b.rules"), on("d.rules"));
    assert!(!on("b.rules").is_empty());
}
