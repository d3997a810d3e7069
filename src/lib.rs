//! The `seg` driver: loads a project from disk, runs the pipeline
//! (parse → resolve → check → IR → lower → write) and renders results.
//! The core crates do no I/O; everything that touches files lives here.
