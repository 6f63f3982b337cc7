//! `rekall-policy bench (FILE | --generate [N] | --sizes N,... | --adversarial | --http [FILE] | --cluster --store URL [FILE])`: times the
//! reference evaluator, the compiled policy and the floor on the same requests, and says
//! which targets are met; the harness is [`crate::bench`]. Build with `--release` for
//! numbers worth reading.

use std::path::PathBuf;

use super::{Format, exit};
use crate::bench::{self, Settings};
use crate::server::bench::HttpBenchSettings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A policy file to time; its requests are made from its own globs.
    #[arg(required_unless_present_any = ["generate", "sizes", "adversarial", "http", "cluster"], conflicts_with_all = ["generate", "sizes", "adversarial"])]
    file: Option<PathBuf>,
    /// Time the server: `serve` on a loopback port with a temporary store, the policy FILE
    /// (default `policies/seed.yaml`), many keep-alive connections asking `/v1/decide` and
    /// `/healthz`, and approval round trips (a waiter parked, a vote on another connection).
    #[arg(long, conflicts_with_all = ["generate", "sizes", "adversarial", "cluster"])]
    http: bool,
    /// Time several nodes on one shared store: `--nodes` `serve` processes on the store
    /// `--store` (a postgres:// URL; the run adds its records to it), the policy FILE (default
    /// `policies/seed.yaml`); `/v1/decide` on one node and on all, approval round trips whose
    /// vote lands on another node than the waiter, and a check of every request afterwards.
    #[arg(long, conflicts_with_all = ["generate", "sizes", "adversarial"], requires = "store")]
    cluster: bool,
    /// `--cluster`: the store the nodes share.
    #[arg(long, value_name = "URL", requires = "cluster")]
    store: Option<String>,
    /// `--cluster`: how many nodes.
    #[arg(long, default_value_t = 2, requires = "cluster")]
    nodes: usize,
    /// `--cluster`: approval round trips in flight at once.
    #[arg(long, default_value_t = 64, requires = "cluster")]
    agents: usize,
    /// `--http`, `--cluster`: connections asking `/v1/decide` at once.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// `--http`, `--cluster`: seconds each run lasts.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// `--http`: approval round trips timed one at a time (and as many again, 32 at once).
    #[arg(long, default_value_t = 500, requires = "http")]
    round_trips: usize,
    /// Time the worst cases: policies of complex globs (star-literal, classes, braces, mixed)
    /// at 1000 and 10000 rules (or `--sizes`), on requests built against them; prints the
    /// worst-case table. `--requests` is how often each worst request is repeated, and
    /// `--varied` how many distinct ones are timed (at most 2000).
    #[arg(long, conflicts_with = "generate")]
    adversarial: bool,
    /// Time generated first-match policies of N rules, HITL-only and with both stages;
    /// without N, each of 3, 100, 1000 and 10000.
    #[arg(long, num_args = 0..=1, value_name = "N")]
    generate: Option<Option<usize>>,
    /// The sizes of generated policies to time, such as `3,100,1000`.
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    sizes: Option<Vec<usize>>,
    /// Requests in the repeated workload.
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    /// Distinct requests in the varied workload (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    varied: usize,
    /// Timed passes over each workload (the least is reported: other work on the machine only
    /// ever adds time).
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: &Args) -> u8 {
    if args.requests == 0 || args.rounds == 0 {
        eprintln!("bench: --requests and --rounds must be at least 1");
        return exit::TOOL;
    }
    let settings = Settings {
        requests: args.requests,
        varied: args.varied,
        rounds: args.rounds,
    };
    let text = args.format == Format::Text;
    if args.http {
        return http(args);
    }
    if args.cluster {
        return cluster(args);
    }
    if args.adversarial {
        let sizes = args
            .sizes
            .clone()
            .unwrap_or_else(|| bench::ADVERSARIAL_SIZES.to_vec());
        let rows = bench::adversarial(&sizes, &settings, &mut |r| {
            if text {
                eprintln!("measured {} at {} rules", r.shape, r.rules);
            }
        });
        return match rows {
            Ok(rows) => report(
                args.format,
                bench::adversarial_text(&rows),
                bench::adversarial_json(&rows),
                rows.iter().map(|r| r.mismatches).sum(),
            ),
            Err(e) => {
                eprint!("{}", e.render());
                exit::TOOL
            }
        };
    }
    let rows = if let Some(file) = &args.file {
        let policy = match super::load_policy(file) {
            Ok(p) => p,
            Err(code) => return code,
        };
        vec![bench::policy_file(
            &policy,
            file.display().to_string(),
            &settings,
        )]
    } else {
        let sizes = match (&args.sizes, args.generate) {
            (Some(sizes), _) => sizes.clone(),
            (None, Some(Some(n))) => vec![n],
            _ => bench::SIZES.to_vec(),
        };
        let rows = bench::first_match(&sizes, &settings, &mut |r| {
            if text {
                eprintln!("measured {}", r.label);
            }
        });
        match rows {
            Ok(rows) => rows,
            Err(e) => {
                eprint!("{}", e.render());
                return exit::TOOL;
            }
        }
    };
    report(
        args.format,
        bench::text(&rows),
        bench::json(&rows),
        rows.iter().map(|r| r.mismatches).sum(),
    )
}

fn http(args: &Args) -> u8 {
    if args.clients == 0 || args.round_trips == 0 || !(args.seconds > 0.0 && args.seconds <= 600.0)
    {
        eprintln!(
            "bench: --clients and --round-trips must be at least 1, --seconds between 0 and 600"
        );
        return exit::TOOL;
    }
    let file = args
        .file
        .clone()
        .unwrap_or_else(|| PathBuf::from("policies/seed.yaml"));
    let settings = HttpBenchSettings {
        clients: args.clients,
        duration: std::time::Duration::from_secs_f64(args.seconds),
        round_trips: args.round_trips,
        parallel_round_trips: 32,
    };
    match crate::server::bench::run(&file, &settings) {
        Ok(report) => {
            match args.format {
                Format::Text => print!("{}", crate::server::bench::report_text(&report)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                ),
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("bench: {e}");
            exit::TOOL
        }
    }
}

fn cluster(args: &Args) -> u8 {
    if args.clients == 0
        || args.agents == 0
        || !(1..=16).contains(&args.nodes)
        || !(args.seconds > 0.0 && args.seconds <= 600.0)
    {
        eprintln!(
            "bench: --clients and --agents must be at least 1, --nodes from 1 to 16, --seconds between 0 and 600"
        );
        return exit::TOOL;
    }
    let settings = crate::server::bench::cluster::ClusterBenchSettings {
        store: args.store.clone().unwrap_or_default(),
        policy: args
            .file
            .clone()
            .unwrap_or_else(|| PathBuf::from("policies/seed.yaml")),
        nodes: args.nodes,
        clients: args.clients,
        agents: args.agents,
        duration: std::time::Duration::from_secs_f64(args.seconds),
    };
    match crate::server::bench::cluster::run(&settings) {
        Ok(report) => {
            match args.format {
                Format::Text => print!("{}", crate::server::bench::cluster::report_text(&report)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                ),
            }
            if report.invariants.violations.is_empty() {
                exit::OK
            } else {
                exit::FOUND
            }
        }
        Err(e) => {
            eprintln!("bench: {e}");
            exit::TOOL
        }
    }
}

/// Prints the run in the format asked for; the exit code says whether the compiled policy
/// ever disagreed with the reference evaluator.
fn report(format: Format, text: String, json: serde_json::Value, mismatches: usize) -> u8 {
    match format {
        Format::Text => print!("{text}"),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        ),
    }
    if mismatches > 0 {
        eprintln!(
            "bench: the compiled policy disagreed with the reference evaluator; this is a bug"
        );
        return exit::FOUND;
    }
    exit::OK
}
