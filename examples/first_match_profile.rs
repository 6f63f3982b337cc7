//! Runs the first-match workload of `rekall-policy bench` for an instruction profiler, which
//! counts the same on a busy machine as on an idle one:
//!
//! ```text
//! cargo build --release --example first_match_profile
//! valgrind --tool=callgrind --toggle-collect='*decide_compiled*' \
//!     target/release/examples/first_match_profile decide both 10000
//! valgrind --tool=callgrind --toggle-collect='*decide_floor*' \
//!     target/release/examples/first_match_profile decide both 10000
//! valgrind --tool=callgrind --toggle-collect='*from_text*' \
//!     target/release/examples/first_match_profile yaml both 10000
//! ```
//!
//! `decide STAGES N` decides the 10,000 repeated requests of a policy of N rules (STAGES is
//! `hitl` or `both`) eight times, with the compiled policy and with the floor, each in its
//! own function; `yaml` and `dsl` turn the policy's text into a compiled policy three times.

use std::hint::black_box;
use std::process::ExitCode;

use rekall_policy::bench::generate::{self, Stages};
use rekall_policy::bench::{Floor, digest};
use rekall_policy::compile::CompiledPolicy;
use rekall_policy::front::Language;
use rekall_policy::{Policy, Request};

const REQUESTS: usize = 10_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(stages), Some(n)) = (
        args.first().map(String::as_str),
        match args.get(1).map(String::as_str) {
            Some("hitl") => Some(Stages::Hitl),
            Some("both") => Some(Stages::Both),
            _ => None,
        },
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: first_match_profile (decide | yaml | dsl) (hitl | both) RULES");
        return ExitCode::from(2);
    };
    let yaml = generate::first_match_policy_yaml(n, stages);
    let policy = match Policy::from_yaml_str(&yaml, "first-match.yaml") {
        Ok(policy) => policy,
        Err(e) => {
            eprint!("{}", e.render());
            return ExitCode::FAILURE;
        }
    };
    match mode {
        "decide" => {
            let compiled = policy.compile();
            let requests = generate::first_match_workload(n, REQUESTS, 1, false);
            let floor = Floor::new(&compiled, &requests);
            let mut sum = 0;
            for _ in 0..8 {
                sum += decide_floor(&floor, &requests);
                sum += decide_compiled(&compiled, &requests);
            }
            println!("{sum}");
        }
        "yaml" | "dsl" => {
            let (language, text) = if mode == "yaml" {
                (Language::Yaml, rekall_policy::print::to_yaml(policy.doc()))
            } else {
                (Language::Dsl, rekall_policy::print::to_dsl(policy.doc()))
            };
            for _ in 0..3 {
                black_box(from_text(language, &text));
            }
        }
        other => {
            eprintln!("unknown mode {other}: decide, yaml or dsl");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

#[inline(never)]
fn decide_floor(floor: &Floor<'_>, requests: &[Request]) -> usize {
    requests
        .iter()
        .map(|r| floor.decide(black_box(r)).map_or(0, digest))
        .sum()
}

#[inline(never)]
fn decide_compiled(compiled: &CompiledPolicy, requests: &[Request]) -> usize {
    requests
        .iter()
        .map(|r| compiled.decide(black_box(r)).map_or(0, |d| digest(&d)))
        .sum()
}

#[inline(never)]
fn from_text(language: Language, text: &str) -> Option<CompiledPolicy> {
    Policy::from_str_in(language, text, "first-match")
        .ok()
        .map(|p| p.compile())
}
