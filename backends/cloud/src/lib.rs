//! The cloud backend: AWS security groups and GCP VPC firewall rules, two
//! dialects of one lowering.
//!
//! Input: a program prepared for the target by `seg_ir::capability::prepare`
//! (only unconditional rules remain; implied identities the target cannot
//! represent are gone). Output: `aws/main.tf.json`, `aws/versions.tf.json`,
//! `aws/template.json` (Terraform JSON and CloudFormation), or
//! `gcp/main.tf.json`, `gcp/versions.tf.json`, `gcp/firewalls.json`
//! (Terraform JSON and the compute v1 API's `Firewall` resources); paths are
//! relative to the target's folder.
//!
//! Shared between the dialects ([`common`]): which identities a provider
//! manages and how a peer is named (a group or service account for a managed
//! identity, CIDRs for networks and every other identity's addresses), the
//! fail-closed treatment of anything the prepared program should not contain,
//! provenance text, stable hashes and the file header. AWS has no deny: the
//! allows come with every deny carved out (`seg_ir::grants`). GCP has native
//! deny rules, placed at a higher priority than every allow.
//!
//! Invariant: the emitted rules never allow a flow the prepared program
//! denies. Whatever a provider cannot express is left out and reported.

mod aws;
mod common;
mod gcp;
#[cfg(test)]
mod tests;

use seg_diag::{Diagnostic, Diagnostics};
use seg_ir::backend::{Backend, Capabilities, Lowered, TargetOptions};
use seg_ir::program::{Identity, Program};

/// AWS security groups (`aws`): one group per identity with an `aws` block.
pub struct Aws;

/// GCP VPC firewall rules (`gcp`): identities with `gcp.service_account`.
pub struct Gcp;

/// L3/L4 only; layered conditions count as satisfied.
const fn l4(deny: bool) -> Capabilities {
    Capabilities {
        deny,
        time: false,
        mtls: false,
        request: false,
        context: false,
        honours_layered: true,
        clock: false,
    }
}

impl Backend for Aws {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn capabilities(&self) -> Capabilities {
        l4(false)
    }

    fn manages(&self, identity: &Identity) -> bool {
        identity.aws.is_some()
    }

    fn representable(&self, identity: &Identity) -> Result<(), String> {
        if identity.aws.is_some() || !identity.addresses.is_empty() {
            Ok(())
        } else {
            Err("no `aws` block and no addresses".to_string())
        }
    }

    fn lower<'p>(
        &self,
        program: &'p Program,
        options: &'p TargetOptions,
        diags: &mut Diagnostics,
    ) -> Lowered<'p> {
        match options {
            TargetOptions::Aws(o) => aws::lower(program, o, diags),
            _ => wrong_options(self.name(), diags),
        }
    }

    fn apply_command(&self, program: &Program, options: &TargetOptions) -> Option<String> {
        let TargetOptions::Aws(o) = options else {
            return None;
        };
        let stack = format!(
            "aws cloudformation deploy --template-file template.json --stack-name {}",
            common::slug(&format!("seg-{}", program.project), '-', 128)
        );
        Some(
            if o.formats.contains(&seg_ir::backend::AwsFormat::Terraform) {
                format!("terraform init && terraform apply (or, with CloudFormation: {stack})")
            } else {
                stack
            },
        )
    }
}

impl Backend for Gcp {
    fn name(&self) -> &'static str {
        "gcp"
    }

    fn capabilities(&self) -> Capabilities {
        l4(true)
    }

    fn manages(&self, identity: &Identity) -> bool {
        identity.gcp.is_some()
    }

    fn representable(&self, identity: &Identity) -> Result<(), String> {
        if identity.gcp.is_some() || !identity.addresses.is_empty() {
            Ok(())
        } else {
            Err("no `gcp.service_account` and no addresses".to_string())
        }
    }

    fn lower<'p>(
        &self,
        program: &'p Program,
        options: &'p TargetOptions,
        diags: &mut Diagnostics,
    ) -> Lowered<'p> {
        match options {
            TargetOptions::Gcp(o) => gcp::lower(program, o, diags),
            _ => wrong_options(self.name(), diags),
        }
    }

    fn apply_command(&self, _: &Program, _: &TargetOptions) -> Option<String> {
        Some(
            "terraform init && terraform apply; when denies change, first terraform apply -target= the new denies and the removed allows (docs/backends/gcp.md)"
                .into(),
        )
    }
}

/// The driver passed another target's options: a bug, and nothing is written.
fn wrong_options<'p>(target: &str, diags: &mut Diagnostics) -> Lowered<'p> {
    diags.push(Diagnostic::bug(format!(
        "`{target}` was given another target's options"
    )));
    Lowered::nothing(Vec::new())
}
