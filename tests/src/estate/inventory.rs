//! The inventory of a generated estate: `inventory.yaml`, or the identities
//! split between `inventory/base.yaml` (which declares the attributes) and
//! `inventory/more.json`.
//!
//! Identity `k` (its ordinal) owns `10.0.k.1/32`, optionally the block
//! `10.0.k.8/30` and `fd00::k:1/128`; an overlapping identity also claims the
//! next identity's host address. Kubernetes labels (`app: <name>`), AWS
//! groups and GCP accounts are unique per identity, so no target refuses two
//! identities it cannot tell apart (E0402).

use super::model::{EstateModel, IdentitySpec, Status};
use ipnet::IpNet;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;

const TEAMS: [&str; 3] = ["payments", "web", "ledger"];
const ENVS: [&str; 3] = ["dev", "staging", "prod"];

/// The identity's addresses as written, in order.
pub fn addresses(m: &EstateModel, i: usize) -> Vec<String> {
    let id = &m.identities[i];
    let o = id.ordinal;
    let host = |o: u8| {
        if id.bare_addresses {
            format!("10.0.{o}.1")
        } else {
            format!("10.0.{o}.1/32")
        }
    };
    let mut out = Vec::new();
    if id.v4 {
        out.push(host(o));
    }
    if id.v4_block {
        out.push(format!("10.0.{o}.8/30"));
    }
    if id.v6 {
        out.push(format!("fd00::{o:x}:1"));
    }
    if id.overlap && m.identities.len() > 1 {
        let next = m.identities[(i + 1) % m.identities.len()].ordinal;
        let a = host(next);
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

fn fields(m: &EstateModel, i: usize) -> Map<String, Value> {
    let id: &IdentitySpec = &m.identities[i];
    let base = id.base_name();
    let team = TEAMS[id.team as usize % 3];
    let mut f = Map::new();
    f.insert("name".into(), json!(id.name()));
    f.insert("kind".into(), json!(id.kind.as_str()));
    if id.owner {
        f.insert("owner".into(), json!(format!("team-{team}")));
    }
    let mut attrs = Map::new();
    attrs.insert("team".into(), json!(team));
    if let Some(e) = id.env {
        attrs.insert("env".into(), json!(ENVS[e as usize % 3]));
    }
    if let Some(t) = id.tier {
        attrs.insert("tier".into(), json!(t));
    }
    if let Some(p) = id.pci {
        attrs.insert("pci".into(), json!(p));
    }
    f.insert("attributes".into(), Value::Object(attrs));
    let mut labels = Map::new();
    labels.insert("app".into(), json!(base));
    if let Some(t) = id.tier_label {
        labels.insert("tier".into(), json!(["web", "edge"][t as usize % 2]));
    }
    f.insert("labels".into(), Value::Object(labels));
    let addrs = addresses(m, i);
    if !addrs.is_empty() {
        f.insert("addresses".into(), json!(addrs));
    }
    if let Some(k) = &id.kubernetes {
        let mut b = json!({"namespace": team, "labels": {"app": base}});
        if k.service_account {
            b["service_account"] = json!(base);
        }
        f.insert("kubernetes".into(), b);
    }
    match id.aws {
        Some(true) => {
            let sg = format!("sg-{:017x}", 0xa000 + u32::from(id.ordinal));
            f.insert("aws".into(), json!({ "security_group": sg }));
        }
        Some(false) => {
            f.insert("aws".into(), json!({}));
        }
        None => {}
    }
    if id.gcp {
        let sa = format!("{base}@seg-gen.iam.gserviceaccount.com");
        f.insert("gcp".into(), json!({ "service_account": sa }));
    }
    if id.spiffe {
        let uri = format!("spiffe://gen.example/ns/{team}/sa/{base}");
        f.insert("spiffe".into(), json!(uri));
    }
    if let Some((shared, stale)) = id.credential {
        let rotated = if stale { "2025-01-15" } else { "2026-10-01" };
        f.insert(
            "credential".into(),
            json!({"type": "x509", "rotated": rotated, "max_age": "90d", "shared": shared}),
        );
    }
    match id.status {
        Status::Active => {}
        Status::Expiring => {
            f.insert("expires".into(), json!("2027-06-30"));
        }
        Status::Disabled => {
            f.insert("status".into(), json!("disabled"));
        }
        Status::Expired => {
            f.insert("expires".into(), json!("2026-01-31"));
        }
    }
    f
}

/// A YAML scalar: plain when safe, else a JSON (= YAML double-quoted) string.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '@'))
                && s.parse::<f64>().is_err()
                && !matches!(s.as_str(), "true" | "false" | "null" | "yes" | "no");
            if plain && !s.contains("::") {
                s.clone()
            } else {
                serde_json::to_string(s).unwrap_or_default()
            }
        }
        Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{k}: {}", scalar(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(scalar).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

fn yaml(ids: &[Map<String, Value>], declare: bool) -> String {
    let mut out = String::from("version: 1\n");
    if declare {
        out.push_str(
            "attributes:\n  team: string\n  env: enum[dev, staging, prod]\n  tier: int\n  pci: bool\n",
        );
    }
    if ids.is_empty() {
        out.push_str("identities: []\n");
        return out;
    }
    out.push_str("identities:\n");
    for f in ids {
        let mut first = true;
        for (k, v) in f {
            let lead = if first { "  - " } else { "    " };
            first = false;
            let _ = writeln!(out, "{lead}{k}: {}", scalar(v));
        }
    }
    out
}

/// Write the inventory files; record every address for boundary flows.
pub fn write(m: &EstateModel, files: &mut BTreeMap<String, String>, nets: &mut Vec<IpNet>) {
    let all: Vec<Map<String, Value>> = (0..m.identities.len()).map(|i| fields(m, i)).collect();
    for i in 0..m.identities.len() {
        for a in addresses(m, i) {
            if let Ok(n) = a
                .parse::<IpNet>()
                .or_else(|_| a.parse::<std::net::IpAddr>().map(IpNet::from))
            {
                nets.push(n);
            }
        }
    }
    if !m.split_inventory {
        files.insert("inventory.yaml".into(), yaml(&all, true));
        return;
    }
    // Odd positions go to the JSON file; attributes are declared once, in YAML.
    let (yaml_ids, json_ids): (Vec<_>, Vec<_>) =
        all.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let yaml_ids: Vec<_> = yaml_ids.into_iter().map(|(_, f)| f).collect();
    let json_ids: Vec<Value> = json_ids
        .into_iter()
        .map(|(_, f)| Value::Object(f))
        .collect();
    files.insert("inventory/base.yaml".into(), yaml(&yaml_ids, true));
    let doc = json!({"version": 1, "identities": json_ids});
    files.insert(
        "inventory/more.json".into(),
        serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n",
    );
}
