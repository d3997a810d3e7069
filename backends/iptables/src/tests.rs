//! Unit tests of the lowering on hand-built programs.

use crate::Iptables;
use crate::names;
use seg_diag::{Code, Diagnostics, FileId, Span};
use seg_ir::backend::IptablesOptions;
use seg_ir::capability::ApproximationKind::{self, DenyWidened, Narrowed, Omitted};
use seg_ir::{
    Action, Atom, Backend, CidrSet, Condition, Date, Emission, EndpointSet, Expiry, Identity,
    IdentityId, IdentityKind, PortSet, Program, Protocol, Provenance, Rule, RuleId, TargetOptions,
    TimeOfDay, Timestamp,
};
use std::collections::BTreeMap;

fn span() -> Span {
    Span::new(FileId(0), 0, 0)
}

/// A small program builder.
pub(crate) struct Fx {
    pub(crate) p: Program,
    /// Rules so far per policy, for labels.
    per_policy: BTreeMap<String, usize>,
}

impl Fx {
    pub(crate) fn new() -> Fx {
        Fx {
            p: Program {
                project: "t".into(),
                source_hash: "ab12".into(),
                now: Timestamp::parse("2026-11-23T00:00:00Z").expect("now"),
                identities: Default::default(),
                rules: Vec::new(),
                omitted: Vec::new(),
                contexts: BTreeMap::new(),
                tests: Vec::new(),
            },
            per_policy: BTreeMap::new(),
        }
    }

    pub(crate) fn id(&mut self, name: &str, addrs: &[&str]) -> IdentityId {
        let id = IdentityId(self.p.identities.len() as u32);
        self.p.identities.push(Identity {
            id,
            name: name.into(),
            kind: IdentityKind::Workload,
            owner: None,
            attributes: BTreeMap::new(),
            labels: BTreeMap::new(),
            addresses: addrs.iter().map(|a| a.parse().expect("net")).collect(),
            kubernetes: None,
            aws: None,
            gcp: None,
            spiffe: None,
            origin: span(),
        });
        id
    }

    pub(crate) fn rule(
        &mut self,
        action: Action,
        policy: &str,
        src: EndpointSet,
        dst: EndpointSet,
        services: PortSet,
    ) -> &mut Rule {
        let n = {
            let count = self.per_policy.entry(policy.to_string()).or_default();
            *count += 1;
            *count
        };
        let id = RuleId(self.p.rules.len() as u32);
        self.p.rules.push(Rule {
            id,
            action,
            src,
            dst,
            services,
            condition: Condition::True,
            expires: None,
            provenance: Provenance {
                label: format!("{policy}/{n}"),
                id: format!("{policy}#{n}"),
                file: "policy/p.seg".into(),
                line: 10 + id.0,
                column: 3,
                policy: policy.into(),
                owner: Some("team-x".into()),
                doc: None,
                reason: None,
                origin: span(),
            },
        });
        self.p.rules.last_mut().expect("just pushed")
    }

    /// `any`: every identity and every address.
    fn any(&self) -> EndpointSet {
        EndpointSet {
            identities: self.p.identities.iter().map(|i| i.id).collect(),
            networks: CidrSet::all(),
            ..EndpointSet::default()
        }
    }

    pub(crate) fn emit(&self, threshold: usize) -> (Emission, Diagnostics) {
        let mut diags = Diagnostics::new();
        let opts = TargetOptions::Iptables(IptablesOptions {
            ipset_threshold: threshold,
        });
        let e = Iptables.emit(&self.p, &opts, &mut diags);
        (e, diags)
    }
}

pub(crate) fn ids(list: &[IdentityId]) -> EndpointSet {
    EndpointSet {
        identities: list.iter().copied().collect(),
        explicit: list.iter().copied().collect(),
        networks: CidrSet::empty(),
    }
}

pub(crate) fn nets(list: &[&str]) -> EndpointSet {
    let n: Vec<ipnet::IpNet> = list.iter().map(|a| a.parse().expect("net")).collect();
    EndpointSet {
        networks: CidrSet::from_nets(&n),
        ..EndpointSet::default()
    }
}

pub(crate) fn tcp(lo: u16, hi: u16) -> PortSet {
    PortSet::ports(Protocol::Tcp, lo, hi)
}

pub(crate) fn file<'e>(e: &'e Emission, path: &str) -> &'e str {
    let a = e
        .artifacts
        .iter()
        .find(|a| a.path == path)
        .unwrap_or_else(|| panic!("no `{path}` in {:?}", paths(e)));
    std::str::from_utf8(&a.contents).expect("utf-8")
}

/// A host's IPv6 ruleset, as `seg-apply.sh` picks it: the shared file when
/// the host's `<stem>.rules` names it, else the host's own file.
pub(crate) fn ip6_of<'e>(e: &'e Emission, stem: &str) -> &'e str {
    file(e, &crate::ip6_file(stem, file(e, &format!("{stem}.rules"))))
}

/// Every host (identity with addresses) has an IPv4 file and an IPv6
/// ruleset of this build, its own or the shared one, each hooking seg's
/// entry chains and ending them in DROP; the shared file is there exactly
/// when a host uses it, and nothing else names it.
pub(crate) fn assert_every_host_has_both_families(p: &Program, e: &Emission) {
    let mut on_shared = 0;
    for identity in p.identities.iter().filter(|i| !i.addresses.is_empty()) {
        let stem = crate::file_stem(&identity.name).expect("stem");
        let v4 = file(e, &format!("{stem}.rules"));
        let own = e
            .artifacts
            .iter()
            .any(|a| a.path == format!("{stem}.ip6.rules"));
        let named = v4.lines().any(|l| {
            l.strip_prefix("# ") == Some(names::SHARED_IP6_LINE)
                || l.strip_prefix("# ")
                    == Some(&names::comment_text(&format!(
                        "IPv6 rules: {stem}.ip6.rules"
                    )))
        });
        assert!(named, "{stem}.rules names no IPv6 file:\n{v4}");
        let v6 = ip6_of(e, &stem);
        if !own {
            on_shared += 1;
        }
        let meaning = |t: &str| {
            t.lines()
                .find(|l| l.starts_with("# meaning: "))
                .map(String::from)
        };
        assert_eq!(meaning(v4), meaning(v6), "{stem}: one build");
        for text in [v4, v6] {
            for hook in [
                "-I INPUT 1 -m comment --comment \"seg: policy of this host\" -j seg-input",
                "-I OUTPUT 1 -m comment --comment \"seg: policy of this host\" -j seg-output",
                "-A seg-input -m comment --comment \"seg: nothing else\" -j DROP",
                "-A seg-output -m comment --comment \"seg: nothing else\" -j DROP",
                "COMMIT",
            ] {
                assert!(
                    text.lines().any(|l| l == hook),
                    "{stem}: no `{hook}`:\n{text}"
                );
            }
        }
        assert!(
            v6.contains("--icmpv6-type 135"),
            "{stem}: IPv6 without neighbour discovery"
        );
    }
    let shared = e.artifacts.iter().any(|a| a.path == names::SHARED_IP6);
    assert_eq!(
        shared,
        on_shared > 0,
        "the shared file is there exactly when used"
    );
}

fn paths(e: &Emission) -> Vec<&str> {
    e.artifacts.iter().map(|a| a.path.as_str()).collect()
}

/// Rule lines (`-A` on a user chain) of a file.
/// The lines of the policy chains (not of the entry chains).
pub(crate) fn rule_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            l.starts_with("-A ")
                && !l.starts_with("-A seg-input ")
                && !l.starts_with("-A seg-output ")
        })
        .collect()
}

fn codes(d: &Diagnostics) -> Vec<&'static str> {
    d.iter()
        .filter_map(|d| d.code)
        .map(|c| c.as_str())
        .collect()
}

fn multi_file(e: &Emission) -> String {
    e.artifacts
        .iter()
        .map(|a| format!("//// {}\n{}", a.path, String::from_utf8_lossy(&a.contents)))
        .collect()
}

/// The bank example, by hand: what the checker gives after the capability
/// pass with `layered = ["mtls"]` (the mTLS condition became `True`).
fn bank() -> Fx {
    let mut fx = Fx::new();
    let api = fx.id("payments-api", &["10.1.2.10/32", "10.1.2.11/32"]);
    let worker = fx.id("payments-worker", &["10.1.2.20/32"]);
    let _sandbox = fx.id("payments-sandbox", &["10.9.2.30/32"]);
    let pg = fx.id("ledger-postgres", &["10.1.3.5/32"]);
    let replica = fx.id("ledger-replica", &["10.1.3.6/32"]);
    let _web = fx.id("web-frontend", &["10.1.1.10/32"]);
    let dns = fx.id("kube-dns", &["10.1.0.10/32"]);
    let migrator = fx.id("migrator-job", &["10.1.9.50/32"]);
    let _key = fx.id("reporting-key", &[]);
    fx.rule(
        Action::Allow,
        "ledger-access",
        ids(&[api, worker]),
        ids(&[pg, replica]),
        tcp(5432, 5432),
    )
    .provenance
    .doc = Some("The API reads and writes the ledger.".into());
    let r = fx.rule(
        Action::Allow,
        "ledger-access",
        ids(&[migrator]),
        ids(&[pg, replica]),
        tcp(5432, 5432),
    );
    r.condition = Condition::Atom(Atom::Time {
        start: TimeOfDay(60),
        end: TimeOfDay(180),
    });
    r.expires = Date::new(2026, 12, 31).map(Into::into);
    r.provenance.reason = Some("ticket OPS-1234".into());
    let mut partners = nets(&["203.0.113.0/24", "198.51.100.0/24"]);
    partners.identities.clear();
    fx.rule(
        Action::Allow,
        "ledger-access",
        partners,
        ids(&[api]),
        tcp(8443, 8443).union(&tcp(443, 443)),
    );
    let dns_ports = PortSet::ports(Protocol::Udp, 53, 53).union(&tcp(53, 53));
    fx.rule(
        Action::Allow,
        "ledger-access",
        ids(&[api, worker]),
        ids(&[dns]),
        dns_ports,
    );
    let everyone = fx.any();
    fx.rule(
        Action::Deny,
        "ledger-access",
        everyone,
        nets(&["169.254.169.254/32", "fd00:ec2::254/128"]),
        PortSet::any(),
    );
    fx
}

#[test]
fn bank_files_snapshot() {
    let (e, diags) = bank().emit(8);
    assert!(diags.is_empty(), "{diags:?}");
    // Every host has both families; the key (no addresses) is not a host;
    // one apply script.
    assert_eq!(e.artifacts.len(), 17, "{:?}", paths(&e));
    assert!(!paths(&e).iter().any(|p| p.starts_with("reporting-key")));
    insta::assert_snapshot!(multi_file(&e));
}

#[test]
fn both_directions_and_replies_only_by_state() {
    let (e, _) = bank().emit(8);
    let pg = file(&e, "ledger-postgres.rules");
    assert!(pg.contains("-A in-allow-ledger-acc-"), "{pg}");
    assert!(pg.contains(" -s 10.1.2.10/31 -p tcp --dport 5432 "), "{pg}");
    // The ledger starts nothing: no OUTPUT allow chain, replies via conntrack only.
    assert!(!pg.contains("-A out-allow"), "{pg}");
    let api = file(&e, "payments-api.rules");
    assert!(
        api.contains(" -d 10.1.3.5/32 -p tcp --dport 5432 "),
        "{api}"
    );
    assert!(api.contains(" -d 10.1.0.10/32 -p udp --dport 53 "), "{api}");
    assert!(
        api.contains(" -s 198.51.100.0/24 -p tcp -m multiport --dports 443,8443 "),
        "{api}"
    );
    // Every host denies the metadata address on OUTPUT without naming a source.
    assert!(
        api.contains("-A out-deny-ledger-acc-")
            && api.contains(" -d 169.254.169.254/32 -m comment"),
        "{api}"
    );
    let api6 = file(&e, "payments-api.ip6.rules");
    assert!(api6.contains(" -d fd00:ec2::254/128 -m comment"), "{api6}");
    assert!(
        !api6.contains("-A out-allow"),
        "no IPv6 peer for any allow: {api6}"
    );
}

#[test]
fn deny_chains_are_jumped_to_before_allow_chains() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    fx.rule(Action::Allow, "first", ids(&[a]), ids(&[b]), tcp(22, 22));
    fx.rule(Action::Deny, "second", ids(&[a]), ids(&[b]), tcp(22, 22));
    let (e, _) = fx.emit(8);
    let text = file(&e, "b.rules");
    let jumps: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("-A seg-input") && l.contains(" -j in-"))
        .collect();
    assert_eq!(jumps.len(), 2, "{text}");
    assert!(jumps[0].contains("-j in-deny-second-"), "{jumps:?}");
    assert!(jumps[1].contains("-j in-allow-first-"), "{jumps:?}");
    // Loopback and replies come before any jump.
    let input: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("-A seg-input"))
        .collect();
    assert!(input[0].starts_with("-A seg-input -i lo "), "{text}");
    // What no rule allows is dropped at the end of the entry chains.
    for entry in ["seg-input", "seg-output"] {
        let last = text
            .lines()
            .rfind(|l| l.starts_with(&format!("-A {entry} ")))
            .expect("entry chain");
        assert!(
            last.ends_with("-j DROP") && !last.contains(" -s "),
            "{last}"
        );
    }
    // INPUT and OUTPUT only jump to them.
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("-I ")
                || l.starts_with("-A INPUT")
                || l.starts_with("-A OUTPUT"))
            .collect::<Vec<_>>(),
        [
            "-I INPUT 1 -m comment --comment \"seg: policy of this host\" -j seg-input",
            "-I OUTPUT 1 -m comment --comment \"seg: policy of this host\" -j seg-output"
        ]
    );
    assert!(
        input[1].contains(" --ctstate ESTABLISHED,RELATED "),
        "{text}"
    );
    // loopback, replies, two jumps, the final drop.
    assert_eq!(input.len(), 5, "{text}");
}

#[test]
fn large_groups_become_ipsets_at_the_threshold() {
    let mut fx = Fx::new();
    let dst = fx.id("db", &["10.9.0.1/32"]);
    // 8 non-adjacent /32s: exactly the threshold.
    let eight: Vec<String> = (0..8).map(|i| format!("192.0.2.{}/32", i * 2)).collect();
    let seven: Vec<String> = (0..7).map(|i| format!("198.51.100.{}/32", i * 2)).collect();
    let e8: Vec<&str> = eight.iter().map(String::as_str).collect();
    let e7: Vec<&str> = seven.iter().map(String::as_str).collect();
    fx.rule(Action::Allow, "p", nets(&e8), ids(&[dst]), tcp(5432, 5432));
    fx.rule(Action::Allow, "p", nets(&e7), ids(&[dst]), tcp(5433, 5433));
    let (e, _) = fx.emit(8);
    let rules = file(&e, "db.rules");
    let set_lines: Vec<&str> = rules
        .lines()
        .filter(|l| l.contains("--match-set"))
        .collect();
    assert_eq!(set_lines.len(), 1, "{rules}");
    assert!(
        set_lines[0].contains(" -m set --match-set seg4-")
            && set_lines[0].contains(" src -p tcp --dport 5432 "),
        "{rules}"
    );
    assert_eq!(
        rules.lines().filter(|l| l.contains("--dport 5433")).count(),
        7,
        "{rules}"
    );
    let ipset = file(&e, "db.ipset");
    assert_eq!(
        ipset.lines().filter(|l| l.starts_with("create ")).count(),
        1,
        "{ipset}"
    );
    assert_eq!(
        ipset.lines().filter(|l| l.starts_with("add ")).count(),
        8,
        "{ipset}"
    );
    assert!(ipset.contains(" hash:net family inet\n"), "{ipset}");
    // Threshold 1: every group is a set; the same group shares one set.
    let (e, _) = fx.emit(1);
    assert_eq!(
        file(&e, "db.ipset")
            .lines()
            .filter(|l| l.starts_with("create "))
            .count(),
        2
    );
    assert!(!paths(&e).contains(&"db.ip6.ipset"));
}

#[test]
fn time_windows_and_expiry() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    let r = fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(22, 22));
    r.condition = Condition::And(vec![
        Condition::Atom(Atom::Time {
            start: TimeOfDay(22 * 60),
            end: TimeOfDay(2 * 60),
        }),
        Condition::Atom(Atom::Days { mask: 0b1_0000 }),
    ]);
    r.expires = Date::new(2027, 1, 31).map(Into::into);
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(23, 23))
        .expires = Date::new(2027, 2, 1).map(Into::into);
    let (e, diags) = fx.emit(8);
    assert!(diags.is_empty());
    let lines = rule_lines(file(&e, "b.rules"));
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].contains("--dport 22 -m time --timestart 00:00:00 --timestop 01:59:59 --weekdays Fri --datestop 2027-01-31T23:59:59 "));
    assert!(lines[1].contains("--dport 22 -m time --timestart 22:00:00 --timestop 23:59:59 --weekdays Fri --datestop 2027-01-31T23:59:59 "));
    assert!(lines[2].contains("--dport 23 -m time --datestop 2027-02-01T23:59:59 "));
}

#[test]
fn an_instant_expiry_stops_at_its_last_second() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    // 16:00 at +01:00 is 15:00Z: the kernel matches through 14:59:59.
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(22, 22))
        .expires = Expiry::parse("2026-12-06T16:00:00+01:00");
    // The last second iptables can hold, exactly.
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(23, 23))
        .expires = Expiry::parse("2039-01-01T00:00:00Z");
    // One second more does not fit: the allow ends earlier (W0402).
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(24, 24))
        .expires = Expiry::parse("2039-01-01T00:00:01Z");
    let (e, diags) = fx.emit(8);
    assert_eq!(codes(&diags), ["W0402"]);
    let text = file(&e, "b.rules");
    let lines = rule_lines(text);
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(
        has("--dport 22 -m time --datestop 2026-12-06T14:59:59 "),
        "{lines:#?}"
    );
    // Equal matches otherwise, so the two share one line.
    assert!(
        has("--dport 23:24 -m time --datestop 2038-12-31T23:59:59 "),
        "{lines:#?}"
    );
}

/// The kinds of the report entries the emission made, in order.
fn kinds(e: &Emission) -> Vec<ApproximationKind> {
    e.approximations.iter().map(|a| a.kind).collect()
}

#[test]
fn expiry_past_2038_fails_closed() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(22, 22))
        .expires = Date::new(2040, 1, 1).map(Into::into);
    fx.rule(Action::Deny, "p", ids(&[a]), ids(&[b]), tcp(23, 23))
        .expires = Date::new(2040, 1, 1).map(Into::into);
    let (e, diags) = fx.emit(8);
    assert_eq!(codes(&diags), ["W0402", "W0403"]);
    assert_eq!(kinds(&e), [Narrowed, DenyWidened], "{:?}", e.approximations);
    let lines = rule_lines(file(&e, "b.rules"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("--dport 22 -m time --datestop 2038-12-31T23:59:59 ")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("--dport 23 -m comment")),
        "{lines:#?}"
    );
}

#[test]
fn conditions_iptables_cannot_see_fail_closed() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(22, 22))
        .condition = Condition::Atom(Atom::Mtls);
    fx.rule(Action::Deny, "p", ids(&[a]), ids(&[b]), tcp(23, 23))
        .condition = Condition::Not(Box::new(Condition::Atom(Atom::Mtls)));
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(24, 24))
        .condition = Condition::False;
    let (e, diags) = fx.emit(8);
    assert_eq!(codes(&diags), ["W0401", "W0403"]);
    assert_eq!(kinds(&e), [Omitted, DenyWidened], "{:?}", e.approximations);
    let lines = rule_lines(file(&e, "b.rules"));
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("--dport 23 -m comment") && lines[0].ends_with("-j DROP"),
        "{lines:#?}"
    );
}

#[test]
fn other_protocols_narrow_allows_and_widen_denies() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    let not_ssh = PortSet::any().difference(&tcp(22, 22));
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), not_ssh.clone());
    fx.rule(
        Action::Deny,
        "q",
        ids(&[b]),
        ids(&[a]),
        PortSet::ports(Protocol::Other(47), 0, 0),
    );
    fx.rule(Action::Allow, "r", ids(&[b]), ids(&[a]), PortSet::any());
    let (e, diags) = fx.emit(8);
    assert_eq!(codes(&diags), ["W0402", "W0403"]);
    assert_eq!(kinds(&e), [Narrowed, DenyWidened], "{:?}", e.approximations);
    assert!(
        e.approximations
            .iter()
            .all(|a| a.target == "iptables" && a.reason.contains("protocol"))
    );
    let b_in = rule_lines(file(&e, "b.rules"));
    let protos: Vec<&str> = b_in
        .iter()
        .filter(|l| l.starts_with("-A in-allow-p-"))
        .map(|l| l.split(" -m comment").next().unwrap_or(""))
        .collect();
    assert_eq!(protos.len(), 4, "{b_in:#?}");
    assert!(
        protos[0].ends_with("-s 10.0.0.1/32 -p tcp -m multiport --dports 0:21,23:65535"),
        "{protos:#?}"
    );
    assert!(
        protos[1].ends_with("-p udp")
            && protos[2].ends_with("-p sctp")
            && protos[3].ends_with("-p icmp"),
        "{protos:#?}"
    );
    let a_in = rule_lines(file(&e, "a.rules"));
    // The deny of protocol 47 became a deny of everything from b; the allow is all protocols.
    assert!(
        a_in.iter().any(|l| l.starts_with("-A in-deny-q-")
            && l.contains("-s 10.0.0.2/32 -m comment")
            && l.ends_with("-j DROP")),
        "{a_in:#?}"
    );
    assert!(
        a_in.iter()
            .any(|l| l.starts_with("-A in-allow-r-") && l.contains("-s 10.0.0.2/32 -m comment")),
        "{a_in:#?}"
    );
    // IPv6 gets ICMPv6.
    assert!(ip6_of(&e, "a").lines().all(|l| !l.contains("-p icmp ")));
}

#[test]
fn multiport_packs_at_most_fifteen_slots() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    // 20 single ports and 4 ranges: 20 + 8 = 28 slots → two lines.
    let mut ports = PortSet::empty();
    for i in 0..20 {
        ports = ports.union(&tcp(1000 + 2 * i, 1000 + 2 * i));
    }
    for i in 0..4 {
        ports = ports.union(&tcp(2000 + 10 * i, 2005 + 10 * i));
    }
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), ports);
    let (e, _) = fx.emit(8);
    let lines = rule_lines(file(&e, "b.rules"));
    assert_eq!(lines.len(), 2, "{lines:#?}");
    for l in &lines {
        let list = l
            .split("--dports ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .expect("dports");
        let slots: usize = list
            .split(',')
            .map(|p| if p.contains(':') { 2 } else { 1 })
            .sum();
        assert!(slots <= 15, "{l}");
    }
    let all: Vec<&str> = lines
        .iter()
        .flat_map(|l| {
            l.split("--dports ")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .unwrap_or("")
                .split(',')
        })
        .collect();
    assert_eq!(all.len(), 24);
}

#[test]
fn any_wide_peers_have_no_address_match() {
    let mut fx = Fx::new();
    let b = fx.id("b", &["10.0.0.2/32", "2001:db8::2/128"]);
    let everyone = fx.any();
    fx.rule(Action::Allow, "p", everyone, ids(&[b]), tcp(443, 443));
    let v4 = nets(&["0.0.0.0/0"]);
    fx.rule(Action::Allow, "p", v4, ids(&[b]), tcp(80, 80));
    let (e, _) = fx.emit(8);
    // `any` holds b too, so b also gets OUTPUT lines to itself: look at INPUT.
    let inbound = |t: &str| -> Vec<String> {
        rule_lines(t)
            .into_iter()
            .filter(|l| l.starts_with("-A in-"))
            .map(String::from)
            .collect()
    };
    let l4 = inbound(file(&e, "b.rules"));
    let l6 = inbound(file(&e, "b.ip6.rules"));
    // Both rules match every IPv4 source: one line with both ports and both rules.
    assert_eq!(l4.len(), 1, "{l4:#?}");
    assert!(!l4[0].contains(" -s "), "{l4:#?}");
    assert!(
        l4[0].contains(" -p tcp -m multiport --dports 80,443 -m comment --comment \"p#1,2\" "),
        "{l4:#?}"
    );
    assert_eq!(l6.len(), 1, "only `any` has IPv6: {l6:#?}");
    assert!(l6[0].contains("-p tcp --dport 443 "));
}

#[test]
fn ipv6_files_allow_neighbour_discovery() {
    let mut fx = Fx::new();
    fx.id("b", &["2001:db8::2/128"]);
    let c = fx.id("c", &["2001:db8::3/128"]);
    let d = fx.id("d", &["2001:db8::4/128"]);
    fx.rule(Action::Allow, "p", ids(&[c]), ids(&[d]), tcp(80, 80));
    let (e, _) = fx.emit(8);
    // b has no IPv6 rule of its own: the shared file; c and d their own.
    assert_eq!(ip6_of(&e, "b"), file(&e, names::SHARED_IP6));
    assert!(!paths(&e).contains(&"b.ip6.rules"));
    for stem in ["b", "c", "d"] {
        let text = ip6_of(&e, stem);
        for ty in [135, 136] {
            assert!(
                text.contains(&format!(
                    "-A seg-input -p ipv6-icmp -m icmp6 --icmpv6-type {ty} -m hl --hl-eq 255 "
                )),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "-A seg-output -p ipv6-icmp -m icmp6 --icmpv6-type {ty} -m hl --hl-eq 255 "
                )),
                "{text}"
            );
        }
        assert!(!file(&e, &format!("{stem}.rules")).contains("icmp6"));
        // The built-in chains are not declared: their policies and rules stay as they are.
        assert!(!text.contains(":INPUT") && !text.contains(":OUTPUT") && !text.contains("FORWARD"));
    }
    assert_every_host_has_both_families(&fx.p, &e);
}

#[test]
fn hosts_without_ipv6_rules_share_one_file_and_keep_their_own_objects() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let b = fx.id("b", &["10.0.0.2/32"]);
    let c = fx.id("c", &["10.0.0.3/32", "2001:db8::3/128"]);
    fx.rule(Action::Allow, "p", ids(&[a]), ids(&[b]), tcp(22, 22));
    let (before, _) = fx.emit(8);
    assert_every_host_has_both_families(&fx.p, &before);
    // Only IPv4 peers: every host is on the shared file.
    assert_eq!(
        paths(&before),
        [
            "a.rules",
            "b.rules",
            "c.rules",
            "seg-apply.sh",
            "seg.base.ip6.rules"
        ]
    );
    let shared = file(&before, names::SHARED_IP6);
    assert!(!shared.contains("host: "), "no host's name: {shared}");
    assert!(rule_lines(shared).is_empty(), "{shared}");
    assert_eq!(
        shared
            .lines()
            .filter(|l| l.starts_with(':'))
            .collect::<Vec<_>>(),
        [":seg-input - [0:0]", ":seg-output - [0:0]"]
    );
    // Each host still lists its own IPv6 entry chains, under its IPv6 file.
    let v6_objects = |e: &Emission, stem: &str| -> Vec<(String, String)> {
        e.objects
            .iter()
            .filter(|o| o.file == format!("{stem}.ip6.rules"))
            .map(|o| (o.name.clone(), o.digest.clone()))
            .collect()
    };
    let base = v6_objects(&before, "a");
    let names: Vec<&str> = base.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["seg-input", "seg-output"]);
    assert_eq!(base, v6_objects(&before, "b"));
    assert_eq!(base, v6_objects(&before, "c"));
    // c gains an IPv6 rule: its own file, its objects change, the others' stay.
    fx.rule(
        Action::Allow,
        "q",
        nets(&["2001:db8::/64"]),
        ids(&[c]),
        tcp(443, 443),
    );
    let (after, _) = fx.emit(8);
    assert_every_host_has_both_families(&fx.p, &after);
    assert!(paths(&after).contains(&"c.ip6.rules"));
    assert!(file(&after, "c.rules").contains("\n# IPv6 rules: c.ip6.rules\n"));
    assert_eq!(v6_objects(&after, "a"), base);
    let own = v6_objects(&after, "c");
    assert!(own.len() > 2, "{own:?}");
    // The rule is inbound: seg-input jumps to its chain, seg-output is as before.
    let digest_of = |list: &[(String, String)], name: &str| {
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.clone())
            .expect("entry chain kept its name")
    };
    assert_ne!(digest_of(&own, "seg-input"), digest_of(&base, "seg-input"));
    assert_eq!(
        digest_of(&own, "seg-output"),
        digest_of(&base, "seg-output")
    );
    // What a build removing c's IPv6 rule would list to prune: only c's policy chain.
    let changes = seg_ir::objects::compare(&after.objects, &before.objects);
    assert!(
        changes
            .removed
            .iter()
            .all(|o| o.file == "c.ip6.rules" && o.name.starts_with("in-allow-q-")),
        "{:?}",
        changes.removed
    );
    assert_eq!(changes.removed.len(), 1, "{:?}", changes.removed);
}

#[test]
fn hostile_names_stay_in_comments_and_file_names() {
    let mut fx = Fx::new();
    let evil = [
        "../../etc/passwd",
        "a\"; -j ACCEPT\n-A INPUT -j ACCEPT\nCOMMIT\n#",
        ".",
        "..",
        "x\0y",
        "A",
        "a",
    ];
    let mut ids_ = Vec::new();
    for (i, n) in evil.iter().enumerate() {
        ids_.push(fx.id(n, &[&format!("10.0.1.{}/32", i + 1)]));
    }
    let long = "z".repeat(10_000);
    ids_.push(fx.id(&long, &["10.0.2.1/32"]));
    let policy = "p\"\\\n-A INPUT -j ACCEPT";
    let r = fx.rule(Action::Allow, policy, ids(&ids_), ids(&ids_), tcp(1, 1));
    r.provenance.doc = Some("line one\n-A INPUT -j ACCEPT\nCOMMIT".into());
    r.provenance.reason = Some("\"\\".into());
    r.provenance.file = "x\n\"y\".seg".into();
    let (e, diags) = fx.emit(8);
    assert!(diags.is_empty(), "{diags:?}");
    let mut seen = std::collections::BTreeSet::new();
    for a in &e.artifacts {
        assert!(
            !a.path.contains('/') && !a.path.starts_with('.') && a.path.len() <= 255,
            "{}",
            a.path
        );
        assert!(seen.insert(a.path.to_ascii_lowercase()), "{}", a.path);
        if a.path == crate::apply::APPLY_SCRIPT {
            continue;
        }
        let text = std::str::from_utf8(&a.contents).expect("ascii");
        assert!(text.is_ascii());
        for line in text.lines() {
            let ok = line.is_empty()
                || line.starts_with("# ")
                || line == "*filter"
                || line == "COMMIT"
                || line.starts_with(':')
                || line.starts_with("-A ")
                || line.starts_with("-I INPUT 1 ")
                || line.starts_with("-I OUTPUT 1 ")
                || line.starts_with("create ")
                || line.starts_with("add ");
            assert!(ok, "unexpected line in {}: {line}", a.path);
            // The only quotes are the two around a comment.
            if line.starts_with("-A ") || line.starts_with("-I ") {
                assert_eq!(line.matches('"').count(), 2, "{line}");
                assert!(!line.contains('\\'), "{line}");
                let comment = line.split('"').nth(1).expect("comment");
                assert!(comment.len() <= 255, "{line}");
            }
            // No rule accepts everything on a built-in chain.
            assert_ne!(line, "-A INPUT -j ACCEPT");
        }
    }
    // 8 hosts' IPv4 files, the IPv6 file they share (none has IPv6 rules of
    // its own), and the apply script.
    assert_eq!(e.artifacts.len(), 10);
    assert_every_host_has_both_families(&fx.p, &e);
    assert!(paths(&e).contains(&"%2E%2E%2F%2E%2E%2Fetc%2Fpasswd.rules"));
    assert!(paths(&e).contains(&"%41.rules") && paths(&e).contains(&"a.rules"));
}

#[test]
fn output_is_deterministic() {
    let (a, _) = bank().emit(2);
    let (b, _) = bank().emit(2);
    assert_eq!(a.artifacts, b.artifacts);
    assert!(a.artifacts.windows(2).all(|w| w[0].path < w[1].path));
}

#[test]
fn capabilities_and_management() {
    let mut fx = Fx::new();
    let a = fx.id("a", &["10.0.0.1/32"]);
    let k = fx.id("k", &[]);
    let caps = Iptables.capabilities();
    assert!(
        caps.deny
            && caps.time
            && !caps.mtls
            && !caps.request
            && !caps.context
            && caps.honours_layered
    );
    assert!(Iptables.manages(fx.p.identity(a)));
    assert!(!Iptables.manages(fx.p.identity(k)));
    assert!(Iptables.representable(fx.p.identity(k)).is_err());
    assert_eq!(Iptables.name(), "iptables");
    let mut diags = Diagnostics::new();
    let e = Iptables.emit(
        &fx.p,
        &TargetOptions::Kubernetes(Default::default()),
        &mut diags,
    );
    assert_eq!(
        diags.iter().next().and_then(|d| d.code),
        Some(Code::InternalError)
    );
    assert_eq!(e.artifacts.len(), 3);
}

#[test]
fn ten_thousand_rules_merge_per_chain() {
    let mut fx = Fx::new();
    let hosts: Vec<IdentityId> = (0..200)
        .map(|i| {
            fx.id(
                &format!("h{i}"),
                &[&format!("10.{}.{}.1/32", i / 256, i % 256)],
            )
        })
        .collect();
    for i in 0..10_000usize {
        let (s, d) = (hosts[i % 200], hosts[(i * 7 + 1) % 200]);
        fx.rule(
            Action::Allow,
            &format!("p{}", i % 50),
            ids(&[s]),
            ids(&[d]),
            tcp(1000 + (i % 5000) as u16, 1000 + (i % 5000) as u16),
        );
    }
    let start = std::time::Instant::now();
    let (e, _) = fx.emit(8);
    let took = start.elapsed();
    eprintln!("10,000 rules on 200 hosts: {took:?}");
    // Rules i and i + 200k share source, destination and policy: each host has
    // one INPUT and one OUTPUT chain of 50 rules with 25 distinct ports, which
    // the comment limit (255 bytes) packs into two lines.
    assert_eq!(e.rules, 200 * 2 * 2, "two lines per chain");
    // Every rule's port is on a line of its destination's INPUT chain and of
    // its source's OUTPUT chain, and that line's comment names the rule.
    let mut texts = std::collections::HashMap::new();
    for a in &e.artifacts {
        texts.insert(
            a.path.as_str(),
            std::str::from_utf8(&a.contents).expect("utf-8"),
        );
    }
    for (i, rule) in fx.p.rules.iter().enumerate() {
        let (s, d) = (i % 200, (i * 7 + 1) % 200);
        let port = (1000 + i % 5000).to_string();
        let (policy, n) = rule.provenance.id.split_once('#').expect("id");
        for (host, chain, peer) in [
            (d, "-A in-allow-", format!("-s 10.0.{s}.1/32 ")),
            (s, "-A out-allow-", format!("-d 10.0.{d}.1/32 ")),
        ] {
            let text = texts[format!("h{host}.rules").as_str()];
            let found = text.lines().any(|l| {
                let ports = l
                    .split("--dports ")
                    .nth(1)
                    .and_then(|r| r.split(' ').next());
                let comment = l
                    .split("--comment \"")
                    .nth(1)
                    .and_then(|r| r.split('"').next());
                l.starts_with(chain)
                    && l.contains(&peer)
                    && ports.is_some_and(|p| p.split(',').any(|x| x == port))
                    && comment.is_some_and(|c| {
                        c.strip_prefix(policy)
                            .and_then(|r| r.strip_prefix('#'))
                            .is_some_and(|r| r.split(',').any(|x| x == n))
                    })
            });
            assert!(
                found,
                "rule {} (port {port}) not on h{host}:\n{text}",
                rule.provenance.label
            );
        }
    }
}

/// Hosts rendered from several threads give the files, objects and counts
/// of one thread, byte for byte: shares of every size, sets, denies, both
/// families, chains shared between hosts.
#[test]
fn hosts_rendered_in_parallel_give_the_sequential_result() {
    let mut fx = Fx::new();
    let hosts: Vec<IdentityId> = (0..150u32)
        .map(|i| {
            let v4 = format!("10.1.{}.{}/32", i / 200, i % 200);
            let v6 = format!("fd00::{i:x}/128");
            let addrs: Vec<&str> = if i % 3 == 0 {
                vec![&v4, &v6]
            } else {
                vec![&v4]
            };
            fx.id(&format!("h{i}"), &addrs)
        })
        .collect();
    for i in 0..600usize {
        let src: Vec<IdentityId> = (0..1 + i % 5)
            .map(|k| hosts[(i * 13 + k * 7) % 150])
            .collect();
        let action = if i % 11 == 0 {
            Action::Deny
        } else {
            Action::Allow
        };
        let port = 1000 + (i % 40) as u16;
        fx.rule(
            action,
            &format!("p{}", i % 7),
            ids(&src),
            ids(&[hosts[(i * 31 + 5) % 150]]),
            tcp(port, port + (i % 3) as u16),
        );
    }
    let opts = TargetOptions::Iptables(IptablesOptions { ipset_threshold: 3 });
    let emit = |threads: usize| {
        let mut diags = Diagnostics::new();
        let lowered = crate::render::lower_with(&fx.p, &opts, 3, &mut diags, Some(threads));
        let mut bugs = seg_ir::Bugs::default();
        let e = lowered.render(&mut bugs);
        assert_eq!(bugs.into_diagnostics().count(), 0);
        e
    };
    let one = emit(1);
    assert!(one.artifacts.iter().any(|a| a.path.ends_with(".ipset")));
    assert!(one.artifacts.iter().any(|a| a.path.ends_with(".ip6.rules")));
    assert_every_host_has_both_families(&fx.p, &one);
    for threads in [2, 4, 7] {
        let many = emit(threads);
        assert_eq!(one.artifacts, many.artifacts, "{threads} threads");
        assert_eq!(one.objects, many.objects, "{threads} threads");
        assert_eq!(
            (one.rules, &one.notes),
            (many.rules, &many.notes),
            "{threads} threads"
        );
    }
}
