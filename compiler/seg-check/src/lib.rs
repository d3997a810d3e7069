//! Inventory loading, name resolution, type checking, lints and lowering to the IR.
