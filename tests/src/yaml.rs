//! YAML (saphyr, YAML 1.2) read as JSON values, for tests that inspect YAML seg writes
//! or ships: Kubernetes objects, GitHub workflows and actions, pre-commit hooks.

use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::Value as Json;

/// Every document of a YAML stream.
pub fn documents(text: &str) -> Result<Vec<Json>, String> {
    Yaml::load_from_str(text)
        .map_err(|e| format!("not YAML: {e}"))?
        .iter()
        .map(json)
        .collect()
}

/// The one document of a YAML text.
pub fn document(text: &str) -> Result<Json, String> {
    let mut docs = documents(text)?;
    match docs.len() {
        1 => Ok(docs.remove(0)),
        n => Err(format!("{n} YAML documents, expected 1")),
    }
}

fn json(y: &Yaml) -> Result<Json, String> {
    Ok(match y {
        Yaml::Value(Scalar::String(s)) => Json::String(s.to_string()),
        Yaml::Value(Scalar::Integer(i)) => Json::from(*i),
        Yaml::Value(Scalar::Boolean(b)) => Json::Bool(*b),
        Yaml::Value(Scalar::Null) => Json::Null,
        Yaml::Value(Scalar::FloatingPoint(f)) => Json::from(f.into_inner()),
        Yaml::Sequence(v) => Json::Array(v.iter().map(json).collect::<Result<_, _>>()?),
        Yaml::Mapping(m) => {
            let mut o = serde_json::Map::new();
            for (k, v) in m.iter() {
                let k = k.as_str().ok_or_else(|| format!("non-string key {k:?}"))?;
                if o.insert(k.to_string(), json(v)?).is_some() {
                    return Err(format!("duplicate key `{k}`"));
                }
            }
            Json::Object(o)
        }
        other => return Err(format!("unexpected YAML node {other:?}")),
    })
}
