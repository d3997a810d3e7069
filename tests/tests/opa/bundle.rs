//! A bundle loader that follows OPA's rules (`bundle/bundle.go`, facts in
//! docs/backends/opa.md): read the gzipped tar, keep regular files only,
//! strip a leading `/`, merge every file named exactly `data.json` into
//! `data` at its directory's path, load every `.rego` file as a policy, read
//! `.manifest` as JSON and ignore every other file. Policies get regorus'
//! default size limits (so the bundle must fit them).

use flate2::read::GzDecoder;
use regorus::{Engine, Value};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Read;

pub struct Loaded {
    /// Every regular file, by path without a leading `/`.
    pub files: BTreeMap<String, Vec<u8>>,
    pub manifest: serde_json::Value,
    /// The packages of the policies, e.g. `data.seg.authz`.
    pub packages: Vec<String>,
    /// Paths of the merged data files, e.g. `seg` for `seg/data.json`.
    pub data_paths: Vec<String>,
    engine: Engine,
}

/// Read the tarball and load it; panics on anything OPA would reject.
pub fn load(tarball: &[u8]) -> Loaded {
    let mut raw = Vec::new();
    GzDecoder::new(tarball)
        .read_to_end(&mut raw)
        .expect("bundle is gzip");
    let mut archive = tar::Archive::new(raw.as_slice());
    let mut files = BTreeMap::new();
    for entry in archive.entries().expect("bundle is a tar") {
        let mut entry = entry.expect("tar entry");
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .expect("entry path")
            .to_string_lossy()
            .trim_start_matches('/')
            .to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("entry contents");
        assert!(
            files.insert(path.clone(), bytes).is_none(),
            "`{path}` twice in the bundle"
        );
    }

    let mut engine = Engine::new();
    let mut packages = Vec::new();
    let mut data_paths = Vec::new();
    let mut manifest = json!(null);
    for (path, bytes) in &files {
        let text =
            || String::from_utf8(bytes.clone()).unwrap_or_else(|_| panic!("`{path}` is not UTF-8"));
        let name = path.rsplit('/').next().unwrap_or(path);
        if path.ends_with(".rego") {
            let package = engine
                .add_policy(path.clone(), text())
                .unwrap_or_else(|e| panic!("`{path}`: {e}"));
            packages.push(package);
        } else if name == "data.json" {
            let dir: Vec<&str> = path.split('/').collect();
            let dir = &dir[..dir.len() - 1];
            let mut doc: serde_json::Value =
                serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("`{path}`: {e}"));
            assert!(doc.is_object(), "`{path}` must be an object");
            for segment in dir.iter().rev() {
                doc = json!({ *segment: doc });
            }
            engine
                .add_data(Value::from_json_str(&doc.to_string()).expect("data"))
                .unwrap_or_else(|e| panic!("`{path}`: {e}"));
            data_paths.push(dir.join("/"));
        } else if path == ".manifest" {
            manifest = serde_json::from_slice(bytes).expect("manifest is JSON");
        }
    }
    Loaded {
        files,
        manifest,
        packages,
        data_paths,
        engine,
    }
}

/// Whether to emulate OPA's builtin errors (undefined) or regorus' default (abort).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Errors {
    /// Builtin errors make the expression undefined, as in OPA.
    Undefined,
    /// Builtin errors abort evaluation (regorus' default).
    Abort,
}

impl Loaded {
    /// A fresh engine over the bundle (cheap: regorus engines share their modules).
    pub fn engine(&self, errors: Errors) -> Engine {
        let mut e = self.engine.clone();
        e.set_strict_builtin_errors(errors == Errors::Abort);
        e
    }

    /// `data.seg.authz.allow` compiled for regorus' register VM (the fast
    /// engine of the benchmark), checked here against the interpreter.
    pub fn vm(&self) -> Vm {
        let mut engine = self.engine.clone();
        let entry: regorus::Rc<str> = ALLOW.into();
        let compiled = engine
            .compile_with_entrypoint(&entry)
            .expect("compile allow");
        let program =
            regorus::languages::rego::compiler::Compiler::compile_from_policy(&compiled, &[ALLOW])
                .expect("allow compiles for the register VM");
        let mut vm = regorus::rvm::RegoVM::new();
        vm.load_program(program);
        vm.set_data(engine.get_data()).expect("VM data");
        Vm(vm)
    }

    pub fn text(&self, path: &str) -> &str {
        std::str::from_utf8(
            self.files
                .get(path)
                .unwrap_or_else(|| panic!("no `{path}` in the bundle")),
        )
        .expect("UTF-8")
    }
}

const ALLOW: &str = "data.seg.authz.allow";

pub struct Vm(regorus::rvm::RegoVM);

impl Vm {
    /// `allow` for `input`: `Err` when execution failed.
    pub fn allow(&mut self, input: &serde_json::Value) -> Result<bool, String> {
        self.0
            .set_input(Value::from_json_str(&input.to_string()).expect("input is JSON"));
        match self
            .0
            .execute_entry_point_by_name(ALLOW)
            .map_err(|e| e.to_string())?
        {
            Value::Bool(b) => Ok(b),
            other => Err(format!("allow is not a boolean: {other:?}")),
        }
    }
}

/// Evaluate `rule` for `input`.
pub fn eval(
    engine: &mut Engine,
    input: &serde_json::Value,
    rule: &str,
) -> Result<serde_json::Value, String> {
    engine.set_input(Value::from_json_str(&input.to_string()).expect("input is JSON"));
    let v = engine
        .eval_rule(rule.to_string())
        .map_err(|e| e.to_string())?;
    if v == Value::Undefined {
        return Ok(serde_json::Value::Null);
    }
    Ok(serde_json::from_str(&v.to_json_str().expect("value to JSON")).expect("JSON"))
}

/// `data.seg.authz.allow` for `input`: `Err` when evaluation failed.
pub fn allow(engine: &mut Engine, input: &serde_json::Value) -> Result<bool, String> {
    match eval(engine, input, "data.seg.authz.allow")? {
        serde_json::Value::Bool(b) => Ok(b),
        other => Err(format!("allow is not a boolean: {other}")),
    }
}
