//! `seg audit --aggregated FILE` on arbitrary bytes: the reader of the
//! emitted SQL's result (CSV with a header, or JSON lines), then the audit
//! and every report format over what it read, against the bank example
//! (see `seg_fuzz::read_aggregated` for what is asserted).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    seg_fuzz::read_aggregated(data);
});
