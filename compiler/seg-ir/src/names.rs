//! Names derived from user input that several targets share: the file stem
//! of a host's files, and escaped text for comments.
//!
//! Invariants:
//! - [`file_stem`] is injective, made only of `[a-z0-9_%~-]`, never starts
//!   with `.`, is at most [`MAX_STEM`] bytes, and is never a reserved device
//!   name; so `<stem>.<ext>` stays inside the target folder.
//! - [`escape_text`] gives printable ASCII without `"`, `\` or `%` (each written
//!   `%XX`, like every other byte), cut without splitting an escape.

use sha2::{Digest, Sha256};

/// Longest file stem: leaves room for `.ip6.rules` under the usual 255-byte
/// limit of a path component.
pub const MAX_STEM: usize = 200;

/// Names some file systems refuse whatever the extension (Windows devices).
pub const RESERVED: [&str; 22] = [
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    let mut out = String::with_capacity(text.len());
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
