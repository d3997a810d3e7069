//! A cheap lexical pass that runs before pest.
//!
//! pest parses nested brackets by recursion, so input such as 20,000 `(` would
//! exhaust the stack. This pass counts bracket nesting (skipping strings and
//! comments) plus runs of `not`, and rejects anything deeper than
//! [`MAX_DEPTH`] with E0003 before pest sees it. Walking the text anyway, it
//! also reports unterminated strings and block comments, whose pest error
//! would otherwise point far from the cause.

use crate::exprs::MAX_DEPTH;
use seg_diag::{Code, Diagnostic, FileId, Span};

/// Larger files are refused outright (spans are 32-bit and policies are small).
pub(crate) const MAX_BYTES: usize = 64 * 1024 * 1024;

pub(crate) fn check(file: FileId, text: &str) -> Result<(), Diagnostic> {
    if text.len() > MAX_BYTES {
        return Err(
            Diagnostic::error(Code::InputTooLarge, "file is too large to parse")
                .with_primary(Span::new(file, 0, 0), "file starts here")
                .with_note(format!(
                    "the file has {} bytes; the limit is {MAX_BYTES}",
                    text.len()
                ))
                .with_help("split the policy into several files"),
        );
    }
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut not_run = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => {
                i = skip_string(file, text, i)?;
                not_run = 0;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = match text[i + 2..].find("*/") {
                    Some(n) => i + 2 + n + 2,
                    None => {
                        return Err(Diagnostic::error(
                            Code::SyntaxError,
                            "unterminated block comment",
                        )
                        .with_primary(Span::new(file, i, i + 2), "comment starts here")
                        .with_note("block comments do not nest and end at the first `*/`")
                        .with_help("close the comment with `*/`"));
                    }
                };
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                not_run = 0;
            }
            b if b.is_ascii_whitespace() => {}
            b if b.is_ascii_alphanumeric() || b == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                if &bytes[start..i] == b"not" {
                    not_run += 1;
                    if depth + not_run > MAX_DEPTH {
                        return Err(too_deep(file, start, i));
                    }
                } else {
                    not_run = 0;
                }
                continue;
            }
            _ => not_run = 0,
        }
        if depth + not_run > MAX_DEPTH {
            return Err(too_deep(file, i, i + 1));
        }
        i += 1;
    }
    Ok(())
}

/// The index just after the string that opens at `start`.
fn skip_string(file: FileId, text: &str, start: usize) -> Result<usize, Diagnostic> {
    let bytes = text.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Ok(i + 1),
            b'\\' if bytes.get(i + 1).is_some_and(|&b| b != b'\n' && b != b'\r') => i += 2,
            b'\n' | b'\r' => break,
            _ => i += 1,
        }
    }
    Err(Diagnostic::error(Code::SyntaxError, "unterminated string")
        .with_primary(Span::new(file, start, i), "string is not closed")
        .with_note("a string ends on the line where it starts")
        .with_help("close it with `\"`; write a line break inside a string as `\\n`"))
}

fn too_deep(file: FileId, start: usize, end: usize) -> Diagnostic {
    Diagnostic::error(Code::InputTooLarge, "expression nests too deeply")
        .with_primary(
            Span::new(file, start, end),
            format!("more than {MAX_DEPTH} levels deep"),
        )
        .with_note(format!(
            "brackets, parentheses and chains of `not` may nest at most {MAX_DEPTH} levels"
        ))
        .with_help("split the expression into named segments")
}
