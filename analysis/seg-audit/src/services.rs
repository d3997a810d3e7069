//! Names for observed (protocol, port) pairs: the `std::services` service
//! that holds the port (`https` for tcp/443), else the port spec (`tcp/8443`).

use crate::plan::has_ports;
use std::sync::OnceLock;

/// A service of the standard library: its name and (protocol, low, high) items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StdService {
    pub name: String,
    pub items: Vec<(u8, u16, u16)>,
}

/// Every `service NAME = tcp/80, udp/53, tcp/2379-2380` of `std::services`, in file order.
pub fn std_services() -> &'static [StdService] {
    static SERVICES: OnceLock<Vec<StdService>> = OnceLock::new();
    SERVICES.get_or_init(|| {
        let source = seg_stdlib::MODULES
            .iter()
            .find(|m| m.path == "std::services")
            .map_or("", |m| m.source);
        source
            .lines()
            .filter_map(|line| {
                let rest = line.trim().strip_prefix("service ")?;
                let (name, specs) = rest.split_once('=')?;
                let items = specs
                    .split(',')
                    .map(|s| port_spec(s.trim()))
                    .collect::<Option<Vec<_>>>()?;
                Some(StdService {
                    name: name.trim().to_string(),
                    items,
                })
            })
            .collect()
    })
}

fn port_spec(s: &str) -> Option<(u8, u16, u16)> {
    let (proto, ports) = s.split_once('/')?;
    let p = match proto {
        "tcp" => 6,
        "udp" => 17,
        "sctp" => 132,
        _ => return None,
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let n = ports.parse().ok()?;
            (n, n)
        }
    };
    Some((p, lo, hi))
}

/// The standard service holding (protocol, port), if one does.
pub fn std_service(protocol: u8, port: u16) -> Option<&'static StdService> {
    std_services().iter().find(|s| {
        s.items
            .iter()
            .any(|&(p, lo, hi)| p == protocol && lo <= port && port <= hi)
    })
}

/// `tcp/443`, `udp/53`, `icmp`, `proto 47`.
pub fn port_spec_text(protocol: u8, port: u16) -> String {
    match protocol {
        6 => format!("tcp/{port}"),
        17 => format!("udp/{port}"),
        132 => format!("sctp/{port}"),
        1 | 58 => "icmp".into(),
        n if has_ports(n) => format!("proto {n}/{port}"),
        n => format!("protocol {n}"),
    }
}

/// How a finding names the service of a tuple: `https (tcp/443)`, `tcp/8443`.
pub fn service_label(protocol: u8, port: u16) -> String {
    match std_service(protocol, port) {
        Some(s) => s.name.clone(),
        None => port_spec_text(protocol, port),
    }
}
