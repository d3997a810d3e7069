//! What `seg build` writes depends only on meaning, over generated estates
//! (`seg_tests::estate`) built through the real front end and every target:
//!
//! - every meaning-preserving edit of `estate::variants` (comments,
//!   whitespace, rules reordered, a policy moved to another file) leaves every
//!   artifact byte-identical except `report.json`, whose object lists are
//!   equal too;
//! - adding one rule between two identities changes, adds or removes only the
//!   objects those identities own on each target; every other object keeps its
//!   name and its digest.
//!
//! Budget: `SEG_MEANING_CASES` estates (default 10) from `SEG_MEANING_SEED`.

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use seg::driver::{self, BuildOutcome, Input};
use seg_diag::Diagnostics;
use seg_ir::objects::{Object, compare};
use seg_ir::{IdentityId, Program};
use seg_tests::estate::{self, Estate, EstateConfig, EstateModel, variants};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn models(cfg: EstateConfig) -> Vec<EstateModel> {
    let seed = env_number("SEG_MEANING_SEED", 14);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    let strategy = estate::models(cfg);
    (0..env_number("SEG_MEANING_CASES", 10))
        .map(|_| strategy.new_tree(&mut runner).expect("model").current())
        .collect()
}

/// Write the estate under `dir`, compile and build every target of seg.toml.
fn build(estate: &Estate, dir: &Path) -> (Program, BuildOutcome) {
    estate.write(dir).expect("write the estate");
    let input = Input::from_args(Some(dir), &[]).expect("project");
    let comp = driver::compile(&input, estate::now());
    let errors: Vec<String> = comp
        .diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    let (Some(program), Some(manifest)) = (comp.program, comp.manifest) else {
        panic!("the estate does not compile: {errors:?}");
    };
    assert!(errors.is_empty(), "{errors:?}");
    let mut diags = Diagnostics::new();
    let outcome = driver::build(&program, &manifest, &comp.root, &[], &mut diags);
    let messages: Vec<String> = diags.iter().map(|d| d.message.clone()).collect();
    let outcome = outcome.unwrap_or_else(|| panic!("the build fails: {messages:?}"));
    (program, outcome)
}

fn without_report(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<&str, &[u8]> {
    files
        .iter()
        .filter(|(path, _)| *path != "report.json")
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect()
}

/// The first differing file, for the failure message.
fn first_difference(a: &BTreeMap<&str, &[u8]>, b: &BTreeMap<&str, &[u8]>) -> String {
    let paths: BTreeSet<&&str> = a.keys().chain(b.keys()).collect();
    for p in paths {
        let (x, y) = (a.get(*p), b.get(*p));
        if x != y {
            let text = |v: Option<&&[u8]>| v.map(|b| String::from_utf8_lossy(b).into_owned());
            let (x, y) = (text(x).unwrap_or_default(), text(y).unwrap_or_default());
            let line = x
                .lines()
                .zip(y.lines())
                .find(|(l, m)| l != m)
                .map(|(l, m)| format!("\n  - {l}\n  + {m}"))
                .unwrap_or_default();
            return format!("{p} differs{line}");
        }
    }
    String::new()
}

#[test]
fn meaning_preserving_edits_leave_every_artifact_byte_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (n, model) in models(EstateConfig::default()).iter().enumerate() {
        let estate = model.render();
        let (_, base) = build(&estate, &dir.path().join(format!("{n}")));
        let files = without_report(&base.files);
        // `moved rule` gives a rule another policy (and owner), which
        // targets carry: meaning to them, so not among these edits.
        let edits = variants::variants(&estate)
            .into_iter()
            .filter(|(name, _)| !matches!(*name, "moved rule" | "all of them"))
            .chain([("policy moved", variants::policy_moved(&estate))]);
        for (name, edited) in edits {
            assert_ne!(edited.files, estate.files, "`{name}` changed no text");
            let (_, other) = build(&edited, &dir.path().join(format!("{n}-{name}")));
            let other_files = without_report(&other.files);
            assert!(
                files == other_files,
                "estate {n}, edit `{name}`: {}",
                first_difference(&files, &other_files)
            );
            assert_eq!(base.objects(), other.objects(), "estate {n}, edit `{name}`");
            assert_ne!(
                base.files["report.json"], other.files["report.json"],
                "the report keeps the source hash and lines"
            );
        }
    }
}

/// What a target's output says about who owns an object.
struct Owners<'a> {
    program: &'a Program,
    old: &'a BuildOutcome,
    new: &'a BuildOutcome,
    ends: [IdentityId; 2],
}

impl Owners<'_> {
    fn names(&self) -> [&str; 2] {
        self.ends.map(|i| self.program.identity(i).name.as_str())
    }

    /// An object's body: from the new build when it has it, else the old one.
    fn body(&self, target: &str, o: &Object) -> Value {
        let pick = |build: &BuildOutcome| -> Option<Value> {
            let bytes = build.files.get(&format!("{target}/{}", o.file))?;
            let file: Value = serde_json::from_slice(bytes).ok()?;
            match o.kind.as_str() {
                "firewall" => file["items"]
                    .as_array()?
                    .iter()
                    .find(|i| i["name"] == o.name.as_str())
                    .cloned(),
                kind => {
                    let label = o.name.strip_prefix(&format!("{kind}."))?;
                    Some(file["resource"][kind][label].clone()).filter(|v| !v.is_null())
                }
            }
        };
        pick(self.new)
            .or_else(|| pick(self.old))
            .unwrap_or(Value::Null)
    }

    fn owns(&self, target: &str, o: &Object) -> bool {
        let names = self.names();
        match target {
            "iptables" | "nftables" => self.ends.iter().any(|&i| {
                let stem =
                    seg_iptables::file_stem(&self.program.identity(i).name).expect("a host name");
                o.file
                    .strip_prefix(&stem)
                    .is_some_and(|r| r.starts_with('.'))
            }),
            "kubernetes" | "istio" => {
                let path = format!("{target}/{}", o.file);
                let bytes = self
                    .new
                    .files
                    .get(&path)
                    .or_else(|| self.old.files.get(&path));
                let text = String::from_utf8_lossy(bytes.map_or(&[][..], Vec::as_slice));
                names.iter().any(|n| {
                    [n.to_string(), format!("\"{n}\""), format!("'{n}'")]
                        .iter()
                        .any(|v| text.contains(&format!("seg.dev/identity: {v}\n")))
                })
            }
            "aws" => {
                let groups = self.aws_groups();
                let body = self.body(target, o);
                body["security_group_id"]
                    .as_str()
                    .is_some_and(|g| groups.contains(g))
                    || (o.kind == "aws_security_group"
                        && groups.contains(&format!("${{{}.id}}", o.name)))
            }
            "gcp" => {
                let accounts: Vec<&str> = self
                    .ends
                    .iter()
                    .filter_map(|&i| self.program.identity(i).gcp.as_ref())
                    .map(|g| g.service_account.as_str())
                    .collect();
                let body = self.body(target, o);
                let targets = body
                    .get("targetServiceAccounts")
                    .or_else(|| body.get("target_service_accounts"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                targets
                    .iter()
                    .any(|t| t.as_str().is_some_and(|t| accounts.contains(&t)))
            }
            "opa" => match o.kind.as_str() {
                "identity" => names.contains(&o.name.as_str()),
                _ => {
                    self.program.rules.iter().any(|r| {
                        r.provenance.id == o.name
                            && self.ends.iter().any(|e| {
                                r.src.identities.contains(e) || r.dst.identities.contains(e)
                            })
                    }) || o.name.starts_with("added-by-test#")
                }
            },
            _ => false,
        }
    }

    /// The groups (as Terraform references or `sg-…` ids) of both ends.
    fn aws_groups(&self) -> BTreeSet<String> {
        let names = self.names();
        let mut out = BTreeSet::new();
        for build in [self.old, self.new] {
            let Some(bytes) = build.files.get("aws/main.tf.json") else {
                continue;
            };
            let main: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
            for entry in main["output"]["security_groups"]["value"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if names.contains(&entry["identity"].as_str().unwrap_or_default()) {
                    for g in entry["security_group_ids"].as_array().into_iter().flatten() {
                        out.insert(g.as_str().unwrap_or_default().to_string());
                    }
                }
            }
        }
        out
    }
}

#[test]
fn adding_a_rule_changes_only_what_its_identities_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = EstateConfig {
        // An identity sharing another's address would share its objects too.
        overlapping_addresses: false,
        ..EstateConfig::default()
    };
    let mut checked = 0;
    for (n, model) in models(cfg).iter().enumerate() {
        let ends: Vec<String> = model
            .identities
            .iter()
            .filter(|i| i.explicit_ok())
            .map(|i| i.name())
            .collect();
        let [src, dst, ..] = ends.as_slice() else {
            continue;
        };
        let estate = model.render();
        let (_, old) = build(&estate, &dir.path().join(format!("{n}")));
        let added = variants::with_rule_added(&estate, src, dst, 4321);
        let (program, new) = build(&added, &dir.path().join(format!("{n}-added")));
        let ends = [src, dst].map(|name| program.identity_by_name(name).expect("identity").id);
        let owners = Owners {
            program: &program,
            old: &old,
            new: &new,
            ends,
        };
        let (old_objects, new_objects) = (old.objects(), new.objects());
        let mut touched = 0;
        for (target, before) in &old_objects {
            let after = new_objects.get(target).expect("same targets");
            let changes = compare(before, after);
            for (what, list) in [
                ("added", &changes.added),
                ("removed", &changes.removed),
                ("changed", &changes.changed),
            ] {
                for o in list {
                    assert!(
                        owners.owns(target, o),
                        "estate {n}: rule {src} -> {dst}: {target} {what} {} `{}` in {}, which neither end owns",
                        o.kind,
                        o.name,
                        o.file
                    );
                    touched += 1;
                }
            }
        }
        assert!(touched > 0, "estate {n}: the added rule changed nothing");
        checked += 1;
    }
    assert!(
        checked >= 5,
        "only {checked} estates had two nameable identities"
    );
}
