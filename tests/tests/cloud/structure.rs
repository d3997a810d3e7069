//! Structural checks of the Terraform JSON and the limits of each provider,
//! written from the providers' documentation: what `terraform validate`
//! and the APIs would reject that the evaluators do not look at.

use super::aws_eval::{AwsState, Peer};
use serde_json::Value;
use std::collections::BTreeSet;

/// Characters AWS accepts in group names and rule descriptions (seg leaves `&` out).
fn aws_text(s: &str) -> bool {
    s.chars().count() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=;{}!$*".contains(c))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// AWS provider resources: known arguments only, one peer, ports as the
/// protocol needs them, valid text, references to declared groups.
pub fn aws_terraform(main: &Value, versions: &Value) {
    assert!(
        main["//"]
            .as_str()
            .is_some_and(|h| h.contains("generated: do not edit")),
        "header"
    );
    assert_eq!(
        versions["terraform"]["required_providers"]["aws"]["source"],
        "hashicorp/aws"
    );
    assert!(versions["terraform"].get("required_version").is_some());
    let top: BTreeSet<String> = keys(main);
    assert!(
        top.is_subset(
            &["//", "variable", "resource", "output"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        ),
        "{top:?}"
    );
    let res = &main["resource"];
    let declared: BTreeSet<String> = keys(&res["aws_security_group"])
        .into_iter()
        .map(|l| format!("${{aws_security_group.{l}.id}}"))
        .collect();
    for (label, g) in res["aws_security_group"].as_object().into_iter().flatten() {
        assert!(
            label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                && label.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'),
            "label {label}"
        );
        let allowed: BTreeSet<String> = ["name", "description", "vpc_id", "tags"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(keys(g).is_subset(&allowed), "{label}: {:?}", keys(g));
        let name = g["name"].as_str().expect("name");
        assert!(
            aws_text(name) && !name.to_ascii_lowercase().starts_with("sg-"),
            "{label}: group name `{name}`"
        );
        assert!(
            aws_text(
                &g["description"]
                    .as_str()
                    .expect("description")
                    .replace("$${", "${")
            ),
            "{label}: description"
        );
        let vpc = g["vpc_id"].as_str().expect("vpc_id");
        assert!(
            vpc == "${var.vpc_id}" || vpc.starts_with("vpc-"),
            "{label}: vpc {vpc}"
        );
        if vpc == "${var.vpc_id}" {
            assert!(
                main["variable"]["vpc_id"].is_object(),
                "vpc_id variable declared"
            );
        }
    }
    let rule_args: BTreeSet<String> = [
        "security_group_id",
        "ip_protocol",
        "from_port",
        "to_port",
        "cidr_ipv4",
        "cidr_ipv6",
        "referenced_security_group_id",
        "description",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for kind in [
        "aws_vpc_security_group_ingress_rule",
        "aws_vpc_security_group_egress_rule",
    ] {
        for (label, r) in res[kind].as_object().into_iter().flatten() {
            assert!(
                label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    && label.starts_with(|c: char| c.is_ascii_alphabetic()),
                "label {label}"
            );
            assert!(keys(r).is_subset(&rule_args), "{label}: {:?}", keys(r));
            let refs = |v: &Value| {
                v.as_str()
                    .is_some_and(|s| declared.contains(s) || (s.starts_with("sg-") && s.len() > 3))
            };
            assert!(
                refs(&r["security_group_id"]),
                "{label}: unknown group {}",
                r["security_group_id"]
            );
            if let Some(g) = r.get("referenced_security_group_id") {
                assert!(refs(g), "{label}: unknown peer group {g}");
            }
            let proto = r["ip_protocol"].as_str().expect("ip_protocol");
            let (from, to) = (
                r.get("from_port").and_then(Value::as_i64),
                r.get("to_port").and_then(Value::as_i64),
            );
            match proto {
                "tcp" | "udp" => {
                    let (f, t) = (from.expect("from_port"), to.expect("to_port"));
                    assert!(
                        (0..=65535).contains(&f) && (0..=65535).contains(&t) && f <= t,
                        "{label}: ports {f}-{t}"
                    );
                }
                "icmp" => assert!(
                    from.is_some() && to.is_some(),
                    "{label}: icmp type and code"
                ),
                "icmpv6" => assert!(
                    from.is_none() && to.is_none(),
                    "{label}: every icmpv6 type and code"
                ),
                "-1" => assert!(from.is_none() && to.is_none(), "{label}: -1 takes no ports"),
                n => assert!(
                    n.parse::<u8>().is_ok() && from.is_none(),
                    "{label}: protocol {n}"
                ),
            }
            assert!(
                aws_text(
                    &r["description"]
                        .as_str()
                        .expect("description")
                        .replace("$${", "${")
                        .replace("%%{", "%{")
                ),
                "{label}: description {}",
                r["description"]
            );
        }
    }
}

/// Per group, direction and family: at most `max` rules, a group reference
/// counting for both families, CloudFormation's placeholder included.
pub fn aws_quota(state: &AwsState, max: usize) {
    for (g, s) in &state.groups {
        for (dir, rules) in [("inbound", &s.ingress), ("outbound", &s.egress)] {
            let v4 = rules
                .iter()
                .filter(|r| matches!(&r.peer, Peer::Group(_) | Peer::Cidr(ipnet::IpNet::V4(_))))
                .count();
            let v6 = rules
                .iter()
                .filter(|r| matches!(&r.peer, Peer::Group(_) | Peer::Cidr(ipnet::IpNet::V6(_))))
                .count();
            assert!(
                v4 <= max && v6 <= max,
                "{g}: {v4} IPv4 and {v6} IPv6 {dir} rules over {max}"
            );
        }
    }
}

/// `[a-z]([-a-z0-9]{0,61}[a-z0-9])?`
fn gcp_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// The API list: names, priorities, per-rule limits, no tags, one family per rule.
pub fn gcp_api(list: &Value) {
    assert!(
        list["//"]
            .as_str()
            .is_some_and(|h| h.contains("generated: do not edit")),
        "header"
    );
    let mut names = BTreeSet::new();
    for f in list["items"].as_array().expect("items") {
        let name = f["name"].as_str().expect("name");
        assert!(gcp_name(name), "name {name}");
        assert!(names.insert(name.to_string()), "duplicate name {name}");
        let p = f["priority"].as_i64().expect("priority");
        assert!((0..=65535).contains(&p), "{name}: priority {p}");
        assert!(
            f.get("sourceTags").is_none() && f.get("targetTags").is_none(),
            "{name}: no tags"
        );
        let targets = f["targetServiceAccounts"].as_array().map_or(0, Vec::len);
        assert!(
            (1..=10).contains(&targets),
            "{name}: {targets} target service accounts"
        );
        assert!(
            f["sourceServiceAccounts"].as_array().map_or(0, Vec::len) <= 10,
            "{name}: source service accounts"
        );
        let ingress = f["direction"] == "INGRESS";
        if !ingress {
            assert!(
                f.get("sourceRanges").is_none() && f.get("sourceServiceAccounts").is_none(),
                "{name}: egress names destinations only"
            );
        } else {
            assert!(f.get("destinationRanges").is_none(), "{name}");
            assert!(
                f.get("sourceRanges").is_some() || f.get("sourceServiceAccounts").is_some(),
                "{name}: a source"
            );
        }
        let ranges = f
            .get("sourceRanges")
            .or(f.get("destinationRanges"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let v6 = ranges
            .iter()
            .filter(|r| r.as_str().is_some_and(|s| s.contains(':')))
            .count();
        assert!(
            v6 == 0 || v6 == ranges.len(),
            "{name}: IPv4 and IPv6 ranges in one rule"
        );
        assert!(
            f["description"]
                .as_str()
                .is_some_and(|d| d.chars().count() <= 2048 && !d.chars().any(char::is_control)),
            "{name}: description"
        );
    }
}

/// `google_compute_firewall`: known arguments only, labels that are names.
pub fn gcp_terraform(main: &Value, versions: &Value) {
    assert!(
        main["//"]
            .as_str()
            .is_some_and(|h| h.contains("generated: do not edit")),
        "header"
    );
    assert_eq!(
        versions["terraform"]["required_providers"]["google"]["source"],
        "hashicorp/google"
    );
    let args: BTreeSet<String> = [
        "name",
        "network",
        "description",
        "direction",
        "priority",
        "source_ranges",
        "destination_ranges",
        "source_service_accounts",
        "target_service_accounts",
        "allow",
        "deny",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (label, f) in main["resource"]["google_compute_firewall"]
        .as_object()
        .expect("firewalls")
    {
        assert!(keys(f).is_subset(&args), "{label}: {:?}", keys(f));
        assert_eq!(
            f["name"].as_str(),
            Some(label.as_str()),
            "label is the rule name"
        );
        assert!(
            f.get("allow").is_some() != f.get("deny").is_some(),
            "{label}: allow or deny"
        );
        for block in f["allow"]
            .as_array()
            .or(f["deny"].as_array())
            .into_iter()
            .flatten()
        {
            let k = keys(block);
            assert!(
                k.contains("protocol") && k.iter().all(|x| x == "protocol" || x == "ports"),
                "{label}: {k:?}"
            );
        }
    }
}
