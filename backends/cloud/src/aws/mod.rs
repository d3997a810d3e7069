//! The AWS dialect: security groups as Terraform JSON and CloudFormation.
//!
//! Stages: check the options and the identities' group bindings, lower the
//! grants to per-identity rules ([`plan`]), fit them into groups under the
//! quotas ([`groups`]), check every value AWS would reject, then render the
//! selected formats ([`render`]). Any error means no files.

mod groups;
mod model;
mod plan;
mod render;

use crate::common::{Narrowings, denies_metadata, push_json};
pub(crate) use groups::aws_char;
use groups::{Group, GroupRef, MAX_TEXT};
use plan::{Peer, Proto, SgRule};
use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::backend::{AwsFormat, AwsOptions, Bugs, Emission, Lowered, TargetOptions};
use seg_ir::meaning;
use seg_ir::program::Program;
use std::collections::BTreeMap;

/// CloudFormation's per-template limits.
const CFN_MAX_RESOURCES: usize = 500;
const CFN_MAX_OUTPUTS: usize = 200;
const CFN_MAX_BYTES: usize = 1_000_000;
/// Larger templates must be uploaded through S3.
const CFN_MAX_INLINE_BYTES: usize = 51_200;

/// Plan the groups and check them against the quotas and the API's rules;
/// the files are written if the result is rendered.
pub fn lower<'p>(
    program: &'p Program,
    options: &'p AwsOptions,
    diags: &mut Diagnostics,
) -> Lowered<'p> {
    let errors = diags.error_count();
    check_options(options, diags);
    check_bindings(program, diags);
    if diags.error_count() > errors {
        return Lowered::nothing(Vec::new());
    }
    // Past what one identity's groups can hold the build fails; no need for provenance there.
    let capacity = options
        .max_rules_per_group
        .saturating_mul(options.max_groups_per_interface);
    let mut narrowings = Narrowings::new("aws");
    let rules = plan::lower(program, capacity, &mut narrowings, diags);
    let (groups, fit) = groups::build(program, rules, options, diags);
    check_values(program, &groups, diags);
    if diags.error_count() > errors {
        // No files; what the quota refused is still a fact for whoever reads the notes.
        let mut notes = Vec::new();
        if fit.refused > 0 {
            notes.push(format!(
                "refused: {} of {} managed identities exceed {} rules per group (per direction and address family) × {} groups per interface; all together they need {} groups holding {} inbound and {} outbound rules, and {} of them more than one group",
                fit.refused,
                fit.identities,
                options.max_rules_per_group,
                options.max_groups_per_interface,
                fit.groups,
                fit.inbound,
                fit.outbound,
                fit.over_one_group
            ));
        }
        return Lowered::nothing(notes);
    }
    let vpc = options.vpc_id.as_deref();
    let meaning = || meaning::digest(program, Some(&TargetOptions::Aws(options.clone())));
    // The template's limits include its size, so it is written here.
    let mut template_file = Emission::default();
    let mut digest = None;
    if options.formats.contains(&AwsFormat::CloudFormation) {
        let digest = digest.insert(meaning());
        let template = render::cloudformation(program, digest, &groups, vpc);
        let (resources, outputs) = (template.resources.len(), template.outputs.len());
        let mut bugs = Bugs::default();
        push_json(
            "aws",
            &mut template_file,
            "template.json",
            &template,
            &mut bugs,
        );
        diags.extend(bugs.into_diagnostics());
        let size = template_file
            .artifacts
            .first()
            .map_or(0, |a| a.contents.len());
        check_template(resources, outputs, size, &mut template_file, diags);
    }
    if diags.error_count() > errors {
        return Lowered::nothing(Vec::new());
    }
    Lowered::new(narrowings.into_approximations(), move |bugs| {
        let mut emission = template_file;
        if options.formats.contains(&AwsFormat::Terraform) {
            let meaning = digest.unwrap_or_else(meaning);
            push_json(
                "aws",
                &mut emission,
                "main.tf.json",
                &render::terraform(program, &meaning, &groups, vpc),
                bugs,
            );
            push_json(
                "aws",
                &mut emission,
                "versions.tf.json",
                &render::versions(&meaning),
                bugs,
            );
        }
        emission.artifacts.sort_by(|a, b| a.path.cmp(&b.path));
        emission.objects.sort();
        emission.rules = groups
            .iter()
            .map(|g| g.ingress.len() + g.egress.len())
            .sum();
        notes(program, &groups, &mut emission);
        emission
    })
}

/// E0404 for options seg.toml validation would have refused, in case the
/// options come from elsewhere.
fn check_options(o: &AwsOptions, diags: &mut Diagnostics) {
    let mut bad = |message: String, help: &str| {
        diags.push(
            Diagnostic::error(Code::InvalidTargetOption, message).with_help(help.to_string()),
        );
    };
    if o.formats.is_empty() {
        bad(
            "`[targets.aws] formats` is empty".into(),
            "list `terraform`, `cloudformation` or both",
        );
    }
    if !(1..=1000).contains(&o.max_rules_per_group) {
        bad(
            format!("`max-rules-per-group` is {}", o.max_rules_per_group),
            "use AWS's quota for your account: 60 by default, at most 1000",
        );
    }
    if !(1..=16).contains(&o.max_groups_per_interface) {
        bad(
            format!(
                "`max-groups-per-interface` is {}",
                o.max_groups_per_interface
            ),
            "use AWS's quota for your account: 5 by default, at most 16",
        );
    } else if o.max_rules_per_group * o.max_groups_per_interface > 1000 {
        bad(
            format!(
                "{} rules per group times {} groups per interface exceeds 1000",
                o.max_rules_per_group, o.max_groups_per_interface
            ),
            "AWS caps rules per group times groups per interface at 1000: lower one of the two",
        );
    }
    if let Some(v) = &o.vpc_id
        && !hex_id(v, "vpc-")
    {
        bad(
            format!("invalid VPC id `{v}`"),
            "write the id as `vpc-` and 8 or 17 lowercase hex digits",
        );
    }
}

fn hex_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|h| {
        (h.len() == 8 || h.len() == 17)
            && h.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    })
}

/// Existing group ids must be well formed and belong to one identity each:
/// seg gives every identity its own rules.
fn check_bindings(program: &Program, diags: &mut Diagnostics) {
    let mut owners: BTreeMap<&str, &seg_ir::Identity> = BTreeMap::new();
    for identity in &program.identities {
        let Some(sg) = identity
            .aws
            .as_ref()
            .and_then(|a| a.security_group.as_deref())
        else {
            continue;
        };
        if !hex_id(sg, "sg-") {
            diags.push(
                Diagnostic::error(Code::InvalidTargetValue, format!("invalid security group id `{sg}` on `aws`"))
                    .with_primary(identity.origin, format!("group of `{}`", identity.name))
                    .with_help("write the id as `sg-` and 8 or 17 lowercase hex digits, or `aws: {}` to let seg create the group"),
            );
            continue;
        }
        if let Some(first) = owners.get(sg) {
            diags.push(
                Diagnostic::error(Code::InvalidTargetValue, format!("security group `{sg}` is bound to `{}` and `{}`", first.name, identity.name))
                    .with_primary(identity.origin, "second identity on this group")
                    .with_secondary(first.origin, "first identity on this group")
                    .with_note("a group's rules apply to every instance in it, so two identities on one group would share their rules")
                    .with_help("give each identity its own group, or write `aws: {}` to let seg create one"),
            );
        } else {
            owners.insert(sg, identity);
        }
    }
}

/// E0402 for any value AWS would reject or rewrite. The lowering builds only
/// valid values; this is the last line before the files are written.
fn check_values(program: &Program, groups: &[Group], diags: &mut Diagnostics) {
    let text_ok = |s: &str| s.chars().count() <= MAX_TEXT && s.chars().all(aws_char);
    for g in groups {
        let identity = program.identity(g.owner);
        let (name, mut problems) = match &g.group {
            GroupRef::Created(c) => {
                let mut p = Vec::new();
                if c.name.is_empty()
                    || !text_ok(&c.name)
                    || c.name.to_ascii_lowercase().starts_with("sg-")
                {
                    p.push("a group name AWS rejects (at most 255 characters of `a-zA-Z0-9 ._-:/()#,@[]+=;{}!$*`, not starting with `sg-`)".to_string());
                }
                if !text_ok(&c.description) {
                    p.push("a group description AWS rejects".to_string());
                }
                (c.name.clone(), p)
            }
            GroupRef::Existing(sg) => (sg.clone(), Vec::new()),
        };
        for rule in g.ingress.iter().chain(&g.egress) {
            if let Some(p) = rule_problem(program, rule) {
                problems.push(p);
            }
        }
        for p in problems {
            diags.push(
                Diagnostic::error(Code::InvalidTargetValue, format!("security group `{name}` would get {p}"))
                    .with_primary(identity.origin, format!("group of `{}`", identity.name))
                    .with_note("this is a bug in seg's AWS lowering; please report it with the input that caused it"),
            );
        }
    }
}

fn rule_problem(program: &Program, rule: &SgRule) -> Option<String> {
    if let Peer::Cidr(net) = rule.peer
        && net.trunc() != net
    {
        return Some(format!("the non-canonical CIDR `{net}`"));
    }
    if let Some((lo, hi)) = rule.proto.ports()
        && lo > hi
    {
        return Some(format!("the reversed port range {lo}-{hi}"));
    }
    if matches!(rule.proto, Proto::Sctp | Proto::All) && rule.proto.ports().is_some() {
        return Some("ports on a protocol that opens every port".to_string());
    }
    let text = render::description(program, rule);
    if text.chars().count() > MAX_TEXT || !text.chars().all(aws_char) {
        return Some(format!("the rule description `{text}`"));
    }
    None
}

fn check_template(
    resources: usize,
    outputs: usize,
    size: usize,
    emission: &mut Emission,
    diags: &mut Diagnostics,
) {
    let mut over = |what: String| {
        diags.push(
            Diagnostic::error(Code::TargetQuotaExceeded, format!("the CloudFormation template needs {what}"))
                .with_note("one resource per group and per rule; CloudFormation allows 500 resources, 200 outputs and 1 MB per template")
                .with_help("emit Terraform only (`formats = [\"terraform\"]`), or split the project"),
        );
    };
    if resources > CFN_MAX_RESOURCES {
        over(format!("{resources} resources (limit {CFN_MAX_RESOURCES})"));
    }
    if outputs > CFN_MAX_OUTPUTS {
        over(format!("{outputs} outputs (limit {CFN_MAX_OUTPUTS})"));
    }
    if size > CFN_MAX_BYTES {
        over(format!("{size} bytes (limit {CFN_MAX_BYTES})"));
    } else if size > CFN_MAX_INLINE_BYTES {
        emission.notes.push(format!("template.json is {size} bytes: upload it through S3 (inline templates are limited to {CFN_MAX_INLINE_BYTES} bytes)"));
    }
}

/// Facts for the build report.
fn notes(program: &Program, groups: &[Group], emission: &mut Emission) {
    let created = groups
        .iter()
        .filter(|g| matches!(g.group, GroupRef::Created(_)))
        .count();
    let existing = groups.len() - created;
    let (inbound, outbound) = groups.iter().fold((0, 0), |(a, b), g| {
        (a + g.ingress.len(), b + g.egress.len())
    });
    emission.notes.push(format!("{created} security groups created, {existing} existing; {inbound} inbound and {outbound} outbound rules"));
    let spilled = groups.iter().filter(|g| g.part > 0).count();
    if spilled > 0 {
        emission.notes.push(format!("{spilled} extra groups hold rules beyond one group's quota: attach every group listed for an identity"));
    }
    if existing > 0 {
        emission.notes.push(
            "existing groups keep rules seg does not manage, including the allow-all outbound rule AWS gives a new group: remove them so each group holds only seg's rules"
                .to_string(),
        );
    }
    if denies_metadata(program) {
        emission.notes.push(
            "security groups never filter traffic to the instance metadata service (169.254.169.254, fd00:ec2::254): restrict it with the instances' metadata options"
                .to_string(),
        );
    }
}
