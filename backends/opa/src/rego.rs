//! The Rego files of the bundle. The policy itself is fixed text (rules
//! live in data, so policy size does not grow with the program); only the
//! glob matcher is sized to the longest glob, and the tests file lists one
//! rule per expectation. Nothing from the program is written into Rego but
//! sanitised identifiers and comments: names reach OPA only through data.

use crate::model::TestCase;
use std::fmt::Write;

const AUTHZ: &str = include_str!("rego/authz.rego");
const ENVOY: &str = include_str!("rego/envoy.rego");

/// `# ` comment lines for the header.
pub fn header(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("# {}\n", comment(l)))
        .collect()
}

/// `seg/authz.rego` with a glob matcher for up to `pieces` middle pieces.
pub fn authz(header: &str, pieces: usize) -> String {
    let mut out = format!("{header}\n{AUTHZ}");
    out.push_str("\n# The middle pieces of a glob, in order (one rule per count).\n");
    out.push_str("_glob_pieces(ms, _) if count(ms) == 0\n");
    for k in 1..=pieces.max(1) {
        out.push_str("\n_glob_pieces(ms, s0) if {\n");
        let _ = writeln!(out, "\tcount(ms) == {k}");
        for j in 0..k - 1 {
            let _ = writeln!(out, "\ti{j} := indexof(s{j}, ms[{j}])");
            let _ = writeln!(out, "\ti{j} >= 0");
            let _ = writeln!(
                out,
                "\ts{} := substring(s{j}, i{j} + count(ms[{j}]), -1)",
                j + 1
            );
        }
        let _ = writeln!(out, "\tcontains(s{}, ms[{}])", k - 1, k - 1);
        out.push_str("}\n");
    }
    out
}

/// `seg/envoy.rego`.
pub fn envoy(header: &str) -> String {
    format!("{header}\n{ENVOY}")
}

/// `seg/authz_test.rego`: one `test_` rule per expectation, each deciding the
/// input stored with its case in `data.seg.tests.cases`.
pub fn tests(header: &str, cases: &[TestCase]) -> String {
    let mut out = format!(
        "{header}\npackage seg.authz_test\n\n# One rule per `expect` of the policy's test blocks.\n"
    );
    for (i, case) in cases.iter().enumerate() {
        let want = if case.expect == "allow" {
            "true"
        } else {
            "false"
        };
        let _ = write!(
            out,
            "\n# {}: expect {}\n{} if {{\n\tdata.seg.authz.allow == {want} with input as data.seg.tests.cases[{i}].input\n}}\n",
            comment(&case.test),
            case.expect,
            case.rule,
        );
    }
    out
}

/// The `test_` rule name of a case: its position and the test name in
/// lowercase ASCII letters, digits and underscores.
pub fn test_rule_name(position: usize, test: &str) -> String {
    let mut slug = String::new();
    for c in test.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('_') && !slug.is_empty() {
            slug.push('_');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('_');
    if slug.is_empty() {
        format!("test_{position}")
    } else {
        format!("test_{position}_{slug}")
    }
}

/// Text safe inside a `#` comment: one line, printable, at most 200 characters.
fn comment(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_control() || is_line_break(c) {
                ' '
            } else {
                c
            }
        })
        .take(200)
        .collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_are_identifiers() {
        assert_eq!(
            test_rule_name(3, "Ledger access: nightly!"),
            "test_3_ledger_access_nightly"
        );
        assert_eq!(test_rule_name(1, "€€€"), "test_1");
        assert_eq!(
            test_rule_name(2, "\n}\nallow if true\n#"),
            "test_2_allow_if_true"
        );
        assert!(test_rule_name(9, &"x".repeat(10_000)).len() < 60);
    }

    #[test]
    fn comments_stay_on_one_line() {
        assert_eq!(comment("a\nb\r\u{2028}c\u{0}"), "a b  c ");
        assert_eq!(header(&["x\ny".into()]), "# x y\n");
    }

    #[test]
    fn glob_matcher_has_one_rule_per_piece_count() {
        let text = authz("", 3);
        assert!(text.contains("count(ms) == 3"));
        assert!(!text.contains("count(ms) == 4"));
        assert!(
            text.contains("\ts2 := substring(s1, i1 + count(ms[1]), -1)\n\tcontains(s2, ms[2])")
        );
    }
}
