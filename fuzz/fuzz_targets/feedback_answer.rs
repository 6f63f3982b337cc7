//! A feedback answer body, checked against a form with one field of each kind: refused with a located error or accepted and well-behaved, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rekall_policy_fuzz::feedback_answer(data));
