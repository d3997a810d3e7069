//! The documents of the bundle as serde types. They are turned into
//! `serde_json::Value` and written by [`crate::canonical`] (sorted keys,
//! compact), which is what OPA hashes when it verifies a signed bundle.
//!
//! `data.seg` (from `seg/data.json`) is documented field by field in
//! docs/backends/opa.md; the policy in `seg/authz.rego` reads it.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// `seg/data.json`, loaded by OPA at `data.seg`.
#[derive(Debug, Serialize)]
pub struct SegData {
    #[serde(rename = "//")]
    pub header: String,
    pub meta: Meta,
    /// Identity name → facts about it.
    pub identities: BTreeMap<String, IdentityDoc>,
    /// Principal (SPIFFE ID, else name) → the identity as an endpoint.
    pub principals: BTreeMap<String, EndpointDoc>,
    /// Declared `context` inputs and their types.
    pub contexts: BTreeMap<String, ContextDoc>,
    /// Protocol name → how the policy treats it.
    pub protocols: BTreeMap<&'static str, ProtocolDoc>,
    /// IP protocol number of a named protocol → that protocol.
    pub protocol_numbers: BTreeMap<&'static str, ProtocolDoc>,
    pub addresses: AddressesDoc,
    /// The endpoint sets of the rules by name (`s` + a hash of the members,
    /// so a set keeps its name while its members do), as endpoint keys
    /// (`id:<name>`, `net:<first CIDR of the class>`), for people: the policy
    /// uses `index`.
    pub sets: BTreeMap<String, Vec<String>>,
    /// Every rule of the program, by its stable rule id.
    pub rules: BTreeMap<String, RuleDoc>,
    pub index: IndexDoc,
}

/// An endpoint as the policy resolves it.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointDoc {
    /// `id:<identity name>` or `net:<class>`.
    pub key: String,
    /// The large sets (names in `sets`) holding it that are the source of
    /// some large rule.
    pub src: Vec<String>,
    /// Likewise for destinations.
    pub dst: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Meta {
    pub generator: String,
    pub project: String,
    /// The hash of the program's meaning (`seg_ir::meaning::digest`).
    pub meaning: String,
}

#[derive(Debug, Serialize)]
pub struct IdentityDoc {
    pub kind: &'static str,
    pub principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spiffe: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub addresses: Vec<String>,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct ProtocolDoc {
    pub name: &'static str,
    /// Whether flows carry a destination port (else the port is 0).
    pub ports: bool,
}

#[derive(Debug, Serialize)]
pub struct ContextDoc {
    #[serde(rename = "type")]
    pub ty: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct AddressesDoc {
    /// Canonical decimal octet → two hex digits (anything else is no address).
    pub octets: BTreeMap<String, String>,
    /// Hex prefix of an IPv4 address → class key.
    pub v4: BTreeMap<String, String>,
    pub v4_lengths: Vec<usize>,
    pub v6: BTreeMap<String, String>,
    pub v6_lengths: Vec<usize>,
    /// Class key → the class as an endpoint.
    pub endpoints: BTreeMap<String, EndpointDoc>,
    /// Class key → the CIDRs it covers.
    pub classes: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct RuleDoc {
    pub action: &'static str,
    pub policy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Names in `sets`.
    pub src: String,
    pub dst: String,
    pub services: ServicesDoc,
    /// Last day the rule is live (`YYYY-MM-DD`), for people.
    pub expires: Option<String>,
    /// First instant (ns since the epoch) the rule is no longer live,
    /// saturated at the largest 64-bit value (beyond any clock reading).
    pub not_after: Option<i64>,
    /// Disjunction of conjunctions of literals; `null` = unconditional.
    pub when: Value,
}

/// Inclusive port ranges per protocol; `icmp`/`other` are flags.
#[derive(Debug, Default, Serialize)]
pub struct ServicesDoc {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<[u16; 2]>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub udp: Vec<[u16; 2]>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sctp: Vec<[u16; 2]>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub icmp: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub other: bool,
}

/// Where the rules are found for a (source, destination) pair.
#[derive(Debug, Default, Serialize)]
pub struct IndexDoc {
    /// Source key → destination key → match records (rules with few key pairs).
    pub pairs: BTreeMap<String, BTreeMap<String, Vec<MatchDoc>>>,
    /// Source set → destination set → match records (the other rules).
    pub set_pairs: BTreeMap<String, BTreeMap<String, Vec<MatchDoc>>>,
}

/// What deciding a rule needs, next to the keys that lead to it.
#[derive(Clone, Debug, Serialize)]
pub struct MatchDoc {
    /// The rule id (its key in `rules`).
    pub rule: String,
    pub allow: bool,
    /// Unconditional and never expiring.
    pub plain: bool,
    /// Inclusive port ranges per protocol; `icmp` and `other` as `[[0, 0]]`
    /// (the policy gives them port 0).
    pub ports: BTreeMap<&'static str, Vec<[u16; 2]>>,
    pub not_after: Option<i64>,
    pub when: Value,
}

/// `seg/tests/data.json`, at `data.seg.tests`.
#[derive(Debug, Serialize)]
pub struct TestsData {
    #[serde(rename = "//")]
    pub header: String,
    pub cases: Vec<TestCase>,
}

#[derive(Debug, Serialize)]
pub struct TestCase {
    /// The generated Rego rule that checks this case.
    pub rule: String,
    pub test: String,
    pub expect: &'static str,
    pub input: Value,
}

/// `.manifest`.
#[derive(Debug, Serialize)]
pub struct Manifest {
    pub revision: String,
    pub roots: Vec<&'static str>,
    pub rego_version: u8,
    pub metadata: BTreeMap<&'static str, String>,
}

/// `.signatures.json`.
#[derive(Debug, Serialize)]
pub struct Signatures {
    pub signatures: Vec<String>,
}

/// The JWS payload OPA's bundle verification reads.
#[derive(Debug, Serialize)]
pub struct SignedFiles {
    pub files: Vec<FileHash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct FileHash {
    pub name: String,
    pub hash: String,
    /// Spelled exactly `SHA-256`: OPA rejects other spellings.
    pub algorithm: &'static str,
}
