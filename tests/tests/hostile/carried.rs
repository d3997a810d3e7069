//! Values carried through must come back exactly where the output format
//! holds them as data: identity names, owners, labels, attributes, bindings
//! and SPIFFE IDs in the IR and the OPA data, identity names in the
//! Kubernetes `seg.dev/identity` annotation and the CloudFormation metadata;
//! reasons, owners, policy names, file names, context and request values and
//! test names in the OPA data. Comments and doc comments are exempt (they are
//! shortened or cleaned on purpose), as are names a target must sanitise.

use super::project::{Case, Field, INVENTORY_FIELDS, Kind};
use super::run::{Files, Outcome};
use serde_json::{Value as Json, json};
use std::collections::BTreeSet;

fn doc(files: &Files, path: &str) -> Json {
    files
        .get(path)
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(Json::Null)
}

/// Every string leaf of `v`.
fn strings(v: &Json, out: &mut Vec<String>) {
    match v {
        Json::String(s) => out.push(s.clone()),
        Json::Array(a) => a.iter().for_each(|c| strings(c, out)),
        Json::Object(m) => m.values().for_each(|c| strings(c, out)),
        _ => {}
    }
}

pub fn check(case: &Case, o: &Outcome) -> Vec<String> {
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            problems.push(format!(
                "{}: not carried through exactly: {what}",
                case.name
            ));
        }
    };
    let files = &o.hostile;
    let data = doc(files, "opa/bundle/seg/data.json");
    let ir = doc(files, "ir/program.json");
    let t = |slot: Option<usize>| slot.map(|s| case.text(s, &o.mask));
    let find = |field: Field, k: usize| {
        case.slots
            .iter()
            .position(|s| s.field == field && s.value == k)
    };
    match case.kind {
        Kind::Inventory => {
            let cfn = doc(files, "aws/template.json");
            let mut cfn_names = Vec::new();
            strings(&cfn["Metadata"]["seg"]["identities"], &mut cfn_names);
            let annotations: BTreeSet<String> = files
                .iter()
                .filter(|(p, _)| p.starts_with("kubernetes/") && p.ends_with(".yaml"))
                .filter_map(|(_, b)| {
                    let text = std::str::from_utf8(b).ok()?;
                    let v = super::verify::yaml_doc(text).ok()?;
                    v["metadata"]["annotations"]["seg.dev/identity"]
                        .as_str()
                        .map(str::to_string)
                })
                .collect();
            let identity = |name: &str| -> Json {
                ir["program"]["identities"]
                    .as_array()
                    .and_then(|a| a.iter().find(|i| i["name"] == json!(name)).cloned())
                    .unwrap_or(Json::Null)
            };
            for k in 0..case.values.len() {
                let label = &case.values[k].label;
                if !case.targets.contains("opa") {
                    // AWS alone: the names in the CloudFormation metadata.
                    let name =
                        t(find(Field::Name, k)).unwrap_or_else(|| case.benign(Field::Name, k));
                    expect(
                        cfn_names.contains(&name),
                        format!("{label}: CloudFormation metadata"),
                    );
                    continue;
                }
                // A field without a slot holds its benign value.
                let v = |field: Field| t(find(field, k)).unwrap_or_else(|| case.benign(field, k));
                let name = v(Field::Name);
                let i = identity(&name);
                expect(i != Json::Null, format!("{label}: identity name in the IR"));
                expect(
                    i["owner"] == json!(v(Field::Owner)),
                    format!("{label}: owner in the IR"),
                );
                expect(
                    i["labels"] == json!({ v(Field::LabelKey): "x", "lv": v(Field::LabelValue) }),
                    format!("{label}: labels in the IR"),
                );
                expect(
                    i["attributes"]["team"] == json!(v(Field::Attribute)),
                    format!("{label}: attribute in the IR"),
                );
                let d = &data["identities"][&name];
                expect(
                    d["owner"] == json!(v(Field::Owner)),
                    format!("{label}: name and owner in the OPA data"),
                );
                expect(
                    d["principal"] == json!(name),
                    format!("{label}: principal in the OPA data"),
                );
                expect(
                    annotations.contains(&name),
                    format!("{label}: `seg.dev/identity` annotation"),
                );
                if case.cloudformation {
                    expect(
                        cfn_names.contains(&name),
                        format!("{label}: CloudFormation metadata"),
                    );
                }
                if INVENTORY_FIELDS[6..].iter().all(|&f| find(f, k).is_none()) {
                    continue;
                }
                let b = identity(&format!("b-{k}"));
                let checks = [
                    (Field::Spiffe, &b["spiffe"]),
                    (Field::Namespace, &b["kubernetes"]["namespace"]),
                    (Field::PodLabelValue, &b["kubernetes"]["labels"]["app"]),
                    (Field::ServiceAccount, &b["kubernetes"]["service_account"]),
                    (Field::SecurityGroup, &b["aws"]["security_group"]),
                    (Field::GcpAccount, &b["gcp"]["service_account"]),
                ];
                for (field, got) in checks {
                    expect(
                        *got == json!(v(field)),
                        format!("{label}: {field:?} in the IR"),
                    );
                }
                expect(
                    b["kubernetes"]["labels"][&v(Field::PodLabelKey)] == json!("x"),
                    format!("{label}: pod label key in the IR"),
                );
                expect(
                    data["identities"][format!("b-{k}")]["principal"] == json!(v(Field::Spiffe)),
                    format!("{label}: SPIFFE principal in the OPA data"),
                );
            }
        }
        Kind::Policy => {
            let rules = data["rules"].as_object().cloned().unwrap_or_default();
            let report = doc(files, "report.json");
            let cases = doc(files, "opa/bundle/seg/tests/data.json")["cases"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for (slot, s) in case.slots.iter().enumerate() {
                let v = case.text(slot, &o.mask);
                let port = case.port(slot);
                let what = case.label(slot);
                let Some((id, rule)) = rules
                    .iter()
                    .find(|(_, r)| r["services"]["tcp"] == json!([[port, port]]))
                else {
                    expect(
                        false,
                        format!("{what}: no rule on tcp/{port} in the OPA data"),
                    );
                    continue;
                };
                let mut when = Vec::new();
                strings(&rule["when"], &mut when);
                let ok = match s.field {
                    Field::Reason => rule["reason"] == json!(v),
                    Field::RuleOwner | Field::PolicyOwner => rule["owner"] == json!(v),
                    Field::PolicyName => {
                        rule["policy"] == json!(v) && id.starts_with(&format!("{v}#"))
                    }
                    // Files are named in the report only (the bundle names rules by id).
                    Field::FileName => report["rule_ids"].as_array().is_some_and(|all| {
                        all.iter().any(|r| {
                            r["id"] == json!(id)
                                && r["location"]
                                    .as_str()
                                    .is_some_and(|l| l.starts_with(&format!("policy/{v}.seg:")))
                        })
                    }),
                    Field::ContextValue => {
                        when.contains(&v)
                            && cases.iter().any(|c| {
                                c["input"]["port"] == json!(port)
                                    && c["input"]["context"]["region"] == json!(v)
                            })
                    }
                    Field::EnumValue | Field::RequestMethod => when.contains(&v),
                    Field::TestName => cases
                        .iter()
                        .any(|c| c["input"]["port"] == json!(port) && c["test"] == json!(v)),
                    Field::Doc => rule["doc"].is_string(),
                    _ => true,
                };
                expect(ok, format!("{what} in the OPA data"));
            }
        }
        Kind::Manifest => {
            let v = case.text(0, &o.mask);
            expect(
                data["meta"]["project"] == json!(v),
                "project name in the OPA data".into(),
            );
            expect(
                ir["program"]["project"] == json!(v),
                "project name in the IR".into(),
            );
            expect(
                doc(files, "report.json")["project"] == json!(v),
                "project name in report.json".into(),
            );
        }
    }
    problems
}
