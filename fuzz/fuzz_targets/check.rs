//! The whole front end and the checker on one policy file.
//!
//! Two modes, chosen by the input:
//! - `POLICY NUL INVENTORY`: both fuzzed; the inventory must load before the
//!   checker runs (as in the driver);
//! - no NUL: the whole input is the policy, checked against a fixed valid
//!   inventory (`fixtures/inventory.yaml`, the bank example's), so most
//!   executions reach name resolution, typing, lints and lowering.
//!
//! The standard-library units are always present, as in the driver.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seg_fuzz::{split, text};

const INVENTORY: &str = include_str!("../fixtures/inventory.yaml");

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let (policy, inventory) = split(text);
    seg_fuzz::build::check(policy, inventory.unwrap_or(INVENTORY));
});
