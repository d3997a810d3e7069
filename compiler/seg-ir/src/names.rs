//! Names derived from user input that several targets share: the file stem
//! of a host's files (and the hosts a host target writes), escaped text for
//! comments, and the summary of a rule that host files carry as comments.
//!
//! Invariants:
//! - [`file_stem`] is injective, made only of `[a-z0-9_%~-]`, never starts
//!   with `.`, is at most [`MAX_STEM`] bytes, and is never a reserved device
//!   name; so `<stem>.<ext>` stays inside the target folder.
//! - [`escape_text`] gives printable ASCII without `"`, `\` or `%` (each written
//!   `%XX`, like every other byte), cut without splitting an escape.

use crate::{Action, IdentityId, Program, Rule};
use seg_diag::{Code, Diagnostic, Diagnostics};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Longest file stem: leaves room for `.ip6.rules` under the usual 255-byte
/// limit of a path component.
pub const MAX_STEM: usize = 200;

/// Names some file systems refuse whatever the extension (Windows devices).
pub const RESERVED: [&str; 22] = [
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Lowercase hex, two digits per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Lowercase hex SHA-256 of `data`.
pub fn digest(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Keep `[a-z0-9_-]`, write every other byte as `%XX` (uppercase hex).
/// Reversible, hence injective; the output never contains a lowercase hex
/// digit after `%`, so it also stays injective on case-insensitive file systems.
fn percent_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name.as_bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The file stem for an identity name; `None` for the empty name.
///
/// Reserved device names get their first byte encoded (`con` → `%63on`): the
/// plain encoding never writes an allowed byte as `%XX`, so this image is
/// still unique. Stems longer than [`MAX_STEM`] are cut and end with `~` and
/// 32 hex digits of the name's SHA-256; `~` never occurs in an encoding, so a
/// shortened stem cannot equal a plain one.
pub fn file_stem(name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let mut stem = percent_encode(name);
    if RESERVED.contains(&stem.as_str()) {
        stem = format!("%{:02X}{}", stem.as_bytes()[0], &stem[1..]);
    }
    if stem.len() > MAX_STEM {
        let keep = cut_before_escape(&stem, MAX_STEM - 33);
        stem = format!("{}~{}", &stem[..keep], &digest(name.as_bytes())[..32]);
    }
    Some(stem)
}

/// The hosts of a host target (`iptables`, `nftables`): every identity with
/// addresses, in inventory order, with its [`file_stem`]. An identity that
/// cannot have one is reported (an invalid target value) and left out.
pub fn host_stems(
    program: &Program,
    target: &str,
    diags: &mut Diagnostics,
) -> Vec<(IdentityId, String)> {
    let mut out = Vec::new();
    let mut taken: BTreeMap<String, IdentityId> = BTreeMap::new();
    for identity in program
        .identities
        .iter()
        .filter(|i| !i.addresses.is_empty())
    {
        let Some(stem) = file_stem(&identity.name) else {
            diags.push(
                Diagnostic::error(
                    Code::InvalidTargetValue,
                    format!("an identity with an empty name cannot be a host on `{target}`"),
                )
                .with_primary(identity.origin, "empty name")
                .with_note("each host's files are named after its identity")
                .with_help("give the identity a name"),
            );
            continue;
        };
        if let Some(other) = taken.get(&stem) {
            // Unreachable for distinct names (stems are injective); checked anyway.
            diags.push(
                Diagnostic::error(
                    Code::InvalidTargetValue,
                    format!(
                        "identities `{}` and `{}` get the same `{target}` file name",
                        program.identity(*other).name.escape_debug(),
                        identity.name.escape_debug()
                    ),
                )
                .with_primary(identity.origin, "file name taken")
                .with_help("rename one of the identities"),
            );
            continue;
        }
        taken.insert(stem.clone(), identity.id);
        out.push((identity.id, stem));
    }
    out
}

/// What a rule says beyond its id, as comment lines before escaping: id,
/// action, services, owner and expiry; its doc comment; its reason (never
/// where it is written, so that the text depends only on meaning).
pub fn rule_summary(rule: &Rule) -> Vec<String> {
    let p = &rule.provenance;
    let action = match rule.action {
        Action::Allow => "allow",
        Action::Deny => "deny",
    };
    let mut head = format!("{} {action} on {}", p.id, rule.services);
    if let Some(owner) = &p.owner {
        head.push_str(&format!(", owner {owner}"));
    }
    if let Some(e) = rule.expires {
        head.push_str(&format!(", expires {e}"));
    }
    let mut out = vec![head];
    if let Some(doc) = &p.doc {
        out.extend(doc.lines().map(|l| format!("/// {l}")));
    }
    if let Some(reason) = &p.reason {
        out.push(format!("reason: {reason}"));
    }
    out
}

/// The largest `n <= max` that does not split a `%XX` escape of `s`.
pub fn cut_before_escape(s: &str, max: usize) -> usize {
    let b = s.as_bytes();
    let mut n = max.min(b.len());
    // An escape starts at most two bytes before the cut.
    for back in 1..=2 {
        if n >= back && b[n - back] == b'%' {
            n -= back;
            break;
        }
    }
    n
}

/// A byte [`escape_text`] keeps as it is.
fn kept(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' && b != b'%'
}

/// The length of `text` once escaped by [`escape_text`], before any cut.
pub fn escaped_len(text: &str) -> usize {
    text.bytes().map(|b| if kept(b) { 1 } else { 3 }).sum()
}

/// Text safe inside a double-quoted argument (iptables, nft) and on a `#`
/// comment line: printable ASCII except `"`, `\` and `%`, which are written as
/// `%XX` like every other byte; cut to `max` bytes without splitting an escape.
pub fn escape_text(text: &str, max: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    // Runs of kept bytes are copied whole (most text is nothing but).
    let mut run = 0;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if kept(b) {
            continue;
        }
        // Kept bytes are ASCII, so a non-empty run starts and ends on
        // character boundaries.
        if run < i {
            out.push_str(&text[run..i]);
        }
        out.push('%');
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
        run = i + 1;
    }
    out.push_str(&text[run..]);
    if out.len() > max {
        let keep = cut_before_escape(&out, max);
        out.truncate(keep);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `escape_text` as first written: byte by byte.
    fn reference(text: &str, max: usize) -> String {
        let mut out = String::new();
        for &b in text.as_bytes() {
            if kept(b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        if out.len() > max {
            let keep = cut_before_escape(&out, max);
            out.truncate(keep);
        }
        out
    }

    #[test]
    fn escaped_text_is_the_byte_by_byte_escape() {
        let texts = [
            "",
            "plain text",
            "%",
            "a%b",
            "\"q\"",
            "back\\slash",
            "é",
            "aé",
            "éa",
            "a😀b",
            "\u{7f}\u{0}\n\t",
            "ends with é",
            "x\u{2028}y",
            "%%%%",
            "tab\there",
        ];
        for t in texts {
            for max in [0, 1, 2, 3, 4, 5, 8, 255, usize::MAX] {
                assert_eq!(escape_text(t, max), reference(t, max), "{t:?} {max}");
            }
        }
        let all: String = (0u32..0x250).filter_map(char::from_u32).collect();
        assert_eq!(escape_text(&all, usize::MAX), reference(&all, usize::MAX));
        assert_eq!(escape_text(&all, 300), reference(&all, 300));
    }
}
