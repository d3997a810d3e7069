//! The flow-log reader for AWS Parquet on arbitrary bytes
//! (see `seg_fuzz::read_flows` for what is asserted).
//!
//! The reader catches a panic of the `parquet` crate on a damaged file and
//! reports the file as corrupt (E0171). libFuzzer's panic hook would abort
//! on that caught panic, so this target restores the default hook: a panic
//! that escapes the reader still ends the run as a crash (libfuzzer-sys
//! aborts when the target unwinds).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Once;

static DEFAULT_HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    DEFAULT_HOOK.call_once(|| drop(std::panic::take_hook()));
    seg_fuzz::read_flows(data, seg_flows::FormatChoice::AwsParquet);
});
