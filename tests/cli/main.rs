//! The `rekall-policy` command as a user runs it: exit codes, output shapes, bad and hostile
//! input, and the `bench` verb's reports.

mod bench_adversarial;
mod bench_cli;
mod cli;
mod cli_hardening;
mod first_hour;
mod readme;
mod simulate;
mod support;
