//! Shared helpers for the end-to-end and oracle tests (see `tests/*.rs`).

/// proptest strategies: random small programs and flows aimed at their edges.
pub mod r#gen;

/// proptest strategies: random estates as source (seg.toml, policies,
/// inventory) and flows aimed at their boundaries, by name or address.
pub mod estate;
