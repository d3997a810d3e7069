//! The interface every target implements, and the data it is driven by.
//!
//! Capabilities are plain data: one shared pass (`capability`) compares the
//! program with them and makes every fail-closed choice before `emit` runs,
//! so a backend only lowers what it can express.

use crate::capability::Approximation;
use crate::objects::Object;
use crate::program::{ConditionClass, Identity, Program};
use seg_diag::Diagnostics;
use serde::Serialize;

/// What a target can enforce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Native deny rules; without them denies are compiled into the allow sets.
    pub deny: bool,
    /// Time windows and day ranges.
    pub time: bool,
    pub mtls: bool,
    pub request: bool,
    pub context: bool,
    /// Conditions declared `layered` in `seg.toml` count as satisfied here
    /// (true for L3/L4 targets; the application layer enforces them).
    pub honours_layered: bool,
    /// `expires` is enforced by the target's own clock at run time, so a rule
    /// stops at its instant without a rebuild. Without one, a rule that
    /// expires after the build stays in force until the output is rebuilt
    /// and applied (see [`crate::capability::Prepared::until_rebuilt`]).
    pub clock: bool,
}

impl Capabilities {
    pub fn supports(&self, class: ConditionClass) -> bool {
        match class {
            ConditionClass::Time => self.time,
            ConditionClass::Mtls => self.mtls,
            ConditionClass::Request => self.request,
            ConditionClass::Context => self.context,
        }
    }
}

/// One output file, relative to the target's folder under `--out`
/// (`/`-separated, never absolute, never `..`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub path: String,
    pub contents: Vec<u8>,
}

/// What a backend produced.
#[derive(Clone, Debug, Default)]
pub struct Emission {
    pub artifacts: Vec<Artifact>,
    /// Rules (or rule-like objects) emitted, for the summary.
    pub rules: usize,
    /// One-line facts for the report (e.g. "3 ipsets").
    pub notes: Vec<String>,
    /// Fail-closed choices only the lowering could see (a port range the
    /// target cannot hold, a peer it cannot name), each also a warning;
    /// listed in the report after the capability pass's.
    pub approximations: Vec<Approximation>,
    /// Every object the artifacts hold, by stable name (see [`crate::objects`]):
    /// what `seg build` compares with the previous output to list what to prune.
    pub objects: Vec<Object>,
}

/// Options from `seg.toml [targets.*]`, one variant per target.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetOptions {
    Iptables(IptablesOptions),
    Kubernetes(KubernetesOptions),
    Aws(AwsOptions),
    Gcp(GcpOptions),
    Opa(OpaOptions),
    Istio(IstioOptions),
    Nftables(NftablesOptions),
}

#[derive(Clone, Debug, PartialEq)]
pub struct IptablesOptions {
    /// Address groups with at least this many CIDRs go into an ipset.
    pub ipset_threshold: usize,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct KubernetesOptions {
    /// System namespaces besides [`SYSTEM_NAMESPACES`] (`seg.toml`
    /// `system-namespaces`): never under a namespace-wide default deny
    /// unless `default_deny_system_namespaces`; seg isolates only the pods
    /// it manages there.
    pub system_namespaces: Vec<String>,
    /// `default-deny-system-namespaces = true`: system namespaces are
    /// managed as a whole like any other.
    pub default_deny_system_namespaces: bool,
}

/// The namespaces of the cluster's own components.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

impl KubernetesOptions {
    /// Whether a namespace-wide default deny is withheld from `namespace`.
    pub fn spares(&self, namespace: &str) -> bool {
        !self.default_deny_system_namespaces
            && (SYSTEM_NAMESPACES.contains(&namespace)
                || self.system_namespaces.iter().any(|n| n == namespace))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct IstioOptions {
    /// The mesh's trust domain, for principals made from a `kubernetes`
    /// binding (`TRUST_DOMAIN/ns/NAMESPACE/sa/ACCOUNT`).
    pub trust_domain: String,
}

impl Default for IstioOptions {
    fn default() -> Self {
        IstioOptions {
            trust_domain: "cluster.local".to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NftablesOptions {
    /// Address groups with at least this many CIDRs become a named set
    /// (smaller ones are written inline, as an anonymous set).
    pub set_threshold: usize,
}

impl Default for NftablesOptions {
    fn default() -> Self {
        NftablesOptions { set_threshold: 8 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsFormat {
    Terraform,
    CloudFormation,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AwsOptions {
    pub formats: Vec<AwsFormat>,
    /// Per group, per direction, per address family.
    pub max_rules_per_group: usize,
    pub max_groups_per_interface: usize,
    /// VPC the created groups belong to (a Terraform variable when absent).
    pub vpc_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GcpOptions {
    pub network: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OpaOptions {
    pub signing: Option<SigningKey>,
}

/// A bundle signing key, read by the driver from the file `seg.toml` names.
#[derive(Clone, Debug, PartialEq)]
pub struct SigningKey {
    /// JWS algorithm, e.g. `RS256`, `ES256`, `HS256`.
    pub algorithm: String,
    /// PEM for RSA/EC keys, raw bytes for HMAC secrets.
    pub key: Vec<u8>,
    pub key_id: Option<String>,
}

pub trait Backend {
    /// The target's name in `seg.toml` and `--target`: `iptables`, `nftables`, `kubernetes`,
    /// `istio`, `aws`, `gcp`, `opa`.
    fn name(&self) -> &'static str;

    fn capabilities(&self) -> Capabilities;

    /// Whether this target enforces rules on this identity (it is a host, a pod, a group...).
    fn manages(&self, identity: &Identity) -> bool;

    /// How the target refers to an identity as a peer: `Err` names what is missing
    /// ("no addresses and no `kubernetes` binding").
    fn representable(&self, identity: &Identity) -> Result<(), String>;

    /// Lower a program that has been through the capability pass for this target.
    /// Target-specific problems (quotas, invalid values) are reported in `diags`.
    fn emit(&self, program: &Program, options: &TargetOptions, diags: &mut Diagnostics)
    -> Emission;

    /// The command that applies this target's output (run in its folder
    /// under `--out`) and removes what an earlier output had and this one
    /// has not; `seg build` prints it. `None` when the target's page says
    /// more than one line can.
    fn apply_command(&self, _program: &Program, _options: &TargetOptions) -> Option<String> {
        None
    }
}
