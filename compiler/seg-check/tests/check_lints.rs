//! Lints (W03xx): what each reports and, as important, what it leaves alone.

mod check_util;

use check_util::{INVENTORY, report, run};
use insta::assert_snapshot;

fn main_seg(src: &str) -> String {
    report(INVENTORY, &[("policy/main.seg", src)])
}

fn codes(src: &str) -> Vec<&'static str> {
    let out = run(INVENTORY, &[("policy/main.seg", src)]);
    assert!(out.program.is_some(), "{}", out.rendered());
    out.codes()
}

#[test]
fn owners_and_review_dates() {
    assert_snapshot!(main_seg(
        r#"policy orphan {
  review-by 2026-11-23
  allow api -> db on tcp/1
  allow api -> db on tcp/2 owner "team-data"
}
policy owned {
  owner "team-web"
  review-by 2026-11-24
  allow web -> db on tcp/3
}"#
    ));
}

#[test]
fn expiring_soon_means_within_fourteen_days() {
    let src = r#"policy main {
  owner "o"
  allow api -> db on tcp/1 expires 2026-12-08
  allow api -> db on tcp/2 expires 2026-12-09
}"#;
    let out = run(INVENTORY, &[("policy/main.seg", src)]);
    assert_eq!(out.codes(), ["W0303"], "{}", out.rendered());
    assert!(
        out.rendered().contains("rule expires in 14 days"),
        "{}",
        out.rendered()
    );
    assert!(
        out.rendered().contains("policy/main.seg:3:"),
        "{}",
        out.rendered()
    );
}

#[test]
fn over_broad_allows_but_not_denies() {
    assert_snapshot!(main_seg(
        r#"policy main {
  owner "o"
  allow any -> api on tcp/443
  allow network 0.0.0.0/0 -> api on tcp/444
  allow web -> api on any
  allow api <-> (any - [db]) on tcp/445
  deny any -> db on any
  allow network 10.0.0.0/8 -> web on tcp/80
}"#
    ));
}

#[test]
fn shadowed_and_duplicate_rules() {
    assert_snapshot!(main_seg(
        r#"segment payments = identities where team == "payments"
policy main {
  owner "o"
  allow api -> db on tcp/5432 when mtls
  allow payments -> db on tcp/5432
  allow api -> db on tcp/5432 when time 01:00..02:00
  allow worker -> db on tcp/5432 expires 2027-01-31
  allow web -> db on tcp/80
  allow web -> db on tcp/80
}
policy other {
  owner "o"
  allow web -> db on tcp/80 when mtls
  allow network 10.0.0.2/32 -> db on tcp/5432
}"#
    ));
}

#[test]
fn coverage_needs_an_equal_or_weaker_condition_and_a_longer_life() {
    // Different conditions, or a cover that expires first: nothing to report.
    let src = r#"policy main {
  owner "o"
  allow api -> db on tcp/1 when mtls
  allow api -> db on tcp/1 when time 01:00..02:00
  allow api -> db on tcp/2
  allow api -> db on tcp/2-3 expires 2027-01-01
  allow api -> db on tcp/4 when source.env == "prod" or mtls
}"#;
    assert_eq!(codes(src), Vec::<&str>::new());
}

#[test]
fn allows_cancelled_by_unconditional_denies() {
    assert_snapshot!(main_seg(
        r#"policy main {
  owner "o"
  allow api -> db on tcp/5432
  allow web -> db on tcp/50-150
  allow worker -> api | db on tcp/9000
  allow api -> web on tcp/443
  deny any -> db on tcp/5432
  deny web -> db on tcp/1-100
  deny web -> db on tcp/101-200
  deny worker -> [api] on tcp/9000
  deny worker -> [db] on tcp/9000
  deny api -> web on tcp/443 when mtls
}"#
    ));
}

#[test]
fn a_deny_that_ends_first_does_not_cancel() {
    let src = r#"policy main {
  owner "o"
  allow api -> db on tcp/1
  deny api -> db on tcp/1 expires 2027-01-01
  allow api -> db on tcp/2 expires 2026-12-30
  deny api -> db on tcp/2 expires 2027-01-01
}"#;
    let out = run(INVENTORY, &[("policy/main.seg", src)]);
    assert_eq!(out.codes(), ["W0307"], "{}", out.rendered());
    assert!(
        out.rendered().contains("main.seg:5:3"),
        "{}",
        out.rendered()
    );
}

#[test]
fn unused_and_empty_definitions() {
    assert_snapshot!(report(
        INVENTORY,
        &[
            (
                "policy/common.seg",
                "segment shared = [db]\nservice exported = tcp/7000\nservice internal = tcp/7001\n",
            ),
            (
                "policy/main.seg",
                r#"use std::services::{https, dns}
use ./common.seg::{shared, exported}
segment typo = identities where team == "paymnets"
segment none = [api] & [db]
segment unused = [web]
segment nets = network 192.0.2.0/24
service admin = tcp/9000
service web-ports = https, tcp/80
policy main {
  owner "o"
  allow typo | none | nets -> db on web-ports
}"#
            ),
        ]
    ));
}

#[test]
fn the_stdlib_is_never_linted() {
    let src = "use std::segments::{cloud-metadata}\npolicy main {\n  owner \"o\"\n  deny web -> cloud-metadata on tcp/80\n}\n";
    assert_eq!(codes(src), Vec::<&str>::new());
}
