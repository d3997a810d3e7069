//! `seg.toml`: the project manifest. Parsed from text (no I/O here); unknown
//! keys and bad values are E0150 with the place in the file.
//!
//! Input: the manifest's text. Output: a [`Manifest`] with every default
//! filled in, or `None` after reporting every problem found (TOML syntax
//! errors, unknown tables and keys with a suggestion, values of the wrong type
//! or out of range, a missing `[project] name` or `[targets.gcp] network`).
//! Tables and keys are read in file order, so `targets` keeps the order in
//! which `seg.toml` lists them.

use crate::inventory::values::forbidden_char;
use indexmap::IndexMap;
use seg_diag::{Code, Diagnostic, Diagnostics, FileId, LintLevel, Span, did_you_mean};
use seg_ir::backend::TargetOptions;
use seg_ir::{ConditionClass, IdentityKind};
use std::collections::BTreeMap;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub(crate) mod audit;
pub(crate) mod jit;
pub(crate) mod targets;

pub use audit::{
    AUDIT_FINDINGS, AuditSettings, DEFAULT_EPHEMERAL_PORTS, DEFAULT_EXPIRING_WITHIN,
    DEFAULT_MAX_GAP, FindingLevel, NoDataMeaning,
};
pub use jit::{DEFAULT_GRANTS_FILE, DEFAULT_MAX_TTL, Jit, MAX_MAX_TTL, parse_ttl};

#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub name: String,
    /// Globs relative to the project folder.
    pub inventory: Vec<String>,
    pub sources: Vec<String>,
    /// Targets in the order `seg.toml` lists them, keyed by target name
    /// (`iptables`, `kubernetes`, `aws`, `gcp`, `opa`).
    pub targets: IndexMap<String, TargetOptions>,
    /// `[targets.opa] signing-key = "..."`: read by the driver into `OpaOptions::signing`.
    pub opa_signing: Option<SigningConfig>,
    pub layered: Vec<ConditionClass>,
    pub lints: BTreeMap<String, LintLevel>,
    /// `[audit]`: how `seg audit` reports, defaults filled in.
    pub audit: AuditSettings,
    /// `[reach]`: crown jewels, entry points and the blast-radius lint.
    pub reach: ReachConfig,
    /// `[jit]`: just-in-time grants, defaults filled in.
    pub jit: Jit,
    /// The `[project]` header (the start of the file when there is none).
    pub span: Span,
    /// Where each `inventory` glob is written, parallel to `inventory`
    /// (the `[project]` header for the default glob), for E0110.
    pub inventory_spans: Vec<Span>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SigningConfig {
    /// Path of the key file, relative to the project folder.
    pub key_path: String,
    pub algorithm: String,
    pub key_id: Option<String>,
    pub span: Span,
}

/// `seg.toml [reach]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReachConfig {
    /// `critical = "tier == 0"`: the critical identities, as an `identities where` predicate.
    pub critical: Option<Critical>,
    /// `entry = ["internet", "partners"]`: segments or identities reachable from outside.
    pub entry: Vec<(String, Span)>,
    /// Paths from an entry point to a critical identity are reported up to this many hops.
    pub hops: u32,
    /// Kinds a reached identity is taken over through (`None`: the default).
    pub pivot: Option<std::collections::BTreeSet<IdentityKind>>,
    /// The `blast-radius` lint warns above this many reachable identities.
    pub blast_radius: Option<usize>,
    /// The `[reach]` header (the start of the file when there is none).
    pub span: Span,
}

/// `[reach] critical`, with where it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Critical {
    pub text: String,
    /// The TOML string, quotes included.
    pub span: Span,
    /// Where `text` stands verbatim in the file (no escapes in the string).
    pub verbatim: Option<usize>,
}

/// `[reach] hops` when not set.
pub const DEFAULT_REACH_HOPS: u32 = 3;

impl ReachConfig {
    /// No `[reach]` table: nothing critical, no entry, the default hops and pivot kinds.
    pub fn unset(span: Span) -> ReachConfig {
        ReachConfig {
            critical: None,
            entry: Vec::new(),
            hops: DEFAULT_REACH_HOPS,
            pivot: None,
            blast_radius: None,
            span,
        }
    }
}

/// `[project] inventory` when not set: the file `seg init` creates.
pub const DEFAULT_INVENTORY: &[&str] = &["inventory.yaml"];
/// `[project] sources` when not set: every `.seg` file below the project folder.
pub const DEFAULT_SOURCES: &[&str] = &["**/*.seg"];
pub const DEFAULT_IPSET_THRESHOLD: usize = 8;
pub const DEFAULT_NFT_SET_THRESHOLD: usize = 8;
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";
pub const DEFAULT_AWS_MAX_RULES_PER_GROUP: usize = 60;
pub const DEFAULT_AWS_MAX_GROUPS_PER_INTERFACE: usize = 5;
pub const DEFAULT_SIGNING_ALGORITHM: &str = "RS256";
/// JWS algorithms an OPA bundle signature may use.
pub const SIGNING_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256",
    "HS384", "HS512",
];
pub const TARGET_NAMES: &[&str] = &[
    "iptables",
    "nftables",
    "kubernetes",
    "istio",
    "aws",
    "gcp",
    "opa",
];

// Every table and key has a description in `crate::schema` (its tests say which are missing).
pub(crate) const TOP_TABLES: &[&str] = &[
    "project",
    "targets",
    "enforcement",
    "lints",
    "audit",
    "reach",
    "jit",
];
pub(crate) const PROJECT_KEYS: &[&str] = &["name", "inventory", "sources"];
pub(crate) const ENFORCEMENT_KEYS: &[&str] = &["layered"];
pub(crate) const REACH_KEYS: &[&str] = &["critical", "entry", "hops", "pivot", "blast-radius"];
pub(crate) const LEVELS: &[&str] = &["allow", "warn", "deny"];

impl Manifest {
    /// E0110 for an `inventory` glob (by index) that matched no file.
    pub fn inventory_not_found(&self, index: usize) -> Diagnostic {
        let glob = self.inventory.get(index).map_or("", String::as_str);
        let span = self
            .inventory_spans
            .get(index)
            .copied()
            .unwrap_or(self.span);
        let written = self
            .inventory_spans
            .get(index)
            .is_some_and(|s| *s != self.span);
        let mut d = Diagnostic::error(
            Code::InventoryNotFound,
            format!("inventory `{glob}` matches no file"),
        )
        .with_primary(
            span,
            if written {
                "matches no file"
            } else {
                "default inventory not found"
            },
        )
        .with_note("inventory paths are relative to the folder that holds `seg.toml`");
        d = if written {
            d.with_help("fix the path or pattern, or create the file")
        } else {
            d.with_help(format!("create `{glob}`, or list your inventory files: `inventory = [\"inventory/*.yaml\"]`"))
        };
        d
    }
}

/// Parse `seg.toml`; `None` if it has any error (all are reported).
pub fn parse(file: FileId, text: &str, diags: &mut Diagnostics) -> Option<Manifest> {
    let mut p = ManifestParser {
        file,
        diags,
        errors: 0,
        name_written: false,
    };
    let (root, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in syntax {
            let span = e
                .span()
                .map_or(Span::new(file, 0, 0), |r| Span::new(file, r.start, r.end));
            p.report(
                span,
                format!("invalid TOML: {}", first_line(e.message())),
                "TOML syntax error",
                "fix the TOML syntax here",
            );
        }
        return None;
    }
    let root = root.into_inner();
    let mut m = Manifest {
        name: String::new(),
        inventory: Vec::new(),
        sources: Vec::new(),
        targets: IndexMap::new(),
        opa_signing: None,
        layered: Vec::new(),
        lints: BTreeMap::new(),
        audit: AuditSettings::default(),
        reach: ReachConfig::unset(Span::new(file, 0, 0)),
        jit: Jit::new(Span::new(file, 0, 0)),
        span: Span::new(file, 0, 0),
        inventory_spans: Vec::new(),
    };
    let (mut project_seen, mut jit_seen) = (false, false);
    for (key, value) in p.ordered(&root, TOP_TABLES, "`seg.toml`") {
        let Some(table) = p.table(value, &format!("`[{}]`", key.get_ref())) else {
            continue;
        };
        match key.get_ref().as_ref() {
            "project" => {
                project_seen = true;
                m.span = p.span(key);
                p.project(table, &mut m);
            }
            "targets" => p.targets(table, &mut m),
            "enforcement" => p.enforcement(table, &mut m),
            "lints" => p.lints(table, &mut m),
            "audit" => p.audit(table, &mut m),
            "reach" => {
                m.reach.span = p.span(key);
                p.reach(table, text, &mut m.reach);
            }
            "jit" => {
                jit_seen = true;
                let header = p.span(key);
                p.jit(table, &mut m, header);
            }
            _ => {}
        }
    }
    if !project_seen {
        p.report(
            Span::new(file, 0, 0),
            "missing `[project]` table",
            "no `[project]` table",
            "add `[project]` with `name = \"...\"` at the top of `seg.toml`",
        );
    } else if !p.name_written {
        p.report(
            m.span,
            "missing `name` in `[project]`",
            "no `name` here",
            "add `name = \"my-project\"` under `[project]`",
        );
    }
    if m.inventory_spans.is_empty() {
        m.inventory = DEFAULT_INVENTORY.iter().map(ToString::to_string).collect();
        m.inventory_spans = vec![m.span; m.inventory.len()];
    }
    if m.sources.is_empty() {
        m.sources = DEFAULT_SOURCES.iter().map(ToString::to_string).collect();
    }
    if jit_seen {
        p.jit_file_in_sources(&m);
    } else {
        m.jit.span = m.span;
    }
    (p.errors == 0).then_some(m)
}

/// A TOML type with its article, for messages: "an integer".
fn a_type(v: &DeValue<'_>) -> String {
    let t = v.type_str();
    if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {t}")
    } else {
        format!("a {t}")
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim_end()
}

pub(crate) type Table<'i> = DeTable<'i>;
pub(crate) type Entry<'t, 'i> = (
    &'t Spanned<std::borrow::Cow<'i, str>>,
    &'t Spanned<DeValue<'i>>,
);

pub(crate) struct ManifestParser<'d> {
    file: FileId,
    diags: &'d mut Diagnostics,
    errors: usize,
    /// `[project] name` is present (valid or not), so its absence is reported once.
    name_written: bool,
}

impl ManifestParser<'_> {
    fn span<T>(&self, s: &Spanned<T>) -> Span {
        let r = s.span();
        Span::new(self.file, r.start, r.end)
    }

    fn report(
        &mut self,
        span: Span,
        message: impl Into<String>,
        label: &str,
        help: impl Into<String>,
    ) {
        self.report_as(Code::InvalidManifest, span, message, label, help);
    }

    /// An error of the manifest under `code` (E0150 or a section's own code).
    fn report_as(
        &mut self,
        code: Code,
        span: Span,
        message: impl Into<String>,
        label: &str,
        help: impl Into<String>,
    ) {
        self.errors += 1;
        self.diags.push(
            Diagnostic::error(code, message)
                .with_primary(span, label.to_string())
                .with_help(help),
        );
    }

    /// The entries of a table in file order; keys outside `known` are reported with a suggestion.
    fn ordered<'t, 'i>(
        &mut self,
        table: &'t Table<'i>,
        known: &[&str],
        context: &str,
    ) -> Vec<Entry<'t, 'i>> {
        let mut entries: Vec<Entry<'t, 'i>> = table.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        entries.retain(|(k, _)| {
            let name = k.get_ref().as_ref();
            if known.contains(&name) {
                return true;
            }
            let help = match did_you_mean(name, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None if known.is_empty() => format!("{context} takes no keys: remove this one"),
                None => format!("the keys of {context} are: {}", known.join(", ")),
            };
            let span = self.span(k);
            let noun = if context == "`seg.toml`" {
                "table"
            } else {
                "key"
            };
            self.report(
                span,
                format!("unknown {noun} `{name}` in {context}"),
                &format!("unknown {noun}"),
                help,
            );
            false
        });
        entries
    }

    fn table<'t, 'i>(
        &mut self,
        v: &'t Spanned<DeValue<'i>>,
        context: &str,
    ) -> Option<&'t Table<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                let span = self.span(v);
                self.report(
                    span,
                    format!("{context} must be a table, found {}", a_type(other)),
                    "expected a table",
                    format!("write it as a table: {context} on its own line"),
                );
                None
            }
        }
    }

    fn string(&mut self, v: &Spanned<DeValue<'_>>, context: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) if !s.is_empty() => Some(s.to_string()),
            DeValue::String(_) => {
                let span = self.span(v);
                self.report(
                    span,
                    format!("{context} is empty"),
                    "empty string",
                    format!("give {context} a value"),
                );
                None
            }
            other => {
                let span = self.span(v);
                self.report(
                    span,
                    format!("{context} must be a string, found {}", a_type(other)),
                    "expected a string",
                    "write the value in double quotes",
                );
                None
            }
        }
    }

    fn strings(&mut self, v: &Spanned<DeValue<'_>>, context: &str) -> Option<Vec<(String, Span)>> {
        let DeValue::Array(items) = v.get_ref() else {
            let span = self.span(v);
            self.report(
                span,
                format!(
                    "{context} must be an array of strings, found {}",
                    a_type(v.get_ref())
                ),
                "expected an array",
                "write a list in brackets: `[\"a\", \"b\"]`",
            );
            return None;
        };
        let mut out = Vec::new();
        for item in items.iter() {
            if let Some(s) = self.string(item, &format!("an entry of {context}")) {
                out.push((s, self.span(item)));
            }
        }
        Some(out)
    }

    /// An integer in `min..=max`.
    fn count(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        context: &str,
        min: usize,
        max: usize,
    ) -> Option<usize> {
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            other => {
                let span = self.span(v);
                self.report(
                    span,
                    format!("{context} must be an integer, found {}", a_type(other)),
                    "expected an integer",
                    "write a whole number without quotes",
                );
                return None;
            }
        };
        match n
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (min..=max).contains(n))
        {
            Some(n) => Some(n),
            None => {
                let span = self.span(v);
                self.report(
                    span,
                    format!("{context} must be between {min} and {max}"),
                    "out of range",
                    format!("use a value from {min} to {max}"),
                );
                None
            }
        }
    }

    fn globs(&mut self, v: &Spanned<DeValue<'_>>, context: &str) -> Option<Vec<(String, Span)>> {
        let globs = self.strings(v, context)?;
        for (g, span) in &globs {
            if let Err(e) = globset::Glob::new(g) {
                let kind = e.kind().to_string();
                self.report(
                    *span,
                    format!("invalid glob `{g}`: {kind}"),
                    "invalid glob",
                    "fix the pattern: `*` matches within a folder, `**` across folders",
                );
            }
        }
        Some(globs)
    }

    fn project(&mut self, table: &Table<'_>, m: &mut Manifest) {
        for (key, value) in self.ordered(table, PROJECT_KEYS, "`[project]`") {
            match key.get_ref().as_ref() {
                "name" => {
                    self.name_written = true;
                    if let Some(name) = self.string(value, "`name`") {
                        // The same characters the inventory refuses in names.
                        if name.chars().any(forbidden_char) {
                            let span = self.span(value);
                            self.report(
                                span,
                                "project name contains a control character",
                                "control character",
                                "remove the control character",
                            );
                        } else {
                            m.name = name;
                        }
                    }
                }
                "inventory" => {
                    if let Some(globs) = self.globs(value, "`inventory`") {
                        if globs.is_empty() {
                            let span = self.span(value);
                            self.report(span, "`inventory` is empty", "no files", "list the inventory files, e.g. `[\"inventory.yaml\"]`, or remove the key for the default");
                        }
                        (m.inventory, m.inventory_spans) = globs.into_iter().unzip();
                    }
                }
                "sources" => {
                    if let Some(globs) = self.globs(value, "`sources`") {
                        if globs.is_empty() {
                            let span = self.span(value);
                            self.report(span, "`sources` is empty", "no files", "list the policy files, e.g. `[\"policy/**/*.seg\"]`, or remove the key for the default");
                        }
                        m.sources = globs.into_iter().map(|(g, _)| g).collect();
                    }
                }
                _ => {}
            }
        }
    }
}

impl ManifestParser<'_> {
    fn enforcement(&mut self, table: &Table<'_>, m: &mut Manifest) {
        for (_, value) in self.ordered(table, ENFORCEMENT_KEYS, "`[enforcement]`") {
            let Some(items) = self.strings(value, "`layered`") else {
                continue;
            };
            let names: Vec<&str> = ConditionClass::ALL.iter().map(|c| c.as_str()).collect();
            for (s, span) in items {
                match ConditionClass::parse(&s) {
                    Some(c) if m.layered.contains(&c) => self.report(
                        span,
                        format!("`{s}` listed twice"),
                        "listed twice",
                        "list each condition class once",
                    ),
                    Some(c) => m.layered.push(c),
                    None => {
                        let help = did_you_mean(&s.to_ascii_lowercase(), names.iter().copied())
                            .map_or_else(
                                || format!("the condition classes are: {}", names.join(", ")),
                                |n| format!("did you mean `{n}`?"),
                            );
                        self.report(
                            span,
                            format!("unknown condition class `{s}`"),
                            "not a condition class",
                            help,
                        );
                    }
                }
            }
        }
    }

    fn lints(&mut self, table: &Table<'_>, m: &mut Manifest) {
        let mut entries: Vec<Entry<'_, '_>> = table.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        let names = Code::lint_names();
        for (key, value) in entries {
            let name = key.get_ref().as_ref();
            if !names.contains(&name) {
                let help = match Code::parse(name).and_then(Code::lint_name) {
                    Some(lint) => format!("lints are named, not numbered: write `{lint}`"),
                    None => did_you_mean(name, names.iter().copied()).map_or_else(
                        || format!("the lints are: {}", names.join(", ")),
                        |s| format!("did you mean `{s}`?"),
                    ),
                };
                let span = self.span(key);
                self.report(span, format!("unknown lint `{name}`"), "unknown lint", help);
                continue;
            }
            let Some(level) = self.string(value, &format!("the level of `{name}`")) else {
                continue;
            };
            let parsed = match level.as_str() {
                "allow" => LintLevel::Allow,
                "warn" => LintLevel::Warn,
                "deny" => LintLevel::Deny,
                other => {
                    let alias = match other {
                        "error" | "forbid" => Some("deny"),
                        "warning" => Some("warn"),
                        "off" | "ignore" | "none" => Some("allow"),
                        _ => did_you_mean(other, LEVELS.iter().copied()),
                    };
                    let help = alias.map_or_else(
                        || "use `allow`, `warn` or `deny`".to_string(),
                        |s| format!("did you mean `{s}`?"),
                    );
                    let span = self.span(value);
                    self.report(
                        span,
                        format!("unknown lint level `{other}`"),
                        "not a lint level",
                        help,
                    );
                    continue;
                }
            };
            m.lints.insert(name.to_string(), parsed);
        }
    }
}

impl ManifestParser<'_> {
    fn reach(&mut self, table: &Table<'_>, text: &str, r: &mut ReachConfig) {
        for (key, value) in self.ordered(table, REACH_KEYS, "`[reach]`") {
            match key.get_ref().as_ref() {
                "critical" => {
                    if let Some(expr) = self.string(value, "`critical`") {
                        let span = self.span(value);
                        let range = value.span();
                        // The expression's place in the file, when the string has no escapes.
                        let verbatim = text
                            .get(range.start + 1..range.end.saturating_sub(1))
                            .filter(|raw| *raw == expr)
                            .map(|_| range.start + 1);
                        r.critical = Some(Critical {
                            text: expr,
                            span,
                            verbatim,
                        });
                    }
                }
                "entry" => {
                    if let Some(names) = self.strings(value, "`entry`") {
                        r.entry = names;
                    }
                }
                "hops" => {
                    if let Some(n) = self.count(value, "`hops`", 1, 64) {
                        r.hops = n as u32;
                    }
                }
                "blast-radius" => {
                    if let Some(n) = self.count(value, "`blast-radius`", 1, u32::MAX as usize) {
                        r.blast_radius = Some(n);
                    }
                }
                "pivot" => {
                    let Some(items) = self.strings(value, "`pivot`") else {
                        continue;
                    };
                    let mut kinds = std::collections::BTreeSet::new();
                    let names: Vec<&str> = IdentityKind::ALL.iter().map(|k| k.as_str()).collect();
                    for (s, span) in items {
                        match IdentityKind::parse(&s) {
                            Some(k) => {
                                kinds.insert(k);
                            }
                            None => {
                                self.errors += 1;
                                let help = did_you_mean(&s, names.iter().copied()).map_or_else(
                                    || format!("the kinds are: {}", names.join(", ")),
                                    |n| format!("did you mean `{n}`?"),
                                );
                                self.diags.push(
                                    Diagnostic::error(
                                        Code::UnknownPivotKind,
                                        format!("`{s}` is not an identity kind"),
                                    )
                                    .with_primary(span, "not an identity kind")
                                    .with_help(help),
                                );
                            }
                        }
                    }
                    r.pivot = Some(kinds);
                }
                _ => {}
            }
        }
    }
}
