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
            "applyset-crd.yaml",
            "applyset.yaml",
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

fn deny(p: &mut Program, src: IdentityId, dst: IdentityId, port: u16) {
    allow(p, src, dst, port);
    if let Some(rule) = p.rules.last_mut() {
        rule.action = Action::Deny;
    }
}

/// Pruning: every object carries the project label, the denies also the
/// label the apply command applies first, and the ApplySet parent is this
/// target's own (the kubernetes target's parent of the same project differs,
/// so applying one never prunes the other).
#[test]
fn objects_carry_the_labels_the_apply_command_prunes_and_orders_by() {
    let mut p = program();
    let web = pod(&mut p, "web", "shop", &[("app", "web")]);
    let api = pod(&mut p, "api", "shop", &[("app", "api")]);
    let ops = pod(&mut p, "ops", "shop", &[("app", "ops")]);
    allow(&mut p, web, api, 443);
    allow(&mut p, ops, api, 443);
    deny(&mut p, ops, api, 443);
    let e = emit(&p, KubernetesOptions::default());
    let mut denies = 0;
    for a in &e.artifacts {
        let t = text(&e, &a.path);
        if a.path.ends_with("kustomization.yaml") || a.path.starts_with("applyset") {
            continue;
        }
        assert!(t.contains("seg.dev/project: fx"), "{}:\n{t}", a.path);
        let is_deny = t.contains("action: DENY");
        let first = is_deny || t.contains("kind: PeerAuthentication");
        assert_eq!(
            first,
            t.contains("seg.dev/apply-first: \"true\""),
            "{}: the label marks exactly the DENY policies and PeerAuthentications:\n{t}",
            a.path
        );
        denies += usize::from(is_deny);
    }
    assert_eq!(denies, 1, "{:?}", paths(&e));

    let parent = text(&e, "applyset.yaml");
    let id = seg_k8s::applyset::id("fx-istio", "", "ApplySet", "seg.dev");
    assert!(parent.contains(&id), "{parent}");
    assert_ne!(id, seg_k8s::applyset::project_id("fx"));
    assert!(
        parent
            .contains("AuthorizationPolicy.security.istio.io,PeerAuthentication.security.istio.io"),
        "{parent}"
    );
    assert_eq!(
        text(&e, "applyset-crd.yaml")
            .split_once('\n')
            .map(|(_, y)| y),
        Some(seg_yaml_body(&seg_k8s::applyset::crd()).as_str()),
        "the CRD is the kubernetes target's"
    );
    let kustomization = text(&e, "kustomization.yaml");
    assert!(!kustomization.contains("applyset"), "{kustomization}");

    let command = Istio
        .apply_command(&p, &seg_ir::TargetOptions::Istio(IstioOptions::default()))
        .expect("a command");
    let denies_first = command.find("kubectl apply -k . -l seg.dev/apply-first=true");
    let prune = command.find("--prune --applyset=applysets.seg.dev/fx-istio");
    assert!(
        matches!((denies_first, prune), (Some(d), Some(a)) if d < a),
        "{command}"
    );
}

/// `seg.dev/rules` names each policy once per written rule: `i: <policy>#<hash>,<hash>`.
#[test]
fn provenance_names_the_policy_once_per_rule() {
    let mut p = program();
    let web = pod(&mut p, "web", "shop", &[("app", "web")]);
    let ops = pod(&mut p, "ops", "shop", &[("app", "ops")]);
    let api = pod(&mut p, "api", "shop", &[("app", "api")]);
    allow(&mut p, web, api, 443);
    allow(&mut p, ops, api, 443);
    // Another policy whose name holds a `#`: the hash part follows the last one.
    allow(&mut p, web, api, 443);
    p.rules[2].provenance.id = "odd#name#7".into();
    let e = emit(&p, KubernetesOptions::default());
    let t = text(&e, "shop/seg-allow-api.yaml");
    assert!(
        t.contains("    seg.dev/rules: |-\n      0: fx#1,2\n      0: odd#name#7\n"),
        "{t}"
    );
    assert!(
        t.contains("principals: [cluster.local/ns/shop/sa/ops,cluster.local/ns/shop/sa/web]"),
        "{t}"
    );
}

fn seg_yaml_body<T: serde::Serialize>(value: &T) -> String {
    let options = serde_saphyr::ser_options! { min_fold_chars: usize::MAX };
    serde_saphyr::to_string_with_options(value, options).expect("yaml")
}
