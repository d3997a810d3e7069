//! Parse many mutations of the given `.seg` files and print every outcome (a
//! hash of the whole tree with its spans, or the whole diagnostic), so that two
//! builds of the parser can be compared byte for byte: a grammar change that
//! is meant to be faster only must not change one line.
//!
//! ```sh
//! cargo run --release -p seg-syntax --example mutation_outcomes -- \
//!     fuzz/seeds/parse/*.seg examples/bank/policy/*.seg > after.txt
//! cmp before.txt after.txt
//! ```
//!
//! Mutations: each file cut at every character boundary, each character
//! deleted, and each snippet below inserted at every boundary; each text is
//! parsed as a file and as a predicate.
use std::fmt::Write as _;

fn main() {
    let inserts = [
        "(",
        ")",
        "-",
        ">",
        "on ",
        "{",
        "}",
        "[",
        "]",
        "\"",
        "/",
        "*",
        "x",
        "1",
        ",",
        "not ",
        "///",
        " ",
        "\n",
        "=",
        "..",
        "::",
        "allow ",
        "->",
        "|",
        "&",
        "when ",
        ":",
        "<->",
        "any ",
        ".",
        "2026-",
        "tcp/",
        "//",
        "/*",
        "network ",
        "identities where ",
        "in ",
        "\\",
        "@",
        "expires ",
        "reason ",
        "owner ",
        "created ",
        "ticket ",
        "approved-by ",
        "icmp ",
        "udp/",
        "sctp/",
        "tc",
        "wh",
        "ap",
        "///x\n",
        "deny ",
        "has(",
        "matches ",
        "mtls ",
        "time ",
        "days ",
        "== ",
        "!=",
        "\"a\" ",
        "10.0.0.0/8",
        "policy p { ",
        "segment s = ",
    ];
    let mut out = String::new();
    for (i, path) in std::env::args().skip(1).enumerate() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let file = seg_diag::FileId(i as u32);
        let mut cases: Vec<String> = vec![text.clone()];
        let bounds: Vec<usize> = (0..=text.len())
            .filter(|&b| text.is_char_boundary(b))
            .collect();
        for (k, &b) in bounds.iter().enumerate() {
            cases.push(text[..b].to_string());
            if let Some(&next) = bounds.get(k + 1) {
                cases.push(format!("{}{}", &text[..b], &text[next..]));
            }
            for ins in inserts {
                cases.push(format!("{}{}{}", &text[..b], ins, &text[b..]));
            }
        }
        for c in &cases {
            let r = seg_syntax::parse(file, c);
            match r {
                Ok(f) => {
                    let _ = writeln!(out, "ok {:x}", hash(&format!("{:?}", f)));
                }
                Err(d) => {
                    let _ = writeln!(out, "err {:?}", d);
                }
            }
            let p = seg_syntax::parse_predicate(file, c);
            let _ = writeln!(out, "pred {:x}", hash(&format!("{:?}", p)));
        }
    }
    print!("{out}");
}

fn hash(s: &str) -> u64 {
    // FNV-1a: stable across builds and runs
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
