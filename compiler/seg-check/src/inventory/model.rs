//! The validated inventory: what the checker and the lowering read.
//! Built from the raw YAML/JSON tree by `inventory::load`, which reports E01xx.

use indexmap::IndexMap;
use ipnet::IpNet;
use seg_diag::Span;
use seg_ir::{
    AwsBinding, Date, GcpBinding, Identities, Identity, IdentityId, IdentityKind,
    KubernetesBinding, Timestamp, Value,
};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inventory {
    /// Declared attribute types, in declaration order (first declaration wins).
    pub attributes: IndexMap<String, AttrDecl>,
    /// Every identity of every inventory file, in file order, as a program
    /// lists them (`id` is the position, `origin` the `name:` value); names
    /// are unique. Programs checked against this inventory share this list
    /// instead of copying it.
    pub identities: Identities,
    /// What only the checker reads about each identity, parallel to `identities`.
    pub details: Vec<Details>,
}

impl Inventory {
    /// The inventory of identities as read, in order.
    pub fn new(attributes: IndexMap<String, AttrDecl>, read: Vec<InvIdentity>) -> Inventory {
        let mut identities = Vec::with_capacity(read.len());
        let mut details = Vec::with_capacity(read.len());
        for (i, x) in read.into_iter().enumerate() {
            identities.push(Identity {
                id: IdentityId(i as u32),
                name: x.name,
                kind: x.kind,
                owner: x.owner,
                attributes: x.attributes,
                labels: x.labels,
                addresses: x.addresses,
                kubernetes: x.kubernetes,
                aws: x.aws,
                gcp: x.gcp,
                spiffe: x.spiffe,
                origin: x.name_span,
            });
            details.push(Details {
                span: x.span,
                credential: x.credential,
                status: x.status,
                expires: x.expires,
                held: x.held,
            });
        }
        Inventory {
            attributes,
            identities: Identities::new(identities),
            details,
        }
    }

    pub fn get(&self, name: &str) -> Option<(&Identity, &Details)> {
        let i = self.identities.iter().position(|i| i.name == name)?;
        Some((&self.identities[i], &self.details[i]))
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

/// One identity as read from an entry, before [`Inventory::new`] splits it
/// into the shared [`Identity`] and its [`Details`].
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
    /// Canonical networks (a bare IP is /32 or /128) held at the build's
    /// `now`: every address without a validity window, and those whose window
    /// contains `now`.
    pub addresses: Vec<IpNet>,
    /// Every address as written, with its validity window, in file order.
    pub held: Vec<HeldAddress>,
    pub kubernetes: Option<KubernetesBinding>,
    pub aws: Option<AwsBinding>,
    pub gcp: Option<GcpBinding>,
    pub spiffe: Option<String>,
    pub credential: Option<Credential>,
    pub status: Status,
    pub expires: Option<Date>,
}

/// The facts about an identity that only the checker reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Details {
    /// The whole list entry.
    pub span: Span,
    pub credential: Option<Credential>,
    pub status: Status,
    pub expires: Option<Date>,
    /// Every address as written, with its validity window (flow attribution
    /// reads the past holders of an address here).
    pub held: Vec<HeldAddress>,
}

/// An address of an identity and when the identity held it: `[from, until)`,
/// open on a side that is not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldAddress {
    pub net: IpNet,
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl HeldAddress {
    /// Whether the address has a validity window (evidence of when it was held).
    pub fn windowed(&self) -> bool {
        self.from.is_some() || self.until.is_some()
    }

    /// Whether two holdings share an instant.
    pub fn meets(&self, other: &HeldAddress) -> bool {
        let starts_before = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
            (Some(f), Some(u)) => f < u,
            _ => true,
        };
        starts_before(self.from, other.until) && starts_before(other.from, self.until)
    }
}

/// Whether the identity can be reached as a destination (INVENTORY.md: by
/// `addresses` or a `kubernetes` binding; callers reach the network only that way too).
pub fn has_network_presence(identity: &Identity) -> bool {
    !identity.addresses.is_empty() || identity.kubernetes.is_some()
}
