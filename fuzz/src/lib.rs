//! Shared pieces of the fuzz targets: the fixed clock, the input splitter and
//! the invariants every target asserts after running a stage.
//!
//! Invariants checked on every input (a violation panics, which libFuzzer
//! reports as a crash):
//! - no stage panics (checked by libFuzzer itself);
//! - a stage that fails (`Err`/`None`) recorded at least one error;
//! - no diagnostic is an internal error (`Severity::Bug`): user input must
//!   never reach one;
//! - every label span lies inside its file, on UTF-8 character boundaries;
//! - rendering the diagnostics succeeds.

use seg_diag::{ColorChoice, Diagnostic, Diagnostics, Severity, SourceMap};
use seg_ir::Timestamp;

/// 2026-11-24T00:00:00Z: fixed so that runs are reproducible.
pub const NOW: Timestamp = Timestamp(1_795_478_400);

/// The byte that splits one input into two texts (policy / inventory, or two
/// inventory files). NUL is meaningless in both formats, so the fuzzer rarely
/// creates or removes one by accident.
pub const SEPARATOR: u8 = 0;

/// The input as text, or `None` when it is not UTF-8 (the driver rejects such
/// files with E0004 before any stage sees them).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Split at the first [`SEPARATOR`]: `(before, Some(after))`, or `(all, None)`.
pub fn split(text: &str) -> (&str, Option<&str>) {
    match text.bytes().position(|b| b == SEPARATOR) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    }
}

/// Assert the invariants on diagnostics; `failed` tells whether the stage returned `Err`/`None`.
pub fn assert_diagnostics(map: &SourceMap, diags: &[Diagnostic], failed: bool) {
    if failed {
        assert!(
            diags.iter().any(Diagnostic::is_error),
            "a stage failed without recording an error: {diags:#?}"
        );
    }
    for d in diags {
        assert!(
            d.severity != Severity::Bug,
            "internal error reached from user input: {d:#?}"
        );
        for label in &d.labels {
            let span = label.span;
            let Some(file) = map.get(span.file) else {
                panic!("label in an unknown file: {d:#?}")
            };
            let text = file.text.as_str();
            assert!(
                span.start <= span.end && text.get(span.range()).is_some(),
                "label span {}..{} outside `{}` ({} bytes) or not on a char boundary: {d:#?}",
                span.start,
                span.end,
                file.name,
                text.len()
            );
        }
    }
    let rendered = seg_diag::render_human(map, diags, ColorChoice::Never);
    assert!(
        diags.is_empty() || !rendered.is_empty(),
        "diagnostics rendered to nothing"
    );
}

/// [`assert_diagnostics`] on a [`Diagnostics`] list.
pub fn assert_all(map: &SourceMap, diags: &Diagnostics, failed: bool) {
    let list: Vec<Diagnostic> = diags.iter().cloned().collect();
    assert_diagnostics(map, &list, failed);
}

/// Read `data` as flow logs in `format` to the end, asserting the readers'
/// invariants: no panic; an error ends the stream and says something; a
/// malformed record has a line and a message; every window has
/// `start <= end`; line numbers stay within the input (uncompressed text);
/// and the counts add up (`records` = flows + gaps + malformed + skipped +
/// duplicates).
pub fn read_flows(data: &[u8], format: seg_flows::FormatChoice) {
    use seg_flows::{Entry, ReaderOptions};
    let options = ReaderOptions {
        // Small, so that the over-long paths are reached.
        max_record_bytes: 4096,
        ..ReaderOptions::default()
    };
    let lines = data.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let text = !data.starts_with(&[0x1f, 0x8b]) && !data.starts_with(b"PAR1");
    let mut flows = seg_flows::from_reader("fuzz", std::io::Cursor::new(data.to_vec()), format, &options);
    let mut ended = false;
    for item in flows.by_ref() {
        assert!(!ended, "an item after an error");
        let line = match item {
            Ok(Entry::Flow(f)) => {
                assert!(f.start <= f.end, "{f:?}");
                f.origin.line
            }
            Ok(Entry::Gap(g)) => {
                assert!(g.start <= g.end, "{g:?}");
                g.origin.line
            }
            Ok(Entry::Malformed(m)) => {
                assert!(!m.message.is_empty());
                assert!(m.line >= 1, "{m:?}");
                m.line
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                assert!(e.code().as_str().starts_with("E017"));
                ended = true;
                continue;
            }
        };
        if text {
            assert!(line <= lines, "line {line} of {lines}");
        }
    }
    let s = flows.stats();
    assert_eq!(s.records, s.flows + s.gaps + s.malformed + s.skipped + s.duplicates, "{s:?}");
}
