//! The k8s backend.
