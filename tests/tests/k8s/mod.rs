//! Helpers of the Kubernetes verification tests (`tests/k8s_*.rs`): the
//! programs, the third-party tools, the topology given to the analyzer, its
//! output parsed, and the pair-by-pair comparison with the reference.
#![allow(dead_code)]

pub mod analyzer;
pub mod cases;
pub mod compare;
pub mod tools;
pub mod topology;
