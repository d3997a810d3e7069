//! JSON Schemas (draft 2020-12) of the inventory and of `seg.toml`, for editors: the YAML
//! language server checks an inventory as it is typed, taplo (Even Better TOML) a manifest.
//!
//! A schema says what the structure is: fields, types, required keys, the syntax of names
//! and values. What needs more than one value at a time stays with seg (duplicate names,
//! undeclared attributes and their types, overlapping addresses, host bits). The field and
//! key lists of the readers (`inventory::identity`, `manifest`) are the ones described here:
//! the tests fail when a field is added to one and not the other.

use crate::inventory::values::RESERVED_ATTRIBUTES;
use crate::manifest::audit::LEVELS as FINDING_LEVELS;
use crate::manifest::{AUDIT_FINDINGS, LEVELS as LINT_LEVELS, SIGNING_ALGORITHMS, TARGET_NAMES};
use seg_diag::Code;
use seg_ir::{ConditionClass, IdentityKind};
use serde_json::{Map, Value, json};

const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Text seg accepts as a name or free text: non-empty, without control characters, line
/// or paragraph separators or bidirectional controls (`inventory::values::forbidden_char`).
const TEXT: &str =
    r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029\u200E\u200F\u061C\u202A-\u202E\u2066-\u2069]+$";
/// A `.seg` bare name (an attribute name).
const BARE_NAME: &str = r"^[a-z][a-z0-9_]*(-[a-z0-9_]+)*$";
const DATE: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$";
/// An RFC 3339 time, or a date (00:00:00Z that day).
const TIME: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$";
const DURATION: &str = r"^[0-9]+[dhms]$";
const IPV4: &str = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}(/(3[0-2]|[12]?[0-9]))?";
const IPV6: &str = r"[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}(:(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3})?(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?";
const DNS_LABEL: &str = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
const DNS_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$";
const LABEL_KEY: &str = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
const LABEL_VALUE: &str = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$";
const SECURITY_GROUP: &str = r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$";
const GCP_SERVICE_ACCOUNT: &str =
    r"^[A-Za-z0-9_.-]{1,64}@[A-Za-z0-9_-][A-Za-z0-9_.-]*\.[A-Za-z0-9_-]+$";
const SPIFFE_ID: &str = r"^spiffe://[a-z0-9._-]+(/[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*)*$";
const VPC_ID: &str = r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$";
const GCP_NETWORK: &str = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$";
const ATTRIBUTE_TYPE: &str = r"^\s*(string|int|bool|enum\s*\[[^\[\]]*[^\s,\[\]][^\[\]]*\])\s*$";

fn text(description: &str) -> Value {
    json!({ "type": "string", "pattern": TEXT, "description": description })
}

fn pattern(p: &str, description: &str) -> Value {
    json!({ "type": "string", "pattern": p, "description": description })
}

/// A closed object: exactly `fields` (each described), none other.
fn object(fields: &[(&str, Value)], required: &[&str], description: &str) -> Value {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let mut o = json!({
        "type": "object",
        "description": description,
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    o
}

/// The inventory: one YAML or JSON file (docs/inventory.md).
pub fn inventory() -> Value {
    let kinds: Vec<&str> = IdentityKind::ALL.iter().map(|k| k.as_str()).collect();
    let address = json!({
        "type": "string",
        "pattern": format!("^({IPV4}|{IPV6})$"),
        "description": "an IPv4 or IPv6 address or CIDR (no host bits); a bare address is /32 or /128",
    });
    let identity = object(
        &identity_fields(&kinds, &address),
        &["name", "kind"],
        "A non-human identity: a workload, service account, agent, CI job or API key.",
    );
    let mut schema = object(
        &[
            (
                "version",
                json!({ "const": 1, "description": "The inventory format's version: 1." }),
            ),
            (
                "attributes",
                json!({
                    "type": "object",
                    "description": "Typed custom attributes, declared once for every file: NAME: string | int | bool | enum[a, b, c].",
                    "propertyNames": { "pattern": BARE_NAME, "not": { "enum": RESERVED_ATTRIBUTES } },
                    "additionalProperties": { "type": "string", "pattern": ATTRIBUTE_TYPE },
                }),
            ),
            (
                "identities",
                json!({ "type": "array", "items": { "$ref": "#/$defs/identity" }, "description": "The identities." }),
            ),
        ],
        &["version"],
        "A Seg identity inventory file.",
    );
    schema["$schema"] = json!(DIALECT);
    schema["title"] = json!("Seg identity inventory");
    schema["$defs"] = json!({ "identity": identity, "address": address });
    schema
}

fn identity_fields(kinds: &[&str], address: &Value) -> Vec<(&'static str, Value)> {
    let labels = json!({
        "type": "object",
        "description": "Free-form string labels, usable as labels.KEY in `where`.",
        "propertyNames": { "pattern": TEXT },
        "additionalProperties": { "type": "string", "pattern": TEXT },
    });
    let window = object(
        &[
            ("address", json!({ "$ref": "#/$defs/address" })),
            (
                "from",
                pattern(
                    TIME,
                    "The first instant the identity held the address (RFC 3339 time or date); open when absent.",
                ),
            ),
            (
                "until",
                pattern(
                    TIME,
                    "The first instant it no longer did (excluded); open when absent.",
                ),
            ),
        ],
        &["address"],
        "An address with the window in which the identity held it.",
    );
    vec![
        (
            "name",
            text("Unique across all files: the name policies use."),
        ),
        (
            "kind",
            json!({ "enum": kinds, "description": "What the identity is; decides its network presence." }),
        ),
        ("owner", text("The team or person responsible.")),
        (
            "attributes",
            json!({
                "type": "object",
                "description": "Values of the attributes declared under `attributes`.",
                "propertyNames": { "pattern": BARE_NAME },
                "additionalProperties": {
                    "anyOf": [
                        { "type": "string", "pattern": TEXT },
                        { "type": "integer" },
                        { "type": "boolean" },
                    ]
                },
            }),
        ),
        ("labels", labels),
        (
            "addresses",
            json!({
                "type": "array",
                "description": "Network presence on L3 targets: addresses or CIDRs, each optionally with a validity window.",
                "items": { "anyOf": [address.clone(), window] },
            }),
        ),
        (
            "kubernetes",
            object(
                &[
                    (
                        "namespace",
                        pattern(DNS_LABEL, "The namespace (an RFC 1123 label)."),
                    ),
                    (
                        "labels",
                        json!({
                            "type": "object",
                            "description": "The pod labels that select the identity's pods.",
                            "propertyNames": { "pattern": LABEL_KEY },
                            "additionalProperties": { "type": "string", "pattern": LABEL_VALUE },
                        }),
                    ),
                    (
                        "service_account",
                        json!({ "type": "string", "pattern": DNS_SUBDOMAIN, "maxLength": 253, "description": "The pods' service account (an RFC 1123 subdomain)." }),
                    ),
                ],
                &["namespace"],
                "The identity's pods.",
            ),
        ),
        (
            "aws",
            object(
                &[(
                    "security_group",
                    pattern(
                        SECURITY_GROUP,
                        "An existing security group id; absent, seg creates the group.",
                    ),
                )],
                &[],
                "Managed on AWS: `{}` lets seg create the group.",
            ),
        ),
        (
            "gcp",
            object(
                &[(
                    "service_account",
                    json!({ "type": "string", "pattern": GCP_SERVICE_ACCOUNT, "maxLength": 254, "description": "The service account email GCP firewall rules target." }),
                )],
                &["service_account"],
                "Managed on GCP, by service account.",
            ),
        ),
        (
            "spiffe",
            json!({ "type": "string", "pattern": SPIFFE_ID, "maxLength": 2048, "description": "The identity's SPIFFE ID (its mTLS principal)." }),
        ),
        (
            "credential",
            object(
                &[
                    ("type", text("x509, api_key, token, ... (free text).")),
                    (
                        "rotated",
                        pattern(DATE, "When the secret was last rotated (YYYY-MM-DD)."),
                    ),
                    (
                        "max_age",
                        pattern(
                            DURATION,
                            "How long a secret may live: 90d, 12h, 30m, 3600s.",
                        ),
                    ),
                    (
                        "shared",
                        json!({ "type": "boolean", "description": "One secret used by several workloads (W0102)." }),
                    ),
                ],
                &[],
                "The identity's credential, for the credential lints.",
            ),
        ),
        (
            "status",
            json!({ "enum": ["active", "disabled"], "description": "Policies may not reference a disabled identity." }),
        ),
        (
            "expires",
            pattern(DATE, "The identity's own end of life (YYYY-MM-DD)."),
        ),
    ]
}

/// `seg.toml` (docs/manifest.md).
pub fn manifest() -> Value {
    let lints: Vec<&str> = Code::lint_names();
    let classes: Vec<&str> = ConditionClass::ALL.iter().map(|c| c.as_str()).collect();
    let globs = |description: &str| {
        json!({
            "type": "array",
            "minItems": 1,
            "items": { "type": "string", "minLength": 1 },
            "description": description,
        })
    };
    let duration = |description: &str| pattern(DURATION, description);
    let mut audit: Vec<(&str, Value)> = AUDIT_FINDINGS
        .iter()
        .map(|(name, level)| {
            (
                *name,
                json!({ "enum": FINDING_LEVELS, "description": format!("How `seg audit` reports `{name}` (default: {}).", level.as_str()) }),
            )
        })
        .collect();
    audit.extend([
        (
            "expiring-within",
            duration("An expiring rule in use is reported this long before its end (default 14d)."),
        ),
        (
            "ephemeral-ports",
            pattern(
                r"^[0-9]{1,5}-[0-9]{1,5}$",
                "Client ports, LOW-HIGH (default 32768-65535).",
            ),
        ),
        (
            "max-gap",
            duration(
                "A flow log interface silent longer than this has a coverage gap (default 20m).",
            ),
        ),
        (
            "nodata",
            json!({ "enum": ["gap", "idle"], "description": "What an AWS NODATA record means: a coverage gap (default) or an idle, logged interval." }),
        ),
    ]);
    let mut schema = object(
        &manifest_tables(&lints, &classes, &globs, &audit),
        &["project"],
        "The manifest of a Seg project.",
    );
    schema["$schema"] = json!(DIALECT);
    schema["title"] = json!("Seg project manifest (seg.toml)");
    schema
}

fn manifest_tables(
    lints: &[&str],
    classes: &[&str],
    globs: &dyn Fn(&str) -> Value,
    audit: &[(&str, Value)],
) -> Vec<(&'static str, Value)> {
    let targets: Vec<(&str, Value)> = TARGET_NAMES.iter().map(|t| (*t, target(t))).collect();
    vec![
        (
            "project",
            object(
                &[
                    (
                        "name",
                        text("The project's name, used in reports and generated headers."),
                    ),
                    (
                        "inventory",
                        globs(
                            "Inventory files (globs, relative to the project folder); default [\"inventory.yaml\"].",
                        ),
                    ),
                    (
                        "sources",
                        globs(
                            "Policy files (globs, relative to the project folder); default [\"**/*.seg\"].",
                        ),
                    ),
                ],
                &["name"],
                "The project.",
            ),
        ),
        (
            "targets",
            object(
                &targets,
                &[],
                "The targets `seg build` writes, in this order.",
            ),
        ),
        (
            "enforcement",
            object(
                &[(
                    "layered",
                    json!({
                        "type": "array",
                        "uniqueItems": true,
                        "items": { "enum": classes },
                        "description": "Condition classes an application layer enforces: L3/L4 targets emit the rule as if they held (W0404).",
                    }),
                )],
                &[],
                "What other layers enforce.",
            ),
        ),
        (
            "lints",
            json!({
                "type": "object",
                "description": "The level of each lint.",
                "propertyNames": { "enum": lints },
                "additionalProperties": { "enum": LINT_LEVELS },
            }),
        ),
        (
            "audit",
            object(
                audit,
                &[],
                "How `seg audit` reports what observed flows say.",
            ),
        ),
        ("reach", reach()),
        (
            "jit",
            object(
                &[
                    (
                        "max-ttl",
                        pattern(
                            r"^([0-9]+[smhd])+$",
                            "The longest lifetime of a just-in-time grant, e.g. 8h or 1h30m (default 8h, at most 90d).",
                        ),
                    ),
                    (
                        "file",
                        pattern(
                            r"^[^/\\].*\.seg$",
                            "The grants file `seg grant` writes, relative to the project folder (default policy/grants.seg).",
                        ),
                    ),
                    (
                        "grantable",
                        text(
                            "The identities a grant may name without approved-by, as a predicate of `identities where` (default: every identity).",
                        ),
                    ),
                ],
                &[],
                "Just-in-time grants (seg grant).",
            ),
        ),
    ]
}

/// `[reach]` (docs/reach.md).
fn reach() -> Value {
    let kinds: Vec<&str> = seg_ir::IdentityKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    object(
        &[
            (
                "critical",
                text(
                    "The critical identities, as an `identities where` predicate over inventory attributes, e.g. 'tier == 0'.",
                ),
            ),
            (
                "entry",
                json!({ "type": "array", "items": { "type": "string", "minLength": 1 }, "description": "Entry points: segments (network or identity, the policy's or std::segments') or identities reachable from outside." }),
            ),
            (
                "hops",
                json!({ "type": "integer", "minimum": 1, "maximum": 64, "description": "Paths from an entry point to a critical identity are reported up to this many hops (default 3)." }),
            ),
            (
                "pivot",
                json!({ "type": "array", "uniqueItems": true, "items": { "enum": kinds }, "description": "Kinds whose compromise is used in turn (default: every kind but api_key)." }),
            ),
            (
                "blast-radius",
                json!({ "type": "integer", "minimum": 1, "description": "The blast-radius lint warns for identities reaching more identities than this." }),
            ),
        ],
        &[],
        "Blast radius: crown jewels, entry points and the blast-radius lint.",
    )
}

fn target(name: &str) -> Value {
    match name {
        "iptables" => object(
            &[(
                "ipset-threshold",
                json!({ "type": "integer", "minimum": 1, "maximum": 65536, "description": "An address group with at least this many CIDRs becomes an ipset (default 8)." }),
            )],
            &[],
            "iptables rulesets.",
        ),
        "nftables" => object(
            &[(
                "set-threshold",
                json!({ "type": "integer", "minimum": 1, "maximum": 65536, "description": "An address group with at least this many CIDRs becomes a named set (default 8)." }),
            )],
            &[],
            "nftables rulesets, one inet table per host.",
        ),
        "istio" => object(
            &[
                (
                    "trust-domain",
                    json!({ "type": "string", "pattern": "^[a-z0-9._-]{1,255}$", "description": "The mesh's trust domain, for principals made from a kubernetes binding (default cluster.local)." }),
                ),
                system_namespaces(),
                default_deny_system_namespaces(),
            ],
            &[],
            "Istio AuthorizationPolicy and PeerAuthentication objects.",
        ),
        "kubernetes" => object(
            &[system_namespaces(), default_deny_system_namespaces()],
            &[],
            "Kubernetes NetworkPolicies.",
        ),
        "aws" => object(
            &[
                (
                    "formats",
                    json!({ "type": "array", "minItems": 1, "uniqueItems": true, "items": { "enum": ["terraform", "cloudformation"] }, "description": "The files emitted (default both)." }),
                ),
                (
                    "max-rules-per-group",
                    json!({ "type": "integer", "minimum": 1, "maximum": 1000, "description": "The account's rules-per-group quota (default 60)." }),
                ),
                (
                    "max-groups-per-interface",
                    json!({ "type": "integer", "minimum": 1, "maximum": 16, "description": "The account's security-groups-per-interface quota (default 5)." }),
                ),
                (
                    "vpc-id",
                    pattern(
                        VPC_ID,
                        "The VPC of the groups seg creates; a Terraform variable when absent.",
                    ),
                ),
            ],
            &[],
            "AWS security groups (Terraform, CloudFormation).",
        ),
        "gcp" => object(
            &[(
                "network",
                pattern(GCP_NETWORK, "The VPC network the firewall rules belong to."),
            )],
            &["network"],
            "GCP firewall rules.",
        ),
        "opa" => {
            let mut o = object(
                &[
                    (
                        "signing-key",
                        json!({ "type": "string", "minLength": 1, "description": "The key file that signs the bundle, relative to the project folder." }),
                    ),
                    (
                        "signing-algorithm",
                        json!({ "enum": SIGNING_ALGORITHMS, "description": "The JWS algorithm (default RS256)." }),
                    ),
                    (
                        "signing-key-id",
                        json!({ "type": "string", "minLength": 1, "description": "The `kid` put in the signature." }),
                    ),
                ],
                &[],
                "An OPA bundle.",
            );
            o["dependentRequired"] = json!({
                "signing-algorithm": ["signing-key"],
                "signing-key-id": ["signing-key"],
            });
            o
        }
        _ => object(&[], &[], &format!("The {name} target.")),
    }
}

/// `system-namespaces`, read alike by the kubernetes and istio tables.
fn system_namespaces() -> (&'static str, Value) {
    (
        "system-namespaces",
        json!({ "type": "array", "uniqueItems": true, "items": { "type": "string", "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" }, "description": "System namespaces besides kube-system, kube-public and kube-node-lease: never under a namespace-wide default deny; seg isolates only the pods it manages there." }),
    )
}

/// `default-deny-system-namespaces`, read alike by the kubernetes and istio tables.
fn default_deny_system_namespaces() -> (&'static str, Value) {
    (
        "default-deny-system-namespaces",
        json!({ "type": "boolean", "description": "Put system namespaces under a namespace-wide default deny like any other (default false)." }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::identity::{
        ADDRESS_FIELDS, AWS_FIELDS, CREDENTIAL_FIELDS, GCP_FIELDS, IDENTITY_FIELDS,
        KUBERNETES_FIELDS,
    };
    use crate::inventory::schema::TOP_FIELDS;
    use crate::manifest::audit::SETTINGS as AUDIT_SETTINGS;
    use crate::manifest::targets::{
        AWS_KEYS, GCP_KEYS, IPTABLES_KEYS, ISTIO_KEYS, KUBERNETES_KEYS, NFTABLES_KEYS, OPA_KEYS,
    };
    use crate::manifest::{ENFORCEMENT_KEYS, PROJECT_KEYS, REACH_KEYS, TOP_TABLES};
    use std::collections::BTreeSet;

    fn keys(v: &Value) -> BTreeSet<String> {
        v["properties"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn set(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// A field the reader knows and the schema does not (or the reverse) fails here: add
    /// it to `schema.rs` with the reader.
    #[test]
    fn the_schemas_describe_exactly_what_the_readers_read() {
        let inv = inventory();
        assert_eq!(keys(&inv), set(TOP_FIELDS));
        let id = &inv["$defs"]["identity"];
        assert_eq!(keys(id), set(IDENTITY_FIELDS));
        assert_eq!(
            keys(&id["properties"]["kubernetes"]),
            set(KUBERNETES_FIELDS)
        );
        assert_eq!(keys(&id["properties"]["aws"]), set(AWS_FIELDS));
        assert_eq!(keys(&id["properties"]["gcp"]), set(GCP_FIELDS));
        assert_eq!(
            keys(&id["properties"]["credential"]),
            set(CREDENTIAL_FIELDS)
        );
        let window = &id["properties"]["addresses"]["items"]["anyOf"][1];
        assert_eq!(keys(window), set(ADDRESS_FIELDS));

        let m = manifest();
        assert_eq!(keys(&m), set(TOP_TABLES));
        let p = &m["properties"];
        assert_eq!(keys(&p["project"]), set(PROJECT_KEYS));
        assert_eq!(keys(&p["enforcement"]), set(ENFORCEMENT_KEYS));
        assert_eq!(keys(&p["targets"]), set(TARGET_NAMES));
        let t = &p["targets"]["properties"];
        assert_eq!(keys(&t["iptables"]), set(IPTABLES_KEYS));
        assert_eq!(keys(&t["nftables"]), set(NFTABLES_KEYS));
        assert_eq!(keys(&t["istio"]), set(ISTIO_KEYS));
        assert_eq!(keys(&t["kubernetes"]), set(KUBERNETES_KEYS));
        assert_eq!(keys(&t["aws"]), set(AWS_KEYS));
        assert_eq!(keys(&t["gcp"]), set(GCP_KEYS));
        assert_eq!(keys(&t["opa"]), set(OPA_KEYS));
        let mut audit: Vec<&str> = AUDIT_FINDINGS.iter().map(|(n, _)| *n).collect();
        audit.extend(AUDIT_SETTINGS);
        assert_eq!(keys(&p["audit"]), set(&audit));
        assert_eq!(keys(&p["reach"]), set(REACH_KEYS));
        assert_eq!(keys(&p["jit"]), set(crate::manifest::jit::KEYS));
    }
}
