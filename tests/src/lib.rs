//! Shared helpers for the end-to-end and oracle tests (see `tests/*.rs`).
