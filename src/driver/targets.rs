//! The target registry: a closed list of names, each mapped to its backend.

use seg_ir::Backend;
use seg_ir::backend::{
    AwsFormat, AwsOptions, IptablesOptions, IstioOptions, KubernetesOptions, NftablesOptions,
    OpaOptions, TargetOptions,
};

/// Every target `seg build` knows, in the order builds run them. `ir` writes the IR itself.
pub const TARGETS: &[&str] = &[
    "ir",
    "iptables",
    "nftables",
    "kubernetes",
    "istio",
    "aws",
    "gcp",
    "opa",
];

pub fn target_names() -> String {
    TARGETS.join(", ")
}

pub fn backend_for(name: &str) -> Option<&'static dyn Backend> {
    match name {
        "iptables" => Some(&seg_iptables::Iptables),
        "nftables" => Some(&seg_nftables::Nftables),
        "kubernetes" => Some(&seg_k8s::Kubernetes),
        "istio" => Some(&seg_istio::Istio),
        "aws" => Some(&seg_cloud::Aws),
        "gcp" => Some(&seg_cloud::Gcp),
        "opa" => Some(&seg_opa::Opa),
        _ => None,
    }
}

/// Options for a target named on the command line but not configured in
/// `seg.toml`; `None` when the target needs settings (GCP's network).
pub fn default_options(name: &str) -> Option<TargetOptions> {
    match name {
        "iptables" => Some(TargetOptions::Iptables(IptablesOptions {
            ipset_threshold: 8,
        })),
        "nftables" => Some(TargetOptions::Nftables(NftablesOptions::default())),
        "kubernetes" => Some(TargetOptions::Kubernetes(KubernetesOptions::default())),
        "istio" => Some(TargetOptions::Istio(IstioOptions::default())),
        "aws" => Some(TargetOptions::Aws(AwsOptions {
            formats: vec![AwsFormat::Terraform, AwsFormat::CloudFormation],
            max_rules_per_group: 60,
            max_groups_per_interface: 5,
            vpc_id: None,
        })),
        "opa" => Some(TargetOptions::Opa(OpaOptions { signing: None })),
        _ => None,
    }
}
