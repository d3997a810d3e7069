//! `seg.toml`: the project manifest. Parsed from text (no I/O here); unknown
//! keys and bad values are E0150 with the place in the file.
//!
//! Input: the manifest's text. Output: a [`Manifest`] with every default
//! filled in, or `None` after reporting every problem found (TOML syntax
//! errors, unknown tables and keys with a suggestion, values of the wrong type
//! or out of range, a missing `[project] name` or `[targets.gcp] network`).
//! Tables and keys are read in file order, so `targets` keeps the order in
//! which `seg.toml` lists them.

use indexmap::IndexMap;
use seg_diag::{Code, Diagnostic, Diagnostics, FileId, LintLevel, Span, did_you_mean};
use seg_ir::ConditionClass;
use seg_ir::backend::{
    AwsFormat, AwsOptions, GcpOptions, IptablesOptions, KubernetesOptions, OpaOptions,
    TargetOptions,
};
use std::collections::BTreeMap;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

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

/// `[project] inventory` when not set: the file `seg init` creates.
pub const DEFAULT_INVENTORY: &[&str] = &["inventory.yaml"];
/// `[project] sources` when not set: every `.seg` file below the project folder.
pub const DEFAULT_SOURCES: &[&str] = &["**/*.seg"];
pub const DEFAULT_IPSET_THRESHOLD: usize = 8;
pub const DEFAULT_AWS_MAX_RULES_PER_GROUP: usize = 60;
pub const DEFAULT_AWS_MAX_GROUPS_PER_INTERFACE: usize = 5;
pub const DEFAULT_SIGNING_ALGORITHM: &str = "RS256";
/// JWS algorithms an OPA bundle signature may use.
pub const SIGNING_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256",
    "HS384", "HS512",
];
pub const TARGET_NAMES: &[&str] = &["iptables", "kubernetes", "aws", "gcp", "opa"];

const TOP_TABLES: &[&str] = &["project", "targets", "enforcement", "lints"];
const PROJECT_KEYS: &[&str] = &["name", "inventory", "sources"];
const IPTABLES_KEYS: &[&str] = &["ipset-threshold"];
const AWS_KEYS: &[&str] = &[
    "formats",
    "max-rules-per-group",
    "max-groups-per-interface",
    "vpc-id",
];
const GCP_KEYS: &[&str] = &["network"];
const OPA_KEYS: &[&str] = &["signing-key", "signing-algorithm", "signing-key-id"];
const ENFORCEMENT_KEYS: &[&str] = &["layered"];
const LEVELS: &[&str] = &["allow", "warn", "deny"];

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
        span: Span::new(file, 0, 0),
        inventory_spans: Vec::new(),
    };
    let mut project_seen = false;
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
    } else if m.name.is_empty() && p.errors == 0 {
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
    (p.errors == 0).then_some(m)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim_end()
}

type Table<'i> = DeTable<'i>;
type Entry<'t, 'i> = (
    &'t Spanned<std::borrow::Cow<'i, str>>,
    &'t Spanned<DeValue<'i>>,
);

struct ManifestParser<'d> {
    file: FileId,
    diags: &'d mut Diagnostics,
    errors: usize,
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
        self.errors += 1;
        self.diags.push(
            Diagnostic::error(Code::InvalidManifest, message)
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
            self.report(
                span,
                format!("unknown key `{name}` in {context}"),
                "unknown key",
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
                    format!("{context} must be a table, found {}", other.type_str()),
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
                    format!("{context} must be a string, found {}", other.type_str()),
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
                    v.get_ref().type_str()
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
                    format!("{context} must be an integer, found {}", other.type_str()),
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
                    if let Some(name) = self.string(value, "`name`") {
                        if name.chars().any(char::is_control) {
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

    fn targets(&mut self, table: &Table<'_>, m: &mut Manifest) {
        let mut entries: Vec<Entry<'_, '_>> = table.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (key, value) in entries {
            let name = key.get_ref().as_ref();
            if !TARGET_NAMES.contains(&name) {
                let suggestion = match name {
                    "k8s" | "kube" | "networkpolicy" => Some("kubernetes"),
                    "cloud.aws" | "ec2" => Some("aws"),
                    "cloud.gcp" | "gce" => Some("gcp"),
                    "rego" => Some("opa"),
                    _ => did_you_mean(name, TARGET_NAMES.iter().copied()),
                };
                let help = suggestion.map_or_else(
                    || format!("the targets are: {}", TARGET_NAMES.join(", ")),
                    |s| format!("did you mean `{s}`?"),
                );
                let span = self.span(key);
                self.report(
                    span,
                    format!("unknown target `{name}`"),
                    "unknown target",
                    help,
                );
                continue;
            }
            let context = format!("`[targets.{name}]`");
            let Some(t) = self.table(value, &context) else {
                continue;
            };
            let options = match name {
                "iptables" => self.iptables(t, &context),
                "kubernetes" => {
                    self.ordered(t, &[], &context);
                    Some(TargetOptions::Kubernetes(KubernetesOptions {}))
                }
                "aws" => self.aws(t, &context),
                "gcp" => self.gcp(t, &context, self.span(key)),
                _ => self.opa(t, &context, self.span(key), m),
            };
            if let Some(o) = options {
                m.targets.insert(name.to_string(), o);
            }
        }
    }

    fn iptables(&mut self, t: &Table<'_>, context: &str) -> Option<TargetOptions> {
        let mut ipset_threshold = DEFAULT_IPSET_THRESHOLD;
        for (_, value) in self.ordered(t, IPTABLES_KEYS, context) {
            ipset_threshold = self.count(value, "`ipset-threshold`", 1, 65_536)?;
        }
        Some(TargetOptions::Iptables(IptablesOptions { ipset_threshold }))
    }

    fn aws(&mut self, t: &Table<'_>, context: &str) -> Option<TargetOptions> {
        let mut o = AwsOptions {
            formats: vec![AwsFormat::Terraform, AwsFormat::CloudFormation],
            max_rules_per_group: DEFAULT_AWS_MAX_RULES_PER_GROUP,
            max_groups_per_interface: DEFAULT_AWS_MAX_GROUPS_PER_INTERFACE,
            vpc_id: None,
        };
        let errors = self.errors;
        for (key, value) in self.ordered(t, AWS_KEYS, context) {
            match key.get_ref().as_ref() {
                "formats" => {
                    if let Some(f) = self.aws_formats(value) {
                        o.formats = f;
                    }
                }
                "max-rules-per-group" => {
                    o.max_rules_per_group = self
                        .count(value, "`max-rules-per-group`", 1, 1000)
                        .unwrap_or(0)
                }
                "max-groups-per-interface" => {
                    o.max_groups_per_interface = self
                        .count(value, "`max-groups-per-interface`", 1, 16)
                        .unwrap_or(0)
                }
                _ => o.vpc_id = self.vpc_id(value),
            }
        }
        (self.errors == errors).then_some(TargetOptions::Aws(o))
    }

    fn aws_formats(&mut self, value: &Spanned<DeValue<'_>>) -> Option<Vec<AwsFormat>> {
        let names = ["terraform", "cloudformation"];
        let mut formats = Vec::new();
        for (f, span) in self.strings(value, "`formats`")? {
            let format = match f.as_str() {
                "terraform" => AwsFormat::Terraform,
                "cloudformation" => AwsFormat::CloudFormation,
                other => {
                    let help = did_you_mean(&other.to_ascii_lowercase(), names).map_or_else(
                        || "use `terraform` or `cloudformation`".to_string(),
                        |s| format!("did you mean `{s}`?"),
                    );
                    self.report(
                        span,
                        format!("unknown AWS output format `{other}`"),
                        "unknown format",
                        help,
                    );
                    continue;
                }
            };
            if formats.contains(&format) {
                self.report(
                    span,
                    format!("format `{f}` listed twice"),
                    "listed twice",
                    "list each format once",
                );
            }
            formats.push(format);
        }
        if formats.is_empty() {
            let span = self.span(value);
            self.report(
                span,
                "`formats` is empty",
                "no formats",
                "list `terraform`, `cloudformation` or both",
            );
        }
        Some(formats)
    }

    fn vpc_id(&mut self, value: &Spanned<DeValue<'_>>) -> Option<String> {
        let id = self.string(value, "`vpc-id`")?;
        let ok = id.strip_prefix("vpc-").is_some_and(|h| {
            (h.len() == 8 || h.len() == 17)
                && h.bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        });
        if !ok {
            let span = self.span(value);
            self.report(
                span,
                format!("invalid VPC id `{id}`"),
                "not a VPC id",
                "write the id as `vpc-` and 8 or 17 lowercase hex digits, or remove the key",
            );
            return None;
        }
        Some(id)
    }

    fn gcp(&mut self, t: &Table<'_>, context: &str, header: Span) -> Option<TargetOptions> {
        let mut network = None;
        for (_, value) in self.ordered(t, GCP_KEYS, context) {
            let name = self.string(value, "`network`")?;
            let b = name.as_bytes();
            let ok = b.len() <= 63
                && b.first().is_some_and(u8::is_ascii_lowercase)
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b.last() != Some(&b'-');
            if !ok {
                let span = self.span(value);
                self.report(span, format!("invalid GCP network name `{name}`"), "not a network name", "use lowercase letters, digits and `-`, starting with a letter, at most 63 characters");
                return None;
            }
            network = Some(name);
        }
        let Some(network) = network else {
            self.report(
                header,
                format!("missing `network` in {context}"),
                "no `network` here",
                "add the VPC network the firewall rules belong to: `network = \"my-vpc\"`",
            );
            return None;
        };
        Some(TargetOptions::Gcp(GcpOptions { network }))
    }

    fn opa(
        &mut self,
        t: &Table<'_>,
        context: &str,
        header: Span,
        m: &mut Manifest,
    ) -> Option<TargetOptions> {
        let (mut key_path, mut algorithm, mut key_id) = (None, None, None);
        let mut algorithm_span = header;
        for (key, value) in self.ordered(t, OPA_KEYS, context) {
            match key.get_ref().as_ref() {
                "signing-key" => key_path = Some(self.string(value, "`signing-key`")?),
                "signing-key-id" => key_id = Some(self.string(value, "`signing-key-id`")?),
                _ => {
                    let alg = self.string(value, "`signing-algorithm`")?;
                    algorithm_span = self.span(value);
                    if !SIGNING_ALGORITHMS.contains(&alg.as_str()) {
                        let help = did_you_mean(
                            &alg.to_ascii_uppercase(),
                            SIGNING_ALGORITHMS.iter().copied(),
                        )
                        .map_or_else(
                            || format!("use one of {}", SIGNING_ALGORITHMS.join(", ")),
                            |s| format!("did you mean `{s}`?"),
                        );
                        self.report(
                            algorithm_span,
                            format!("unknown signing algorithm `{alg}`"),
                            "unknown algorithm",
                            help,
                        );
                        return None;
                    }
                    algorithm = Some(alg);
                }
            }
        }
        match key_path {
            Some(key_path) => {
                let algorithm = algorithm.unwrap_or_else(|| DEFAULT_SIGNING_ALGORITHM.to_string());
                m.opa_signing = Some(SigningConfig {
                    key_path,
                    algorithm,
                    key_id,
                    span: header,
                });
            }
            None if algorithm.is_some() || key_id.is_some() => {
                self.report(
                    algorithm_span,
                    format!("signing settings without `signing-key` in {context}"),
                    "no key to sign with",
                    "add `signing-key = \"path/to/key.pem\"` or remove the signing settings",
                );
                return None;
            }
            None => {}
        }
        Some(TargetOptions::Opa(OpaOptions { signing: None }))
    }

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
                        let help = did_you_mean(&s, names.iter().copied()).map_or_else(
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
                    let help = did_you_mean(other, LEVELS.iter().copied()).map_or_else(
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
