//! Inputs for the bundle, written here from the documented input schema
//! (docs/backends/opa.md) rather than taken from the backend, and Envoy
//! CheckRequests as the OPA-Envoy plugin presents them.

use seg_ir::{Flow, FlowEndpoint, Program, Protocol};
use serde_json::{Map, Value, json};

/// The `data.seg.authz` input for a flow, deciding at the flow's instant.
pub fn authz(program: &Program, flow: &Flow) -> Value {
    let endpoint = |e: FlowEndpoint| match e {
        FlowEndpoint::Identity(id) => json!({"principal": program.identity(id).principal()}),
        FlowEndpoint::Address(a) => json!({"address": a.to_string()}),
    };
    let protocol = match flow.protocol {
        Protocol::Tcp => json!("tcp"),
        Protocol::Udp => json!("udp"),
        Protocol::Sctp => json!("sctp"),
        Protocol::Icmp => json!("icmp"),
        Protocol::Other(n) => json!(n),
    };
    let mut input = json!({
        "source": endpoint(flow.src),
        "destination": endpoint(flow.dst),
        "protocol": protocol,
        "port": flow.port,
        "mtls": flow.mtls,
        "now": flow.at.to_string(),
    });
    let mut request = Map::new();
    if let Some(m) = &flow.method {
        request.insert("method".into(), json!(m));
    }
    if let Some(p) = &flow.path {
        request.insert("path".into(), json!(p));
    }
    if !request.is_empty() {
        input["request"] = Value::Object(request);
    }
    if !flow.context.is_empty() {
        input["context"] = json!(flow.context);
    }
    input
}

/// An Envoy peer: principal only with mTLS, and an address.
pub struct Peer {
    pub principal: Option<String>,
    pub address: String,
    pub port: u16,
}

/// An OPA-Envoy input (`envoy.service.auth.v3.CheckRequest` as protojson:
/// lowerCamelCase, zero values omitted).
pub fn envoy(source: &Peer, destination: &Peer, method: &str, path: &str) -> Value {
    let peer = |p: &Peer| {
        let mut v =
            json!({"address": {"socketAddress": {"address": p.address, "portValue": p.port}}});
        if let Some(principal) = &p.principal {
            v["principal"] = json!(principal);
        }
        v
    };
    json!({
        "attributes": {
            "source": peer(source),
            "destination": peer(destination),
            "request": {
                "time": "2026-11-20T12:00:00.000000Z",
                "http": {
                    "id": "13359530607844510314",
                    "method": method,
                    "headers": {":authority": "ledger.example", ":method": method, ":path": path, "x-seg-context-break_glass": "true"},
                    "path": path,
                    "host": "ledger.example",
                    "scheme": "http",
                    "protocol": "HTTP/1.1"
                }
            },
            "metadataContext": {}
        },
        "parsed_path": path.trim_start_matches('/').split('?').next().unwrap_or("").split('/').collect::<Vec<_>>(),
        "parsed_query": {},
        "truncated_body": false
    })
}
