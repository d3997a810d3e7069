//! `seg schema inventory|manifest`: JSON Schemas (draft 2020-12) that accept every inventory
//! and manifest seg accepts (the examples, the test cases, the fixtures, the scaffold,
//! generated estates, the documentation's examples) and reject the structural errors seg
//! rejects, checked with a real validator (check-jsonschema, on python-jsonschema).

use super::run::{NOW, code, seg_in, shown, stderr, stdout};
use seg_tests::tools;
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `seg schema WHICH`, written to `dir/WHICH.schema.json`.
fn schema(dir: &Path, which: &str) -> PathBuf {
    let o = seg_in(dir, &["schema", which]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let v: Json = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let file = dir.join(format!("{which}.schema.json"));
    std::fs::write(&file, &o.stdout).expect("write");
    file
}

/// check-jsonschema on `files`: the files it found invalid (or could not parse).
fn invalid(schema: &Path, files: &[PathBuf]) -> Option<BTreeSet<PathBuf>> {
    let tool = tools::venv_tool("check-jsonschema")?;
    let o = Command::new(tool)
        .args(["--output-format", "json", "--schemafile"])
        .arg(schema)
        .args(files)
        .output()
        .expect("run check-jsonschema");
    let report: Json = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("check-jsonschema output ({e}): {}", shown(&o)));
    let mut bad = BTreeSet::new();
    for key in ["errors", "parse_errors"] {
        for e in report[key].as_array().into_iter().flatten() {
            bad.insert(PathBuf::from(e["filename"].as_str().unwrap_or("?")));
        }
    }
    Some(bad)
}

fn accept_all(schema: &Path, files: &[PathBuf]) {
    if let Some(bad) = invalid(schema, files) {
        assert!(
            bad.is_empty(),
            "the schema rejects files seg accepts: {bad:#?}"
        );
    }
}

fn reject_each(schema: &Path, files: &[PathBuf]) {
    if let Some(bad) = invalid(schema, files) {
        let missed: Vec<&PathBuf> = files.iter().filter(|f| !bad.contains(*f)).collect();
        assert!(
            missed.is_empty(),
            "the schema accepts what seg rejects: {missed:#?}"
        );
    }
}

/// The inventory files of a project, by its seg.toml's globs.
fn project_inventories(project: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(project.join("seg.toml")).unwrap_or_default();
    let mut map = seg_diag::SourceMap::new();
    let file = map.add("seg.toml", text.clone());
    let mut diags = seg_diag::Diagnostics::new();
    let Some(m) = seg_check::manifest::parse(file, &text, &mut diags) else {
        return Vec::new();
    };
    seg::driver::expand_globs(project, &m.inventory, &[])
        .unwrap_or_default()
        .into_iter()
        .map(|f| project.join(f))
        .collect()
}

/// Codes of a case's `# expect:` line.
fn expected_codes(case: &Path) -> Vec<String> {
    let toml = std::fs::read_to_string(case.join("seg.toml")).unwrap_or_default();
    toml.lines()
        .find_map(|l| l.strip_prefix("# expect:"))
        .map(|r| r.split(',').map(|c| c.trim().to_string()).collect())
        .unwrap_or_default()
}

/// Generated estates (seg_tests::estate), as their files.
fn estates(dir: &Path, n: usize) -> Vec<PathBuf> {
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    (0..n)
        .map(|i| {
            let estate = seg_tests::estate::estate()
                .new_tree(&mut runner)
                .expect("an estate")
                .current();
            let d = dir.join(format!("estate-{i}"));
            estate.write(&d).expect("write estate");
            d
        })
        .collect()
}

/// The codes of a seg.toml value seg rejects (not of the policy it names).
const MANIFEST_VALUE_CODES: &[&str] = &["E0150", "E0151", "E0162"];

#[test]
fn the_schemas_accept_every_inventory_and_manifest_seg_accepts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = tools::repo();
    let inventory = schema(dir.path(), "inventory");
    let manifest = schema(dir.path(), "manifest");
    if let Some(tool) = tools::venv_tool("check-jsonschema") {
        let o = Command::new(tool)
            .arg("--check-metaschema")
            .args([&inventory, &manifest])
            .output()
            .expect("run check-jsonschema");
        assert_eq!(
            code(&o),
            0,
            "not valid draft 2020-12 schemas: {}",
            shown(&o)
        );
    }

    let mut projects: Vec<PathBuf> = seg_tests::projects(&repo.join("examples"));
    let cases = seg_tests::projects(&repo.join("tests/cases"));
    let o = seg_in(dir.path(), &["init", "scaffold", "--now", NOW]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    projects.push(dir.path().join("scaffold"));
    projects.extend(estates(dir.path(), 3));
    let mut inventories: Vec<PathBuf> = Vec::new();
    let mut manifests: Vec<PathBuf> = Vec::new();
    for p in &projects {
        let o = seg_in(p, &["check", "--now", NOW, "-q"]);
        assert_ne!(code(&o), 2, "{}: {}", p.display(), stderr(&o));
        inventories.extend(project_inventories(p));
        manifests.push(p.join("seg.toml"));
    }
    for case in &cases {
        let codes = expected_codes(case);
        let inventory_problem = |c: &String| c.starts_with("E01") || c == "E0003" || c == "E0004";
        if !codes.iter().any(inventory_problem) {
            inventories.extend(project_inventories(case));
        }
        let manifest_problem =
            |c: &String| MANIFEST_VALUE_CODES.contains(&c.as_str()) || c == "E0003" || c == "E0004";
        if !codes.iter().any(manifest_problem) {
            manifests.push(case.join("seg.toml"));
        }
    }
    let fixtures = repo.join("compiler/seg-check/tests/fixtures/inventory");
    for entry in std::fs::read_dir(&fixtures).expect("fixtures").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("ok_") || name.starts_with('W') {
            inventories.push(entry.path());
        }
    }
    // The examples of docs/manifest.md, written out.
    let doc = std::fs::read_to_string(repo.join("docs/manifest.md")).expect("manifest.md");
    for (i, block) in doc.split("```toml\n").skip(1).enumerate() {
        let text = block.split("```").next().unwrap_or("");
        if text.contains("[project]") {
            let f = dir.path().join(format!("manifest-doc-{i}.toml"));
            std::fs::write(&f, text).expect("write");
            manifests.push(f);
        }
    }
    // The inventories of docs/inventory.md, written out: seg accepts them as they stand.
    let doc = std::fs::read_to_string(repo.join("docs/inventory.md")).expect("inventory.md");
    std::fs::write(dir.path().join("empty.seg"), "").expect("write");
    for (lang, fence) in [("yaml", "```yaml\n"), ("json", "```json\n")] {
        for (i, block) in doc.split(fence).skip(1).enumerate() {
            let text = block.split("```").next().unwrap_or("");
            if !text.contains("version") {
                continue;
            }
            let f = dir.path().join(format!("inventory-doc-{i}.{lang}"));
            std::fs::write(&f, text).expect("write");
            let o = seg_in(
                dir.path(),
                &[
                    "check",
                    "empty.seg",
                    "--inventory",
                    f.to_str().expect("utf-8"),
                    "-q",
                ],
            );
            assert_eq!(
                code(&o),
                0,
                "docs/inventory.md, {}: {}",
                f.display(),
                shown(&o)
            );
            inventories.push(f);
        }
    }
    assert!(
        inventories.len() > 20 && manifests.len() > 20,
        "{inventories:?} {manifests:?}"
    );
    accept_all(&inventory, &inventories);
    accept_all(&manifest, &manifests);
}

/// A valid inventory and one structural mistake at a time, each refused by seg (exit 1
/// with the code given) and by the schema.
const BASE_INVENTORY: &str = "version: 1
attributes:
  team: string
  env: enum[dev, prod]
identities:
  - name: api
    kind: workload
    owner: team-api
    attributes: { team: api, env: prod }
    labels: { app: api }
    addresses: [10.0.2.10, { address: 10.0.2.11, from: 2026-01-01, until: 2026-06-01T00:00:00Z }]
    kubernetes: { namespace: api, labels: { app: api }, service_account: api }
    aws: {}
    gcp: { service_account: api@prod.iam.gserviceaccount.com }
    spiffe: spiffe://example.org/ns/api/sa/api
    credential: { type: x509, rotated: 2026-10-01, max_age: 90d, shared: false }
    status: active
    expires: 2027-06-30
";

const INVENTORY_MISTAKES: &[(&str, &str, &str, &str)] = &[
    (
        "unknown top-level field",
        "identities:",
        "identites:",
        "E0102",
    ),
    ("no version", "version: 1\n", "", "E0103"),
    ("version 2", "version: 1", "version: 2", "E0108"),
    ("version as text", "version: 1", "version: \"1\"", "E0106"),
    (
        "unknown attribute type",
        "team: string",
        "team: integer",
        "E0109",
    ),
    (
        "reserved attribute name",
        "team: string",
        "team: string\n  owner: string",
        "E0107",
    ),
    (
        "attribute name not a bare name",
        "team: string",
        "Team: string",
        "E0107",
    ),
    ("identity without kind", "    kind: workload\n", "", "E0103"),
    (
        "unknown identity field",
        "    owner: team-api",
        "    ownr: team-api",
        "E0102",
    ),
    ("unknown kind", "kind: workload", "kind: robot", "E0107"),
    ("name not a string", "name: api", "name: 404", "E0106"),
    (
        "control character in a name",
        "name: api",
        "name: \"a\\ab\"",
        "E0107",
    ),
    (
        "addresses not a list",
        "addresses: [10.0.2.10, { address: 10.0.2.11, from: 2026-01-01, until: 2026-06-01T00:00:00Z }]",
        "addresses: 10.0.2.10",
        "E0106",
    ),
    ("not an address", "[10.0.2.10,", "[10.0.2.256,", "E0107"),
    (
        "window without address",
        "{ address: 10.0.2.11, from:",
        "{ from:",
        "E0103",
    ),
    (
        "unknown window field",
        "until: 2026-06-01T00:00:00Z",
        "till: 2026-06-01T00:00:00Z",
        "E0102",
    ),
    ("window time", "from: 2026-01-01", "from: soon", "E0107"),
    (
        "kubernetes without namespace",
        "{ namespace: api, labels",
        "{ labels",
        "E0103",
    ),
    (
        "kubernetes namespace",
        "namespace: api",
        "namespace: Api_1",
        "E0107",
    ),
    (
        "kubernetes label value",
        "labels: { app: api }, service_account",
        "labels: { app: -api }, service_account",
        "E0107",
    ),
    (
        "aws group id",
        "aws: {}",
        "aws: { security_group: sg-xyz }",
        "E0107",
    ),
    ("aws null", "aws: {}", "aws:", "E0106"),
    (
        "gcp without account",
        "gcp: { service_account: api@prod.iam.gserviceaccount.com }",
        "gcp: {}",
        "E0103",
    ),
    (
        "gcp account",
        "api@prod.iam.gserviceaccount.com",
        "api at prod",
        "E0107",
    ),
    (
        "spiffe id",
        "spiffe: spiffe://",
        "spiffe: https://",
        "E0107",
    ),
    ("max_age", "max_age: 90d", "max_age: 90 days", "E0107"),
    ("shared as text", "shared: false", "shared: \"no\"", "E0106"),
    (
        "rotated",
        "rotated: 2026-10-01",
        "rotated: last week",
        "E0107",
    ),
    ("status", "status: active", "status: retired", "E0107"),
    ("expires", "expires: 2027-06-30", "expires: never", "E0107"),
    (
        "label value not a string",
        "labels: { app: api }\n",
        "labels: { app: 2 }\n",
        "E0106",
    ),
];

#[test]
fn the_inventory_schema_rejects_what_seg_rejects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema_file = schema(dir.path(), "inventory");
    std::fs::write(dir.path().join("p.seg"), "segment s = [api]\n").expect("write");
    let check = |name: &str| {
        let o = seg_in(
            dir.path(),
            &[
                "check",
                "p.seg",
                "--inventory",
                name,
                "--now",
                NOW,
                "--format",
                "json",
            ],
        );
        let v: Json = serde_json::from_slice(&o.stdout).unwrap_or(Json::Null);
        let codes: Vec<String> = v["diagnostics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["severity"] == "error")
            .filter_map(|d| d["code"].as_str().map(String::from))
            .collect();
        (code(&o), codes, stdout(&o))
    };
    std::fs::write(dir.path().join("base.yaml"), BASE_INVENTORY).expect("write");
    let (c, codes, out) = check("base.yaml");
    assert_eq!((c, codes.len()), (0, 0), "the base inventory: {out}");
    accept_all(&schema_file, &[dir.path().join("base.yaml")]);
    let mut files = Vec::new();
    for (i, (what, from, to, expected)) in INVENTORY_MISTAKES.iter().enumerate() {
        assert!(
            BASE_INVENTORY.contains(from),
            "{what}: `{from}` is not in the base"
        );
        let name = format!("mistake-{i}.yaml");
        std::fs::write(dir.path().join(&name), BASE_INVENTORY.replacen(from, to, 1))
            .expect("write");
        let (c, codes, out) = check(&name);
        assert_eq!(c, 1, "{what}: seg accepts it: {out}");
        assert!(
            codes.iter().any(|c| c == expected),
            "{what}: expected {expected}, seg says {codes:?}"
        );
        files.push(dir.path().join(name));
    }
    reject_each(&schema_file, &files);
}

const BASE_MANIFEST: &str = "[project]
name = \"p\"
inventory = [\"inventory.yaml\"]
sources = [\"policy/**/*.seg\"]

[targets.iptables]
ipset-threshold = 8

[targets.kubernetes]

[targets.aws]
formats = [\"terraform\"]
max-rules-per-group = 60
vpc-id = \"vpc-0a1b2c3d\"

[targets.opa]

[enforcement]
layered = [\"mtls\", \"time\"]

[lints]
missing-owner = \"deny\"
fail-closed = \"allow\"

[audit]
would-break = \"error\"
expiring-within = \"14d\"

[jit]
max-ttl = \"8h\"
file = \"policy/grants.seg\"
grantable = \"not team == \\\"platform\\\"\"
";

const MANIFEST_MISTAKES: &[(&str, &str, &str)] = &[
    ("unknown table", "[enforcement]", "[enforcment]"),
    ("no [project]", "[project]\n", "[other]\n"),
    ("no name", "name = \"p\"\n", ""),
    ("unknown project key", "sources =", "sorces ="),
    ("name not a string", "name = \"p\"", "name = 3"),
    (
        "empty inventory list",
        "inventory = [\"inventory.yaml\"]",
        "inventory = []",
    ),
    ("unknown target", "[targets.kubernetes]", "[targets.k8s]"),
    (
        "unknown kubernetes key",
        "[targets.kubernetes]\n",
        "[targets.kubernetes]\nnamespace = \"x\"\n",
    ),
    (
        "ipset threshold 0",
        "ipset-threshold = 8",
        "ipset-threshold = 0",
    ),
    (
        "unknown AWS format",
        "formats = [\"terraform\"]",
        "formats = [\"pulumi\"]",
    ),
    (
        "quota as text",
        "max-rules-per-group = 60",
        "max-rules-per-group = \"60\"",
    ),
    ("vpc id", "vpc-id = \"vpc-0a1b2c3d\"", "vpc-id = \"vpc-1\""),
    (
        "gcp without network",
        "[targets.opa]",
        "[targets.gcp]\n\n[targets.opa]",
    ),
    (
        "gcp network name",
        "[targets.opa]",
        "[targets.gcp]\nnetwork = \"Prod_1\"\n\n[targets.opa]",
    ),
    (
        "signing algorithm without key",
        "[targets.opa]\n",
        "[targets.opa]\nsigning-algorithm = \"RS256\"\n",
    ),
    (
        "unknown signing algorithm",
        "[targets.opa]\n",
        "[targets.opa]\nsigning-key = \"k.pem\"\nsigning-algorithm = \"none\"\n",
    ),
    (
        "unknown condition class",
        "[\"mtls\", \"time\"]",
        "[\"tls\"]",
    ),
    (
        "unknown lint",
        "missing-owner = \"deny\"",
        "missing-owners = \"deny\"",
    ),
    (
        "lint level",
        "missing-owner = \"deny\"",
        "missing-owner = \"error\"",
    ),
    (
        "audit finding level",
        "would-break = \"error\"",
        "would-break = \"deny\"",
    ),
    (
        "audit duration",
        "expiring-within = \"14d\"",
        "expiring-within = \"2 weeks\"",
    ),
    ("unknown jit key", "max-ttl = \"8h\"", "max-tll = \"8h\""),
    ("jit duration", "max-ttl = \"8h\"", "max-ttl = \"8 hours\""),
    (
        "grants file outside the project",
        "file = \"policy/grants.seg\"",
        "file = \"/etc/grants.seg\"",
    ),
    (
        "grants file not a .seg file",
        "file = \"policy/grants.seg\"",
        "file = \"policy/grants.txt\"",
    ),
];

#[test]
fn the_manifest_schema_rejects_what_seg_rejects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema_file = schema(dir.path(), "manifest");
    let o = seg_in(dir.path(), &["init", "p", "--now", NOW]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let project = dir.path().join("p");
    let check = |text: &str| {
        std::fs::write(project.join("seg.toml"), text).expect("write");
        let o = seg_in(&project, &["check", "--now", NOW]);
        (code(&o), stderr(&o))
    };
    let (c, err) = check(BASE_MANIFEST);
    assert_eq!(c, 0, "the base manifest: {err}");
    let base = dir.path().join("base.toml");
    std::fs::write(&base, BASE_MANIFEST).expect("write");
    accept_all(&schema_file, &[base]);
    let mut files = Vec::new();
    for (i, (what, from, to)) in MANIFEST_MISTAKES.iter().enumerate() {
        assert!(
            BASE_MANIFEST.contains(from),
            "{what}: `{from}` is not in the base"
        );
        let text = BASE_MANIFEST.replacen(from, to, 1);
        let (c, err) = check(&text);
        assert_eq!(c, 1, "{what}: seg accepts it: {err}");
        assert!(
            err.contains("error[E0150]") || err.contains("error[E0151]"),
            "{what}: {err}"
        );
        let f = dir.path().join(format!("mistake-{i}.toml"));
        std::fs::write(&f, text).expect("write");
        files.push(f);
    }
    // And the test cases of seg.toml values seg rejects.
    for case in seg_tests::projects(&tools::repo().join("tests/cases")) {
        if expected_codes(&case)
            .iter()
            .any(|c| MANIFEST_VALUE_CODES.contains(&c.as_str()))
        {
            files.push(case.join("seg.toml"));
        }
    }
    reject_each(&schema_file, &files);
}

/// The modeline of docs/inventory.md, as an editor reads it: the YAML language server (the one
/// VS Code, Neovim, Helix and Zed run) validates an inventory that starts with it against the
/// schema `seg schema inventory` wrote beside it: nothing on what seg accepts, an error on each
/// structural mistake, and nothing without the modeline.
#[test]
fn the_yaml_language_server_checks_inventories_by_the_modeline() {
    let Some(mut lsp) = tools::node_script("yamlls", "diagnose.cjs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = tools::repo();
    schema(dir.path(), "inventory");
    let doc = std::fs::read_to_string(repo.join("docs/inventory.md")).expect("inventory.md");
    let modeline = "# yaml-language-server: $schema=./inventory.schema.json";
    let example = doc
        .split("```yaml\n")
        .map(|b| b.split("```").next().unwrap_or(""))
        .find(|b| b.starts_with(modeline))
        .expect("docs/inventory.md shows an inventory starting with the modeline");
    let write = |name: &str, text: &str| {
        let f = dir.path().join(name);
        std::fs::write(&f, text).expect("write");
        f
    };
    let mut accepted = vec![
        write("doc.yaml", example),
        write("base.yaml", &format!("{modeline}\n{BASE_INVENTORY}")),
    ];
    for (i, f) in project_inventories(&repo.join("examples/bank"))
        .iter()
        .enumerate()
    {
        let text = std::fs::read_to_string(f).expect("read");
        accepted.push(write(
            &format!("bank-{i}.yaml"),
            &format!("{modeline}\n{text}"),
        ));
    }
    let mistakes: Vec<(&str, PathBuf)> = INVENTORY_MISTAKES
        .iter()
        .enumerate()
        .map(|(i, (what, from, to, _))| {
            let text = BASE_INVENTORY.replacen(from, to, 1);
            (
                *what,
                write(&format!("mistake-{i}.yaml"), &format!("{modeline}\n{text}")),
            )
        })
        .collect();
    let unmarked = write(
        "unmarked.yaml",
        &BASE_INVENTORY.replacen("kind: workload", "kind: robot", 1),
    );
    let o = lsp
        .args(&accepted)
        .args(mistakes.iter().map(|(_, f)| f))
        .arg(&unmarked)
        .output()
        .expect("run the YAML language server");
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let found: Json = serde_json::from_slice(&o.stdout).expect("JSON");
    let of = |f: &PathBuf| -> Vec<Json> {
        found[f.to_str().expect("utf-8")]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("no answer for {}: {found:#}", f.display()))
    };
    for f in accepted.iter().chain([&unmarked]) {
        assert_eq!(of(f), Vec::<Json>::new(), "{}", f.display());
    }
    for (what, f) in &mistakes {
        assert!(
            of(f).iter().any(|d| d["severity"] == 1),
            "{what}: the editor shows no error: {:?}",
            of(f)
        );
    }
    // The error is on the line of the mistake (the modeline is line 1).
    let (_, typo) = mistakes
        .iter()
        .find(|(what, _)| *what == "unknown identity field")
        .expect("the typo");
    let line = BASE_INVENTORY
        .lines()
        .position(|l| l.contains("owner: team-api"))
        .expect("line") as u64
        + 2;
    assert!(
        of(typo).iter().any(|d| d["line"] == line && d["message"].as_str().is_some_and(|m| m.contains("ownr"))),
        "{:?}",
        of(typo)
    );
}
