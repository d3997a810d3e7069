//! The whole build on one policy (`emit`: cargo reserves the name `build`).
//! Checked as the `check` target does (the same two modes: `POLICY NUL
//! INVENTORY`, or the policy alone against the bank example's inventory),
//! then every target's capability pass and emission (iptables, nftables,
//! kubernetes, istio, aws, gcp, opa), asserting no panic, no internal error,
//! safe and unique artifact paths and readable JSON and YAML artifacts
//! (`seg_fuzz::build::build`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seg_fuzz::{split, text};

const INVENTORY: &str = include_str!("../fixtures/inventory.yaml");

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let (policy, inventory) = split(text);
    if let Some((map, program)) = seg_fuzz::build::check(policy, inventory.unwrap_or(INVENTORY)) {
        seg_fuzz::build::build(&map, &program);
    }
});
