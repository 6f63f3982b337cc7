//! The policy library: front ends, validation, evaluators, lint, and the crate's layers.

mod layers;
