//! Helpers of the iptables verification tests (`tests/iptables_*.rs`).
#![allow(dead_code)]

pub mod fixtures;
pub mod lab;
pub mod probe;
