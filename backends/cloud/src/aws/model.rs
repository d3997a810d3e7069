//! Serde types of the two AWS output formats: Terraform JSON (AWS provider
//! resources `aws_security_group`, `aws_vpc_security_group_ingress_rule`,
//! `aws_vpc_security_group_egress_rule`) and a CloudFormation template
//! (`AWS::EC2::SecurityGroup`, `AWS::EC2::SecurityGroupIngress`,
//! `AWS::EC2::SecurityGroupEgress`). Field names are the formats' own.

use indexmap::IndexMap;
use serde::Serialize;

// ---- Terraform JSON --------------------------------------------------------

/// `main.tf.json`.
#[derive(Serialize)]
pub struct TfMain {
    /// Terraform ignores `//` keys: the file header.
    #[serde(rename = "//")]
    pub comment: String,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub variable: IndexMap<String, TfVariable>,
    pub resource: TfResources,
    pub output: IndexMap<String, TfOutput>,
}

#[derive(Serialize)]
pub struct TfVariable {
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
}

#[derive(Default, Serialize)]
pub struct TfResources {
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub aws_security_group: IndexMap<String, TfSecurityGroup>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub aws_vpc_security_group_ingress_rule: IndexMap<String, TfRule>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub aws_vpc_security_group_egress_rule: IndexMap<String, TfRule>,
}

#[derive(Serialize)]
pub struct TfSecurityGroup {
    pub name: String,
    pub description: String,
    pub vpc_id: String,
    pub tags: IndexMap<String, String>,
}

/// One inbound or outbound rule: exactly one of the three peers is set.
#[derive(Serialize)]
pub struct TfRule {
    pub security_group_id: String,
    pub ip_protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr_ipv4: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr_ipv6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referenced_security_group_id: Option<String>,
    pub description: String,
}

#[derive(Serialize)]
pub struct TfOutput {
    pub description: String,
    pub value: Vec<TfIdentityGroups>,
}

/// Which groups the instances of one identity must carry.
#[derive(Serialize)]
pub struct TfIdentityGroups {
    pub identity: String,
    pub security_group_ids: Vec<String>,
}

/// `versions.tf.json`.
#[derive(Serialize)]
pub struct TfVersions {
    #[serde(rename = "//")]
    pub comment: String,
    pub terraform: TfSettings,
}

#[derive(Serialize)]
pub struct TfSettings {
    pub required_version: String,
    pub required_providers: IndexMap<String, TfProvider>,
}

#[derive(Serialize)]
pub struct TfProvider {
    pub source: String,
    pub version: String,
}

// ---- CloudFormation ----------------------------------------------------------

/// `template.json`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CfnTemplate {
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: String,
    pub description: String,
    pub metadata: CfnMetadata,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub parameters: IndexMap<String, CfnParameter>,
    pub resources: IndexMap<String, CfnResource>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub outputs: IndexMap<String, CfnOutput>,
}

#[derive(Serialize)]
pub struct CfnMetadata {
    pub seg: CfnSegMetadata,
}

/// Which groups (logical ids, or existing `sg-…` ids) each identity's instances carry.
#[derive(Serialize)]
pub struct CfnSegMetadata {
    pub generator: String,
    /// The hash of the program's meaning the header names.
    pub meaning: String,
    pub identities: Vec<CfnIdentityGroups>,
}

#[derive(Serialize)]
pub struct CfnIdentityGroups {
    pub identity: String,
    pub groups: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CfnParameter {
    #[serde(rename = "Type")]
    pub kind: String,
    pub description: String,
}

/// A value that is a literal or an intrinsic function.
#[derive(Clone, Serialize)]
#[serde(untagged)]
pub enum CfnValue {
    Literal(String),
    Ref {
        #[serde(rename = "Ref")]
        name: String,
    },
    GetAtt {
        #[serde(rename = "Fn::GetAtt")]
        attribute: [String; 2],
    },
}

#[derive(Serialize)]
#[serde(tag = "Type", content = "Properties")]
pub enum CfnResource {
    #[serde(rename = "AWS::EC2::SecurityGroup")]
    SecurityGroup(CfnSecurityGroup),
    #[serde(rename = "AWS::EC2::SecurityGroupIngress")]
    Ingress(CfnRule),
    #[serde(rename = "AWS::EC2::SecurityGroupEgress")]
    Egress(CfnRule),
    /// A resource with no effect, for a stack with nothing else to hold.
    #[serde(rename = "AWS::CloudFormation::WaitConditionHandle")]
    Nothing(CfnEmpty),
}

#[derive(Serialize)]
pub struct CfnEmpty {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CfnSecurityGroup {
    pub group_name: String,
    pub group_description: String,
    pub vpc_id: CfnValue,
    /// Only the placeholder: it replaces CloudFormation's default allow-all egress.
    pub security_group_egress: Vec<CfnInlineEgress>,
    pub tags: Vec<CfnTag>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CfnInlineEgress {
    pub ip_protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub cidr_ip: String,
    pub description: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CfnTag {
    pub key: String,
    pub value: String,
}

/// An `AWS::EC2::SecurityGroupIngress` or `…Egress`: exactly one peer is set.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CfnRule {
    pub group_id: CfnValue,
    pub ip_protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr_ipv6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_security_group_id: Option<CfnValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_security_group_id: Option<CfnValue>,
    pub description: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CfnOutput {
    pub description: String,
    pub value: CfnValue,
}
