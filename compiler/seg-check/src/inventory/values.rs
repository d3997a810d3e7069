//! Checks of single inventory values that are strings with a format:
//! addresses, free text, Kubernetes names and labels, cloud references, SPIFFE IDs.
//!
//! Each check returns `Err(problem)` with the words for a diagnostic; the
//! schema pass attaches the span and the code (E0107).

use ipnet::IpNet;
use std::net::IpAddr;

/// Why a value was refused: the message, the primary label, an optional note and a help line.
#[derive(Debug, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub label: &'static str,
    pub note: Option<String>,
    pub help: String,
}

impl Problem {
    fn new(message: impl Into<String>, label: &'static str, help: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            label,
            note: None,
            help: help.into(),
        }
    }

    fn with_note(mut self, note: impl Into<String>) -> Problem {
        self.note = Some(note.into());
        self
    }
}

/// A CIDR or a bare address (a /32 or /128). Host bits must be clear: `10.0.0.5/16`
/// is refused because it may mean the network or the one host.
pub fn address(s: &str) -> Result<IpNet, Problem> {
    let net = if s.contains('/') {
        s.parse::<IpNet>().map_err(|_| bad_address(s))?
    } else {
        IpNet::from(s.parse::<IpAddr>().map_err(|_| bad_address(s))?)
    };
    let trunc = net.trunc();
    if trunc != net {
        let host = IpNet::from(net.addr());
        return Err(Problem::new(
            format!("`{s}` has host bits set"),
            "host bits set",
            format!("write `{trunc}` for the network or `{host}` for the one address"),
        )
        .with_note(format!(
            "`{}` is an address inside the network `{trunc}`",
            net.addr()
        )));
    }
    Ok(net)
}

fn bad_address(s: &str) -> Problem {
    Problem::new(format!("invalid address `{s}`"), "not an address or CIDR", "write an address like `10.1.2.10` or a network like `10.1.0.0/16`")
        .with_note("an address is IPv4 or IPv6, optionally with a prefix length: `10.1.2.10`, `10.1.0.0/16`, `fd00::/8`")
}

/// Characters refused in names and free text: control characters (C0, DEL, C1),
/// line and paragraph separators, and bidirectional overrides that make text
/// read differently from what it is. Everything else is data.
pub fn forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Free text (an identity name, owner, label): non-empty, no forbidden character.
/// `what` is how the message names the value ("identity name").
pub fn text(s: &str, what: &str) -> Result<(), Problem> {
    if s.is_empty() {
        return Err(Problem::new(
            format!("empty {what}"),
            "empty",
            format!("give the {what} a value"),
        ));
    }
    if let Some((i, c)) = s.chars().enumerate().find(|(_, c)| forbidden_char(*c)) {
        return Err(Problem::new(
            format!("{what} contains a control character"),
            "control character",
            "remove the control character (every other character is allowed)",
        )
        .with_note(format!(
            "character {} is U+{:04X} ({})",
            i + 1,
            u32::from(c),
            char_name(c)
        )));
    }
    Ok(())
}

fn char_name(c: char) -> &'static str {
    match c {
        '\0' => "NUL",
        '\n' => "line feed",
        '\r' => "carriage return",
        '\t' => "tab",
        '\u{1b}' => "escape",
        '\u{7f}' => "delete",
        '\u{2028}' => "line separator",
        '\u{2029}' => "paragraph separator",
        c if c.is_control() => "control character",
        _ => "bidirectional text control",
    }
}

/// A Kubernetes namespace: an RFC 1123 label.
pub fn k8s_namespace(s: &str) -> Result<(), Problem> {
    if dns_label(s) {
        return Ok(());
    }
    Err(Problem::new(
        format!("invalid Kubernetes namespace `{s}`"),
        "not a valid namespace",
        "use lowercase letters, digits and `-`, starting and ending with a letter or digit",
    )
    .with_note("a namespace is an RFC 1123 label: at most 63 characters of `a-z`, `0-9` and `-`"))
}

/// A Kubernetes service account name: an RFC 1123 subdomain.
pub fn k8s_service_account(s: &str) -> Result<(), Problem> {
    if s.len() <= 253 && !s.is_empty() && s.split('.').all(dns_label) {
        return Ok(());
    }
    Err(Problem::new(
        format!("invalid Kubernetes service account `{s}`"),
        "not a valid name",
        "use lowercase letters, digits, `-` and `.`",
    )
    .with_note("a service account name is an RFC 1123 subdomain: at most 253 characters"))
}

fn dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A Kubernetes label key: `[prefix/]name`, prefix a DNS subdomain, name ≤ 63 characters.
pub fn k8s_label_key(s: &str) -> Result<(), Problem> {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let prefix_ok = prefix.is_none_or(|p| p.len() <= 253 && p.split('.').all(dns_label));
    if prefix_ok && k8s_label_name(name) && !name.is_empty() {
        return Ok(());
    }
    Err(Problem::new(format!("invalid Kubernetes label key `{s}`"), "not a valid label key", "use letters, digits, `-`, `_` and `.`, with an optional `prefix/`")
        .with_note("a label key is `[prefix/]name`: the name at most 63 characters, starting and ending with a letter or digit"))
}

/// A Kubernetes label value: empty, or ≤ 63 characters of the label-name alphabet.
pub fn k8s_label_value(s: &str) -> Result<(), Problem> {
    if s.is_empty() || k8s_label_name(s) {
        return Ok(());
    }
    Err(Problem::new(
        format!("invalid Kubernetes label value `{s}`"),
        "not a valid label value",
        "use letters, digits, `-`, `_` and `.`, at most 63 characters",
    )
    .with_note("a label value starts and ends with a letter or digit"))
}

fn k8s_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// An AWS security group id: `sg-` and 8 or 17 lowercase hex digits.
pub fn aws_security_group(s: &str) -> Result<(), Problem> {
    let ok = s.strip_prefix("sg-").is_some_and(|h| {
        (h.len() == 8 || h.len() == 17)
            && h.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    });
    if ok {
        return Ok(());
    }
    Err(Problem::new(format!("invalid security group id `{s}`"), "not a security group id", "copy the group id from the AWS console or API, or write `aws: {}` to let seg create the group")
        .with_note("a security group id is `sg-` followed by 8 or 17 lowercase hex digits"))
}

/// A GCP service account email: `name@domain`, within SMTP's limits (64
/// characters before the `@`, 254 in all) since the GCP API refuses longer.
pub fn gcp_service_account(s: &str) -> Result<(), Problem> {
    let ok = match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && s.len() <= 254
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && s.bytes().filter(|c| *c == b'@').count() == 1
                && s.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'@'))
        }
        None => false,
    };
    if ok {
        return Ok(());
    }
    Err(Problem::new(
        format!("invalid GCP service account `{s}`"),
        "not a service account email",
        "write the account's email, e.g. `payments-api@bank-prod.iam.gserviceaccount.com`",
    )
    .with_note("a GCP service account is identified by its email address, at most 64 characters before the `@` and 254 in all"))
}

/// A SPIFFE ID: `spiffe://TRUST-DOMAIN[/PATH]` as the SPIFFE ID specification
/// defines it (lowercase trust domain; path segments non-empty, not `.` or `..`).
pub fn spiffe_id(s: &str) -> Result<(), Problem> {
    let example = "write an ID like `spiffe://bank.example/ns/payments/sa/payments-api`";
    let Some(rest) = s.strip_prefix("spiffe://") else {
        return Err(Problem::new(
            format!("`{s}` is not a SPIFFE ID"),
            "must start with `spiffe://`",
            example,
        ));
    };
    let (domain, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let domain_ok = !domain.is_empty()
        && domain.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'_')
        });
    if !domain_ok {
        return Err(Problem::new(
            format!("invalid trust domain in SPIFFE ID `{s}`"),
            "invalid trust domain",
            example,
        )
        .with_note("a trust domain uses lowercase letters, digits, `.`, `-` and `_`"));
    }
    if !path.is_empty() {
        let segments_ok = path[1..].split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
        });
        if !segments_ok {
            return Err(Problem::new(format!("invalid path in SPIFFE ID `{s}`"), "invalid path", example)
                .with_note("path segments are non-empty, not `.` or `..`, and use letters, digits, `.`, `-` and `_`"));
        }
    }
    if s.len() > 2048 {
        return Err(Problem::new(
            "SPIFFE ID is longer than 2048 bytes",
            "too long",
            "shorten the ID",
        ));
    }
    Ok(())
}

/// An attribute name usable in policies: a `.seg` bare name that is not a built-in.
pub fn attribute_name(s: &str) -> Result<(), Problem> {
    if RESERVED_ATTRIBUTES.contains(&s) {
        return Err(Problem::new(
            format!("attribute name `{s}` is reserved"),
            "reserved name",
            format!("choose another name: `{s}` is a built-in field of every identity"),
        ));
    }
    if bare_name(s) {
        return Ok(());
    }
    Err(Problem::new(
        format!("invalid attribute name `{s}`"),
        "not a valid name",
        "use lowercase letters, digits, `_`, and single `-` between them, starting with a letter",
    )
    .with_note("policies refer to attributes by bare name, as in `source.team == \"payments\"`"))
}

/// Names that `where` expressions already give a meaning.
pub const RESERVED_ATTRIBUTES: &[&str] = &["name", "kind", "owner", "labels"];

/// `[a-z][a-z0-9_]*` with single `-` between alphanumerics (LANGUAGE.md §2).
fn bare_name(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_';
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| alnum(*c) || *c == b'-')
        && !b.ends_with(b"-")
        && !s.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_canonical_networks() {
        assert_eq!(
            address("10.1.2.10").map(|n| n.to_string()),
            Ok("10.1.2.10/32".into())
        );
        assert_eq!(
            address("fd00:1::10").map(|n| n.to_string()),
            Ok("fd00:1::10/128".into())
        );
        assert_eq!(
            address("FD00:0001::0/64").map(|n| n.to_string()),
            Ok("fd00:1::/64".into())
        );
        assert_eq!(
            address("10.0.0.0/8").map(|n| n.to_string()),
            Ok("10.0.0.0/8".into())
        );
        let e = address("10.0.0.5/16").expect_err("host bits");
        assert_eq!(
            e.help,
            "write `10.0.0.0/16` for the network or `10.0.0.5/32` for the one address"
        );
        for bad in [
            "10.0.0.256",
            "10.0.0.0/33",
            "010.0.0.1",
            "fe80::1%eth0",
            "",
            "10.0.0.0/",
            "host",
        ] {
            assert!(address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostile_names_are_data_but_control_characters_are_not() {
        for ok in [
            "a\"b",
            "x;rm -rf /",
            "../etc",
            "svc:payments/api",
            "ünï",
            "$(id)",
            "a b",
        ] {
            assert_eq!(text(ok, "identity name"), Ok(()), "{ok}");
        }
        for bad in [
            "a\0b",
            "a\nb",
            "a\rb",
            "\u{1b}[31m",
            "a\u{202e}b",
            "a\u{2028}b",
            "\u{85}",
            "",
        ] {
            assert!(text(bad, "identity name").is_err(), "{bad:?}");
        }
        let e = text("ab\ncd", "identity name").expect_err("newline");
        assert_eq!(e.note.as_deref(), Some("character 3 is U+000A (line feed)"));
    }

    #[test]
    fn kubernetes_names_follow_rfc_1123_and_label_rules() {
        assert!(k8s_namespace("payments-dev").is_ok());
        for bad in ["Payments", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert!(k8s_namespace(bad).is_err(), "{bad}");
        }
        assert!(k8s_service_account("payments.api").is_ok());
        assert!(k8s_label_key("app.kubernetes.io/name").is_ok());
        assert!(k8s_label_key("k8s-app").is_ok());
        assert!(k8s_label_key("/x").is_err());
        assert!(k8s_label_key("a/").is_err());
        assert!(k8s_label_value("").is_ok());
        assert!(k8s_label_value("v1.2_3").is_ok());
        assert!(k8s_label_value("a b").is_err());
        assert!(k8s_label_value("-a").is_err());
    }

    #[test]
    fn cloud_references_and_spiffe_ids() {
        assert!(aws_security_group("sg-0a1b2c3d4e5f60718").is_ok());
        assert!(aws_security_group("sg-12345678").is_ok());
        assert!(aws_security_group("sg-123").is_err());
        assert!(aws_security_group("sg-0A1B2C3D").is_err());
        assert!(gcp_service_account("payments-api@bank-prod.iam.gserviceaccount.com").is_ok());
        assert!(gcp_service_account("payments-api").is_err());
        assert!(gcp_service_account("a@b@c.d").is_err());
        let local = |n: usize| format!("{}@p.iam.gserviceaccount.com", "a".repeat(n));
        assert!(gcp_service_account(&local(64)).is_ok());
        assert!(gcp_service_account(&local(65)).is_err());
        assert!(gcp_service_account(&format!("a@{}.com", "p".repeat(250))).is_err());
        assert!(spiffe_id("spiffe://bank.example/ns/payments/sa/payments-api").is_ok());
        assert!(spiffe_id("spiffe://bank.example").is_ok());
        for bad in [
            "https://x",
            "spiffe://",
            "spiffe://Bank/x",
            "spiffe://b/x/",
            "spiffe://b//x",
            "spiffe://b/../x",
            "spiffe://b/a b",
        ] {
            assert!(spiffe_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn attribute_names_are_policy_names() {
        for ok in ["team", "env", "cost-center", "pci_scope", "tier2"] {
            assert!(attribute_name(ok).is_ok(), "{ok}");
        }
        for bad in ["Team", "2fa", "a--b", "a-", "kind", "labels", "a.b", ""] {
            assert!(attribute_name(bad).is_err(), "{bad}");
        }
    }
}
