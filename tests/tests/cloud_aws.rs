//! AWS output verified for real: Terraform JSON and CloudFormation parse into
//! the same security groups; an evaluator written from AWS's documentation
//! (reading only the emitted JSON and the inventory's facts) gives the
//! reference decision on every example expectation and thousands of flows of
//! random programs; every template passes `cfn-lint`; every file applies to
//! a local moto EC2 endpoint rule by rule and reads back unchanged; three
//! versions of a project applied in turn to one CloudFormation stack on moto
//! leave exactly each version's groups and rules.

mod cloud;

use cloud::aws_eval::{self, AwsState, Peer, SgRule};
use cloud::cases::{self, Case};
use cloud::check::{Cloud, Tally, compare};
use cloud::{structure, tools, versions};
use seg_cloud::Aws;
use seg_ir::Timestamp;
use seg_ir::backend::{AwsFormat, Emission, TargetOptions};
use serde_json::Value;
use std::collections::BTreeMap;

fn now() -> Timestamp {
    Timestamp::parse("2026-11-24T00:00:00Z").expect("now")
}

fn json(e: &Emission, path: &str) -> Option<Value> {
    e.artifacts
        .iter()
        .find(|a| a.path == path)
        .map(|a| serde_json::from_slice(&a.contents).unwrap_or_else(|err| panic!("{path}: {err}")))
}

fn max_rules(case: &Case) -> usize {
    match &case.options {
        TargetOptions::Aws(o) => o.max_rules_per_group,
        _ => 60,
    }
}

/// The placeholder outbound rule of CloudFormation groups.
fn is_placeholder(r: &SgRule) -> bool {
    r.protocol == "icmp"
        && r.from == Some(252)
        && r.to == Some(86)
        && r.peer == Peer::Cidr("255.255.255.255/32".parse().expect("net"))
}

fn without_placeholders(s: &AwsState) -> AwsState {
    let mut s = s.clone();
    for g in s.groups.values_mut() {
        g.egress.retain(|r| !is_placeholder(r));
    }
    s
}

/// Both formats of one emission, checked and parsed.
struct Parsed {
    terraform: AwsState,
    cloudformation: Option<AwsState>,
    emission: Emission,
}

fn parse(case: &Case, emission: Emission) -> Parsed {
    let main = json(&emission, "main.tf.json").expect("main.tf.json");
    let versions = json(&emission, "versions.tf.json").expect("versions.tf.json");
    structure::aws_terraform(&main, &versions);
    let terraform = aws_eval::from_terraform(&main);
    structure::aws_quota(&terraform, max_rules(case));
    let cloudformation = json(&emission, "template.json").map(|t| {
        let s = aws_eval::from_cloudformation(&t);
        structure::aws_quota(&s, max_rules(case));
        for (logical, r) in t["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, r)| r["Type"] == "AWS::EC2::SecurityGroup")
        {
            let inline = r["Properties"]["SecurityGroupEgress"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(
                inline.len() == 1
                    && inline[0]["FromPort"] == 252
                    && inline[0]["ToPort"] == 86
                    && inline[0]["CidrIp"] == "255.255.255.255/32",
                "{}: group {logical} must hold only the placeholder outbound rule",
                case.name
            );
        }
        assert_eq!(
            without_placeholders(&s),
            terraform,
            "{}: CloudFormation and Terraform differ",
            case.name
        );
        s
    });
    Parsed {
        terraform,
        cloudformation,
        emission,
    }
}

/// Emit with both formats; when only CloudFormation's template limits stop
/// that, emit Terraform alone.
fn emit(case: &Case) -> Parsed {
    let (e, d) = case.try_emit(&Aws);
    if !d.has_errors() {
        return parse(case, e);
    }
    let codes: Vec<_> = d
        .iter()
        .filter(|x| x.is_error())
        .map(|x| x.message.clone())
        .collect();
    assert!(
        codes.iter().all(|m| m.contains("CloudFormation template")),
        "{}: {codes:?}",
        case.name
    );
    let mut tf = Case {
        name: case.name.clone(),
        program: case.program.clone(),
        options: case.options.clone(),
        flows: Vec::new(),
    };
    if let TargetOptions::Aws(o) = &mut tf.options {
        o.formats = vec![AwsFormat::Terraform];
    }
    parse(case, tf.emit(&Aws))
}

fn verify(case: &Case, parsed: &Parsed) -> Tally {
    let mut t = compare(case, &Cloud::Aws(&parsed.terraform));
    if let Some(c) = &parsed.cloudformation {
        t.add(compare(case, &Cloud::Aws(c)));
    }
    t
}

#[test]
fn aws_rules_match_the_reference_on_examples_and_edges() {
    let mut cases = cases::examples(&Aws, now());
    assert!(!cases.is_empty(), "the examples compile");
    cases.push(cases::edges(&Aws));
    for case in &cases {
        let parsed = emit(case);
        assert!(
            parsed.cloudformation.is_some(),
            "{}: both formats",
            case.name
        );
        let t = verify(case, &parsed);
        t.assert_ok(&case.name);
        assert!(
            t.packets > 0 && t.allowed > 0,
            "{}: the comparison is not vacuous: {t:?}",
            case.name
        );
        eprintln!(
            "{}: {} packets, {} allowed, {} out of scope",
            case.name, t.packets, t.allowed, t.out_of_scope
        );
    }
    let edges = cases.last().expect("edges");
    let main = json(&emit(edges).emission, "main.tf.json").expect("main");
    let groups = main["resource"]["aws_security_group"]
        .as_object()
        .map_or(0, |g| g.len());
    assert!(
        groups > 17,
        "the edge case spills groups into parts ({groups} groups)"
    );
}

#[test]
fn aws_random_programs_match_the_reference() {
    let mut total = Tally::default();
    let cases = cases::random(&Aws, 150, 60, 11);
    assert!(
        cases.len() >= 100,
        "{} random programs prepared",
        cases.len()
    );
    for case in &cases {
        total.add(verify(case, &emit(case)));
    }
    total.assert_ok("random programs on AWS");
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
fn cloudformation_passes_cfn_lint() {
    let Some(lint) = tools::cfn_lint() else {
        return;
    };
    let mut files = Vec::new();
    let mut cases = cases::examples(&Aws, now());
    cases.push(cases::edges(&Aws));
    cases.extend(cases::random(&Aws, 10, 0, 5));
    for (i, case) in cases.iter().enumerate() {
        if let Some(a) = emit(case)
            .emission
            .artifacts
            .iter()
            .find(|a| a.path == "template.json")
        {
            files.push((format!("t{i}.json"), a.contents.clone()));
        }
    }
    assert!(files.len() >= 10, "templates to lint");
    let dir = tempfile::tempdir().expect("tempdir");
    let keep = std::env::var_os("SEG_CLOUD_KEEP").map(std::path::PathBuf::from);
    let paths = tools::write_all(keep.as_deref().unwrap_or(dir.path()), &files);
    let out = std::process::Command::new(lint)
        .arg("--format")
        .arg("json")
        .args(&paths)
        .output()
        .expect("run cfn-lint");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let findings: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "cfn-lint output: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let summary: Vec<String> = findings
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            format!(
                "{} {} {}: {} at {}",
                f["Filename"], f["Level"], f["Rule"]["Id"], f["Message"], f["Location"]["Path"]
            )
        })
        .collect();
    assert!(
        summary.is_empty(),
        "cfn-lint findings (errors, warnings and notes all count):\n{}",
        summary.join("\n")
    );
    assert!(out.status.success(), "cfn-lint exit {}", out.status);
}

#[test]
fn moto_applies_and_reads_back_every_rule() {
    let Some(python) = tools::python() else {
        return;
    };
    let Some(moto) = tools::Moto::start() else {
        return;
    };
    let mut cases = cases::examples(&Aws, now());
    cases.push(cases::edges(&Aws));
    // moto counts IPv4 and IPv6 rules together against 60 per group and direction.
    let fits = |s: &AwsState| {
        s.groups
            .values()
            .all(|g| g.ingress.len() <= 60 && g.egress.len() <= 60)
    };
    let random: Vec<Case> = cases::random(&Aws, 40, 40, 23)
        .into_iter()
        .filter(|c| fits(&emit(c).terraform))
        .take(8)
        .collect();
    assert!(random.len() >= 6, "random programs small enough for moto");
    cases.extend(random);
    let dir = tempfile::tempdir().expect("tempdir");
    // Every file in one run of the script (one Python start), each in a VPC of its own.
    let mut runs = Vec::new();
    let mut args = vec![moto.endpoint.clone()];
    for (i, case) in cases.iter().enumerate() {
        let parsed = emit(case);
        for (format, path) in [
            ("terraform", "main.tf.json"),
            ("cloudformation", "template.json"),
        ] {
            let Some(file) = json(&parsed.emission, path) else {
                continue;
            };
            let written = tools::write_all(
                dir.path(),
                &[(
                    format!("{i}-{path}"),
                    serde_json::to_vec(&file).expect("json"),
                )],
            );
            args.push(format!("{format}:{}", written[0].display()));
            let state = if format == "terraform" {
                parsed.terraform.clone()
            } else {
                parsed.cloudformation.clone().expect("template state")
            };
            runs.push((i, format, file, state));
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tools::run_python(&python, &tools::oracle("aws_apply.py"), &args, &[]);
    let results: Vec<Value> = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}"));
    assert_eq!(results.len(), runs.len());
    let mut calls = 0;
    for ((i, format, file, state), back) in runs.iter().zip(&results) {
        let case = &cases[*i];
        calls += back["calls"].as_u64().unwrap_or(0);
        let tokens: BTreeMap<String, Vec<String>> = if *format == "terraform" {
            aws_eval::terraform_tokens(file)
        } else {
            aws_eval::cloudformation_tokens(file)
        };
        let read = aws_eval::from_readback(back, &state.carried, &tokens);
        // First what the version grants (the reference), then the rules themselves.
        let t = compare(case, &Cloud::Aws(&read));
        t.assert_ok(&format!("{} read back from the stack", case.name));
        for (g, s) in &state.groups {
            let r = read.groups.get(g).cloned().unwrap_or_default();
            assert_eq!(
                r.ingress, s.ingress,
                "{} ({format}): inbound rules of {g} read back differently",
                case.name
            );
            assert_eq!(
                r.egress, s.egress,
                "{} ({format}): outbound rules of {g} read back differently",
                case.name
            );
        }
        for g in read.groups.keys() {
            assert!(
                state.groups.contains_key(g),
                "{} ({format}): moto holds the unknown group {g}",
                case.name
            );
        }
        if *i == 0 {
            compare(case, &Cloud::Aws(&read))
                .assert_ok(&format!("{} read back from moto ({format})", case.name));
        }
    }
    eprintln!("{} cases applied to moto in {calls} API calls", cases.len());
}

/// Every object of both formats by name (logical id, Terraform address),
/// with what it says: its body without the description (which carries the
/// rule's provenance).
fn objects(template: &Value, parsed: &Parsed) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (id, r) in template["Resources"].as_object().expect("Resources") {
        let mut body = r.clone();
        if let Some(p) = body["Properties"].as_object_mut() {
            p.remove("Description");
        }
        out.insert(id.clone(), body.to_string());
    }
    let main = json(&parsed.emission, "main.tf.json").expect("main.tf.json");
    for (kind, list) in main["resource"].as_object().expect("resource") {
        for (label, r) in list.as_object().expect("resources") {
            let mut body = r.clone();
            if let Some(o) = body.as_object_mut() {
                o.remove("description");
            }
            out.insert(format!("{kind}.{label}"), body.to_string());
        }
    }
    out
}

/// Revocation reaches the groups: the three versions of `cloud::versions`
/// (built by `seg build`) applied in turn to one CloudFormation stack on moto
/// (`create_stack`, then `update_stack` twice; see `aws_stack.py` for the
/// resource handlers moto lacks). After each step the VPC holds exactly that
/// version's groups and rules, read back through the EC2 API: the same rules
/// as its template, and the decision of the reference on every flow between
/// any ends of any version. Terraform (not runnable here: its `aws` provider
/// comes only from the Terraform registry) gets each version's
/// `main.tf.json` checked and compared with the reference the same way; an
/// object that says the same in two versions keeps its logical id and
/// address, and `seg build` lists exactly those each step drops.
#[test]
fn cloudformation_stack_updates_leave_exactly_each_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let built = versions::build(dir.path());
    let mut templates = Vec::new();
    let mut steps = Vec::new();
    for v in &built {
        let case = v.case(&Aws);
        let parsed = parse(&case, v.emission("aws"));
        let t = compare(&case, &Cloud::Aws(&parsed.terraform));
        t.assert_ok(&format!("{} (Terraform JSON)", case.name));
        let template = json(&parsed.emission, "template.json").expect("template.json");
        let path = dir.path().join(format!("{}.template.json", v.name));
        std::fs::write(&path, serde_json::to_vec(&template).expect("json")).expect("write");
        templates.push(path.to_string_lossy().into_owned());
        steps.push((case, parsed, template));
    }
    // Object names (CloudFormation logical ids, Terraform addresses) across
    // steps: what says the same keeps its name; what is dropped is listed.
    for (pair, v) in steps.windows(2).zip(&built[1..]) {
        let [(_, old, old_t), (_, new, new_t)] = pair else {
            unreachable!()
        };
        let (before, after) = (objects(old_t, old), objects(new_t, new));
        let by_body: BTreeMap<&String, &String> = before.iter().map(|(n, b)| (b, n)).collect();
        assert_eq!(by_body.len(), before.len(), "two objects say the same");
        let mut kept = 0;
        for (name, body) in &after {
            if let Some(old_name) = by_body.get(body) {
                assert_eq!(
                    *old_name, name,
                    "{}: an unchanged object was renamed",
                    v.name
                );
                kept += 1;
            }
        }
        assert!(kept >= 8, "{}: only {kept} objects unchanged", v.name);
        let removed: Vec<String> = before
            .keys()
            .filter(|n| !after.contains_key(*n))
            .cloned()
            .collect();
        assert!(!removed.is_empty(), "{}: removes something", v.name);
        let mut listed = v.pruned("aws");
        listed.sort();
        assert_eq!(
            listed, removed,
            "{}: what `seg build` lists to prune\n{}",
            v.name, v.summary
        );
    }
    // The stack on moto (moto_server stands for the moto[server] install).
    let Some(python) = tools::python() else {
        return;
    };
    if tools::require("moto_server", tools::venv().join("bin/moto_server")).is_none() {
        return;
    }
    let args: Vec<&str> = templates.iter().map(String::as_str).collect();
    let out = tools::run_python(&python, &tools::oracle("aws_stack.py"), &args, &[]);
    let results: Vec<Value> = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}"));
    assert_eq!(results.len(), steps.len());
    for ((case, parsed, template), back) in steps.iter().zip(&results) {
        let state = parsed.cloudformation.as_ref().expect("template state");
        let unmanaged: Vec<&String> = back["groups"]
            .as_object()
            .expect("groups")
            .keys()
            .filter(|k| k.starts_with("unmanaged:"))
            .collect();
        assert!(
            unmanaged.is_empty(),
            "{}: groups the stack no longer holds are left: {unmanaged:?}",
            case.name
        );
        let tokens = aws_eval::cloudformation_tokens(template);
        let read = aws_eval::from_readback(back, &state.carried, &tokens);
        // First what the version grants (the reference), then the rules themselves.
        let t = compare(case, &Cloud::Aws(&read));
        t.assert_ok(&format!("{} read back from the stack", case.name));
        assert_eq!(
            read.groups.keys().collect::<Vec<_>>(),
            state.groups.keys().collect::<Vec<_>>(),
            "{}: the groups in the VPC",
            case.name
        );
        for (g, s) in &state.groups {
            let r = &read.groups[g];
            assert_eq!(r.ingress, s.ingress, "{}: inbound rules of {g}", case.name);
            assert_eq!(r.egress, s.egress, "{}: outbound rules of {g}", case.name);
        }
        let denied = t.packets - t.allowed;
        assert!(
            t.allowed >= 3 && denied >= 50,
            "{}: the comparison is not vacuous: {t:?}",
            case.name
        );
        eprintln!(
            "{}: {} packets ({} allowed) match the reference",
            case.name, t.packets, t.allowed
        );
    }
}
