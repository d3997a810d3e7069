//! Finding the comments of a file, which the AST does not keep.
//!
//! Comments sit only between tokens. Outside them, the only tokens that may
//! hold `//` or `/*` are strings and `use` file paths (`./a//b.seg`): strings
//! are skipped lexically, and file paths are passed in as opaque ranges taken
//! from the AST.

use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `// ...` or `/// ...` (a doc line is laid out like a line comment).
    Line,
    /// `/* ... */`, possibly over several lines.
    Block,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Comment {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
    /// Only whitespace between the start of its line and the comment.
    pub own_line: bool,
    /// Only whitespace between the comment and the end of its line.
    pub ends_line: bool,
    /// An empty line lies between the previous code or comment and this one.
    pub blank_before: bool,
}

/// Every comment of `text`, in order. `opaque` ranges (file paths in `use`)
/// are skipped whole.
pub(crate) fn scan(text: &str, opaque: &[Range<usize>]) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(r) = opaque.iter().find(|r| r.contains(&i)) {
            i = r.end;
            continue;
        }
        match bytes[i] {
            b'"' => i = skip_string(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
                let end = i + text[i..end].trim_end().len();
                out.push(comment(text, i, end, Kind::Line));
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
                out.push(comment(text, i, end, Kind::Block));
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

fn comment(text: &str, start: usize, end: usize, kind: Kind) -> Comment {
    let before = &text[..start];
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let after = &text[end..];
    let line_end = after.find('\n').unwrap_or(after.len());
    let gap = &before[before.trim_end_matches(is_space).len()..];
    Comment {
        start,
        end,
        kind,
        own_line: before[line_start..].chars().all(is_space),
        ends_line: after[..line_end].chars().all(is_space),
        blank_before: gap.matches('\n').count() >= 2,
    }
}

/// Whitespace as the grammar has it (a byte-order mark included).
pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{FEFF}')
}

/// The index just after the string opening at `start` (or the end of its line).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return i + 1,
            b'\\' if i + 1 < bytes.len() && bytes[i + 1] != b'\n' => i += 2,
            b'\n' => return i,
            _ => i += 1,
        }
    }
    i
}

/// The first offset at or after `pos` that is neither whitespace nor inside a
/// comment. Called between tokens only.
pub(crate) fn skip_trivia(text: &str, mut pos: usize) -> usize {
    loop {
        let rest = &text[pos.min(text.len())..];
        let trimmed = rest.trim_start_matches(is_space);
        pos += rest.len() - trimmed.len();
        if trimmed.starts_with("//") {
            pos += trimmed.find('\n').unwrap_or(trimmed.len());
        } else if let Some(body) = trimmed.strip_prefix("/*") {
            pos += body.find("*/").map_or(trimmed.len(), |n| n + 4);
        } else {
            return pos;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_paths_hide_slashes() {
        let text = "use ./a//b.seg::{x} // one\nsegment s = [\"a//b\", /* two */ c]\n";
        let path = 4..14;
        let found = scan(text, &[path]);
        let texts: Vec<&str> = found.iter().map(|c| &text[c.start..c.end]).collect();
        assert_eq!(texts, ["// one", "/* two */"]);
        assert!(!found[0].own_line && found[0].ends_line);
        assert!(!found[1].own_line && !found[1].ends_line);
    }

    #[test]
    fn blank_lines_and_own_lines() {
        let text = "a\n\n  // x\n/* y */ b";
        let found = scan(text, &[]);
        assert!(found[0].own_line && found[0].blank_before);
        assert!(found[1].own_line && !found[1].blank_before && !found[1].ends_line);
        assert_eq!(skip_trivia(text, 1), text.len() - 1);
    }
}
