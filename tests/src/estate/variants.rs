//! Edits of an estate's text that change no rule's meaning: comments,
//! whitespace and line endings, rule order within a policy, a rule moved to
//! a policy in another file, a policy file renamed. Whatever checks a
//! change (a diff, a rebuild) must see none in them.
//!
//! They work on the rendered text: a rule is the lines from its `///` doc
//! or its `allow`/`deny` line (indented two spaces) up to the next such
//! line, its continuation lines (`when`, `expires ...`) indented four.

use super::Estate;
use std::collections::BTreeMap;

/// Every variant of `estate`, named, each one kind of edit, and one with all
/// of them.
pub fn variants(estate: &Estate) -> Vec<(&'static str, Estate)> {
    type Edit = fn(&Estate) -> Estate;
    let kinds: [(&'static str, Edit); 5] = [
        ("comments", comments),
        ("whitespace", whitespace),
        ("reordered", reordered),
        ("moved rule", moved_rule),
        ("renamed file", renamed_file),
    ];
    let mut out: Vec<(&'static str, Estate)> =
        kinds.iter().map(|(name, f)| (*name, f(estate))).collect();
    let all = kinds.iter().fold(estate.clone(), |e, (_, f)| f(&e));
    out.push(("all of them", all));
    out
}

fn policy_files(e: &Estate) -> impl Iterator<Item = &String> {
    e.files
        .keys()
        .filter(|k| k.starts_with("policy/") && k.ends_with(".seg") && !k.ends_with("common.seg"))
}

fn map_policies(e: &Estate, f: impl Fn(&str) -> String) -> Estate {
    let mut out = e.clone();
    let names: Vec<String> = policy_files(e).cloned().collect();
    for name in names {
        let text = f(&e.files[&name]);
        out.files.insert(name, text);
    }
    out
}

fn starts_rule(line: &str) -> bool {
    line.starts_with("  allow ") || line.starts_with("  deny ") || line.starts_with("  ///")
}

/// Line and block comments before items and rules, and after rule lines.
fn comments(e: &Estate) -> Estate {
    map_policies(e, |text| {
        let mut out = String::from("/* A block comment\n   over two lines. */\n");
        let mut previous_doc = false;
        for line in text.lines() {
            let doc = line.starts_with("  ///");
            if (starts_rule(line) && !previous_doc) || line.starts_with("policy ") {
                out.push_str("  // A comment changes nothing.\n");
            }
            out.push_str(line);
            if line.starts_with("    ")
                || line.starts_with("  allow ")
                || line.starts_with("  deny ")
            {
                out.push_str(" // trailing");
            }
            out.push('\n');
            previous_doc = doc;
        }
        out
    })
}

/// Other indentation, spacing, blank lines and CRLF line endings.
fn whitespace(e: &Estate) -> Estate {
    map_policies(e, |text| {
        let mut out = String::new();
        for line in text.lines() {
            let spaced = if line.starts_with("  allow ") || line.starts_with("  deny ") {
                format!(
                    "\t{}",
                    line.trim_start()
                        .replace(" -> ", "   ->   ")
                        .replace(" <-> ", "  <->  ")
                )
            } else {
                line.to_string()
            };
            out.push_str(&spaced);
            out.push_str("  \r\n");
            if line.starts_with("policy ") {
                out.push_str("\r\n\r\n");
            }
        }
        out
    })
}

/// A policy's body split into its header lines and its rules.
fn split_policy(body: &[&str]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header = Vec::new();
    let mut rules: Vec<Vec<String>> = Vec::new();
    let mut previous_doc = false;
    for line in body {
        if starts_rule(line) && !previous_doc {
            rules.push(vec![line.to_string()]);
        } else if let Some(last) = rules.last_mut() {
            last.push(line.to_string());
        } else {
            header.push(line.to_string());
        }
        previous_doc = line.starts_with("  ///");
    }
    (header, rules)
}

/// Each file as lines, its policies as (start, end) line ranges of their bodies.
fn policies(text: &str) -> (Vec<&str>, Vec<(usize, usize)>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut start = None;
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("policy ") {
            start = Some(i + 1);
        } else if *l == "}"
            && let Some(s) = start.take()
        {
            out.push((s, i));
        }
    }
    (lines, out)
}

/// The rules of every policy in the opposite order.
fn reordered(e: &Estate) -> Estate {
    map_policies(e, |text| {
        let (lines, ranges) = policies(text);
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        for &(s, end) in ranges.iter().rev() {
            let (header, mut rules) = split_policy(&lines[s..end]);
            rules.reverse();
            let body: Vec<String> = header
                .into_iter()
                .chain(rules.into_iter().flatten())
                .collect();
            out.splice(s..end, body);
        }
        out.join("\n") + "\n"
    })
}

/// The first rule of the first policy with two rules, moved to a policy of
/// its own in a new file (with the same imports).
fn moved_rule(e: &Estate) -> Estate {
    let mut out = e.clone();
    let names: Vec<String> = policy_files(e).cloned().collect();
    for name in names {
        let text = &e.files[&name];
        let (lines, ranges) = policies(text);
        for &(s, end) in &ranges {
            let (header, rules) = split_policy(&lines[s..end]);
            if rules.len() < 2 {
                continue;
            }
            let mut kept: Vec<String> = lines[..s].iter().map(|l| l.to_string()).collect();
            kept.extend(header);
            kept.extend(rules[1..].iter().flatten().cloned());
            kept.extend(lines[end..].iter().map(|l| l.to_string()));
            out.files.insert(name.clone(), kept.join("\n") + "\n");
            let uses: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with("use "))
                .collect();
            let moved = format!(
                "// A rule moved here from {name}.\n{}\n\npolicy moved {{\n  owner \"team-moved\"\n  review-by 2027-06-30\n{}\n}}\n",
                uses.join("\n"),
                rules[0].join("\n")
            );
            out.files.insert("policy/zz-moved.seg".into(), moved);
            return out;
        }
    }
    out
}

/// Every policy file under a new name (imports are relative to the folder).
fn renamed_file(e: &Estate) -> Estate {
    let mut files = BTreeMap::new();
    for (k, v) in &e.files {
        let renamed = if policy_files(e).any(|p| p == k) {
            k.replace(".seg", "-renamed.seg")
        } else {
            k.clone()
        };
        files.insert(renamed, v.clone());
    }
    Estate {
        files,
        flows: e.flows.clone(),
    }
}

/// The first policy of the first policy file, moved whole into a new file
/// `policy/zz-elsewhere.seg` with the same `use` lines: its name, owner and
/// rules unchanged, only its place. (Unlike `moved rule`, which gives the
/// rule another policy, this keeps every artifact of every target the same.)
pub fn policy_moved(e: &Estate) -> Estate {
    let mut out = e.clone();
    let names: Vec<String> = policy_files(e).cloned().collect();
    for name in names {
        let text = &e.files[&name];
        let (lines, ranges) = policies(text);
        let Some(&(s, end)) = ranges.first() else {
            continue;
        };
        // From the doc lines above the `policy` line to its `}`.
        let mut first = s - 1;
        while first > 0 && lines[first - 1].starts_with("///") {
            first -= 1;
        }
        let kept: Vec<&str> = lines[..first]
            .iter()
            .chain(&lines[end + 1..])
            .copied()
            .collect();
        let uses: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("use "))
            .collect();
        out.files.insert(name.clone(), kept.join("\n") + "\n");
        out.files.insert(
            "policy/zz-elsewhere.seg".into(),
            format!(
                "// Moved here from {name}.\n{}\n\n{}\n",
                uses.join("\n"),
                lines[first..=end].join("\n")
            ),
        );
        return out;
    }
    out
}

/// A new policy file `policy/added.seg` with one rule
/// `allow [src] -> [dst] on tcp/<port>` (names as `.seg` writes them), owned.
/// This changes meaning: only what concerns `src` and `dst` may change.
pub fn with_rule_added(estate: &Estate, src: &str, dst: &str, port: u16) -> Estate {
    let mut out = estate.clone();
    let text = format!(
        "// One rule more.\npolicy added-by-test {{\n  owner \"team-added\"\n  allow [{}] -> [{}] on tcp/{port}\n}}\n",
        super::seg_name(src),
        super::seg_name(dst)
    );
    out.files.insert("policy/added.seg".to_string(), text);
    out
}
