//! AWS groups → Terraform JSON and CloudFormation.
//!
//! Input: the physical groups ([`super::groups`]). Output: the typed models
//! of `main.tf.json`, `versions.tf.json` and `template.json`.
//!
//! Terraform: every string that came from user input is escaped for
//! Terraform's template syntax (`${` → `$${`, `%{` → `%%{`), so a name can
//! never become an interpolation. CloudFormation: every rule is a separate
//! `SecurityGroupIngress`/`Egress` resource (groups referencing each other
//! never form a cycle), and each created group embeds the documented
//! "match nothing" outbound rule, which replaces the allow-all outbound rule
//! CloudFormation would otherwise add.

use super::groups::{Group, GroupRef, MAX_TEXT, aws_char};
use super::model::*;
use super::plan::{Peer, SgRule};
use crate::common::{TOOL, hash_hex, header, provenance_text, restrict_chars, tf_literal};
use indexmap::IndexMap;
use ipnet::IpNet;
use seg_ir::program::{IdentityId, Program};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn tag(self) -> (&'static str, &'static str) {
        match self {
            Direction::Ingress => ("in", "In"),
            Direction::Egress => ("out", "Out"),
        }
    }
}

/// What a rule's id is derived from: the peer (a group by its identity's
/// name, never its position in the inventory), protocol and ports.
fn peer_key(program: &Program, rule: &SgRule) -> String {
    let peer = match rule.peer {
        Peer::Group(id) => format!("group:{}", program.identity(id).name),
        Peer::Cidr(net) => net.to_string(),
    };
    format!(
        "{peer} {} {:?}",
        rule.proto.ip_protocol(),
        rule.proto.ports()
    )
}

/// `(Terraform label, CloudFormation logical id)` of each rule.
type RuleIds = Vec<(String, String)>;

/// The ids of every rule of every group (inbound, outbound), stable and unique.
fn rule_ids(program: &Program, groups: &[Group]) -> Vec<(RuleIds, RuleIds)> {
    let mut taken = BTreeSet::new();
    let mut out = Vec::new();
    for g in groups {
        let mut per_dir = [Vec::new(), Vec::new()];
        for (i, (dir, rules)) in [
            (Direction::Ingress, &g.ingress),
            (Direction::Egress, &g.egress),
        ]
        .into_iter()
        .enumerate()
        {
            let (tf, cfn) = dir.tag();
            for rule in rules {
                let key = peer_key(program, rule);
                let mut len = 10;
                let ids = loop {
                    let h = hash_hex(&[&g.labels.tf, tf, &key], len);
                    let ids = (
                        format!("{tf}_{}_{h}", g.labels.tf),
                        format!("{cfn}{}{h}", g.labels.cfn),
                    );
                    if len >= 64
                        || (!taken.contains(&ids.0) && !taken.contains(&ids.1.to_ascii_lowercase()))
                    {
                        break ids;
                    }
                    len += 6;
                };
                taken.insert(ids.0.clone());
                taken.insert(ids.1.to_ascii_lowercase());
                per_dir[i].push(ids);
            }
        }
        let [a, b] = per_dir;
        out.push((a, b));
    }
    out
}

/// How each identity's first group is referenced: (Terraform, CloudFormation).
fn first_groups(groups: &[Group]) -> BTreeMap<IdentityId, (String, CfnValue)> {
    let mut out = BTreeMap::new();
    for g in groups.iter().filter(|g| g.part == 0) {
        out.insert(g.owner, refs(g));
    }
    out
}

fn refs(g: &Group) -> (String, CfnValue) {
    match &g.group {
        GroupRef::Created(c) => (
            format!("${{aws_security_group.{}.id}}", c.tf),
            CfnValue::GetAtt {
                attribute: [c.cfn.clone(), "GroupId".to_string()],
            },
        ),
        GroupRef::Existing(sg) => (sg.clone(), CfnValue::Literal(sg.clone())),
    }
}

pub fn description(program: &Program, rule: &SgRule) -> String {
    provenance_text(program, &rule.rules, MAX_TEXT, |s| {
        restrict_chars(s, aws_char)
    })
}

fn cidrs(net: IpNet) -> (Option<String>, Option<String>) {
    match net {
        IpNet::V4(_) => (Some(net.to_string()), None),
        IpNet::V6(_) => (None, Some(net.to_string())),
    }
}

/// Identities and the groups their instances carry, in inventory order.
fn carried(program: &Program, groups: &[Group]) -> Vec<(String, Vec<(String, String)>)> {
    let mut by_owner: BTreeMap<IdentityId, Vec<(String, String)>> = BTreeMap::new();
    for g in groups {
        let (tf, cfn) = match &g.group {
            GroupRef::Created(c) => (
                format!("${{aws_security_group.{}.id}}", c.tf),
                c.cfn.clone(),
            ),
            GroupRef::Existing(sg) => (sg.clone(), sg.clone()),
        };
        let list = by_owner.entry(g.owner).or_default();
        if !list.iter().any(|(t, _)| *t == tf) {
            list.push((tf, cfn));
        }
    }
    by_owner
        .into_iter()
        .map(|(id, list)| (program.identity(id).name.clone(), list))
        .collect()
}

/// `main.tf.json`.
pub fn terraform(
    program: &Program,
    meaning: &str,
    groups: &[Group],
    vpc_id: Option<&str>,
) -> TfMain {
    let first = first_groups(groups);
    let ids = rule_ids(program, groups);
    let mut resources = TfResources::default();
    let mut variable = IndexMap::new();
    let vpc = match vpc_id {
        Some(v) => v.to_string(),
        None => "${var.vpc_id}".to_string(),
    };
    for (g, (in_ids, out_ids)) in groups.iter().zip(ids) {
        if let GroupRef::Created(c) = &g.group {
            if vpc_id.is_none() && variable.is_empty() {
                variable.insert(
                    "vpc_id".to_string(),
                    TfVariable {
                        kind: "string".into(),
                        description: "VPC of the security groups seg creates".into(),
                    },
                );
            }
            let tags = IndexMap::from([
                ("Name".to_string(), c.name.clone()),
                ("managed-by".to_string(), "seg".to_string()),
            ]);
            resources.aws_security_group.insert(
                c.tf.clone(),
                TfSecurityGroup {
                    name: c.name.clone(),
                    description: tf_literal(&c.description),
                    vpc_id: vpc.clone(),
                    tags,
                },
            );
        }
        let own = refs(g).0;
        for (dir, rules, labels) in [
            (Direction::Ingress, &g.ingress, in_ids),
            (Direction::Egress, &g.egress, out_ids),
        ] {
            for (rule, (label, _)) in rules.iter().zip(labels) {
                let (cidr_ipv4, cidr_ipv6, referenced_security_group_id) = match rule.peer {
                    Peer::Cidr(net) => {
                        let (a, b) = cidrs(net);
                        (a, b, None)
                    }
                    Peer::Group(id) => match first.get(&id) {
                        Some((tf, _)) => (None, None, Some(tf.clone())),
                        None => continue,
                    },
                };
                let ports = rule.proto.ports();
                let r = TfRule {
                    security_group_id: own.clone(),
                    ip_protocol: rule.proto.ip_protocol().to_string(),
                    from_port: ports.map(|p| p.0),
                    to_port: ports.map(|p| p.1),
                    cidr_ipv4,
                    cidr_ipv6,
                    referenced_security_group_id,
                    description: tf_literal(&description(program, rule)),
                };
                match dir {
                    Direction::Ingress => resources
                        .aws_vpc_security_group_ingress_rule
                        .insert(label, r),
                    Direction::Egress => resources
                        .aws_vpc_security_group_egress_rule
                        .insert(label, r),
                };
            }
        }
    }
    let value = carried(program, groups)
        .into_iter()
        .map(|(name, list)| TfIdentityGroups {
            identity: tf_literal(&name),
            security_group_ids: list.into_iter().map(|l| l.0).collect(),
        })
        .collect();
    let output = IndexMap::from([(
        "security_groups".to_string(),
        TfOutput {
            description:
                "The security groups each identity's instances must carry, first group first".into(),
            value,
        },
    )]);
    TfMain {
        comment: header(meaning),
        variable,
        resource: resources,
        output,
    }
}

/// `versions.tf.json`: Terraform and provider requirements.
pub fn versions(meaning: &str) -> TfVersions {
    TfVersions {
        comment: header(meaning),
        terraform: TfSettings {
            required_version: ">= 1.5.0".into(),
            // The per-rule resources arrived in the AWS provider 5.x line.
            required_providers: IndexMap::from([(
                "aws".to_string(),
                TfProvider {
                    source: "hashicorp/aws".into(),
                    version: ">= 5.0".into(),
                },
            )]),
        },
    }
}

/// The outbound rule that matches nothing (ICMP type 252 code 86 to
/// 255.255.255.255/32), as AWS CDK embeds to drop CloudFormation's default.
pub fn placeholder() -> CfnInlineEgress {
    CfnInlineEgress {
        ip_protocol: "icmp".into(),
        from_port: 252,
        to_port: 86,
        cidr_ip: "255.255.255.255/32".into(),
        description: "Disallow all traffic".into(),
    }
}

/// `template.json`.
pub fn cloudformation(
    program: &Program,
    meaning: &str,
    groups: &[Group],
    vpc_id: Option<&str>,
) -> CfnTemplate {
    let first = first_groups(groups);
    let ids = rule_ids(program, groups);
    let mut resources = IndexMap::new();
    let mut parameters = IndexMap::new();
    let mut outputs = IndexMap::new();
    let vpc = match vpc_id {
        Some(v) => CfnValue::Literal(v.to_string()),
        None => CfnValue::Ref {
            name: "VpcId".into(),
        },
    };
    for (g, (in_ids, out_ids)) in groups.iter().zip(ids) {
        if let GroupRef::Created(c) = &g.group {
            if vpc_id.is_none() && parameters.is_empty() {
                parameters.insert(
                    "VpcId".to_string(),
                    CfnParameter {
                        kind: "AWS::EC2::VPC::Id".into(),
                        description: "VPC of the security groups seg creates".into(),
                    },
                );
            }
            let tags = vec![
                CfnTag {
                    key: "Name".into(),
                    value: c.name.clone(),
                },
                CfnTag {
                    key: "managed-by".into(),
                    value: "seg".into(),
                },
            ];
            resources.insert(
                c.cfn.clone(),
                CfnResource::SecurityGroup(CfnSecurityGroup {
                    group_name: c.name.clone(),
                    group_description: c.description.clone(),
                    vpc_id: vpc.clone(),
                    security_group_egress: vec![placeholder()],
                    tags,
                }),
            );
            outputs.insert(
                format!("{}Id", c.cfn),
                CfnOutput {
                    description: c.description.clone(),
                    value: CfnValue::GetAtt {
                        attribute: [c.cfn.clone(), "GroupId".into()],
                    },
                },
            );
        }
        let own = refs(g).1;
        for (dir, rules, labels) in [
            (Direction::Ingress, &g.ingress, in_ids),
            (Direction::Egress, &g.egress, out_ids),
        ] {
            for (rule, (_, logical)) in rules.iter().zip(labels) {
                let (cidr_ip, cidr_ipv6, group) = match rule.peer {
                    Peer::Cidr(net) => {
                        let (a, b) = cidrs(net);
                        (a, b, None)
                    }
                    Peer::Group(id) => match first.get(&id) {
                        Some((_, cfn)) => (None, None, Some(cfn.clone())),
                        None => continue,
                    },
                };
                let ports = rule.proto.ports();
                let mut r = CfnRule {
                    group_id: own.clone(),
                    ip_protocol: rule.proto.ip_protocol().to_string(),
                    from_port: ports.map(|p| p.0),
                    to_port: ports.map(|p| p.1),
                    cidr_ip,
                    cidr_ipv6,
                    source_security_group_id: None,
                    destination_security_group_id: None,
                    description: description(program, rule),
                };
                let resource = match dir {
                    Direction::Ingress => {
                        r.source_security_group_id = group;
                        CfnResource::Ingress(r)
                    }
                    Direction::Egress => {
                        r.destination_security_group_id = group;
                        CfnResource::Egress(r)
                    }
                };
                resources.insert(logical, resource);
            }
        }
    }
    if resources.is_empty() {
        resources.insert(
            "SegNothingToManage".to_string(),
            CfnResource::Nothing(CfnEmpty {}),
        );
    }
    let identities = carried(program, groups)
        .into_iter()
        .map(|(identity, list)| CfnIdentityGroups {
            identity,
            groups: list.into_iter().map(|l| l.1).collect(),
        })
        .collect();
    CfnTemplate {
        format_version: "2010-09-09".into(),
        description: header(meaning),
        metadata: CfnMetadata {
            seg: CfnSegMetadata {
                generator: TOOL.to_string(),
                meaning: meaning.to_string(),
                identities,
            },
        },
        parameters,
        resources,
        outputs,
    }
}
