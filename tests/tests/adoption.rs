//! First contact with seg as a user has it, on the real binary: the CI workflow `seg init`
//! writes (validated by GitHub's schema and actionlint, its steps run here), SARIF that code
//! scanning accepts, project discovery, the command-line habits of cargo and terraform.

#[path = "adoption/run.rs"]
mod run;

#[path = "adoption/workflow.rs"]
mod workflow;

#[path = "adoption/pipe.rs"]
mod pipe;

#[path = "adoption/discovery.rs"]
mod discovery;

#[path = "adoption/verbosity.rs"]
mod verbosity;

#[path = "adoption/sarif.rs"]
mod sarif;

#[path = "adoption/check_gate.rs"]
mod check_gate;

#[path = "adoption/explain.rs"]
mod explain;

#[path = "adoption/shell.rs"]
mod shell;

#[path = "adoption/schema.rs"]
mod schema;

#[path = "adoption/runner.rs"]
mod runner;

#[path = "adoption/action.rs"]
mod action;

#[path = "adoption/diff_job.rs"]
mod diff_job;
#[path = "adoption/hooks.rs"]
mod hooks;
