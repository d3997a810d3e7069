//! The bundle as files: manifest with a content revision, optional
//! signature, and the reproducible tarball.
//!
//! The tarball is a function of the file contents only: entries sorted by
//! name, regular files only (mode 0644, uid/gid 0, no owner names, mtime 0),
//! gzip header without name and with mtime 0.

use crate::canonical;
use crate::model::{Manifest, Signatures};
use crate::sign::{self, sha256_hex};
use flate2::{Compression, GzBuilder};
use seg_ir::backend::SigningKey;
use std::collections::BTreeMap;
use std::io::Write;

pub const MANIFEST: &str = ".manifest";
pub const SIGNATURES: &str = ".signatures.json";

/// Bundle path → contents.
pub type Files = BTreeMap<String, Vec<u8>>;

/// The files generated from the policy's `test` blocks: `opa test` reads
/// them, decisions never do.
pub const TEST_FILES: [&str; 2] = ["seg/authz_test.rego", "seg/tests/data.json"];

/// The revision: SHA-256 over `name\0hash\n` of every file a decision reads
/// (all but [`TEST_FILES`]), sorted by name: it changes exactly when the
/// decision data or the policy does.
pub fn revision(files: &Files) -> String {
    let mut listing = String::new();
    for (name, bytes) in files
        .iter()
        .filter(|(name, _)| !TEST_FILES.contains(&name.as_str()))
    {
        listing.push_str(name);
        listing.push('\0');
        listing.push_str(&sha256_hex(bytes));
        listing.push('\n');
    }
    sha256_hex(listing.as_bytes())
}

/// Add `.manifest` (and `.signatures.json` when a key is given) to `files`.
pub fn seal(
    files: &mut Files,
    metadata: BTreeMap<&'static str, String>,
    key: Option<&SigningKey>,
) -> Result<String, String> {
    let revision = revision(files);
    let manifest = Manifest {
        revision: revision.clone(),
        roots: vec!["seg"],
        rego_version: 1,
        metadata,
    };
    let manifest = serde_json::to_value(&manifest).map_err(|e| e.to_string())?;
    files.insert(
        MANIFEST.to_string(),
        canonical::to_string(&manifest).into_bytes(),
    );
    if let Some(key) = key {
        let listed: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        let jws = sign::sign(&listed, key)?;
        let doc = serde_json::to_value(Signatures {
            signatures: vec![jws],
        })
        .map_err(|e| e.to_string())?;
        files.insert(
            SIGNATURES.to_string(),
            canonical::to_string(&doc).into_bytes(),
        );
    }
    Ok(revision)
}

/// `bundle.tar.gz` of `files`.
pub fn tarball(files: &Files) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_path(name)?;
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        tar.append(&header, bytes.as_slice())?;
    }
    let tar = tar.into_inner()?;
    let mut gz = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::best());
    gz.write_all(&tar)?;
    gz.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn files() -> Files {
        BTreeMap::from([
            ("seg/data.json".to_string(), b"{}".to_vec()),
            (
                "input.schema.json".to_string(),
                b"{\"type\":\"object\"}".to_vec(),
            ),
        ])
    }

    #[test]
    fn tarballs_are_reproducible_and_neutral() {
        let a = tarball(&files()).expect("tarball");
        assert_eq!(a, tarball(&files()).expect("tarball"));
        // gzip: no file name flag, mtime 0.
        assert_eq!(a[3] & 0x08, 0);
        assert_eq!(&a[4..8], &[0, 0, 0, 0]);
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(a.as_slice())
            .read_to_end(&mut raw)
            .expect("gunzip");
        let mut archive = tar::Archive::new(raw.as_slice());
        let mut names = Vec::new();
        for entry in archive.entries().expect("entries") {
            let entry = entry.expect("entry");
            let h = entry.header();
            assert_eq!(
                (h.uid().ok(), h.gid().ok(), h.mtime().ok(), h.mode().ok()),
                (Some(0), Some(0), Some(0), Some(0o644))
            );
            assert_eq!(h.username().ok().flatten(), Some(""));
            assert!(h.entry_type().is_file());
            names.push(entry.path().expect("path").to_string_lossy().into_owned());
        }
        assert_eq!(names, ["input.schema.json", "seg/data.json"]);
    }

    #[test]
    fn the_revision_follows_the_contents() {
        let mut f = files();
        let r = revision(&f);
        assert_eq!(r.len(), 64);
        f.insert("seg/data.json".into(), b"{\"a\":1}".to_vec());
        assert_ne!(revision(&f), r);
    }
}
