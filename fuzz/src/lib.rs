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
//!
//! [`build`] holds the pipeline of the `check` and `build` targets.

pub mod build;

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
    let mut flows = seg_flows::from_reader(
        "fuzz",
        std::io::Cursor::new(data.to_vec()),
        format,
        &options,
    );
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
    assert_eq!(
        s.records,
        s.flows + s.gaps + s.malformed + s.skipped + s.duplicates,
        "{s:?}"
    );
}

/// The bank example compiled once (policy, the fixed inventory, the
/// standard library): what the aggregated reader attributes against.
struct Bank {
    map: SourceMap,
    program: seg_ir::Program,
    inventory: seg_check::inventory::Inventory,
}

fn bank() -> &'static Bank {
    static BANK: std::sync::OnceLock<Bank> = std::sync::OnceLock::new();
    BANK.get_or_init(|| {
        const POLICY: &str = include_str!("../../examples/bank/policy/payments.seg");
        const INVENTORY: &str = include_str!("../fixtures/inventory.yaml");
        let mut map = SourceMap::new();
        let mut units = Vec::new();
        let mut diags = Diagnostics::new();
        for m in seg_stdlib::MODULES {
            let file = map.add(m.file_name, m.source);
            let ast = seg_syntax::parse(file, m.source).expect("the stdlib parses");
            units.push(seg_check::Unit {
                file,
                path: m.file_name.to_string(),
                module: Some(m.path.to_string()),
                ast: ast.into(),
            });
        }
        let policy = map.add("policy/payments.seg", POLICY);
        let ast = seg_syntax::parse(policy, POLICY).expect("the bank policy parses");
        units.push(seg_check::Unit {
            file: policy,
            path: "policy/payments.seg".to_string(),
            module: None,
            ast: ast.into(),
        });
        let inv_file = map.add("inventory.yaml", INVENTORY);
        let inventory = seg_check::inventory::load(&[(inv_file, INVENTORY)], &seg_ir::Now::new(NOW), &mut diags)
            .expect("the fixed inventory loads");
        let program = seg_check::check(
            &seg_check::CheckInput {
                units: &units,
                inventory: &inventory,
                map: &map,
                project: "bank",
                source_hash: "0",
                now: &seg_ir::Now::new(NOW),
                jit: None,
            },
            &mut diags,
        )
        .expect("the bank example checks");
        Bank {
            map,
            program,
            inventory,
        }
    })
}

/// `seg audit --aggregated` on `data` against the bank example: the reader
/// either refuses the input with a message naming the file and line, or
/// gives an aggregate that the audit, the draft and every report format
/// (JSON, human, Markdown) take without a panic; the JSON report parses.
pub fn read_aggregated(data: &[u8]) {
    // The command reads the file as UTF-8 and refuses anything else.
    let Some(text) = text(data) else { return };
    let bank = bank();
    let settings = seg_check::manifest::AuditSettings::default();
    let plan = seg_audit::plan::Plan::new(&bank.program, &bank.inventory, &settings, None, None);
    let agg = match seg_audit::aggregated::read("fuzz.csv", text, &plan, &bank.inventory) {
        Ok(agg) => agg,
        Err(message) => {
            assert!(message.starts_with("fuzz.csv:"), "{message}");
            return;
        }
    };
    for (key, counts) in &agg.tuples {
        assert!(counts.first_seen <= counts.last_seen, "{key:?}: {counts:?}");
    }
    assert!(agg.window.since <= agg.window.until, "{:?}", agg.window);
    let report = seg_audit::audit(&bank.program, &bank.inventory, &bank.map, &settings, &agg);
    let mut json = Vec::new();
    seg_audit::report::write_json(&report, &mut json).expect("the JSON report is written");
    serde_json::from_slice::<serde_json::Value>(&json).expect("the JSON report parses");
    std::hint::black_box(seg_audit::report::human(&report));
    std::hint::black_box(seg_audit::report::markdown(&report));
    std::hint::black_box(seg_audit::draft::draft(&bank.inventory, &agg, NOW));
}
