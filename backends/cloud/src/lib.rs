//! The cloud backend.
