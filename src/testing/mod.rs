//! Policy unit tests: files of cases (`*.test.yaml`), each a request and the decision fields
//! it must get, run against the policy they name.
//!
//! ```yaml
//! policy: seed.yaml          # relative to this file; default: the `.yaml` of the same stem
//! cases:
//!   - name: delete is gated even when the agent is confident
//!     request: {action: delete, resource: db/users, confidence: 0.95}
//!     expect: {outcome: request-approval, approvers: [user:adam], hitlRule: 0}
//! ```
//!
//! `expect` holds any subset of a decision's JSON fields; `timeout` and `remindEvery` may be
//! written as durations (`1h`).

mod discover;
mod file;
mod report;
mod run;

pub use discover::discover;
pub use file::{Case, TestFile};
pub use report::{Format, report};
pub use run::{CaseResult, FileResult, Mismatch, run_file};

/// The file name suffix of test files.
pub const SUFFIX: &str = ".test.yaml";
