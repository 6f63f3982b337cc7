//! The runtime end to end, on the SQLite store: executions, approvals and chains, feedback,
//! check_escalation and grants, timeouts (also across restarts and a SIGKILL), memories,
//! the audit log, policy versions, idempotency records, the examples and the CLI. One test
//! binary, so it links once.

mod approvals;
mod cli;
mod common;
mod concurrency;
mod escalation;
mod examples;
mod executions;
mod feedback;
mod gate_model;
mod grants;
mod idempotency;
mod learning;
mod memory_audit;
mod policy_versions;
#[path = "../support/postgres.rs"]
mod postgres;
mod preferences;
mod sigkill;
mod store;
mod store_cli;
mod store_postgres;
mod timeouts;
