//! `seg audit`: observed flows held against the policy.
//!
//! Pipeline: flow-log entries (`seg_flows`) → [`aggregate::Aggregator`]
//! (fold replies into connections, attribute ends to identities, count
//! distinct tuples) → [`model::Aggregate`], the one boundary every input path
//! gives (the emitted SQL's result is read back by [`aggregated`]) →
//! evaluation against the program → findings → a report, or a draft policy.

pub mod aggregate;
pub mod attribute;
pub mod fold;
pub mod model;
pub mod plan;
pub mod evaluate;
pub mod segtext;
pub mod coverage;
pub mod services;
pub mod findings;
pub mod report;
