//! The flow-log reader for AWS text on arbitrary bytes, through `auto` so
//! that format detection (and every reader it picks) is fuzzed too (see
//! `seg_fuzz::read_flows` for what is asserted).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    seg_fuzz::read_flows(data, seg_flows::FormatChoice::Auto);
});
