//! Bytes → UTF-8 → `seg_check::manifest::parse` (seg.toml).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seg_diag::{Diagnostics, SourceMap};
use seg_fuzz::{assert_all, text};

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let mut map = SourceMap::new();
    let file = map.add("seg.toml", text);
    let mut diags = Diagnostics::new();
    let manifest = seg_check::manifest::parse(file, text, &mut diags);
    assert_all(&map, &diags, manifest.is_none());
});
