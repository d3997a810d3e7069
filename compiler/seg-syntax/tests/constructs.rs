//! One AST snapshot per construct of the language: the source, then the tree
//! with every span as `@start..end`.

mod common;

macro_rules! case {
    ($name:ident, $src:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(common::ast_snapshot($src));
        }
    };
}

// ---- files, comments, docs ------------------------------------------------

case!(empty_file, "");
case!(
    only_comments,
    "// a line comment\n/* a block\n   comment */\n//// four slashes are a plain comment\n"
);
case!(
    doc_comments_attach_to_the_next_item,
    "/// Workloads of the payments team.\n/// Second line.\nsegment payments = [a]\n\n///No space after the slashes.\nservice web = tcp/443\n\n/// The context inputs.\ncontext { region: string }\n\n/// The policy.\npolicy p {\n  owner \"t\"\n}\n"
);
case!(
    doc_comments_before_use_test_and_expect_are_accepted_and_dropped,
    "/// imports\nuse std::services::{dns}\n/// tests\ntest \"t\" {\n  /// one flow\n  expect allow a -> b on udp/53\n  /// nothing follows\n}\n/// trailing\n"
);
case!(
    block_comments_inside_expressions,
    "segment s = [a, /* b, */ c] | /* not this */ d // end\n"
);
case!(byte_order_mark_is_whitespace, "\u{feff}segment s = any\n");

// ---- use --------------------------------------------------------------------

case!(
    use_std_module,
    "use std::services::{postgres, https, dns}\nuse std::segments::{cloud-metadata}\n"
);
case!(
    use_relative_file,
    "use ./common.seg::{shared, \"odd name\"}\nuse ../lib/base.seg::{a,}\n"
);
case!(
    use_quoted_file_path,
    "use \"./dir with space/x.seg\"::{x}\n"
);
case!(
    use_with_spaces_around_separator,
    "use std::services :: { dns , https }\n"
);

// ---- segments ---------------------------------------------------------------

case!(
    segment_identity_list,
    "segment ledger = [ledger-postgres, \"svc:ledger/replica\", ledger_db2,]\n"
);
case!(segment_empty_list, "segment nobody = []\n");
case!(segment_single_name, "segment db = ledger-postgres\n");
case!(
    segment_quoted_name,
    "segment \"odd segment\" = \"svc:payments/api\"\n"
);
case!(segment_any, "segment everything = any\n");
case!(
    segment_networks_v4_v6_and_bare_addresses,
    "segment partners = network 203.0.113.0/24, 198.51.100.7, fd00::/8, 2001:db8::1, ::ffff:192.0.2.1, 0.0.0.0/0, ::/0\n"
);
case!(
    segment_where_comparisons,
    "segment s = identities where team == \"payments\" and env != \"dev\" and kind == workload and tier == -2 and pci == true\n"
);
case!(
    segment_where_in_list,
    "segment s = identities where env in [\"prod\", \"staging\",] and tier in [1, 2] and kind in []\n"
);
case!(
    segment_where_matches_glob,
    "segment s = identities where name matches \"payments-*\"\n"
);
case!(
    segment_where_has_and_bare_attribute,
    "segment s = identities where has(labels.app) and pci and not sandbox\n"
);
case!(
    segment_where_dotted_and_quoted_paths,
    "segment s = identities where labels.app == \"api\" and labels.\"app.kubernetes.io/name\" == \"ledger\"\n"
);
case!(
    segment_where_parentheses_and_precedence,
    "segment s = identities where not a and (b or c) or d and not not e\n"
);
case!(
    segment_set_algebra,
    "segment s = (a | b) & c - [d] | network 10.0.0.0/8\n"
);
case!(
    segment_where_ends_at_set_operator,
    "segment s = identities where team == \"x\" or pci | [extra] - identities where kind == ci_job\n"
);
case!(
    keywords_inside_names_are_names,
    "segment s = anything | networks | identities-x | onion | any_1\n"
);
case!(
    keywords_quoted_are_names,
    "segment s = \"any\" | \"on\" | [\"network\", \"identities\"]\n"
);
case!(
    names_with_dashes_digits_and_underscores,
    "segment a-1_b = x9 | y-z-w | q_\n"
);

// ---- services -----------------------------------------------------------------

case!(
    service_port_specs,
    "service web = tcp/80, tcp/443, udp/53, sctp/3868, tcp/8000-8099, tcp/0-65535, icmp\n"
);
case!(service_any, "service everything = any\n");
case!(
    service_naming_other_services,
    "service web-plus = https, ledger-api, \"odd service\", tcp/8080\n"
);

// ---- policies and rules ---------------------------------------------------------

case!(policy_empty, "policy nothing {}\n");
case!(
    policy_metadata,
    "policy p {\n  owner \"team-payments\"\n  review-by 2027-03-01\n}\n"
);
case!(
    policy_metadata_any_order,
    "policy p {\n  review-by 2027-03-01\n  owner \"team-payments\"\n}\n"
);
case!(rule_minimal, "policy p {\n  allow a -> b on https\n}\n");
case!(
    rule_deny,
    "policy p {\n  deny any -> cloud-metadata on any\n}\n"
);
case!(
    rule_both_directions,
    "policy p {\n  allow a <-> b on tcp/7000, udp/7000\n}\n"
);
case!(
    rule_without_spaces_around_arrows,
    "policy p {\n  allow a->b on x\n  allow c<->d on y\n}\n"
);
case!(
    rule_all_clauses_in_the_documented_order,
    "policy p {\n  allow ci -> ledger on postgres\n    when time 01:00..03:00 utc\n    expires 2026-12-31\n    reason \"ticket OPS-1234\"\n    owner \"team-db\"\n}\n"
);
case!(
    rule_clauses_in_another_order,
    "policy p {\n  allow ci -> ledger on postgres owner \"team-db\" reason \"why\" expires 2026-12-31 when mtls\n}\n"
);
case!(
    rule_expiring_at_an_instant_with_an_offset,
    "policy p {\n  allow oncall -> ledger on postgres expires 2026-12-06T17:00:00+01:00 reason \"OPS-9\"\n}\n"
);
case!(
    rule_with_the_grant_clauses,
    "policy p {\n  allow oncall -> ledger on postgres\n    expires 2026-12-06T16:00:00Z\n    reason \"incident\"\n    owner \"alice\"\n    ticket \"OPS-9\"\n    approved-by \"bob\"\n    created 2026-12-06T15:00:00+01:00\n}\n"
);
case!(
    rule_set_expressions_as_endpoints,
    "policy p {\n  allow (a | b) - c -> identities where kind == workload on https\n  allow network 10.0.0.0/8, 10.1.0.0/16 -> [x, y] on tcp/22\n}\n"
);
case!(
    rule_doc_comments,
    "policy p {\n  /// The API reads the ledger.\n  allow a -> b on postgres\n\n  /// Nightly migrations.\n  /// Two lines.\n  deny c -> d on any\n}\n"
);

// ---- conditions -------------------------------------------------------------------

case!(cond_mtls, "policy p {\n  allow a -> b on x when mtls\n}\n");
case!(
    cond_time_window_without_utc,
    "policy p {\n  allow a -> b on x when time 22:00..02:00\n}\n"
);
case!(
    cond_time_window_to_midnight,
    "policy p {\n  allow a -> b on x when time 18:00 .. 24:00 utc\n}\n"
);
case!(
    cond_days_range,
    "policy p {\n  allow a -> b on x when days mon..fri\n}\n"
);
case!(
    cond_days_list_and_wrapping_range,
    "policy p {\n  allow a -> b on x when days sat, sun, fri..mon\n}\n"
);
case!(
    cond_static_comparisons,
    "policy p {\n  allow a -> b on x when source.team == \"payments\" and destination.env in [\"prod\"] and source.tier != 3\n}\n"
);
case!(
    cond_request_attributes,
    "policy p {\n  allow a -> b on https when request.method in [\"GET\", \"HEAD\"] and request.path matches \"/api/*\"\n}\n"
);
case!(
    cond_context_inputs,
    "policy p {\n  allow a -> b on https when context.region == \"eu\" or context.break_glass\n}\n"
);
case!(
    cond_has_and_bare_paths,
    "policy p {\n  allow a -> b on x when has(source.pci) and source.pci\n}\n"
);
case!(
    cond_precedence_not_and_or,
    "policy p {\n  allow a -> b on x when not mtls and days sat, sun or time 01:00..02:00 and not (source.a or source.b)\n}\n"
);
case!(
    cond_attributes_named_like_clause_keywords_after_a_dot,
    "policy p {\n  allow a -> b on x when source.owner == \"t\" and destination.time == 1 reason \"r\"\n}\n"
);

// ---- context ---------------------------------------------------------------------

case!(
    context_all_types,
    "context {\n  region: enum[eu, us, \"ap-south\"],\n  tier: int,\n  break_glass: bool,\n  ticket: string,\n}\n"
);
case!(
    context_commas_optional,
    "context {\n  region: string\n  tier: int\n}\ncontext {}\n"
);

// ---- tests ----------------------------------------------------------------------

case!(empty_test_block, "test \"nothing\" {}\n");
case!(
    expect_lines,
    "test \"ledger access\" {\n  expect allow payments-api -> ledger-postgres on tcp/5432 with mtls\n  expect deny  payments-api -> ledger-postgres on tcp/5432            // no mTLS\n  expect allow migrator-job -> ledger-postgres on tcp/5432 at 2026-11-23T01:30:00Z\n}\n"
);
case!(
    expect_with_every_property,
    "test \"t\" {\n  expect allow a -> b on tcp/443 with mtls, request.method = \"GET\", request.path = \"/api/x\", context.region = \"eu\", context.tier = 2, context.break_glass = true, context.\"odd key\" = word at 2026-11-23T02:30:00+01:00\n}\n"
);
case!(
    expect_at_before_with,
    "test \"t\" {\n  expect deny a -> b on udp/53 at 2026-11-23T12:00Z with mtls\n}\n"
);
case!(
    expect_endpoints_addresses_and_quoted_names,
    "test \"t\" {\n  expect allow 203.0.113.7 -> \"svc:payments/api\" on tcp/8443\n  expect deny 2001:db8::7 -> fd00::1 on icmp\n  expect deny x -> y on any\n}\n"
);

// ---- strings ---------------------------------------------------------------------

case!(
    string_escapes,
    "policy p {\n  owner \"a\\\"b\\\\c\\/d\\ne\\tf\\u00e9\\ud83d\\ude00\\b\\f\\r\"\n}\n"
);
case!(
    string_non_ascii_text,
    "policy p {\n  owner \"équipe paiements ✓\"\n}\n"
);

#[test]
fn a_predicate_alone_parses_and_trailing_text_is_an_error() {
    let file = seg_diag::FileId(0);
    let p =
        seg_syntax::parse_predicate(file, "not tier == 0 and has(labels.team)").expect("parses");
    assert!(
        matches!(p.node, seg_syntax::ast::PredKind::And(..)),
        "{p:?}"
    );
    let e = seg_syntax::parse_predicate(file, "tier == 0 allow").expect_err("trailing word");
    assert_eq!(e.code, Some(seg_diag::Code::SyntaxError), "{e:?}");
    assert!(seg_syntax::parse_predicate(file, "").is_err());
}
