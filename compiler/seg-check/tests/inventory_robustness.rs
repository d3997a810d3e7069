//! The loader never panics and always explains itself: arbitrary bytes,
//! YAML-looking token soup, binary garbage, huge and deeply nested files all
//! end in diagnostics whose spans lie inside their file.

mod common;

use proptest::prelude::*;
use seg_diag::{Code, ColorChoice, render_human};
use std::time::{Duration, Instant};

/// Load one file and check the invariants every outcome must keep.
fn load_checked(text: &str) -> common::Loaded {
    let loaded = common::load(&[("fuzz.yaml", text)]);
    assert_eq!(
        loaded.inventory.is_none(),
        loaded.diags.has_errors(),
        "no inventory exactly when there is an error"
    );
    for d in loaded.diags.iter() {
        assert!(d.code.is_some(), "every diagnostic has a code: {d:?}");
        assert_ne!(d.code, Some(Code::InternalError), "{d:?}");
        for l in &d.labels {
            assert!(
                l.span.end as usize <= text.len() && l.span.start <= l.span.end,
                "{d:?}"
            );
            assert!(
                text.is_char_boundary(l.span.start as usize)
                    && text.is_char_boundary(l.span.end as usize),
                "{d:?}"
            );
        }
    }
    let rendered = render_human(
        &loaded.map,
        &loaded.diags.clone().into_vec(),
        ColorChoice::Never,
    );
    assert!(
        !rendered.contains("source location unavailable"),
        "{rendered}"
    );
    loaded
}

const TOKENS: &[&str] = &[
    "version",
    "version: 1\n",
    ":",
    ": ",
    " ",
    "  ",
    "\n",
    "\n  ",
    "\n    ",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "#",
    "---\n",
    "...\n",
    "? ",
    "|",
    ">",
    "\t",
    "&a ",
    "*a",
    "!!str ",
    "!!int ",
    "!x ",
    "%YAML 1.2\n",
    "name",
    "kind",
    "workload",
    "identities",
    "identities:\n",
    "attributes",
    "addresses",
    "10.0.0.1",
    "10.0.0.0/8",
    "fd00::/8",
    "::1",
    "kubernetes",
    "namespace",
    "labels",
    "aws",
    "gcp",
    "spiffe",
    "spiffe://x/y",
    "credential",
    "rotated",
    "2026-01-01",
    "max_age",
    "90d",
    "shared",
    "true",
    "null",
    "~",
    "1",
    "-1",
    "0x1f",
    "1e9",
    "é",
    "\u{0}",
    "\u{202e}",
    "\r",
    "\\",
    "\\u0000",
    "enum[a, b]",
    "string",
    "int",
    "bool",
    "status",
    "active",
    "expires",
    "owner",
    "\u{feff}",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..120).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        load_checked(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn yaml_token_soup_never_panics(text in soup()) {
        load_checked(&text);
    }

    #[test]
    fn token_soup_after_a_valid_header_never_panics(text in soup()) {
        load_checked(&format!("version: 1\nidentities:\n  - name: a\n    kind: workload\n    {text}"));
    }
}

/// A deterministic pseudo-random sequence (no dependency on the test's seed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
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

#[test]
fn ten_megabytes_of_random_tokens_end_in_a_diagnostic() {
    let mut rng = Lcg(7);
    let mut text = String::with_capacity(10 << 20);
    while text.len() < 10 << 20 {
        text.push_str(TOKENS[rng.next() % TOKENS.len()]);
    }
    let loaded = timed("10 MB token soup", Duration::from_secs(10), || {
        load_checked(&text)
    });
    assert!(loaded.diags.has_errors());
}

#[test]
fn binary_garbage_ends_in_a_diagnostic() {
    let mut rng = Lcg(11);
    let bytes: Vec<u8> = (0..1 << 20).map(|_| (rng.next() & 0xff) as u8).collect();
    let text = String::from_utf8_lossy(&bytes);
    let loaded = timed("1 MB binary garbage", Duration::from_secs(10), || {
        load_checked(&text)
    });
    assert!(loaded.diags.has_errors());
}

#[test]
fn files_over_the_size_limit_are_refused_before_parsing() {
    let text = "#".repeat(seg_check::inventory::MAX_FILE_BYTES + 1);
    let loaded = timed("64 MiB + 1 file", Duration::from_secs(10), || {
        common::load(&[("big.yaml", &text)])
    });
    let codes: Vec<_> = loaded.diags.iter().map(|d| d.code).collect();
    assert_eq!(codes, [Some(Code::InputTooLarge)]);
}

#[test]
fn deep_nesting_is_refused_in_yaml_and_json() {
    for text in [
        format!("version: 1\nidentities: {}", "[".repeat(100_000)),
        format!(
            "{{\"version\": 1, \"x\": {}{}}}",
            "[".repeat(100),
            "]".repeat(100)
        ),
        (0..200)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect::<String>(),
    ] {
        let loaded = timed("deep nesting", Duration::from_secs(10), || {
            load_checked(&text)
        });
        let codes: Vec<_> = loaded.diags.iter().map(|d| d.code).collect();
        assert_eq!(codes, [Some(Code::InputTooLarge)]);
    }
}

#[test]
fn a_large_valid_inventory_loads_quickly() {
    let mut text =
        String::from("version: 1\nattributes:\n  team: string\n  tier: int\nidentities:\n");
    for i in 0..2_000 {
        text.push_str(&format!(
            "  - name: workload-{i}\n    kind: workload\n    owner: team-{t}\n    attributes: {{ team: t{t}, tier: {t} }}\n    \
             labels: {{ app: w{i} }}\n    addresses: [10.{a}.{b}.{c}/32, \"fd00::{i:x}/128\"]\n    \
             kubernetes: {{ namespace: ns-{t}, labels: {{ app: w{i} }} }}\n    spiffe: spiffe://bank.example/w/{i}\n",
            t = i % 7,
            a = i / 65_536,
            b = i / 256 % 256,
            c = i % 256
        ));
    }
    let loaded = timed("2k identities", Duration::from_secs(10), || {
        load_checked(&text)
    });
    assert!(loaded.diags.is_empty(), "{:?}", loaded.diags.iter().next());
    assert_eq!(loaded.inventory.map(|i| i.identities.len()), Some(2_000));
}

#[test]
fn many_overlaps_stay_fast_and_capped() {
    let mut text = String::from(
        "version: 1\nidentities:\n  - name: everything\n    kind: workload\n    addresses: [0.0.0.0/0]\n",
    );
    for i in 0..5_000 {
        text.push_str(&format!(
            "  - name: w{i}\n    kind: workload\n    addresses: [10.0.{}.{}]\n",
            i / 256,
            i % 256
        ));
    }
    let loaded = timed("5k overlaps", Duration::from_secs(10), || {
        load_checked(&text)
    });
    assert!(loaded.inventory.is_some());
    assert_eq!(
        loaded.diags.len(),
        seg_check::inventory::MAX_OVERLAP_WARNINGS + 1
    );
}
