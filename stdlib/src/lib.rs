//! The `.seg` standard library (`std::services`, `std::segments`), embedded in the binary.
