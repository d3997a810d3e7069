//! The pairs job as Aerleon input (`seg-gen --peer aerleon`): both texts are
//! read back, and every seg rule must have exactly its Aerleon terms, every
//! identity its network and every service its port.

use seg_gen::PairsSpec;
use seg_gen::pairs::{estate, model};
use std::collections::{BTreeMap, BTreeSet};

/// A rule as (from, to, services), read back from either text.
type Flow = (String, String, Vec<String>);

fn spec() -> PairsSpec {
    PairsSpec {
        identities: 300,
        services: 12,
        rules: 2_345,
        seed: 3,
    }
}

/// The `allow` rules of one seg policy file.
fn seg_rules(text: &str) -> Vec<Flow> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("allow "))
        .map(|r| {
            let (pair, on) = r.split_once(" on ").expect("services");
            let (from, to) = pair.split_once(" -> ").expect("arrow");
            let on = on.split(", ").map(str::to_string).collect();
            (from.to_string(), to.to_string(), on)
        })
        .collect()
}

/// A term of an Aerleon policy: its name and `key:: value` lines.
type Term = (String, BTreeMap<String, String>);

/// An Aerleon `.pol` file read back: per header, its `target::` and its terms.
fn pol_filters(text: &str) -> Vec<(String, Vec<Term>)> {
    let mut filters: Vec<(String, Vec<Term>)> = Vec::new();
    let mut open: Option<(Option<String>, BTreeMap<String, String>)> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "header {" {
            assert!(open.is_none(), "nested block");
            open = Some((None, BTreeMap::new()));
        } else if let Some(name) = line.strip_prefix("term ") {
            assert!(open.is_none(), "nested block");
            let name = name.strip_suffix(" {").expect("term NAME {");
            open = Some((Some(name.to_string()), BTreeMap::new()));
        } else if line == "}" {
            match open.take().expect("a block to close") {
                (None, keys) => filters.push((keys["target"].clone(), Vec::new())),
                (Some(name), keys) => filters
                    .last_mut()
                    .expect("a term after a header")
                    .1
                    .push((name, keys)),
            }
        } else {
            let (key, value) = line.split_once(":: ").expect("key:: value");
            let keys = &mut open.as_mut().expect("inside a block").1;
            assert!(
                keys.insert(key.to_string(), value.to_string()).is_none(),
                "{key} twice"
            );
        }
    }
    assert!(open.is_none(), "unclosed block");
    filters
}

fn words(s: &str) -> Vec<String> {
    s.split(' ').map(str::to_string).collect()
}

/// The rule terms of a filter (not the base terms), as flows: `peer` gives
/// the (from, to) a term names, `None` where the target cannot say.
fn term_flows(terms: &[Term]) -> Vec<(String, Flow)> {
    terms
        .iter()
        .filter(|(name, _)| name.starts_with("rule-"))
        .map(|(name, keys)| {
            assert_eq!(keys["protocol"], "tcp", "{name}");
            assert_eq!(keys["action"], "accept", "{name}");
            let get = |k: &str| keys.get(k).cloned().unwrap_or_default();
            let flow = (
                get("source-address"),
                get("destination-address"),
                words(&keys["destination-port"]),
            );
            (name.clone(), flow)
        })
        .collect()
}

#[test]
fn every_seg_rule_has_exactly_its_aerleon_terms() {
    let job = model(&spec());
    let seg = estate(&job);
    let peer: BTreeMap<String, String> = seg_gen::aerleon::files(&job).into_iter().collect();
    let seg_files: Vec<&(String, String)> = seg
        .policies
        .iter()
        .filter(|(p, _)| p.starts_with("policy/rules-"))
        .collect();
    assert_eq!(seg_files.len(), 3, "2,345 rules in files of 1,000");
    let mut names = BTreeSet::new();
    let mut total = 0;
    for (f, (path, text)) in seg_files.iter().enumerate() {
        assert_eq!(path, &format!("policy/rules-{f:03}.seg"));
        let rules = seg_rules(text);
        total += rules.len();

        let ipt = pol_filters(&peer[&format!("iptables/pol/rules-{f:03}.pol")]);
        let targets: Vec<&str> = ipt.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(targets, ["iptables INPUT DROP", "iptables OUTPUT DROP"]);
        for (chain, terms) in &ipt {
            let base: Vec<&str> = terms
                .iter()
                .map(|(n, _)| n.as_str())
                .filter(|n| !n.starts_with("rule-"))
                .collect();
            assert_eq!(base, ["loopback", "established"], "{chain}");
            let flows: Vec<Flow> = term_flows(terms).into_iter().map(|(_, f)| f).collect();
            assert_eq!(flows, rules, "{chain} of file {f}");
        }
        for (name, _) in term_flows(&ipt[0].1) {
            assert!(names.insert(name.clone()), "term name {name} twice");
        }

        let k8s = pol_filters(&peer[&format!("k8s/pol/rules-{f:03}.pol")]);
        let targets: Vec<&str> = k8s.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(targets, ["k8s INGRESS", "k8s EGRESS"]);
        let ingress: Vec<(String, Vec<String>)> = term_flows(&k8s[0].1)
            .into_iter()
            .map(|(_, (from, to, on))| {
                assert_eq!(to, "", "an ingress term names no destination");
                (from, on)
            })
            .collect();
        let egress: Vec<(String, Vec<String>)> = term_flows(&k8s[1].1)
            .into_iter()
            .map(|(_, (from, to, on))| {
                assert_eq!(from, "", "an egress term names no source");
                (to, on)
            })
            .collect();
        let want_in: Vec<(String, Vec<String>)> = rules
            .iter()
            .map(|(a, _, on)| (a.clone(), on.clone()))
            .collect();
        let want_out: Vec<(String, Vec<String>)> = rules
            .iter()
            .map(|(_, b, on)| (b.clone(), on.clone()))
            .collect();
        assert_eq!(ingress, want_in, "k8s ingress of file {f}");
        assert_eq!(egress, want_out, "k8s egress of file {f}");
    }
    assert_eq!(total, 2_345);
    assert_eq!(names.len(), 2_345);
    let policies = peer.keys().filter(|p| p.ends_with(".pol")).count();
    assert_eq!(
        policies, 6,
        "one iptables and one k8s policy per seg rules file"
    );
}

#[test]
fn every_identity_is_a_network_with_its_cidrs_and_every_service_a_port() {
    let job = model(&spec());
    let seg = estate(&job);
    let peer: BTreeMap<String, String> = seg_gen::aerleon::files(&job).into_iter().collect();

    let mut inventory: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut name = None;
    for line in seg.inventory_yaml.lines() {
        if let Some(n) = line.strip_prefix("  - name: ") {
            name = Some(n.to_string());
        } else if let Some(list) = line.strip_prefix("    addresses: [") {
            let list = list.strip_suffix(']').unwrap();
            let cidrs = list.split(", ").map(str::to_string).collect();
            inventory.insert(name.take().unwrap(), cidrs);
        }
    }
    let mut networks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = String::new();
    for line in peer["def/networks.net"].lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some((n, cidr)) = line.split_once(" = ") {
            current = n.to_string();
            assert!(
                networks
                    .insert(n.to_string(), vec![cidr.to_string()])
                    .is_none()
            );
        } else {
            assert!(line.starts_with(' '), "a continuation line: {line}");
            networks
                .get_mut(&current)
                .unwrap()
                .push(line.trim().to_string());
        }
    }
    assert_eq!(inventory.len(), 300);
    assert_eq!(networks, inventory);

    let seg_services: Vec<String> = seg.policies[0]
        .1
        .lines()
        .filter_map(|l| l.strip_prefix("service "))
        .map(|l| {
            let (n, port) = l.split_once(" = tcp/").unwrap();
            format!("{n} = {port}/tcp")
        })
        .collect();
    let peer_services: Vec<String> = peer["def/services.svc"]
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert_eq!(seg_services.len(), 12);
    assert_eq!(peer_services, seg_services);
}

#[test]
fn the_model_writes_the_same_project_as_generate() {
    let spec = PairsSpec::job(1_500);
    assert_eq!(estate(&model(&spec)), seg_gen::pairs::generate(&spec));
}

#[test]
fn the_cli_writes_aerleon_beside_the_project_and_only_for_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pairs");
    let run = |args: &[&str], out: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_seg-gen"))
            .args(args)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    let args = [
        "--job",
        "pairs",
        "--identities",
        "300",
        "--services",
        "12",
        "--rules",
        "2345",
        "--seed",
        "3",
        "--peer",
        "aerleon",
    ];
    let o = run(&args, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let job = model(&spec());
    for (path, text) in seg_gen::aerleon::files(&job) {
        let on_disk = std::fs::read_to_string(out.join("aerleon").join(&path)).unwrap();
        assert_eq!(on_disk, text, "{path}");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("inventory.yaml")).unwrap(),
        estate(&job).inventory_yaml
    );

    for bad in [
        &["--job", "estate", "--peer", "aerleon"][..],
        &["--job", "pairs", "--edits", "1,1", "--peer", "aerleon"][..],
    ] {
        let other = dir.path().join("refused");
        let o = run(bad, &other);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--peer"));
        assert!(!other.exists(), "nothing written for {bad:?}");
    }
}

/// Every service's port is a valid, distinct TCP port, the last one 65535;
/// a job with more services than ports is refused, not wrapped around.
#[test]
fn service_ports_stay_valid_and_too_many_services_are_refused() {
    use seg_gen::pairs::{MAX_SERVICES, port};
    assert_eq!(port(0), 10_000);
    assert_eq!(port(MAX_SERVICES - 1), u16::MAX);
    let ports: std::collections::BTreeSet<u16> = (0..MAX_SERVICES).map(port).collect();
    assert_eq!(ports.len(), MAX_SERVICES);
    let job = model(&PairsSpec {
        services: MAX_SERVICES + 7,
        ..PairsSpec::job(10)
    });
    assert_eq!(job.services, MAX_SERVICES);

    let dir = tempfile::tempdir().unwrap();
    for services in ["0", &(MAX_SERVICES + 1).to_string()] {
        let out = dir.path().join(format!("s{services}"));
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_seg-gen"))
            .args([
                "--job",
                "pairs",
                "--rules",
                "5",
                "--services",
                services,
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "--services {services}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--services"));
        assert!(!out.exists(), "nothing written for --services {services}");
    }
}
