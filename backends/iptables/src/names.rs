//! Names derived from user input: file stems, chain names, ipset names and
//! comment text. Every function here returns text that cannot change the
//! structure of the file it lands in.
//!
//! Invariants:
//! - [`file_stem`] is injective, made only of `[a-z0-9_%~-]`, never starts
//!   with `.`, is at most [`MAX_STEM`] bytes, and is never a reserved device
//!   name; so `<stem>.rules` stays inside the target folder.
//! - [`chain_name`] gives valid iptables chain names (≤ 28 bytes, `[a-z0-9-]`).
//! - [`set_name`] gives valid ipset names (≤ 31 bytes, `[a-z0-9-]`).
//! - [`comment_text`] gives printable ASCII without `"` or `\`, ≤ 255 bytes.

use seg_ir::names::digest;
pub use seg_ir::names::file_stem;

/// The IPv6 file of every host whose IPv6 ruleset is the base rules alone.
/// A host's files are `<stem>.rules`, `<stem>.ip6.rules` and `<stem>.ipset`
/// and no stem holds a `.` (it is escaped), so no host file can have this
/// name, whatever the case.
pub const SHARED_IP6: &str = "seg.base.ip6.rules";

/// The header line of a host's `<stem>.rules` saying that its IPv6 ruleset is
/// [`SHARED_IP6`] (`seg-apply.sh` looks for exactly this line).
pub const SHARED_IP6_LINE: &str = "IPv6 rules: seg.base.ip6.rules (no IPv6 rule of its own: the base rules every such host shares)";

/// iptables chain names: `XT_EXTENSION_MAXNAMELEN` (29) minus the NUL.
pub const MAX_CHAIN: usize = 28;

/// ipset set names: `IPSET_MAXNAMELEN` (32) minus the NUL.
pub const MAX_SET: usize = 31;

/// `xt_comment` keeps 256 bytes including the NUL.
pub const MAX_COMMENT: usize = 255;

/// A chain name: `<prefix>-<slug>-<hash>`, where the slug is the readable part
/// of `name` and the hash (of `name`) makes it unique; `hash_len` hex digits.
pub fn chain_name(prefix: &str, name: &str, hash_len: usize) -> String {
    let hash_len = hash_len
        .min(MAX_CHAIN.saturating_sub(prefix.len() + 1))
        .min(64);
    let hash = &digest(name.as_bytes())[..hash_len];
    let room = MAX_CHAIN.saturating_sub(prefix.len() + hash.len() + 2);
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(room)
        .collect();
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        format!("{prefix}-{hash}")
    } else {
        format!("{prefix}-{slug}-{hash}")
    }
}

/// An ipset name for a group of networks: `seg4-`/`seg6-` and 24 hex digits of
/// a digest of the family and the canonical CIDR list, so the same group gets
/// the same set everywhere and a changed group gets a new set.
pub fn set_name(v6: bool, cidrs: &[String]) -> String {
    let family = if v6 { "6" } else { "4" };
    let key = format!("inet{family}\n{}", cidrs.join("\n"));
    let mut name = format!("seg{family}-{}", &digest(key.as_bytes())[..24]);
    name.truncate(MAX_SET);
    name
}

/// Whether [`comment_text`] keeps all of `text` (nothing cut).
pub fn comment_fits(text: &str) -> bool {
    seg_ir::names::escaped_len(text) <= MAX_COMMENT
}

/// Text safe inside a double-quoted iptables-restore argument and on a `#`
/// comment line (see [`seg_ir::names::escape_text`]), cut to [`MAX_COMMENT`] bytes.
pub fn comment_text(text: &str) -> String {
    seg_ir::names::escape_text(text, MAX_COMMENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use seg_ir::names::{MAX_STEM, RESERVED};
    use std::collections::BTreeSet;

    fn decode(stem: &str) -> Vec<u8> {
        let b = stem.as_bytes();
        let (mut i, mut out) = (0, Vec::new());
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&stem[i + 1..i + 3], 16).expect("escape"));
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    fn hostile() -> Vec<String> {
        let mut v: Vec<String> = [
            "payments-api",
            "../x",
            "a/b",
            ".",
            "..",
            ".hidden",
            "a\nb",
            "a\0b",
            "A",
            "a",
            "Payments-API",
            "payments-аpi", // Cyrillic а
            "payments-api ",
            "con",
            "CON",
            "Con",
            "%63on",
            "%2E",
            "~",
            "nul",
            "lpt9",
            "com0",
            "a%2Fb",
            "x\"y",
            "x\\y",
            "πολ",
            "a b",
            "\u{202e}evil",
            "-rf",
            "_",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push("x".repeat(10_000));
        v.push(format!("{}y", "x".repeat(10_000)));
        v.push("/".repeat(10_000));
        v.push(format!("{}/", "%".repeat(66)));
        v
    }

    #[test]
    fn stems_are_safe_and_injective_on_hostile_names() {
        let mut seen = BTreeSet::new();
        let mut folded = BTreeSet::new();
        for name in hostile() {
            let stem = file_stem(&name).expect("non-empty name");
            assert!(stem.len() <= MAX_STEM, "{name:?}");
            assert!(!stem.starts_with('.'), "{stem}");
            assert!(
                stem.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b"_-%~ABCDEF".contains(&b)),
                "{stem}"
            );
            assert!(
                !RESERVED.contains(&stem.to_ascii_lowercase().as_str()),
                "{stem}"
            );
            for ext in [".rules", ".ip6.rules", ".ipset"] {
                let file = format!("{stem}{ext}");
                assert!(!file.contains('/') && file != "." && file != ".." && file.len() <= 255);
            }
            assert!(seen.insert(stem.clone()), "two names map to `{stem}`");
            assert!(
                folded.insert(stem.to_ascii_lowercase()),
                "`{stem}` collides case-insensitively"
            );
            if !stem.contains('~') {
                assert_eq!(decode(&stem), name.as_bytes(), "stems are reversible");
            }
        }
        assert_eq!(file_stem(""), None);
    }

    #[test]
    fn no_host_file_is_the_shared_ipv6_file() {
        let mut names = hostile();
        for near in [
            "seg.base",
            "seg.base.ip6",
            "SEG.BASE",
            "seg.base.ip6.rules",
            "seg%2Ebase",
            "seg-base",
            "seg_base",
        ] {
            names.push(near.to_string());
            names.push(near.to_ascii_uppercase());
        }
        let shared = SHARED_IP6.to_ascii_lowercase();
        for name in names {
            let stem = file_stem(&name).expect("non-empty name");
            assert!(!stem.contains('.'), "{stem}");
            for ext in [".rules", ".ip6.rules", ".ipset"] {
                let file = format!("{stem}{ext}").to_ascii_lowercase();
                assert_ne!(file, shared, "{name:?}");
            }
        }
        assert_eq!(
            SHARED_IP6_LINE.strip_prefix("IPv6 rules: "),
            Some(&*format!(
                "{SHARED_IP6} (no IPv6 rule of its own: the base rules every such host shares)"
            ))
        );
        assert_eq!(
            comment_text(SHARED_IP6_LINE),
            SHARED_IP6_LINE,
            "kept verbatim"
        );
    }

    #[test]
    fn stem_examples() {
        assert_eq!(file_stem("payments-api").as_deref(), Some("payments-api"));
        assert_eq!(file_stem("../x").as_deref(), Some("%2E%2E%2Fx"));
        assert_eq!(file_stem("a/b").as_deref(), Some("a%2Fb"));
        assert_eq!(file_stem(".").as_deref(), Some("%2E"));
        assert_eq!(file_stem("A").as_deref(), Some("%41"));
        assert_eq!(file_stem("con").as_deref(), Some("%63on"));
        assert_eq!(file_stem("a\nb\0").as_deref(), Some("a%0Ab%00"));
        let long = file_stem(&"x".repeat(10_000)).expect("stem");
        assert_eq!(long.len(), MAX_STEM);
        assert_eq!(&long[..MAX_STEM - 33], "x".repeat(MAX_STEM - 33));
    }

    fn well_formed(encoded: &str) -> bool {
        let b = encoded.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let ok = i + 2 < b.len()
                    && b[i + 1..=i + 2]
                        .iter()
                        .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c));
                if !ok {
                    return false;
                }
                i += 3;
            } else {
                i += 1;
            }
        }
        true
    }

    #[test]
    fn long_stems_never_split_an_escape() {
        for pad in 0..3 {
            let name = format!("{}{}", "a".repeat(pad), "/".repeat(200));
            let stem = file_stem(&name).expect("stem");
            let (head, hash) = stem.split_once('~').expect("shortened");
            assert!(well_formed(head), "{stem}");
            assert_eq!(hash.len(), 32);
        }
        for pad in 0..3 {
            let long = comment_text(&format!("{}{}", "a".repeat(pad), "\n".repeat(200)));
            assert!(well_formed(&long) && long.len() <= MAX_COMMENT, "{long}");
        }
    }

    #[test]
    fn chain_names_fit_and_differ() {
        let a = chain_name("out-allow", "a-very-long-policy-name-that-goes-on", 8);
        assert!(a.len() <= MAX_CHAIN, "{a}");
        assert!(a.starts_with("out-allow-a-very"), "{a}");
        assert_ne!(
            chain_name("in-allow", "p1", 8),
            chain_name("in-allow", "p2", 8)
        );
        assert_eq!(
            chain_name("in-deny", "ledger-access", 8),
            chain_name("in-deny", "ledger-access", 8)
        );
        let odd = chain_name("in-deny", "\"; -j ACCEPT\n", 8);
        assert!(
            odd.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{odd}"
        );
        assert!(chain_name("out-allow", "x", 20).len() <= MAX_CHAIN);
    }

    #[test]
    fn set_names_fit_and_follow_content() {
        let a = set_name(false, &["10.0.0.0/8".into()]);
        assert!(a.len() <= MAX_SET && a.starts_with("seg4-"), "{a}");
        assert_ne!(a, set_name(true, &["10.0.0.0/8".into()]));
        assert_ne!(a, set_name(false, &["10.0.0.0/9".into()]));
        assert_eq!(a, set_name(false, &["10.0.0.0/8".into()]));
    }

    #[test]
    fn comments_cannot_break_out_of_quotes() {
        let c = comment_text("a\"b\\c\nd%e é");
        assert_eq!(c, "a%22b%5Cc%0Ad%25e %C3%A9");
        let long = comment_text(&"\"".repeat(300));
        assert!(
            long.len() <= MAX_COMMENT && long.len().is_multiple_of(3),
            "{}",
            long.len()
        );
        assert_eq!(comment_text(&"x".repeat(300)).len(), MAX_COMMENT);
    }
}
