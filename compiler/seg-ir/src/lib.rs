//! The checked intermediate representation of a seg program, the set
//! operations it is built from, the reference evaluator every backend is
//! checked against, and the backend interface.

pub mod backend;
pub mod capability;
pub mod display;
pub mod eval;
pub mod fasthash;
pub mod grants;
pub mod identities;
pub mod meaning;
pub mod names;
pub mod net;
pub mod now;
pub mod objects;
pub mod ports;
pub mod program;
pub mod schedule;
pub mod time;

pub use backend::{
    Artifact, Backend, Bugs, Capabilities, Collect, Emission, Lowered, Sink, TargetOptions,
};
pub use identities::Identities;
pub use net::CidrSet;
pub use now::Now;
pub use objects::Object;
pub use ports::{PortRanges, PortSet};
pub use program::*;
pub use time::{Date, Expiry, TimeOfDay, Timestamp, Weekday};
