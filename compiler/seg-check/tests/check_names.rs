//! Scopes and names: imports, unknown names with suggestions, duplicates,
//! cycles, context inputs, disabled and expired identities (E02xx, W0201).

mod check_util;

use check_util::{INVENTORY, report, run};
use insta::assert_snapshot;

#[test]
fn files_see_their_own_definitions_and_what_they_import() {
    let common = "segment partners = network 203.0.113.0/24\nservice admin = tcp/9000\nsegment private = [db]\n";
    let main = r#"use ./common.seg::{partners, admin}
use std::services::{https}
policy main {
  owner "team-web"
  allow partners -> web on https, admin
}"#;
    let out = run(
        INVENTORY,
        &[("policy/common.seg", common), ("policy/main.seg", main)],
    );
    assert_eq!(out.codes(), ["W0308"], "{}", out.rendered());
    let p = out.program();
    assert_eq!(p.rules.len(), 1);
    assert_eq!(p.rules[0].services.to_string(), "tcp/443, tcp/9000");
    assert_eq!(p.rules[0].provenance.file, "policy/main.seg");
}

#[test]
fn a_definition_in_another_file_needs_a_use() {
    let a = "segment partners = network 203.0.113.0/24\n";
    let b = "policy main {\n  owner \"o\"\n  allow partners -> web on tcp/443\n}\n";
    assert_snapshot!(report(
        INVENTORY,
        &[("policy/a.seg", a), ("policy/sub/b.seg", b)]
    ));
}

#[test]
fn unknown_names_suggest_the_nearest_or_an_import() {
    assert_snapshot!(report(
        INVENTORY,
        &[(
            "policy/main.seg",
            r#"segment payments = identities where team == "payments"
segment mixed = [payments, dbb]
policy main {
  owner "team-payments"
  allow paymnets -> db on tcp/5432
  allow api -> cloud-metadata on postgres
  allow api -> db on tcp/5432, ledger-api
}"#
        )]
    ));
}

#[test]
fn unresolved_imports() {
    assert_snapshot!(report(
        INVENTORY,
        &[
            (
                "policy/common.seg",
                "segment partners = network 203.0.113.0/24\n"
            ),
            (
                "policy/main.seg",
                r#"use std::service::{https}
use ./comon.seg::{partners}
use ./common.seg::{partner}
use std::services::{postgress}
policy main {
  owner "o"
  allow api -> db on tcp/1
}"#
            ),
        ]
    ));
}

#[test]
fn duplicates_point_at_the_first_definition() {
    assert_snapshot!(report(
        INVENTORY,
        &[
            (
                "policy/a.seg",
                r#"use std::services::{https}
service https = tcp/8443
segment web-tier = [web]
segment web-tier = [api]
context { region: string, region: string }
policy main {
  owner "o"
  allow web-tier -> db on https
}
test "t" { expect allow web -> db on tcp/8443 }"#
            ),
            (
                "policy/b.seg",
                r#"policy main {
  owner "o"
  allow api -> db on tcp/1
}
test "t" { expect allow api -> db on tcp/1 }"#
            ),
        ]
    ));
}

#[test]
fn cycles_are_reported_once_and_do_not_cascade() {
    assert_snapshot!(report(
        INVENTORY,
        &[(
            "policy/main.seg",
            r#"segment a = b | [api]
segment b = c & any
segment c = a - [db]
segment d = a | [web]
segment self = self | [db]
service s1 = tcp/1, s2
service s2 = s1
policy main {
  owner "o"
  allow d -> db on s1
  allow self -> db on tcp/2
}"#
        )]
    ));
}

#[test]
fn long_segment_chains_do_not_exhaust_the_stack() {
    let n = 3000;
    let mut src = String::new();
    for i in 0..n {
        src.push_str(&format!("segment s{i} = s{}\n", i + 1));
    }
    src.push_str(&format!("segment s{n} = [api]\n"));
    src.push_str("policy main {\n  owner \"o\"\n  allow s0 -> db on tcp/1\n}\n");
    let out = run(INVENTORY, &[("policy/main.seg", &src)]);
    assert!(out.codes().is_empty(), "{}", out.rendered());
    let p = out.program();
    assert_eq!(p.rules[0].src.identities.len(), 1);

    // The same chain closed into a loop: one error, no overflow.
    let looped = src.replace(
        &format!("segment s{n} = [api]"),
        &format!("segment s{n} = s0"),
    );
    let out = run(INVENTORY, &[("policy/main.seg", &looped)]);
    assert_eq!(out.codes(), ["E0206"], "{}", out.rendered());
}

#[test]
fn long_operator_chains_are_evaluated_without_recursion() {
    let names = ["api", "worker", "db", "web"];
    let expr: Vec<&str> = (0..250).map(|i| names[i % 4]).collect();
    let src = format!(
        "policy main {{\n  owner \"o\"\n  allow {} -> db on tcp/1\n}}\n",
        expr.join(" | ")
    );
    let out = run(INVENTORY, &[("policy/main.seg", &src)]);
    assert!(out.codes().is_empty(), "{}", out.rendered());
    assert_eq!(out.program().rules[0].src.identities.len(), 4);
}

#[test]
fn disabled_and_expired_identities_are_errors_where_named() {
    assert_snapshot!(report(
        INVENTORY,
        &[(
            "policy/main.seg",
            r#"segment legacy = [old-batch, db]
segment all-prod = identities where has(owner)
policy main {
  owner "o"
  allow legacy -> db on tcp/1
  allow all-prod -> db on tcp/2
}
test "t" {
  expect deny contractor -> db on tcp/1
  expect deny api -> dbb on tcp/1
}"#
        )]
    ));
}

#[test]
fn a_segment_may_hide_an_identity_but_is_told() {
    let inventory = format!(
        "{INVENTORY}  - name: cloud-metadata\n    kind: workload\n    addresses: [10.9.0.1/32]\n"
    );
    assert_snapshot!(report(
        &inventory,
        &[(
            "policy/main.seg",
            r#"use std::segments::{cloud-metadata}
segment web = [web]
policy main {
  owner "o"
  deny web -> cloud-metadata on any
}"#
        )]
    ));
}

#[test]
fn undeclared_context_inputs_suggest_declared_ones() {
    assert_snapshot!(report(
        INVENTORY,
        &[(
            "policy/main.seg",
            r#"context { region: enum[eu, us] }
policy main {
  owner "o"
  allow web -> api on tcp/443 when context.regoin == "eu"
}
test "t" { expect allow web -> api on tcp/443 with context.zone = "a" }"#
        )]
    ));
}
