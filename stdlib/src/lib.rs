//! The `.seg` standard library (`std::services`, `std::segments`), embedded in the binary.
//!
//! Each module is a `.seg` source compiled like a user file; the driver gives
//! it a `FileId` named [`Module::file_name`] so its diagnostics render.
//! Invariant: every module parses and defines only services (`std::services`)
//! or only segments (`std::segments`), each with a `///` doc comment.

/// One embedded module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Module {
    /// The path a `use` names: `std::services`.
    pub path: &'static str,
    /// The name diagnostics show: `<std>/services.seg`.
    pub file_name: &'static str,
    pub source: &'static str,
}

/// Every module, in a fixed order.
pub const MODULES: &[Module] = &[
    Module {
        path: "std::services",
        file_name: "<std>/services.seg",
        source: include_str!("../std/services.seg"),
    },
    Module {
        path: "std::segments",
        file_name: "<std>/segments.seg",
        source: include_str!("../std/segments.seg"),
    },
];

/// The module a `use` path names (`["std", "services"]`).
pub fn module(path: &[&str]) -> Option<&'static Module> {
    let joined = path.join("::");
    MODULES.iter().find(|m| m.path == joined)
}

#[cfg(test)]
mod tests;
