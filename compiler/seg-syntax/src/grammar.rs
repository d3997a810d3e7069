//! The pest parser generated from `seg.pest`. Nothing here leaves the crate:
//! `Rule` and pest's pairs are turned into AST nodes by `items` and `exprs`.

#[derive(pest_derive::Parser)]
#[grammar = "seg.pest"]
pub(crate) struct SegParser;
