//! The pipeline the `check` and `build` targets share: a policy checked
//! against an inventory as the driver does, then every target's capability
//! pass and emission with the invariants of the output.

use crate::{NOW, assert_all};
use saphyr::LoadableYamlNode;
use seg_check::{CheckInput, Unit};
use seg_diag::{Diagnostics, FileId, SourceMap};
use seg_ir::backend::{
    AwsFormat, AwsOptions, GcpOptions, IptablesOptions, IstioOptions, KubernetesOptions,
    NftablesOptions, OpaOptions, TargetOptions,
};
use seg_ir::{Backend, Program};
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// The stdlib ASTs, parsed once; their files are the first ones of every map.
fn stdlib() -> &'static [Unit] {
    static UNITS: OnceLock<Vec<Unit>> = OnceLock::new();
    UNITS.get_or_init(|| {
        seg_stdlib::MODULES
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let file = FileId(u32::try_from(i).ok()?);
                let ast = seg_syntax::parse(file, m.source).ok()?;
                Some(Unit {
                    file,
                    path: m.file_name.to_string(),
                    module: Some(m.path.to_string()),
                    ast: ast.into(),
                })
            })
            .collect()
    })
}

/// Parse `policy`, load `inventory` and check them with the standard
/// library, asserting the diagnostics' invariants at every stage; the
/// program and its source map when the check succeeds.
pub fn check(policy: &str, inventory: &str) -> Option<(SourceMap, Program)> {
    let mut map = SourceMap::new();
    for m in seg_stdlib::MODULES {
        map.add(m.file_name, m.source);
    }
    let std_units = stdlib();
    assert_eq!(
        std_units.len(),
        seg_stdlib::MODULES.len(),
        "a stdlib module does not parse"
    );
    let policy_file = map.add("policy/fuzz.seg", policy);
    let inventory_file = map.add("inventory.yaml", inventory);

    let mut diags = Diagnostics::new();
    let ast = match seg_syntax::parse(policy_file, policy) {
        Ok(ast) => ast,
        Err(d) => {
            diags.push(d);
            assert_all(&map, &diags, true);
            return None;
        }
    };
    let Some(inv) = seg_check::inventory::load(&[(inventory_file, inventory)], &seg_ir::Now::new(NOW), &mut diags)
    else {
        assert_all(&map, &diags, true);
        return None;
    };
    if diags.has_errors() {
        assert_all(&map, &diags, true);
        return None;
    }
    let mut units = vec![Unit {
        file: policy_file,
        path: "policy/fuzz.seg".to_string(),
        module: None,
        ast: ast.into(),
    }];
    units.extend(std_units.iter().cloned());
    let input = CheckInput {
        units: &units,
        inventory: &inv,
        map: &map,
        project: "fuzz",
        source_hash: "0",
        now: &seg_ir::Now::new(NOW),
        jit: None,
    };
    let program = seg_check::check(&input, &mut diags);
    assert_all(&map, &diags, program.is_none());
    program.map(|p| (map, p))
}

/// Every target with the options `seg build` uses when `seg.toml` has none
/// (GCP, which needs a network, with one).
pub fn targets() -> Vec<(&'static dyn Backend, TargetOptions)> {
    vec![
        (
            &seg_iptables::Iptables,
            TargetOptions::Iptables(IptablesOptions { ipset_threshold: 8 }),
        ),
        (
            &seg_nftables::Nftables,
            TargetOptions::Nftables(NftablesOptions::default()),
        ),
        (
            &seg_k8s::Kubernetes,
            TargetOptions::Kubernetes(KubernetesOptions::default()),
        ),
        (
            &seg_istio::Istio,
            TargetOptions::Istio(IstioOptions::default()),
        ),
        (
            &seg_cloud::Aws,
            TargetOptions::Aws(AwsOptions {
                formats: vec![AwsFormat::Terraform, AwsFormat::CloudFormation],
                max_rules_per_group: 60,
                max_groups_per_interface: 5,
                vpc_id: None,
            }),
        ),
        (
            &seg_cloud::Gcp,
            TargetOptions::Gcp(GcpOptions {
                network: "fuzz".into(),
            }),
        ),
        (
            &seg_opa::Opa,
            TargetOptions::Opa(OpaOptions { signing: None }),
        ),
    ]
}

/// Why an artifact path could escape the target's folder or not be a
/// plain relative file name; `None` when it is safe.
pub fn unsafe_path(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("empty");
    }
    if path.starts_with('/') {
        return Some("absolute");
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return Some("a control character or a backslash");
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Some("an empty, `.` or `..` component");
    }
    None
}

/// Every target's capability pass and emission on `program`: no panic, no
/// internal error, every diagnostic well placed, every artifact path safe
/// and unique, every JSON and YAML artifact readable.
pub fn build(map: &SourceMap, program: &Program) {
    for (backend, options) in targets() {
        let mut diags = Diagnostics::new();
        let prepared = seg_ir::capability::prepare(program, backend, &[], &mut diags);
        let emission = backend.emit(&prepared.program, &options, &mut diags);
        assert_all(map, &diags, false);
        let name = backend.name();
        let mut seen = BTreeSet::new();
        for a in &emission.artifacts {
            if let Some(why) = unsafe_path(&a.path) {
                panic!("{name}: artifact path {:?}: {why}", a.path);
            }
            assert!(seen.insert(&a.path), "{name}: {:?} written twice", a.path);
            let readable = if a.path.ends_with(".json") {
                serde_json::from_slice::<serde_json::Value>(&a.contents)
                    .map(drop)
                    .map_err(|e| e.to_string())
            } else if a.path.ends_with(".yaml") || a.path.ends_with(".yml") {
                std::str::from_utf8(&a.contents)
                    .map_err(|e| e.to_string())
                    .and_then(|t| {
                        saphyr::Yaml::load_from_str(t)
                            .map(drop)
                            .map_err(|e| e.to_string())
                    })
            } else {
                Ok(())
            };
            if let Err(e) = readable {
                panic!(
                    "{name}: {} does not parse: {e}\n{}",
                    a.path,
                    String::from_utf8_lossy(&a.contents)
                );
            }
        }
    }
}
