//! `rekall-policy bench (FILE | --generate [N] | --sizes N,... | --adversarial)`: times the
//! reference evaluator, the compiled policy and a hash-lookup floor on the same requests.
//!
//! `--adversarial` times the worst cases instead (see [`adversarial`]): policies of thousands
//! of complex globs and requests built to make them work hardest.
//!
//! The floor is a `std` `HashMap` (SipHash) of precomputed answers keyed by the request's
//! strings and confidence: the least any engine can cost, since it only looks the answer up.
//! Two workloads: a repeated one (10,000 requests that recur, as traffic does) and a varied
//! one (1,000,000 distinct requests), so that a cache that only works on repeated traffic
//! would show. Build with `--release` for numbers worth reading.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

mod adversarial;

use super::{Format, exit};
use crate::compile::{CompiledPolicy, MemoryUsage, generate};
use crate::{Decision, Policy, Request};

/// The sizes `--generate` without a value times.
const SIZES: [usize; 4] = [3, 100, 1_000, 10_000];
/// About how long the reference evaluator may take per workload; beyond, it is timed on the
/// first requests only (and says so).
const REFERENCE_BUDGET: Duration = Duration::from_secs(15);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A policy file to time; its requests are made from its own globs.
    #[arg(required_unless_present_any = ["generate", "sizes", "adversarial"], conflicts_with_all = ["generate", "sizes", "adversarial"])]
    file: Option<PathBuf>,
    /// Time the worst cases: policies of complex globs (star-literal, classes, braces, mixed)
    /// at 1000 and 10000 rules (or `--sizes`), on requests built against them; prints the
    /// worst-case table. `--requests` is how often each worst request is repeated, and
    /// `--varied` how many distinct ones are timed (at most 2000).
    #[arg(long, conflicts_with = "generate")]
    adversarial: bool,
    /// Time a generated policy of N HITL rules; without N, each of 3, 100, 1000 and 10000.
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
    /// Timed passes over each workload (the median is reported).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// What one policy measured.
#[derive(Debug)]
struct Row {
    label: String,
    rules: usize,
    requests: usize,
    /// The share of requests whose HITL rule is not the last rule (the catch-all).
    hit_share: Option<f64>,
    reference_ns: f64,
    /// How many requests the reference was timed on.
    reference_timed: usize,
    compiled_ns: f64,
    floor_ns: f64,
    varied: Option<Varied>,
    compile: Duration,
    memory: MemoryUsage,
    mismatches: usize,
    checked: usize,
}

#[derive(Debug)]
struct Varied {
    requests: usize,
    compiled_ns: f64,
    floor_ns: f64,
    reference_ns: f64,
    reference_timed: usize,
}

pub fn run(args: &Args) -> u8 {
    if args.requests == 0 || args.rounds == 0 {
        eprintln!("bench: --requests and --rounds must be at least 1");
        return exit::TOOL;
    }
    if args.adversarial {
        return adversarial::run(args);
    }
    let rows: Vec<Row> = if let Some(file) = &args.file {
        let policy = match super::load_policy(file) {
            Ok(p) => p,
            Err(code) => return code,
        };
        let repeated = generate::workload_for(&policy, args.requests, 1);
        let varied = || generate::varied_workload_for(&policy, args.varied, 2);
        vec![measure(
            args,
            file.display().to_string(),
            &policy,
            &repeated,
            &varied,
            None,
        )]
    } else {
        let sizes = match (&args.sizes, args.generate) {
            (Some(sizes), _) => sizes.clone(),
            (None, Some(Some(n))) => vec![n],
            _ => SIZES.to_vec(),
        };
        let mut rows = Vec::new();
        for n in sizes {
            let n = n.max(1);
            let policy = match Policy::from_yaml_str(
                &generate::policy_yaml(n),
                &format!("generated-{n}.yaml"),
            ) {
                Ok(p) => p,
                Err(e) => {
                    eprint!("{}", e.render());
                    return exit::TOOL;
                }
            };
            let repeated = generate::workload(n, args.requests, 1);
            let varied = || generate::varied_workload(n, args.varied, 2);
            let row = measure(
                args,
                format!("generated {n}"),
                &policy,
                &repeated,
                &varied,
                Some(n),
            );
            if args.format == Format::Text {
                eprintln!("measured {} rules", row.rules);
            }
            rows.push(row);
        }
        rows
    };
    report(args.format, &rows, print_text, print_json, |r| r.mismatches)
}

/// Prints the rows in the format asked for; the exit code says whether the compiled policy
/// ever disagreed with the reference evaluator.
fn report<R>(
    format: Format,
    rows: &[R],
    text: fn(&[R]),
    json: fn(&[R]),
    mismatches: fn(&R) -> usize,
) -> u8 {
    match format {
        Format::Text => text(rows),
        Format::Json => json(rows),
    }
    if rows.iter().any(|r| mismatches(r) > 0) {
        eprintln!(
            "bench: the compiled policy disagreed with the reference evaluator; this is a bug"
        );
        return exit::FOUND;
    }
    exit::OK
}

/// The key the floor looks answers up by: the request's strings and confidence.
type FloorKey = (String, String, Option<u64>);

fn key(r: &Request) -> FloorKey {
    (
        r.action.clone(),
        r.resource.clone(),
        r.confidence.map(f64::to_bits),
    )
}

/// The floor: answers precomputed by the compiled policy, stored once each, found by a hash
/// lookup of the request.
struct Floor<'p> {
    map: HashMap<FloorKey, u32>,
    answers: Vec<Decision<'p>>,
}

impl<'p> Floor<'p> {
    fn new(compiled: &'p CompiledPolicy, requests: &[Request]) -> Floor<'p> {
        let mut answers: Vec<Decision<'p>> = Vec::new();
        let mut map = HashMap::with_capacity(requests.len());
        for r in requests {
            let Ok(d) = compiled.decide(r) else { continue };
            let i = match answers.iter().position(|a| {
                a.hitl_rule() == d.hitl_rule() && a.escalation_rule() == d.escalation_rule()
            }) {
                Some(i) => i,
                None => {
                    answers.push(d);
                    answers.len() - 1
                }
            };
            map.insert(key(r), i as u32);
        }
        Floor { map, answers }
    }

    #[inline]
    fn decide(&self, key: &FloorKey) -> Option<Decision<'p>> {
        self.map
            .get(key)
            .and_then(|&i| self.answers.get(i as usize))
            .cloned()
    }
}

/// A number that depends on a decision, so the optimizer cannot skip making it.
#[inline]
fn digest(d: &Decision<'_>) -> usize {
    d.hitl_rule().unwrap_or(7) ^ (d.escalation_rule().unwrap_or(3) << 1) ^ d.outcome() as usize
}

fn per_decision(elapsed: Duration, count: usize) -> f64 {
    elapsed.as_nanos() as f64 / count.max(1) as f64
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Times compiled and floor in alternating passes, so that both see the same machine.
fn race(
    rounds: usize,
    requests: &[Request],
    keys: &[FloorKey],
    compiled: &CompiledPolicy,
    floor: &Floor<'_>,
) -> (f64, f64) {
    let mut c = Vec::with_capacity(rounds);
    let mut f = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let mut sum = 0usize;
        for key in keys {
            sum = sum.wrapping_add(floor.decide(black_box(key)).map_or(0, |d| digest(&d)));
        }
        black_box(sum);
        f.push(per_decision(start.elapsed(), keys.len()));

        let start = Instant::now();
        let mut sum = 0usize;
        for r in requests {
            sum = sum.wrapping_add(compiled.decide(black_box(r)).map_or(0, |d| digest(&d)));
        }
        black_box(sum);
        c.push(per_decision(start.elapsed(), requests.len()));
    }
    (median(c), median(f))
}

/// Times the reference on as many of `requests` as fit the budget, checking the compiled
/// policy's decisions against it on those. Returns (ns per decision, timed, mismatches).
fn reference(
    policy: &Policy,
    compiled: &CompiledPolicy,
    requests: &[Request],
) -> (f64, usize, usize) {
    let mut decisions = Vec::with_capacity(requests.len());
    let start = Instant::now();
    for r in requests {
        decisions.push(policy.decide(black_box(r)));
        if decisions.len() % 64 == 0 && start.elapsed() > REFERENCE_BUDGET {
            break;
        }
    }
    let ns = per_decision(start.elapsed(), decisions.len());
    let mismatches = requests
        .iter()
        .zip(&decisions)
        .filter(|(r, want)| compiled.decide(r) != **want)
        .count();
    (ns, decisions.len(), mismatches)
}

/// Measures one policy. The varied workload is made only after compile times are taken, so
/// that a million live requests do not slow the allocator down for them.
fn measure(
    args: &Args,
    label: String,
    policy: &Policy,
    repeated: &[Request],
    make_varied: &dyn Fn() -> Vec<Request>,
    generated: Option<usize>,
) -> Row {
    let doc = policy.doc();
    let rules = doc.hitl.as_ref().map_or(0, |s| s.rules.len())
        + doc.escalation.as_ref().map_or(0, |s| s.rules.len());

    let mut compile_times = Vec::new();
    let mut compiled = policy.compile();
    for _ in 0..5 {
        let start = Instant::now();
        compiled = black_box(policy.compile());
        compile_times.push(start.elapsed().as_secs_f64());
    }
    let compile = Duration::from_secs_f64(median(compile_times));

    let (reference_ns, reference_timed, mut mismatches) = reference(policy, &compiled, repeated);
    let mut checked = reference_timed;
    let keys: Vec<FloorKey> = repeated.iter().map(key).collect();
    let floor = Floor::new(&compiled, repeated);
    let (compiled_ns, floor_ns) = race(args.rounds, repeated, &keys, &compiled, &floor);
    drop(floor);

    let hit_share = generated.map(|n| {
        let hits = repeated
            .iter()
            .filter(|r| {
                compiled
                    .decide(r)
                    .is_ok_and(|d| d.hitl_rule().is_some_and(|i| i + 1 < n))
            })
            .count();
        hits as f64 / repeated.len() as f64
    });

    let varied = make_varied();
    let varied = &varied[..];
    let varied = (!varied.is_empty()).then(|| {
        let sample = &varied[..varied.len().min(args.requests)];
        let (reference_ns, reference_timed, wrong) = reference(policy, &compiled, sample);
        mismatches += wrong;
        checked += reference_timed;
        let keys: Vec<FloorKey> = varied.iter().map(key).collect();
        let floor = Floor::new(&compiled, varied);
        let (compiled_ns, floor_ns) = race(args.rounds.min(3), varied, &keys, &compiled, &floor);
        Varied {
            requests: varied.len(),
            compiled_ns,
            floor_ns,
            reference_ns,
            reference_timed,
        }
    });

    Row {
        label,
        rules,
        requests: repeated.len(),
        hit_share,
        reference_ns,
        reference_timed,
        compiled_ns,
        floor_ns,
        varied,
        compile,
        memory: compiled.memory_usage(),
        mismatches,
        checked,
    }
}

/// `nproc` and the CPU model, to say what the numbers were measured on.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {model}")
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn print_text(rows: &[Row]) {
    println!("machine: {}", machine());
    println!(
        "ns per decision; floor = std HashMap (SipHash) of precomputed answers keyed by the request"
    );
    println!();
    let width = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0)
        .max(16);
    println!(
        "{:<width$} {:>6} {:>12} {:>10} {:>8} {:>8} | {:>10} {:>8} {:>8} | {:>10} {:>10}",
        "policy",
        "rules",
        "reference",
        "compiled",
        "floor",
        "ratio",
        "varied c.",
        "v. floor",
        "v. ratio",
        "compile",
        "memory"
    );
    for r in rows {
        let (vc, vf, vr) = match &r.varied {
            Some(v) => (
                format!("{:.0}", v.compiled_ns),
                format!("{:.0}", v.floor_ns),
                format!("{:.2}x", v.compiled_ns / v.floor_ns),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<width$} {:>6} {:>12.0} {:>10.0} {:>8.0} {:>7.2}x | {:>10} {:>8} {:>8} | {:>7.1} ms {:>6.2} MiB",
            r.label,
            r.rules,
            r.reference_ns,
            r.compiled_ns,
            r.floor_ns,
            r.compiled_ns / r.floor_ns,
            vc,
            vf,
            vr,
            r.compile.as_secs_f64() * 1e3,
            mib(r.memory.total()),
        );
    }
    println!();
    for r in rows {
        let m = &r.memory;
        print!("{}: {} requests", r.label, r.requests);
        if let Some(share) = r.hit_share {
            print!(
                " ({:.1}% hit a rule other than the catch-all)",
                share * 100.0
            );
        }
        if r.reference_timed < r.requests {
            print!("; reference timed on the first {}", r.reference_timed);
        }
        if let Some(v) = &r.varied {
            print!(
                "; varied: {} distinct requests, reference {:.0} ns on the first {}",
                v.requests, v.reference_ns, v.reference_timed
            );
        }
        println!(
            "; memory {:.2} MiB = index {:.2} + automata {:.2} + DFA caches {:.2} + verdicts {:.2}; {} decisions checked against the reference, {} mismatches",
            mib(m.total()),
            mib(m.index),
            mib(m.automata),
            mib(m.caches),
            mib(m.verdicts),
            r.checked,
            r.mismatches
        );
    }
    let Some(largest) = rows.iter().max_by_key(|r| r.rules) else {
        return;
    };
    println!();
    let worst = rows
        .iter()
        .map(|r| r.compiled_ns / r.floor_ns)
        .fold(0.0, f64::max);
    println!("targets (compiled against the floor):");
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "  compiled <= 2x floor at every size: worst {worst:.2}x: {}",
        verdict(worst <= 2.0)
    );
    if let Some(v) = &largest.varied {
        let ratio = v.compiled_ns / v.floor_ns;
        println!(
            "  varied <= 4x floor at {} rules: {ratio:.2}x: {}",
            largest.rules,
            verdict(ratio <= 4.0)
        );
    }
    let ms = largest.compile.as_secs_f64() * 1e3;
    println!(
        "  compile < 100 ms at {} rules: {ms:.1} ms: {}",
        largest.rules,
        verdict(ms < 100.0)
    );
    let memory = mib(largest.memory.total());
    println!(
        "  compiled form < 32 MiB at {} rules: {memory:.2} MiB: {}",
        largest.rules,
        verdict(memory < 32.0)
    );
}

fn print_json(rows: &[Row]) {
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "policy": r.label,
                "rules": r.rules,
                "requests": r.requests,
                "hitShare": r.hit_share,
                "referenceNs": r.reference_ns,
                "referenceTimed": r.reference_timed,
                "compiledNs": r.compiled_ns,
                "floorNs": r.floor_ns,
                "ratio": r.compiled_ns / r.floor_ns,
                "varied": r.varied.as_ref().map(|v| json!({
                    "requests": v.requests,
                    "compiledNs": v.compiled_ns,
                    "floorNs": v.floor_ns,
                    "ratio": v.compiled_ns / v.floor_ns,
                    "referenceNs": v.reference_ns,
                    "referenceTimed": v.reference_timed,
                })),
                "compileMs": r.compile.as_secs_f64() * 1e3,
                "memory": {
                    "total": r.memory.total(),
                    "index": r.memory.index,
                    "automata": r.memory.automata,
                    "caches": r.memory.caches,
                    "verdicts": r.memory.verdicts,
                },
                "checked": r.checked,
                "mismatches": r.mismatches,
            })
        })
        .collect();
    let out = json!({ "machine": machine(), "rows": rows });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
}
