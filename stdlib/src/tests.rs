use super::*;
use seg_diag::FileId;
use seg_syntax::ast::{Item, PortSpec, Protocol, ServiceRefKind, SetExprKind};
use std::fmt::Write;

/// `service NAME` / `segment NAME` at the start of a line, in file order.
fn defined(source: &str, keyword: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|l| l.strip_prefix(keyword)?.strip_prefix(' '))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn modules_are_found_by_path() {
    assert_eq!(
        module(&["std", "services"]).map(|m| m.file_name),
        Some("<std>/services.seg")
    );
    assert_eq!(
        module(&["std", "segments"]).map(|m| m.file_name),
        Some("<std>/segments.seg")
    );
    assert_eq!(module(&["std", "nothing"]), None);
}

#[test]
fn the_services_and_segments_are_these() {
    let services = defined(
        module(&["std", "services"]).expect("module").source,
        "service",
    );
    assert_eq!(
        services,
        [
            "http",
            "https",
            "http-alt",
            "ssh",
            "dns",
            "ntp",
            "postgres",
            "mysql",
            "mssql",
            "redis",
            "memcached",
            "mongodb",
            "kafka",
            "amqp",
            "elasticsearch",
            "etcd",
            "kube-api",
            "kubelet",
            "smtp",
            "submission",
            "smtps",
            "ldap",
            "ldaps",
            "kerberos",
            "syslog",
            "snmp",
            "rdp",
            "nfs"
        ]
    );
    let segments = defined(
        module(&["std", "segments"]).expect("module").source,
        "segment",
    );
    assert_eq!(
        segments,
        [
            "internet",
            "rfc1918",
            "unique-local",
            "private",
            "cgnat",
            "cloud-metadata",
            "link-local",
            "loopback",
            "multicast"
        ]
    );
}

/// Every module parses, defines only its kind of item, and documents each one.
/// The listing (names with their ports or networks) is snapshotted.
#[test]
fn every_module_parses_and_every_item_is_documented() {
    let mut listing = String::new();
    for (i, m) in MODULES.iter().enumerate() {
        let file = seg_syntax::parse(FileId(u32::try_from(i).expect("few modules")), m.source)
            .unwrap_or_else(|d| panic!("{} does not parse: {d:?}", m.file_name));
        let _ = writeln!(listing, "{}", m.path);
        for item in &file.items {
            match item {
                Item::Service(s) => {
                    assert_eq!(
                        m.path, "std::services",
                        "{}: a service outside std::services",
                        s.name.node.text
                    );
                    assert!(s.doc.is_some(), "{} has no doc comment", s.name.node.text);
                    let ports: Vec<String> = s
                        .ports
                        .iter()
                        .map(|p| match &p.node {
                            ServiceRefKind::Port(spec) => port(spec),
                            ServiceRefKind::Named(n) => n.text.clone(),
                        })
                        .collect();
                    let _ = writeln!(listing, "  {} = {}", s.name.node.text, ports.join(", "));
                }
                Item::Segment(s) => {
                    assert_eq!(
                        m.path, "std::segments",
                        "{}: a segment outside std::segments",
                        s.name.node.text
                    );
                    assert!(s.doc.is_some(), "{} has no doc comment", s.name.node.text);
                    let SetExprKind::Network(nets) = &s.expr.node else {
                        panic!("{}: std segments are plain networks", s.name.node.text)
                    };
                    let nets: Vec<String> = nets.iter().map(|n| n.node.to_string()).collect();
                    let _ = writeln!(listing, "  {} = {}", s.name.node.text, nets.join(", "));
                }
                other => panic!("{}: unexpected item {other:?}", m.file_name),
            }
        }
    }
    insta::assert_snapshot!(listing);
}

fn port(spec: &PortSpec) -> String {
    match spec {
        PortSpec::Any => "any".into(),
        PortSpec::Icmp => "icmp".into(),
        PortSpec::Ports { protocol, lo, hi } => {
            let proto = match protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Sctp => "sctp",
                _ => "other",
            };
            if lo == hi {
                format!("{proto}/{lo}")
            } else {
                format!("{proto}/{lo}-{hi}")
            }
        }
    }
}
