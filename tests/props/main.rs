//! Properties over generated input: the compiled policy against the reference evaluator,
//! round trips between the languages, glob matching against an oracle, bounded work for
//! complex globs and for lint, and no panic on arbitrary bytes.

mod arbitrary_bytes;
mod differential;
mod dsl_parsers;
mod dsl_roundtrip;
mod glob_cost;
mod glob_props;
mod learn;
mod no_panic;
mod rng;
mod scaling;
mod yaml_scanner;
