//! rekall-policy: a policy engine for human-in-the-loop gates on AI agents.
//!
//! A policy (YAML, see `policies/`) says which actions need a human's approval and how an
//! agent's confidence escalates. The pipeline, each layer importing only the ones before it:
//!
//! - [`front`]: policy text -> [`ir`] (one typed form for every surface language),
//! - [`check`]: validation of the IR, with every error located in the source,
//! - [`decision`]: what a decision says and how the stages combine,
//! - [`policy`]: a validated policy with its precomputed verdicts,
//! - [`eval`]: the reference evaluator, the plain reading of the semantics, and
//!   [`compile`]: the compiled policy that decides the same in bounded work,
//! - [`lint`]: warnings about valid policies,
//! - [`model`]: the runtime's records and their state machines,
//! - [`store`]: where they are kept (SQLite by default), so nothing is lost,
//! - [`runtime`]: the services that drive them: executions, approval gates and chains,
//!   feedback and `check_escalation`, making decisions real,
//! - [`server`]: the runtime over HTTP (`rekall-policy serve`), with tokens and roles,
//! - [`cli`]: the `rekall-policy` command, one file per verb.
//!
//! ```
//! use rekall_policy::{Policy, Request};
//!
//! let policy = Policy::from_path("policies/seed.yaml")?;
//! let d = policy.decide(&Request::new("deploy").resource("staging").confidence(0.95))?;
//! assert!(d.approved());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bench;
pub mod check;
pub mod cli;
pub mod compile;
pub mod decision;
pub mod demo;
pub mod diagnostic;
pub mod eval;
pub mod front;
pub mod glob;
pub mod ir;
pub mod json;
pub mod json_lines;
pub mod learn;
pub mod lint;
pub mod model;
pub mod policy;
pub mod print;
pub mod request;
pub mod runtime;
pub mod server;
pub mod simulate;
pub mod source;
pub mod store;
mod suggest;
pub mod testing;

pub use decision::{Decision, OwnedDecision, Stage, StageResult, Verdict};
pub use diagnostic::{Diagnostic, ErrorKind, PolicyError};
pub use ir::{Outcome, Principal, Priority};
pub use policy::Policy;
pub use request::{Limits, Request, RequestError};

/// The README's Rust blocks, compiled and run as doc-tests so that they cannot drift from the
/// library.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeSnippets;
