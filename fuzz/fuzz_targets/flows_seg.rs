//! The flow-log reader for Seg JSON lines on arbitrary bytes
//! (see `seg_fuzz::read_flows` for what is asserted).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    seg_fuzz::read_flows(data, seg_flows::FormatChoice::Seg);
});
