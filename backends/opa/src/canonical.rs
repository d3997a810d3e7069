//! Canonical JSON: object keys sorted bytewise, no whitespace, integers as
//! written, strings escaped exactly as Go's `encoding/json` does with HTML
//! escaping off.
//!
//! OPA verifies a signed bundle by parsing `data.json` and `.manifest` and
//! hashing that re-encoding (`bundle/hash.go`), so a file written in this
//! form hashes the same as OPA computes: the signature's file hash is simply
//! the SHA-256 of the bytes.

use serde_json::Value;
use std::fmt::Write;

/// The canonical text of a JSON value.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // serde_json prints integers exactly; seg writes no floats.
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, v);
            }
            out.push('}');
        }
    }
}

/// A JSON string as Go writes it: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`,
/// other control characters as `\u00xx`, and U+2028/U+2029 escaped (Go
/// always escapes those two line separators); everything else verbatim.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_bytewise_and_output_is_compact() {
        let v = json!({"b": [1, {"z": null, "a": true}], "a": "x", "B": -7, "é": 1});
        assert_eq!(
            to_string(&v),
            r#"{"B":-7,"a":"x","b":[1,{"a":true,"z":null}],"é":1}"#
        );
    }

    #[test]
    fn strings_are_escaped_like_go() {
        let v = json!("q\"b\\\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}<>&\u{2028}\u{2029}é");
        assert_eq!(
            to_string(&v),
            "\"q\\\"b\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}<>&\\u2028\\u2029é\""
        );
    }

    #[test]
    fn output_parses_back_to_the_same_value() {
        let v = json!({"k\u{0}": ["\u{2028}", 18446744073709551615u64, -9223372036854775808i64]});
        let back: Value = serde_json::from_str(&to_string(&v)).expect("canonical JSON parses");
        assert_eq!(back, v);
    }
}
