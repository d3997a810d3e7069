//! Test helper: read YAML back (saphyr, YAML 1.2) into JSON values.

use saphyr::{LoadableYamlNode, Scalar, Yaml};

pub fn parse(text: &str) -> Vec<serde_json::Value> {
    Yaml::load_from_str(text)
        .expect("valid YAML")
        .iter()
        .map(to_json)
        .collect()
}

fn to_json(y: &Yaml) -> serde_json::Value {
    use serde_json::Value as J;
    match y {
        Yaml::Value(Scalar::String(s)) => J::String(s.to_string()),
        Yaml::Value(Scalar::Integer(i)) => J::from(*i),
        Yaml::Value(Scalar::Boolean(b)) => J::Bool(*b),
        Yaml::Value(Scalar::Null) => J::Null,
        Yaml::Value(Scalar::FloatingPoint(f)) => J::from(f.into_inner()),
        Yaml::Sequence(v) => J::Array(v.iter().map(to_json).collect()),
        Yaml::Mapping(m) => J::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().expect("string keys").to_string(), to_json(v)))
                .collect(),
        ),
        other => panic!("unexpected YAML node {other:?}"),
    }
}
