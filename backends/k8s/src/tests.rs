//! Unit tests on hand-built programs: lowering, fail-closed choices,
//! diagnostics and the files written (insta snapshots).

use crate::Kubernetes;
use seg_diag::{Code, Diagnostics, FileId, Span};
use seg_ir::backend::KubernetesOptions;
use seg_ir::capability::ApproximationKind;
use seg_ir::{
    Action, Backend, CidrSet, Condition, Emission, EndpointSet, Identity, IdentityId, IdentityKind,
    KubernetesBinding, PortSet, Program, Protocol, Provenance, Rule, RuleId, TargetOptions,
    Timestamp,
};
use std::collections::{BTreeMap, BTreeSet};

/// A small program builder.
struct Fx {
    p: Program,
}

enum M<'a> {
    Id(&'a str),
    Net(&'a str),
}

impl Fx {
    fn new() -> Fx {
        Fx {
            p: Program {
                project: "fx".into(),
                source_hash: "ab".repeat(32),
                now: Timestamp(1_795_000_000),
                identities: Default::default(),
                rules: Vec::new(),
                omitted: Vec::new(),
                contexts: BTreeMap::new(),
                tests: Vec::new(),
            },
        }
    }

    fn identity(
        &mut self,
        name: &str,
        addrs: &[&str],
        k8s: Option<(&str, &[(&str, &str)])>,
    ) -> IdentityId {
        let id = IdentityId(self.p.identities.len() as u32);
        self.p.identities.push(Identity {
            id,
            name: name.into(),
            kind: IdentityKind::Workload,
            owner: None,
            attributes: BTreeMap::new(),
            labels: BTreeMap::new(),
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            kubernetes: k8s.map(|(ns, labels)| KubernetesBinding {
                namespace: ns.into(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                service_account: None,
            }),
            aws: None,
            gcp: None,
            spiffe: None,
            origin: Span::new(FileId(1), id.0 as usize * 10, id.0 as usize * 10 + 4),
        });
        id
    }

    fn pod(&mut self, name: &str, ns: &str, labels: &[(&str, &str)]) -> IdentityId {
        self.identity(name, &[], Some((ns, labels)))
    }

    fn set(&self, members: &[M]) -> EndpointSet {
        let mut s = EndpointSet::default();
        for m in members {
            match m {
                M::Id(n) => {
                    let id = self.p.identity_by_name(n).expect("fixture identity").id;
                    s.identities.insert(id);
                    s.explicit.insert(id);
                }
                M::Net(n) => s.networks = s.networks.union(&CidrSet::from_net(n.parse().unwrap())),
            }
        }
        // Invariant: identities include every identity the networks overlap.
        for i in &self.p.identities {
            if i.addresses
                .iter()
                .any(|a| s.networks.overlaps(&CidrSet::from_net(*a)))
            {
                s.identities.insert(i.id);
            }
        }
        s
    }

    fn any(&self) -> EndpointSet {
        EndpointSet {
            identities: self.p.identities.iter().map(|i| i.id).collect(),
            explicit: BTreeSet::new(),
            networks: CidrSet::all(),
        }
    }

    fn rule(
        &mut self,
        action: Action,
        src: EndpointSet,
        dst: EndpointSet,
        services: PortSet,
    ) -> RuleId {
        self.rule_when(action, src, dst, services, Condition::True)
    }

    fn rule_when(
        &mut self,
        action: Action,
        src: EndpointSet,
        dst: EndpointSet,
        services: PortSet,
        condition: Condition,
    ) -> RuleId {
        let id = RuleId(self.p.rules.len() as u32);
        let line = 10 + id.0;
        self.p.rules.push(Rule {
            id,
            action,
            src,
            dst,
            services,
            condition,
            expires: None,
            provenance: Provenance {
                label: format!("fx/{}", id.0 + 1),
                id: format!("fx#{}", id.0 + 1),
                file: "policy/fx.seg".into(),
                line,
                column: 3,
                policy: "fx".into(),
                owner: None,
                doc: None,
                reason: None,
                origin: Span::new(FileId(0), line as usize * 20, line as usize * 20 + 10),
            },
        });
        id
    }

    fn emit(&self) -> (Emission, Diagnostics) {
        self.emit_with(KubernetesOptions::default())
    }

    fn emit_with(&self, options: KubernetesOptions) -> (Emission, Diagnostics) {
        let mut d = Diagnostics::new();
        let e = Kubernetes.emit(&self.p, &TargetOptions::Kubernetes(options), &mut d);
        (e, d)
    }
}

fn tcp(lo: u16, hi: u16) -> PortSet {
    PortSet::ports(Protocol::Tcp, lo, hi)
}

fn udp(p: u16) -> PortSet {
    PortSet::ports(Protocol::Udp, p, p)
}

/// Every file as `//// path` + contents, then the diagnostics.
fn dump(e: &Emission, d: &Diagnostics) -> String {
    let mut s = String::new();
    for a in &e.artifacts {
        s.push_str(&format!(
            "//// {}\n{}\n",
            a.path,
            String::from_utf8_lossy(&a.contents)
        ));
    }
    s.push_str("//// diagnostics\n");
    for x in d.iter() {
        s.push_str(&format!(
            "{} {}\n",
            x.code.map_or("-", |c| c.as_str()),
            x.message
        ));
    }
    s.push_str(&format!("//// notes\n{}\n", e.notes.join("\n")));
    s
}

fn file<'e>(e: &'e Emission, path: &str) -> &'e str {
    let a = e
        .artifacts
        .iter()
        .find(|a| a.path == path)
        .unwrap_or_else(|| panic!("no {path} in {:?}", paths(e)));
    std::str::from_utf8(&a.contents).unwrap()
}

fn paths(e: &Emission) -> Vec<&str> {
    e.artifacts.iter().map(|a| a.path.as_str()).collect()
}

fn codes(d: &Diagnostics) -> Vec<Code> {
    d.iter().filter_map(|x| x.code).collect()
}

/// The bank example, lowered by hand as the checker would (mTLS layered,
/// the time-windowed CI rule omitted by the capability pass).
fn bank() -> Fx {
    use M::*;
    let mut f = Fx::new();
    f.identity(
        "payments-api",
        &["10.1.2.10/32", "10.1.2.11/32"],
        Some(("payments", &[("app", "payments-api")])),
    );
    f.identity(
        "payments-worker",
        &["10.1.2.20/32"],
        Some(("payments", &[("app", "payments-worker")])),
    );
    f.identity(
        "payments-sandbox",
        &["10.9.2.30/32"],
        Some(("payments-dev", &[("app", "payments-api")])),
    );
    f.identity("ledger-postgres", &["10.1.3.5/32"], None);
    f.identity("ledger-replica", &["10.1.3.6/32"], None);
    f.identity(
        "web-frontend",
        &["10.1.1.10/32"],
        Some(("web", &[("app", "web-frontend")])),
    );
    f.identity(
        "kube-dns",
        &["10.1.0.10/32"],
        Some(("kube-system", &[("k8s-app", "kube-dns")])),
    );
    f.identity("migrator-job", &["10.1.9.50/32"], None);
    let payments = f.set(&[Id("payments-api"), Id("payments-worker")]);
    let ledger = f.set(&[Id("ledger-postgres"), Id("ledger-replica")]);
    f.rule(Action::Allow, payments.clone(), ledger, tcp(5432, 5432));
    let partners = f.set(&[Net("203.0.113.0/24"), Net("198.51.100.0/24")]);
    let api = f.set(&[Id("payments-api")]);
    f.rule(
        Action::Allow,
        partners,
        api,
        tcp(8443, 8443).union(&tcp(443, 443)),
    );
    let dns = f.set(&[Id("kube-dns")]);
    f.rule(Action::Allow, payments, dns, udp(53).union(&tcp(53, 53)));
    let any = f.any();
    let metadata = f.set(&[Net("169.254.169.254/32"), Net("fd00:ec2::254/128")]);
    f.rule(Action::Deny, any, metadata, PortSet::any());
    f
}

#[test]
fn bank_example() {
    let (e, d) = bank().emit();
    insta::assert_snapshot!(dump(&e, &d));
    assert_eq!(
        paths(&e),
        [
            "applyset-crd.yaml",
            "applyset.yaml",
            "kube-system/seg-allow-kube-dns.yaml",
            "kustomization.yaml",
            "payments-dev/seg-default-deny-fx.yaml",
            "payments/seg-allow-payments-api.yaml",
            "payments/seg-allow-payments-worker.yaml",
            "payments/seg-default-deny-fx.yaml",
            "web/seg-default-deny-fx.yaml",
        ]
    );
    // Three namespaces cannot resolve names; payments can.
    let dns: Vec<&str> = d
        .iter()
        .filter(|x| x.code == Some(Code::NoDnsEgress))
        .map(|x| x.message.as_str())
        .collect();
    assert_eq!(
        dns,
        [
            "pods in namespace `kube-system` cannot reach dns",
            "pods in namespace `payments-dev` cannot reach dns",
            "pods in namespace `web` cannot reach dns",
        ]
    );
    assert!(!d.has_errors());
}

#[test]
fn output_is_deterministic() {
    let (a, _) = bank().emit();
    let (b, _) = bank().emit();
    assert_eq!(a.artifacts, b.artifacts);
}

#[test]
fn denies_become_ip_block_excepts_and_identity_differences() {
    use M::*;
    let mut f = Fx::new();
    f.pod("api", "shop", &[("app", "api")]);
    f.pod("sandbox", "shop", &[("app", "sandbox")]);
    f.pod("db", "data", &[("app", "db")]);
    f.identity("vm", &["10.1.2.0/24"], None);
    let any = f.any();
    let db = f.set(&[Id("db")]);
    f.rule(Action::Allow, any, db.clone(), tcp(5432, 5432));
    let sandbox_and_hole = f.set(&[Id("sandbox"), Net("10.1.2.128/25")]);
    f.rule(Action::Deny, sandbox_and_hole, db, PortSet::any());
    let (e, d) = f.emit();
    let db = file(&e, "data/seg-allow-db.yaml");
    insta::assert_snapshot!(db);
    // `api` and `db` itself are granted, `sandbox` is not.
    assert!(
        db.contains("app: api") && db.contains("app: db") && !db.contains("sandbox"),
        "{db}"
    );
    // The deny's /25 overlaps the vm, so the vm is denied whole (membership
    // by overlap): the world minus the vm's /24 stays.
    assert!(
        db.contains("cidr: 0.0.0.0/0\n        except:\n        - 10.1.2.0/24"),
        "{db}"
    );
    assert!(!d.has_errors(), "{:?}", codes(&d));
    // Egress of `api` towards db is emitted too (both sides are managed).
    let api = file(&e, "shop/seg-allow-api.yaml");
    assert!(
        api.contains("egress:") && api.contains("kubernetes.io/metadata.name: data"),
        "{api}"
    );
    assert!(!paths(&e).contains(&"shop/seg-allow-sandbox.yaml"));
}

#[test]
fn superset_labels_are_excluded_with_not_in() {
    use M::*;
    let mut f = Fx::new();
    f.pod("web", "shop", &[("app", "web")]);
    f.pod("web-canary", "shop", &[("app", "web"), ("track", "canary")]);
    f.pod("client", "shop", &[("app", "client")]);
    let client = f.set(&[Id("client")]);
    let web = f.set(&[Id("web")]);
    f.rule(Action::Allow, client, web, tcp(80, 80));
    let (e, d) = f.emit();
    let web = file(&e, "shop/seg-allow-web.yaml");
    insta::assert_snapshot!(web);
    assert!(
        web.contains("operator: NotIn") && web.contains("key: track"),
        "{web}"
    );
    assert!(
        e.notes
            .iter()
            .any(|n| n.contains("selector of `web` excludes `web-canary`")),
        "{:?}",
        e.notes
    );
    assert!(!d.has_errors());
    // The canary's own selector needs no exclusion.
    assert!(!paths(&e).contains(&"shop/seg-allow-web-canary.yaml"));
}

#[test]
fn identical_labels_fail_closed_with_an_error() {
    use M::*;
    let mut f = Fx::new();
    f.pod("a", "shop", &[("app", "x")]);
    f.pod("b", "shop", &[("app", "x")]);
    f.pod("c", "shop", &[("app", "c")]);
    f.pod("same-labels-elsewhere", "other", &[("app", "x")]);
    let a = f.set(&[Id("a")]);
    let c = f.set(&[Id("c")]);
    f.rule(Action::Allow, a, c.clone(), tcp(80, 80));
    let elsewhere = f.set(&[Id("same-labels-elsewhere")]);
    f.rule(Action::Allow, elsewhere, c, tcp(81, 81));
    let (e, d) = f.emit();
    let errors: Vec<&str> = d
        .iter()
        .filter(|x| x.is_error())
        .map(|x| x.message.as_str())
        .collect();
    assert_eq!(errors, ["`a` and `b` have the same kubernetes labels"]);
    assert_eq!(
        codes(&d)
            .iter()
            .filter(|c| **c == Code::InvalidTargetValue)
            .count(),
        1
    );
    // Nothing is granted to or from `a`: `c` only hears from the other namespace.
    let c = file(&e, "shop/seg-allow-c.yaml");
    assert!(c.contains("port: 81") && !c.contains("port: 80\n"), "{c}");
}

#[test]
fn invalid_bindings_are_reported_and_left_out() {
    use M::*;
    let mut f = Fx::new();
    f.pod("bad-value", "shop", &[("app", "no spaces allowed")]);
    f.pod("bad-key", "shop", &[("Bad_Prefix/app", "x")]);
    f.pod("bad-ns", "Shop_NS", &[("app", "y")]);
    f.pod("good", "shop", &[("app", "good")]);
    let all = f.set(&[Id("bad-value"), Id("bad-key"), Id("bad-ns")]);
    let good = f.set(&[Id("good")]);
    f.rule(Action::Allow, all, good, tcp(80, 80));
    let (e, d) = f.emit();
    let errors: Vec<&str> = d
        .iter()
        .filter(|x| x.is_error())
        .map(|x| x.message.as_str())
        .collect();
    assert_eq!(
        errors,
        [
            "kubernetes label value `no spaces allowed` of `bad-value` is invalid",
            "kubernetes label key `Bad_Prefix/app` of `bad-key` is invalid",
            "kubernetes namespace `Shop_NS` of `bad-ns` is invalid",
        ]
    );
    assert!(
        d.iter()
            .all(|x| !x.is_error() || x.code == Some(Code::InvalidTargetValue))
    );
    assert!(
        !paths(&e)
            .iter()
            .any(|p| p.contains("Shop_NS") || p.contains("seg-allow-good")),
        "{:?}",
        paths(&e)
    );
}

#[test]
fn hostile_names_cannot_change_structure_or_paths() {
    use M::*;
    let mut f = Fx::new();
    let hostile = [
        "../../etc/passwd",
        "a\nkind: Secret",
        "\"quoted\" 'x' \\ #c",
        "yes",
        "ÄÖÜ-\u{202e}rtl",
        &"z".repeat(10_000),
    ];
    for (i, h) in hostile.iter().enumerate() {
        f.pod(h, "shop", &[("app", &format!("h{i}"))]);
    }
    f.pod("sink", "shop", &[("app", "sink")]);
    let names: Vec<M> = hostile.iter().map(|h| Id(h)).collect();
    let src = f.set(&names);
    let sink = f.set(&[Id("sink")]);
    f.rule(Action::Allow, sink.clone(), src.clone(), tcp(80, 80));
    f.rule(Action::Allow, src, sink, tcp(81, 81));
    let (e, d) = f.emit();
    assert!(
        !d.has_errors(),
        "{:?}",
        d.iter().map(|x| &x.message).collect::<Vec<_>>()
    );
    let mut seen = BTreeSet::new();
    for a in &e.artifacts {
        let parts: Vec<&str> = a.path.split('/').collect();
        assert!(
            parts.len() <= 2
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && *p != ".." && !p.starts_with('.')),
            "{}",
            a.path
        );
        assert!(seen.insert(a.path.clone()));
        let name = parts.last().unwrap().trim_end_matches(".yaml");
        assert!(
            crate::names::is_dns_label(name) || a.path == "kustomization.yaml",
            "{name}"
        );
    }
    // Each identity's policy carries its exact name in an annotation, and
    // every document parses as one mapping with the expected kind.
    for h in hostile {
        let found = e.artifacts.iter().any(|a| {
            let text = std::str::from_utf8(&a.contents).unwrap();
            let docs = saphyr_docs(text);
            docs.len() == 1
                && docs[0]["metadata"]["annotations"]["seg.dev/identity"]
                    == serde_json::Value::String(h.to_string())
        });
        assert!(found, "{h:?}");
    }
    for a in &e.artifacts {
        let docs = saphyr_docs(std::str::from_utf8(&a.contents).unwrap());
        assert_eq!(docs.len(), 1, "{}", a.path);
        let kind = docs[0]["kind"].as_str().unwrap();
        assert!(
            [
                "NetworkPolicy",
                "Kustomization",
                "CustomResourceDefinition",
                "ApplySet"
            ]
            .contains(&kind),
            "{kind}"
        );
    }
}

/// Parse YAML into JSON values with the strictest available reader.
fn saphyr_docs(text: &str) -> Vec<serde_json::Value> {
    crate::tests_yaml::parse(text)
}

#[test]
fn icmp_and_other_protocols_fail_closed() {
    use M::*;
    let mut f = Fx::new();
    f.pod("a", "ns", &[("app", "a")]);
    f.pod("b", "ns", &[("app", "b")]);
    let (a, b) = (f.set(&[Id("a")]), f.set(&[Id("b")]));
    let icmp_only = f.rule(Action::Allow, a.clone(), b.clone(), PortSet::icmp());
    let mixed = f.rule(
        Action::Allow,
        b.clone(),
        a.clone(),
        PortSet::icmp().union(&tcp(22, 22)),
    );
    let everything = f.rule(Action::Allow, a.clone(), a.clone(), PortSet::any());
    f.rule(Action::Deny, a.clone(), a, tcp(22, 22));
    let (e, d) = f.emit();
    let find = |r: RuleId, c: Code| {
        d.iter()
            .any(|x| x.code == Some(c) && x.message.contains(&format!("`fx/{}`", r.0 + 1)))
    };
    assert!(find(icmp_only, Code::RuleOmitted), "{:?}", d);
    assert!(find(mixed, Code::RuleNarrowed), "{:?}", d);
    // any − tcp/22 cannot keep icmp: narrowed to the TCP/UDP/SCTP parts.
    assert!(find(everything, Code::RuleNarrowed), "{:?}", d);
    // ... and the report lists the same three.
    let listed: Vec<(String, ApproximationKind)> = e
        .approximations
        .iter()
        .map(|a| (a.rule.clone(), a.kind))
        .collect();
    let label = |r: RuleId| format!("fx/{}", r.0 + 1);
    assert_eq!(
        listed,
        [
            (label(icmp_only), ApproximationKind::Omitted),
            (label(mixed), ApproximationKind::Narrowed),
            (label(everything), ApproximationKind::Narrowed),
        ]
    );
    let a = file(&e, "ns/seg-allow-a.yaml");
    assert!(
        a.contains("endPort: 21") && a.contains("port: 23") && a.contains("protocol: SCTP"),
        "{a}"
    );
    // No rule without ports: that would allow every protocol.
    assert!(
        !a.contains("ports")
            || a.matches("ports:").count()
                == a.matches("- from:").count() + a.matches("- to:").count(),
        "{a}"
    );
}

#[test]
fn any_ports_leave_ports_out_and_ranges_use_end_port() {
    use M::*;
    let mut f = Fx::new();
    f.pod("a", "ns", &[("app", "a")]);
    f.pod("b", "ns", &[("app", "b")]);
    let (a, b) = (f.set(&[Id("a")]), f.set(&[Id("b")]));
    f.rule(Action::Allow, a.clone(), b.clone(), PortSet::any());
    f.rule(
        Action::Allow,
        b,
        a,
        tcp(0, 100).union(&PortSet::ports(Protocol::Udp, 0, 65535)),
    );
    let (e, _) = f.emit();
    let a = file(&e, "ns/seg-allow-a.yaml");
    insta::assert_snapshot!(a);
}

#[test]
fn conditions_left_by_mistake_fail_closed() {
    use M::*;
    let mut f = Fx::new();
    f.pod("a", "ns", &[("app", "a")]);
    f.pod("b", "ns", &[("app", "b")]);
    let (a, b) = (f.set(&[Id("a")]), f.set(&[Id("b")]));
    f.rule_when(
        Action::Allow,
        a,
        b,
        tcp(80, 80),
        Condition::Atom(seg_ir::Atom::Mtls),
    );
    let (e, d) = f.emit();
    assert!(codes(&d).contains(&Code::RuleOmitted));
    assert!(
        paths(&e).iter().all(|p| !p.contains("seg-allow")),
        "{:?}",
        paths(&e)
    );
}

#[test]
fn nothing_managed_writes_nothing() {
    use M::*;
    let mut f = Fx::new();
    f.identity("vm", &["10.0.0.1/32"], None);
    let vm = f.set(&[Id("vm")]);
    f.rule(Action::Allow, vm.clone(), vm, tcp(22, 22));
    let (e, d) = f.emit();
    assert!(e.artifacts.is_empty());
    assert!(d.is_empty());
    assert_eq!(
        e.notes,
        ["no identity with a `kubernetes` binding: nothing written"]
    );
}

#[test]
fn dns_reachable_namespaces_get_no_warning() {
    use M::*;
    let mut f = Fx::new();
    f.pod("a", "ns", &[("app", "a")]);
    let a = f.set(&[Id("a")]);
    let resolvers = f.set(&[Net("192.0.2.53/32")]);
    f.rule(Action::Allow, a, resolvers, udp(53));
    let (_, d) = f.emit();
    assert!(!codes(&d).contains(&Code::NoDnsEgress), "{:?}", d);
}

#[test]
fn a_large_namespace_without_dns_is_summarised_and_listed_in_full() {
    use M::*;
    let mut f = Fx::new();
    for i in 0..40 {
        let name = format!("p{i:02}");
        f.pod(&name, "big", &[("app", &name)]);
    }
    for i in 0..3 {
        let name = format!("q{i}");
        f.pod(&name, "small", &[("app", &name)]);
    }
    let (a, b) = (f.set(&[Id("p00")]), f.set(&[Id("q0")]));
    f.rule(Action::Allow, a, b, tcp(80, 80));
    let (_, d) = f.emit();
    let dns: Vec<_> = d
        .iter()
        .filter(|x| x.code == Some(Code::NoDnsEgress))
        .collect();
    assert_eq!(dns.len(), 2, "{dns:?}");
    let big = dns[0];
    assert_eq!(
        big.notes[1],
        "no rule lets 40 pods (`p00`, `p01`, `p02`, `p03`, `p04` and 35 more) send udp/53, \
         so name resolution fails"
    );
    assert_eq!(
        big.help.as_deref(),
        Some(
            "add `allow [p00, p01, p02, p03, p04, …] -> network <resolver addresses> on dns` \
             naming all 40 pods (every one is listed in `--format json`)"
        )
    );
    let all: Vec<String> = (0..40).map(|i| format!("p{i:02}")).collect();
    assert_eq!(&*big.members, &all[..]);
    // A few pods are named in full, with no separate list.
    let small = dns[1];
    assert_eq!(
        small.notes[1],
        "no rule lets `q0`, `q1`, `q2` send udp/53, so name resolution fails"
    );
    assert!(small.members.is_empty());
}

#[test]
fn ten_thousand_rules_emit_quickly() {
    use M::*;
    let mut f = Fx::new();
    for i in 0..100 {
        f.pod(
            &format!("p{i}"),
            &format!("ns{}", i % 10),
            &[("app", &format!("p{i}"))],
        );
    }
    for i in 0..10_000u32 {
        let (s, t) = (format!("p{}", i % 100), format!("p{}", (i * 7 + 3) % 100));
        let src = f.set(&[Id(&s)]);
        let dst = f.set(&[Id(&t), Net(&format!("203.0.{}.0/24", i % 250))]);
        let action = if i % 10 == 9 {
            Action::Deny
        } else {
            Action::Allow
        };
        f.rule(
            action,
            src,
            dst,
            tcp(1000 + (i % 500) as u16, 1000 + (i % 500) as u16),
        );
    }
    let start = std::time::Instant::now();
    let (e, _) = f.emit();
    let took = start.elapsed();
    assert!(e.artifacts.len() > 100);
    eprintln!("10k rules: {took:?}");
}

#[test]
fn an_identity_without_labels_is_the_rest_of_its_namespace() {
    use M::*;
    let mut f = Fx::new();
    f.pod("rest", "shop", &[]);
    f.pod("web", "shop", &[("app", "web")]);
    f.pod("db", "shop", &[("app", "db"), ("tier", "data")]);
    let rest = f.set(&[Id("rest")]);
    let web = f.set(&[Id("web")]);
    f.rule(Action::Allow, rest, web, tcp(80, 80));
    let (e, d) = f.emit();
    assert!(!d.has_errors());
    let rest = file(&e, "shop/seg-allow-rest.yaml");
    // Its selector excludes both other identities' pods.
    assert!(rest.contains("podSelector:\n    matchExpressions:\n    - key: app\n      operator: NotIn\n      values:\n      - db\n      - web\n"), "{rest}");
}

#[test]
fn a_deliberate_name_collision_is_reported() {
    use M::*;
    let mut f = Fx::new();
    let sanitised = crate::names::object_name("seg-allow-", "Foo");
    let twin = sanitised.trim_start_matches("seg-allow-").to_string();
    f.pod("Foo", "shop", &[("app", "a")]);
    f.pod(&twin, "shop", &[("app", "b")]);
    let (a, b) = (f.set(&[Id("Foo")]), f.set(&[Id(&twin)]));
    f.rule(Action::Allow, a.clone(), b.clone(), tcp(80, 80));
    f.rule(Action::Allow, b, a, tcp(80, 80));
    let (e, d) = f.emit();
    let errors: Vec<&str> = d
        .iter()
        .filter(|x| x.is_error())
        .map(|x| x.message.as_str())
        .collect();
    assert_eq!(
        errors,
        [format!(
            "NetworkPolicy name `{sanitised}` is taken twice in namespace `shop`"
        )]
    );
    assert_eq!(
        paths(&e)
            .iter()
            .filter(|p| **p == format!("shop/{sanitised}.yaml"))
            .count(),
        1
    );
}

#[test]
fn provenance_annotations_stay_under_the_api_server_limit() {
    use M::*;
    let mut f = Fx::new();
    f.pod("db", "data", &[("app", "db")]);
    f.pod("api", "web", &[("app", "api")]);
    for i in 0..400u16 {
        let r = f.rule(
            Action::Allow,
            f.set(&[Id("api")]),
            f.set(&[Id("db")]),
            tcp(1000 + i, 1000 + i),
        );
        f.p.rules[r.0 as usize].provenance.doc = Some(format!("rule {i}: {}", "why ".repeat(150)));
    }
    let (e, _) = f.emit();
    let text = file(&e, "data/seg-allow-db.yaml");
    let doc = &saphyr_docs(text)[0];
    let annotations = doc["metadata"]["annotations"]
        .as_object()
        .expect("annotations");
    let size: usize = annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().expect("string").len())
        .sum();
    assert!(size <= crate::render::ANNOTATION_BUDGET, "{size} bytes");
    let rules = annotations["seg.dev/rules"].as_str().expect("rules");
    assert!(rules.starts_with("fx#1 allow: rule 0:"), "{}", &rules[..80]);
    assert!(rules.contains(" more rules (the full list: `seg build --target ir`)"));
    // Every port is still allowed: only provenance was cut.
    let ports = doc["spec"]["ingress"][0]["ports"]
        .as_array()
        .expect("ports");
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert_eq!(
        (ports[0]["port"].as_u64(), ports[0]["endPort"].as_u64()),
        (Some(1000), Some(1399))
    );
    assert!(
        e.notes.iter().any(|n| n.contains("shortened")),
        "{:?}",
        e.notes
    );
}

#[test]
fn provenance_lines_hold_expiry_doc_and_reason_on_one_line_each() {
    use M::*;
    let mut f = Fx::new();
    f.pod("db", "data", &[("app", "db")]);
    f.pod("api", "web", &[("app", "api")]);
    let rules: Vec<RuleId> = (0..3)
        .map(|i| {
            f.rule(
                Action::Allow,
                f.set(&[Id("api")]),
                f.set(&[Id("db")]),
                tcp(80 + i, 80 + i),
            )
        })
        .collect();
    let expiry = |s| seg_ir::Expiry::parse(s).expect("expiry");
    let p = &mut f.p.rules[rules[0].0 as usize];
    p.expires = Some(expiry("2027-01-31"));
    p.provenance.doc = Some("keeps  the ledger\n\tin sync ".into());
    p.provenance.reason = Some(" audit\nticket 42".into());
    let p = &mut f.p.rules[rules[2].0 as usize];
    p.expires = Some(expiry("2027-01-31T16:00:00Z"));
    p.provenance.reason = Some("one more".into());
    let (e, _) = f.emit();
    let doc = &saphyr_docs(file(&e, "data/seg-allow-db.yaml"))[0];
    assert_eq!(
        doc["metadata"]["annotations"]["seg.dev/rules"].as_str(),
        Some(
            "fx#1 allow, expires 2027-01-31: keeps the ledger in sync (reason: audit ticket 42)\n\
             fx#2 allow\n\
             fx#3 allow, expires 2027-01-31T16:00:00Z (reason: one more)"
        )
    );
}

#[test]
fn shortening_cuts_at_entry_boundaries() {
    use crate::render::shorten_annotations;
    let mut a = BTreeMap::from([
        ("k".to_string(), "aaaa, bbbb, cccc, dddd".to_string()),
        ("small".to_string(), "x".to_string()),
    ]);
    assert!(!shorten_annotations(&mut a, 1000));
    let mut b = BTreeMap::from([("k".to_string(), "l1\nl2\n".to_string() + &"z".repeat(300))]);
    assert!(shorten_annotations(&mut b, 200));
    assert_eq!(
        b["k"],
        "l1\nl2\n… 1 more rule (the full list: `seg build --target ir`)"
    );
    // Cutting that would not shrink a value leaves it alone.
    assert!(!shorten_annotations(&mut a, 10));
    let long = (0..40)
        .map(|i| format!("entry-{i:02}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut c = BTreeMap::from([
        ("k".to_string(), long),
        ("small".to_string(), "x".to_string()),
    ]);
    assert!(shorten_annotations(&mut c, 150));
    assert_eq!(c["small"], "x");
    let size: usize = c.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(size <= 150, "{size}: {}", c["k"]);
    assert!(c["k"].starts_with("entry-00, entry-01, "), "{}", c["k"]);
    assert!(
        c["k"].ends_with(" more rules (the full list: `seg build --target ir`)"),
        "{}",
        c["k"]
    );
}

/// The objects of an emission as (namespace/name, labels).
fn labelled(e: &Emission) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in e
        .artifacts
        .iter()
        .filter(|a| a.path != "kustomization.yaml")
    {
        for doc in saphyr_docs(std::str::from_utf8(&a.contents).expect("utf-8")) {
            let meta = &doc["metadata"];
            let labels = meta["labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let name = format!(
                "{}/{}",
                meta["namespace"].as_str().unwrap_or_default(),
                meta["name"].as_str().unwrap_or_default()
            );
            out.insert(name, labels);
        }
    }
    out
}

/// What the documented prune selector matches: every label of it, equal.
fn matches_prune_selector(project: &str, labels: &BTreeMap<String, String>) -> bool {
    labels
        .get("app.kubernetes.io/managed-by")
        .map(String::as_str)
        == Some("seg")
        && labels.get("seg.dev/project").map(String::as_str) == Some(project)
}

#[test]
fn the_prune_selector_matches_exactly_what_the_new_version_removes() {
    use M::*;
    let version = |n: u8| {
        let mut f = Fx::new();
        f.p.project = "shop".into();
        f.pod("web", "store", &[("app", "web")]);
        f.pod("api", "store", &[("app", "api")]);
        f.pod("db", "store", &[("app", "db")]);
        if n == 1 {
            f.pod("report", "batch", &[("app", "report")]);
        }
        let (web, api, db) = (f.set(&[Id("web")]), f.set(&[Id("api")]), f.set(&[Id("db")]));
        f.rule(Action::Allow, web, api.clone(), tcp(8080, 8080));
        if n == 1 {
            // Removed in v2, with the `report` identity: db loses its only
            // ingress, `batch` its only pod.
            f.rule(Action::Allow, api, db.clone(), tcp(5432, 5432));
            let report = f.set(&[Id("report")]);
            f.rule(Action::Allow, report, db, tcp(5432, 5432));
        }
        f.emit().0
    };
    let (v1, v2) = (labelled(&version(1)), labelled(&version(2)));
    // A second seg project with a pod in the same namespace, and a
    // hand-written policy that even claims to be managed by seg.
    let mut other = Fx::new();
    other.p.project = "billing".into();
    other.pod("invoices", "store", &[("app", "invoices")]);
    other.pod("ledger", "store", &[("app", "ledger")]);
    let (a, b) = (other.set(&[Id("invoices")]), other.set(&[Id("ledger")]));
    other.rule(Action::Allow, a, b, tcp(9000, 9000));
    let other = labelled(&other.emit().0);
    let hand_written = BTreeMap::from([(
        "store/allow-monitoring".to_string(),
        BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_string(),
            "seg".to_string(),
        )]),
    )]);
    // Every name is one object on the cluster: none is shared by two owners.
    let mut cluster = BTreeMap::new();
    for set in [&v1, &v2, &other, &hand_written] {
        for (name, labels) in set.iter() {
            if let Some(previous) = cluster.insert(name.clone(), labels.clone()) {
                assert_eq!(&previous, labels, "{name} belongs to two owners");
            }
        }
    }
    assert!(other.keys().any(|n| n.starts_with("store/")));
    // kubectl apply --prune -l <selector> deletes what matches and is not applied.
    let pruned: BTreeSet<&String> = cluster
        .iter()
        .filter(|(name, labels)| matches_prune_selector("shop", labels) && !v2.contains_key(*name))
        .map(|(name, _)| name)
        .collect();
    let removed: BTreeSet<&String> = v1.keys().filter(|n| !v2.contains_key(*n)).collect();
    assert_eq!(pruned, removed);
    assert_eq!(
        removed,
        BTreeSet::from([
            &"batch/seg-allow-report".to_string(),
            &"batch/seg-default-deny-shop".to_string(),
            &"store/seg-allow-db".to_string(),
        ])
    );
}

#[test]
fn system_namespaces_isolate_only_the_pods_seg_manages() {
    use M::*;
    let mut f = Fx::new();
    f.pod("app", "shop", &[("app", "shop")]);
    f.pod("kube-dns", "kube-system", &[("k8s-app", "kube-dns")]);
    // No rule names them: isolated, with nothing allowed.
    f.pod("agent", "monitoring", &[("app", "agent")]);
    f.pod("proxy", "kube-system", &[("app", "proxy")]);
    let (app, dns) = (f.set(&[Id("app")]), f.set(&[Id("kube-dns")]));
    f.rule(Action::Allow, app, dns, udp(53));
    let spec = |e: &Emission, path: &str| saphyr_docs(file(e, path))[0]["spec"].clone();

    let (e, d) = f.emit_with(KubernetesOptions {
        system_namespaces: vec!["monitoring".into()],
        default_deny_system_namespaces: false,
    });
    assert!(!d.has_errors());
    assert_eq!(
        paths(&e),
        [
            "applyset-crd.yaml",
            "applyset.yaml",
            "kube-system/seg-allow-kube-dns.yaml",
            "kube-system/seg-allow-proxy.yaml",
            "kustomization.yaml",
            "monitoring/seg-allow-agent.yaml",
            "shop/seg-allow-app.yaml",
            "shop/seg-default-deny-fx.yaml",
        ]
    );
    for path in [
        "kube-system/seg-allow-proxy.yaml",
        "monitoring/seg-allow-agent.yaml",
    ] {
        let s = spec(&e, path);
        assert_eq!(
            s["policyTypes"],
            serde_json::json!(["Ingress", "Egress"]),
            "{path}"
        );
        assert!(
            s.get("ingress").is_none_or(|v| v == &serde_json::json!([])),
            "{path}: {s}"
        );
        assert!(
            s.get("egress").is_none_or(|v| v == &serde_json::json!([])),
            "{path}: {s}"
        );
        assert!(
            s["podSelector"]["matchLabels"].is_object(),
            "{path}: only its pods"
        );
    }
    // The isolated kube-dns cannot resolve upstream: W0420 says so, as for any namespace.
    assert!(
        d.iter()
            .any(|x| x.code == Some(Code::NoDnsEgress) && x.message.contains("kube-system"))
    );

    // Opting in manages system namespaces as a whole again.
    let (e, _) = f.emit_with(KubernetesOptions {
        system_namespaces: vec!["monitoring".into()],
        default_deny_system_namespaces: true,
    });
    for ns in ["kube-system", "monitoring", "shop"] {
        assert!(
            paths(&e).contains(&format!("{ns}/seg-default-deny-fx.yaml").as_str()),
            "{ns}"
        );
    }
    assert!(!paths(&e).contains(&"kube-system/seg-allow-proxy.yaml"));
}
