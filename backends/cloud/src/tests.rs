//! Unit tests of the cloud backend on hand-built programs.

use crate::{Aws, Gcp};
use ipnet::IpNet;
use seg_diag::{Code, Diagnostics, FileId, Span};
use seg_ir::backend::{AwsFormat, AwsOptions, Backend, Emission, GcpOptions, TargetOptions};
use seg_ir::capability::{ApproximationKind, prepare};
use seg_ir::program::*;
use seg_ir::{CidrSet, ConditionClass, PortSet, Timestamp};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};

/// The emission's report entries: (kind, target).
fn approximated(e: &Emission) -> Vec<(ApproximationKind, String)> {
    e.approximations
        .iter()
        .map(|a| (a.kind, a.target.clone()))
        .collect()
}

/// A small program builder.
struct Fx {
    p: Program,
}

enum Set<'a> {
    Ids(&'a [IdentityId]),
    Nets(&'a [&'a str]),
    Any,
}

fn span() -> Span {
    Span::new(FileId(0), 0, 1)
}

impl Fx {
    fn new() -> Fx {
        Fx {
            p: Program {
                project: "bank".into(),
                source_hash: "ab".repeat(32),
                now: Timestamp::parse("2026-11-24T00:00:00Z").expect("now"),
                identities: Default::default(),
                rules: Vec::new(),
                omitted: Vec::new(),
                contexts: BTreeMap::new(),
                tests: Vec::new(),
            },
        }
    }

    fn id(
        &mut self,
        name: &str,
        addrs: &[&str],
        aws: Option<Option<&str>>,
        gcp: Option<&str>,
    ) -> IdentityId {
        let id = IdentityId(self.p.identities.len() as u32);
        let mut addresses: Vec<IpNet> = addrs
            .iter()
            .map(|a| a.parse().expect("test address"))
            .collect();
        addresses.sort();
        self.p.identities.push(Identity {
            id,
            name: name.into(),
            kind: IdentityKind::Workload,
            owner: None,
            attributes: BTreeMap::new(),
            labels: BTreeMap::new(),
            addresses,
            kubernetes: None,
            aws: aws.map(|sg| AwsBinding {
                security_group: sg.map(str::to_string),
            }),
            gcp: gcp.map(|s| GcpBinding {
                service_account: s.into(),
            }),
            spiffe: None,
            origin: span(),
        });
        id
    }

    fn set(&self, s: Set) -> EndpointSet {
        let mut set = match s {
            Set::Ids(ids) => EndpointSet {
                identities: ids.iter().copied().collect(),
                explicit: ids.iter().copied().collect(),
                networks: CidrSet::empty(),
            },
            Set::Nets(nets) => {
                let nets: Vec<IpNet> = nets
                    .iter()
                    .map(|n| n.parse().expect("test network"))
                    .collect();
                EndpointSet {
                    networks: CidrSet::from_nets(&nets),
                    ..EndpointSet::default()
                }
            }
            Set::Any => EndpointSet {
                identities: self.p.identities.iter().map(|i| i.id).collect(),
                explicit: BTreeSet::new(),
                networks: CidrSet::all(),
            },
        };
        for i in &self.p.identities {
            if i.addresses
                .iter()
                .any(|a| set.networks.overlaps(&CidrSet::from_net(*a)))
            {
                set.identities.insert(i.id);
            }
        }
        set
    }

    fn rule(
        &mut self,
        action: Action,
        src: Set,
        dst: Set,
        services: PortSet,
        condition: Condition,
    ) -> RuleId {
        let id = RuleId(self.p.rules.len() as u32);
        let (src, dst) = (self.set(src), self.set(dst));
        let n = id.0 + 1;
        self.p.rules.push(Rule {
            id,
            action,
            src,
            dst,
            services,
            condition,
            expires: None,
            provenance: Provenance {
                label: format!("net/{n}"),
                id: format!("net#{n}"),
                file: "policy/net.seg".into(),
                line: 10 + n,
                column: 3,
                policy: "net".into(),
                owner: Some("team".into()),
                doc: Some(format!("Rule number {n}.")),
                reason: None,
                origin: span(),
            },
        });
        id
    }

    fn allow(&mut self, src: Set, dst: Set, services: PortSet) -> RuleId {
        self.rule(Action::Allow, src, dst, services, Condition::True)
    }

    fn deny(&mut self, src: Set, dst: Set, services: PortSet) -> RuleId {
        self.rule(Action::Deny, src, dst, services, Condition::True)
    }
}

fn tcp(lo: u16, hi: u16) -> PortSet {
    PortSet::ports(Protocol::Tcp, lo, hi)
}

fn aws_options(formats: &[AwsFormat], max: usize, groups: usize) -> TargetOptions {
    TargetOptions::Aws(AwsOptions {
        formats: formats.to_vec(),
        max_rules_per_group: max,
        max_groups_per_interface: groups,
        vpc_id: None,
    })
}

fn both() -> TargetOptions {
    aws_options(&[AwsFormat::Terraform, AwsFormat::CloudFormation], 60, 5)
}

fn gcp_options() -> TargetOptions {
    TargetOptions::Gcp(GcpOptions {
        network: "bank-prod".into(),
    })
}

/// Prepare for the target (as the driver does), then emit.
fn run(b: &dyn Backend, p: &Program, o: &TargetOptions) -> (Emission, Diagnostics) {
    let mut d = Diagnostics::new();
    let prepared = prepare(p, b, &[ConditionClass::Mtls], &mut d);
    let e = b.emit(&prepared.program, o, &mut d);
    (e, d)
}

fn file(e: &Emission, path: &str) -> Json {
    let a = e
        .artifacts
        .iter()
        .find(|a| a.path == path)
        .unwrap_or_else(|| panic!("no {path}"));
    serde_json::from_slice(&a.contents).expect("valid JSON")
}

fn text(e: &Emission) -> String {
    e.artifacts
        .iter()
        .map(|a| format!("//// {}\n{}", a.path, String::from_utf8_lossy(&a.contents)))
        .collect()
}

fn codes(d: &Diagnostics) -> Vec<&'static str> {
    d.iter().filter_map(|x| x.code.map(Code::as_str)).collect()
}

/// (peer, protocol, from, to) of every inbound (`in`) or outbound rule in main.tf.json.
fn tf_rules(e: &Emission, dir: &str) -> Vec<(String, String, i64, i64)> {
    let kind = if dir == "in" {
        "aws_vpc_security_group_ingress_rule"
    } else {
        "aws_vpc_security_group_egress_rule"
    };
    let main = file(e, "main.tf.json");
    let Some(rules) = main["resource"][kind].as_object() else {
        return Vec::new();
    };
    let mut out: Vec<_> = rules
        .values()
        .map(|r| {
            let peer = ["cidr_ipv4", "cidr_ipv6", "referenced_security_group_id"]
                .iter()
                .find_map(|k| r[*k].as_str())
                .unwrap_or("?");
            (
                peer.to_string(),
                r["ip_protocol"].as_str().unwrap_or("?").to_string(),
                r["from_port"].as_i64().unwrap_or(-9),
                r["to_port"].as_i64().unwrap_or(-9),
            )
        })
        .collect();
    out.sort();
    out
}

/// The bank example's shape, by hand.
fn bank() -> Fx {
    let mut f = Fx::new();
    let api = f.id(
        "payments-api",
        &["10.1.2.10/32", "10.1.2.11/32"],
        Some(None),
        Some("payments-api@bank-prod.iam.gserviceaccount.com"),
    );
    let worker = f.id(
        "payments-worker",
        &["10.1.2.20/32"],
        None,
        Some("payments-worker@bank-prod.iam.gserviceaccount.com"),
    );
    let pg = f.id(
        "ledger-postgres",
        &["10.1.3.5/32"],
        Some(Some("sg-0a1b2c3d4e5f60718")),
        None,
    );
    let replica = f.id("ledger-replica", &["10.1.3.6/32"], Some(None), None);
    let dns = f.id("kube-dns", &["10.1.0.10/32"], None, None);
    f.rule(
        Action::Allow,
        Set::Ids(&[api, worker]),
        Set::Ids(&[pg, replica]),
        tcp(5432, 5432),
        Condition::Atom(Atom::Mtls),
    );
    f.allow(
        Set::Nets(&["203.0.113.0/24", "198.51.100.0/24"]),
        Set::Ids(&[api]),
        tcp(8443, 8443).union(&tcp(443, 443)),
    );
    f.allow(
        Set::Ids(&[api, worker]),
        Set::Ids(&[dns]),
        PortSet::ports(Protocol::Udp, 53, 53).union(&tcp(53, 53)),
    );
    f.deny(
        Set::Any,
        Set::Nets(&["169.254.169.254/32", "fd00:ec2::254/128"]),
        PortSet::any(),
    );
    f
}

#[test]
fn bank_on_aws() {
    let f = bank();
    let (e, d) = run(&Aws, &f.p, &both());
    assert!(!d.has_errors(), "{:?}", d.iter().collect::<Vec<_>>());
    insta::assert_snapshot!("bank_aws", text(&e));
    assert_eq!(
        e.artifacts
            .iter()
            .map(|a| a.path.as_str())
            .collect::<Vec<_>>(),
        ["main.tf.json", "template.json", "versions.tf.json"]
    );
    // ledger-postgres's existing group admits payments-api's group and payments-worker's address.
    let inbound = tf_rules(&e, "in");
    assert!(inbound.contains(&(
        "${aws_security_group.sg_payments_api.id}".into(),
        "tcp".into(),
        5432,
        5432
    )));
    assert!(inbound.contains(&("10.1.2.20/32".into(), "tcp".into(), 5432, 5432)));
    assert!(inbound.contains(&("203.0.113.0/24".into(), "tcp".into(), 8443, 8443)));
    let outbound = tf_rules(&e, "out");
    assert!(outbound.contains(&("sg-0a1b2c3d4e5f60718".into(), "tcp".into(), 5432, 5432)));
    assert!(outbound.contains(&("10.1.0.10/32".into(), "udp".into(), 53, 53)));
    assert!(e.notes.iter().any(|n| n.contains("instance metadata")));
}

#[test]
fn bank_on_gcp() {
    let f = bank();
    let (e, d) = run(&Gcp, &f.p, &gcp_options());
    assert!(!d.has_errors(), "{:?}", d.iter().collect::<Vec<_>>());
    insta::assert_snapshot!("bank_gcp", text(&e));
    let list = file(&e, "firewalls.json");
    let items = list["items"].as_array().expect("items");
    let prio = |deny: bool| {
        items
            .iter()
            .filter(|i| i.get(if deny { "denied" } else { "allowed" }).is_some())
            .map(|i| i["priority"].as_u64().unwrap_or(0))
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(prio(false), BTreeSet::from([2000]));
    assert_eq!(prio(true), BTreeSet::from([1000, 65534]));
    // The default deny closes both directions.
    for dir in ["INGRESS", "EGRESS"] {
        assert!(
            items
                .iter()
                .any(|i| i["priority"] == 65534 && i["direction"] == dir)
        );
    }
    for i in items {
        let name = i["name"].as_str().expect("name");
        assert!(crate::gcp::valid_name(name), "{name}");
    }
}

#[test]
fn denies_carve_cidrs_and_ports() {
    let mut f = Fx::new();
    let web = f.id("web", &["10.2.0.1/32"], Some(None), None);
    f.allow(
        Set::Nets(&["10.0.0.0/8"]),
        Set::Ids(&[web]),
        tcp(8000, 8099),
    );
    f.deny(
        Set::Nets(&["10.128.0.0/9"]),
        Set::Ids(&[web]),
        tcp(8000, 8099),
    );
    f.deny(Set::Any, Set::Ids(&[web]), tcp(8050, 8050));
    let (e, d) = run(&Aws, &f.p, &aws_options(&[AwsFormat::Terraform], 60, 5));
    assert!(!d.has_errors());
    let inbound = tf_rules(&e, "in");
    assert_eq!(
        inbound,
        vec![
            ("10.0.0.0/9".to_string(), "tcp".to_string(), 8000, 8049),
            ("10.0.0.0/9".to_string(), "tcp".to_string(), 8051, 8099),
        ]
    );
}

#[test]
fn any_but_one_protocol_fails_closed_for_other_protocols() {
    let mut f = Fx::new();
    let a = f.id("a", &["10.0.0.1/32"], Some(None), None);
    let b = f.id("b", &["10.0.0.2/32", "fd00::2/128"], Some(None), None);
    f.allow(Set::Ids(&[a]), Set::Ids(&[b]), PortSet::any());
    f.deny(Set::Ids(&[a]), Set::Ids(&[b]), tcp(22, 22));
    let (e, d) = run(&Aws, &f.p, &aws_options(&[AwsFormat::Terraform], 60, 5));
    assert_eq!(codes(&d), ["W0402"], "the other protocols are reported");
    assert_eq!(
        approximated(&e),
        [(ApproximationKind::Narrowed, "aws".to_string())],
        "the report lists the narrowing"
    );
    assert!(
        e.approximations[0].reason.contains("other"),
        "{:?}",
        e.approximations
    );
    let inbound = tf_rules(&e, "in");
    let protos: Vec<_> = inbound.iter().map(|r| (r.1.as_str(), r.2, r.3)).collect();
    assert_eq!(
        protos,
        [
            ("132", -9, -9),
            ("icmp", -1, -1),
            ("tcp", 0, 21),
            ("tcp", 23, 65535),
            ("udp", 0, 65535)
        ]
    );
    assert!(!inbound.iter().any(|r| r.1 == "-1"), "-1 only for `any`");
    // a has only IPv4 addresses: no ICMPv6 rule towards it is needed.
    assert!(!inbound.iter().any(|r| r.1 == "icmpv6"));
}

#[test]
fn icmp_per_family_and_minus_one_for_any() {
    let mut f = Fx::new();
    let a = f.id("a", &["10.0.0.1/32"], Some(None), None);
    f.allow(
        Set::Nets(&["192.0.2.0/24", "2001:db8::/32"]),
        Set::Ids(&[a]),
        PortSet::icmp(),
    );
    f.allow(
        Set::Nets(&["198.51.100.0/24"]),
        Set::Ids(&[a]),
        PortSet::any(),
    );
    let (e, _) = run(&Aws, &f.p, &aws_options(&[AwsFormat::Terraform], 60, 5));
    assert_eq!(
        tf_rules(&e, "in"),
        vec![
            ("192.0.2.0/24".into(), "icmp".into(), -1, -1),
            ("198.51.100.0/24".into(), "-1".into(), -9, -9),
            ("2001:db8::/32".into(), "icmpv6".into(), -9, -9),
        ]
    );
}

#[test]
fn duplicate_and_covered_rules_merge() {
    let mut f = Fx::new();
    let a = f.id("a", &["10.0.0.1/32"], Some(None), None);
    let b = f.id("b", &["10.0.1.1/32"], None, None);
    f.allow(Set::Ids(&[b]), Set::Ids(&[a]), tcp(443, 443));
    f.allow(Set::Ids(&[b]), Set::Ids(&[a]), tcp(443, 443));
    f.allow(Set::Nets(&["10.0.1.0/24"]), Set::Ids(&[a]), tcp(0, 65535));
    f.allow(Set::Nets(&["10.0.1.0/25"]), Set::Ids(&[a]), tcp(80, 80));
    let (e, _) = run(&Aws, &f.p, &aws_options(&[AwsFormat::Terraform], 60, 5));
    assert_eq!(
        tf_rules(&e, "in"),
        vec![("10.0.1.0/24".into(), "tcp".into(), 0, 65535)]
    );
    let main = file(&e, "main.tf.json");
    let rule = main["resource"]["aws_vpc_security_group_ingress_rule"]
        .as_object()
        .and_then(|m| m.values().next().cloned())
        .expect("a rule");
    let description = rule["description"].as_str().expect("description");
    assert!(description.contains("net#3"), "{description}");
}

#[test]
fn quota_errors_name_the_group_and_the_count() {
    let mut f = Fx::new();
    let existing = f.id(
        "db",
        &["10.9.0.1/32"],
        Some(Some("sg-0123456789abcdef0")),
        None,
    );
    let created = f.id("app", &["10.9.0.2/32"], Some(None), None);
    let many: Vec<String> = (0..7).map(|i| format!("192.0.2.{}/32", i * 2)).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    f.allow(
        Set::Nets(&many),
        Set::Ids(&[existing, created]),
        tcp(5432, 5432),
    );
    // Created groups spill over into parts.
    let (e, d) = run(&Aws, &f.p, &aws_options(&[AwsFormat::Terraform], 3, 5));
    let errors: Vec<_> = d.iter().filter(|x| x.is_error()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].code, Some(Code::TargetQuotaExceeded));
    assert!(
        errors[0].message.contains("sg-0123456789abcdef0"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[0]
            .notes
            .iter()
            .any(|n| n.contains("inbound: 7 IPv4")),
        "{:?}",
        errors[0].notes
    );
    assert!(e.artifacts.is_empty(), "no files on error");
    // Without the existing group: app needs ceil(7/3) = 3 groups.
    f.p.identities[existing.0 as usize].aws = None;
    let (e, d) = run(&Aws, &f.p, &aws_options(&[AwsFormat::Terraform], 3, 5));
    assert!(!d.has_errors());
    let main = file(&e, "main.tf.json");
    let groups = main["resource"]["aws_security_group"]
        .as_object()
        .expect("groups");
    assert_eq!(
        groups.keys().collect::<Vec<_>>(),
        ["sg_app", "sg_app_part2", "sg_app_part3"]
    );
    assert_eq!(
        main["output"]["security_groups"]["value"][0]["security_group_ids"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    // More groups than an interface carries.
    let (_, d) = run(&Aws, &f.p, &aws_options(&[AwsFormat::Terraform], 3, 2));
    let e403: Vec<_> = d
        .iter()
        .filter(|x| x.code == Some(Code::TargetQuotaExceeded))
        .collect();
    assert_eq!(e403.len(), 1);
    assert!(
        e403[0].message.contains("`app` needs 3 security groups"),
        "{}",
        e403[0].message
    );
}

#[test]
fn group_references_count_for_both_families() {
    let mut f = Fx::new();
    let target = f.id("t", &["10.0.0.1/32"], Some(None), None);
    let peers: Vec<IdentityId> = (0..3)
        .map(|i| f.id(&format!("p{i}"), &[], Some(None), None))
        .collect();
    f.allow(Set::Ids(&peers), Set::Ids(&[target]), tcp(1, 1));
    f.allow(Set::Nets(&["fd00::/64"]), Set::Ids(&[target]), tcp(1, 1));
    // 3 references + 1 IPv6 CIDR = 4 IPv6 rules: over a limit of 3.
    let (e, d) = run(&Aws, &f.p, &aws_options(&[AwsFormat::Terraform], 3, 5));
    assert!(!d.has_errors());
    let main = file(&e, "main.tf.json");
    assert_eq!(
        main["resource"]["aws_security_group"]
            .as_object()
            .map(|g| g.len()),
        Some(5),
        "t spills into a second group"
    );
}

#[test]
fn hostile_names_stay_inside_the_structure() {
    let mut f = Fx::new();
    let long = "x".repeat(10_000);
    let evil = [
        "\"; drop ${var.x} %{if}\n/../sg-1\u{0}",
        "sg-abc",
        "а-cyrillic",
        long.as_str(),
        "Sg-A",
        "sg-abc ",
    ];
    let ids: Vec<IdentityId> = evil
        .iter()
        .enumerate()
        .map(|(i, n)| {
            f.id(
                n,
                &[&format!("10.0.0.{}/32", i + 1)],
                Some(None),
                Some(&format!("s{i}@p.iam.gserviceaccount.com")),
            )
        })
        .collect();
    f.p.rules.clear();
    f.allow(Set::Ids(&ids), Set::Ids(&ids), tcp(443, 443));
    f.p.rules[0].provenance.doc = Some("quotes \" and -> arrows <b> & ${x} \u{202e}".into());
    f.p.rules[0].provenance.label = "p\"/1\n".into();
    for (b, o) in [
        (&Aws as &dyn Backend, both()),
        (&Gcp as &dyn Backend, gcp_options()),
    ] {
        let (e, d) = run(b, &f.p, &o);
        assert!(!d.has_errors(), "{:?}", d.iter().collect::<Vec<_>>());
        for a in &e.artifacts {
            let v: Json = serde_json::from_slice(&a.contents).expect("valid JSON");
            let s = String::from_utf8_lossy(&a.contents);
            if a.path.ends_with(".tf.json") {
                assert!(
                    !s.contains("drop ${var.x}"),
                    "unescaped interpolation in {}",
                    a.path
                );
            }
            assert!(!a.path.contains('/') && !a.path.contains(".."));
            drop(v);
        }
    }
    let (e, _) = run(&Aws, &f.p, &both());
    let template = file(&e, "template.json");
    let mut names = BTreeSet::new();
    for (_, r) in template["Resources"].as_object().expect("resources") {
        let p = &r["Properties"];
        if let Some(n) = p["GroupName"].as_str() {
            assert!(
                !n.to_ascii_lowercase().starts_with("sg-") && n.len() <= 255,
                "{n}"
            );
            assert!(n.chars().all(crate::aws::aws_char), "{n}");
            assert!(
                names.insert(n.to_ascii_lowercase()),
                "group names are unique: {n}"
            );
        }
        for key in ["Description", "GroupDescription"] {
            if let Some(t) = p[key].as_str() {
                assert!(t.len() <= 255 && t.chars().all(crate::aws::aws_char), "{t}");
            }
        }
    }
    assert_eq!(names.len(), evil.len());
}

#[test]
fn options_and_bindings_are_checked() {
    let mut f = Fx::new();
    f.id(
        "a",
        &[],
        Some(Some("sg-0123456789abcdef0")),
        Some("a@p.iam.gserviceaccount.com"),
    );
    f.id(
        "b",
        &[],
        Some(Some("sg-0123456789abcdef0")),
        Some("a@p.iam.gserviceaccount.com"),
    );
    f.id("c", &[], Some(Some("sg-XYZ")), Some("not an email"));
    let bad = TargetOptions::Aws(AwsOptions {
        formats: vec![],
        max_rules_per_group: 0,
        max_groups_per_interface: 17,
        vpc_id: Some("vpc-1".into()),
    });
    let (e, d) = run(&Aws, &f.p, &bad);
    assert!(e.artifacts.is_empty());
    let c = codes(&d);
    assert_eq!(c.iter().filter(|c| **c == "E0404").count(), 4, "{c:?}");
    assert_eq!(
        c.iter().filter(|c| **c == "E0402").count(),
        2,
        "shared and malformed groups: {c:?}"
    );
    let (e, d) = run(
        &Gcp,
        &f.p,
        &TargetOptions::Gcp(GcpOptions {
            network: "Bad_Net".into(),
        }),
    );
    assert!(e.artifacts.is_empty());
    let c = codes(&d);
    assert_eq!(c.iter().filter(|c| **c == "E0404").count(), 1, "{c:?}");
    assert_eq!(c.iter().filter(|c| **c == "E0402").count(), 2, "{c:?}");
}

#[test]
fn runtime_conditions_that_reach_the_backend_fail_closed() {
    let mut f = Fx::new();
    let a = f.id(
        "a",
        &["10.0.0.1/32"],
        Some(None),
        Some("a@p.iam.gserviceaccount.com"),
    );
    f.rule(
        Action::Allow,
        Set::Nets(&["192.0.2.0/24"]),
        Set::Ids(&[a]),
        tcp(22, 22),
        Condition::Atom(Atom::Mtls),
    );
    f.rule(
        Action::Deny,
        Set::Nets(&["192.0.2.0/25"]),
        Set::Ids(&[a]),
        tcp(80, 80),
        Condition::Atom(Atom::Mtls),
    );
    f.allow(Set::Nets(&["192.0.2.0/24"]), Set::Ids(&[a]), tcp(80, 80));
    // Straight to emit, without the capability pass.
    let mut d = Diagnostics::new();
    let e = Aws.emit(&f.p, &aws_options(&[AwsFormat::Terraform], 60, 5), &mut d);
    assert_eq!(codes(&d), ["W0401", "W0403"]);
    assert_eq!(
        tf_rules(&e, "in"),
        vec![("192.0.2.128/25".into(), "tcp".into(), 80, 80)]
    );
    let mut d = Diagnostics::new();
    let e = Gcp.emit(&f.p, &gcp_options(), &mut d);
    assert_eq!(codes(&d), ["W0401", "W0403"]);
    let list = file(&e, "firewalls.json");
    let items = list["items"].as_array().expect("items");
    assert!(!items.iter().any(|i| i["allowed"][0]["ports"][0] == "22"));
    assert!(
        items
            .iter()
            .any(|i| i["denied"][0]["ports"][0] == "80" && i["priority"] == 1000)
    );
}

#[test]
fn gcp_splits_accounts_and_families() {
    let mut f = Fx::new();
    let many: Vec<IdentityId> = (0..12)
        .map(|i| {
            f.id(
                &format!("w{i}"),
                &[],
                None,
                Some(&format!("w{i}@p.iam.gserviceaccount.com")),
            )
        })
        .collect();
    let db = f.id(
        "db",
        &["10.0.0.5/32", "fd00::5/128"],
        None,
        Some("db@p.iam.gserviceaccount.com"),
    );
    let ghost = f.id("ghost", &[], None, Some("ghost@p.iam.gserviceaccount.com"));
    f.allow(Set::Ids(&many), Set::Ids(&[db]), tcp(5432, 5432));
    f.allow(Set::Ids(&[db]), Set::Ids(&[ghost]), tcp(9, 9));
    f.allow(
        Set::Nets(&["192.0.2.0/24", "2001:db8::/32"]),
        Set::Ids(&[db]),
        PortSet::icmp(),
    );
    let (e, d) = run(&Gcp, &f.p, &gcp_options());
    assert_eq!(
        codes(&d),
        ["W0402"],
        "egress to an address-less destination is reported"
    );
    assert_eq!(
        approximated(&e),
        [(ApproximationKind::Narrowed, "gcp".to_string())],
        "the report lists the narrowing"
    );
    assert!(
        e.approximations[0].reason.contains("`ghost`"),
        "{:?}",
        e.approximations
    );
    let list = file(&e, "firewalls.json");
    let items = list["items"].as_array().expect("items");
    let sa_rules: Vec<_> = items
        .iter()
        .filter(|i| i["sourceServiceAccounts"].is_array())
        .collect();
    assert_eq!(
        sa_rules
            .iter()
            .map(|i| i["sourceServiceAccounts"].as_array().map_or(0, Vec::len))
            .collect::<Vec<_>>(),
        [10, 2, 1]
    );
    for i in items {
        let ranges = i["sourceRanges"]
            .as_array()
            .or(i["destinationRanges"].as_array())
            .cloned()
            .unwrap_or_default();
        let v6 = ranges
            .iter()
            .filter(|r| r.as_str().is_some_and(|s| s.contains(':')))
            .count();
        assert!(v6 == 0 || v6 == ranges.len(), "one family per rule: {i}");
        assert!(
            i["targetServiceAccounts"]
                .as_array()
                .is_some_and(|t| !t.is_empty() && t.len() <= 10)
        );
    }
    let icmp: BTreeSet<String> = items
        .iter()
        .filter(|i| i["priority"] == 2000 && i["sourceRanges"].is_array())
        .map(|i| format!("{} {}", i["sourceRanges"][0], i["allowed"][0]["IPProtocol"]))
        .collect();
    assert_eq!(
        icmp,
        BTreeSet::from([
            "\"192.0.2.0/24\" \"icmp\"".to_string(),
            "\"2001:db8::/32\" \"58\"".to_string()
        ])
    );
}

#[test]
fn gcp_merges_rules_between_the_same_ends() {
    // One rule per port between the same ends: one firewall rule per direction,
    // with every port and both rules in its description; a deny stays apart.
    let mut f = Fx::new();
    let api = f.id(
        "api",
        &["10.0.0.1/32"],
        None,
        Some("api@p.iam.gserviceaccount.com"),
    );
    let db = f.id(
        "db",
        &["10.0.0.2/32"],
        None,
        Some("db@p.iam.gserviceaccount.com"),
    );
    f.allow(Set::Ids(&[api]), Set::Ids(&[db]), tcp(5432, 5432));
    f.allow(Set::Ids(&[api]), Set::Ids(&[db]), tcp(5433, 5440));
    f.allow(Set::Ids(&[api]), Set::Ids(&[db]), PortSet::icmp());
    f.deny(Set::Ids(&[api]), Set::Ids(&[db]), tcp(5439, 5439));
    let (e, d) = run(&Gcp, &f.p, &gcp_options());
    assert!(!d.has_errors());
    let list = file(&e, "firewalls.json");
    let items = list["items"].as_array().expect("items");
    let allows: Vec<_> = items.iter().filter(|i| i["priority"] == 2000).collect();
    assert_eq!(
        allows.len(),
        2,
        "one ingress and one egress allow: {allows:?}"
    );
    for a in &allows {
        assert_eq!(a["allowed"][0]["IPProtocol"], "tcp");
        assert_eq!(a["allowed"][0]["ports"], serde_json::json!(["5432-5440"]));
        assert_eq!(a["allowed"][1]["IPProtocol"], "icmp");
        let text = a["description"].as_str().expect("description");
        assert_eq!(text.matches("net#").count(), 3, "{text}");
    }
    let denies: Vec<_> = items.iter().filter(|i| i["priority"] == 1000).collect();
    assert_eq!(denies.len(), 2);
    assert!(
        denies
            .iter()
            .all(|i| i["denied"][0]["ports"] == serde_json::json!(["5439"]))
    );
}

#[test]
fn output_is_deterministic() {
    let f = bank();
    for (b, o) in [
        (&Aws as &dyn Backend, both()),
        (&Gcp as &dyn Backend, gcp_options()),
    ] {
        let (a, _) = run(b, &f.p, &o);
        let (c, _) = run(b, &f.p, &o);
        assert_eq!(a.artifacts, c.artifacts);
        assert!(
            a.artifacts
                .iter()
                .all(|x| String::from_utf8_lossy(&x.contents).contains("generated: do not edit"))
        );
    }
}

#[test]
fn nothing_managed_writes_no_groups() {
    let mut f = Fx::new();
    let a = f.id("a", &["10.0.0.1/32"], None, None);
    f.allow(Set::Any, Set::Ids(&[a]), tcp(1, 1));
    let (e, d) = run(&Aws, &f.p, &both());
    assert!(codes(&d).contains(&"W0405"));
    assert!(
        file(&e, "main.tf.json")["resource"]
            .as_object()
            .is_some_and(|r| r.is_empty())
    );
    assert!(file(&e, "template.json")["Resources"]["SegNothingToManage"].is_object());
}

#[test]
fn gcp_refuses_accounts_past_the_email_limits() {
    for (sa, ok) in [
        (
            format!("{}@p.iam.gserviceaccount.com", "a".repeat(64)),
            true,
        ),
        (
            format!("{}@p.iam.gserviceaccount.com", "a".repeat(65)),
            false,
        ),
        (format!("a@{}.com", "p".repeat(250)), false),
        ("no-at-sign".to_string(), false),
    ] {
        let mut f = Fx::new();
        let a = f.id("a", &["10.0.0.1/32"], None, Some(&sa));
        let b = f.id("b", &["10.0.0.2/32"], None, None);
        f.allow(Set::Ids(&[a]), Set::Ids(&[b]), tcp(22, 22));
        let (e, d) = run(&Gcp, &f.p, &gcp_options());
        assert_eq!(!d.has_errors(), ok, "{sa}: {:?}", codes(&d));
        assert_eq!(e.artifacts.is_empty(), !ok, "{sa}");
        if !ok {
            assert_eq!(codes(&d), ["E0402"], "{sa}");
        }
    }
}
