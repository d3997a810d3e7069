//! The `opa` target: an OPA bundle that decides flows at request time.
//!
//! Input: a program prepared for `opa` (every condition class is enforced
//! here, so the capability pass changes nothing but the report). Output, under
//! `out/opa/`: `bundle.tar.gz` and the same tree unpacked in `bundle/`:
//!
//! | file | contents |
//! |---|---|
//! | `.manifest` | `revision` (content hash), `roots: ["seg"]`, `rego_version: 1` |
//! | `.signatures.json` | one JWS over every other file (when a key is set) |
//! | `input.schema.json` | JSON Schema of the input of `data.seg.authz` |
//! | `seg/data.json` | identities, principals, address classes, sets, rules, index |
//! | `seg/tests/data.json` | the inputs of the policy's `expect`s |
//! | `seg/authz.rego` | `package seg.authz`: `allow`, `decision` |
//! | `seg/envoy.rego` | `package seg.envoy`: adapter for the OPA-Envoy plugin |
//! | `seg/authz_test.rego` | one `test_` rule per `expect` |
//!
//! Invariants: the output is a function of the program only (no clock, no
//! hash-order iteration); names from the inventory reach OPA only as JSON
//! data, never as Rego text. See docs/backends/opa.md.

mod addresses;
mod bundle;
mod canonical;
mod condition;
mod emit;
mod index;
pub mod input;
mod model;
mod rego;
mod render;
mod sign;

use seg_diag::{Diagnostic, Diagnostics};
use seg_ir::{Backend, Capabilities, Emission, Identity, Lowered, Program, TargetOptions};

pub use bundle::{MANIFEST, SIGNATURES};
pub use index::PAIR_LIMIT;

/// The `opa` target.
pub struct Opa;

impl Backend for Opa {
    fn name(&self) -> &'static str {
        "opa"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            deny: true,
            time: true,
            mtls: true,
            request: true,
            context: true,
            honours_layered: false,
            // `not_after` against `time.now_ns()` at each decision.
            clock: true,
        }
    }

    fn manages(&self, _identity: &Identity) -> bool {
        true
    }

    fn representable(&self, _identity: &Identity) -> Result<(), String> {
        Ok(())
    }

    fn lower<'p>(
        &self,
        program: &'p Program,
        options: &'p TargetOptions,
        diags: &mut Diagnostics,
    ) -> Lowered<'p> {
        let signing = match options {
            TargetOptions::Opa(o) => o.signing.as_ref(),
            _ => {
                diags.push(Diagnostic::bug(
                    "the opa backend was given another target's options",
                ));
                return Lowered::nothing(Vec::new());
            }
        };
        let plan = render::plan(program, diags);
        if let Err(d) = emit::check_key(signing) {
            diags.push(d);
            return Lowered::nothing(Vec::new());
        }
        Lowered::new(Vec::new(), move |bugs| {
            let meaning = seg_ir::meaning::digest(program, Some(options));
            emit::bundle(program, plan, &meaning, signing, bugs).unwrap_or_else(|why| {
                bugs.push(why);
                Emission::default()
            })
        })
    }

    fn apply_command(&self, _: &Program, _: &TargetOptions) -> Option<String> {
        Some(
            "publish bundle.tar.gz where OPA's bundle service downloads it (OPA switches to a new revision at once)"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests;
