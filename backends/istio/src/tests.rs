//! Unit tests on hand-built programs: the objects written per namespace.

use crate::Istio;
use seg_diag::{Diagnostics, FileId, Span};
use seg_ir::backend::{IstioOptions, KubernetesOptions};
use seg_ir::{
    Action, Backend, Condition, Emission, EndpointSet, Identity, IdentityId, IdentityKind,
    KubernetesBinding, PortSet, Program, Protocol, Provenance, Rule, RuleId, Timestamp,
};
use std::collections::BTreeMap;

fn program() -> Program {
    Program {
        project: "fx".into(),
        source_hash: "ab".repeat(32),
        now: Timestamp(1_795_000_000),
        identities: Default::default(),
        rules: Vec::new(),
        omitted: Vec::new(),
        contexts: BTreeMap::new(),
        tests: Vec::new(),
    }
}

fn pod(p: &mut Program, name: &str, ns: &str, labels: &[(&str, &str)]) -> IdentityId {
    let id = IdentityId(p.identities.len() as u32);
    p.identities.push(Identity {
        id,
        name: name.into(),
        kind: IdentityKind::Workload,
        owner: None,
        attributes: BTreeMap::new(),
        labels: BTreeMap::new(),
        addresses: Vec::new(),
        kubernetes: Some(KubernetesBinding {
            namespace: ns.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            service_account: Some(name.into()),
        }),
        aws: None,
        gcp: None,
        spiffe: None,
        origin: Span::new(FileId(1), id.0 as usize * 10, id.0 as usize * 10 + 4),
    });
    id
}

fn allow(p: &mut Program, src: IdentityId, dst: IdentityId, port: u16) {
    let set = |i: IdentityId| {
        let mut s = EndpointSet::default();
        s.identities.insert(i);
        s.explicit.insert(i);
        s
    };
    let id = RuleId(p.rules.len() as u32);
    p.rules.push(Rule {
        id,
        action: Action::Allow,
        src: set(src),
        dst: set(dst),
        services: PortSet::ports(Protocol::Tcp, port, port),
        condition: Condition::True,
        expires: None,
        provenance: Provenance {
            label: format!("fx/{}", id.0 + 1),
            id: format!("fx#{}", id.0 + 1),
            file: "policy/fx.seg".into(),
            line: 10,
            column: 3,
            policy: "fx".into(),
            owner: None,
            doc: None,
            reason: None,
            origin: Span::new(FileId(0), 200, 210),
        },
    });
}

fn emit(p: &Program, cluster: KubernetesOptions) -> Emission {
    let mut d = Diagnostics::new();
    let options = IstioOptions {
        cluster,
        ..IstioOptions::default()
    };
    let e = Istio.emit(p, &seg_ir::TargetOptions::Istio(options), &mut d);
    assert!(!d.has_errors(), "{:?}", d.iter().collect::<Vec<_>>());
    e
}

fn paths(e: &Emission) -> Vec<&str> {
    e.artifacts.iter().map(|a| a.path.as_str()).collect()
}

fn text<'e>(e: &'e Emission, path: &str) -> &'e str {
    let a = e.artifacts.iter().find(|a| a.path == path).expect(path);
    std::str::from_utf8(&a.contents).expect("utf-8")
}

#[test]
fn system_namespaces_isolate_only_the_workloads_seg_manages() {
    let mut p = program();
    let app = pod(&mut p, "app", "shop", &[("app", "shop")]);
    let dns = pod(
        &mut p,
        "kube-dns",
        "kube-system",
        &[("k8s-app", "kube-dns")],
    );
    // No rule names them: isolated, with nothing allowed.
    pod(&mut p, "agent", "monitoring", &[("app", "agent")]);
    // Its labels are all on `proxy-2`: no policy of its own elsewhere.
    pod(&mut p, "proxy", "kube-system", &[("app", "proxy")]);
    pod(
        &mut p,
        "proxy-2",
        "kube-system",
        &[("app", "proxy"), ("v", "2")],
    );
    allow(&mut p, app, dns, 53);
    let spared = KubernetesOptions {
        system_namespaces: vec!["monitoring".into()],
        default_deny_system_namespaces: false,
    };
    let e = emit(&p, spared.clone());
    assert_eq!(
        paths(&e),
        [
            "kube-system/seg-allow-kube-dns.yaml",
            "kube-system/seg-allow-proxy-2.yaml",
            "kube-system/seg-allow-proxy.yaml",
            "kube-system/seg-strict-kube-dns.yaml",
            "kube-system/seg-strict-proxy-2.yaml",
            "kube-system/seg-strict-proxy.yaml",
            "kustomization.yaml",
            "monitoring/seg-allow-agent.yaml",
            "monitoring/seg-strict-agent.yaml",
            "shop/seg-default-deny-fx.yaml",
            "shop/seg-strict-fx.yaml",
        ]
    );
    for (path, label) in [
        ("monitoring/seg-allow-agent.yaml", "app: agent"),
        ("kube-system/seg-allow-proxy.yaml", "app: proxy"),
        ("kube-system/seg-strict-proxy.yaml", "app: proxy"),
    ] {
        let t = text(&e, path);
        assert!(
            t.contains("matchLabels") && t.contains(label),
            "{path}:\n{t}"
        );
        assert!(!t.contains("rules:"), "{path}: allows nothing:\n{t}");
    }
    let dns_policy = text(&e, "kube-system/seg-allow-kube-dns.yaml");
    assert!(
        dns_policy.contains("principals: [cluster.local/ns/shop/sa/app]")
            && dns_policy.contains("ports: [\"53\"]"),
        "{dns_policy}"
    );
    assert!(
        e.notes
            .iter()
            .any(|n| n.contains("system namespace `kube-system`"))
    );

    // Opting in manages them as a whole again.
    let e = emit(
        &p,
        KubernetesOptions {
            default_deny_system_namespaces: true,
            ..spared
        },
    );
    for ns in ["kube-system", "monitoring", "shop"] {
        assert!(paths(&e).contains(&format!("{ns}/seg-default-deny-fx.yaml").as_str()));
        assert!(paths(&e).contains(&format!("{ns}/seg-strict-fx.yaml").as_str()));
    }
    assert!(!paths(&e).iter().any(|p| p.contains("seg-strict-proxy")));
}
