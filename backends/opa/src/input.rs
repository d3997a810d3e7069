//! The input document of `data.seg.authz`: how a flow is written for the
//! policy, and its JSON Schema (`input.schema.json`).

use seg_ir::{ContextType, Flow, FlowEndpoint, Program, Protocol};
use serde_json::{Map, Value, json};

/// The input that asks the bundle to decide `flow` (time pinned with `now`).
pub fn for_flow(program: &Program, flow: &Flow) -> Value {
    let mut input = Map::new();
    input.insert("source".into(), endpoint(program, flow.src));
    input.insert("destination".into(), endpoint(program, flow.dst));
    input.insert(
        "protocol".into(),
        match flow.protocol {
            Protocol::Tcp => json!("tcp"),
            Protocol::Udp => json!("udp"),
            Protocol::Sctp => json!("sctp"),
            Protocol::Icmp => json!("icmp"),
            Protocol::Other(n) => json!(n),
        },
    );
    input.insert("port".into(), json!(flow.port));
    input.insert("mtls".into(), json!(flow.mtls));
    let mut request = Map::new();
    if let Some(m) = &flow.method {
        request.insert("method".into(), json!(m));
    }
    if let Some(p) = &flow.path {
        request.insert("path".into(), json!(p));
    }
    if !request.is_empty() {
        input.insert("request".into(), Value::Object(request));
    }
    if !flow.context.is_empty() {
        input.insert("context".into(), json!(flow.context));
    }
    input.insert("now".into(), json!(flow.at.to_string()));
    Value::Object(input)
}

fn endpoint(program: &Program, e: FlowEndpoint) -> Value {
    match e {
        FlowEndpoint::Identity(id) => match program.identities.get(id.0 as usize) {
            Some(identity) => json!({"principal": identity.principal()}),
            // Not an identity of this program: an endpoint the policy rejects.
            None => Value::Null,
        },
        FlowEndpoint::Address(a) => json!({"address": a.to_string()}),
    }
}

/// `input.schema.json` (JSON Schema 2020-12), with the program's contexts.
pub fn schema(comment: &str, program: &Program) -> Value {
    let endpoint = json!({
        "type": "object",
        "description": "An identity by its principal (SPIFFE ID, else inventory name) or an address; a known principal wins.",
        "properties": {
            "principal": {"type": "string"},
            "address": {"type": "string", "description": "IPv4 dotted quad or IPv6 address, no zone"}
        },
        "anyOf": [{"required": ["principal"]}, {"required": ["address"]}]
    });
    let mut contexts = Map::new();
    for (name, ty) in &program.contexts {
        let schema = match ty {
            ContextType::String => json!({"type": "string"}),
            ContextType::Int => json!({"type": "integer"}),
            ContextType::Bool => json!({"type": "boolean"}),
            ContextType::Enum(values) => json!({"type": "string", "enum": values}),
        };
        contexts.insert(name.clone(), schema);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": comment,
        "title": format!("input of data.seg.authz for `{}`", program.project),
        "type": "object",
        "required": ["source", "destination", "protocol"],
        "properties": {
            "source": endpoint.clone(),
            "destination": endpoint,
            "protocol": {
                "oneOf": [
                    {"enum": ["tcp", "udp", "sctp", "icmp"]},
                    {"type": "integer", "minimum": 0, "maximum": 255}
                ]
            },
            "port": {"type": "integer", "minimum": 0, "maximum": 65535, "description": "required for tcp, udp and sctp"},
            "mtls": {"type": "boolean", "description": "mutually authenticated as source.principal; absent means false"},
            "request": {
                "type": "object",
                "properties": {"method": {"type": "string"}, "path": {"type": "string"}}
            },
            "context": {"type": "object", "properties": contexts},
            "now": {"type": "string", "format": "date-time", "description": "decide at this instant instead of the clock"}
        }
    })
}
