//! The hostile output against the baseline: every file parses with its real
//! reader (saphyr for YAML, serde_json for JSON, regorus for the bundle,
//! `iptables-restore --test` and `nft -c` for rulesets; kubernetes-validate and cfn-lint
//! run once per test on the collected files), and no value changed the
//! structure:
//!
//! - the same number of files per folder and kind (names derived from a
//!   value may differ, but stay distinct and inside the target folder);
//! - iptables and nftables: the same rules, chains and jumps, comments and
//!   chain-name slugs aside;
//! - YAML and JSON: the same skeleton (keys, array lengths, value types),
//!   where keys present in only one build count as data, and ports, CIDRs,
//!   protocols, directions and priorities must be equal;
//! - Terraform: the same `${…}`/`%{…}` interpolations, resource names aside;
//! - Rego: the same rule heads, the bundle tarball equal to its unpacked
//!   tree, every generated test passing, and the probes' decisions.

use super::bundle::{self, Errors};
use super::project::{Case, Probe};
use super::run::{Files, Outcome};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};

/// Keys whose values decide who may connect: compared literally.
const RELEVANT: &[&str] = &[
    "ip_protocol",
    "from_port",
    "to_port",
    "cidr_ipv4",
    "cidr_ipv6",
    "IpProtocol",
    "FromPort",
    "ToPort",
    "CidrIp",
    "CidrIpv6",
    "protocol",
    "port",
    "endPort",
    "cidr",
    "except",
    "policyTypes",
    "direction",
    "priority",
    "sourceRanges",
    "destinationRanges",
    "source_ranges",
    "destination_ranges",
    "ports",
    "IPProtocol",
    "tcp",
    "udp",
    "sctp",
    "icmp",
    "action",
    "allow",
    "plain",
];

/// Objects whose keys are data (names, labels, resource names): only their
/// number counts.
const DATA_MAPS: &[&str] = &[
    "matchLabels",
    "labels",
    "attributes",
    "identities",
    "principals",
    "pairs",
    "set_pairs",
    "Resources",
    "aws_security_group",
    "aws_vpc_security_group_ingress_rule",
    "aws_vpc_security_group_egress_rule",
    "google_compute_firewall",
    "tags",
];

/// Values whose shape follows the value itself, not the structure: a glob
/// with `*` is stored as pieces, a long doc adds a note to the report.
const OPAQUE: &[&str] = &["glob", "notes"];

/// The folder and kind of an output path: `iptables/*.ip6.rules`.
fn bucket(path: &str) -> String {
    let (dir, name) = match path.split_once('/') {
        Some((d, rest)) => (d, rest.rsplit('/').next().unwrap_or(rest)),
        None => ("", path),
    };
    let ext = match name.strip_prefix('.') {
        Some(_) => name,
        None => name.find('.').map_or("", |i| &name[i..]),
    };
    format!("{dir}/*{ext}")
}

fn kind(path: &str) -> &'static str {
    if path.ends_with(".rules") {
        "iptables"
    } else if path.ends_with(".nft") {
        "nftables"
    } else if path.ends_with(".ipset") {
        "ipset"
    } else if path.ends_with(".yaml") {
        "yaml"
    } else if path.ends_with(".json") || path.ends_with(".manifest") {
        "json"
    } else if path.ends_with(".rego") {
        "rego"
    } else {
        "other"
    }
}

/// Parsed documents of one build, by path.
struct Docs(BTreeMap<String, Json>);

fn parse(files: &Files, which: &str, problems: &mut Vec<String>) -> Docs {
    let mut out = BTreeMap::new();
    for (path, bytes) in files {
        let Ok(text) = std::str::from_utf8(bytes) else {
            if kind(path) != "other" {
                problems.push(format!("{which} `{path}` is not UTF-8"));
            }
            continue;
        };
        match kind(path) {
            "json" => match serde_json::from_str::<Json>(text) {
                Ok(v) => {
                    out.insert(path.clone(), v);
                }
                Err(e) => problems.push(format!("{which} `{path}` is not JSON: {e}")),
            },
            "yaml" => match yaml_doc(text) {
                Ok(v) => {
                    out.insert(path.clone(), v);
                }
                Err(e) => problems.push(format!("{which} `{path}`: {e}")),
            },
            _ => {}
        }
    }
    Docs(out)
}

/// One YAML document (saphyr, YAML 1.2) as JSON.
pub fn yaml_doc(text: &str) -> Result<Json, String> {
    seg_tests::yaml::document(text)
}

fn keys(v: &Json, out: &mut BTreeSet<String>) {
    match v {
        Json::Object(m) => {
            for (k, c) in m {
                out.insert(k.clone());
                keys(c, out);
            }
        }
        Json::Array(a) => a.iter().for_each(|c| keys(c, out)),
        _ => {}
    }
}

/// Keys, array lengths and value types; values only under [`RELEVANT`] keys;
/// a key outside `vocab` or of a [`DATA_MAPS`] object is data (`*`). Arrays
/// and objects are compared as multisets (order follows names, which differ).
fn skeleton(v: &Json, vocab: &BTreeSet<String>, relevant: bool, data: bool) -> String {
    match v {
        Json::Object(m) => {
            let mut parts: Vec<String> = m
                .iter()
                .map(|(k, c)| {
                    let key = if data || !vocab.contains(k) {
                        "*"
                    } else {
                        k.as_str()
                    };
                    if OPAQUE.contains(&key) {
                        return format!("{key:?}:…");
                    }
                    let inner = skeleton(
                        c,
                        vocab,
                        RELEVANT.contains(&k.as_str()),
                        !data && DATA_MAPS.contains(&k.as_str()),
                    );
                    format!("{key:?}:{inner}")
                })
                .collect();
            parts.sort();
            format!("{{{}}}", parts.join(","))
        }
        Json::Array(a) => {
            let mut parts: Vec<String> = a
                .iter()
                .map(|c| skeleton(c, vocab, relevant, false))
                .collect();
            parts.sort();
            format!("[{}]", parts.join(","))
        }
        Json::String(s) if relevant => format!("{s:?}"),
        Json::String(_) => "s".into(),
        Json::Number(n) if relevant => n.to_string(),
        Json::Number(_) => "n".into(),
        Json::Bool(b) => b.to_string(),
        Json::Null => "null".into(),
    }
}

/// Unescaped Terraform interpolations and directives in every string of
/// `v`, with resource names replaced by `*`: `${aws_security_group.*.id}`.
fn interpolations(v: &Json, out: &mut Vec<String>) {
    match v {
        Json::Object(m) => m.values().for_each(|c| interpolations(c, out)),
        Json::Array(a) => a.iter().for_each(|c| interpolations(c, out)),
        Json::String(s) => {
            let b = s.as_bytes();
            let mut i = 0;
            while i + 1 < b.len() {
                let escaped = i + 2 < b.len() && b[i] == b[i + 1] && b[i + 2] == b'{';
                if (b[i] == b'$' || b[i] == b'%') && escaped {
                    i += 3;
                } else if (b[i] == b'$' || b[i] == b'%') && b[i + 1] == b'{' {
                    let end = s[i..].find('}').map_or(s.len(), |e| i + e + 1);
                    let token = &s[i..end];
                    let parts: Vec<&str> = token.split('.').collect();
                    out.push(match parts.as_slice() {
                        [a, _, c] => format!("{a}.*.{c}"),
                        _ => token.to_string(),
                    });
                    i = end;
                } else {
                    i += 1;
                }
            }
        }
        _ => {}
    }
}

/// An iptables ruleset without comments (see [`ruleset_signature`]).
fn iptables_signature(text: &str) -> String {
    ruleset_signature(text, " -m comment --comment \"")
}

/// A ruleset without comments: its lines sorted, every comment argument
/// (`opener` up to its closing quote) cut and chains named by their kind
/// (`in-allow-ledger-acc-9516af9f` → `in-allow`). iptables and nftables alike.
fn ruleset_signature(text: &str, opener: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let mut l = l.to_string();
        while let Some(at) = l.find(opener) {
            let open = at + opener.len();
            match l[open..].find('"') {
                Some(close) => l.replace_range(at..open + close + 1, ""),
                None => break,
            }
        }
        let tokens: Vec<String> = l
            .split(' ')
            .map(|t| {
                let (colon, name) = t.strip_prefix(':').map_or(("", t), |n| (":", n));
                match ["in-allow-", "in-deny-", "out-allow-", "out-deny-"]
                    .iter()
                    .find(|p| name.starts_with(*p))
                {
                    Some(p) => format!("{colon}{}", p.trim_end_matches('-')),
                    None => t.to_string(),
                }
            })
            .collect();
        lines.push(tokens.join(" "));
    }
    lines.sort();
    lines.join("\n")
}

/// Rule heads of a Rego file (first word of each top-level line), with
/// generated test names reduced to `test_*`.
fn rego_heads(text: &str) -> Vec<String> {
    let mut heads: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .filter(|l| !l.starts_with("package ") && !l.starts_with("import "))
        .map(|l| {
            let head: String = l
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ' ')
                .collect();
            let head = head.trim().to_string();
            if head.starts_with("test_") {
                "test_*".to_string()
            } else {
                head
            }
        })
        .collect();
    heads.sort();
    heads
}

/// The source hash a build's report names (to compare files across builds).
pub fn source_hash(files: &Files) -> String {
    files
        .get("report.json")
        .and_then(|r| serde_json::from_slice::<Json>(r).ok())
        .and_then(|r| r["source_hash"].as_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn normalized(bytes: &[u8], hash: &str) -> Vec<u8> {
    String::from_utf8_lossy(bytes)
        .replace(hash, "HASH")
        .into_bytes()
}

/// What the hostile build of `case` must satisfy against its baseline.
/// `iptables` is the namespace to run `iptables-restore --test` in.
pub fn compare(case: &Case, o: &Outcome, iptables: Option<&str>) -> Vec<String> {
    let started = std::time::Instant::now();
    let mut problems = Vec::new();
    let (base, host) = (&o.baseline, &o.hostile);
    let count = |files: &Files| {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for p in files.keys() {
            *m.entry(bucket(p)).or_default() += 1;
        }
        m
    };
    if count(base) != count(host) {
        problems.push(format!(
            "{}: files per folder and kind differ:\nbaseline {:?}\nhostile  {:?}",
            case.name,
            count(base),
            count(host)
        ));
    }
    let bd = parse(base, "baseline", &mut problems);
    let hd = parse(host, "hostile", &mut problems);
    let (mut bk, mut hk) = (BTreeSet::new(), BTreeSet::new());
    bd.0.values().for_each(|v| keys(v, &mut bk));
    hd.0.values().for_each(|v| keys(v, &mut hk));
    let vocab: BTreeSet<String> = bk.intersection(&hk).cloned().collect();
    let signature = |files: &Files, docs: &Docs, path: &str| -> String {
        let bytes = &files[path];
        let text = String::from_utf8_lossy(bytes);
        match kind(path) {
            "iptables" => iptables_signature(&text),
            "nftables" => ruleset_signature(&text, " comment \""),
            "ipset" => {
                let mut l: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
                l.sort_unstable();
                l.join("\n")
            }
            "json" | "yaml" => {
                let Some(doc) = docs.0.get(path) else {
                    return "unparsed".into();
                };
                let mut s = skeleton(doc, &vocab, false, false);
                if path.ends_with(".tf.json") {
                    let mut t = Vec::new();
                    interpolations(doc, &mut t);
                    t.sort();
                    s.push_str(&format!(" interpolations {t:?}"));
                }
                s
            }
            "rego" => rego_heads(&text).join(" "),
            _ => format!(
                "{} bytes",
                if path.ends_with(".tar.gz") {
                    0
                } else {
                    bytes.len()
                }
            ),
        }
    };
    // Same path: compare directly; the rest as multisets per bucket.
    let mut unpaired: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for path in base.keys().chain(host.keys()).collect::<BTreeSet<_>>() {
        match (base.contains_key(path), host.contains_key(path)) {
            (true, true) => {
                let (b, h) = (signature(base, &bd, path), signature(host, &hd, path));
                if b != h {
                    problems.push(format!(
                        "{}: `{path}` changed structure:\n{}",
                        case.name,
                        first_difference(&b, &h)
                    ));
                }
            }
            (true, false) => unpaired
                .entry(bucket(path))
                .or_default()
                .0
                .push(signature(base, &bd, path)),
            (false, _) => unpaired
                .entry(bucket(path))
                .or_default()
                .1
                .push(signature(host, &hd, path)),
        }
    }
    for (bucket, (mut b, mut h)) in unpaired {
        b.sort();
        h.sort();
        if b != h {
            problems.push(format!(
                "{}: files `{bucket}` named after values changed structure:\n{}",
                case.name,
                first_difference(&b.join("\n----\n"), &h.join("\n----\n"))
            ));
        }
    }
    let t = std::time::Instant::now();
    if let Some(ns) = iptables {
        restore(case, base, host, ns, &mut problems);
    }
    let t_ipt = t.elapsed().as_secs_f64();
    rego(case, o, &mut problems);
    eprintln!(
        "{}: compare: skeletons {:.1} s, iptables-restore {t_ipt:.1} s, regorus {:.1} s",
        case.name,
        (t - started).as_secs_f64(),
        t.elapsed().as_secs_f64() - t_ipt
    );
    problems
}

/// Where two signatures first differ: the line, and the text around the
/// first differing character.
fn first_difference(b: &str, h: &str) -> String {
    let at = b
        .char_indices()
        .zip(h.chars())
        .find(|((_, x), y)| x != y)
        .map_or(b.len().min(h.len()), |((i, _), _)| i);
    let line = b[..at.min(b.len())].matches('\n').count() + 1;
    let window = |s: &str| {
        let from = s.floor_char_boundary(at.saturating_sub(200));
        let to = s.ceil_char_boundary((at + 200).min(s.len()));
        s.get(from..to).unwrap_or("").to_string()
    };
    format!(
        "  at line {line}, byte {at}:\n  baseline …{}…\n  hostile  …{}…",
        window(b),
        window(h)
    )
}

/// `iptables-restore --test` (or ip6tables, or `nft -c`) on every hostile
/// ruleset that is not byte-identical to the baseline's (source hash aside), after loading
/// the ipsets: all of one family in one input (one `*filter … COMMIT` block
/// each), an error's line number naming the file.
fn restore(case: &Case, base: &Files, host: &Files, ns: &str, problems: &mut Vec<String>) {
    let (bh, hh) = (source_hash(base), source_hash(host));
    // Per tool: the concatenated input, and where each file starts (line, path).
    type Input<'a> = (Vec<u8>, Vec<(usize, &'a str)>);
    let mut inputs: BTreeMap<&str, Input> = BTreeMap::new();
    for (path, bytes) in host {
        let same = base
            .get(path)
            .is_some_and(|b| normalized(b, &bh) == normalized(bytes, &hh));
        if same {
            continue;
        }
        let tool = if path.ends_with(".ipset") {
            "ipset restore -exist"
        } else if path.ends_with(".ip6.rules") {
            "ip6tables-restore --test"
        } else if path.ends_with(".rules") {
            "iptables-restore --test"
        } else if path.ends_with(".nft") {
            "nft -c -f -"
        } else {
            continue;
        };
        let (input, starts) = inputs.entry(tool).or_default();
        starts.push((input.iter().filter(|b| **b == b'\n').count() + 1, path));
        input.extend_from_slice(bytes);
        if !input.ends_with(b"\n") {
            input.push(b'\n');
        }
    }
    // Sets first: rules may name them.
    let mut order: Vec<_> = inputs.into_iter().collect();
    order.sort_by_key(|(tool, _)| !tool.starts_with("ipset"));
    for (tool, (input, starts)) in order {
        let args: Vec<&str> = tool.split(' ').collect();
        if let Err(e) = super::lab::run_in(ns, &args, Some(&input)) {
            // iptables-restore says `line: N`, nft `/dev/stdin:N:`.
            let line: Option<usize> = e
                .split("line: ")
                .nth(1)
                .or_else(|| e.split("/dev/stdin:").nth(1))
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok());
            let file = line
                .and_then(|l| starts.iter().rev().find(|(s, _)| *s <= l))
                .map(|(_, p)| *p);
            problems.push(format!(
                "{}: hostile `{}` fails `{tool}`: {e}",
                case.name,
                file.unwrap_or("?")
            ));
        }
    }
}

/// Load both bundles in regorus: same heads, tarball = tree, tests pass, probes decide as expected.
fn rego(case: &Case, o: &Outcome, problems: &mut Vec<String>) {
    let builds = [
        ("baseline", &o.baseline, vec![false; case.slots.len()]),
        ("hostile", &o.hostile, o.mask.clone()),
    ];
    for (which, files, mask) in builds {
        if !case.targets.contains("opa") {
            return;
        }
        let Some(tarball) = files.get("opa/bundle.tar.gz") else {
            problems.push(format!("{}: {which} has no bundle", case.name));
            continue;
        };
        let loaded = std::panic::catch_unwind(|| bundle::load(tarball));
        let Ok(loaded) = loaded else {
            problems.push(format!(
                "{}: the {which} bundle does not load in regorus",
                case.name
            ));
            continue;
        };
        for (name, bytes) in &loaded.files {
            if files.get(&format!("opa/bundle/{name}")) != Some(bytes) {
                problems.push(format!(
                    "{}: {which} bundle file `{name}` differs from the tree",
                    case.name
                ));
            }
        }
        let tree = files
            .keys()
            .filter(|p| p.starts_with("opa/bundle/"))
            .count();
        if tree != loaded.files.len() {
            problems.push(format!(
                "{}: {which} bundle tree has {tree} files, the tarball {}",
                case.name,
                loaded.files.len()
            ));
        }
        let mut engine = loaded.engine(Errors::Abort);
        let tests = loaded.text("seg/authz_test.rego");
        for line in tests.lines().filter(|l| l.starts_with("test_")) {
            let head: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            match bundle::eval(
                &mut engine,
                &serde_json::json!({}),
                &format!("data.seg.authz_test.{head}"),
            ) {
                Ok(Json::Bool(true)) => {}
                other => problems.push(format!(
                    "{}: {which} generated test `{head}` gives {other:?}",
                    case.name
                )),
            }
        }
        // Every probe in regorus' register VM (fast), every fourth of the
        // hostile build also in its interpreter.
        let mut vm = loaded.vm();
        for (i, Probe { what, input, allow }) in case.probes(&mask).into_iter().enumerate() {
            let mut decisions = vec![("register VM", vm.allow(&input))];
            if which == "hostile" && i % 4 == 0 {
                decisions.push(("interpreter", bundle::allow(&mut engine, &input)));
            }
            for (how, decision) in decisions {
                match decision {
                    Ok(a) if a == allow => {}
                    other => problems.push(format!(
                        "{}: {which} bundle decides {what} in the {how}: {other:?}, expected {allow}",
                        case.name
                    )),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cut_comments_and_chain_slugs() {
        let a = "-A in-allow-p-1-abcd -s 10.0.0.1/32 -m comment --comment \"x y\" -j ACCEPT\n";
        let b = "# c\n-A in-allow-q-2-ef01 -s 10.0.0.1/32 -m comment --comment \"z\" -j ACCEPT\n";
        assert_eq!(iptables_signature(a), iptables_signature(b));
        let broken = "-A in-allow-p -m comment --comment \"x\" -j ACCEPT -m comment --comment \"\" -j DROP\n";
        assert_ne!(iptables_signature(a), iptables_signature(broken));
    }

    #[test]
    fn interpolations_skip_escapes() {
        let mut t = Vec::new();
        interpolations(
            &serde_json::json!(["$${x} ${aws_security_group.a.id} %%{y} %{ if z }", "$$${w}"]),
            &mut t,
        );
        assert_eq!(t, ["${aws_security_group.*.id}", "%{ if z }"]);
    }

    #[test]
    fn buckets() {
        assert_eq!(bucket("iptables/a%2Fb.ip6.rules"), "iptables/*.ip6.rules");
        assert_eq!(bucket("opa/bundle/.manifest"), "opa/*.manifest");
        assert_eq!(bucket("report.json"), "/*.json");
    }
}
