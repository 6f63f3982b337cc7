//! A DSL (.rkl) policy file: refused with a located error or accepted and well-behaved, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rekall_policy_fuzz::dsl_policy(data));
