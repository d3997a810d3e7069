//! Blast radius over the checked IR: how far a compromise of one identity
//! spreads through the access the policy grants, hop by hop, and the map of
//! who can reach whom.
//!
//! Input: a [`seg_ir::Program`] (as checked, or as one target enforces it after
//! the capability pass) and a [`Model`] of the attacker. Output: the class
//! graph ([`Analysis`]), searches from a start ([`Search`]), every identity's
//! blast radius at once ([`Closure`]).
//!
//! The answers are the reference evaluator's (`seg_ir::eval`), quantified over
//! what an attacker who owns a workload controls (see [`model`]): a hop from
//! A to B exists when some port and some such context make the flow A -> B
//! allowed. A reached identity of a pivotable kind is taken over in turn.

pub mod analysis;
pub mod classes;
pub mod closure;
pub mod formats;
pub mod html;
pub mod layout;
pub mod lint;
pub mod map;
pub mod model;
pub mod report;
pub mod search;

pub use analysis::{Analysis, EntryPart, Hop};
pub use closure::{Bits, Closure};
pub use model::Model;
pub use search::{AllPaths, Node, Origin, Path, Search, Step, Via};
