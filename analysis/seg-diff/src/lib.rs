//! `seg diff`: what a change to a policy or its inventory does to who can
//! reach whom, exactly.
//!
//! Input: two checked programs compiled with the same `now` ([`Side`]).
//! Output: a [`Diff`] — every flow class (sources × destinations × ports)
//! that the reference semantics decide differently on the two sides at some
//! context from `now` on, with both decisions, the rules deciding them, the
//! inventory changes behind them and a witness flow; grouped by the life
//! cycle of their endpoints and merged into readable rows. Nothing is
//! sampled: see [`engine`] for how the flow space is cut so that deciding
//! one representative per class is exact.
//!
//! [`expect`] checks a diff against the changes a pull request intends;
//! [`targets`] adds what changes in each target's output; [`render`]
//! writes it for terminals, pull-request comments and machines.

pub mod engine;
pub mod expect;
pub mod inventory;
pub mod model;
pub mod render;
pub mod targets;

pub use engine::{Side, diff};
pub use model::*;
pub use seg_space::context::Context;
