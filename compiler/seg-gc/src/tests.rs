use super::*;

fn now() -> Timestamp {
    Timestamp::parse("2026-11-24T12:00:00Z").expect("now")
}

fn gc(text: &str) -> Collected {
    collect(FileId(0), text, now()).expect("parses")
}

/// The removal cut exactly its ranges: the rest of the text is byte for byte
/// the original.
fn assert_only_cut(original: &str, c: &Collected) {
    let mut kept = String::new();
    let mut at = 0;
    for r in &c.removed {
        kept.push_str(&original[at..r.range.start]);
        at = r.range.end;
    }
    kept.push_str(&original[at..]);
    assert_eq!(kept, c.text);
}

#[test]
fn expired_rules_go_with_their_lines_and_docs_comments_between_stay() {
    let text = "\
// The on-call policy.
policy oncall {
  owner \"team\"

  /// Ended an hour ago.
  allow a -> b on tcp/1
    expires 2026-11-24T11:00:00Z // OPS-1
    reason \"r\"

  // a comment between the rules
  allow a -> b on tcp/2 expires 2026-11-24T12:00:01Z

  allow a -> b on tcp/3 expires 2026-11-23 /* yesterday, whole day */
  allow a -> b on tcp/4
}
";
    let c = gc(text);
    assert_only_cut(text, &c);
    assert_eq!(
        c.text,
        "\
// The on-call policy.
policy oncall {
  owner \"team\"


  // a comment between the rules
  allow a -> b on tcp/2 expires 2026-11-24T12:00:01Z

  allow a -> b on tcp/4
}
"
    );
    let labels: Vec<(&str, usize)> = c
        .removed
        .iter()
        .flat_map(|r| r.rules.iter().map(|x| (x.label.as_str(), x.line)))
        .collect();
    assert_eq!(labels, [("oncall/1", 6), ("oncall/3", 13)]);
    assert!(c.removed.iter().all(|r| !r.whole_policy));
    assert_eq!(c.removed[0].line, 6, "the rule's own line");
    assert_eq!(
        c.removed[0].range.start,
        text.find("  /// Ended").expect("doc")
    );
}

#[test]
fn the_second_of_the_end_is_expired_the_one_before_is_not() {
    let text = "policy p {\n  allow a -> b on tcp/1 expires 2026-11-24T12:00:00Z\n  allow a -> b on tcp/2 expires 2026-11-24T12:00:01Z\n  allow a -> b on tcp/3 expires 2026-11-24\n}\n";
    let c = gc(text);
    let labels: Vec<&str> = c
        .removed
        .iter()
        .flat_map(|r| r.rules.iter().map(|x| x.label.as_str()))
        .collect();
    assert_eq!(labels, ["p/1"], "a date is live through its whole day");
}

#[test]
fn a_policy_whose_rules_all_expired_goes_whole_with_its_doc() {
    let text = "\
use std::services::{dns}

/// A grant.
policy grant-1 {
  owner \"alice\"
  allow a -> b on tcp/1 expires 2026-11-24T10:00:00Z
  allow a -> b on dns expires 2026-11-20
}

// Kept.
policy other {
  allow a -> b on tcp/9
}
";
    let c = gc(text);
    assert_only_cut(text, &c);
    assert_eq!(
        c.text,
        "use std::services::{dns}\n\n\n// Kept.\npolicy other {\n  allow a -> b on tcp/9\n}\n"
    );
    assert_eq!(c.removed.len(), 1);
    assert!(c.removed[0].whole_policy);
    assert_eq!(c.removed[0].rules.len(), 2);
    assert_eq!(c.removed[0].policy, "grant-1");
}

#[test]
fn a_rule_sharing_its_line_is_cut_out_alone() {
    let text = "policy p { allow a -> b on tcp/1 expires 2026-01-01  allow a -> b on tcp/2 }\npolicy q { allow a -> b on tcp/3 expires 2026-01-01 }\n";
    let c = gc(text);
    assert_only_cut(text, &c);
    assert_eq!(c.text, "policy p { allow a -> b on tcp/2 }\n");
    assert!(seg_syntax::parse(FileId(0), &c.text).is_ok());
}

#[test]
fn nothing_expired_changes_nothing_and_bad_text_is_an_error() {
    let text = "policy p {\n  allow a -> b on tcp/1 expires 2027-01-01\n}\n";
    let c = gc(text);
    assert!(c.removed.is_empty());
    assert_eq!(c.text, text);
    assert!(collect(FileId(0), "policy p {", now()).is_err());
}
