//! The `rules` of an AuthorizationPolicy as YAML, written here rather than by
//! serde-saphyr: they are nearly all of the target's bytes (millions of
//! principals at scale), and written by hand each value list is one flow
//! sequence without a space after its commas (`[a,b]`, valid in YAML 1.1 and
//! 1.2 alike), each value plain or double-quoted by the rule of [`plain`].
//! The layout is the one serde-saphyr gives the rest of the object (two
//! spaces per level, list items at their key's indentation), and `rules` is
//! the last field of the object, so the text is appended to what serde-saphyr
//! wrote for the others.

use crate::model::{Operation, PolicyRule, Source};

/// Whether a value is written plain (unquoted): only when it is not empty,
/// its first character is an ASCII letter or digit, every character is one
/// of `A–Z a–z 0–9 . _ / -`, and it contains a `/`. Such a value is the same
/// string for every reader the output meets, YAML 1.1 (kubectl's go-yaml
/// through sigs.k8s.io/yaml, PyYAML in network-config-analyzer) and YAML 1.2:
/// - as syntax it is one plain scalar inside a flow sequence: it starts with
///   no indicator and holds no space, `:`, `#`, quote or flow indicator
///   (`,[]{}`), so nothing ends it early, starts a comment or a mapping, and
///   it is never a document marker (`---`, `...`);
/// - as a type it stays a string: no implicit type of YAML 1.1 (bool, null,
///   int with its base-60 form, float, timestamp, merge `<<`, value `=`) nor
///   of the YAML 1.2 core and JSON schemas matches anything with a `/`.
///
/// Every principal of a Kubernetes service account and every CIDR but IPv6
/// ones qualify. Everything else is double quoted: namespaces (a DNS label
/// can spell `no`, `1e3` or a date), ports (strings in Istio: `"443"`),
/// IPv6 CIDRs (a `:` in a flow scalar trips old parsers), methods and paths.
fn plain(value: &str) -> bool {
    let mut slash = false;
    value
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphanumeric)
        && value.bytes().all(|b| {
            slash |= b == b'/';
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-')
        })
        && slash
}

/// `value` as a YAML double-quoted scalar: `"` and `\` escaped, and every
/// character that is not printable in YAML 1.1 and 1.2, or that YAML 1.1
/// reads as a line break (NEL, U+2028, U+2029) or a byte order mark, as a
/// `\u`/`\U` escape; any other character is written as is.
fn quoted(value: &str, out: &mut String) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            '\u{2028}' | '\u{2029}' | '\u{feff}' => escape(c, out),
            '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'.. => out.push(c),
            _ => escape(c, out),
        }
    }
    out.push('"');
}

fn escape(c: char, out: &mut String) {
    use std::fmt::Write;
    let code = u32::from(c);
    // Writing to a String cannot fail.
    let _ = if code <= 0xffff {
        write!(out, "\\u{code:04X}")
    } else {
        write!(out, "\\U{code:08X}")
    };
}

pub fn scalar(value: &str, out: &mut String) {
    if plain(value) {
        out.push_str(value);
    } else {
        quoted(value, out);
    }
}

/// `<indent><key>: [a,b]` and a newline; nothing for an empty list (in Istio
/// an absent field means "any").
fn list(indent: &str, key: &str, values: &[String], out: &mut String) {
    if values.is_empty() {
        return;
    }
    out.push_str(indent);
    out.push_str(key);
    out.push_str(": [");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        scalar(v, out);
    }
    out.push_str("]\n");
}

/// `  rules:` and its items, indented as the fields of `spec`.
pub fn write(rules: &[PolicyRule], out: &mut String) {
    if rules.is_empty() {
        return;
    }
    out.push_str("  rules:\n");
    for rule in rules {
        if rule.from.is_empty() && rule.to.is_empty() {
            out.push_str("  - {}\n");
            continue;
        }
        let mut item = "  - ";
        if !rule.from.is_empty() {
            out.push_str(item);
            out.push_str("from:\n");
            for from in &rule.from {
                source(&from.source, out);
            }
            item = "    ";
        }
        if !rule.to.is_empty() {
            out.push_str(item);
            out.push_str("to:\n");
            for to in &rule.to {
                operation(&to.operation, out);
            }
        }
    }
}

fn source(s: &Source, out: &mut String) {
    if s.principals.is_empty() && s.namespaces.is_empty() && s.ip_blocks.is_empty() {
        out.push_str("    - source: {}\n");
        return;
    }
    out.push_str("    - source:\n");
    let indent = "        ";
    list(indent, "principals", &s.principals, out);
    list(indent, "namespaces", &s.namespaces, out);
    list(indent, "ipBlocks", &s.ip_blocks, out);
}

fn operation(o: &Operation, out: &mut String) {
    let lists = [
        ("ports", &o.ports),
        ("notPorts", &o.not_ports),
        ("methods", &o.methods),
        ("notMethods", &o.not_methods),
        ("paths", &o.paths),
        ("notPaths", &o.not_paths),
    ];
    if lists.iter().all(|(_, v)| v.is_empty()) {
        out.push_str("    - operation: {}\n");
        return;
    }
    out.push_str("    - operation:\n");
    for (key, values) in lists {
        list("        ", key, values, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{From, To};

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn rules_are_laid_out_as_the_rest_of_the_object_with_compact_flow_lists() {
        let source = |s: Source| From { source: s };
        let rules = vec![
            PolicyRule {
                from: vec![
                    source(Source {
                        principals: strings(&["td/ns/a/sa/b", "td/ns/a/sa/c"]),
                        ..Source::default()
                    }),
                    source(Source {
                        ip_blocks: strings(&["10.0.0.0/8", "fd00::/8"]),
                        ..Source::default()
                    }),
                ],
                to: vec![To {
                    operation: Operation {
                        ports: strings(&["443", "8443"]),
                        methods: strings(&["GET"]),
                        paths: strings(&["/api/*"]),
                        ..Operation::default()
                    },
                }],
            },
            PolicyRule {
                from: Vec::new(),
                to: vec![To {
                    operation: Operation {
                        not_ports: strings(&["22"]),
                        ..Operation::default()
                    },
                }],
            },
            PolicyRule {
                from: vec![source(Source {
                    namespaces: strings(&["no"]),
                    ..Source::default()
                })],
                to: Vec::new(),
            },
            PolicyRule {
                from: Vec::new(),
                to: Vec::new(),
            },
        ];
        let mut out = String::new();
        write(&rules, &mut out);
        assert_eq!(
            out,
            r#"  rules:
  - from:
    - source:
        principals: [td/ns/a/sa/b,td/ns/a/sa/c]
    - source:
        ipBlocks: [10.0.0.0/8,"fd00::/8"]
    to:
    - operation:
        ports: ["443","8443"]
        methods: ["GET"]
        paths: ["/api/*"]
  - to:
    - operation:
        notPorts: ["22"]
  - from:
    - source:
        namespaces: ["no"]
  - {}
"#
        );
    }

    #[test]
    fn only_values_with_a_slash_and_no_indicator_are_plain() {
        for v in [
            "cluster.local/ns/shop/sa/api",
            "spiffe.example_td/ns/a-b/sa/c.d",
            "10.0.0.0/8",
            "2001/1",
            "yes/no",
        ] {
            assert!(plain(v), "{v}");
        }
        for v in [
            "",
            "443",
            "no",
            "Y",
            "null",
            "~",
            "1e3",
            "0x1F",
            "2001-12-14",
            "1:20",
            "GET",
            "/api/*",
            "/api",
            "-a/b",
            ".a/b",
            "_a/b",
            "a b/c",
            "a,b/c",
            "a:b/c",
            "a#b/c",
            "fd00::/8",
            "a/b]",
            "a/b\n",
            "é/x",
            "a/*",
        ] {
            assert!(!plain(v), "{v:?}");
        }
    }

    #[test]
    fn quoted_values_escape_what_yaml_would_not_keep() {
        let mut out = String::new();
        quoted(
            "a\"b\\c\td\n\r\0\u{7f}\u{85}\u{a0}é\u{2028}\u{2029}\u{feff}\u{fffe}😀",
            &mut out,
        );
        assert_eq!(
            out,
            "\"a\\\"b\\\\c\\u0009d\\u000A\\u000D\\u0000\\u007F\\u0085\u{a0}é\\u2028\\u2029\\uFEFF\\uFFFE😀\""
        );
    }
}
