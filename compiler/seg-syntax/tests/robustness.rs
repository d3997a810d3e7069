//! The parser never panics, never overflows the stack and stays fast on
//! hostile input: random bytes, random token soup, deep nesting, large files.

mod common;

use proptest::prelude::*;
use seg_diag::{Code, Diagnostic};
use std::time::{Duration, Instant};

/// Only user-facing codes: an internal error (E9001) would mean the grammar
/// and the lowering disagree.
fn assert_user_error(src: &str, d: &Diagnostic) {
    assert!(
        matches!(
            d.code,
            Some(Code::SyntaxError | Code::InvalidLiteral | Code::InputTooLarge)
        ),
        "unexpected code {:?} for {src:?}: {}",
        d.code,
        d.message
    );
    let span = d
        .primary_span()
        .expect("every parse error has a primary label");
    assert!(
        span.end as usize <= src.len(),
        "span {span:?} outside the input"
    );
    assert!(src.is_char_boundary(span.start as usize) && src.is_char_boundary(span.end as usize));
}

const TOKENS: &[&str] = &[
    "use",
    "std::services::",
    "./x.seg::",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ",",
    ":",
    "::",
    "=",
    "==",
    "!=",
    "->",
    "<->",
    "|",
    "&",
    "-",
    "..",
    "segment",
    "service",
    "policy",
    "context",
    "test",
    "expect",
    "allow",
    "deny",
    "on",
    "when",
    "expires",
    "reason",
    "owner",
    "review-by",
    "identities",
    "where",
    "network",
    "any",
    "icmp",
    "and",
    "or",
    "not",
    "in",
    "matches",
    "has",
    "mtls",
    "time",
    "utc",
    "days",
    "with",
    "at",
    "string",
    "int",
    "bool",
    "enum",
    "true",
    "false",
    "a",
    "payments-api",
    "ledger_db",
    "source.team",
    "request.method",
    "context.region",
    "labels.app",
    "\"x\"",
    "\"svc:a/b\"",
    "\"\\n\"",
    "\"\\q\"",
    "42",
    "-7",
    "2026-12-31",
    "2026-02-30",
    "2026-11-23T01:30:00Z",
    "01:00",
    "25:00",
    "10.0.0.0/8",
    "10.0.0.0/33",
    "fd00::/8",
    "203.0.113.7",
    "tcp/443",
    "udp/53",
    "tcp/8000-8099",
    "tcp/70000",
    "mon",
    "fri",
    "sun",
    "///",
    "/// doc\n",
    "// c\n",
    "/* c */",
    "\n",
    "workload",
    "Upper",
    "é",
    "\"",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec((0..TOKENS.len(), prop::bool::ANY), 0..80).prop_map(|picks| {
        let mut s = String::new();
        for (i, newline) in picks {
            s.push_str(TOKENS[i]);
            s.push(if newline { '\n' } else { ' ' });
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let src = String::from_utf8_lossy(&bytes).into_owned();
        if let Err(d) = common::parse(&src) {
            assert_user_error(&src, &d);
        }
    }

    #[test]
    fn token_soup_never_panics(src in token_soup()) {
        if let Err(d) = common::parse(&src) {
            assert_user_error(&src, &d);
        }
    }

    #[test]
    fn rules_built_from_tokens_never_panic(src in token_soup()) {
        // Inside a policy, so the soup reaches the rule and condition grammar.
        let src = format!("policy p {{\n allow {src} }}");
        if let Err(d) = common::parse(&src) {
            assert_user_error(&src, &d);
        }
    }
}

// ---- generated set expressions keep their meaning -----------------------------

#[derive(Clone, Debug)]
enum Tree {
    Leaf(u8),
    Op(char, Box<Tree>, Box<Tree>),
}

fn tree() -> impl Strategy<Value = Tree> {
    (0u8..6)
        .prop_map(Tree::Leaf)
        .prop_recursive(6, 40, 2, |inner| {
            (
                prop::sample::select(vec!['|', '&', '-']),
                inner.clone(),
                inner,
            )
                .prop_map(|(op, l, r)| Tree::Op(op, Box::new(l), Box::new(r)))
        })
}

fn full_parens(t: &Tree) -> String {
    match t {
        Tree::Leaf(n) => format!("n{n}"),
        Tree::Op(op, l, r) => format!("({} {op} {})", full_parens(l), full_parens(r)),
    }
}

fn prec(op: char) -> u8 {
    if op == '&' { 2 } else { 1 }
}

/// Parentheses only where precedence and left associativity need them.
fn minimal_parens(t: &Tree) -> String {
    match t {
        Tree::Leaf(n) => format!("n{n}"),
        Tree::Op(op, l, r) => {
            let left = match &**l {
                Tree::Op(lop, ..) if prec(*lop) < prec(*op) => format!("({})", minimal_parens(l)),
                _ => minimal_parens(l),
            };
            let right = match &**r {
                Tree::Op(rop, ..) if prec(*rop) <= prec(*op) => format!("({})", minimal_parens(r)),
                _ => minimal_parens(r),
            };
            format!("{left} {op} {right}")
        }
    }
}

/// The segment's expression (`==` on it ignores spans; item structs compare theirs).
fn parsed(src: &str) -> seg_syntax::ast::SetExpr {
    let file = common::parse(&format!("segment s = {src}"))
        .unwrap_or_else(|d| panic!("{}", common::render(src, &d)));
    match file.items.into_iter().next() {
        Some(seg_syntax::ast::Item::Segment(s)) => s.expr,
        other => panic!("not a segment: {other:?}"),
    }
}

proptest! {
    #[test]
    fn precedence_matches_a_fully_parenthesised_reading(t in tree()) {
        prop_assert_eq!(parsed(&minimal_parens(&t)), parsed(&full_parens(&t)));
    }
}

// ---- depth limits ----------------------------------------------------------------

fn assert_too_deep(src: &str) {
    let d = common::parse(src).expect_err("too deep");
    assert_eq!(d.code, Some(Code::InputTooLarge), "{}", d.message);
}

#[test]
fn twenty_thousand_nested_parentheses_in_a_set_expression() {
    let n = 20_000;
    assert_too_deep(&format!("segment s = {}a{}", "(".repeat(n), ")".repeat(n)));
    assert_too_deep(&format!("segment s = {}", "(".repeat(n)));
    assert_too_deep(&format!("segment s = {}", "[".repeat(n)));
}

#[test]
fn twenty_thousand_nested_conditions() {
    let n = 20_000;
    assert_too_deep(&format!(
        "policy p {{ allow a -> b on x when {}mtls{} }}",
        "(".repeat(n),
        ")".repeat(n)
    ));
    assert_too_deep(&format!(
        "policy p {{ allow a -> b on x when {}mtls }}",
        "not ".repeat(n)
    ));
    assert_too_deep(&format!(
        "policy p {{ allow a -> b on x when {}mtls{} }}",
        "not (".repeat(n),
        ")".repeat(n)
    ));
    assert_too_deep(&format!(
        "segment s = identities where {}pci",
        "not ".repeat(n)
    ));
}

#[test]
fn long_operator_chains_are_limited() {
    let chain = |n: usize, op: &str| (0..n).map(|i| format!("n{i}")).collect::<Vec<_>>().join(op);
    assert_too_deep(&format!("segment s = {}", chain(300, " | ")));
    assert_too_deep(&format!(
        "segment s = identities where {}",
        chain(300, " and ")
    ));
    assert_too_deep(&format!(
        "policy p {{ allow a -> b on x when {} }}",
        chain(300, " or ")
    ));
    assert!(common::parse(&format!("segment s = {}", chain(200, " | "))).is_ok());
}

#[test]
fn nesting_at_the_limit_parses_even_on_a_small_thread_stack() {
    // The parser moves to a larger stack segment when the caller's is short.
    let n = 255;
    let sources = [
        format!("segment s = {}a{}", "(".repeat(n), ")".repeat(n)),
        format!(
            "policy p {{ allow a -> b on x when {}mtls{} }}",
            "(".repeat(n - 1),
            ")".repeat(n - 1)
        ),
        format!("segment s = identities where {}pci", "not ".repeat(n)),
        format!(
            "segment s = identities where {}pci{}",
            "(".repeat(n),
            ")".repeat(n)
        ),
    ];
    for src in sources {
        let ok = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || common::parse(&src).map(|_| ()).map_err(|d| d.message))
            .expect("spawn")
            .join()
            .expect("no panic");
        assert_eq!(ok, Ok(()));
    }
}

// ---- size -----------------------------------------------------------------------

/// A deterministic pseudo-random generator (xorshift), so the big inputs are the same every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn timed<T>(what: &str, limit: Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    // Speed is measured by benchmarks, not asserted here: a loaded CI machine
    // would make a time limit flaky. The figure is printed for the curious.
    println!("{what}: {took:?} (indicative limit {limit:?})");
    out
}

fn random_tokens(seed: u64, bytes: usize, allowed: impl Fn(&str) -> bool) -> String {
    let tokens: Vec<&str> = TOKENS.iter().copied().filter(|t| allowed(t)).collect();
    let mut rng = Rng(seed);
    let mut src = String::with_capacity(bytes + 64);
    while src.len() < bytes {
        src.push_str(tokens[(rng.next() % tokens.len() as u64) as usize]);
        src.push(' ');
    }
    src
}

#[test]
fn ten_megabytes_of_random_tokens_fail_quickly() {
    let src = random_tokens(0x5eed, 10 * 1024 * 1024, |_| true);
    let d = timed("10 MB of random tokens", Duration::from_secs(10), || {
        common::parse(&src)
    })
    .expect_err("not a policy");
    assert_user_error(&src, &d);
}

#[test]
fn ten_megabytes_of_random_tokens_that_pass_the_pre_scan_fail_quickly() {
    // No quotes, comments or brackets: the pre-scan reads all 10 MB and pest must reject the input.
    let plain = |t: &str| !t.contains(['"', '/', '(', '[', '{', ')', ']', '}']) && t != "not";
    let src = random_tokens(0xfeed, 10 * 1024 * 1024, plain);
    let d = timed(
        "10 MB of plain random tokens",
        Duration::from_secs(10),
        || common::parse(&src),
    )
    .expect_err("not a policy");
    assert_eq!(d.code, Some(Code::SyntaxError), "{}", d.message);
}

#[test]
fn ten_megabytes_of_binary_garbage_fail_quickly() {
    let mut rng = Rng(0xbad);
    let bytes: Vec<u8> = (0..10 * 1024 * 1024).map(|_| rng.next() as u8).collect();
    let src = String::from_utf8_lossy(&bytes).into_owned();
    let d = timed("10 MB of binary garbage", Duration::from_secs(10), || {
        common::parse(&src)
    })
    .expect_err("garbage");
    assert_user_error(&src, &d);
}

fn large_valid_file(bytes: usize) -> (String, usize) {
    let mut src = String::new();
    let mut i = 0;
    while src.len() < bytes {
        src.push_str(&format!(
            "/// Segment {i}.\nsegment s{i} = identities where team == \"t{i}\" and env in [\"prod\", \"dev\"] | [a{i}, b{i}]\n\
             policy p{i} {{\n  owner \"o\"\n  allow s{i} -> network 10.{}.0.0/16 on tcp/{} when mtls and time 01:00..02:00 utc\n}}\n",
            i % 256,
            i % 65536
        ));
        i += 1;
    }
    (src, 2 * i)
}

#[test]
fn a_large_valid_file_parses_in_reasonable_time() {
    let (src, items) = large_valid_file(256 * 1024);
    let file = timed("256 KB valid file", Duration::from_secs(10), || {
        common::parse(&src)
    })
    .expect("valid");
    assert_eq!(file.items.len(), items);
}

#[test]
fn an_error_at_the_end_of_a_large_file_is_found_and_placed() {
    let (mut src, _) = large_valid_file(256 * 1024);
    let at = src.len();
    src.push_str("segment oops = -> \n");
    let d = timed(
        "256 KB valid file with an error at the end",
        Duration::from_secs(10),
        || common::parse(&src),
    )
    .expect_err("error at the end");
    assert_eq!(d.code, Some(Code::SyntaxError));
    assert_eq!(
        d.primary_span().map(|s| s.start as usize),
        Some(at + "segment oops = ".len())
    );
}

#[test]
fn a_file_over_the_size_limit_is_refused_without_parsing() {
    let src = " ".repeat(64 * 1024 * 1024 + 1);
    let d = common::parse(&src).expect_err("too large");
    assert_eq!(d.code, Some(Code::InputTooLarge));
}
