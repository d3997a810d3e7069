//! The flow space of one or more seg programs, partitioned exactly.
//!
//! A flow is (source, destination, protocol and port, context). The
//! reference semantics (`seg_ir::eval`) decide it from the rules whose sets
//! hold the endpoints and whose services hold the port, through their
//! conditions and expiry. This crate cuts each dimension into classes that
//! no rule tells apart, so an analysis decides one representative per class
//! instead of every flow, and is still exact:
//!
//! - [`universe`]: identities of several programs unified by name;
//! - [`endpoints`]: per role, distinct endpoint sets by membership, identity
//!   classes and address regions, and the rules between two classes;
//! - [`ports`]: port atoms of a list of services;
//! - [`context`]: points of the context space (instants from `now` on,
//!   mTLS, request, declared inputs) and the exact comparison of two rule
//!   lists' decisions over it;
//! - [`strings`]: witness strings for globs and literals.
//!
//! Used by `seg diff` (two programs) and usable by any analysis over one
//! program (reachability between identity classes).

pub mod context;
pub mod endpoints;
pub mod ports;
pub mod strings;
pub mod universe;

pub use endpoints::{Class, ClassId, Members, Membership, Placed, Role, SetId, Space};
pub use universe::{Uid, Universe};
