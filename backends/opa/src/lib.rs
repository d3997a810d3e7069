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
mod index;
pub mod input;
mod model;
mod rego;
mod render;
mod sign;

use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::backend::SigningKey;
use seg_ir::{Artifact, Backend, Capabilities, Emission, Identity, Program, TargetOptions};
use std::collections::BTreeMap;

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
        }
    }

    fn manages(&self, _identity: &Identity) -> bool {
        true
    }

    fn representable(&self, _identity: &Identity) -> Result<(), String> {
        Ok(())
    }

    fn emit(
        &self,
        program: &Program,
        options: &TargetOptions,
        diags: &mut Diagnostics,
    ) -> Emission {
        let signing = match options {
            TargetOptions::Opa(o) => o.signing.as_ref(),
            _ => {
                diags.push(Diagnostic::bug(
                    "the opa backend was given another target's options",
                ));
                return Emission::default();
            }
        };
        match emit_bundle(program, signing, diags) {
            Ok(e) => e,
            Err(d) => {
                diags.push(d);
                Emission::default()
            }
        }
    }
}

fn emit_bundle(
    program: &Program,
    signing: Option<&SigningKey>,
    diags: &mut Diagnostics,
) -> Result<Emission, Diagnostic> {
    let version = env!("CARGO_PKG_VERSION");
    let header = format!(
        "seg {version} · source {} · generated: do not edit",
        program.source_hash
    );
    let rego_header = rego::header(std::slice::from_ref(&header));
    let rendered = render::render(program, &header, diags);
    let classes = rendered.data.addresses.classes.len();
    let mut files = bundle::Files::new();
    files.insert("seg/data.json".into(), json(&rendered.data)?);
    files.insert("seg/tests/data.json".into(), json(&rendered.tests)?);
    files.insert(
        "seg/authz.rego".into(),
        rego::authz(&rego_header, rendered.glob_pieces).into_bytes(),
    );
    files.insert(
        "seg/envoy.rego".into(),
        rego::envoy(&rego_header).into_bytes(),
    );
    files.insert(
        "seg/authz_test.rego".into(),
        rego::tests(&rego_header, &rendered.tests.cases).into_bytes(),
    );
    let schema = input::schema(&header, program);
    let schema =
        serde_json::to_string_pretty(&schema).map_err(|e| Diagnostic::bug(e.to_string()))?;
    files.insert(
        "input.schema.json".into(),
        format!("{schema}\n").into_bytes(),
    );

    let metadata = BTreeMap::from([
        ("//", header.clone()),
        ("generator", format!("seg {version}")),
        ("project", program.project.clone()),
        ("source_hash", program.source_hash.clone()),
    ]);
    let revision =
        bundle::seal(&mut files, metadata, signing).map_err(|why| bad_key(signing, &why))?;
    let tarball = bundle::tarball(&files)
        .map_err(|e| Diagnostic::bug(format!("cannot write the opa bundle: {e}")))?;

    let mut artifacts = vec![Artifact {
        path: "bundle.tar.gz".into(),
        contents: tarball,
    }];
    artifacts.extend(files.into_iter().map(|(name, contents)| Artifact {
        path: format!("bundle/{name}"),
        contents,
    }));
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    let mut notes = vec![
        format!("bundle revision {revision}"),
        format!(
            "{} of {} rules can match",
            rendered.indexed_rules,
            rendered.data.rules.len()
        ),
        format!("{classes} address classes"),
    ];
    if let Some(key) = signing {
        notes.push(format!("signed with {}", key.algorithm));
    }
    Ok(Emission {
        artifacts,
        rules: rendered.data.rules.len(),
        notes,
    })
}

fn bad_key(key: Option<&SigningKey>, why: &str) -> Diagnostic {
    let algorithm = key.map_or("", |k| k.algorithm.as_str());
    Diagnostic::error(Code::InvalidTargetOption, "cannot sign the opa bundle with the configured key")
        .with_note(why.to_string())
        .with_note(format!("`signing-algorithm` is `{algorithm}`: HS* take a secret, RS*/PS* an RSA, ES256/ES384 an EC and EdDSA an Ed25519 private key in PEM"))
        .with_help("point `[targets.opa] signing-key` at a private key that matches `signing-algorithm`")
}

/// A document in canonical JSON.
fn json<T: serde::Serialize>(doc: &T) -> Result<Vec<u8>, Diagnostic> {
    let value = serde_json::to_value(doc)
        .map_err(|e| Diagnostic::bug(format!("cannot write the opa bundle: {e}")))?;
    Ok(canonical::to_string(&value).into_bytes())
}

#[cfg(test)]
mod tests;
