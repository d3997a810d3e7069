//! The validated inventory: what the checker and the lowering read.
//! Built from the raw YAML/JSON tree by `inventory::load`, which reports E01xx.

use indexmap::IndexMap;
use ipnet::IpNet;
use seg_diag::Span;
use seg_ir::{AwsBinding, Date, GcpBinding, IdentityKind, KubernetesBinding, Value};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inventory {
    /// Declared attribute types, in declaration order (first declaration wins).
    pub attributes: IndexMap<String, AttrDecl>,
    /// Every identity of every inventory file, in file order; names are unique.
    pub identities: Vec<InvIdentity>,
}

impl Inventory {
    pub fn get(&self, name: &str) -> Option<&InvIdentity> {
        self.identities.iter().find(|i| i.name == name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AttrDecl {
    pub ty: AttrType,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttrType {
    String,
    Int,
    Bool,
    /// `enum[dev, staging, prod]`.
    Enum(Vec<String>),
}

impl AttrType {
    /// As written in the inventory: `string`, `int`, `bool`, `enum[a, b]`.
    pub fn describe(&self) -> String {
        match self {
            AttrType::String => "string".into(),
            AttrType::Int => "int".into(),
            AttrType::Bool => "bool".into(),
            AttrType::Enum(v) => format!("enum[{}]", v.join(", ")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    Disabled,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Credential {
    /// `x509`, `api_key`, `token`, ... (free text).
    pub kind: Option<String>,
    pub rotated: Option<Date>,
    /// Seconds.
    pub max_age: Option<i64>,
    pub shared: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InvIdentity {
    pub name: String,
    /// The `name:` value.
    pub name_span: Span,
    /// The whole list entry.
    pub span: Span,
    pub kind: IdentityKind,
    pub owner: Option<String>,
    pub attributes: BTreeMap<String, Value>,
    pub labels: BTreeMap<String, String>,
    /// Canonical networks (a bare IP is /32 or /128).
    pub addresses: Vec<IpNet>,
    pub kubernetes: Option<KubernetesBinding>,
    pub aws: Option<AwsBinding>,
    pub gcp: Option<GcpBinding>,
    pub spiffe: Option<String>,
    pub credential: Option<Credential>,
    pub status: Status,
    pub expires: Option<Date>,
}

impl InvIdentity {
    /// Whether the identity can be reached as a destination (INVENTORY.md: by
    /// `addresses` or a `kubernetes` binding; callers reach the network only that way too).
    pub fn has_network_presence(&self) -> bool {
        !self.addresses.is_empty() || self.kubernetes.is_some()
    }
}
