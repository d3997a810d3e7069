//! Rendering normalised records in each input format: for generated test
//! estates (the same planted flows in every format) and round trips.
//!
//! Each writer renders what its format can hold: fields a format lacks are
//! left out, so reading the output back gives the record minus those fields.

use crate::aws::AwsFields;
use crate::record::*;
use seg_ir::Timestamp;

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
