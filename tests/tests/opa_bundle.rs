//! The OPA bundle as OPA would load it: layout and manifest, the policy's own
//! `test` expectations decided by an independent Rego engine (regorus) and by
//! the generated `authz_test.rego`, every entrypoint evaluated, and signed
//! bundles verified the way OPA verifies them (JWS signature, then every
//! file's SHA-256 over its canonical form).

mod opa;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use opa::bundle::{self, Errors, Loaded};
use opa::{fixtures, inputs};
use seg_ir::backend::SigningKey;
use seg_ir::{Action, Artifact, ConditionClass, Program, eval};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What OPA checks when it activates a bundle, and that the unpacked tree
/// is the tarball's.
fn check_layout(loaded: &Loaded, artifacts: &[Artifact]) {
    let m = &loaded.manifest;
    assert_eq!(m["roots"], json!(["seg"]));
    assert_eq!(m["rego_version"], json!(1));
    for p in &loaded.packages {
        assert!(
            p == "data.seg" || p.starts_with("data.seg."),
            "package `{p}` outside the root `seg`"
        );
    }
    for d in &loaded.data_paths {
        assert!(
            d == "seg" || d.starts_with("seg/"),
            "data at `{d}` outside the root `seg`"
        );
    }
    assert_eq!(loaded.packages.len(), 3, "{:?}", loaded.packages);
    // revision: SHA-256 over `name\0sha256\n` of the files decisions read
    // (not the manifest and signature, not the files of the test blocks).
    let listing: String = loaded
        .files
        .iter()
        .filter(|(n, _)| {
            ![
                ".manifest",
                ".signatures.json",
                "seg/authz_test.rego",
                "seg/tests/data.json",
            ]
            .contains(&n.as_str())
        })
        .map(|(n, b)| format!("{n}\0{}\n", sha256_hex(b)))
        .collect();
    assert_eq!(m["revision"], json!(sha256_hex(listing.as_bytes())));
    let unpacked: BTreeMap<String, Vec<u8>> = artifacts
        .iter()
        .filter_map(|a| {
            a.path
                .strip_prefix("bundle/")
                .map(|p| (p.to_string(), a.contents.clone()))
        })
        .collect();
    assert_eq!(unpacked, loaded.files, "bundle/ differs from bundle.tar.gz");
    for (path, text) in &loaded.files {
        if path.ends_with(".rego") {
            let text = std::str::from_utf8(text).expect("UTF-8");
            assert!(
                text.starts_with("# seg ") && text.contains("generated: do not edit"),
                "{path} has no header"
            );
        }
    }
}

/// Every `test_` rule of `seg/authz_test.rego` is true; returns how many.
fn run_test_rules(loaded: &Loaded, errors: Errors) -> usize {
    let text = loaded.text("seg/authz_test.rego");
    let names: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("test_"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut engine = loaded.engine(errors);
    for name in &names {
        let v = bundle::eval(
            &mut engine,
            &json!({}),
            &format!("data.seg.authz_test.{name}"),
        );
        assert_eq!(v, Ok(json!(true)), "generated test `{name}` is not true");
    }
    names.len()
}

/// Every expectation of the program's tests, decided by the bundle.
fn check_expectations(program: &Program, loaded: &Loaded) -> usize {
    let mut n = 0;
    for errors in [Errors::Undefined, Errors::Abort] {
        let mut engine = loaded.engine(errors);
        let mut vm = loaded.vm();
        for test in &program.tests {
            for e in &test.expectations {
                let at = format!("{}:{}", e.file, e.line);
                let reference = eval::decide(program, &e.flow);
                assert_eq!(
                    reference.allowed,
                    e.decision == Action::Allow,
                    "{at}: the reference fails this expectation"
                );
                let input = inputs::authz(program, &e.flow);
                assert_eq!(
                    input,
                    seg_opa::input::for_flow(program, &e.flow),
                    "{at}: the backend writes another input"
                );
                assert_eq!(
                    bundle::allow(&mut engine, &input),
                    Ok(reference.allowed),
                    "{at} ({errors:?}) input {input}"
                );
                assert_eq!(vm.allow(&input), Ok(reference.allowed), "{at}: register VM");
                let d =
                    bundle::eval(&mut engine, &input, "data.seg.authz.decision").expect("decision");
                assert_eq!(d["allow"], json!(reference.allowed), "{at}");
                assert_eq!(
                    d["reason"],
                    opa::reason(program, &e.flow, &reference),
                    "{at}"
                );
                assert_eq!(
                    d["matched"],
                    opa::matched(program, &reference.matched),
                    "{at}"
                );
                n += 1;
            }
        }
    }
    n / 2
}

#[test]
fn bank_bundle_loads_like_opa_and_decides_every_expectation() {
    let program = fixtures::bank();
    let (prepared, artifacts) = opa::emit(&program, &[ConditionClass::Mtls], None);
    let loaded = bundle::load(opa::artifact(&artifacts, "bundle.tar.gz"));
    check_layout(&loaded, &artifacts);
    let expectations: usize = prepared
        .program
        .tests
        .iter()
        .map(|t| t.expectations.len())
        .sum();
    assert!(
        expectations >= 8,
        "the bank example has {expectations} expectations"
    );
    assert_eq!(check_expectations(&prepared.program, &loaded), expectations);
    for errors in [Errors::Undefined, Errors::Abort] {
        assert_eq!(run_test_rules(&loaded, errors), expectations);
    }
}

#[test]
fn bank_bundle_is_reproducible() {
    let program = fixtures::bank();
    let (_, a) = opa::emit(&program, &[ConditionClass::Mtls], None);
    let (_, b) = opa::emit(&fixtures::bank(), &[ConditionClass::Mtls], None);
    assert_eq!(a, b);
}

/// A decision for each kind of entrypoint and input, in regorus' strict mode:
/// a builtin regorus lacks would fail here, not in production.
#[test]
fn every_entrypoint_evaluates() {
    let program = fixtures::lab();
    let (_, artifacts) = opa::emit(&program, &[], None);
    let loaded = bundle::load(opa::artifact(&artifacts, "bundle.tar.gz"));
    let api = "spiffe://lab.example/ns/pay/sa/api";
    let valid = [
        json!({"source": {"principal": api}, "destination": {"address": "10.1.3.5"}, "protocol": "tcp", "port": 8080,
               "mtls": true, "request": {"method": "GET", "path": "/api/v1/items/1é"},
               "context": {"region": "eu", "break_glass": false, "ticket": "T-1"}, "now": "2026-11-21T23:30:00Z"}),
        json!({"source": {"address": "2001:DB8:FF::1"}, "destination": {"principal": api}, "protocol": 6, "port": 443}),
        json!({"source": {"address": "::ffff:10.1.9.49"}, "destination": {"address": "fd00:ec2::254"}, "protocol": 58}),
        json!({"source": {"principal": "spiffe://lab.example/v6"}, "destination": {"principal": api}, "protocol": 47, "mtls": false}),
    ];
    let authz = [
        "allow",
        "decision",
        "reason",
        "input_errors",
        "allowing",
        "blocking",
        "src_key",
        "dst_key",
        "protocol",
        "mtls",
        "now_ns",
        "minute",
        "weekday",
    ];
    let mut engine = loaded.engine(Errors::Abort);
    for input in &valid {
        for rule in authz {
            let v = bundle::eval(&mut engine, input, &format!("data.seg.authz.{rule}"));
            assert!(v.is_ok(), "data.seg.authz.{rule} on {input}: {v:?}");
        }
        assert_eq!(
            bundle::eval(&mut engine, input, "data.seg.authz.input_errors"),
            Ok(json!([])),
            "{input}"
        );
        let key = bundle::eval(&mut engine, input, "data.seg.authz.src_key").expect("src_key");
        assert!(key.is_string(), "no source key for {input}");
    }
    let envoy = inputs::envoy(
        &inputs::Peer {
            principal: Some(api.into()),
            address: "10.1.2.10".into(),
            port: 51000,
        },
        &inputs::Peer {
            principal: None,
            address: "10.1.3.5".into(),
            port: 8080,
        },
        "GET",
        "/api/v1/items/1é?x=1",
    );
    for rule in ["allow", "decision", "flow"] {
        let v = bundle::eval(&mut engine, &envoy, &format!("data.seg.envoy.{rule}"));
        assert!(
            matches!(&v, Ok(x) if !x.is_null()),
            "data.seg.envoy.{rule}: {v:?}"
        );
    }
    let flow = bundle::eval(&mut engine, &envoy, "data.seg.envoy.flow").expect("flow");
    assert_eq!(
        flow,
        json!({"source": {"principal": api, "address": "10.1.2.10"}, "destination": {"address": "10.1.3.5"},
               "protocol": "tcp", "port": 8080, "mtls": true, "request": {"method": "GET", "path": "/api/v1/items/1é"}})
    );
}

// ---- signatures ------------------------------------------------------------

/// OPA's canonical form of a structured file (`bundle/hash.go`): keys sorted,
/// compact, strings as Go's encoder writes them with HTML escaping off.
fn go_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_string(k, out);
                out.push(':');
                go_canonical(&m[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_canonical(x, out);
            }
            out.push(']');
        }
        Value::String(s) => go_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Verify a bundle's signature as OPA does; `Err` says what OPA would reject.
fn verify(loaded: &Loaded, algorithm: Algorithm, public: &DecodingKey) -> Result<Value, String> {
    let sigs: Value = serde_json::from_slice(
        loaded
            .files
            .get(".signatures.json")
            .ok_or("no .signatures.json")?,
    )
    .map_err(|e| e.to_string())?;
    let sigs = sigs["signatures"].as_array().ok_or("no signatures array")?;
    if sigs.len() != 1 {
        return Err(format!("{} signatures", sigs.len()));
    }
    let token = sigs[0].as_str().ok_or("signature is not a string")?;
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(token, public, &validation)
        .map_err(|e| format!("signature: {e}"))?
        .claims;
    let files = claims["files"].as_array().ok_or("no files claim")?;
    let mut listed = BTreeMap::new();
    for f in files {
        let name = f["name"].as_str().ok_or("file without name")?;
        if f["algorithm"] != "SHA-256" {
            return Err(format!("{name}: algorithm {}", f["algorithm"]));
        }
        listed.insert(
            name.to_string(),
            f["hash"].as_str().ok_or("file without hash")?.to_string(),
        );
    }
    for (path, bytes) in &loaded.files {
        if path == ".signatures.json" {
            continue;
        }
        let want = listed
            .remove(path)
            .ok_or(format!("{path} is not in the signature"))?;
        let base = path.rsplit('/').next().unwrap_or(path);
        let got = if base == "data.json" || base == ".manifest" {
            let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            let mut s = String::new();
            go_canonical(&v, &mut s);
            sha256_hex(s.as_bytes())
        } else {
            sha256_hex(bytes)
        };
        if got != want {
            return Err(format!("{path}: hash mismatch"));
        }
    }
    if let Some(extra) = listed.keys().next() {
        return Err(format!("{extra} is signed but not in the bundle"));
    }
    Ok(claims)
}

fn testdata(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../backends/opa/testdata")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn signed_bundles_verify_like_opa() {
    let cases = [
        (
            "RS256",
            Algorithm::RS256,
            testdata("rsa-private.pem"),
            DecodingKey::from_rsa_pem(&testdata("rsa-public.pem")),
        ),
        (
            "PS256",
            Algorithm::PS256,
            testdata("rsa-private.pem"),
            DecodingKey::from_rsa_pem(&testdata("rsa-public.pem")),
        ),
        (
            "ES256",
            Algorithm::ES256,
            testdata("ec-private.pem"),
            DecodingKey::from_ec_pem(&testdata("ec-public.pem")),
        ),
        (
            "HS256",
            Algorithm::HS256,
            b"a shared secret".to_vec(),
            Ok(DecodingKey::from_secret(b"a shared secret")),
        ),
    ];
    // The lab's names exercise the canonical escaping of the hashed JSON.
    let program = fixtures::lab();
    for (name, algorithm, private, public) in cases {
        let public = public.expect("public key");
        let key = SigningKey {
            algorithm: name.into(),
            key: private,
            key_id: Some(format!("seg-{name}")),
        };
        let (_, artifacts) = opa::emit(&program, &[], Some(key));
        let loaded = bundle::load(opa::artifact(&artifacts, "bundle.tar.gz"));
        check_layout(&loaded, &artifacts);
        let claims = verify(&loaded, algorithm, &public).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(claims["keyid"], json!(format!("seg-{name}")));
        let header = jsonwebtoken::decode_header(
            serde_json::from_slice::<Value>(&loaded.files[".signatures.json"]).expect("json")["signatures"][0]
                .as_str()
                .expect("jws"),
        )
        .expect("header");
        assert_eq!(header.kid.as_deref(), Some(format!("seg-{name}").as_str()));

        // Tampering with any file, or the wrong key, is caught.
        let mut tampered = bundle::load(opa::artifact(&artifacts, "bundle.tar.gz"));
        if let Some(f) = tampered.files.get_mut("seg/authz.rego") {
            f.extend_from_slice(b"\nallow := true\n");
        }
        assert_eq!(
            verify(&tampered, algorithm, &public).err(),
            Some("seg/authz.rego: hash mismatch".into()),
            "{name}"
        );
        let mut extra = bundle::load(opa::artifact(&artifacts, "bundle.tar.gz"));
        extra
            .files
            .insert("seg/extra.rego".into(), b"package seg.extra".to_vec());
        assert!(
            verify(&extra, algorithm, &public).is_err(),
            "{name}: an unsigned file passed"
        );
        let wrong = DecodingKey::from_secret(b"another secret");
        if algorithm == Algorithm::HS256 {
            assert!(
                verify(&loaded, algorithm, &wrong).is_err(),
                "{name}: the wrong secret verified"
            );
        }
    }
    // The signature does not change what the bundle decides.
    let (_, plain) = opa::emit(&program, &[], None);
    let key = SigningKey {
        algorithm: "HS256".into(),
        key: b"k".to_vec(),
        key_id: None,
    };
    let (_, signed) = opa::emit(&program, &[], Some(key));
    let strip = |a: &[Artifact]| -> Vec<Artifact> {
        a.iter()
            .filter(|x| x.path.starts_with("bundle/") && x.path != "bundle/.signatures.json")
            .cloned()
            .collect()
    };
    assert_eq!(strip(&plain), strip(&signed));
}

#[test]
fn canonical_escaping_matches_what_opa_hashes() {
    // Names with every escape Go writes; the file must be its own canonical form.
    let mut program = fixtures::lab();
    program.identities[3].name = "q\"b\\\u{8}\u{c}\n\r\t\u{1}\u{7f}<>&\u{2028}\u{2029}é".into();
    let (_, artifacts) = opa::emit(&program, &[], None);
    for path in [
        "bundle/seg/data.json",
        "bundle/.manifest",
        "bundle/seg/tests/data.json",
    ] {
        let bytes = opa::artifact(&artifacts, path);
        let v: Value = serde_json::from_slice(bytes).expect("json");
        let mut s = String::new();
        go_canonical(&v, &mut s);
        assert_eq!(s.as_bytes(), bytes, "{path} is not in OPA's canonical form");
    }
}
