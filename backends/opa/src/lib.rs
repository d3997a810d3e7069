//! The opa backend.
