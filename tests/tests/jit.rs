//! Just-in-time access end to end: grants that expire at an instant, what a
//! build says about targets without a clock, `seg stale`, `seg grant` and
//! `seg gc`, through the real `seg` binary; expiry to the second in the
//! engines that enforce it themselves (iptables in network namespaces, OPA in
//! regorus).

#[path = "adoption/run.rs"]
#[allow(dead_code)]
mod run;

#[path = "iptables/mod.rs"]
mod iptables;

#[path = "opa/mod.rs"]
mod opa;

mod jit {
    pub mod engines;
    pub mod gc;
    pub mod grant;
    pub mod project;
    pub mod stale;
}
