//! Error messages: rendered snapshots for typical mistakes, and structural
//! checks (code and exact primary span) for every kind of bad literal.

mod common;

use seg_diag::Code;

macro_rules! error_case {
    ($name:ident, $src:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(common::error_snapshot($src));
        }
    };
}

// ---- E0001: syntax ----------------------------------------------------------

error_case!(
    missing_arrow,
    "policy p {\n  allow payments ledger on postgres\n}\n"
);
error_case!(
    missing_services_after_on,
    "policy p {\n  allow a -> b on\n}\n"
);
error_case!(
    misspelt_clause_keyword,
    "policy p {\n  allow a -> b on https wen mtls\n}\n"
);
error_case!(misspelt_item_keyword, "segmnt payments = [a]\n");
error_case!(rule_outside_a_policy, "allow a -> b on https\n");
error_case!(
    single_equals_in_condition,
    "policy p {\n  allow a -> b on https when source.team = \"x\"\n}\n"
);
error_case!(
    metadata_after_rules,
    "policy p {\n  allow a -> b on https\n  review-by 2027-01-01\n}\n"
);
error_case!(
    address_without_network,
    "segment partners = 203.0.113.0/24\n"
);
error_case!(uppercase_name, "segment Payments = [a]\n");
error_case!(
    keyword_used_as_a_name,
    "policy p {\n  allow a -> on on https\n}\n"
);
error_case!(name_ending_with_a_dash, "segment s = a- b\n");
error_case!(unclosed_policy, "policy p {\n  allow a -> b on https\n");
error_case!(unclosed_parenthesis, "segment s = (a | b\nsegment t = c\n");
error_case!(
    missing_condition_after_when,
    "policy p {\n  allow a -> b on https when\n}\n"
);
error_case!(
    missing_predicate_operand,
    "segment s = identities where team == \"a\" and\n"
);
error_case!(
    double_equals_in_with,
    "test \"t\" {\n  expect allow a -> b on tcp/1 with request.method == \"GET\"\n}\n"
);
error_case!(
    unknown_with_property,
    "test \"t\" {\n  expect allow a -> b on tcp/1 with source.team = \"x\"\n}\n"
);
error_case!(
    request_method_not_a_string,
    "test \"t\" {\n  expect allow a -> b on tcp/1 with request.method = get\n}\n"
);
error_case!(
    network_as_test_endpoint,
    "test \"t\" {\n  expect allow 10.0.0.0/8 -> b on tcp/1\n}\n"
);
error_case!(
    duplicate_when_clause,
    "policy p {\n  allow a -> b on x when mtls\n    when days mon..fri\n}\n"
);
error_case!(
    duplicate_policy_owner,
    "policy p {\n  owner \"a\"\n  owner \"b\"\n}\n"
);
error_case!(
    duplicate_at_clause,
    "test \"t\" {\n  expect allow a -> b on tcp/1 at 2026-01-01T00:00:00Z at 2026-01-02T00:00:00Z\n}\n"
);
error_case!(unterminated_string, "policy p {\n  owner \"team\n}\n");
error_case!(
    unterminated_block_comment,
    "segment s = a\n/* the rest\nsegment t = b\n"
);
error_case!(
    doc_comment_after_code,
    "segment s = a /// the segment\nsegment t = b\n"
);
error_case!(
    doc_comment_inside_a_rule,
    "policy p {\n  allow a -> b on x\n    /// why\n    when mtls\n}\n"
);
error_case!(port_spec_without_number, "service s = tcp/https\n");
error_case!(
    unknown_weekday,
    "policy p {\n  allow a -> b on x when days mon..fry\n}\n"
);
error_case!(empty_import_list, "use std::services::{}\n");
error_case!(use_without_names, "use std::services\n");
error_case!(misspelt_context_type, "context {\n  region: strng\n}\n");
error_case!(invalid_name_with_double_dash, "segment s = a--b\n");

// ---- E0002: literals ----------------------------------------------------------

error_case!(invalid_date, "policy p {\n  review-by 2026-02-30\n}\n");
error_case!(invalid_cidr_prefix, "segment s = network 10.0.0.0/33\n");
error_case!(port_out_of_range, "service s = tcp/70000\n");
error_case!(reversed_port_range, "service s = tcp/8099-8000\n");
error_case!(
    invalid_time_of_day,
    "policy p {\n  allow a -> b on x when time 25:00..03:00\n}\n"
);
error_case!(invalid_string_escape, "segment s = [\"svc\\qx\"]\n");
error_case!(cidr_with_host_bits, "segment s = network 10.0.0.1/8\n");
error_case!(
    expiry_offset_out_of_range,
    "policy p {\n  allow a -> b on x expires 2026-12-06T16:00:00+25:00\n}\n"
);
error_case!(
    timestamp_without_zone,
    "test \"t\" {\n  expect allow a -> b on tcp/1 at 2026-11-23T01:30:00\n}\n"
);

/// (source, literal the primary label must cover exactly)
const BAD_LITERALS: &[(&str, &str)] = &[
    ("policy p { review-by 2026-02-30 }", "2026-02-30"),
    ("policy p { review-by 2026-13-01 }", "2026-13-01"),
    ("policy p { review-by 26-1-1 }", "26-1-1"),
    (
        "policy p { allow a -> b on x expires 2025-02-29 }",
        "2025-02-29",
    ),
    (
        "policy p { allow a -> b on x expires 2026-12-06T16:00:00+25:00 }",
        "2026-12-06T16:00:00+25:00",
    ),
    (
        "policy p { allow a -> b on x expires 2026-12-06T24:00:00Z }",
        "2026-12-06T24:00:00Z",
    ),
    (
        "policy p { allow a -> b on x expires 2026-12-06T16:00:00 }",
        "2026-12-06T16:00:00",
    ),
    ("segment s = network 10.0.0.0/33", "10.0.0.0/33"),
    ("segment s = network fd00::/129", "fd00::/129"),
    ("segment s = network 300.0.0.0/8", "300.0.0.0/8"),
    ("segment s = network 10.0.0.1/8", "10.0.0.1/8"),
    ("segment s = network fd00:::1", "fd00:::1"),
    ("service s = tcp/70000", "70000"),
    ("service s = udp/53-99999", "99999"),
    ("service s = tcp/8099-8000", "8099-8000"),
    (
        "policy p { allow a -> b on x when time 25:00..03:00 }",
        "25:00",
    ),
    (
        "policy p { allow a -> b on x when time 01:00..24:01 }",
        "24:01",
    ),
    (
        "policy p { allow a -> b on x when time 1:00..02:00 }",
        "1:00",
    ),
    ("segment s = [\"a\\qb\"]", "\\q"),
    ("segment s = [\"a\\u12\"]", "\\u12"),
    ("segment s = [\"a\\ud800b\"]", "\\ud800"),
    ("segment s = [\"a\\udc00\"]", "\\udc00"),
    ("segment s = [\"a\tb\"]", "\t"),
    ("segment s = [\"\"]", "\"\""),
    (
        "segment s = identities where tier == 99999999999999999999",
        "99999999999999999999",
    ),
    (
        "test \"t\" { expect allow 10.0.0.300 -> b on tcp/1 }",
        "10.0.0.300",
    ),
    (
        "test \"t\" { expect allow a -> b on tcp/1 at 2026-11-23T01:30:00 }",
        "2026-11-23T01:30:00",
    ),
    (
        "test \"t\" { expect allow a -> b on tcp/1 at 2026-11-31T01:30:00Z }",
        "2026-11-31T01:30:00Z",
    ),
];

#[test]
fn every_bad_literal_is_e0002_on_the_literal() {
    for (src, literal) in BAD_LITERALS {
        let d = common::parse(src).expect_err(src);
        assert_eq!(
            d.code,
            Some(Code::InvalidLiteral),
            "{src}\n{}",
            common::render(src, &d)
        );
        let span = d.primary_span().expect("a primary label");
        assert_eq!(
            &src[span.range()],
            *literal,
            "{src}\n{}",
            common::render(src, &d)
        );
    }
}

#[test]
fn literals_at_their_limits_are_accepted() {
    for src in [
        "policy p { review-by 2024-02-29 }",
        "segment s = network 0.0.0.0/0, ::/0, 255.255.255.255/32, ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
        "service s = tcp/0, udp/65535, sctp/0-65535, tcp/80-80",
        "policy p { allow a -> b on x when time 00:00..24:00 }",
        "policy p { allow a -> b on x when time 23:59..00:00 }",
        "segment s = identities where tier == -9223372036854775808 or tier == 9223372036854775807",
        "test \"t\" { expect allow a -> b on tcp/1 at 2026-12-31T23:59:59Z }",
        "segment s = [\"\\u0000\\uffff\\ud83d\\ude00\"]",
    ] {
        if let Err(d) = common::parse(src) {
            panic!("{}", common::render(src, &d));
        }
    }
}

#[test]
fn syntax_errors_are_e0001_at_the_offending_token() {
    // (source, text the primary label covers; "" = end of file)
    let cases: &[(&str, &str)] = &[
        ("policy p { allow a b on x }", "b"),
        ("policy p { allow a -> b x }", "x"),
        ("segment s = ", ""),
        ("segment s = a |", ""),
        ("policy p { allow a -> b on x when }", "}"),
        ("service s = tcp/https", "https"),
        ("context { a: float }", "float"),
        ("test t {}", "t"),
        ("segment s = [a b]", "b"),
        ("segment s = (a", ""),
        ("use std::x::{a b}", "b"),
        ("policy p { allow a -> b on x } }", "}"),
    ];
    for (src, at) in cases {
        let d = common::parse(src).expect_err(src);
        assert_eq!(
            d.code,
            Some(Code::SyntaxError),
            "{src}\n{}",
            common::render(src, &d)
        );
        let span = d.primary_span().expect("a primary label");
        assert_eq!(
            &src[span.range()],
            *at,
            "{src}\n{}",
            common::render(src, &d)
        );
        if at.is_empty() {
            assert_eq!(span.start as usize, src.len(), "{src}");
        }
        assert!(d.message.starts_with("expected "), "{src}: {}", d.message);
    }
}

#[test]
fn messages_follow_the_style_guide() {
    let sources = [
        "policy p { allow a b on x }",
        "segment s = network 10.0.0.0/33",
        "policy p { owner \"a\n}",
        "segmnt s = a",
        "policy p { allow a -> b on x when mtls when mtls }",
    ];
    for src in sources {
        let d = common::parse(src).expect_err(src);
        let first = d.message.chars().next().expect("a message");
        assert!(!first.is_uppercase(), "lowercase: {}", d.message);
        assert!(!d.message.ends_with('.'), "no final period: {}", d.message);
        let primary = d.labels.iter().find(|l| l.primary).expect("primary label");
        assert!(
            primary.message.split_whitespace().count() <= 6,
            "short label: {}",
            primary.message
        );
    }
}
