//! rekall-policy: a policy engine for human-in-the-loop gates on AI agents.
//!
//! A policy (YAML, see `policies/`) says which actions need a human's approval and how an
//! agent's confidence escalates. The pipeline:
//!
//! - [`front`]: policy text -> [`ir`] (one typed form for every surface language),
//! - [`check`]: validation of the IR, with every error located in the source,
//! - [`eval`]: the reference evaluator, the plain reading of the semantics,
//! - [`decision`]: what a decision says and how the stages combine,
//! - [`runtime`]: executions, approval gates and chains, feedback and `check_escalation`,
//!   making decisions real,
//! - [`store`]: where the runtime keeps it all (SQLite by default), so nothing is lost.
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
pub mod diagnostic;
pub mod eval;
pub mod front;
pub mod glob;
pub mod ir;
pub mod json;
pub mod json_lines;
pub mod policy;
pub mod print;
pub mod request;
pub mod runtime;
pub mod source;
pub mod store;
mod suggest;
pub mod testing;

pub use decision::{Decision, OwnedDecision, Stage, StageResult, Verdict};
pub use diagnostic::{Diagnostic, ErrorKind, PolicyError};
pub use ir::{Outcome, Principal, Priority};
pub use policy::Policy;
pub use request::{Limits, Request, RequestError};
