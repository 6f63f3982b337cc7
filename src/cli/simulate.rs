//! `rekall-policy simulate [--scenario NAME] [--runs N] [--seed S] [--format json]`: the
//! learning loop against synthetic agents whose truth is known, next to two rules of thumb;
//! the harness is [`crate::simulate`].

use super::{Format, exit};
use crate::simulate::{self, Options, SCENARIOS, report};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A scenario to run (calibrated, overconfident, per-action, drop); every one without it.
    #[arg(long, value_name = "NAME")]
    scenario: Vec<String>,
    /// Independent runs of each scenario and method.
    #[arg(long, default_value_t = 500)]
    runs: usize,
    /// The seed: the same seed gives the same figures.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// The most runs one invocation may ask for, so that a typo cannot start hours of work.
const MAX_RUNS: usize = 100_000;

pub fn run(args: &Args) -> u8 {
    if args.runs == 0 || args.runs > MAX_RUNS {
        eprintln!("simulate: --runs must be between 1 and {MAX_RUNS}");
        return exit::TOOL;
    }
    let mut scenarios = Vec::new();
    for name in &args.scenario {
        match simulate::scenario::find(name) {
            Some(s) => scenarios.push(s),
            None => {
                let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
                eprintln!(
                    "simulate: no scenario named `{name}`; the scenarios are {}",
                    names.join(", ")
                );
                return exit::TOOL;
            }
        }
    }
    if scenarios.is_empty() {
        scenarios = SCENARIOS.iter().collect();
    }
    let options = Options::new(args.runs, args.seed);
    let reports = report::simulate(&scenarios, &options);
    let out = match args.format {
        Format::Json => format!("{:#}\n", report::to_json(&reports, args.runs, args.seed)),
        Format::Text => report::to_text(&reports),
    };
    print!("{out}");
    if report::targets(&reports).iter().all(|t| t.met) {
        exit::OK
    } else {
        exit::FOUND
    }
}
