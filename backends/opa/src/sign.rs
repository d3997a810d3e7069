//! Bundle signing: `.signatures.json` holds one compact JWS whose payload
//! lists every other file of the bundle with its SHA-256, as OPA's bundle
//! verification expects (`algorithm` spelled `SHA-256`, names without a
//! leading `/`). Structured files (`data.json`, `.manifest`) are written in
//! canonical form, so their hash is the hash of their bytes.

use crate::model::{FileHash, SignedFiles};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use seg_ir::backend::SigningKey;
use sha2::{Digest, Sha256};
use std::str::FromStr;

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The compact JWS over `files` (path, contents), or why the key cannot sign.
pub fn sign(files: &[(&str, &[u8])], key: &SigningKey) -> Result<String, String> {
    let algorithm = Algorithm::from_str(&key.algorithm)
        .map_err(|_| format!("seg cannot sign with `{}`", key.algorithm))?;
    let encoding = encoding_key(algorithm, &key.key)?;
    let mut header = Header::new(algorithm);
    header.kid = key.key_id.clone();
    let mut hashes: Vec<FileHash> = files
        .iter()
        .map(|(name, bytes)| FileHash {
            name: name.trim_start_matches('/').to_string(),
            hash: sha256_hex(bytes),
            algorithm: "SHA-256",
        })
        .collect();
    hashes.sort_by(|a, b| a.name.cmp(&b.name));
    let payload = SignedFiles {
        files: hashes,
        keyid: key.key_id.clone(),
    };
    jsonwebtoken::encode(&header, &payload, &encoding).map_err(|e| format!("signing failed: {e}"))
}

fn encoding_key(algorithm: Algorithm, key: &[u8]) -> Result<EncodingKey, String> {
    let pem = |what: &str, r: jsonwebtoken::errors::Result<EncodingKey>| {
        r.map_err(|e| format!("the key is not a PEM {what} private key ({e})"))
    };
    match algorithm {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            if key.is_empty() {
                Err("the HMAC secret is empty".to_string())
            } else {
                Ok(EncodingKey::from_secret(key))
            }
        }
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => pem("RSA", EncodingKey::from_rsa_pem(key)),
        Algorithm::ES256 | Algorithm::ES384 => pem("EC", EncodingKey::from_ec_pem(key)),
        Algorithm::EdDSA => pem("Ed25519", EncodingKey::from_ed_pem(key)),
        other => Err(format!("seg cannot sign with `{other:?}`")),
    }
}
