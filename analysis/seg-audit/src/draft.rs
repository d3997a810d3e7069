//! `seg audit --draft`: a `.seg` policy written from the observed traffic.
//!
//! - Identities seen in carried traffic are grouped into segments by their
//!   kind and the inventory attributes they share with other observed
//!   identities (`identities where kind == workload and team == "payments"`);
//!   a group with no such attribute is a list of its members. Addresses no
//!   identity held become `network` segments of the exact hosts, private and
//!   public apart.
//! - One rule per (source segment, destination segment, service), services
//!   named from `std::services` when the traffic used every port of one, else
//!   written as port specs; one policy per destination segment.
//! - Only traffic the network carried, client to server: replies are folded
//!   and records whose client cannot be told from its server were left out
//!   when aggregating, so no ephemeral port appears.
//! - Deterministic: everything is sorted.
//!
//! `seg check` passes on the draft with the same inventory, and auditing the
//! same flows against it reports no `would-break` (both tested).

use crate::model::{Aggregate, Endpoint};
use crate::segtext;
use crate::services::std_services;
use seg_check::inventory::{Inventory, Status};
use seg_flows::Verdict;
use seg_ir::{IdentityId, Timestamp, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::IpAddr;

/// A group of observed ends that becomes one segment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum GroupKey {
    /// Kind and the grouping attributes (`None`: the identity lacks it).
    Identities(String, Vec<(String, Option<Value>)>),
    /// Addresses no identity held: `false` private, `true` public.
    Outside(bool),
}

pub fn draft(inventory: &Inventory, agg: &Aggregate, now: Timestamp) -> String {
    // Carried connections between ends.
    let mut pairs: BTreeMap<(Endpoint, Endpoint), BTreeSet<(u8, u16)>> = BTreeMap::new();
    let mut records = 0u64;
    for (k, c) in &agg.tuples {
        if k.verdict == Verdict::Denied {
            continue;
        }
        records += c.records;
        pairs
            .entry((k.src.clone(), k.dst.clone()))
            .or_default()
            .insert((k.protocol, k.port));
    }
    let observed: BTreeSet<IdentityId> = pairs
        .keys()
        .flat_map(|(a, b)| [a, b])
        .filter_map(|e| match e {
            Endpoint::Identity(id) => Some(*id),
            _ => None,
        })
        .collect();
    let grouping = grouping_attributes(inventory, &observed);
    let key_of = |e: &Endpoint| -> GroupKey {
        match e {
            Endpoint::Identity(id) => {
                let identity = &inventory.identities[id.0 as usize];
                GroupKey::Identities(
                    identity.kind.as_str().to_string(),
                    grouping
                        .iter()
                        .map(|a| (a.clone(), identity.attributes.get(a).cloned()))
                        .collect(),
                )
            }
            Endpoint::Address(ip) | Endpoint::Workload(_, ip) => GroupKey::Outside(is_public(*ip)),
        }
    };
    // Members of each group.
    let mut members: BTreeMap<GroupKey, BTreeSet<Endpoint>> = BTreeMap::new();
    for (a, b) in pairs.keys() {
        for e in [a, b] {
            members.entry(key_of(e)).or_default().insert(e.clone());
        }
    }
    // Segment names, unique and apart from identity names.
    let taken: BTreeSet<&str> = inventory
        .identities
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    let mut names: BTreeMap<GroupKey, String> = BTreeMap::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for key in members.keys() {
        let base = match key {
            GroupKey::Identities(kind, attrs) => {
                let mut parts = vec![kind.replace('_', "-")];
                for (_, v) in attrs {
                    parts.push(match v {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Int(i)) => i.to_string(),
                        Some(Value::Bool(b)) => b.to_string(),
                        None => "none".into(),
                    });
                }
                slug(&parts.join("-"))
            }
            GroupKey::Outside(false) => "outside-private".into(),
            GroupKey::Outside(true) => "outside-public".into(),
        };
        let mut name = base.clone();
        let mut n = 2;
        while used.contains(&name) || taken.contains(name.as_str()) {
            name = format!("{base}-{n}");
            n += 1;
        }
        used.insert(name.clone());
        names.insert(key.clone(), name);
    }
    // Rules: (source segment, destination segment) → ports.
    let mut rules: BTreeMap<(String, String), BTreeSet<(u8, u16)>> = BTreeMap::new();
    for ((a, b), ports) in &pairs {
        let (sa, sb) = (names[&key_of(a)].clone(), names[&key_of(b)].clone());
        rules
            .entry((sa, sb))
            .or_default()
            .extend(ports.iter().copied());
    }
    let mut std_used: BTreeSet<String> = BTreeSet::new();
    let mut lines_by_dst: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ((src, dst), ports) in &rules {
        for service in service_items(ports, &mut std_used) {
            lines_by_dst
                .entry(dst.clone())
                .or_default()
                .push(format!("  allow {src} -> {dst} on {service}"));
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Drafted by `seg audit --draft` from {records} observed records, {} to {}.",
        agg.window.since, agg.window.until
    );
    let _ = writeln!(
        out,
        "// Segments group the observed identities by the inventory attributes they share:\n// review who else they select, name them, and give each policy its owner."
    );
    if !std_used.is_empty() {
        let list: Vec<&str> = std_used.iter().map(String::as_str).collect();
        let _ = writeln!(out, "\nuse std::services::{{{}}}", list.join(", "));
    }
    for (key, name) in &names {
        let ends = &members[key];
        let listed: Vec<String> = ends.iter().map(|e| end_name(inventory, e)).collect();
        let _ = writeln!(out, "\n/// Observed: {}.", listed.join(", "));
        let _ = writeln!(
            out,
            "segment {name} = {}",
            segment_expr(inventory, key, ends, now)
        );
    }
    for (dst, lines) in &lines_by_dst {
        let dst_members: Vec<IdentityId> = members
            .iter()
            .find(|(k, _)| names.get(*k) == Some(dst))
            .map(|(_, m)| {
                m.iter()
                    .filter_map(|e| match e {
                        Endpoint::Identity(id) => Some(*id),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let owners: BTreeSet<&str> = dst_members
            .iter()
            .filter_map(|id| inventory.identities[id.0 as usize].owner.as_deref())
            .collect();
        let _ = writeln!(out, "\npolicy observed-to-{dst} {{");
        if owners.len() == 1
            && dst_members
                .iter()
                .all(|id| inventory.identities[id.0 as usize].owner.is_some())
        {
            let owner = owners.iter().next().copied().unwrap_or_default();
            let _ = writeln!(out, "  owner {}\n", segtext::string(owner));
        }
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = writeln!(out, "}}");
    }
    out
}

/// Attributes two observed identities share a value of (so they group).
fn grouping_attributes(inventory: &Inventory, observed: &BTreeSet<IdentityId>) -> Vec<String> {
    inventory
        .attributes
        .keys()
        .filter(|a| {
            let mut values: BTreeMap<&Value, usize> = BTreeMap::new();
            for id in observed {
                if let Some(v) = inventory.identities[id.0 as usize].attributes.get(*a) {
                    *values.entry(v).or_default() += 1;
                }
            }
            values.values().any(|n| *n > 1)
        })
        .cloned()
        .collect()
}

fn segment_expr(
    inventory: &Inventory,
    key: &GroupKey,
    ends: &BTreeSet<Endpoint>,
    now: Timestamp,
) -> String {
    match key {
        GroupKey::Identities(kind, attrs) if attrs.iter().any(|(_, v)| v.is_some()) => {
            let mut tests = vec![format!("kind == {kind}")];
            for (a, v) in attrs {
                let path = if segtext::is_bare(a) {
                    a.clone()
                } else {
                    segtext::string(a)
                };
                tests.push(match v {
                    Some(Value::String(s)) => format!("{path} == {}", segtext::string(s)),
                    Some(Value::Int(i)) => format!("{path} == {i}"),
                    Some(Value::Bool(b)) => format!("{path} == {b}"),
                    None => format!("not has({path})"),
                });
            }
            format!("identities where {}", tests.join(" and "))
        }
        GroupKey::Identities(..) => {
            // A list of the members; those a policy cannot name (disabled,
            // expired) by their addresses.
            let mut names = Vec::new();
            let mut nets = Vec::new();
            for e in ends {
                if let Endpoint::Identity(id) = e {
                    let i = id.0 as usize;
                    let d = &inventory.details[i];
                    if d.status == Status::Active && d.expires.is_none_or(|x| now < x.end()) {
                        names.push(inventory.identities[i].name.as_str());
                    } else {
                        nets.extend(d.held.iter().map(|h| h.net));
                    }
                }
            }
            let nets = seg_ir::CidrSet::from_nets(&nets);
            segtext::set(&names, &nets).unwrap_or_else(|| "network 192.0.2.0/32".into())
        }
        GroupKey::Outside(_) => {
            let hosts: Vec<ipnet::IpNet> = ends
                .iter()
                .filter_map(|e| match e {
                    Endpoint::Address(ip) | Endpoint::Workload(_, ip) => {
                        Some(ipnet::IpNet::from(*ip))
                    }
                    Endpoint::Identity(_) => None,
                })
                .collect();
            let list: Vec<String> = hosts.iter().map(|h| h.addr().to_string()).collect();
            format!("network {}", list.join(", "))
        }
    }
}

fn end_name(inventory: &Inventory, e: &Endpoint) -> String {
    match e {
        Endpoint::Identity(id) => inventory.identities[id.0 as usize].name.clone(),
        Endpoint::Address(ip) => ip.to_string(),
        Endpoint::Workload(n, ip) => format!("{n} ({ip})"),
    }
    .replace(['\n', '\r'], " ")
}

/// The services of a rule: each `std::services` service all of whose ports
/// were used, then the remaining ports as specs, one item each.
fn service_items(ports: &BTreeSet<(u8, u16)>, std_used: &mut BTreeSet<String>) -> Vec<String> {
    let mut left: BTreeSet<(u8, u16)> = ports.clone();
    let mut out = Vec::new();
    for s in std_services() {
        let all: Option<Vec<(u8, u16)>> = s
            .items
            .iter()
            .map(|&(p, lo, hi)| (lo == hi && ports.contains(&(p, lo))).then_some((p, lo)))
            .collect();
        if let Some(all) = all {
            for x in all {
                left.remove(&x);
            }
            std_used.insert(s.name.clone());
            out.push(s.name.clone());
        }
    }
    let mut icmp = false;
    let mut other = false;
    for (p, port) in left {
        match p {
            6 => out.push(format!("tcp/{port}")),
            17 => out.push(format!("udp/{port}")),
            132 => out.push(format!("sctp/{port}")),
            1 | 58 => icmp = true,
            _ => other = true,
        }
    }
    if icmp {
        out.push("icmp".into());
    }
    if other {
        // seg names protocols other than TCP, UDP, SCTP and ICMP only as part of `any`.
        out.push("any".into());
    }
    out
}

/// A bare name from free text.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() || !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert_str(0, "seg-");
    }
    out
}

/// Whether an address is outside the private, unique-local, link-local and loopback ranges.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.octets()[0] == 100 && (a.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(a) => {
            let s = a.segments()[0];
            !(a.is_loopback() || (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80)
        }
    }
}
