//! Rendering normalised records in each input format: for generated test
//! estates (the same planted flows in every format) and round trips.
//!
//! Each writer renders what its format can hold: fields a format lacks are
//! left out, so reading the output back gives the record minus those fields.

use crate::FormatChoice;
use crate::aws::AwsFields;
use crate::record::*;
use seg_ir::Timestamp;
use serde_json::json;
use std::sync::Arc;

/// `2026-11-23T10:00:00Z`.
pub fn rfc3339(t: Timestamp) -> String {
    let d = t.date();
    let s = t.second_of_day();
    format!("{d}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// One entry as a line of Seg's JSON lines (no newline).
pub fn seg_line(entry: &Entry) -> String {
    let mut o = serde_json::Map::new();
    let s = |v: &str| serde_json::Value::String(v.to_string());
    match entry {
        Entry::Gap(g) => {
            o.insert("gap".into(), s(g.kind.name()));
            o.insert("start".into(), s(&rfc3339(g.start)));
            o.insert("end".into(), s(&rfc3339(g.end)));
            if let Some(i) = &g.interface {
                o.insert("interface".into(), s(i));
            }
        }
        Entry::Flow(f) => {
            o.insert("start".into(), s(&rfc3339(f.start)));
            o.insert("end".into(), s(&rfc3339(f.end)));
            o.insert("src".into(), s(&f.src.to_string()));
            o.insert("dst".into(), s(&f.dst.to_string()));
            if let Some(p) = f.src_port {
                o.insert("src_port".into(), p.into());
            }
            if let Some(p) = f.dst_port {
                o.insert("dst_port".into(), p.into());
            }
            o.insert("protocol".into(), f.protocol.into());
            o.insert("verdict".into(), s(f.verdict.name()));
            if let Some(n) = f.packets {
                o.insert("packets".into(), n.into());
            }
            if let Some(n) = f.bytes {
                o.insert("bytes".into(), n.into());
            }
            if let Some(n) = f.hints.tcp_flags {
                o.insert("tcp_flags".into(), n.into());
            }
            if let Some(r) = f.hints.is_reply {
                o.insert("is_reply".into(), r.into());
            }
            if let Some(d) = f.hints.observed {
                o.insert("observed".into(), s(d.name()));
            }
            if let Some(st) = f.hints.state {
                o.insert("state".into(), s(&st.letter().to_string()));
            }
            if let Some(i) = &f.interface {
                o.insert("interface".into(), s(i));
            }
            if let Some(r) = &f.rule {
                o.insert("rule".into(), s(r));
            }
            for (key, k) in [("src_k8s", &f.src_k8s), ("dst_k8s", &f.dst_k8s)] {
                if let Some(k) = k {
                    o.insert(key.into(), k8s_json(k));
                }
            }
        }
        Entry::Malformed(m) => {
            // Not a record: rendered as a line the reader rejects, naming it.
            o.insert(
                "malformed".into(),
                s(&format!("{}:{}: {}", m.file, m.line, m.message)),
            );
        }
    }
    serde_json::Value::Object(o).to_string()
}

fn k8s_json(k: &K8sEndpoint) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    if let Some(v) = &k.namespace {
        o.insert("namespace".into(), v.clone().into());
    }
    if let Some(v) = &k.pod {
        o.insert("pod".into(), v.clone().into());
    }
    if let Some(v) = &k.service_account {
        o.insert("service_account".into(), v.clone().into());
    }
    if !k.labels.is_empty() {
        let labels: serde_json::Map<_, _> = k
            .labels
            .iter()
            .map(|(key, v)| (key.clone(), serde_json::Value::String(v.clone())))
            .collect();
        o.insert("labels".into(), labels.into());
    }
    if let Some(v) = k.identity {
        o.insert("identity".into(), v.into());
    }
    if !k.workloads.is_empty() {
        o.insert("workloads".into(), k.workloads.clone().into());
    }
    serde_json::Value::Object(o)
}

/// Entries as Seg JSON lines, each ending in a newline.
pub fn seg_lines(entries: &[Entry]) -> String {
    let mut out = String::new();
    for e in entries {
        out.push_str(&seg_line(e));
        out.push('\n');
    }
    out
}

/// Entries as AWS text: a header line of `fields`, then one record a line.
/// Fields the record lacks print `-`; fields Seg does not model print
/// placeholder values (`123456789012` for the account, `-` elsewhere).
/// Malformed entries are skipped.
pub fn aws_text(entries: &[Entry], fields: &AwsFields, header: bool) -> String {
    use crate::aws::AwsField as F;
    let mut out = String::new();
    if header {
        out.push_str(&fields.header());
        out.push('\n');
    }
    for e in entries {
        let (flow, gap) = match e {
            Entry::Flow(f) => (Some(f), None),
            Entry::Gap(g) => (None, Some(g)),
            Entry::Malformed(_) => continue,
        };
        let (start, end, interface) = match (flow, gap) {
            (Some(f), _) => (f.start, f.end, f.interface.as_deref()),
            (_, Some(g)) => (g.start, g.end, g.interface.as_deref()),
            _ => continue,
        };
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
        let mut first = true;
        for field in &fields.0 {
            if !first {
                out.push(' ');
            }
            first = false;
            let value = match field {
                F::Version => version(fields).to_string(),
                F::Other("account-id") => "123456789012".to_string(),
                F::Other(_) => "-".to_string(),
                F::InterfaceId => opt(interface.map(str::to_string)),
                F::Start => start.0.to_string(),
                F::End => end.0.to_string(),
                F::LogStatus => match gap {
                    Some(g) => g.kind.name().to_ascii_uppercase(),
                    None => "OK".to_string(),
                },
                _ => match flow {
                    None => "-".to_string(),
                    Some(f) => aws_value(f, *field, fields),
                },
            };
            out.push_str(&value);
        }
        out.push('\n');
    }
    out
}

fn version(fields: &AwsFields) -> u8 {
    use crate::aws::AwsField as F;
    let mut v = 2;
    for f in &fields.0 {
        let fv = match f {
            F::TcpFlags | F::PktSrcAddr | F::PktDstAddr => 3,
            F::Other("vpc-id" | "subnet-id" | "instance-id" | "type") => 3,
            F::Other("region" | "az-id" | "sublocation-type" | "sublocation-id") => 4,
            F::FlowDirection
            | F::Other("pkt-src-aws-service" | "pkt-dst-aws-service" | "traffic-path") => 5,
            _ => 2,
        };
        v = v.max(fv);
    }
    v
}

fn aws_value(f: &Flow, field: crate::aws::AwsField, fields: &AwsFields) -> String {
    use crate::aws::AwsField as F;
    let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |n| n.to_string());
    let has_ports = matches!(f.protocol, 6 | 17 | 33 | 132 | 136);
    let port = |p: Option<u16>| match p {
        Some(p) => p.to_string(),
        None if has_ports => "-".to_string(),
        None => "0".to_string(),
    };
    let has_pkt = fields.0.contains(&F::PktSrcAddr);
    match field {
        // With pkt-* fields, srcaddr/dstaddr print the interface's own
        // address in AWS; here the same address (the reader prefers pkt-*).
        F::SrcAddr => f.src.to_string(),
        F::DstAddr => f.dst.to_string(),
        F::PktSrcAddr if has_pkt => f.src.to_string(),
        F::PktDstAddr => f.dst.to_string(),
        F::SrcPort => port(f.src_port),
        F::DstPort => port(f.dst_port),
        F::Protocol => f.protocol.to_string(),
        F::Packets => opt(f.packets),
        F::Bytes => opt(f.bytes),
        F::Action => match f.verdict {
            Verdict::Allowed | Verdict::Audit => "ACCEPT".to_string(),
            Verdict::Denied => "REJECT".to_string(),
            Verdict::Unknown => "-".to_string(),
        },
        F::TcpFlags => opt(f.hints.tcp_flags.map(u64::from)),
        F::FlowDirection => f
            .hints
            .observed
            .map_or_else(|| "-".to_string(), |o| o.name().to_string()),
        _ => "-".to_string(),
    }
}

/// The AWS fields [`render`] writes: the version-2 default, then
/// `tcp-flags`, `pkt-srcaddr`, `pkt-dstaddr` and `flow-direction`.
pub fn aws_rich_fields() -> AwsFields {
    let mut f = AwsFields::default_v2();
    for name in ["tcp-flags", "pkt-srcaddr", "pkt-dstaddr", "flow-direction"] {
        f.0.extend(crate::aws::AwsField::from_name(name));
    }
    f
}

/// Entries rendered as a whole file in `format` (text, JSON lines, the
/// Azure blob, or Parquet bytes). [`as_written`] tells what reading it back
/// gives. `Auto` renders Seg JSON lines. Malformed entries are left out.
pub fn render(format: FormatChoice, entries: &[Entry]) -> Vec<u8> {
    match format {
        FormatChoice::Auto | FormatChoice::Seg => seg_lines(entries).into_bytes(),
        FormatChoice::Aws => aws_text(entries, &aws_rich_fields(), true).into_bytes(),
        FormatChoice::AwsParquet => aws_parquet(entries),
        FormatChoice::Gcp => gcp_lines(entries).into_bytes(),
        FormatChoice::Hubble => hubble_lines(entries, true).into_bytes(),
        FormatChoice::Azure => azure_blob(entries).into_bytes(),
    }
}

/// What reading back `entry` rendered in `format` gives (its `origin`
/// aside), or `None` when the format cannot hold it at all:
///
/// - Seg: everything.
/// - AWS text and Parquet: no `is_reply`, state, Kubernetes facts or rule;
///   an `audit` verdict reads back as `allowed` (ACCEPT); ports only for
///   protocols with ports.
/// - GCP: flows with verdict `unknown` or `audit` become VPC flow records
///   (verdict `unknown`); the interface survives only with an `observed`
///   side (it is the reporting VM). `allowed`/`denied` flows become
///   firewall-rule log entries: one instant (`end` = `start`), no counters.
///   No TCP flags, `is_reply`, state or Kubernetes facts; no gaps. Reading
///   back also drops GCP duplicates (the reader's dedupe), which this
///   per-entry view does not model: give the two ends' reports distinct
///   tuples or windows, or turn `gcp_dedupe` off.
/// - Hubble: one instant, no counters, no state; TCP flags, `is_reply`,
///   direction, endpoints, node and rule kept (`unknown` is written as
///   TRACED). Only TCP, UDP, SCTP, ICMP and ICMPv6 flows; gaps become lost
///   events (`skipdata`, one instant).
/// - Azure: one instant; `audit` and `unknown` become `allowed`; a missing
///   direction becomes egress; the state is `D` for denied flows and `E`
///   when not given; no TCP flags, `is_reply` or Kubernetes facts; no gaps.
pub fn as_written(format: FormatChoice, entry: &Entry) -> Option<Entry> {
    let mut e = entry.clone();
    match &mut e {
        Entry::Malformed(_) => return None,
        Entry::Gap(g) => {
            g.origin = Origin::default();
            match format {
                FormatChoice::Auto
                | FormatChoice::Seg
                | FormatChoice::Aws
                | FormatChoice::AwsParquet => {}
                FormatChoice::Hubble => {
                    g.kind = GapKind::SkipData;
                    g.end = g.start;
                }
                FormatChoice::Gcp | FormatChoice::Azure => return None,
            }
        }
        Entry::Flow(f) => {
            f.origin = Origin::default();
            if !has_ports(f.protocol) && !matches!(format, FormatChoice::Auto | FormatChoice::Seg) {
                f.src_port = None;
                f.dst_port = None;
            }
            match format {
                FormatChoice::Auto | FormatChoice::Seg => {}
                FormatChoice::Aws | FormatChoice::AwsParquet => {
                    if f.verdict == Verdict::Audit {
                        f.verdict = Verdict::Allowed;
                    }
                    f.hints.is_reply = None;
                    f.hints.state = None;
                    (f.src_k8s, f.dst_k8s, f.rule) = (None, None, None);
                }
                FormatChoice::Gcp => {
                    f.hints = Hints {
                        observed: f.hints.observed,
                        ..Hints::default()
                    };
                    (f.src_k8s, f.dst_k8s) = (None, None);
                    if matches!(f.verdict, Verdict::Allowed | Verdict::Denied) {
                        f.end = f.start;
                        (f.packets, f.bytes) = (None, None);
                    } else {
                        f.verdict = Verdict::Unknown;
                        f.rule = None;
                        if f.hints.observed.is_none() {
                            f.interface = None;
                        }
                    }
                }
                FormatChoice::Hubble => {
                    if !matches!(f.protocol, 1 | 6 | 17 | 58 | 132) {
                        return None;
                    }
                    f.end = f.start;
                    (f.packets, f.bytes) = (None, None);
                    f.hints.state = None;
                    if f.protocol != 6 {
                        f.hints.tcp_flags = None;
                    }
                    for k in [&mut f.src_k8s, &mut f.dst_k8s].into_iter().flatten() {
                        *k = Arc::new(hubble_k8s_as_written(k));
                    }
                }
                FormatChoice::Azure => {
                    f.end = f.start;
                    if matches!(f.verdict, Verdict::Audit | Verdict::Unknown) {
                        f.verdict = Verdict::Allowed;
                    }
                    f.hints.state = Some(match (f.verdict, f.hints.state) {
                        (Verdict::Denied, _) => FlowState::Denied,
                        (_, Some(s)) if s != FlowState::Denied => s,
                        _ => FlowState::End,
                    });
                    f.hints.observed = Some(f.hints.observed.unwrap_or(Observed::Egress));
                    (f.hints.tcp_flags, f.hints.is_reply) = (None, None);
                    (f.src_k8s, f.dst_k8s) = (None, None);
                }
            }
        }
    }
    Some(e)
}

fn has_ports(protocol: u8) -> bool {
    matches!(protocol, 6 | 17 | 33 | 132 | 136)
}

/// A Hubble endpoint as read back: the service account is a label.
fn hubble_k8s_as_written(k: &K8sEndpoint) -> K8sEndpoint {
    let mut k = k.clone();
    if let Some(sa) = &k.service_account
        && !k.labels.iter().any(|(key, _)| key == HUBBLE_SA)
    {
        k.labels.push((HUBBLE_SA.to_string(), sa.clone()));
    }
    k.service_account = k
        .labels
        .iter()
        .find(|(key, _)| key == HUBBLE_SA)
        .map(|(_, v)| v.clone());
    k.namespace = k.namespace.filter(|s| !s.is_empty());
    k.pod = k.pod.filter(|s| !s.is_empty());
    k.identity = k.identity.filter(|i| *i != 0);
    k
}

const HUBBLE_SA: &str = "io.cilium.k8s.policy.serviceaccount";

/// GCP Cloud Logging entries, one a line (see [`as_written`]).
pub fn gcp_lines(entries: &[Entry]) -> String {
    let mut out = String::new();
    for e in entries {
        let Entry::Flow(f) = e else { continue };
        let mut connection = json!({
            "src_ip": f.src.to_string(),
            "dest_ip": f.dst.to_string(),
            "protocol": f.protocol,
        });
        if let Some(p) = f.src_port {
            connection["src_port"] = p.into();
        }
        if let Some(p) = f.dst_port {
            connection["dest_port"] = p.into();
        }
        let vm =
            |name: &Option<Arc<str>>| json!({"project_id": "seg-test", "vm_name": name.as_deref()});
        let entry = if matches!(f.verdict, Verdict::Allowed | Verdict::Denied) {
            let mut details = json!({
                "action": if f.verdict == Verdict::Allowed { "ALLOW" } else { "DENY" },
                "priority": 1000,
            });
            if let Some(r) = &f.rule {
                details["reference"] = r.as_ref().into();
            }
            if let Some(o) = f.hints.observed {
                details["direction"] = o.name().to_ascii_uppercase().into();
            }
            let mut payload = json!({
                "connection": connection,
                "disposition": if f.verdict == Verdict::Allowed { "ALLOWED" } else { "DENIED" },
                "rule_details": details,
            });
            if f.interface.is_some() {
                payload["instance"] = vm(&f.interface);
            }
            json!({
                "insertId": "seg",
                "jsonPayload": payload,
                "logName": "projects/seg-test/logs/compute.googleapis.com%2Ffirewall",
                "timestamp": rfc3339(f.start),
            })
        } else {
            let mut payload = json!({
                "connection": connection,
                "start_time": rfc3339(f.start),
                "end_time": rfc3339(f.end),
            });
            if let Some(n) = f.packets {
                payload["packets_sent"] = n.to_string().into();
            }
            if let Some(n) = f.bytes {
                payload["bytes_sent"] = n.to_string().into();
            }
            match f.hints.observed {
                Some(Observed::Egress) => {
                    payload["reporter"] = "SRC".into();
                    payload["src_instance"] = vm(&f.interface);
                }
                Some(Observed::Ingress) => {
                    payload["reporter"] = "DEST".into();
                    payload["dest_instance"] = vm(&f.interface);
                }
                None => {}
            }
            json!({
                "insertId": "seg",
                "jsonPayload": payload,
                "logName": "projects/seg-test/logs/compute.googleapis.com%2Fvpc_flows",
                "timestamp": rfc3339(f.end),
            })
        };
        out.push_str(&entry.to_string());
        out.push('\n');
    }
    out
}

/// Hubble lines, `-o jsonpb` (`{"flow": …}`) or `-o json` (bare).
pub fn hubble_lines(entries: &[Entry], jsonpb: bool) -> String {
    let mut out = String::new();
    for e in entries {
        let line = match e {
            Entry::Malformed(_) => continue,
            Entry::Gap(g) => json!({
                "lost_events": {"source": "HUBBLE_RING_BUFFER", "num_events_lost": "1"},
                "node_name": g.interface.as_deref().unwrap_or(""),
                "time": rfc3339(g.start),
            }),
            Entry::Flow(f) => {
                let Some(flow) = hubble_flow(f) else { continue };
                if jsonpb {
                    json!({
                        "flow": flow,
                        "node_name": f.interface.as_deref().unwrap_or(""),
                        "time": rfc3339(f.start),
                    })
                } else {
                    flow
                }
            }
        };
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

fn hubble_flow(f: &Flow) -> Option<serde_json::Value> {
    let ports = |name: &str| {
        let mut p = json!({});
        if let Some(s) = f.src_port {
            p["source_port"] = s.into();
        }
        if let Some(d) = f.dst_port {
            p["destination_port"] = d.into();
        }
        json!({ name: p })
    };
    let l4 = match f.protocol {
        6 => {
            let mut l4 = ports("TCP");
            if let Some(bits) = f.hints.tcp_flags {
                let names = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
                let flags: serde_json::Map<String, serde_json::Value> = names
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| bits & (1 << i) != 0)
                    .map(|(_, n)| (n.to_string(), true.into()))
                    .collect();
                l4["TCP"]["flags"] = flags.into();
            }
            l4
        }
        17 => ports("UDP"),
        132 => ports("SCTP"),
        1 => json!({"ICMPv4": {"type": 8}}),
        58 => json!({"ICMPv6": {"type": 128}}),
        _ => return None,
    };
    let verdict = match f.verdict {
        Verdict::Allowed => "FORWARDED",
        Verdict::Denied => "DROPPED",
        Verdict::Audit => "AUDIT",
        Verdict::Unknown => "TRACED",
    };
    let mut flow = json!({
        "time": rfc3339(f.start),
        "verdict": verdict,
        "IP": {"source": f.src.to_string(), "destination": f.dst.to_string(),
               "ipVersion": if f.src.is_ipv4() { "IPv4" } else { "IPv6" }},
        "l4": l4,
        "Type": "L3_L4",
    });
    if f.verdict == Verdict::Denied {
        flow["drop_reason"] = 133.into();
        flow["drop_reason_desc"] = "POLICY_DENIED".into();
    }
    if let Some(n) = &f.interface {
        flow["node_name"] = n.as_ref().into();
    }
    if let Some(r) = f.hints.is_reply {
        flow["is_reply"] = r.into();
    }
    if let Some(o) = f.hints.observed {
        flow["traffic_direction"] = o.name().to_ascii_uppercase().into();
    }
    for (key, k) in [("source", &f.src_k8s), ("destination", &f.dst_k8s)] {
        if let Some(k) = k {
            flow[key] = hubble_endpoint(k);
        }
    }
    if let Some(rule) = &f.rule {
        let (namespace, name) = rule.split_once('/').unwrap_or(("", rule));
        let list = match (f.verdict, f.hints.observed) {
            (Verdict::Denied | Verdict::Audit, Some(Observed::Ingress)) => "ingress_denied_by",
            (Verdict::Denied | Verdict::Audit, _) => "egress_denied_by",
            (_, Some(Observed::Ingress)) => "ingress_allowed_by",
            _ => "egress_allowed_by",
        };
        flow[list] = json!([{"name": name, "namespace": namespace, "kind": "CiliumNetworkPolicy"}]);
    }
    Some(flow)
}

fn hubble_endpoint(k: &K8sEndpoint) -> serde_json::Value {
    let k = hubble_k8s_as_written(k);
    let labels: Vec<String> = k
        .labels
        .iter()
        .map(|(key, v)| match (key.contains(':'), v.is_empty()) {
            (true, true) => key.clone(),
            (true, false) => format!("{key}={v}"),
            (false, _) => format!("k8s:{key}={v}"),
        })
        .collect();
    let mut e = json!({ "labels": labels });
    if let Some(ns) = &k.namespace {
        e["namespace"] = ns.as_str().into();
    }
    if let Some(p) = &k.pod {
        e["pod_name"] = p.as_str().into();
    }
    if let Some(i) = k.identity {
        e["identity"] = i.into();
    }
    if !k.workloads.is_empty() {
        let w: Vec<serde_json::Value> = k
            .workloads
            .iter()
            .map(|w| match w.split_once('/') {
                Some((kind, name)) => json!({"name": name, "kind": kind}),
                None => json!({"name": w}),
            })
            .collect();
        e["workloads"] = w.into();
    }
    e
}

/// An Azure VNet flow-log blob (version 4): one record per run of flows
/// with the same interface and rule, in order (see [`as_written`]).
pub fn azure_blob(entries: &[Entry]) -> String {
    let flows: Vec<&Flow> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Flow(f) => Some(f),
            _ => None,
        })
        .collect();
    let mut records = Vec::new();
    let mut i = 0;
    while i < flows.len() {
        let (iface, rule) = (&flows[i].interface, &flows[i].rule);
        let mut tuples = Vec::new();
        while i < flows.len() && flows[i].interface == *iface && flows[i].rule == *rule {
            tuples.push(azure_tuple(flows[i]));
            i += 1;
        }
        let mut group = json!({ "flowTuples": tuples });
        if let Some(r) = rule {
            group["rule"] = r.as_ref().into();
        }
        let mut record = json!({
            "time": rfc3339(flows[i - 1].start),
            "flowLogVersion": 4,
            "flowLogGUID": "00000000-0000-0000-0000-000000000000",
            "category": "FlowLogFlowEvent",
            "operationName": "FlowLogFlowEvent",
            "flowRecords": {"flows": [{"aclID": "00000000-0000-0000-0000-000000000000", "flowGroups": [group]}]},
        });
        if let Some(m) = iface {
            record["macAddress"] = m.as_ref().into();
        }
        records.push(record);
    }
    let mut out = serde_json::to_string_pretty(&json!({ "records": records })).unwrap_or_default();
    out.push('\n');
    out
}

fn azure_tuple(f: &Flow) -> String {
    let state = match (f.verdict, f.hints.state) {
        (Verdict::Denied, _) => 'D',
        (_, Some(s)) if s != FlowState::Denied => s.letter(),
        _ => 'E',
    };
    let direction = match f.hints.observed {
        Some(Observed::Ingress) => 'I',
        _ => 'O',
    };
    let port = |p: Option<u16>| p.map(|p| p.to_string()).unwrap_or_default();
    let n = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    format!(
        "{},{},{},{},{},{},{direction},{state},NX,{},{},,",
        f.start.0 * 1000,
        f.src,
        f.dst,
        port(f.src_port),
        port(f.dst_port),
        f.protocol,
        n(f.packets),
        n(f.bytes),
    )
}

/// AWS Parquet columns as AWS writes them (Athena's table types).
const PARQUET_SCHEMA: &str = "message flow_logs {
    optional int32 version;
    optional binary account_id (UTF8);
    optional binary interface_id (UTF8);
    optional binary srcaddr (UTF8);
    optional binary dstaddr (UTF8);
    optional int32 srcport;
    optional int32 dstport;
    optional int64 protocol;
    optional int64 packets;
    optional int64 bytes;
    optional int64 start;
    optional int64 end;
    optional binary action (UTF8);
    optional binary log_status (UTF8);
    optional int32 tcp_flags;
    optional binary pkt_srcaddr (UTF8);
    optional binary pkt_dstaddr (UTF8);
    optional binary flow_direction (UTF8);
}";

/// One column's values: `None` is null.
enum Column {
    Int(Vec<Option<i32>>),
    Long(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
}

/// Entries as an AWS Parquet file (gzip-compressed columns).
pub fn aws_parquet(entries: &[Entry]) -> Vec<u8> {
    use parquet::basic::{Compression, GzipLevel};
    aws_parquet_with(entries, Compression::GZIP(GzipLevel::default()))
        .expect("writing Parquet to memory cannot fail")
}

pub(crate) fn aws_parquet_with(
    entries: &[Entry],
    codec: parquet::basic::Compression,
) -> parquet::errors::Result<Vec<u8>> {
    use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;

    let rows: Vec<(Option<&Flow>, Option<&CoverageGap>)> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Flow(f) => Some((Some(f), None)),
            Entry::Gap(g) => Some((None, Some(g))),
            Entry::Malformed(_) => None,
        })
        .collect();
    let flow_col = |get: &dyn Fn(&Flow) -> Option<i64>| -> Vec<Option<i64>> {
        rows.iter().map(|(f, _)| f.and_then(get)).collect()
    };
    let text_col = |get: &dyn Fn(&Flow) -> Option<String>| -> Vec<Option<String>> {
        rows.iter().map(|(f, _)| f.and_then(get)).collect()
    };
    let narrow = |v: Vec<Option<i64>>| v.into_iter().map(|x| x.map(|x| x as i32)).collect();
    let port = |p: Option<u16>, f: &Flow| {
        if has_ports(f.protocol) {
            p.map(i64::from)
        } else {
            Some(0)
        }
    };
    let columns = vec![
        Column::Int(
            rows.iter()
                .map(|_| Some(i32::from(version(&aws_rich_fields()))))
                .collect(),
        ),
        Column::Text(
            rows.iter()
                .map(|_| Some("123456789012".to_string()))
                .collect(),
        ),
        Column::Text(
            rows.iter()
                .map(|(f, g)| {
                    f.and_then(|f| f.interface.clone())
                        .or_else(|| g.and_then(|g| g.interface.clone()))
                        .map(|s| s.to_string())
                })
                .collect(),
        ),
        Column::Text(text_col(&|f| Some(f.src.to_string()))),
        Column::Text(text_col(&|f| Some(f.dst.to_string()))),
        Column::Int(narrow(flow_col(&|f| port(f.src_port, f)))),
        Column::Int(narrow(flow_col(&|f| port(f.dst_port, f)))),
        Column::Long(flow_col(&|f| Some(i64::from(f.protocol)))),
        Column::Long(flow_col(&|f| f.packets.and_then(|n| i64::try_from(n).ok()))),
        Column::Long(flow_col(&|f| f.bytes.and_then(|n| i64::try_from(n).ok()))),
        Column::Long(
            rows.iter()
                .map(|(f, g)| f.map(|f| f.start.0).or(g.map(|g| g.start.0)))
                .collect(),
        ),
        Column::Long(
            rows.iter()
                .map(|(f, g)| f.map(|f| f.end.0).or(g.map(|g| g.end.0)))
                .collect(),
        ),
        Column::Text(text_col(&|f| match f.verdict {
            Verdict::Allowed | Verdict::Audit => Some("ACCEPT".to_string()),
            Verdict::Denied => Some("REJECT".to_string()),
            Verdict::Unknown => None,
        })),
        Column::Text(
            rows.iter()
                .map(|(_, g)| {
                    Some(g.map_or("OK".to_string(), |g| g.kind.name().to_ascii_uppercase()))
                })
                .collect(),
        ),
        Column::Int(narrow(flow_col(&|f| f.hints.tcp_flags.map(i64::from)))),
        Column::Text(text_col(&|f| Some(f.src.to_string()))),
        Column::Text(text_col(&|f| Some(f.dst.to_string()))),
        Column::Text(text_col(&|f| {
            f.hints.observed.map(|o| o.name().to_string())
        })),
    ];

    let schema = Arc::new(parquet::schema::parser::parse_message_type(PARQUET_SCHEMA)?);
    let props = Arc::new(WriterProperties::builder().set_compression(codec).build());
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, props)?;
    let mut group = writer.next_row_group()?;
    let mut columns = columns.into_iter();
    while let Some(mut col) = group.next_column()? {
        let Some(values) = columns.next() else { break };
        fn levels<T>(v: &[Option<T>]) -> Vec<i16> {
            v.iter().map(|x| i16::from(x.is_some())).collect()
        }
        match values {
            Column::Int(v) => {
                let present: Vec<i32> = v.iter().flatten().copied().collect();
                col.typed::<Int32Type>()
                    .write_batch(&present, Some(&levels(&v)), None)?;
            }
            Column::Long(v) => {
                let present: Vec<i64> = v.iter().flatten().copied().collect();
                col.typed::<Int64Type>()
                    .write_batch(&present, Some(&levels(&v)), None)?;
            }
            Column::Text(v) => {
                let present: Vec<ByteArray> = v
                    .iter()
                    .flatten()
                    .map(|s| ByteArray::from(s.as_str()))
                    .collect();
                col.typed::<ByteArrayType>()
                    .write_batch(&present, Some(&levels(&v)), None)?;
            }
        }
        col.close()?;
    }
    group.close()?;
    writer.into_inner()
}
