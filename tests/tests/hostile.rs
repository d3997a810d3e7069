//! A corpus of hostile values (quotes, backslashes, line breaks, NUL, shell,
//! iptables, YAML, JSON, Terraform and Rego metacharacters, paths, Unicode
//! look-alikes, 10k-character strings, empty strings) placed in every
//! position of a project a user controls — inventory fields, policy strings,
//! names and doc comments, file names, the project name — and built with the
//! real `seg` binary for every target.
//!
//! Each value must either be rejected with a diagnostic that points at it
//! (exit 1, the previous output untouched) or be carried through: every
//! output parses with its real reader, keeps the structure of the same
//! project built with benign values (no extra rule, key, jump or file), holds
//! the value exactly where the format carries it as data, and stays inside
//! `--out`. Many values share one build; a rejected value is put back to its
//! benign stand-in and the build repeated, so every value is judged.
//!
//! The outcome per position is snapshotted, so a change in what seg accepts
//! is reviewed. `HOSTILE_FILTER=<label part>` / `HOSTILE_MAX=<n>` narrow the
//! corpus (no snapshot then); `HOSTILE_MANIFEST_ALL=1` builds every value as
//! a project name instead of a representative few.

#[path = "hostile/mod.rs"]
mod hostile;

use hostile::corpus;
use hostile::project::Case;

/// The values tried as the project name (one build each).
const PROJECT_NAMES: &[&str] = &[
    "quoted-word",
    "backslash",
    "newline",
    "nul",
    "escape-sequence",
    "rtl-override",
    "command-substitution",
    "iptables-line",
    "yaml-mapping",
    "yaml-document-start",
    "json-inject",
    "terraform-interpolation",
    "terraform-directive",
    "rego-break",
    "traversal",
    "slash",
    "cyrillic-a",
    "long-ascii-10k",
    "long-quotes-10k",
    "only-space",
    "empty",
];

fn narrowed() -> bool {
    std::env::var_os("HOSTILE_FILTER").is_some() || std::env::var_os("HOSTILE_MAX").is_some()
}

fn judge(test: &str, cases: Vec<Case>) {
    let (outcomes, problems) = hostile::check(test, &cases);
    let shown: Vec<String> = problems
        .iter()
        .map(|p| {
            let short: String = p.chars().take(3000).collect();
            if short.len() < p.len() {
                format!("{short}…")
            } else {
                short
            }
        })
        .collect();
    assert!(
        problems.is_empty(),
        "{} problem(s):\n\n{}",
        problems.len(),
        shown.join("\n\n")
    );
    if !narrowed() {
        insta::assert_snapshot!(test, hostile::summary(&cases, &outcomes));
    }
}

#[test]
fn inventory_values_are_rejected_or_carried_through() {
    let values = corpus::values();
    let mut cases = vec![Case::inventory(values.clone())];
    // Identity names also through CloudFormation, whose templates hold at
    // most 500 resources: 80 names make about 400.
    for (i, chunk) in values.chunks(80).enumerate() {
        cases.push(Case::names(&format!("names-{i}"), chunk.to_vec()));
    }
    judge("inventory", cases);
}

#[test]
fn policy_values_are_rejected_or_carried_through() {
    judge("policy", vec![Case::policy(corpus::values())]);
}

#[test]
fn project_names_are_rejected_or_carried_through() {
    let all = std::env::var_os("HOSTILE_MANIFEST_ALL").is_some();
    let cases = corpus::values()
        .into_iter()
        .filter(|v| all || narrowed() || PROJECT_NAMES.contains(&v.label.as_str()))
        .map(Case::manifest)
        .collect();
    judge("manifest", cases);
}
