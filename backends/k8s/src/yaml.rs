//! A NetworkPolicy as YAML, written by hand: the same bytes serde-saphyr
//! writes (with the options of [`crate::files`]) for every policy whose
//! strings all take one of the few forms written here, and `None` for any
//! other, so that the caller falls back to serde-saphyr for that object.
//! Serialising through serde was the largest part of the target's time.
//!
//! The forms (each one is what serde-saphyr chooses for such a string, in
//! block context, with YAML 1.1 look-alikes quoted):
//! - a **plain** scalar, only for the strings of [`plain_value`] and
//!   [`plain_key`]: a narrow character set with no indicator, comment or
//!   mapping syntax, no value YAML 1.1 or 1.2 reads as anything but a string
//!   (bool, null, number, timestamp), and at most 80 bytes;
//! - a **folded block** (`>-`), only for a mapping value of that character
//!   set longer than 80 bytes (a long list of rule ids), wrapped at spaces as
//!   serde-saphyr wraps ([`Writer::folded`]);
//! - a **literal block** (`|-`), only for a mapping value of several
//!   non-empty lines of printable ASCII with no leading space and no
//!   trailing newline.
//!
//! Everything else (quotes, colons, control characters, non-ASCII text,
//! empty strings, long strings outside a mapping value) makes the whole
//! object go through serde-saphyr, which quotes it; so no string can ever
//! escape its scalar here that serde-saphyr would have kept in. `tests::hand_written_yaml_*` compare the
//! two writers on every object shape and on hostile strings.

use crate::model::{LabelSelector, NetworkPolicy, Peer, Port};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The policy's YAML in `out` (cleared first: one buffer serves every
/// policy, so it stops growing after the largest), or `None` when a string
/// needs a form not written here.
pub fn network_policy(p: &NetworkPolicy, out: &mut String) -> Option<()> {
    out.clear();
    let mut w = Writer { out };
    w.scalar_field("", "apiVersion", p.api_version)?;
    w.scalar_field("", "kind", p.kind)?;
    w.key("", "metadata");
    w.out.push('\n');
    let m = &p.metadata;
    w.scalar_field("  ", "name", &m.name)?;
    w.scalar_field("  ", "namespace", &m.namespace)?;
    w.string_map("  ", "labels", &m.labels)?;
    w.string_map("  ", "annotations", &m.annotations)?;
    w.key("", "spec");
    w.out.push('\n');
    let s = &p.spec;
    w.selector("  ", "podSelector", &s.pod_selector)?;
    w.key("  ", "policyTypes");
    w.seq_of_scalars("  ", &s.policy_types)?;
    if !s.ingress.is_empty() {
        w.key("  ", "ingress");
        w.out.push('\n');
        for rule in &s.ingress {
            w.rule("  ", "from", &rule.from, rule.ports.as_deref())?;
        }
    }
    if !s.egress.is_empty() {
        w.key("  ", "egress");
        w.out.push('\n');
        for rule in &s.egress {
            w.rule("  ", "to", &rule.to, rule.ports.as_deref())?;
        }
    }
    Some(())
}

struct Writer<'a> {
    out: &'a mut String,
}

impl Writer<'_> {
    /// `<lead><key>:` (no newline, no value).
    fn key(&mut self, lead: &str, key: &str) {
        self.out.push_str(lead);
        self.out.push_str(key);
        self.out.push(':');
    }

    fn scalar_field(&mut self, lead: &str, key: &str, value: &str) -> Option<()> {
        self.key(lead, key);
        self.out.push(' ');
        self.value(value)?;
        self.out.push('\n');
        Some(())
    }

    /// A string value after `key: `, ending before the newline.
    fn value(&mut self, value: &str) -> Option<()> {
        if plain_value(value) {
            self.out.push_str(value);
            Some(())
        } else {
            None
        }
    }

    /// A map of strings under `key`, its entries two columns in; `{}` when empty.
    fn string_map(&mut self, lead: &str, key: &str, map: &BTreeMap<String, String>) -> Option<()> {
        self.key(lead, key);
        if map.is_empty() {
            self.out.push_str(" {}\n");
            return Some(());
        }
        self.out.push('\n');
        let inner = indent(lead.len() + 2);
        for (k, v) in map {
            if !plain_key(k) {
                return None;
            }
            self.key(inner, k);
            if v.contains('\n') {
                self.literal(lead.len() + 4, v)?;
            } else if v.len() > FOLD_WIDTH && plain_text(v) {
                self.folded(lead.len() + 4, v);
            } else {
                self.out.push(' ');
                self.value(v)?;
                self.out.push('\n');
            }
        }
        Some(())
    }

    /// ` |-` and the lines of `value`, each indented `column` spaces.
    fn literal(&mut self, column: usize, value: &str) -> Option<()> {
        if !literal_value(value) {
            return None;
        }
        self.out.push_str(" |-\n");
        let pad = indent(column);
        for line in value.split('\n') {
            self.out.push_str(pad);
            self.out.push_str(line);
            self.out.push('\n');
        }
        Some(())
    }

    /// ` >-` and `value` ([`plain_text`]: ASCII, one line) wrapped at
    /// spaces, each line indented `column` spaces: serde-saphyr's folding,
    /// which counts the characters of a line from the last break and breaks
    /// at the last run of spaces once the count passes [`FOLD_WIDTH`] (the
    /// count restarts at the character that passed it), keeping all but one
    /// space of the run at the end of the line.
    fn folded(&mut self, column: usize, value: &str) {
        self.out.push_str(" >-\n");
        let pad = indent(column);
        let bytes = value.as_bytes();
        let mut start = 0;
        let mut col = 0;
        // The last closed run of spaces: (start, end).
        let mut last_run: Option<(usize, usize)> = None;
        let mut run_start: Option<usize> = None;
        for (i, &b) in bytes.iter().enumerate() {
            if b != b' '
                && let Some(r) = run_start.take()
            {
                last_run = Some((r, i));
            }
            if b == b' ' && run_start.is_none() {
                run_start = Some(i);
            }
            col += 1;
            if col > FOLD_WIDTH {
                let Some((ws_start, ws_end)) = last_run else {
                    break;
                };
                self.out.push_str(pad);
                self.out.push_str(&value[start..ws_start]);
                for _ in 1..ws_end - ws_start {
                    self.out.push(' ');
                }
                self.out.push('\n');
                start = ws_end;
                col = 0;
                last_run = None;
            }
        }
        self.out.push_str(pad);
        self.out.push_str(&value[start..]);
        self.out.push('\n');
    }

    /// A block sequence of plain scalars at the key's indentation (`[]` when empty).
    fn seq_of_scalars<S: AsRef<str>>(&mut self, lead: &str, items: &[S]) -> Option<()> {
        if items.is_empty() {
            self.out.push_str(" []\n");
            return Some(());
        }
        self.out.push('\n');
        for item in items {
            self.out.push_str(lead);
            self.out.push_str("- ");
            self.value(item.as_ref())?;
            self.out.push('\n');
        }
        Some(())
    }

    /// A label selector under `key` (`{}` when it selects everything).
    fn selector(&mut self, lead: &str, key: &str, s: &LabelSelector) -> Option<()> {
        self.key(lead, key);
        if s.match_labels.is_empty() && s.match_expressions.is_empty() {
            self.out.push_str(" {}\n");
            return Some(());
        }
        self.out.push('\n');
        let inner = indent(lead.len() + 2);
        if !s.match_labels.is_empty() {
            self.string_map(inner, "matchLabels", &s.match_labels)?;
        }
        if !s.match_expressions.is_empty() {
            self.key(inner, "matchExpressions");
            self.out.push('\n');
            let fields = indent(inner.len() + 2);
            for e in &s.match_expressions {
                self.out.push_str(inner);
                self.out.push_str("- ");
                self.scalar_field("", "key", &e.key)?;
                self.scalar_field(fields, "operator", e.operator)?;
                self.key(fields, "values");
                self.seq_of_scalars(fields, &e.values)?;
            }
        }
        Some(())
    }

    /// One ingress (`from`) or egress (`to`) rule as a sequence item at `lead`.
    fn rule(
        &mut self,
        lead: &str,
        peers_key: &str,
        peers: &[Peer],
        ports: Option<&[Port]>,
    ) -> Option<()> {
        let fields = indent(lead.len() + 2);
        self.out.push_str(lead);
        self.out.push_str("- ");
        self.key("", peers_key);
        self.peers(fields, peers)?;
        if let Some(ports) = ports {
            self.key(fields, "ports");
            if ports.is_empty() {
                self.out.push_str(" []\n");
            } else {
                self.out.push('\n');
                let inner = indent(fields.len() + 2);
                for p in ports {
                    self.out.push_str(fields);
                    self.out.push_str("- ");
                    self.scalar_field("", "protocol", p.protocol)?;
                    if let Some(port) = p.port {
                        let _ = writeln!(self.out, "{inner}port: {port}");
                    }
                    if let Some(end) = p.end_port {
                        let _ = writeln!(self.out, "{inner}endPort: {end}");
                    }
                }
            }
        }
        Some(())
    }

    /// The peers after `from:`/`to:`, items at `lead`.
    fn peers(&mut self, lead: &str, peers: &[Peer]) -> Option<()> {
        if peers.is_empty() {
            self.out.push_str(" []\n");
            return Some(());
        }
        self.out.push('\n');
        let fields = indent(lead.len() + 2);
        let item = format!("{lead}- ");
        for peer in peers {
            match peer {
                Peer::Pods(p) => {
                    self.selector(&item, "namespaceSelector", &p.namespace_selector)?;
                    self.selector(fields, "podSelector", &p.pod_selector)?;
                }
                Peer::Block(b) => {
                    self.key(&item, "ipBlock");
                    self.out.push('\n');
                    let inner = indent(fields.len() + 2);
                    self.scalar_field(inner, "cidr", &b.ip_block.cidr)?;
                    if !b.ip_block.except.is_empty() {
                        self.key(inner, "except");
                        self.seq_of_scalars(inner, &b.ip_block.except)?;
                    }
                }
            }
        }
        Some(())
    }
}

/// `n` spaces (the nesting of these objects stays far below the limit).
fn indent(n: usize) -> &'static str {
    const SPACES: &str = "                                                                ";
    &SPACES[..n.min(SPACES.len())]
}

/// Words YAML 1.1 or 1.2 reads as a bool, null or float whatever their case.
const WORDS: [&str; 11] = [
    "null", "true", "false", "yes", "no", "on", "off", "y", "n", "nan", "inf",
];

/// Starts with an ASCII letter and is not one of [`WORDS`], or starts with a
/// digit and holds a `/` (a CIDR): then no implicit type matches (numbers,
/// timestamps and base-60 numbers start with a digit, sign or dot and hold
/// no `/`; `~`, `<<` and `=` start with neither).
fn unambiguous(s: &str) -> bool {
    match s.as_bytes().first() {
        Some(b) if b.is_ascii_alphabetic() => !WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)),
        Some(b) if b.is_ascii_digit() => s.contains('/'),
        _ => false,
    }
}

/// A value serde-saphyr writes plain in block context: [`plain_text`] of
/// at most 80 bytes (longer ones it folds, see [`Writer::folded`]).
pub(crate) fn plain_value(s: &str) -> bool {
    s.len() <= FOLD_WIDTH && plain_text(s)
}

/// [`unambiguous`], only `A–Z a–z 0–9 - . _ / # ,` and space, not ending in
/// a space and with no `#` after a space (a comment).
fn plain_text(s: &str) -> bool {
    if !unambiguous(s) || s.ends_with(' ') {
        return false;
    }
    // One pass: every value of every policy goes through here.
    let mut after_space = false;
    for b in s.bytes() {
        if !PLAIN_TEXT[b as usize] || (after_space && b == b'#') {
            return false;
        }
        after_space = b == b' ';
    }
    true
}

/// The bytes of [`plain_text`].
const PLAIN_TEXT: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'_' | b'/' | b'#' | b',' | b' ');
        b += 1;
    }
    table
};

/// serde-saphyr's width for folding plain strings (`folded_wrap_chars`).
const FOLD_WIDTH: usize = 80;

/// A mapping key serde-saphyr writes plain: [`unambiguous`], at most 80
/// bytes, only `A–Z a–z 0–9 - . _ /`.
pub(crate) fn plain_key(s: &str) -> bool {
    s.len() <= 80
        && unambiguous(s)
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'/'))
}

/// A value serde-saphyr writes as a `|-` literal block: several lines, each
/// non-empty printable ASCII, the first not starting with a space, no
/// trailing newline.
fn literal_value(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with(' ')
        && s.split('\n')
            .all(|l| !l.is_empty() && l.bytes().all(|b| (b' '..=b'~').contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        BlockPeer, EgressRule, IngressRule, IpBlock, LabelSelectorRequirement, NetworkPolicySpec,
        ObjectMeta, PodPeer,
    };
    use std::sync::Arc;

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selector(labels: &[(&str, &str)], excluded: &[(&str, &[&str])]) -> LabelSelector {
        LabelSelector {
            match_labels: map(labels),
            match_expressions: excluded
                .iter()
                .map(|(key, values)| LabelSelectorRequirement {
                    key: key.to_string(),
                    operator: "NotIn",
                    values: values.iter().map(|v| v.to_string()).collect(),
                })
                .collect(),
        }
    }

    /// [`network_policy`] into a buffer still holding an earlier policy's
    /// text, as the files reuse one.
    fn hand(p: &NetworkPolicy) -> Option<String> {
        let mut out = "stale: text of the previous policy\n".repeat(40);
        network_policy(p, &mut out)?;
        Some(out)
    }

    /// A policy with every shape the renderer writes, `s` in every string
    /// position the inventory or the policy controls (one at a time, so that
    /// each position is compared alone).
    fn policies(s: &str) -> Vec<NetworkPolicy> {
        let pods = |ns: &str, app: &str| {
            Peer::Pods(Arc::new(PodPeer {
                namespace_selector: selector(&[("kubernetes.io/metadata.name", ns)], &[]),
                pod_selector: selector(&[("app", app)], &[]),
            }))
        };
        let block = |cidr: &str, except: &[&str]| {
            Peer::Block(BlockPeer {
                ip_block: IpBlock {
                    cidr: cidr.to_string(),
                    except: except.iter().map(|e| e.to_string()).collect(),
                },
            })
        };
        let port = |protocol, port, end_port| Port {
            protocol,
            port,
            end_port,
        };
        let base = NetworkPolicy {
            api_version: "networking.k8s.io/v1",
            kind: "NetworkPolicy",
            metadata: ObjectMeta {
                name: "seg-allow-api".into(),
                namespace: "shop".into(),
                labels: map(&[
                    ("app.kubernetes.io/managed-by", "seg"),
                    ("seg.dev/project", "bank"),
                ]),
                annotations: map(&[
                    ("seg.dev/identity", "api"),
                    ("seg.dev/ingress-0", "p#1a2b3c4d, p#5e6f7a8b"),
                    (
                        "seg.dev/rules",
                        "p#1a2b3c4d allow\np#5e6f7a8b deny, expires 2026-12-31",
                    ),
                ]),
            },
            spec: NetworkPolicySpec {
                pod_selector: selector(&[("app", "api")], &[("track", &["canary", "beta"])]),
                policy_types: vec!["Ingress", "Egress"],
                ingress: vec![
                    IngressRule {
                        from: vec![
                            pods("data", "db"),
                            block("0.0.0.0/0", &["10.1.2.0/24", "10.9.0.0/16"]),
                            block("10.0.0.0/8", &[]),
                        ],
                        ports: Some(vec![
                            port("TCP", Some(5432), None),
                            port("UDP", Some(1), Some(100)),
                            port("SCTP", None, None),
                        ]),
                    },
                    IngressRule {
                        from: vec![Peer::Pods(Arc::new(PodPeer {
                            namespace_selector: LabelSelector::default(),
                            pod_selector: LabelSelector::default(),
                        }))],
                        ports: None,
                    },
                ],
                egress: vec![EgressRule {
                    to: vec![
                        pods("shop", "web"),
                        block("192.168.0.0/16", &["192.168.1.0/24"]),
                    ],
                    ports: Some(vec![port("TCP", Some(443), None)]),
                }],
            },
        };
        let mut out = vec![base.clone()];
        let mut deny = base.clone();
        deny.spec.pod_selector = LabelSelector::default();
        deny.spec.ingress.clear();
        deny.spec.egress.clear();
        deny.metadata.labels.clear();
        out.push(deny);
        let mut each = |f: &dyn Fn(&mut NetworkPolicy)| {
            let mut p = base.clone();
            f(&mut p);
            out.push(p);
        };
        each(&|p| p.metadata.name = s.into());
        each(&|p| p.metadata.namespace = s.into());
        each(&|p| {
            p.metadata.labels.insert(s.into(), "v".into());
        });
        each(&|p| {
            p.metadata.labels.insert("k".into(), s.into());
        });
        each(&|p| {
            p.metadata
                .annotations
                .insert("seg.dev/identity".into(), s.into());
        });
        each(&|p| {
            p.metadata
                .annotations
                .insert("seg.dev/rules".into(), format!("p#1 allow: {s}\np#2 deny"));
        });
        each(&|p| {
            p.metadata
                .annotations
                .insert("seg.dev/rules".into(), format!("{s}\n{s}"));
        });
        each(&|p| p.spec.pod_selector = selector(&[(s, "v")], &[]));
        each(&|p| p.spec.pod_selector = selector(&[("app", s)], &[]));
        each(&|p| p.spec.pod_selector = selector(&[], &[(s, &["a"])]));
        each(&|p| p.spec.pod_selector = selector(&[], &[("k", &[s, "b"])]));
        each(&|p| p.spec.ingress[0].from[0] = pods(s, "db"));
        each(&|p| p.spec.ingress[0].from[0] = pods("data", s));
        each(&|p| p.spec.egress[0].to[1] = block(s, &[]));
        each(&|p| p.spec.egress[0].to[1] = block("10.0.0.0/8", &[s]));
        out
    }

    /// Plain, quoted, block and folded forms, YAML 1.1 and 1.2 look-alikes,
    /// and strings that would break out of a scalar if written as they are.
    const STRINGS: &[&str] = &[
        "api",
        "host-00011",
        "a.b_c/d-e",
        "p#1a2b3c4d, p#5e6f7a8b",
        "10.0.0.0/8",
        "0.0.0.0/0",
        "fd00::/8",
        "::/0",
        "",
        " ",
        "a ",
        " a",
        "a #b",
        "a#b",
        "yes",
        "No",
        "ON",
        "y",
        "N",
        "off",
        "null",
        "Null",
        "~",
        "true",
        "FALSE",
        "nan",
        "Inf",
        ".inf",
        "-inf",
        "0777",
        "1e3",
        "0x1F",
        "1_000",
        "1:20",
        "2001-12-14",
        "2001-12-14T21:59:43Z",
        "12/2",
        "<<",
        "=",
        "-",
        "-a",
        "? a",
        "---",
        "...",
        "a: b",
        "a:b",
        "a:",
        "[a]",
        "{a}",
        "a,b",
        "a, b",
        "&a",
        "*a",
        "!a",
        "|a",
        ">a",
        "'a'",
        "\"a\"",
        "%a",
        "@a",
        "`a",
        "a\"b",
        "a'b",
        "a\\b",
        "a\nb",
        "a\n",
        "\n",
        "a\n\nb",
        " a\nb",
        "a\r\nb",
        "a\tb",
        "a\0b",
        "a\u{7f}b",
        "a\u{85}b",
        "a\u{2028}b",
        "a\u{feff}b",
        "é",
        "a\u{fffe}",
        "😀",
        "a-very-long-value-that-goes-on-and-on-and-on-well-past-the-eighty-column-folding-width",
    ];

    /// A rule-id list of `len` bytes (serde-saphyr folds plain ones past 80).
    fn ids(len: usize) -> String {
        let mut s: String = "p#1a2b3c4d, ".repeat(8).chars().take(len - 1).collect();
        s.push('9');
        s
    }

    #[test]
    fn hand_written_yaml_is_serde_saphyr_s_byte_for_byte() {
        let mut long: Vec<String> = (78..=82).chain([150, 161, 400]).map(ids).collect();
        long.push(format!("{}  {}", ids(79), ids(90)));
        long.push(format!("{}   x{}", ids(78), "y".repeat(120)));
        long.push("z".repeat(90));
        long.push(format!("a{}", " b".repeat(60)));
        long.push(format!("{} {}", "c".repeat(85), ids(100)));
        let mut written = 0;
        for s in STRINGS
            .iter()
            .copied()
            .chain(long.iter().map(String::as_str))
        {
            for p in policies(s) {
                let reference = crate::files::saphyr(&p).expect("serde-saphyr writes it");
                if let Some(hand) = hand(&p) {
                    assert_eq!(hand, reference, "{s:?}");
                    written += 1;
                }
            }
        }
        // Not vacuous (`..._covers_the_usual_strings` says which take this path).
        assert!(written > 300, "{written}");
        assert!(plain_value(&ids(80)) && !plain_value(&ids(81)));
    }

    #[test]
    fn hand_written_yaml_covers_the_usual_strings() {
        for s in [
            "api",
            "host-00011",
            "a.b_c/d-e",
            "x.io/a-b_c.d",
            "10.0.0.0/8",
        ] {
            for p in policies(s) {
                assert!(hand(&p).is_some(), "{s:?}: {p:?}");
            }
        }
        // Long rule-id lists in annotations are folded here too.
        let mut p = policies("api").remove(0);
        p.metadata
            .annotations
            .insert("seg.dev/egress-0".into(), ids(300));
        let hand = hand(&p).expect("written by hand");
        assert!(hand.contains("seg.dev/egress-0: >-\n"), "{hand}");
    }

    /// [`plain_text`] as first written (three passes), on every string of
    /// up to four bytes over an alphabet holding each case the pass tells
    /// apart.
    #[test]
    fn one_pass_plain_text_is_the_three_pass_definition() {
        let reference = |s: &str| {
            unambiguous(s)
                && s.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'-' | b'.' | b'_' | b'/' | b'#' | b',' | b' ')
                })
                && !s.ends_with(' ')
                && !s.contains(" #")
        };
        let alphabet = ["a", "Y", "0", " ", "#", "/", "-", ",", ":", "\"", "é", "\n"];
        let mut strings = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = strings
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            for s in &longer {
                assert_eq!(plain_text(s), reference(s), "{s:?}");
            }
            strings = longer;
        }
        for b in 0..=255u8 {
            let s = format!("a{}", b as char);
            assert_eq!(plain_text(&s), reference(&s), "{b}");
        }
    }

    #[test]
    fn strings_that_need_quotes_or_folding_are_left_to_serde_saphyr() {
        for s in [
            "", "yes", "NULL", "0777", "1:20", "a: b", "a\"b", "a\nb", "fd00::/8", "a #b", "a ",
        ] {
            assert!(!plain_value(s), "{s:?}");
        }
        assert!(!plain_value(&ids(81)));
        for s in ["a,b", "a b", "a#b"] {
            assert!(!plain_key(s), "{s:?}");
        }
    }
}
