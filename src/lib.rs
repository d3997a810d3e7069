//! The `seg` driver and command line: loads a project from disk, runs the
//! pipeline (parse → resolve → check → IR → lower → write) and renders results.
//! The core crates do no I/O; everything that touches files or the terminal lives here.

pub mod cli;
pub mod driver;
mod output;
pub mod progress;

/// Every page of `docs/diagnostics/`, embedded at build time: `(code, markdown)`.
pub mod pages {
    include!(concat!(env!("OUT_DIR"), "/diagnostic_pages.rs"));
}
