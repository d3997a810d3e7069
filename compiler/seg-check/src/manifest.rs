//! `seg.toml`: the project manifest. Parsed from text (no I/O here); unknown
//! keys and bad values are E0150 with the place in the file.

use indexmap::IndexMap;
use seg_diag::{LintLevel, Span};
use seg_ir::backend::TargetOptions;
use seg_ir::ConditionClass;
use std::collections::BTreeMap;

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
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SigningConfig {
    /// Path of the key file, relative to the project folder.
    pub key_path: String,
    pub algorithm: String,
    pub key_id: Option<String>,
    pub span: Span,
}
