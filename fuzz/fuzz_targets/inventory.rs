//! Bytes → UTF-8 → `seg_check::inventory::load`. A NUL byte splits the input
//! into two inventory files, which exercises the cross-file checks
//! (duplicate identities, attribute declarations spread over files).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seg_diag::{Diagnostics, SourceMap};
use seg_fuzz::{NOW, assert_all, split, text};

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let mut map = SourceMap::new();
    let mut files = Vec::new();
    match split(text) {
        (first, Some(second)) => {
            files.push((map.add("inventory/a.yaml", first), first));
            files.push((map.add("inventory/b.yaml", second), second));
        }
        (all, None) => files.push((map.add("inventory.yaml", all), all)),
    }
    let mut diags = Diagnostics::new();
    let inventory = seg_check::inventory::load(&files, &seg_ir::Now::new(NOW), &mut diags);
    assert_all(&map, &diags, inventory.is_none());
});
