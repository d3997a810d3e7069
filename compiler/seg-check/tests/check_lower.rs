//! Lowering to the IR: membership, set algebra, the static/dynamic split,
//! `<->`, expiry, services, provenance, contexts and test expectations.

mod check_util;

use check_util::{INVENTORY, lowered, run};
use insta::assert_snapshot;

#[test]
fn identities_whose_addresses_overlap_a_network_are_members() {
    assert_snapshot!(lowered(
        INVENTORY,
        r#"segment office = network 10.0.0.0/22
policy main {
  owner "team-net"
  allow office -> db on tcp/5432
}"#
    ));
}

#[test]
fn difference_removes_identities_and_carves_their_addresses() {
    assert_snapshot!(lowered(
        INVENTORY,
        r#"policy main {
  owner "team-net"
  allow (network 10.0.0.0/30 - [api]) -> db on tcp/5432
  allow (any - network 10.0.0.0/8) -> web on tcp/443
}"#
    ));
}

#[test]
fn static_alternatives_become_one_rule_each() {
    assert_snapshot!(lowered(
        INVENTORY,
        r#"policy main {
  owner "team-payments"
  allow [api, worker] -> db on tcp/5432
    when (source.env == "prod" and mtls) or (source.env == "dev" and time 09:00..17:00)
  allow [api, worker] -> db on tcp/6432 when source.pci or mtls
}"#
    ));
}

#[test]
fn a_negated_static_test_keeps_networks_minus_removed_identities() {
    assert_snapshot!(lowered(
        INVENTORY,
        r#"policy main {
  owner "team-net"
  allow network 10.0.0.0/30 | [web] -> db on tcp/5432 when not source.team == "payments"
  allow network 10.0.0.0/30 | [web] -> db on tcp/5433 when source.team == "payments"
  allow [api, worker, db] -> web on tcp/80 when source.team != "payments" and destination.tier == 1
}"#
    ));
}

#[test]
fn both_directions_give_two_rules() {
    assert_snapshot!(lowered(
        INVENTORY,
        r#"policy main {
  owner "team-payments"
  /// Replication both ways.
  allow api <-> db on tcp/5432 reason "ticket OPS-1"
}"#
    ));
}

#[test]
fn expired_rules_are_omitted_and_live_ones_keep_their_date() {
    assert_snapshot!(lowered(
        INVENTORY,
        r#"policy main {
  owner "team-payments"
  allow api -> db on tcp/5432 expires 2026-11-23
  allow api -> db on tcp/5433 expires 2026-11-24
  allow api -> db on tcp/5434 expires 2027-06-30 owner "team-data"
}"#
    ));
}

#[test]
fn instant_expiries_are_normalised_to_utc_and_checked_to_the_second() {
    // Now is 2026-11-24T00:00:00Z: the first rule ended a second ago, the
    // second ends in a second, the third in 2 h 30 min, the fourth in 20 days.
    assert_snapshot!(lowered(
        INVENTORY,
        r#"policy main {
  owner "team-payments"
  allow api -> db on tcp/5432 expires 2026-11-24T00:00:00Z
  allow api -> db on tcp/5433 expires 2026-11-24T01:00:01+01:00
  allow api -> db on tcp/5434 expires 2026-11-23T21:30:00-05:00
  allow api -> db on tcp/5435 expires 2026-12-14T00:00:00Z
}"#
    ));
}

#[test]
fn unreachable_identities_leave_implied_destinations_quietly() {
    assert_snapshot!(lowered(
        INVENTORY,
        r#"segment finance = identities where team == "finance"
policy main {
  owner "team-payments"
  allow api -> finance | [db] on tcp/443
  allow api -> finance on tcp/444
  allow report-key -> any on tcp/8443
}"#
    ));
}

#[test]
fn services_resolve_to_port_sets() {
    assert_snapshot!(lowered(
        INVENTORY,
        r#"use std::services::{dns}
service web-alt = tcp/8080-8089
service web-ports = tcp/80, tcp/443, web-alt
policy main {
  owner "team-web"
  allow web -> api on web-ports, dns, icmp, sctp/9000
}"#
    ));
}

#[test]
fn dynamic_conditions_lower_to_atoms() {
    assert_snapshot!(lowered(
        INVENTORY,
        r#"context {
  region: enum[eu, us],
  break_glass: bool,
  tenant: string,
}
policy main {
  owner "team-web"
  allow web -> api on tcp/443
    when request.method in ["GET", "HEAD"] and request.path matches "/api/*"
  allow web -> api on tcp/444 when request.method != "DELETE" and days fri..mon
  allow web -> api on tcp/445 when context.region == "eu" or context.break_glass
  allow web -> api on tcp/446 when has(context.tenant) and not time 22:00..02:00
}"#
    ));
}

#[test]
fn tests_become_concrete_flows() {
    assert_snapshot!(lowered(
        INVENTORY,
        r#"context { region: enum[eu, us], tier: int }
policy main {
  owner "team-web"
  allow web -> api on tcp/443
}
test "web reaches the api" {
  expect allow web -> api on tcp/443
  expect deny 203.0.113.7 -> api on tcp/443 at 2026-11-23T01:30:00Z
  expect deny web -> api on icmp with mtls, request.method = "GET", request.path = "/x", context.region = "eu", context.tier = 3
}"#
    ));
}

#[test]
fn any_destination_is_every_reachable_identity_and_address() {
    let out = run(
        INVENTORY,
        &[(
            "policy/main.seg",
            "policy main {\n  owner \"o\"\n  deny web -> any on tcp/22\n}\n",
        )],
    );
    let p = out.program();
    let dst = &p.rules[0].dst;
    let names: Vec<&str> = dst
        .identities
        .iter()
        .map(|i| p.identity(*i).name.as_str())
        .collect();
    // api_key and ci_job without addresses are not destinations.
    assert!(
        !names.contains(&"report-key") && !names.contains(&"ci-runner"),
        "{names:?}"
    );
    assert!(names.contains(&"db"));
    assert_eq!(dst.networks, seg_ir::CidrSet::all());
    assert!(dst.explicit.is_empty());
}

#[test]
fn program_invariants_hold() {
    let out = run(
        INVENTORY,
        &[(
            "policy/main.seg",
            "policy main {\n  owner \"o\"\n  allow [api] -> db on tcp/1\n  allow web -> db on tcp/2\n}\n",
        )],
    );
    let p = out.program();
    for (i, ident) in p.identities.iter().enumerate() {
        assert_eq!(ident.id.0 as usize, i);
    }
    for (i, r) in p.rules.iter().enumerate() {
        assert_eq!(r.id.0 as usize, i);
        assert!(r.src.explicit.is_subset(&r.src.identities));
    }
    assert_eq!(p.now, check_util::now());
    assert_eq!(p.project, "test");
}

/// Decisions of the reference evaluator on the lowered program, for flows
/// whose expected answer follows from the source conditions.
#[test]
fn lowered_conditions_decide_as_written() {
    let src = r#"policy main {
  owner "o"
  allow [api, worker] -> db on tcp/5432
    when (source.env == "prod" and mtls) or (source.env == "dev" and time 09:00..17:00)
  allow network 10.0.0.0/30 | [web] -> db on tcp/6000 when not source.team == "payments"
  allow api <-> db on tcp/7000 when source.tier == 1
  deny web -> db on tcp/6000 when days sat..sun
}
test "flows" {
  expect allow api -> db on tcp/5432 with mtls
  expect deny api -> db on tcp/5432
  expect allow worker -> db on tcp/5432 at 2026-11-24T10:00:00Z
  expect deny worker -> db on tcp/5432 at 2026-11-24T20:00:00Z
  expect deny worker -> db on tcp/5432 with mtls at 2026-11-24T20:00:00Z
  expect allow 10.0.0.3 -> db on tcp/6000
  expect deny 10.0.0.1 -> db on tcp/6000
  expect deny api -> db on tcp/6000
  expect allow web -> db on tcp/6000 at 2026-11-24T10:00:00Z
  expect deny web -> db on tcp/6000 at 2026-11-28T10:00:00Z
  expect allow api -> db on tcp/7000
  expect allow db -> api on tcp/7000
}"#;
    let out = run(INVENTORY, &[("policy/main.seg", src)]);
    let p = out.program();
    let mut checked = 0;
    for e in p.tests.iter().flat_map(|t| &t.expectations) {
        let d = seg_ir::eval::decide(p, &e.flow);
        assert_eq!(
            d.allowed,
            e.decision == seg_ir::Action::Allow,
            "line {}: {d:?}\n{}",
            e.line,
            check_util::dump(p)
        );
        checked += 1;
    }
    assert_eq!(checked, 12);
}

#[test]
fn an_expired_rule_keeps_its_lowered_rules_for_the_audit() {
    let out = run(
        INVENTORY,
        &[(
            "main.seg",
            r#"policy main {
  owner "team-payments"
  allow api <-> db on tcp/5432 expires 2026-11-23
  allow api -> db on tcp/5433
}"#,
        )],
    );
    let p = out.program();
    assert_eq!(p.rules.len(), 1);
    assert_eq!(p.omitted.len(), 1);
    let expired = &p.omitted[0];
    assert_eq!(expired.reason, "expired on 2026-11-23");
    let labels: Vec<&str> = expired
        .rules
        .iter()
        .map(|r| r.provenance.label.as_str())
        .collect();
    assert_eq!(labels, ["main/1.1", "main/1.2"]);
    let ids: Vec<u32> = expired.rules.iter().map(|r| r.id.0).collect();
    assert_eq!(ids, [0, 1]);
    assert!(
        expired
            .rules
            .iter()
            .all(|r| r.services.to_string() == "tcp/5432"
                && r.expires.map(|d| d.to_string()).as_deref() == Some("2026-11-23"))
    );
    // Not serialised: the IR written for targets is what it was.
    let json = serde_json::to_string(&p.omitted[0]).expect("json");
    assert!(!json.contains("\"rules\""), "{json}");
}
