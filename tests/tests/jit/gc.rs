//! `seg gc` on the bank example with planted expired rules: every other byte
//! of the file is kept (comments between the rules, layout), a policy whose
//! rules all expired goes with a note, `--check` reports without writing; on a
//! grants file `seg grant` wrote (canonical), the result stays canonical.

use super::project::{bank, bank_copy};
use crate::run::{code, seg_in, shown, stdout};

const NOW: &str = "2026-11-24T10:00:00Z";

/// Planted into `ledger-access`, after its last rule.
const PLANTED_RULES: &str = "
  // A comment between planted rules: stays.
  /// Planted: expired an hour ago.
  allow payments-worker -> kube-dns on tcp/8053
    expires 2026-11-24T09:00:00Z // OPS-77
    reason \"planted\"
  // Another comment that stays.
  allow payments-worker -> kube-dns on tcp/8054 expires 2026-11-24T10:00:00Z /* gone at now */
  allow payments-worker ->  kube-dns on tcp/8055 expires 2026-11-24T10:00:01Z
";

/// What stays of them.
const KEPT_RULES: &str = "
  // A comment between planted rules: stays.
  // Another comment that stays.
  allow payments-worker ->  kube-dns on tcp/8055 expires 2026-11-24T10:00:01Z
";

/// A policy whose rules all expired, before the test block.
const PLANTED_POLICY: &str = "/// Becomes empty.
policy planted-empty {
  owner \"team-platform\"
  allow payments-worker -> kube-dns on tcp/8056 expires 2026-11-20
  // between the two
  allow payments-worker -> kube-dns on tcp/8057 expires 2026-11-24T09:59:59Z
}

";

const ANCHOR_RULES: &str = "  deny any -> cloud-metadata on any\n";
const ANCHOR_POLICY: &str = "test \"ledger access\" {";

fn planted(original: &str, rules: &str, policy: &str) -> String {
    assert!(original.contains(ANCHOR_RULES) && original.contains(ANCHOR_POLICY));
    original
        .replacen(ANCHOR_RULES, &format!("{ANCHOR_RULES}{rules}"), 1)
        .replacen(ANCHOR_POLICY, &format!("{policy}{ANCHOR_POLICY}"), 1)
}

#[test]
fn gc_removes_expired_rules_of_the_example_and_keeps_every_other_byte() {
    let original =
        std::fs::read_to_string(bank().join("policy/payments.seg")).expect("bank policy");
    let with_planted = planted(&original, PLANTED_RULES, PLANTED_POLICY);
    // The policy's lines go; the blank line after it is not part of it and stays.
    let expected = planted(&original, KEPT_RULES, "\n");
    let p = bank_copy(&[("policy/payments.seg", &with_planted)]);
    let root = p.path();
    let file = root.join("policy/payments.seg");

    let check = seg_in(root, &["gc", "--check", "--now", NOW]);
    assert_eq!(code(&check), 1, "{}", shown(&check));
    assert_eq!(std::fs::read_to_string(&file).expect("read"), with_planted);
    assert!(
        stdout(&check).contains("4 expired rules to remove from 1 file"),
        "{}",
        shown(&check)
    );

    // A malformed instant or an offset beyond ±23:59: a usage error, nothing written.
    for bad in [
        "2026-11-24T10:00:00+25:00",
        "2026-11-24T25:00:00Z",
        "tomorrow",
    ] {
        let o = seg_in(root, &["gc", "--now", bad]);
        assert_eq!(code(&o), 2, "{bad}: {}", shown(&o));
        assert!(!crate::run::stderr(&o).is_empty(), "{bad}: no message");
        assert_eq!(std::fs::read_to_string(&file).expect("read"), with_planted);
    }

    let o = seg_in(root, &["gc", "--now", NOW]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    assert_eq!(std::fs::read_to_string(&file).expect("read"), expected);
    let listed = stdout(&o);
    for line in [
        "removed ledger-access/6 (policy/payments.seg:33): expired at 2026-11-24T09:00:00Z",
        "removed ledger-access/7 (policy/payments.seg:37): expired at 2026-11-24T10:00:00Z",
        "removed planted-empty/1 (policy/payments.seg:44): expired after 2026-11-20",
        "removed planted-empty/2 (policy/payments.seg:46): expired at 2026-11-24T09:59:59Z",
        "note: removed policy `planted-empty` (policy/payments.seg:42) as well: every rule of it had expired",
        "4 expired rules removed from 1 file",
    ] {
        assert!(listed.contains(line), "missing `{line}` in:\n{listed}");
    }
    // Nothing expired is left, and the project is as sound as before.
    let again = seg_in(root, &["gc", "--check", "--now", NOW]);
    assert_eq!(code(&again), 0, "{}", shown(&again));
    for args in [["check", "--now", NOW], ["test", "--now", NOW]] {
        let o = seg_in(root, &args);
        assert_eq!(code(&o), 0, "{args:?}: {}", shown(&o));
        assert!(!crate::run::stderr(&o).contains("W0304"), "{}", shown(&o));
    }
}

#[test]
fn gc_keeps_a_formatted_grants_file_formatted_and_refuses_to_break_a_test() {
    let p = bank_copy(&[]);
    let root = p.path();
    for (at, port) in [
        ("2026-11-24T08:00:00Z", "8053"),
        ("2026-11-24T09:00:00Z", "8054"),
    ] {
        let o = seg_in(
            root,
            &[
                "grant",
                &format!("payments-worker -> kube-dns on tcp/{port}"),
                "--for",
                "1h",
                "--reason",
                "r",
                "--owner",
                "a",
                "--now",
                at,
            ],
        );
        assert_eq!(code(&o), 0, "{}", shown(&o));
    }
    // The first grant has ended at 09:00, the second at 10:00; at 09:30 one goes.
    let o = seg_in(root, &["gc", "--now", "2026-11-24T09:30:00Z"]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    assert!(
        stdout(&o).contains("note: removed policy `grant-20261124-080000`"),
        "{}",
        shown(&o)
    );
    let text = std::fs::read_to_string(root.join("policy/grants.seg")).expect("grants");
    assert!(
        !text.contains("tcp/8053") && text.contains("tcp/8054"),
        "{text}"
    );
    let fmt = seg_in(root, &["fmt", "--check", "policy/grants.seg"]);
    assert_eq!(code(&fmt), 0, "{}\n{text}", shown(&fmt));

    // The bank's migration rule (expires 2026-12-31) is tested at a past instant:
    // removing it would fail that expectation, so nothing is written.
    let before = std::fs::read_to_string(root.join("policy/payments.seg")).expect("read");
    let o = seg_in(root, &["gc", "--now", "2027-01-01T00:00:00Z"]);
    assert_eq!(code(&o), 1, "{}", shown(&o));
    assert!(
        crate::run::stderr(&o).contains("policy/payments.seg:"),
        "{}",
        shown(&o)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("policy/payments.seg")).expect("read"),
        before
    );
    assert_eq!(
        std::fs::read_to_string(root.join("policy/grants.seg")).expect("read"),
        text,
        "a refused gc writes no file"
    );
}
