//! `seg gc`: rules that have expired removed from a `.seg` file's text, every
//! other byte kept.
//!
//! Input: one file's text and "now". Output: the text without the rules whose
//! `expires` is over at `now` ([`seg_ir::eval::live`] decides), and the list
//! of what went. A rule goes with its doc comment (`///`) and, when nothing
//! else shares its lines, with those whole lines, a comment ending its last
//! line included; a rule sharing a line with other text is cut out alone. A
//! policy whose rules all expired goes as a whole, with its doc comment. No
//! other byte changes: comments between rules, blank lines, layout and
//! unexpired rules stay as written. A file that does not parse is an error
//! and is not touched.

use seg_diag::{Diagnostic, FileId};
use seg_ir::{Expiry, Timestamp};
use seg_syntax::ast::{Item, PolicyDef, RuleDef};
use std::ops::Range;

/// One thing removed from the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    /// The policy it belonged to (or that was removed).
    pub policy: String,
    /// The rules removed, each as `policy/n` with its position and expiry.
    pub rules: Vec<RemovedRule>,
    /// The whole policy went: every rule of it had expired.
    pub whole_policy: bool,
    /// 1-based line of the policy (whole) or the rule itself, after its doc
    /// comment, in the original.
    pub line: usize,
    /// The bytes cut from the original text.
    pub range: Range<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedRule {
    /// `policy/n`, as the rule was labelled before the removal.
    pub label: String,
    /// 1-based line of the rule in the original text.
    pub line: usize,
    pub expires: Expiry,
}

/// The text after the removal, and what was removed (in text order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collected {
    pub text: String,
    pub removed: Vec<Removed>,
}

/// Remove the rules of `text` that have expired at `now` (see the module docs).
pub fn collect(file: FileId, text: &str, now: Timestamp) -> Result<Collected, Diagnostic> {
    let ast = seg_syntax::parse(file, text)?;
    let mut removed = Vec::new();
    for item in &ast.items {
        let Item::Policy(p) = item else { continue };
        let expired: Vec<(usize, &RuleDef, Expiry)> = p
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let e = r.expires.as_ref()?.node;
                (!seg_ir::eval::live(Some(e), now)).then_some((i, r, e))
            })
            .collect();
        if expired.is_empty() {
            continue;
        }
        let name = &p.name.node.text;
        let rules = |list: &[(usize, &RuleDef, Expiry)]| -> Vec<RemovedRule> {
            list.iter()
                .map(|(i, r, e)| RemovedRule {
                    label: format!("{name}/{}", i + 1),
                    line: line_of(text, r.span.start as usize),
                    expires: *e,
                })
                .collect()
        };
        if expired.len() == p.rules.len() {
            let range = lines_of(text, policy_start(p), p.span.end as usize);
            removed.push(Removed {
                policy: name.clone(),
                rules: rules(&expired),
                whole_policy: true,
                line: line_of(text, p.span.start as usize),
                range,
            });
            continue;
        }
        for entry in &expired {
            let (_, r, _) = entry;
            let start = r.doc.as_ref().map_or(r.span.start, |d| d.span.start) as usize;
            let range = lines_of(text, start, r.span.end as usize);
            removed.push(Removed {
                policy: name.clone(),
                rules: rules(std::slice::from_ref(entry)),
                whole_policy: false,
                line: line_of(text, r.span.start as usize),
                range,
            });
        }
    }
    removed.sort_by_key(|r| r.range.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in &removed {
        out.push_str(&text[at..r.range.start]);
        at = r.range.end;
    }
    out.push_str(&text[at..]);
    Ok(Collected { text: out, removed })
}

fn policy_start(p: &PolicyDef) -> usize {
    p.doc.as_ref().map_or(p.span.start, |d| d.span.start) as usize
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// `start..end` grown to whole lines when nothing but blanks precedes it on
/// its first line and nothing but blanks or one comment follows it on its
/// last; else `start..end` and the blanks right after it.
fn lines_of(text: &str, start: usize, end: usize) -> Range<usize> {
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
    let before = &text[line_start..start];
    let after = text[end..line_end].trim();
    // A comment closing the rule's last line belongs to the rule.
    let line_comment = after.starts_with("//") && !after.starts_with("///");
    let block_comment = after.starts_with("/*") && after.find("*/") == Some(after.len() - 2);
    let clean_after = after.is_empty() || line_comment || block_comment;
    if before.trim().is_empty() && clean_after {
        return line_start..line_end;
    }
    let blanks = text[end..]
        .find(|c: char| c != ' ' && c != '\t')
        .map_or(text.len() - end, |n| n);
    start..end + blanks
}

#[cfg(test)]
mod tests;
