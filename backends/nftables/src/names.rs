//! Names of chains and sets, and comment text. Every function returns text
//! that cannot change the structure of the file it lands in.
//!
//! Invariants:
//! - [`chain_name`] gives `[a-z0-9-]` names starting with a letter, at most
//!   100 bytes (a 9-byte prefix, 24 of the policy, 64 of hash; nft allows
//!   255), never an nft keyword (they contain `-`).
//! - [`set_name`] gives `v4-`/`v6-` and 24 hex digits.
//! - [`comment`] gives printable ASCII without `"`, `\` or `%` (escaped as
//!   `%XX`), at most [`MAX_COMMENT`] bytes: nft refuses longer comments.

use seg_ir::names::{digest, escape_text};

/// nft refuses a rule comment longer than 128 characters.
pub const MAX_COMMENT: usize = 128;

/// Longest readable part of a chain name.
const MAX_SLUG: usize = 24;

/// `<prefix>-<slug>-<hash>`: the readable part of the policy name, and
/// `hash_len` hex digits of its SHA-256 to keep names apart.
pub fn chain_name(prefix: &str, policy: &str, hash_len: usize) -> String {
    let hash = &digest(policy.as_bytes())[..hash_len.min(64)];
    let slug: String = policy
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(MAX_SLUG)
        .collect();
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        format!("{prefix}-{hash}")
    } else {
        format!("{prefix}-{slug}-{hash}")
    }
}

/// A named set for a group of networks: its name follows its content, so the
/// same group gets the same set on every host.
pub fn set_name(v6: bool, cidrs: &[String]) -> String {
    let family = if v6 { "6" } else { "4" };
    let key = format!("inet{family}\n{}", cidrs.join("\n"));
    format!("v{family}-{}", &digest(key.as_bytes())[..24])
}

/// Text for a `comment "…"` or a `#` line.
pub fn comment(text: &str) -> String {
    escape_text(text, MAX_COMMENT)
}

/// Whether [`comment`] keeps all of `text`.
pub fn fits(text: &str) -> bool {
    seg_ir::names::escaped_len(text) <= MAX_COMMENT
}

/// Text for a `#` line (no length limit but one line).
pub fn note(text: &str) -> String {
    escape_text(text, 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_are_plain_and_stable() {
        let n = chain_name("in-allow", "\"; accept\n}", 8);
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{n}"
        );
        assert_eq!(n, chain_name("in-allow", "\"; accept\n}", 8));
        assert_ne!(
            chain_name("in-allow", "a", 8),
            chain_name("in-allow", "b", 8)
        );
        assert!(chain_name("out-allow", &"x".repeat(10_000), 64).len() <= 100);
        assert_eq!(chain_name("out-allow", &"x".repeat(10_000), 8).len(), 43);
    }

    #[test]
    fn comments_cannot_leave_their_quotes() {
        assert_eq!(comment("a\"b\\c\nd%"), "a%22b%5Cc%0Ad%25");
        assert_eq!(comment(&"\"".repeat(100)).len(), 126);
        assert!(fits(&"x".repeat(128)) && !fits(&"x".repeat(129)));
    }
}
