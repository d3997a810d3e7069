//! Serde types of the GCP outputs: the compute v1 API's `Firewall` resource
//! (in a `compute#firewallList`) and Terraform's `google_compute_firewall`.
//! Field names are the formats' own.

use indexmap::IndexMap;
use serde::Serialize;

/// `firewalls.json`: the rules as the compute v1 API lists them.
#[derive(Serialize)]
pub struct FirewallList {
    /// The file header (the API ignores what it does not know in a file like this).
    #[serde(rename = "//")]
    pub comment: String,
    pub kind: String,
    pub items: Vec<Firewall>,
}

/// One compute v1 `Firewall`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Firewall {
    pub name: String,
    pub description: String,
    pub network: String,
    pub priority: u32,
    pub direction: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_ranges: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_ranges: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_service_accounts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub target_service_accounts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<ApiProtocol>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<ApiProtocol>,
}

#[derive(Clone, Serialize)]
pub struct ApiProtocol {
    #[serde(rename = "IPProtocol")]
    pub ip_protocol: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
}

/// `main.tf.json`.
#[derive(Serialize)]
pub struct TfMain {
    #[serde(rename = "//")]
    pub comment: String,
    pub resource: TfResources,
}

#[derive(Serialize)]
pub struct TfResources {
    pub google_compute_firewall: IndexMap<String, TfFirewall>,
}

#[derive(Serialize)]
pub struct TfFirewall {
    pub name: String,
    pub network: String,
    pub description: String,
    pub direction: String,
    pub priority: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_ranges: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_ranges: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_service_accounts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub target_service_accounts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<TfProtocol>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<TfProtocol>,
}

#[derive(Serialize)]
pub struct TfProtocol {
    pub protocol: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
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
