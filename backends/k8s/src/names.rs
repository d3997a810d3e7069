//! What Kubernetes accepts as names, label keys and label values, and the
//! object names seg derives from identity names.
//!
//! Object names are DNS-1123 labels (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most
//! 63 characters). A name that had to be changed (case, characters, length)
//! gets a suffix from a SHA-256 of the original, so distinct identities keep
//! distinct names; the caller still checks for collisions.

use sha2::{Digest, Sha256};

pub const MAX_LABEL: usize = 63;
const MAX_SUBDOMAIN: usize = 253;

/// A DNS-1123 label: namespaces and object names.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LABEL
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SUBDOMAIN && s.split('.').all(is_dns_label)
}

/// The name part of a label key, and a non-empty label value:
/// alphanumerics, `-`, `_`, `.`, starting and ending with an alphanumeric.
fn is_qualified_word(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LABEL
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Why a label key is invalid, or `None` when it is valid.
pub fn label_key_problem(key: &str) -> Option<&'static str> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && !is_dns_subdomain(p)
    {
        return Some(
            "a key prefix is a DNS subdomain: lowercase alphanumerics, `-` and `.`, at most 253 characters",
        );
    }
    if !is_qualified_word(name) {
        return Some(
            "a key name has at most 63 characters: alphanumerics, `-`, `_` and `.`, starting and ending with an alphanumeric",
        );
    }
    None
}

/// Why a label value is invalid, or `None` when it is valid (empty is valid).
pub fn label_value_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() || is_qualified_word(value) {
        None
    } else {
        Some(
            "a value has at most 63 characters: alphanumerics, `-`, `_` and `.`, starting and ending with an alphanumeric",
        )
    }
}

/// `prefix` + the identity name as a DNS-1123 label. Kept verbatim when it
/// already fits; otherwise lowercased, every other character turned into
/// `-`, shortened, and suffixed with 10 hex digits of SHA-256(name).
pub fn object_name(prefix: &str, name: &str) -> String {
    let verbatim = format!("{prefix}{name}");
    if is_dns_label(&verbatim) {
        return verbatim;
    }
    let mut clean = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            clean.push(c);
        } else if !clean.ends_with('-') {
            clean.push('-');
        }
    }
    let suffix = short_hash(name);
    // prefix + clean + "-" + suffix must fit in 63.
    let room = MAX_LABEL.saturating_sub(prefix.len() + 1 + suffix.len());
    let clean: String = clean.trim_matches('-').chars().take(room).collect();
    let clean = clean.trim_end_matches('-');
    if clean.is_empty() {
        format!("{prefix}{suffix}")
    } else {
        format!("{prefix}{clean}-{suffix}")
    }
}

/// The value of the project label: the project name when it is a valid
/// label value, else [`object_name`]'s cleaned form with its hash suffix
/// (a valid label value too: a DNS label).
pub fn project_label(project: &str) -> String {
    if !project.is_empty() && label_value_problem(project).is_none() {
        project.to_string()
    } else {
        object_name("", project)
    }
}

fn short_hash(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest.iter().take(5).map(|b| format!("{b:02x}")).collect()
}

/// User input shown inside a message: escaped, at most 64 characters.
pub fn shown(s: &str) -> String {
    let escaped: String = s.escape_debug().collect();
    if escaped.chars().count() > 64 {
        let cut: String = escaped.chars().take(61).collect();
        format!("{cut}...")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("payments"));
        assert!(is_dns_label("a-1"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("a-"));
        assert!(!is_dns_label("A"));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label("a.b"));
        assert!(is_dns_label(&"a".repeat(63)));
        assert!(!is_dns_label(&"a".repeat(64)));
    }

    #[test]
    fn label_keys_and_values() {
        assert_eq!(label_key_problem("app"), None);
        assert_eq!(label_key_problem("app.kubernetes.io/name"), None);
        assert_eq!(label_key_problem("k8s-app"), None);
        assert!(label_key_problem("Bad_Prefix/x").is_some());
        assert!(label_key_problem("/x").is_some());
        assert!(label_key_problem("a/").is_some());
        assert!(label_key_problem("a/b/c").is_some());
        assert!(label_key_problem("-x").is_some());
        assert!(label_key_problem(&"k".repeat(64)).is_some());
        assert_eq!(label_value_problem(""), None);
        assert_eq!(label_value_problem("Payments_API.v2"), None);
        assert!(label_value_problem("yes no").is_some());
        assert!(label_value_problem("a\nb").is_some());
        assert!(label_value_problem("x-").is_some());
        assert!(label_value_problem(&"v".repeat(64)).is_some());
    }

    #[test]
    fn object_names_are_labels_and_stable() {
        assert_eq!(
            object_name("seg-allow-", "payments-api"),
            "seg-allow-payments-api"
        );
        let odd = object_name("seg-allow-", "svc:Payments/API");
        assert!(odd.starts_with("seg-allow-svc-payments-api-"), "{odd}");
        assert!(is_dns_label(&odd));
        assert_eq!(odd, object_name("seg-allow-", "svc:Payments/API"));
        assert_ne!(
            object_name("seg-allow-", "Foo"),
            object_name("seg-allow-", "FOO")
        );
        let long = object_name("seg-allow-", &"x".repeat(10_000));
        assert!(is_dns_label(&long) && long.len() <= 63, "{long}");
        for hostile in [
            "",
            "..",
            "/",
            "\0",
            "\n",
            "ü",
            "-",
            "a--b",
            "../../etc/passwd",
        ] {
            let n = object_name("seg-allow-", hostile);
            assert!(is_dns_label(&n), "{hostile:?} -> {n}");
        }
    }

    #[test]
    fn shown_escapes_and_truncates() {
        assert_eq!(shown("a\nb"), "a\\nb");
        assert_eq!(shown(&"z".repeat(100)).chars().count(), 64);
    }
}
