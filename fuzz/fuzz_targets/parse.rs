//! Bytes → UTF-8 → `seg_syntax::parse`: never panics, an `Err` is a located error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seg_diag::SourceMap;
use seg_fuzz::{assert_diagnostics, text};

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let mut map = SourceMap::new();
    let file = map.add("policy/fuzz.seg", text);
    match seg_syntax::parse(file, text) {
        Ok(_) => {}
        Err(d) => assert_diagnostics(&map, &[d], true),
    }
});
