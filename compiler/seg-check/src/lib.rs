//! Inventory loading, name resolution, type checking, lints and lowering to the IR.

pub mod inventory;
pub mod manifest;
