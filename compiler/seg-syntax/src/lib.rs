//! The `.seg` language front end: a pest grammar lowered into a span-carrying
//! AST. Only [`parse`] and [`ast`] are public, so the parser stays swappable.

pub mod ast;
