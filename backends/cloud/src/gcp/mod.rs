//! The GCP dialect: VPC firewall rules as the compute v1 API's JSON and as
//! Terraform JSON.
//!
//! Stages: check the network option and the service accounts, lower the
//! rules ([`plan`]), name each firewall rule (stable, unique, valid for GCP),
//! check the values, render both formats. Any error means no files.

mod model;
mod plan;

use crate::common::{
    Narrowings, TOOL, denies_metadata, hash_hex, header, provenance_text, push_json,
    restrict_chars, slug, tf_literal,
};
use model::*;
use plan::Fw;
use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::backend::{Bugs, Emission, GcpOptions, Lowered, TargetOptions};
use seg_ir::meaning;
use seg_ir::program::Program;
use std::collections::{BTreeMap, BTreeSet};

/// Room GCP gives a description (kept well inside the API's limit).
const MAX_DESCRIPTION: usize = 1024;

/// Plan the firewall rules and check every value GCP would reject; the
/// files are written if the result is rendered.
pub fn lower<'p>(
    program: &'p Program,
    options: &'p GcpOptions,
    diags: &mut Diagnostics,
) -> Lowered<'p> {
    let errors = diags.error_count();
    if !valid_name(&options.network) {
        diags.push(
            Diagnostic::error(Code::InvalidTargetOption, format!("invalid GCP network name `{}`", options.network))
                .with_help("use lowercase letters, digits and `-`, starting with a letter, at most 63 characters"),
        );
    }
    check_accounts(program, diags);
    if diags.error_count() > errors {
        return Lowered::nothing(Vec::new());
    }
    let mut narrowings = Narrowings::new("gcp");
    let rules = plan::lower(program, &mut narrowings, diags);
    let named = names(program, &rules);
    let items: Vec<(String, Firewall)> = rules
        .iter()
        .zip(&named)
        .map(|(fw, name)| (name.clone(), firewall(program, options, fw, name)))
        .collect();
    for (name, f) in &items {
        if let Some(problem) = value_problem(f) {
            diags.push(
                Diagnostic::error(Code::InvalidTargetValue, format!("firewall rule `{name}` would get {problem}"))
                    .with_note("this is a bug in seg's GCP lowering; please report it with the input that caused it"),
            );
        }
    }
    if diags.error_count() > errors {
        return Lowered::nothing(Vec::new());
    }
    Lowered::new(narrowings.into_approximations(), move |bugs| {
        render(program, options, rules, items, bugs)
    })
}

/// The firewall list and the Terraform files of the planned rules.
fn render(
    program: &Program,
    options: &GcpOptions,
    rules: Vec<Fw>,
    items: Vec<(String, Firewall)>,
    bugs: &mut Bugs,
) -> Emission {
    let meaning = meaning::digest(program, Some(&TargetOptions::Gcp(options.clone())));
    let mut resources = indexmap::IndexMap::new();
    for (name, f) in &items {
        resources.insert(name.clone(), terraform(f, &options.network));
    }
    let list = FirewallList {
        comment: header(&meaning),
        kind: "compute#firewallList".into(),
        items: items.into_iter().map(|(_, f)| f).collect(),
    };
    let main = TfMain {
        comment: header(&meaning),
        resource: TfResources {
            google_compute_firewall: resources,
        },
    };
    let versions = TfVersions {
        comment: header(&meaning),
        terraform: TfSettings {
            required_version: ">= 1.5.0".into(),
            required_providers: indexmap::IndexMap::from([(
                "google".to_string(),
                TfProvider {
                    source: "hashicorp/google".into(),
                    version: ">= 5.0".into(),
                },
            )]),
        },
    };
    let mut emission = Emission {
        rules: list.items.len(),
        ..Emission::default()
    };
    push_json("gcp", &mut emission, "firewalls.json", &list, bugs);
    push_json("gcp", &mut emission, "main.tf.json", &main, bugs);
    push_json("gcp", &mut emission, "versions.tf.json", &versions, bugs);
    emission.artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    emission.objects.sort();
    let (deny, allow) = rules.iter().fold(
        (0, 0),
        |(d, a), r| if r.deny { (d + 1, a) } else { (d, a + 1) },
    );
    emission.notes.push(format!(
        "{} firewall rules: {allow} allow, {deny} deny (including the default denies)",
        rules.len()
    ));
    if denies_metadata(program) {
        emission.notes.push(
            "VPC firewall rules never block traffic to the metadata server (169.254.169.254): restrict it on the instances".to_string(),
        );
    }
    emission
}

/// `[a-z]([-a-z0-9]{0,61}[a-z0-9])?`: GCP resource names.
pub fn valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// An email as GCP takes it: within SMTP's limits (64 characters before the
/// `@`, 254 in all), or the API refuses the firewall rule at apply time.
fn valid_account(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && s.len() <= 254
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && s.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'@'))
        }
        None => false,
    }
}

/// Service accounts must be emails and belong to one identity each.
fn check_accounts(program: &Program, diags: &mut Diagnostics) {
    let mut owners: BTreeMap<&str, &seg_ir::Identity> = BTreeMap::new();
    for identity in &program.identities {
        let Some(sa) = identity.gcp.as_ref().map(|g| g.service_account.as_str()) else {
            continue;
        };
        if !valid_account(sa) {
            diags.push(
                Diagnostic::error(Code::InvalidTargetValue, format!("invalid service account `{sa}` on `gcp`"))
                    .with_primary(identity.origin, format!("account of `{}`", identity.name))
                    .with_help("write the account's email, e.g. `payments-api@bank-prod.iam.gserviceaccount.com`"),
            );
        } else if let Some(first) = owners.get(sa) {
            diags.push(
                Diagnostic::error(Code::InvalidTargetValue, format!("service account `{sa}` is bound to `{}` and `{}`", first.name, identity.name))
                    .with_primary(identity.origin, "second identity on this account")
                    .with_secondary(first.origin, "first identity on this account")
                    .with_note("GCP firewall rules select instances by service account, so two identities on one account would share their rules")
                    .with_help("give each identity its own service account"),
            );
        } else {
            owners.insert(sa, identity);
        }
    }
}

/// SHA-256 (hex) over the rule's label and content, fed part by part.
/// SHA-256 (hex) of everything a firewall rule enforces: direction, action,
/// priority, targets, sources, ranges, protocols. Not its description, not
/// the rules it comes from: the name follows what the rule does.
fn content_hash(fw: &Fw) -> String {
    let mut parts = vec![format!("{} {} {}", fw.ingress, fw.deny, fw.priority)];
    parts.push(fw.targets.join(","));
    parts.push(fw.source_accounts.join(","));
    parts.extend(fw.ranges.iter().map(ToString::to_string));
    parts.extend(
        fw.protocols
            .iter()
            .map(|p| format!("{}:{}", p.name, p.ports.join(","))),
    );
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    hash_hex(&refs, 64)
}

/// `seg-<policy>-<i|e><a|d>-<hash of content>` (`seg-default-deny-…` for the
/// deny-all rules), at most 63 characters. A firewall rule keeps its name
/// while it enforces the same thing, whatever else changes; one that changes
/// gets another name. Unique: a name taken by another rule (the same content
/// from the same policy, or a hash prefix shared) gets a longer hash, then a
/// number, in the program's (stable-id) order.
fn names(program: &Program, rules: &[Fw]) -> Vec<String> {
    let mut taken = BTreeSet::new();
    let mut out = Vec::new();
    for fw in rules {
        let dir = if fw.ingress { 'i' } else { 'e' };
        let act = if fw.deny { 'd' } else { 'a' };
        let policy = match fw
            .rules
            .first()
            .and_then(|r| program.rules.get(r.0 as usize))
        {
            Some(rule) => rule.provenance.policy.clone(),
            None => "default-deny".to_string(),
        };
        let base = slug(&policy, '-', 36);
        let digest = content_hash(fw);
        let mut len = 10;
        let mut name = loop {
            let h = &digest[..len];
            // The policy part gives way when a longer hash is needed (at most 63 characters).
            let mut base = base.clone();
            base.truncate(63usize.saturating_sub(len + 8));
            let base = base.trim_end_matches('-');
            let name = format!(
                "seg-{base}{}{dir}{act}-{h}",
                if base.is_empty() { "" } else { "-" }
            );
            if len >= 46 || !taken.contains(&name) {
                break name;
            }
            len += 6;
        };
        // The very same content twice (the plan merges such rules; kept as a guard).
        let stem = name.clone();
        let mut n = 2;
        while taken.contains(&name) {
            let suffix = format!("-{n}");
            let keep = stem.len().min(63 - suffix.len());
            name = format!("{}{suffix}", stem[..keep].trim_end_matches('-'));
            n += 1;
        }
        taken.insert(name.clone());
        out.push(name);
    }
    out
}

fn firewall(program: &Program, options: &GcpOptions, fw: &Fw, name: &str) -> Firewall {
    let description = if fw.rules.is_empty() {
        format!("{TOOL}: default deny of the identities seg manages")
    } else {
        provenance_text(program, &fw.rules, MAX_DESCRIPTION, |s| {
            restrict_chars(s, |c| !c.is_control())
        })
    };
    let ranges: Vec<String> = fw.ranges.iter().map(ToString::to_string).collect();
    let protocols: Vec<ApiProtocol> = fw.protocols.iter().map(|p| p.api()).collect();
    let (source_ranges, destination_ranges) = if fw.ingress {
        (ranges, Vec::new())
    } else {
        (Vec::new(), ranges)
    };
    let (allowed, denied) = if fw.deny {
        (Vec::new(), protocols)
    } else {
        (protocols, Vec::new())
    };
    Firewall {
        name: name.to_string(),
        description,
        network: format!("global/networks/{}", options.network),
        priority: fw.priority,
        direction: if fw.ingress { "INGRESS" } else { "EGRESS" }.to_string(),
        source_ranges,
        destination_ranges,
        source_service_accounts: fw.source_accounts.clone(),
        target_service_accounts: fw.targets.clone(),
        allowed,
        denied,
    }
}

fn terraform(f: &Firewall, network: &str) -> TfFirewall {
    let tf = |p: &Vec<ApiProtocol>| {
        p.iter()
            .map(|p| TfProtocol {
                protocol: p.ip_protocol.clone(),
                ports: p.ports.clone(),
            })
            .collect()
    };
    TfFirewall {
        name: f.name.clone(),
        network: network.to_string(),
        description: tf_literal(&f.description),
        direction: f.direction.clone(),
        priority: f.priority,
        source_ranges: f.source_ranges.clone(),
        destination_ranges: f.destination_ranges.clone(),
        source_service_accounts: f.source_service_accounts.clone(),
        target_service_accounts: f.target_service_accounts.clone(),
        allow: tf(&f.allowed),
        deny: tf(&f.denied),
    }
}

/// What GCP would reject in a rule, if anything.
fn value_problem(f: &Firewall) -> Option<String> {
    if !valid_name(&f.name) {
        return Some(format!("the invalid name `{}`", f.name));
    }
    if f.priority > 65535 {
        return Some(format!("the priority {}", f.priority));
    }
    if f.description.chars().count() > MAX_DESCRIPTION
        || f.description.chars().any(char::is_control)
    {
        return Some("a description GCP rejects".to_string());
    }
    let ranges = if f.direction == "INGRESS" {
        &f.source_ranges
    } else {
        &f.destination_ranges
    };
    let v4 = ranges.iter().filter(|r| !r.contains(':')).count();
    if v4 != 0 && v4 != ranges.len() {
        return Some("IPv4 and IPv6 ranges in one rule".to_string());
    }
    if f.target_service_accounts.is_empty() {
        return Some("no target service account (it would apply to every instance)".to_string());
    }
    if f.direction == "INGRESS" && ranges.is_empty() && f.source_service_accounts.is_empty() {
        return Some("no source".to_string());
    }
    None
}
