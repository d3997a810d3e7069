//! Helpers of the cloud verification tests (`tests/cloud_*.rs`): the tools
//! from the venv, the programs and flows, two evaluators written from the
//! providers' documentation (they read only the emitted JSON and the
//! inventory's facts), the comparison with the reference, and structural
//! checks.
#![allow(dead_code)]

pub mod aws_eval;
pub mod cases;
pub mod check;
pub mod gcp_eval;
pub mod structure;
pub mod tools;
pub mod versions;
