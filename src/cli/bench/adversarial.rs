//! `bench --adversarial`: the worst-case table. For each family of complex globs
//! ([`generate::Family`]) and size, requests built to make the policy work hardest
//! ([`generate::adversarial_requests`], every field within the 4 KiB limit) are decided:
//!
//! - repeated: each of the first requests of each kind decided over and over; the slowest
//!   kind is reported (warm caches, the best case for any cache);
//! - varied: every distinct request once per pass (the mean), and each alone (the slowest
//!   single decision, the least of three tries so that a preempted one does not count);
//! - reference: the reference evaluator on the same requests, as many as fit a budget.
//!
//! Each row also gives the most [`Work`] a decision took and the bound the compiled policy
//! promises for it ([`CompiledPolicy::work_bound`]); decisions are checked against the
//! reference.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Args, machine, median, per_decision};
use crate::cli::{Format, exit};
use crate::compile::{CompiledPolicy, Work, generate};
use crate::{Policy, Request};

const SIZES: [usize; 2] = [1_000, 10_000];
/// The most distinct requests timed per row.
const MAX_VARIED: usize = 2_000;
/// About how long the reference may take per row.
const REFERENCE_BUDGET: Duration = Duration::from_secs(3);
/// The targets of a decision's time, by size: at most this many rules, this many ns.
const TARGETS: [(usize, f64); 2] = [(1_000, 10_000.0), (10_000, 100_000.0)];

#[derive(Debug)]
struct Row {
    shape: &'static str,
    rules: usize,
    repeated_ns: f64,
    varied_ns: f64,
    varied_max_ns: f64,
    varied: usize,
    reference_ns: f64,
    reference_timed: usize,
    work_max: u64,
    work_bound: Option<u64>,
    mismatches: usize,
}

pub(super) fn run(args: &Args) -> u8 {
    let sizes = args.sizes.clone().unwrap_or_else(|| SIZES.to_vec());
    let varied = args.varied.clamp(4, MAX_VARIED);
    let mut rows = Vec::new();
    for family in generate::Family::ALL {
        for &n in &sizes {
            let n = n.max(1);
            let yaml = generate::adversarial_policy_yaml(family, n);
            let policy = match Policy::from_yaml_str(&yaml, &format!("{}-{n}.yaml", family.name()))
            {
                Ok(p) => p,
                Err(e) => {
                    eprint!("{}", e.render());
                    return exit::TOOL;
                }
            };
            let requests = generate::adversarial_requests(family, n, varied, 3);
            let row = measure(args, family.name(), n, &policy, &requests);
            if args.format == Format::Text {
                eprintln!("measured {} at {n} rules", family.name());
            }
            rows.push(row);
        }
    }
    super::report(args.format, &rows, print_text, print_json, |r| r.mismatches)
}

fn digest(compiled: &CompiledPolicy, r: &Request) -> usize {
    compiled
        .decide(black_box(r))
        .map_or(0, |d| d.hitl_rule().unwrap_or(7))
}

fn measure(
    args: &Args,
    shape: &'static str,
    n: usize,
    policy: &Policy,
    requests: &[Request],
) -> Row {
    let compiled = policy.compile();

    // Reference first: its decisions check the compiled ones.
    let start = Instant::now();
    let mut want = Vec::new();
    for r in requests {
        want.push(policy.decide(black_box(r)));
        if start.elapsed() > REFERENCE_BUDGET {
            break;
        }
    }
    let reference_ns = per_decision(start.elapsed(), want.len());
    let mismatches = requests
        .iter()
        .zip(&want)
        .filter(|(r, w)| compiled.decide(r) != **w)
        .count();

    // One request of each kind, repeated.
    let repeats = args.requests.max(1);
    let repeated_ns = requests
        .iter()
        .take(4)
        .map(|r| {
            let samples = (0..args.rounds.min(3))
                .map(|_| {
                    let start = Instant::now();
                    let mut sum = 0usize;
                    for _ in 0..repeats {
                        sum = sum.wrapping_add(digest(&compiled, r));
                    }
                    black_box(sum);
                    per_decision(start.elapsed(), repeats)
                })
                .collect();
            median(samples)
        })
        .fold(0.0, f64::max);

    let passes = (0..args.rounds.min(3))
        .map(|_| {
            let start = Instant::now();
            let mut sum = 0usize;
            for r in requests {
                sum = sum.wrapping_add(digest(&compiled, r));
            }
            black_box(sum);
            per_decision(start.elapsed(), requests.len())
        })
        .collect();
    let varied_ns = median(passes);
    let varied_max_ns = requests
        .iter()
        .map(|r| {
            (0..3)
                .map(|_| {
                    let start = Instant::now();
                    black_box(digest(&compiled, r));
                    start.elapsed().as_nanos() as f64
                })
                .fold(f64::INFINITY, f64::min)
        })
        .fold(0.0, f64::max);

    let work_max = requests
        .iter()
        .filter_map(|r| compiled.decide_with_work(r).ok())
        .map(|(_, w): (_, Work)| w.total())
        .max()
        .unwrap_or(0);
    let (longest_action, longest_resource) = requests.iter().fold((0, 0), |(a, b), r| {
        (a.max(r.action.len()), b.max(r.resource.len()))
    });
    Row {
        shape,
        rules: n,
        repeated_ns,
        varied_ns,
        varied_max_ns,
        varied: requests.len(),
        reference_ns,
        reference_timed: want.len(),
        work_max,
        work_bound: compiled.work_bound(longest_action, longest_resource),
        mismatches,
    }
}

fn print_text(rows: &[Row]) {
    println!("machine: {}", machine());
    println!(
        "ns per decision on adversarial requests (fields up to 4 KiB); work = counted steps of the slowest decision, and the bound the policy promises"
    );
    println!();
    println!(
        "{:<13} {:>6} {:>11} {:>10} {:>11} {:>13} | {:>10} {:>10}",
        "shape", "rules", "repeated", "varied", "varied max", "reference", "work", "bound"
    );
    for r in rows {
        println!(
            "{:<13} {:>6} {:>11.0} {:>10.0} {:>11.0} {:>13.0} | {:>10} {:>10}",
            r.shape,
            r.rules,
            r.repeated_ns,
            r.varied_ns,
            r.varied_max_ns,
            r.reference_ns,
            r.work_max,
            r.work_bound.map_or("none".into(), |b| b.to_string()),
        );
    }
    println!();
    let checked: usize = rows.iter().map(|r| r.reference_timed).sum();
    let mismatches: usize = rows.iter().map(|r| r.mismatches).sum();
    println!(
        "{} distinct requests per row; reference timed on the first {} to {} of them; {checked} decisions checked against it, {mismatches} mismatches",
        rows.first().map_or(0, |r| r.varied),
        rows.iter().map(|r| r.reference_timed).min().unwrap_or(0),
        rows.iter().map(|r| r.reference_timed).max().unwrap_or(0),
    );
    println!();
    println!("targets (worst cases, within the field limit):");
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    // Each row is held to the first target whose size it does not pass.
    let target_of = |rules: usize| TARGETS.iter().find(|(n, _)| rules <= *n).map(|t| t.0);
    for (rules, ns) in TARGETS {
        let worst = rows
            .iter()
            .filter(|r| target_of(r.rules) == Some(rules))
            .map(|r| r.varied_max_ns.max(r.repeated_ns))
            .reduce(f64::max);
        if let Some(worst) = worst {
            println!(
                "  every decision <= {:.0} us at {rules} rules: slowest {:.1} us: {}",
                ns / 1e3,
                worst / 1e3,
                verdict(worst <= ns)
            );
        }
    }
    let slower = rows.iter().filter(|r| r.varied_ns > r.reference_ns).count();
    println!(
        "  never slower than the reference: {slower} rows slower: {}",
        verdict(slower == 0)
    );
    let over = rows
        .iter()
        .filter(|r| r.work_bound.is_none_or(|b| r.work_max > b))
        .count();
    println!(
        "  work within the promised bound: {over} rows over or unbounded: {}",
        verdict(over == 0)
    );
}

fn print_json(rows: &[Row]) {
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "shape": r.shape,
                "rules": r.rules,
                "repeatedNs": r.repeated_ns,
                "variedNs": r.varied_ns,
                "variedMaxNs": r.varied_max_ns,
                "varied": r.varied,
                "referenceNs": r.reference_ns,
                "referenceTimed": r.reference_timed,
                "workMax": r.work_max,
                "workBound": r.work_bound,
                "mismatches": r.mismatches,
            })
        })
        .collect();
    let out = json!({ "machine": machine(), "adversarial": rows });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
}
