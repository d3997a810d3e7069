//! GCP VPC firewall rules as Google documents them ("VPC firewall rules",
//! compute v1 `Firewall`), read from seg's emitted files, independent of
//! seg's code.
//!
//! The model:
//! - a rule applies to the instances whose service account is in
//!   `targetServiceAccounts` (every instance of the network without targets);
//! - an ingress rule matches a source in `sourceRanges` OR an instance whose
//!   service account is in `sourceServiceAccounts`; an egress rule matches a
//!   destination in `destinationRanges` (every destination without ranges);
//! - `IPProtocol` `all`, a name (`tcp`, `udp`, `sctp`, `icmp`) or a number;
//!   `ports` only for tcp/udp/sctp, none meaning every port; `icmp` is IPv4's,
//!   ICMPv6 is protocol 58;
//! - per direction and instance, the matching rule with the lowest priority
//!   number decides, a deny winning a tie; without a match the implied rules
//!   decide: ingress denied, egress allowed;
//! - a connection needs the source's egress and the destination's ingress
//!   (each only if that end is an instance of the network); stateful.
//!
//! Addresses come from the inventory: an end without a known address is
//! matched by its service account only, never by a range.

use ipnet::IpNet;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub protocol: String,
    /// Inclusive ranges; empty = every port.
    pub ports: Vec<(u16, u16)>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fw {
    pub name: String,
    pub ingress: bool,
    pub deny: bool,
    pub priority: i64,
    pub targets: BTreeSet<String>,
    pub source_accounts: BTreeSet<String>,
    pub ranges: BTreeSet<IpNet>,
    pub entries: BTreeSet<Entry>,
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

fn nets(v: &Value) -> BTreeSet<IpNet> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let s = s.as_str().expect("range");
            let n: IpNet = s.parse().unwrap_or_else(|_| panic!("bad range `{s}`"));
            assert_eq!(n.trunc(), n, "range `{s}` is not canonical");
            n
        })
        .collect()
}

fn entries(v: &Value, proto_key: &str) -> BTreeSet<Entry> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|e| Entry {
            protocol: e[proto_key].as_str().expect("protocol").to_string(),
            ports: e["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let p = p.as_str().expect("port");
                    let (a, b) = p.split_once('-').unwrap_or((p, p));
                    let (a, b): (u16, u16) = (a.parse().expect("port"), b.parse().expect("port"));
                    assert!(a <= b, "reversed port range {p}");
                    (a, b)
                })
                .collect(),
        })
        .collect()
}

/// From `firewalls.json` (a `compute#firewallList`).
pub fn from_api(list: &Value) -> Vec<Fw> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|f| {
            let ingress = f["direction"].as_str().unwrap_or("INGRESS") == "INGRESS";
            let deny = f.get("denied").is_some();
            assert!(
                deny != f.get("allowed").is_some(),
                "one of allowed/denied: {f}"
            );
            Fw {
                name: f["name"].as_str().expect("name").to_string(),
                ingress,
                deny,
                priority: f["priority"].as_i64().unwrap_or(1000),
                targets: strings(&f["targetServiceAccounts"]),
                source_accounts: strings(&f["sourceServiceAccounts"]),
                ranges: if ingress {
                    nets(&f["sourceRanges"])
                } else {
                    nets(&f["destinationRanges"])
                },
                entries: if deny {
                    entries(&f["denied"], "IPProtocol")
                } else {
                    entries(&f["allowed"], "IPProtocol")
                },
            }
        })
        .collect()
}

/// From `main.tf.json` (`google_compute_firewall`).
pub fn from_terraform(main: &Value) -> Vec<Fw> {
    main["resource"]["google_compute_firewall"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, f)| {
            let ingress = f["direction"].as_str().unwrap_or("INGRESS") == "INGRESS";
            let deny = f.get("deny").is_some();
            Fw {
                name: f["name"].as_str().expect("name").to_string(),
                ingress,
                deny,
                priority: f["priority"].as_i64().unwrap_or(1000),
                targets: strings(&f["target_service_accounts"]),
                source_accounts: strings(&f["source_service_accounts"]),
                ranges: if ingress {
                    nets(&f["source_ranges"])
                } else {
                    nets(&f["destination_ranges"])
                },
                entries: if deny {
                    entries(&f["deny"], "protocol")
                } else {
                    entries(&f["allow"], "protocol")
                },
            }
        })
        .collect()
}

/// One end: the service account of its instance (if it is one) and its address.
#[derive(Clone, Debug)]
pub struct End {
    pub account: Option<String>,
    pub addr: Option<IpAddr>,
}

#[derive(Clone, Copy, Debug)]
pub struct Packet {
    /// IANA protocol number (58 for ICMP over IPv6).
    pub protocol: u8,
    pub port: u16,
    pub v6: bool,
}

fn entry_matches(e: &Entry, p: &Packet) -> bool {
    let ports = || e.ports.is_empty() || e.ports.iter().any(|&(a, b)| a <= p.port && p.port <= b);
    match e.protocol.as_str() {
        "all" => true,
        "tcp" | "6" => p.protocol == 6 && ports(),
        "udp" | "17" => p.protocol == 17 && ports(),
        "sctp" | "132" => p.protocol == 132 && ports(),
        "icmp" | "1" => p.protocol == 1 && !p.v6,
        "58" => p.protocol == 58 && p.v6,
        n => n.parse::<u8>().is_ok_and(|n| n == p.protocol),
    }
}

fn applies(f: &Fw, target: &str, other: &End, p: &Packet) -> bool {
    let targeted = f.targets.is_empty() || f.targets.contains(target);
    let in_ranges = |ranges: &BTreeSet<IpNet>| {
        other
            .addr
            .is_some_and(|a| ranges.iter().any(|n| n.contains(&a)))
    };
    let peer = if f.ingress {
        // Without any source the documented default is every IPv4 source.
        let unsourced = f.ranges.is_empty() && f.source_accounts.is_empty();
        (unsourced && other.addr.is_some_and(|a| a.is_ipv4()))
            || in_ranges(&f.ranges)
            || other
                .account
                .as_ref()
                .is_some_and(|a| f.source_accounts.contains(a))
    } else {
        f.ranges.is_empty() || in_ranges(&f.ranges)
    };
    targeted && peer && f.entries.iter().any(|e| entry_matches(e, p))
}

/// The verdict of one direction on one instance.
fn verdict(rules: &[Fw], ingress: bool, target: &str, other: &End, p: &Packet) -> bool {
    let best = rules
        .iter()
        .filter(|f| f.ingress == ingress && applies(f, target, other, p))
        .min_by_key(|f| (f.priority, !f.deny));
    match best {
        Some(f) => !f.deny,
        None => !ingress,
    }
}

/// Whether the firewall lets the packet through; `None` when neither end is
/// an instance, or an end is neither an instance nor an address (no such packet).
pub fn decide(rules: &[Fw], src: &End, dst: &End, p: &Packet) -> Option<bool> {
    let nowhere = |e: &End| e.account.is_none() && e.addr.is_none();
    if (src.account.is_none() && dst.account.is_none()) || nowhere(src) || nowhere(dst) {
        return None;
    }
    let out_ok = src
        .account
        .as_ref()
        .is_none_or(|a| verdict(rules, false, a, dst, p));
    let in_ok = dst
        .account
        .as_ref()
        .is_none_or(|a| verdict(rules, true, a, src, p));
    Some(out_ok && in_ok)
}
