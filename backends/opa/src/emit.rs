//! The emission as a whole: render the data, write the Rego files, the
//! schema and the manifest, sign when asked, and pack the tarball.
//!
//! Output: `bundle.tar.gz` and every file again under `bundle/`, sorted by
//! path; notes for the build report (revision, matching rules, classes).

use crate::model::SegData;
use crate::render::Plan;
use crate::{bundle, canonical, input, rego, render, sign};
use seg_diag::{Code, Diagnostic};
use seg_ir::backend::SigningKey;
use seg_ir::{Artifact, Bugs, Emission, Object, Program};
use std::collections::BTreeMap;

/// Whether `signing` can sign a bundle (tried on an empty one), as E0404.
pub fn check_key(signing: Option<&SigningKey>) -> Result<(), Diagnostic> {
    match signing {
        Some(key) => sign::sign(&[], key)
            .map(drop)
            .map_err(|why| bad_key(signing, &why)),
        None => Ok(()),
    }
}

/// `meaning` is the hash of the program's meaning the headers carry; the
/// key passed [`check_key`], so a failure here is a bug.
pub fn bundle(
    program: &Program,
    plan: Plan,
    meaning: &str,
    signing: Option<&SigningKey>,
    bugs: &mut Bugs,
) -> Result<Emission, String> {
    let version = env!("CARGO_PKG_VERSION");
    let header = format!("seg {version} · meaning {meaning} · generated: do not edit");
    let rego_header = rego::header(std::slice::from_ref(&header));
    let rendered = render::render(program, plan, &header, meaning, bugs);
    let classes = rendered.data.addresses.classes.len();
    let objects = objects(&rendered.data)?;
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
    let schema = serde_json::to_string_pretty(&schema).map_err(|e| e.to_string())?;
    files.insert(
        "input.schema.json".into(),
        format!("{schema}\n").into_bytes(),
    );

    let metadata = BTreeMap::from([
        ("//", header.clone()),
        ("generator", format!("seg {version}")),
        ("project", program.project.clone()),
        ("meaning", meaning.to_string()),
    ]);
    let revision = bundle::seal(&mut files, metadata, signing)
        .map_err(|why| format!("cannot seal the opa bundle: {why}"))?;
    let tarball =
        bundle::tarball(&files).map_err(|e| format!("cannot write the opa bundle: {e}"))?;

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
        // OPA holds every condition: the capability pass made no choice left.
        approximations: Vec::new(),
        objects,
    })
}

/// The entries of `data.seg` a decision reads, by stable name: each rule (by
/// rule id) and each identity (by name), in `seg/data.json`.
fn objects(data: &SegData) -> Result<Vec<Object>, String> {
    const FILE: &str = "bundle/seg/data.json";
    let mut out = Vec::new();
    for (id, doc) in &data.rules {
        out.push(Object::new("rule", id, FILE, &json(doc)?));
    }
    for (name, doc) in &data.identities {
        out.push(Object::new("identity", name, FILE, &json(doc)?));
    }
    out.sort();
    Ok(out)
}

fn bad_key(key: Option<&SigningKey>, why: &str) -> Diagnostic {
    let algorithm = key.map_or("", |k| k.algorithm.as_str());
    Diagnostic::error(Code::InvalidTargetOption, "cannot sign the opa bundle with the configured key")
        .with_note(why.to_string())
        .with_note(format!("`signing-algorithm` is `{algorithm}`: HS* take a secret, RS*/PS* an RSA, ES256/ES384 an EC and EdDSA an Ed25519 private key in PEM"))
        .with_help("point `[targets.opa] signing-key` at a private key that matches `signing-algorithm`")
}

/// A document in canonical JSON.
fn json<T: serde::Serialize>(doc: &T) -> Result<Vec<u8>, String> {
    let value =
        serde_json::to_value(doc).map_err(|e| format!("cannot write the opa bundle: {e}"))?;
    Ok(canonical::to_string(&value).into_bytes())
}
