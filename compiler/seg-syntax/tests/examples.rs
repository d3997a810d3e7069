//! The bank example, the design document's example and every `seg` block of
//! `docs/language.md` parse.

mod common;

use seg_syntax::ast::{Item, SetExprKind};
use std::path::Path;

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The example of LANGUAGE.md §1, verbatim.
const DESIGN_EXAMPLE: &str = r#"// policy/payments.seg
use std::services::{postgres, https, dns}
use std::segments::{cloud-metadata}

/// Every production workload of the payments team.
segment payments = identities where team == "payments" and env == "prod" and kind == workload
segment ledger   = [ledger-postgres, ledger-replica]
segment ci       = identities where kind == ci_job
segment partners = network 203.0.113.0/24, 198.51.100.0/24

service ledger-api = tcp/8443

policy ledger-access {
  owner "team-payments"
  review-by 2027-03-01

  /// The API reads and writes the ledger.
  allow payments -> ledger on postgres when mtls

  /// Nightly schema migrations.
  allow ci -> ledger on postgres
    when time 01:00..03:00 utc
    expires 2026-12-31
    reason "ticket OPS-1234"

  allow partners -> payments-api on ledger-api, https
  allow payments -> kube-dns on dns

  deny any -> cloud-metadata on any
}

test "ledger access" {
  expect allow payments-api -> ledger-postgres on tcp/5432 with mtls
  expect deny  payments-api -> ledger-postgres on tcp/5432            // no mTLS
  expect deny  web-frontend -> ledger-postgres on tcp/5432 with mtls
  expect allow migrator-job -> ledger-postgres on tcp/5432 at 2026-11-23T01:30:00Z
  expect deny  migrator-job -> ledger-postgres on tcp/5432 at 2026-11-23T12:00:00Z
}
"#;

#[test]
fn design_document_example() {
    insta::assert_snapshot!(common::ast_snapshot(DESIGN_EXAMPLE));
}

#[test]
fn bank_example() {
    let src = repo_file("examples/bank/policy/payments.seg");
    let file = common::parse(&src).unwrap_or_else(|d| panic!("{}", common::render(&src, &d)));
    let kinds: Vec<&str> = file
        .items
        .iter()
        .map(|i| match i {
            Item::Use(_) => "use",
            Item::Segment(_) => "segment",
            Item::Service(_) => "service",
            Item::Policy(_) => "policy",
            Item::Context(_) => "context",
            Item::Test(_) => "test",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "use", "use", "segment", "segment", "segment", "segment", "service", "policy", "test"
        ]
    );
    let Some(Item::Policy(p)) = file.items.iter().find(|i| matches!(i, Item::Policy(_))) else {
        panic!("policy")
    };
    assert_eq!(p.rules.len(), 5);
    assert!(matches!(p.rules[4].src.node, SetExprKind::Any));
    insta::assert_snapshot!(common::ast_snapshot(&src));
}

/// The fenced ```seg blocks of a Markdown file: (line, source, marked `error`).
fn seg_blocks(doc: &str) -> Vec<(usize, String, bool)> {
    let mut blocks = Vec::new();
    let mut lines = doc.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```seg") else {
            continue;
        };
        let want_error = info.trim() == ",error";
        let body: Vec<&str> = lines
            .by_ref()
            .map(|(_, l)| l)
            .take_while(|l| !l.trim_start().starts_with("```"))
            .collect();
        blocks.push((n + 1, body.join("\n"), want_error));
    }
    blocks
}

fn check_blocks(rel: &str) -> usize {
    let blocks = seg_blocks(&repo_file(rel));
    for (line, src, want_error) in &blocks {
        match (common::parse(src), want_error) {
            (Ok(_), false) | (Err(_), true) => {}
            (Err(d), false) => panic!(
                "{rel}:{line}: example does not parse\n{}",
                common::render(src, &d)
            ),
            (Ok(_), true) => panic!("{rel}:{line}: example marked `error` parses"),
        }
    }
    blocks.len()
}

/// Every fenced ```seg block of the language reference parses, so the
/// reference cannot drift from the grammar. Blocks fenced as ```seg,error
/// must fail.
#[test]
fn language_reference_examples() {
    let blocks = check_blocks("docs/language.md");
    assert!(
        blocks >= 12,
        "expected the reference to have many examples, found {blocks}"
    );
}

/// The examples of the parser's diagnostic pages fail as they say.
#[test]
fn parser_diagnostic_page_examples() {
    for code in ["E0001", "E0002", "E0003"] {
        let rel = format!("docs/diagnostics/{code}.md");
        let blocks = seg_blocks(&repo_file(&rel));
        assert!(!blocks.is_empty(), "{rel} has an example");
        for (line, src, _) in blocks {
            let d = common::parse(&src).expect_err(&format!("{rel}:{line} should not parse"));
            assert_eq!(
                d.code.map(|c| c.as_str()),
                Some(code),
                "{rel}:{line}: {}",
                d.message
            );
        }
    }
}
