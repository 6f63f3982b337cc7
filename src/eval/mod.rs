//! Evaluators. The reference evaluator is the plain reading of spec section 4; the compiled
//! decision tree must agree with it on every policy and request.

pub mod reference;
