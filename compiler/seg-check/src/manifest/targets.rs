//! `[targets.*]`: one table per target, each filled into its `TargetOptions`
//! variant with the defaults of [`super`] for what is not written.

use super::{
    DEFAULT_AWS_MAX_GROUPS_PER_INTERFACE, DEFAULT_AWS_MAX_RULES_PER_GROUP, DEFAULT_IPSET_THRESHOLD,
    DEFAULT_NFT_SET_THRESHOLD, DEFAULT_SIGNING_ALGORITHM, DEFAULT_TRUST_DOMAIN, Entry, Manifest,
    ManifestParser, SIGNING_ALGORITHMS, SigningConfig, TARGET_NAMES, Table,
};
use seg_diag::{Span, did_you_mean};
use seg_ir::backend::{
    AwsFormat, AwsOptions, GcpOptions, IptablesOptions, IstioOptions, KubernetesOptions,
    NftablesOptions, OpaOptions, TargetOptions,
};
use toml::Spanned;
use toml::de::DeValue;

pub(crate) const IPTABLES_KEYS: &[&str] = &["ipset-threshold"];
pub(crate) const NFTABLES_KEYS: &[&str] = &["set-threshold"];
pub(crate) const ISTIO_KEYS: &[&str] = &[
    "trust-domain",
    "system-namespaces",
    "default-deny-system-namespaces",
];
pub(crate) const AWS_KEYS: &[&str] = &[
    "formats",
    "max-rules-per-group",
    "max-groups-per-interface",
    "vpc-id",
];
pub(crate) const KUBERNETES_KEYS: &[&str] =
    &["system-namespaces", "default-deny-system-namespaces"];
pub(crate) const GCP_KEYS: &[&str] = &["network"];
pub(crate) const OPA_KEYS: &[&str] = &["signing-key", "signing-algorithm", "signing-key-id"];

impl ManifestParser<'_> {
    pub(super) fn targets(&mut self, table: &Table<'_>, m: &mut Manifest) {
        let mut entries: Vec<Entry<'_, '_>> = table.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (key, value) in entries {
            let name = key.get_ref().as_ref();
            if !TARGET_NAMES.contains(&name) {
                let suggestion = match name {
                    "k8s" | "kube" | "networkpolicy" => Some("kubernetes"),
                    "nft" | "nftable" => Some("nftables"),
                    "mesh" | "authorizationpolicy" => Some("istio"),
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
                "nftables" => self.nftables(t, &context),
                "istio" => self.istio(t, &context),
                "kubernetes" => self.kubernetes(t, &context),
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

    fn nftables(&mut self, t: &Table<'_>, context: &str) -> Option<TargetOptions> {
        let mut set_threshold = DEFAULT_NFT_SET_THRESHOLD;
        for (_, value) in self.ordered(t, NFTABLES_KEYS, context) {
            set_threshold = self.count(value, "`set-threshold`", 1, 65_536)?;
        }
        Some(TargetOptions::Nftables(NftablesOptions { set_threshold }))
    }

    fn istio(&mut self, t: &Table<'_>, context: &str) -> Option<TargetOptions> {
        let mut o = IstioOptions {
            trust_domain: DEFAULT_TRUST_DOMAIN.to_string(),
            ..IstioOptions::default()
        };
        let errors = self.errors;
        for (key, value) in self.ordered(t, ISTIO_KEYS, context) {
            if key.get_ref().as_ref() != "trust-domain" {
                self.system_namespaces(key, value, &mut o.cluster);
                continue;
            }
            let domain = self.string(value, "`trust-domain`")?;
            if !is_trust_domain(&domain) {
                let span = self.span(value);
                self.report(
                    span,
                    format!("invalid trust domain `{}`", domain.escape_debug()),
                    "not a trust domain",
                    "a SPIFFE trust domain has 1 to 255 lowercase letters, digits, `.`, `-` and `_` (e.g. `cluster.local`)",
                );
                return None;
            }
            o.trust_domain = domain;
        }
        (self.errors == errors).then_some(TargetOptions::Istio(o))
    }

    fn kubernetes(&mut self, t: &Table<'_>, context: &str) -> Option<TargetOptions> {
        let mut o = KubernetesOptions::default();
        let errors = self.errors;
        for (key, value) in self.ordered(t, KUBERNETES_KEYS, context) {
            self.system_namespaces(key, value, &mut o);
        }
        (self.errors == errors).then_some(TargetOptions::Kubernetes(o))
    }

    /// `system-namespaces` or `default-deny-system-namespaces` (in the
    /// kubernetes and istio tables: the same cluster, the same rule).
    fn system_namespaces(
        &mut self,
        key: &Spanned<std::borrow::Cow<'_, str>>,
        value: &Spanned<DeValue<'_>>,
        o: &mut KubernetesOptions,
    ) {
        if key.get_ref().as_ref() == "default-deny-system-namespaces" {
            match value.get_ref() {
                DeValue::Boolean(b) => o.default_deny_system_namespaces = *b,
                _ => {
                    let span = self.span(value);
                    self.report(
                        span,
                        "`default-deny-system-namespaces` must be `true` or `false`",
                        "not a boolean",
                        "write `default-deny-system-namespaces = true` to put system namespaces under a default deny",
                    );
                }
            }
            return;
        }
        for (name, span) in self
            .strings(value, "`system-namespaces`")
            .unwrap_or_default()
        {
            let b = name.as_bytes();
            let ok = !b.is_empty()
                && b.len() <= 63
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-';
            if ok {
                o.system_namespaces.push(name);
            } else {
                self.report(
                    span,
                    format!("invalid namespace `{}`", name.escape_debug()),
                    "not a namespace name",
                    "a namespace is at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit",
                );
            }
        }
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
}

/// A SPIFFE trust domain name: lowercase letters, digits, `.`, `-`, `_`.
pub(crate) fn is_trust_domain(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}
