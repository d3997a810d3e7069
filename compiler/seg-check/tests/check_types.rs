//! Types against the inventory and the policy semantics checks (E03xx).

mod check_util;

use check_util::{INVENTORY, report, run};
use insta::assert_snapshot;

fn main_seg(src: &str) -> String {
    report(INVENTORY, &[("policy/main.seg", src)])
}

#[test]
fn attribute_values_must_have_the_declared_type() {
    assert_snapshot!(main_seg(
        r#"segment a = identities where tier == "1"
segment b = identities where env == prod
segment c = identities where pci == "true"
segment d = identities where team == 3
segment e = identities where tier in [1, "2"] or labels.app == 1
segment f = identities where tier matches "1*"
segment g = identities where team
segment h = identities where labels == "x" or has(region.name)
policy main {
  owner "o"
  allow a | b | c | d | e | f | g | h -> db on tcp/1
}"#
    ));
}

#[test]
fn enum_and_kind_values_must_exist() {
    assert_snapshot!(main_seg(
        r#"segment a = identities where env in ["prod", "live"]
segment b = identities where kind == robot
segment c = identities where kind == "ci_jb"
segment ok = identities where kind == "workload" and env != "dev" and pci and has(labels.app)
policy main {
  owner "o"
  allow a | b | c | ok -> db on tcp/1
}"#
    ));
}

#[test]
fn condition_attributes_are_typed() {
    assert_snapshot!(main_seg(
        r#"context { region: enum[eu, us], tenant: string }
policy main {
  owner "o"
  allow api -> db on tcp/1 when source.tier == "1"
  allow api -> db on tcp/2 when request.method == 1 or request.host == "x"
  allow api -> db on tcp/3 when context.region == "mars" or context.tenant
  allow api -> db on tcp/4 when request.method or source
  allow api -> db on tcp/5 when context.region matches "e*" and source.tier matches "1"
}"#
    ));
}

#[test]
fn time_windows_must_have_two_different_ends() {
    assert_snapshot!(main_seg(
        r#"policy main {
  owner "o"
  allow api -> db on tcp/1 when time 09:00..09:00
  allow api -> db on tcp/2 when time 24:00..01:00
  allow api -> db on tcp/3 when time 22:00..02:00 and days sat, sun
}"#
    ));
}

#[test]
fn unreachable_destinations_named_explicitly_are_errors() {
    assert_snapshot!(main_seg(
        r#"segment keys = identities where kind == api_key
policy main {
  owner "o"
  allow api -> report-key on tcp/443
  allow api -> [db, report-key, ci-runner] on tcp/443
  allow report-key <-> api on tcp/443
  allow api -> keys | [db] on tcp/444
  allow api -> any - [report-key] on tcp/445
}"#
    ));
}

#[test]
fn identity_conditions_need_identity_sets() {
    assert_snapshot!(main_seg(
        r#"segment partners = network 203.0.113.0/24
segment office = network 10.0.0.0/16 | [web]
policy main {
  owner "o"
  allow partners -> api on tcp/443 when mtls
  allow api -> partners on tcp/443 when destination.env == "prod"
  allow api <-> partners on tcp/444 when source.team == "payments"
  allow office -> api on tcp/445 when mtls
}"#
    ));
}

#[test]
fn static_alternatives_are_capped() {
    let pair = r#"(source.env == "prod" or destination.env == "dev")"#;
    let cond = [pair; 7].join(" and ");
    let src =
        format!("policy main {{\n  owner \"o\"\n  allow api -> db on tcp/1 when {cond}\n}}\n");
    let out = run(INVENTORY, &[("policy/main.seg", &src)]);
    assert_eq!(out.codes(), ["E0305"], "{}", out.rendered());
    assert!(
        out.rendered()
            .contains("expand to 128 alternatives; the limit is 64"),
        "{}",
        out.rendered()
    );
    // Six pairs expand to 64 alternatives: accepted.
    let cond = [pair; 6].join(" and ");
    let src =
        format!("policy main {{\n  owner \"o\"\n  allow api -> db on tcp/1 when {cond}\n}}\n");
    let out = run(INVENTORY, &[("policy/main.seg", &src)]);
    assert!(out.program.is_some(), "{}", out.rendered());
}

#[test]
fn expectations_must_be_one_concrete_flow() {
    assert_snapshot!(main_seg(
        r#"context { region: enum[eu, us], tier: int }
policy main {
  owner "o"
  allow api -> db on tcp/5432
}
test "flows" {
  expect allow api -> db on tcp/5000-6000
  expect allow api -> db on any
  expect allow api -> db on tcp/5432 with mtls, mtls
  expect allow 10.0.0.7 -> db on tcp/5432 with mtls
  expect allow api -> db on tcp/5432 with context.region = "mars", context.tier = "3"
  expect deny api -> report-key on tcp/443
}"#
    ));
}
