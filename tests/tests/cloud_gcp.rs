//! GCP output verified for real: the API JSON and the Terraform JSON hold the
//! same firewall rules; every file validates against the compute v1
//! `Firewall` schema of the discovery document shipped in
//! google-api-python-client; an evaluator written from Google's
//! documentation (priorities, implied rules, service accounts, ranges;
//! reading only the emitted JSON and the inventory's facts) gives the
//! reference decision on every example expectation and thousands of flows of
//! random programs; across three versions of a project, unchanged rules keep
//! their names and `seg build` lists exactly the names a version drops.
//!
//! `SEG_CLOUD_DUMP=5,12` prints those random programs and their rules, to
//! investigate a difference.

mod cloud;

use cloud::cases::{self, Case};
use cloud::check::{Cloud, Tally, compare};
use cloud::gcp_eval::{self, Fw};
use cloud::{structure, tools, versions};
use ipnet::IpNet;
use seg_cloud::Gcp;
use seg_ir::Timestamp;
use seg_ir::backend::Emission;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn now() -> Timestamp {
    Timestamp::parse("2026-11-24T00:00:00Z").expect("now")
}

fn json(e: &Emission, path: &str) -> Value {
    let a = e
        .artifacts
        .iter()
        .find(|a| a.path == path)
        .unwrap_or_else(|| panic!("no {path}"));
    serde_json::from_slice(&a.contents).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// The rules of one emission, checked: both formats agree.
fn rules(case: &Case, e: &Emission) -> Vec<Fw> {
    let list = json(e, "firewalls.json");
    structure::gcp_api(&list);
    let main = json(e, "main.tf.json");
    structure::gcp_terraform(&main, &json(e, "versions.tf.json"));
    let mut api = gcp_eval::from_api(&list);
    let mut tf = gcp_eval::from_terraform(&main);
    api.sort();
    tf.sort();
    assert_eq!(api, tf, "{}: API JSON and Terraform JSON differ", case.name);
    api
}

#[test]
fn gcp_rules_match_the_reference_on_examples_and_edges() {
    let mut cases = cases::examples(&Gcp, now());
    assert!(!cases.is_empty(), "the examples compile");
    cases.push(cases::edges(&Gcp));
    for case in &cases {
        let fw = rules(case, &case.emit(&Gcp));
        let t = compare(case, &Cloud::Gcp(&fw));
        t.assert_ok(&case.name);
        assert!(
            t.packets > 0 && t.allowed > 0,
            "{}: the comparison is not vacuous: {t:?}",
            case.name
        );
        eprintln!(
            "{}: {} rules, {} packets, {} allowed, {} out of scope",
            case.name,
            fw.len(),
            t.packets,
            t.allowed,
            t.out_of_scope
        );
    }
}

#[test]
fn gcp_random_programs_match_the_reference() {
    let mut total = Tally::default();
    let cases = cases::random(&Gcp, 150, 60, 13);
    assert!(
        cases.len() >= 100,
        "{} random programs prepared",
        cases.len()
    );
    for case in &cases {
        let e = case.emit(&Gcp);
        if std::env::var("SEG_CLOUD_DUMP")
            .is_ok_and(|v| v.split(',').any(|v| case.name.ends_with(&format!("#{v}"))))
        {
            eprintln!("==== {}", case.name);
            for i in &case.program.identities {
                eprintln!("{:?} {} {:?} gcp={:?}", i.id, i.name, i.addresses, i.gcp);
            }
            for r in &case.program.rules {
                eprintln!(
                    "{:?} {:?} src={:?} dst={:?} svc={} cond={:?}",
                    r.id, r.action, r.src, r.dst, r.services, r.condition
                );
            }
            eprintln!("{}", String::from_utf8_lossy(&e.artifacts[0].contents));
        }
        let fw = rules(case, &e);
        total.add(compare(case, &Cloud::Gcp(&fw)));
    }
    total.assert_ok("random programs on GCP");
    eprintln!(
        "{} programs: {} packets, {} allowed, {} out of scope",
        cases.len(),
        total.packets,
        total.allowed,
        total.out_of_scope
    );
    assert!(total.packets >= 3000 && total.allowed >= 200, "{total:?}");
}

#[test]
fn firewalls_validate_against_the_compute_v1_schema() {
    let Some(discovery) = tools::compute_discovery() else {
        return;
    };
    let Some(python) = tools::python() else {
        return;
    };
    let mut cases = cases::examples(&Gcp, now());
    cases.push(cases::edges(&Gcp));
    cases.extend(cases::random(&Gcp, 20, 0, 3));
    let files: Vec<(String, Vec<u8>)> = cases
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            c.emit(&Gcp)
                .artifacts
                .into_iter()
                .find(|a| a.path == "firewalls.json")
                .map(|a| (format!("f{i}.json"), a.contents))
        })
        .collect();
    assert!(files.len() >= 15);
    let dir = tempfile::tempdir().expect("tempdir");
    let paths: Vec<String> = tools::write_all(dir.path(), &files)
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut args = vec![discovery.to_string_lossy().into_owned()];
    args.extend(paths);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tools::run_python(&python, &tools::oracle("gcp_schema.py"), &args, &[]);
    assert!(out.trim().is_empty(), "{out}");
}

/// Revocation across versions: the three versions of `cloud::versions`,
/// built in turn by `seg build` into one output folder. Each version's files
/// pass the structure checks, the compute v1 schema and the reference on
/// every flow between any ends of any version; a rule that says the same in
/// two versions keeps its name; the names a version drops are exactly those
/// `seg build` lists to prune, and what was revoked (the partners' networks,
/// the identity ops) is in no rule of the next version.
#[test]
fn versions_keep_names_and_list_what_they_remove() {
    let dir = tempfile::tempdir().expect("tempdir");
    let built = versions::build(dir.path());
    let mut rules_of = Vec::new();
    for v in &built {
        let case = v.case(&Gcp);
        let fw = rules(&case, &v.emission("gcp"));
        let t = compare(&case, &Cloud::Gcp(&fw));
        t.assert_ok(&case.name);
        assert!(t.allowed >= 3, "{}: not vacuous: {t:?}", case.name);
        rules_of.push(fw);
    }
    // A rule is what it says: everything but its name.
    let said = |f: &Fw| Fw {
        name: String::new(),
        ..f.clone()
    };
    for (pair, v) in rules_of.windows(2).zip(&built[1..]) {
        let [old, new] = pair else { unreachable!() };
        let before: BTreeMap<Fw, &str> = old.iter().map(|f| (said(f), f.name.as_str())).collect();
        assert_eq!(before.len(), old.len(), "two rules say the same");
        let mut kept = 0;
        for f in new {
            if let Some(name) = before.get(&said(f)) {
                assert_eq!(*name, f.name, "{}: an unchanged rule was renamed", v.name);
                kept += 1;
            }
        }
        assert!(kept >= 4, "{}: only {kept} rules unchanged", v.name);
        let names =
            |list: &[Fw]| -> BTreeSet<String> { list.iter().map(|f| f.name.clone()).collect() };
        let removed: Vec<String> = names(old).difference(&names(new)).cloned().collect();
        assert!(
            !removed.is_empty() && removed.len() <= 10,
            "{}: {removed:?}",
            v.name
        );
        let listed: Vec<String> = v
            .pruned("gcp")
            .into_iter()
            .filter(|n| !n.starts_with("google_compute_firewall."))
            .collect();
        assert_eq!(
            listed, removed,
            "{}: what `seg build` lists to prune\n{}",
            v.name, v.summary
        );
    }
    let partners: IpNet = "203.0.113.0/24".parse().expect("net");
    assert!(rules_of[0].iter().any(|f| f.ranges.contains(&partners)));
    assert!(
        rules_of[1..]
            .iter()
            .flatten()
            .all(|f| !f.ranges.contains(&partners)),
        "the partners' rule outlives its removal"
    );
    let ops = "ops@shop.iam.gserviceaccount.com";
    assert!(rules_of[1].iter().any(|f| f.targets.contains(ops)));
    assert!(
        rules_of[2]
            .iter()
            .all(|f| !f.targets.contains(ops) && !f.source_accounts.contains(ops)),
        "the removed identity keeps rules"
    );
    // The compute v1 schema, for every version's firewalls.json.
    let (Some(discovery), Some(python)) = (tools::compute_discovery(), tools::python()) else {
        return;
    };
    let mut args = vec![discovery.to_string_lossy().into_owned()];
    for v in &built {
        let path = dir.path().join(format!("{}.firewalls.json", v.name));
        std::fs::write(&path, &v.files["gcp/firewalls.json"]).expect("write");
        args.push(path.to_string_lossy().into_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tools::run_python(&python, &tools::oracle("gcp_schema.py"), &args, &[]);
    assert!(out.trim().is_empty(), "{out}");
}
