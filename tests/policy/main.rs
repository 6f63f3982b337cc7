//! The policy library through its API: front ends and their errors, validation, the two
//! languages' twins, the reference evaluator and the spec's examples, explain and diff,
//! lint, live policies, requests and numbers, hostile files; and the crate's import layers.
//! One test binary per area, so that each links the crate once.

mod adapt;
mod diff;
mod dsl_errors;
mod dsl_twins;
mod explain;
mod hostile_policies;
mod layers;
mod lint;
mod live;
mod number_reading;
mod requests;
mod spec_examples;
mod stricter;
mod validation;
