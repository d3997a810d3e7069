//! The one list of diagnostic codes. A code belongs to a kind of problem, is
//! never reused, and has a page at `docs/diagnostics/<CODE>.md`.
//!
//! Ranges: E00xx syntax, E01xx inputs (inventory, `seg.toml`, E017x flow logs of
//! `seg audit`), E02xx names and scopes, E03xx types and policy semantics, E04xx
//! target capabilities, E05xx reach (blast radius), E9xxx internal.
//! Warnings use W and the same ranges. A warning with a lint name can have its
//! level set in `seg.toml [lints]`.

use serde::{Deserialize, Serialize};

/// How a lint is reported, as set in `seg.toml [lints]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LintLevel {
    Allow,
    Warn,
    Deny,
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $lint:expr; )*) => {
        /// A stable diagnostic code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as written in output and docs, e.g. `E0201`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The `seg.toml [lints]` name of a lint, if this warning is one.
            pub fn lint_name(self) -> Option<&'static str> {
                match self { $(Code::$variant => $lint,)* }
            }
        }
    };
}

codes! {
    // ---- E00xx: syntax -------------------------------------------------
    /// The parser met a token it did not expect.
    SyntaxError = "E0001", None;
    /// A literal (date, time, CIDR, port, duration, string escape) is malformed.
    InvalidLiteral = "E0002", None;
    /// Nesting or input size exceeds what the parser accepts.
    InputTooLarge = "E0003", None;
    /// A source file is not valid UTF-8 text.
    NotText = "E0004", None;

    // ---- E01xx: inventory and manifest ------------------------------------
    /// The inventory file is not valid YAML or JSON.
    InventorySyntax = "E0101", None;
    /// A field the schema does not know (typos must not silently drop data).
    UnknownField = "E0102", None;
    /// A required field is missing.
    MissingField = "E0103", None;
    /// Two identities share a name.
    DuplicateIdentity = "E0104", None;
    /// An identity sets an attribute that `attributes:` does not declare.
    UndeclaredAttribute = "E0105", None;
    /// A value does not have the type the schema requires.
    InventoryTypeMismatch = "E0106", None;
    /// A value is of the right type but not allowed (bad kind, CIDR, date, duration).
    InvalidValue = "E0107", None;
    /// The inventory `version` is not supported.
    UnsupportedVersion = "E0108", None;
    /// An attribute declaration names an unknown type.
    InvalidAttributeType = "E0109", None;
    /// An inventory glob or file matched nothing.
    InventoryNotFound = "E0110", None;
    /// `seg.toml` is malformed or has an unknown or invalid setting.
    InvalidManifest = "E0150", None;
    /// A `[jit]` setting of `seg.toml` is invalid (ceiling, grants file, grantable identities).
    InvalidJitSetting = "E0151", None;
    /// `seg.toml [reach] critical` is not a valid `identities where` predicate.
    InvalidCritical = "E0160", None;
    /// A `seg.toml [reach] entry` names no segment and no identity.
    UnknownEntry = "E0161", None;
    /// A `seg.toml [reach] pivot` entry is not an identity kind.
    UnknownPivotKind = "E0162", None;
    /// A flow-log input cannot be opened or read, or a glob or folder gives no file.
    FlowInputUnreadable = "E0170", None;
    /// A compressed flow-log input is truncated or corrupt.
    FlowInputCorrupt = "E0171", None;
    /// A flow-log format cannot be detected, or a file lacks what its format needs.
    FlowFormat = "E0172", None;
    /// More flow records are malformed than the accepted share.
    TooManyMalformedFlows = "E0173", None;
    /// One flow record cannot be read (reported, skipped, counted).
    MalformedFlowRecord = "E0174", None;
    /// Two identities have overlapping addresses.
    OverlappingAddresses = "W0101", Some("overlapping-addresses");
    /// One credential is shared by several workloads.
    SharedCredential = "W0102", Some("shared-credential");
    /// A credential was rotated longer ago than its `max_age`.
    StaleCredential = "W0103", Some("stale-credential");

    // ---- E02xx: names and scopes ------------------------------------------
    /// A name that is neither an identity nor a segment in scope.
    UnknownName = "E0201", None;
    /// A service name that is not in scope.
    UnknownService = "E0202", None;
    /// An attribute that the inventory does not declare.
    UnknownAttribute = "E0203", None;
    /// A `use` path or imported name that does not exist.
    UnresolvedImport = "E0204", None;
    /// Two items of the same kind with the same name.
    DuplicateDefinition = "E0205", None;
    /// A segment defined in terms of itself.
    CyclicSegment = "E0206", None;
    /// A `context.NAME` that no `context` block declares.
    UndeclaredContext = "E0207", None;
    /// A reference to an identity whose status is `disabled`.
    DisabledIdentity = "E0208", None;
    /// A reference to an identity past its `expires` date.
    ExpiredIdentity = "E0209", None;
    /// A segment or service name hides an inventory identity of the same name.
    ShadowedIdentity = "W0201", Some("shadowed-identity");

    // ---- E03xx: types and policy semantics --------------------------------
    /// A comparison whose two sides have different types.
    TypeMismatch = "E0301", None;
    /// A value outside its enum (including `kind`).
    UnknownEnumValue = "E0302", None;
    /// An identity with no network presence used as a destination.
    NoNetworkPresence = "E0303", None;
    /// A network used where an identity is required (`mtls`, `source.ATTR`).
    NetworkNotIdentity = "E0304", None;
    /// A condition that is not valid where it is written.
    InvalidCondition = "E0305", None;
    /// An invalid time window, day range or port range.
    InvalidRange = "E0306", None;
    /// A `test` expectation that cannot be evaluated (unknown endpoint kind, bad context value).
    InvalidExpectation = "E0307", None;
    /// A rule or policy without an owner.
    MissingOwner = "W0301", Some("missing-owner");
    /// A policy past its `review-by` date.
    ReviewOverdue = "W0302", Some("review-overdue");
    /// A rule that expires within 14 days.
    ExpiringSoon = "W0303", Some("expiring-soon");
    /// A rule past its `expires` date: it is omitted, delete it.
    ExpiredRule = "W0304", Some("expired-rule");
    /// A rule whose source is `any` or a /0, or whose service is `any`.
    OverBroad = "W0305", Some("over-broad");
    /// A rule covered entirely by another rule of the same action.
    ShadowedRule = "W0306", Some("shadowed-rule");
    /// An `allow` that `deny` rules cancel entirely.
    CancelledAllow = "W0307", Some("cancelled-allow");
    /// A segment no rule, segment or test uses.
    UnusedSegment = "W0308", Some("unused-segment");
    /// A service no rule uses.
    UnusedService = "W0309", Some("unused-service");
    /// A segment with no members.
    EmptySegment = "W0310", Some("empty-segment");
    /// A grant without `expires` or `created`, created in the future, or living longer than `[jit] max-ttl`.
    GrantLifetime = "W0311", Some("grant-lifetime");
    /// A grant without an owner or a reason.
    GrantMetadata = "W0312", Some("grant-metadata");
    /// A grant naming an identity outside `[jit] grantable` without `approved-by`.
    GrantApproval = "W0313", Some("grant-approval");

    // ---- E04xx: targets ---------------------------------------------------
    /// An identity that a target cannot represent at all.
    UnrepresentableIdentity = "E0401", None;
    /// A value a target would reject or silently change (label, name, description).
    InvalidTargetValue = "E0402", None;
    /// A target limit exceeded (rules per group, groups per interface).
    TargetQuotaExceeded = "E0403", None;
    /// A target option in `seg.toml` that is invalid (bad signing key, unknown format).
    InvalidTargetOption = "E0404", None;
    /// A rule left out on a target that cannot enforce its condition (fail closed).
    RuleOmitted = "W0401", Some("fail-closed");
    /// A rule emitted with a narrower condition on a target (fail closed).
    RuleNarrowed = "W0402", Some("fail-closed");
    /// A `deny` applied unconditionally because a target cannot see its condition.
    DenyWidened = "W0403", Some("fail-closed");
    /// A condition declared `layered` and assumed satisfied on an L3/L4 target.
    LayeredRelaxation = "W0404", Some("layered");
    /// A target that manages no identity of the project.
    NothingManaged = "W0405", Some("nothing-managed");
    /// A Kubernetes namespace with default-deny egress and no route to DNS.
    NoDnsEgress = "W0420", Some("no-dns-egress");
    /// Traffic of a deny that the mesh does not mediate (UDP, SCTP, ICMP, other protocols).
    NotMediated = "W0430", Some("not-mediated");
    /// An identity the mesh cannot tell apart from another (a shared principal, a
    /// selector that matches another workload, a workload without principal).
    MeshIdentity = "W0431", Some("mesh-identity");

    // ---- E05xx: reach (blast radius) ---------------------------------------
    /// An entry point reaches a critical identity within `[reach] hops` hops.
    ExposurePath = "W0501", Some("exposure");
    /// An identity reaches more identities than `[reach] blast-radius` allows.
    BlastRadius = "W0502", Some("blast-radius");

    // ---- E9xxx: internal --------------------------------------------------
    /// A bug in seg itself.
    InternalError = "E9001", None;
}

impl Code {
    /// Parse `E0201` or `w0101`.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }

    pub fn is_warning(self) -> bool {
        self.as_str().starts_with('W')
    }

    /// The default level of a warning-code lint: the just-in-time grant lints
    /// are errors unless `seg.toml [lints]` says otherwise.
    pub fn default_lint_level(self) -> LintLevel {
        match self {
            Code::GrantLifetime | Code::GrantMetadata | Code::GrantApproval => LintLevel::Deny,
            _ => LintLevel::Warn,
        }
    }

    /// Every known lint name, for "did you mean" in `seg.toml`.
    pub fn lint_names() -> Vec<&'static str> {
        let mut names: Vec<_> = Code::ALL.iter().filter_map(|c| c.lint_name()).collect();
        names.dedup();
        names.sort_unstable();
        names.dedup();
        names
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        let text = String::deserialize(d)?;
        Code::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown diagnostic code `{text}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "code {s} is used twice");
            assert_eq!(s.len(), 5, "{s}");
            assert!(s.starts_with('E') || s.starts_with('W'), "{s}");
            assert_eq!(
                c.lint_name().is_some(),
                c.is_warning(),
                "{s}: warnings and only warnings are lints"
            );
            assert_eq!(Code::parse(s), Some(*c));
        }
    }
}
