//! The worst-case table (`bench --adversarial`). For each family of complex globs
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

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::report::Target;
use super::{Settings, generate, machine, median, per_decision};
use crate::compile::{CompiledPolicy, Work};
use crate::{Policy, PolicyError, Request};

/// The sizes timed unless told otherwise.
pub const ADVERSARIAL_SIZES: [usize; 2] = [1_000, 10_000];
/// The most distinct requests timed per row.
const MAX_VARIED: usize = 2_000;
/// About how long the reference may take per row.
const REFERENCE_BUDGET: Duration = Duration::from_secs(3);
/// The targets of a decision's time, by size: at most this many rules, this many ns.
const TARGETS: [(usize, f64); 2] = [(1_000, 10_000.0), (10_000, 100_000.0)];

/// One family at one size.
#[derive(Debug, Clone)]
pub struct AdversarialRow {
    pub shape: &'static str,
    pub rules: usize,
    pub repeated_ns: f64,
    pub varied_ns: f64,
    pub varied_max_ns: f64,
    pub varied: usize,
    pub reference_ns: f64,
    pub reference_timed: usize,
    pub work_max: u64,
    pub work_bound: Option<u64>,
    pub mismatches: usize,
}

/// Times every family at each size (`settings.varied` distinct requests, at least one of each kind and at
/// most 2,000; `settings.requests` repeats of the worst ones); `progress` hears of each row.
pub fn adversarial(
    sizes: &[usize],
    settings: &Settings,
    progress: &mut dyn FnMut(&AdversarialRow),
) -> Result<Vec<AdversarialRow>, PolicyError> {
    let varied = settings.varied.clamp(generate::KINDS, MAX_VARIED);
    let mut rows = Vec::new();
    for family in generate::Family::ALL {
        for &n in sizes {
            let n = n.max(1);
            let yaml = generate::adversarial_policy_yaml(family, n);
            let policy = Policy::from_yaml_str(&yaml, &format!("{}-{n}.yaml", family.name()))?;
            let requests = generate::adversarial_requests(family, n, varied, 3);
            let row = measure(settings, family.name(), n, &policy, &requests);
            progress(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}

fn digest(compiled: &CompiledPolicy, r: &Request) -> usize {
    compiled
        .decide(black_box(r))
        .map_or(0, |d| d.hitl_rule().unwrap_or(7))
}

fn measure(
    args: &Settings,
    shape: &'static str,
    n: usize,
    policy: &Policy,
    requests: &[Request],
) -> AdversarialRow {
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
        .take(generate::KINDS)
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
    AdversarialRow {
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

/// The worst-case table and its targets.
pub fn adversarial_text(rows: &[AdversarialRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "machine: {}", machine());
    let _ = writeln!(
        out,
        "ns per decision on adversarial requests (fields up to 4 KiB); work = counted steps of the slowest decision, and the bound the policy promises"
    );
    out.push('\n');
    let _ = writeln!(
        out,
        "{:<13} {:>6} {:>11} {:>10} {:>11} {:>13} | {:>10} {:>10}",
        "shape", "rules", "repeated", "varied", "varied max", "reference", "work", "bound"
    );
    for r in rows {
        let _ = writeln!(
            out,
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
    out.push('\n');
    let checked: usize = rows.iter().map(|r| r.reference_timed).sum();
    let mismatches: usize = rows.iter().map(|r| r.mismatches).sum();
    let _ = writeln!(
        out,
        "{} distinct requests per row; reference timed on the first {} to {} of them; {checked} decisions checked against it, {mismatches} mismatches",
        rows.first().map_or(0, |r| r.varied),
        rows.iter().map(|r| r.reference_timed).min().unwrap_or(0),
        rows.iter().map(|r| r.reference_timed).max().unwrap_or(0),
    );
    out.push('\n');
    let _ = writeln!(out, "targets (worst cases, within the field limit):");
    for t in adversarial_targets(rows) {
        let verdict = if t.met { "met" } else { "MISSED" };
        let _ = writeln!(out, "  {}: {}: {verdict}", t.what, t.measured);
    }
    out
}

/// The targets of the worst cases: a time per decision by size, never slower than the
/// reference, and work within the promised bound.
pub fn adversarial_targets(rows: &[AdversarialRow]) -> Vec<Target> {
    let mut out = Vec::new();
    // Each row is held to the first target whose size it does not pass.
    let target_of = |rules: usize| TARGETS.iter().find(|(n, _)| rules <= *n).map(|t| t.0);
    for (rules, ns) in TARGETS {
        let worst = rows
            .iter()
            .filter(|r| target_of(r.rules) == Some(rules))
            .map(|r| r.varied_max_ns.max(r.repeated_ns))
            .reduce(f64::max);
        if let Some(worst) = worst {
            out.push(Target {
                what: format!("every decision <= {:.0} us at {rules} rules", ns / 1e3),
                measured: format!("slowest {:.1} us", worst / 1e3),
                met: worst <= ns,
            });
        }
    }
    let slower = rows.iter().filter(|r| r.varied_ns > r.reference_ns).count();
    out.push(Target {
        what: "never slower than the reference".into(),
        measured: format!("{slower} rows slower"),
        met: slower == 0,
    });
    let over = rows
        .iter()
        .filter(|r| r.work_bound.is_none_or(|b| r.work_max > b))
        .count();
    out.push(Target {
        what: "work within the promised bound".into(),
        measured: format!("{over} rows over or unbounded"),
        met: over == 0,
    });
    out
}

/// The JSON form of the worst-case table.
pub fn adversarial_json(rows: &[AdversarialRow]) -> Value {
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
    json!({ "machine": machine(), "adversarial": rows })
}
