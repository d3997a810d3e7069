//! The interface every target implements, and the data it is driven by.
//!
//! Capabilities are plain data: one shared pass (`capability`) compares the
//! program with them and makes every fail-closed choice before the backend
//! runs, so a backend only lowers what it can express.
//!
//! A backend works in two steps. [`Backend::lower`] makes every choice and
//! reports every finding (diagnostics, approximations); it returns a
//! [`Lowered`] whose [`Lowered::render`] writes the files. Rendering is given
//! no [`Diagnostics`], only [`Bugs`], so it cannot warn or refuse: `seg check`
//! lowers without rendering and reports exactly what `seg build` reports.
//!
//! A backend may hand each file to a [`Sink`] as soon as it is made
//! ([`Lowered::streaming`]): `seg build` writes it at once
//! ([`Lowered::render_to`]) instead of holding every file of every target
//! until the last is done; [`Lowered::render`] collects them as before.

use crate::capability::Approximation;
use crate::objects::Object;
use crate::program::{ConditionClass, Identity, Program};
use seg_diag::{Diagnostic, Diagnostics};
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

/// What a backend produced: [`Lowered::render`]'s files and facts, with the
/// lowering's approximations.
#[derive(Clone, Debug, Default)]
pub struct Emission {
    pub artifacts: Vec<Artifact>,
    /// Rules (or rule-like objects) emitted, for the summary.
    pub rules: usize,
    /// One-line facts for the report (e.g. "3 ipsets").
    pub notes: Vec<String>,
    /// Fail-closed choices only the lowering could see (a port range the
    /// target cannot hold, a peer it cannot name), each also a warning;
    /// listed in the report after the capability pass's. Filled from
    /// [`Lowered::approximations`], never by rendering.
    pub approximations: Vec<Approximation>,
    /// Every object the artifacts hold, by stable name (see [`crate::objects`]):
    /// what `seg build` compares with the previous output to list what to prune.
    pub objects: Vec<Object>,
}

/// Broken invariants rendering met (a serialiser failing): internal errors,
/// never a finding about the policy. Findings belong to [`Backend::lower`],
/// which `seg check` runs too.
#[derive(Clone, Debug, Default)]
pub struct Bugs(Vec<String>);

impl Bugs {
    pub fn push(&mut self, message: impl Into<String>) {
        self.0.push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each as an internal-error diagnostic.
    pub fn into_diagnostics(self) -> impl Iterator<Item = Diagnostic> {
        self.0.into_iter().map(Diagnostic::bug)
    }
}

/// Where rendering hands each file as soon as it is made. A backend that
/// renders on several threads calls it from each of them, so the order of
/// the calls carries no meaning: whoever needs an order sorts by path.
pub trait Sink: Sync {
    fn put(&self, artifact: Artifact);
}

/// A [`Sink`] that keeps every file, for callers that want them in memory.
#[derive(Default)]
pub struct Collect(std::sync::Mutex<Vec<Artifact>>);

impl Sink for Collect {
    fn put(&self, artifact: Artifact) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(artifact);
    }
}

impl Collect {
    /// The files, sorted by path (the threads' timing does not show).
    pub fn into_sorted(self) -> Vec<Artifact> {
        let mut files = self.0.into_inner().unwrap_or_else(|p| p.into_inner());
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    }
}

type Render<'p> = Box<dyn FnOnce(&mut Bugs, &dyn Sink) -> Emission + 'p>;

/// A target's lowering: the fail-closed choices it made (its diagnostics
/// went to the [`Diagnostics`] given to [`Backend::lower`]), and what writes
/// its files. `seg check` keeps the first and drops the second.
pub struct Lowered<'p> {
    /// Fail-closed choices only the lowering could see, each also a warning.
    pub approximations: Vec<Approximation>,
    render: Render<'p>,
}

impl<'p> Lowered<'p> {
    /// `render` writes the files from what the lowering decided, returning
    /// them in [`Emission::artifacts`]; it must leave
    /// [`Emission::approximations`] empty (they are `approximations`).
    pub fn new(
        approximations: Vec<Approximation>,
        render: impl FnOnce(&mut Bugs) -> Emission + 'p,
    ) -> Lowered<'p> {
        Lowered::streaming(approximations, move |bugs, _| render(bugs))
    }

    /// [`Lowered::new`] for a backend that hands each file to the [`Sink`]
    /// as soon as it is made (any left in [`Emission::artifacts`] follow),
    /// so that a build need not hold them all.
    pub fn streaming(
        approximations: Vec<Approximation>,
        render: impl FnOnce(&mut Bugs, &dyn Sink) -> Emission + 'p,
    ) -> Lowered<'p> {
        Lowered {
            approximations,
            render: Box::new(render),
        }
    }

    /// Nothing to write (the lowering found errors, or nothing to manage),
    /// with these notes for the report.
    pub fn nothing(notes: Vec<String>) -> Lowered<'p> {
        Lowered::new(Vec::new(), move |_| Emission {
            notes,
            ..Emission::default()
        })
    }

    /// The files (in [`Emission::artifacts`]: the streamed ones sorted by
    /// path, then those returned, in their order), the objects, the facts
    /// for the report, and the approximations of the lowering.
    pub fn render(self, bugs: &mut Bugs) -> Emission {
        let collect = Collect::default();
        let approximations = self.approximations;
        let mut emission = (self.render)(bugs, &collect);
        let mut artifacts = collect.into_sorted();
        artifacts.append(&mut emission.artifacts);
        emission.artifacts = artifacts;
        debug_assert!(emission.approximations.is_empty());
        emission.approximations = approximations;
        emission
    }

    /// [`Lowered::render`], handing every file to `sink` (each as it is made
    /// when the backend streams): the [`Emission`] returned holds no artifact.
    pub fn render_to(self, bugs: &mut Bugs, sink: &dyn Sink) -> Emission {
        let mut emission = (self.render)(bugs, sink);
        for artifact in std::mem::take(&mut emission.artifacts) {
            sink.put(artifact);
        }
        debug_assert!(emission.approximations.is_empty());
        emission.approximations = self.approximations;
        emission
    }
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
        !self.default_deny_system_namespaces && self.is_system(namespace)
    }

    /// Whether `namespace` is a system namespace ([`SYSTEM_NAMESPACES`] or listed).
    pub fn is_system(&self, namespace: &str) -> bool {
        SYSTEM_NAMESPACES.contains(&namespace)
            || self.system_namespaces.iter().any(|n| n == namespace)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct IstioOptions {
    /// The mesh's trust domain, for principals made from a `kubernetes`
    /// binding (`TRUST_DOMAIN/ns/NAMESPACE/sa/ACCOUNT`).
    pub trust_domain: String,
    /// The cluster's system namespaces, with the kubernetes target's keys
    /// and rule ([`KubernetesOptions::spares`]): no namespace-wide
    /// allow-nothing policy or STRICT mode there unless opted in.
    pub cluster: KubernetesOptions,
}

impl Default for IstioOptions {
    fn default() -> Self {
        IstioOptions {
            trust_domain: "cluster.local".to_string(),
            cluster: KubernetesOptions::default(),
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

    /// Lower a program that has been through the capability pass for this
    /// target: every choice and every finding (quotas, invalid values,
    /// narrowings) is made here and reported in `diags`; the files are
    /// written only if the result is rendered.
    fn lower<'p>(
        &self,
        program: &'p Program,
        options: &'p TargetOptions,
        diags: &mut Diagnostics,
    ) -> Lowered<'p>;

    /// Lower and render: what `seg build` does with one target.
    fn emit(
        &self,
        program: &Program,
        options: &TargetOptions,
        diags: &mut Diagnostics,
    ) -> Emission {
        let mut bugs = Bugs::default();
        let emission = self.lower(program, options, diags).render(&mut bugs);
        diags.extend(bugs.into_diagnostics());
        emission
    }

    /// The command that applies this target's output (run in its folder
    /// under `--out`) and removes what an earlier output had and this one
    /// has not; `seg build` prints it. `None` when the target's page says
    /// more than one line can.
    fn apply_command(&self, _program: &Program, _options: &TargetOptions) -> Option<String> {
        None
    }
}
