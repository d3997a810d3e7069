//! One entry of `identities:` → an [`InvIdentity`], with its attribute values
//! checked against the declarations of every file, and the credential lints
//! (W0102 shared, W0103 overdue rotation) raised where the credential is written.

use super::model::{AttrDecl, AttrType, Credential, HeldAddress, InvIdentity, Status};
use super::schema::{Decls, Fields, Reader};
use super::tree::{Node, Value};
use super::values;
use ipnet::IpNet;
use seg_diag::{Code, Diagnostic, Span, did_you_mean};
use seg_ir::time::parse_duration;
use seg_ir::{AwsBinding, Date, GcpBinding, IdentityKind, KubernetesBinding, Now, Timestamp};
use std::collections::BTreeMap;

pub const IDENTITY_FIELDS: &[&str] = &[
    "name",
    "kind",
    "owner",
    "attributes",
    "labels",
    "addresses",
    "kubernetes",
    "aws",
    "gcp",
    "spiffe",
    "credential",
    "status",
    "expires",
];
pub(crate) const KUBERNETES_FIELDS: &[&str] = &["namespace", "labels", "service_account"];
pub(crate) const AWS_FIELDS: &[&str] = &["security_group"];
pub(crate) const GCP_FIELDS: &[&str] = &["service_account"];
pub(crate) const CREDENTIAL_FIELDS: &[&str] = &["type", "rotated", "max_age", "shared"];
pub(crate) const ADDRESS_FIELDS: &[&str] = &["address", "from", "until"];

/// References attached to the credential lints (shown as notes, read by SARIF writers).
pub const SHARED_CREDENTIAL_REFERENCES: &str = "OWASP Non-Human Identities Top 10 (2025) NHI9 \"NHI Reuse\"; NIST CSF 2.0 PR.AA-01 (identities and credentials are managed)";
pub const STALE_CREDENTIAL_REFERENCES: &str = "OWASP Non-Human Identities Top 10 (2025) NHI7 \"Long-Lived Secrets\"; NIST CSF 2.0 PR.AA-01 (identities and credentials are managed)";

/// An identity read from one entry, with the spans of its addresses for the overlap lint.
pub struct Read {
    pub identity: InvIdentity,
    pub address_spans: Vec<(HeldAddress, Span)>,
}

/// Where the names seen so far were defined, for E0104.
pub type Names = crate::fasthash::FastMap<String, Span>;

pub fn identity(
    r: &mut Reader<'_>,
    node: &Node,
    decls: &Decls,
    names: &mut Names,
    now: &Now,
) -> Option<Read> {
    let errors = r.errors;
    let fields = r.fields(node, IDENTITY_FIELDS, "an identity")?;
    let name = identity_name(r, node, &fields, names);
    let who = name
        .as_deref()
        .map_or("an identity".to_string(), |n| format!("identity `{n}`"));

    let kind = match fields.get("kind") {
        None => {
            let at = fields.get("name").unwrap_or(node);
            r.missing(
                at,
                "kind",
                &who,
                "add `kind:` with one of workload, service_account, agent, ci_job, api_key",
            );
            None
        }
        Some(k) => {
            let all: Vec<&str> = IdentityKind::ALL.iter().map(|k| k.as_str()).collect();
            r.one_of(k, &all, "identity kind")
                .and_then(IdentityKind::parse)
        }
    };
    let owner = fields
        .get("owner")
        .and_then(|o| r.text(o, "owner"))
        .map(str::to_string);
    let attributes = fields
        .get("attributes")
        .map(|a| attributes(r, a, decls))
        .unwrap_or_default();
    let labels = fields
        .get("labels")
        .map(|l| string_map(r, l, "labels", false))
        .unwrap_or_default();
    let address_spans = fields
        .get("addresses")
        .map(|a| addresses(r, a))
        .unwrap_or_default();
    let kubernetes = fields.get("kubernetes").and_then(|k| kubernetes(r, k));
    let aws = fields.get("aws").and_then(|a| aws(r, a));
    let gcp = fields.get("gcp").and_then(|g| gcp(r, g));
    let spiffe = fields.get("spiffe").and_then(|s| {
        let id = r.string(s, "`spiffe`")?;
        r.check(s, values::spiffe_id(id)).map(|()| id.to_string())
    });
    let credential = fields
        .get("credential")
        .and_then(|c| credential(r, c, &who, now));
    let status = match fields.get("status") {
        None => Some(Status::Active),
        Some(s) => r
            .one_of(s, &["active", "disabled"], "status")
            .map(|s| match s {
                "disabled" => Status::Disabled,
                _ => Status::Active,
            }),
    };
    let expires = fields.get("expires").and_then(|e| date(r, e, "`expires`"));

    if r.errors > errors {
        return None;
    }
    let mut addresses: Vec<IpNet> = address_spans
        .iter()
        .filter(|(h, _)| now.within(h.from, h.until))
        .map(|(h, _)| h.net)
        .collect();
    addresses.sort();
    addresses.dedup();
    let identity = InvIdentity {
        name: name?,
        name_span: fields.get("name")?.span,
        span: node.span,
        kind: kind?,
        owner,
        attributes,
        labels,
        addresses,
        held: address_spans.iter().map(|(h, _)| *h).collect(),
        kubernetes,
        aws,
        gcp,
        spiffe,
        credential,
        status: status?,
        expires,
    };
    Some(Read {
        identity,
        address_spans,
    })
}

/// The name, checked and recorded even when the rest of the entry has problems,
/// so duplicates are found in any case.
fn identity_name(
    r: &mut Reader<'_>,
    node: &Node,
    fields: &Fields<'_>,
    names: &mut Names,
) -> Option<String> {
    let Some(n) = fields.get("name") else {
        r.missing(
            node,
            "name",
            "an identity",
            "add `name:` with the name policies use for this identity",
        );
        return None;
    };
    let name = r.text(n, "identity name")?;
    if let Some(first) = names.get(name) {
        r.report(
            Diagnostic::error(
                Code::DuplicateIdentity,
                format!("identity `{name}` is defined twice"),
            )
            .with_primary(n.span, "defined again here")
            .with_secondary(*first, "first defined here")
            .with_note("identity names are unique across all inventory files")
            .with_help("remove one of the entries or rename it"),
        );
        return None;
    }
    names.insert(name.to_string(), n.span);
    Some(name.to_string())
}

fn attributes(r: &mut Reader<'_>, node: &Node, decls: &Decls) -> BTreeMap<String, seg_ir::Value> {
    let mut out = BTreeMap::new();
    let Some(fields) = r.entries(node, "`attributes`") else {
        return out;
    };
    for (name, key, value) in fields.iter() {
        if decls.unreadable || decls.broken.contains(name) {
            continue;
        }
        let Some(decl) = decls.types.get(name) else {
            let mut d = Diagnostic::error(
                Code::UndeclaredAttribute,
                format!("undeclared attribute `{name}`"),
            )
            .with_primary(key.span, "not declared under `attributes:`");
            d = match did_you_mean(name, decls.types.keys().map(String::as_str)) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!(
                    "declare it at the top level: `attributes: {{ {name}: string }}`"
                )),
            };
            r.report(d);
            continue;
        };
        if let Some(v) = attribute_value(r, name, decl, value) {
            out.insert(name.to_string(), v);
        }
    }
    out
}

fn attribute_value(
    r: &mut Reader<'_>,
    name: &str,
    decl: &AttrDecl,
    node: &Node,
) -> Option<seg_ir::Value> {
    let ty = decl.ty.describe();
    let value = match (&decl.ty, &node.value) {
        (AttrType::String, Value::Str(s)) => Some(seg_ir::Value::String(s.to_string())),
        (AttrType::Int, Value::Int(i)) => Some(seg_ir::Value::Int(*i)),
        (AttrType::Bool, Value::Bool(b)) => Some(seg_ir::Value::Bool(*b)),
        (AttrType::Enum(allowed), Value::Str(s)) => {
            if allowed.iter().any(|a| *a == **s) {
                Some(seg_ir::Value::String(s.to_string()))
            } else {
                let mut d = Diagnostic::error(
                    Code::InvalidValue,
                    format!("`{s}` is not a value of attribute `{name}`"),
                )
                .with_primary(node.span, format!("not in `{ty}`"))
                .with_secondary(decl.span, "declared here");
                d = match did_you_mean(s, allowed.iter().map(String::as_str)) {
                    Some(m) => d.with_help(format!("did you mean `{m}`?")),
                    None => d.with_help(format!(
                        "use one of {}, or add `{s}` to the enum",
                        allowed.join(", ")
                    )),
                };
                r.report(d);
                return None;
            }
        }
        _ => None,
    };
    if value.is_none() {
        let expected = match decl.ty {
            AttrType::String => "a string",
            AttrType::Int => "an integer",
            AttrType::Bool => "a boolean",
            AttrType::Enum(_) => "one of the enum's values",
        };
        let d = r
            .mismatch(node, expected, &format!("attribute `{name}`"))
            .with_secondary(decl.span, format!("declared as `{ty}` here"));
        r.report(d);
        return None;
    }
    if let Some(seg_ir::Value::String(s)) = &value {
        r.check(
            node,
            values::text(s, &format!("value of attribute `{name}`")),
        )?;
    }
    value
}

/// A mapping of string keys to string values (`labels`); with `kubernetes`,
/// keys and values must also be valid Kubernetes label keys and values.
fn string_map(
    r: &mut Reader<'_>,
    node: &Node,
    context: &str,
    kubernetes: bool,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(fields) = r.entries(node, &format!("`{context}`")) else {
        return out;
    };
    for (key, key_node, value) in fields.iter() {
        let key_ok = if kubernetes {
            r.check(key_node, values::k8s_label_key(key))
        } else {
            r.check(key_node, values::text(key, "label key"))
        };
        let Some(v) = r.string(value, &format!("label `{key}`")) else {
            continue;
        };
        let value_ok = if kubernetes {
            r.check(value, values::k8s_label_value(v))
        } else if v.chars().any(values::forbidden_char) {
            r.check(value, values::text(v, "label value"))
        } else {
            Some(())
        };
        if key_ok.is_some() && value_ok.is_some() {
            out.insert(key.to_string(), v.to_string());
        }
    }
    out
}

fn addresses(r: &mut Reader<'_>, node: &Node) -> Vec<(HeldAddress, Span)> {
    let Value::Seq(items) = &node.value else {
        let mut d = r.mismatch(node, "a list", "`addresses`");
        if matches!(node.value, Value::Str(_)) {
            d = d.with_help(format!("write a list: `[{}]`", r.source(node)));
        }
        r.report(d);
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        // A windowed address is pointed at by its `address:` value, one line.
        let (held, span) = match &item.value {
            Value::Map(_) => held_address(r, item),
            _ => (
                r.string(item, "an address")
                    .and_then(|s| r.check(item, values::address(s)))
                    .map(|net| HeldAddress {
                        net,
                        from: None,
                        until: None,
                    }),
                item.span,
            ),
        };
        if let Some(h) = held {
            out.push((h, span));
        }
    }
    out
}

/// `{ address: 10.1.2.10, from: 2026-10-01T08:00:00Z, until: 2026-11-01 }`:
/// an address held only within `[from, until)`.
fn held_address(r: &mut Reader<'_>, node: &Node) -> (Option<HeldAddress>, Span) {
    let Some(fields) = r.fields(node, ADDRESS_FIELDS, "an address") else {
        return (None, node.span);
    };
    let span = fields.get("address").map_or(node.span, |a| a.span);
    let errors = r.errors;
    let net = match fields.get("address") {
        None => {
            r.missing(
                node,
                "address",
                "an address with a validity window",
                "add the address: `{ address: 10.1.2.10, from: 2026-10-01T00:00:00Z }`",
            );
            None
        }
        Some(a) => r
            .string(a, "`address`")
            .and_then(|s| r.check(a, values::address(s))),
    };
    let from = fields.get("from").and_then(|n| instant(r, n, "`from`"));
    let until = fields.get("until").and_then(|n| instant(r, n, "`until`"));
    if let (Some(f), Some(u), Some(un)) = (from, until, fields.get("until"))
        && u <= f
    {
        r.report(
            Diagnostic::error(
                Code::InvalidValue,
                format!("the address is held from {f} until {u}: an empty window"),
            )
            .with_primary(un.span, "not after `from`")
            .with_note("an address is held from `from` (included) until `until` (excluded)")
            .with_help("make `until` later than `from`"),
        );
    }
    if r.errors > errors {
        return (None, span);
    }
    (net.map(|net| HeldAddress { net, from, until }), span)
}

/// An RFC 3339 time, or a date meaning 00:00:00Z of that day.
fn instant(r: &mut Reader<'_>, node: &Node, context: &str) -> Option<Timestamp> {
    let help =
        "write a time such as `2026-10-01T08:00:00Z`, or a date such as `2026-10-01` for its start";
    let Value::Str(s) = &node.value else {
        let d = r.mismatch(node, "a time", context).with_help(help);
        r.report(d);
        return None;
    };
    let at = Timestamp::parse(s).or_else(|| Date::parse(s).map(Date::start));
    if at.is_none() {
        r.report(
            Diagnostic::error(Code::InvalidValue, format!("invalid time `{s}`"))
                .with_primary(node.span, "not a time or a date")
                .with_help(help),
        );
    }
    at
}

fn kubernetes(r: &mut Reader<'_>, node: &Node) -> Option<KubernetesBinding> {
    let fields = r.fields(node, KUBERNETES_FIELDS, "`kubernetes`")?;
    let namespace = match fields.get("namespace") {
        None => {
            r.missing(
                node,
                "namespace",
                "`kubernetes`",
                "add the namespace the workload runs in: `namespace: payments`",
            );
            None
        }
        Some(n) => {
            let s = r.string(n, "`namespace`");
            s.and_then(|s| r.check(n, values::k8s_namespace(s)).map(|()| s.to_string()))
        }
    };
    let labels = fields
        .get("labels")
        .map(|l| string_map(r, l, "labels", true))
        .unwrap_or_default();
    let service_account = fields.get("service_account").and_then(|s| {
        let name = r.string(s, "`service_account`")?;
        r.check(s, values::k8s_service_account(name))
            .map(|()| name.to_string())
    });
    Some(KubernetesBinding {
        namespace: namespace?,
        labels,
        service_account,
    })
}

fn aws(r: &mut Reader<'_>, node: &Node) -> Option<AwsBinding> {
    let fields = r.fields(node, AWS_FIELDS, "`aws`")?;
    let security_group = match fields.get("security_group") {
        None => None,
        Some(g) => {
            let id = r.string(g, "`security_group`")?;
            r.check(g, values::aws_security_group(id))?;
            Some(id.to_string())
        }
    };
    Some(AwsBinding { security_group })
}

fn gcp(r: &mut Reader<'_>, node: &Node) -> Option<GcpBinding> {
    let fields = r.fields(node, GCP_FIELDS, "`gcp`")?;
    let Some(sa) = fields.get("service_account") else {
        r.missing(node, "service_account", "`gcp`", "add the workload's service account email: `service_account: NAME@PROJECT.iam.gserviceaccount.com`");
        return None;
    };
    let email = r.string(sa, "`service_account`")?;
    r.check(sa, values::gcp_service_account(email))?;
    Some(GcpBinding {
        service_account: email.to_string(),
    })
}

fn date(r: &mut Reader<'_>, node: &Node, context: &str) -> Option<Date> {
    let Value::Str(s) = &node.value else {
        let d = r
            .mismatch(node, "a date", context)
            .with_help("write the date as `YYYY-MM-DD`, e.g. `2026-10-01`");
        r.report(d);
        return None;
    };
    let date = Date::parse(s);
    if date.is_none() {
        r.report(
            Diagnostic::error(Code::InvalidValue, format!("invalid date `{s}`"))
                .with_primary(node.span, "not a date")
                .with_help("write the date as `YYYY-MM-DD`, e.g. `2026-10-01`"),
        );
    }
    date
}

fn credential(r: &mut Reader<'_>, node: &Node, who: &str, now: &Now) -> Option<Credential> {
    let fields = r.fields(node, CREDENTIAL_FIELDS, "`credential`")?;
    let kind = fields
        .get("type")
        .and_then(|t| r.text(t, "credential type"))
        .map(str::to_string);
    let rotated = fields.get("rotated").and_then(|d| date(r, d, "`rotated`"));
    let max_age = fields.get("max_age").and_then(|m| duration(r, m));
    let shared = fields.get("shared").map(|s| r.boolean(s, "`shared`"));
    if let (Some(Some(true)), Some(s)) = (shared, fields.get("shared")) {
        r.report(
            Diagnostic::warning(
                Code::SharedCredential,
                format!("{who} uses a shared credential"),
            )
            .with_primary(
                fields.key("shared").map_or(s.span, |k| k.span.to(s.span)),
                "one secret, several workloads",
            )
            .with_note("a shared secret cannot be revoked or attributed per workload")
            .with_note(format!("see {SHARED_CREDENTIAL_REFERENCES}"))
            .with_help("issue one credential per workload and set `shared: false`"),
        );
    }
    if let (Some(rotated), Some(age), Some(rn), Some(an)) = (
        rotated,
        max_age,
        fields.get("rotated"),
        fields.get("max_age"),
    ) {
        let due = rotated.start().0.saturating_add(age);
        if now.reached(Timestamp(due.saturating_add(1))) {
            let now = now.exact();
            let due_text = if due % seg_ir::time::SECONDS_PER_DAY == 0 {
                Timestamp(due).date().to_string()
            } else {
                Timestamp(due).to_string()
            };
            r.report(
                Diagnostic::warning(
                    Code::StaleCredential,
                    format!("credential of {who} is overdue for rotation"),
                )
                .with_primary(rn.span, format!("last rotated {rotated}"))
                .with_secondary(an.span, "maximum age")
                .with_note(format!(
                    "rotation was due by {due_text}, {} days before the build time {now}",
                    (now.0 - due) / seg_ir::time::SECONDS_PER_DAY
                ))
                .with_note(format!("see {STALE_CREDENTIAL_REFERENCES}"))
                .with_help("rotate the credential and update `rotated`"),
            );
        }
    }
    Some(Credential {
        kind,
        rotated,
        max_age,
        shared: shared.flatten().unwrap_or(false),
        span: node.span,
    })
}

fn duration(r: &mut Reader<'_>, node: &Node) -> Option<i64> {
    let help = "write a duration like `90d`, `12h` or `30m`";
    let Value::Str(s) = &node.value else {
        let d = r.mismatch(node, "a duration", "`max_age`").with_help(help);
        r.report(d);
        return None;
    };
    match parse_duration(s) {
        Some(secs) if secs > 0 => Some(secs),
        _ => {
            r.report(
                Diagnostic::error(Code::InvalidValue, format!("invalid duration `{s}`"))
                    .with_primary(node.span, "not a duration")
                    .with_note(
                        "a duration is a positive whole number with a unit: `d`, `h`, `m` or `s`",
                    )
                    .with_help(help),
            );
            None
        }
    }
}
