//! Evaluators. The reference evaluator is the plain reading of spec section 4; the compiled
//! decision tree must agree with it on every policy and request. Beside them, the tools that
//! explain a decision ([`explain`]) and compare two policies over past requests ([`diff`]).

pub mod diff;
pub mod explain;
pub mod reference;
