//! A large YAML inventory read on two threads.
//!
//! On a large estate the YAML scanner is most of `seg check` and runs on one
//! core. A file shaped as "top-level mapping whose last key holds one long
//! block list" is cut at an item of that list: the head (the mapping with the
//! first items) and the tail (the remaining items, a list on its own) are
//! parsed at once and joined, with the tail's spans moved back to file bytes.
//!
//! The join must give exactly the tree of the sequential parse, so a cheap
//! byte scan refuses anything where a line at the list's indent might not
//! start an item (quoted scalars or flow collections over several lines,
//! block scalars, anchors, aliases, tags, directives, document markers, tabs,
//! non-ASCII text) and any piece that fails is dropped: `None` means "parse
//! the whole file as before", which also gives every diagnostic as before.

use super::tree::{Node, Value, parse_piece};
use seg_diag::{FileId, Span};

/// Smaller files are read on one thread: a thread costs more than it saves.
pub(super) const MIN_SPLIT_BYTES: usize = 256 * 1024;

/// The file's tree read in two pieces, or `None` to read it whole.
pub(super) fn parse_in_two(file: FileId, text: &str) -> Option<Node> {
    if text.len() < MIN_SPLIT_BYTES {
        return None;
    }
    let (cut, indent) = find_cut(text)?;
    let (head, tail) = text.split_at(cut);
    let (head, tail) = std::thread::scope(|s| {
        let tail = std::thread::Builder::new()
            .name("seg-inventory-tail".into())
            .spawn_scoped(s, || parse_piece(file, tail, 1))
            .ok()?;
        let head = parse_piece(file, head, 0);
        Some((head, tail.join()))
    })?;
    join(head.ok()?, tail.ok()?.ok()?, cut, indent)
}

/// The byte where the tail starts (the first item line of the big list at or
/// after the middle of the file) and the list's indent, when the whole file
/// passes the scan.
pub(super) fn find_cut(text: &str) -> Option<(usize, usize)> {
    if !text.bytes().all(plain_byte) {
        return None;
    }
    let half = text.len() / 2;
    let mut item_indent = None;
    let mut after_top_key = false;
    let mut cut = None;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let body = line.strip_suffix('\n').unwrap_or(line);
        if body.starts_with("---") || body.starts_with("...") {
            return None;
        }
        let code = code_of_line(body)?;
        let content = code.trim_start_matches(' ');
        if content.trim_end().is_empty() {
            continue;
        }
        let indent = code.len() - content.len();
        let is_item = content.starts_with("- ");
        match item_indent {
            None if is_item => {
                if !after_top_key {
                    return None;
                }
                item_indent = Some(indent);
            }
            None => after_top_key = indent == 0 && content.trim_end().ends_with(':'),
            Some(n) if indent == n && is_item => {
                if cut.is_none() && start >= half {
                    cut = Some((start, n));
                }
            }
            Some(n) if indent <= n => return None,
            Some(_) => {}
        }
    }
    cut
}

/// Printable ASCII and newlines, without the bytes that start anchors,
/// aliases, tags, block scalars, directives or complex keys.
fn plain_byte(b: u8) -> bool {
    b == b'\n' || ((0x20..0x7f).contains(&b) && !b"&*!|>%?".contains(&b))
}

/// The line without its comment, or `None` when a quoted scalar or a flow
/// collection may go on past the line end (or a quote sits inside a word,
/// where telling a plain scalar from a quoted one needs the real scanner).
fn code_of_line(body: &str) -> Option<&str> {
    let b = body.as_bytes();
    let mut depth = 0usize;
    let mut quote = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(b'"') => match c {
                b'\\' => i += 1,
                b'"' => quote = None,
                _ => {}
            },
            Some(_) => {
                if c == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        i += 1;
                    } else {
                        quote = None;
                    }
                }
            }
            None => match c {
                b'\'' | b'"' => {
                    if i > 0 && !matches!(b[i - 1], b' ' | b'[' | b'{' | b',') {
                        return None;
                    }
                    quote = Some(c);
                }
                b'#' if i == 0 || b[i - 1] == b' ' => {
                    return (depth == 0).then_some(&body[..i]);
                }
                b'[' | b'{' => depth += 1,
                b']' | b'}' => depth = depth.checked_sub(1)?,
                _ => {}
            },
        }
        i += 1;
    }
    (quote.is_none() && depth == 0).then_some(body)
}

/// The head's last entry takes the tail's items; spans of the tail move by `cut`.
fn join(mut head: Node, mut tail: Node, cut: usize, indent: usize) -> Option<Node> {
    shift(&mut tail, cut);
    let Value::Seq(more) = tail.value else {
        return None;
    };
    let Value::Map(entries) = &mut head.value else {
        return None;
    };
    let (_, list) = entries.last_mut()?;
    let Value::Seq(items) = &mut list.value else {
        return None;
    };
    // Block collections still open at the cut end, in the whole file, at the
    // next item's `-`; in the head they end at the head's end.
    let mut open = items.last_mut()?;
    while open.span.end as usize == cut {
        open.span = Span::new(open.span.file, open.span.start as usize, cut + indent);
        let last = match &mut open.value {
            Value::Seq(items) => items.last_mut(),
            Value::Map(entries) => entries.last_mut().map(|(_, v)| v),
            _ => None,
        };
        let Some(last) = last else { break };
        open = last;
    }
    items.extend(more);
    // The list and the mapping both end where the file's last item ends.
    list.span.end = tail.span.end;
    head.span.end = head.span.end.max(tail.span.end);
    Some(head)
}

/// Move every span of a tree by `by` bytes (iterative: no deep recursion).
fn shift(node: &mut Node, by: usize) {
    let mut todo = vec![node];
    while let Some(n) = todo.pop() {
        n.span = Span::new(
            n.span.file,
            n.span.start as usize + by,
            n.span.end as usize + by,
        );
        match &mut n.value {
            Value::Seq(items) => todo.extend(items.iter_mut()),
            Value::Map(entries) => {
                for (k, v) in entries.iter_mut() {
                    todo.push(k);
                    todo.push(v);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::tree::parse;

    const F: FileId = FileId(0);

    /// An inventory of `n` identities in one of several shapes.
    fn inventory(n: usize, shape: usize) -> String {
        let ind = if shape.is_multiple_of(2) { "  " } else { "" };
        let mut t = String::from("# generated\nversion: 1\nattributes:\n  tier: [gold, silver]\n");
        t.push_str(if shape == 2 {
            "identities:   # all of them\n"
        } else {
            "identities:\n"
        });
        for i in 0..n {
            t.push_str(&format!(
                "{ind}- name: host-{i:05}\n{ind}  kind: workload\n"
            ));
            match (shape + i) % 5 {
                0 => t.push_str(&format!("{ind}  addresses: [10.0.{}.{}/32]\n", i / 256 % 256, i % 256)),
                1 => t.push_str(&format!(
                    "{ind}  addresses:\n{ind}    - 10.1.{}.0/24\n{ind}    - 10.2.{}.0/24\n",
                    i % 256,
                    i % 256
                )),
                2 => t.push_str(&format!(
                    "{ind}  owner: 'team # {i}'\n{ind}  note: \"a \\\"quoted\\\" - x: [y]\"\n\n# between items\n"
                )),
                3 => t.push_str(&format!(
                    "{ind}  kubernetes: {{ namespace: ns-{i}, labels: {{ app: 'it''s' }} }}\n{ind}  aws:\n"
                )),
                _ => t.push_str(&format!("{ind}  labels: {{}}\n{ind}  owner: team-{i} # trailing\n")),
            }
        }
        if shape == 3 {
            t.push_str("# the end\n\n");
        }
        t
    }

    /// The whole-file parse, the reference every split parse must equal.
    fn sequential(text: &str) -> Result<Node, seg_diag::Diagnostic> {
        parse_piece(F, text, 0)
    }

    #[test]
    fn two_pieces_give_the_sequential_tree_exactly() {
        for shape in 0..4 {
            let text = inventory(3000, shape);
            assert!(text.len() > MIN_SPLIT_BYTES, "{shape}: {}", text.len());
            assert!(find_cut(&text).is_some(), "shape {shape} is not split");
            let whole = sequential(&text).expect("valid");
            assert_eq!(parse_in_two(F, &text), Some(whole.clone()), "shape {shape}");
            assert_eq!(parse(F, &text), Ok(whole), "shape {shape}");
        }
    }

    #[test]
    fn every_cut_joins_like_the_sequential_parse() {
        // Small files, cut at every item: the seams of a large file, many times over.
        let text = inventory(12, 0);
        let whole = sequential(&text).expect("valid");
        for (at, _) in text.match_indices("\n  - ").skip(1) {
            let cut = at + 1;
            let head = parse_piece(F, &text[..cut], 0).expect("head");
            let tail = parse_piece(F, &text[cut..], 1).expect("tail");
            assert_eq!(
                join(head, tail, cut, 2),
                Some(whole.clone()),
                "cut at {cut}"
            );
        }
    }

    fn padded(body: &str) -> String {
        let mut t = body.to_string();
        let mut i = 0;
        while t.len() <= MIN_SPLIT_BYTES {
            t.push_str(&format!("  - name: pad-{i}\n    kind: workload\n"));
            i += 1;
        }
        t
    }

    #[test]
    fn unsure_files_are_read_whole_with_the_same_result() {
        let half = |s: &str| {
            padded(&format!(
                "identities:\n{}",
                padded(s).split_at(MIN_SPLIT_BYTES / 2).0
            ))
        };
        let tricky = [
            // a quoted scalar over lines that look like items
            padded("identities:\n  - name: 'a\n  - name: b'\n"),
            padded("identities:\n  - name: \"a\n  - b\"\n"),
            // a block scalar with item-like lines
            padded("identities:\n  - note: |\n  - not an item\n"),
            // anchors, aliases, tags, directives, documents, tabs
            padded("identities:\n  - &a name: x\n  - *a\n"),
            padded("identities:\n  - !!str name: x\n"),
            padded("%YAML 1.2\n---\nidentities:\n  - name: x\n"),
            padded("identities:\n  - name: x\n...\n"),
            padded("identities:\n  - name: x\n  \t- name: y\n"),
            // a flow list over lines
            padded("identities: [\n  - a,\n  ]\n"),
            padded("identities:\n  - addresses: [10.0.0.0/8,\n  - 10.1.0.0/16]\n"),
            // a quote inside a word, another key after the list, a nested first list
            half("  - name: o'brien\n"),
            padded("meta:\n  tags:\n    - a\nidentities:\n  - name: x\n"),
            format!("{}version: 1\n", padded("identities:\n")),
            format!("\u{feff}{}", padded("identities:\n")),
            padded("identities:\n  - name: é\n"),
        ];
        for text in &tricky {
            assert_eq!(find_cut(text), None, "{}", &text[..60.min(text.len())]);
            assert_eq!(parse(F, text), sequential(text));
        }
    }

    #[test]
    fn a_broken_item_after_the_cut_gives_the_sequential_diagnostic() {
        for broken in [
            "  - name: x\n   kind: y\n",
            "  - name: x\n    - y\n",
            "  - name: x: y\n",
        ] {
            let text = format!("{}{broken}", padded("identities:\n"));
            let (cut, _) = find_cut(&text).unwrap_or_else(|| panic!("not cut: {broken:?}"));
            assert!(cut < text.len() - broken.len());
            let d = sequential(&text).expect_err("broken");
            assert_eq!(parse_in_two(F, &text), None);
            assert_eq!(parse(F, &text), Err(d));
        }
    }

    #[test]
    fn depth_counts_the_levels_above_the_tail() {
        let deep = format!("  - {}x{}\n", "[".repeat(63), "]".repeat(63));
        let text = format!("{}{deep}", padded("identities:\n"));
        let d = sequential(&text).expect_err("too deep");
        assert_eq!(parse(F, &text), Err(d));
    }
}
