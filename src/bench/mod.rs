//! The benchmark harness behind `rekall-policy bench` and the criterion benches: generated
//! policies and workloads ([`generate`]), the floor they are measured against ([`Floor`]),
//! the measurements ([`first_match`], [`policy_file`], [`adversarial`]) and the targets
//! they are held to ([`targets`]).
//!
//! Each row times, on the same requests, the reference evaluator, the compiled policy and
//! the floor, in alternating passes so that both see the same machine, and reports the
//! least pass of each. Two workloads: a
//! repeated one (requests that recur, as traffic does) and a varied one (up to a million
//! distinct requests), so that a cache that only works on repeated traffic would show.
//! Every decision the reference is timed on also checks the compiled policy's.

mod adversarial;
mod floor;
pub mod generate;
mod report;

use std::hint::black_box;
use std::time::{Duration, Instant};

pub use adversarial::{
    ADVERSARIAL_SIZES, AdversarialRow, adversarial, adversarial_json, adversarial_targets,
    adversarial_text,
};
pub use floor::Floor;
pub use report::{Target, json, targets, text};

use crate::compile::{CompiledPolicy, MemoryUsage};
use crate::front::Language;
use crate::{Decision, Policy, PolicyError, Request};
use generate::Stages;

/// The sizes the first-match policies are timed at unless told otherwise.
pub const SIZES: [usize; 4] = [3, 100, 1_000, 10_000];
/// About how long the reference evaluator may take per workload; beyond, it is timed on the
/// first requests only (and says so).
const REFERENCE_BUDGET: Duration = Duration::from_secs(4);
/// Timed runs of text to compiled policy (the least is reported).
const COMPILE_RUNS: usize = 5;

/// How much to time.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Requests in the repeated workload (at least 1).
    pub requests: usize,
    /// Distinct requests in the varied workload (0 skips it).
    pub varied: usize,
    /// Timed passes over each workload (at least 1; the least is reported, since other work on
    /// a shared machine only ever adds time, to either side of a comparison).
    pub rounds: usize,
}

/// What one policy measured.
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    /// The stages of a generated policy; `None` for a policy file.
    pub stages: Option<Stages>,
    /// The size asked for: a generated policy's HITL rules, or a file's rules.
    pub size: usize,
    /// Rules of both stages.
    pub rules: usize,
    pub requests: usize,
    /// The share of requests whose HITL rule is not the catch-all (generated policies).
    pub hit_share: Option<f64>,
    pub reference_ns: f64,
    /// How many requests the reference was timed on.
    pub reference_timed: usize,
    pub compiled_ns: f64,
    pub floor_ns: f64,
    pub varied: Option<Varied>,
    /// Validated policy to compiled policy.
    pub compile: Duration,
    /// Text to compiled policy (parse, validate, compile), of the policy printed as YAML
    /// and as DSL.
    pub from_yaml: Duration,
    pub from_dsl: Duration,
    pub memory: MemoryUsage,
    pub mismatches: usize,
    pub checked: usize,
}

/// The varied workload of a row.
#[derive(Debug, Clone)]
pub struct Varied {
    pub requests: usize,
    pub compiled_ns: f64,
    pub floor_ns: f64,
    pub reference_ns: f64,
    pub reference_timed: usize,
}

impl Row {
    /// Compiled time over the floor's, repeated workload.
    pub fn ratio(&self) -> f64 {
        self.compiled_ns / self.floor_ns
    }
}

impl Varied {
    /// Compiled time over the floor's, varied workload.
    pub fn ratio(&self) -> f64 {
        self.compiled_ns / self.floor_ns
    }
}

/// Times the first-match policies of [`generate::first_match_policy_yaml`] at each size,
/// HITL-only and with both stages; `progress` hears of each row as it is done.
pub fn first_match(
    sizes: &[usize],
    settings: &Settings,
    progress: &mut dyn FnMut(&Row),
) -> Result<Vec<Row>, PolicyError> {
    let mut rows = Vec::new();
    for &n in sizes {
        let n = n.max(1);
        for stages in Stages::ALL {
            let yaml = generate::first_match_policy_yaml(n, stages);
            let policy = Policy::from_yaml_str(&yaml, &format!("first-match-{n}.yaml"))?;
            let repeated = generate::first_match_workload(n, settings.requests, 1, false);
            let varied = || generate::first_match_workload(n, settings.varied, 2, true);
            let mut row = measure(
                settings,
                format!("{} {n}", stages.name()),
                &policy,
                &repeated,
                &varied,
            );
            row.stages = Some(stages);
            row.size = n;
            row.hit_share = Some(hit_share(&policy.compile(), &repeated, n));
            progress(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Times a policy on requests made from its own globs.
pub fn policy_file(policy: &Policy, label: String, settings: &Settings) -> Row {
    let repeated = generate::workload_for(policy, settings.requests, 1);
    let varied = || generate::varied_workload_for(policy, settings.varied, 2);
    measure(settings, label, policy, &repeated, &varied)
}

/// The share of requests whose HITL rule is one of the first `n - 1` (not the catch-all).
fn hit_share(compiled: &CompiledPolicy, requests: &[Request], n: usize) -> f64 {
    let hits = requests
        .iter()
        .filter(|r| {
            compiled
                .decide(r)
                .is_ok_and(|d| d.hitl_rule().is_some_and(|i| i + 1 < n))
        })
        .count();
    hits as f64 / requests.len().max(1) as f64
}

/// A number that depends on a decision, so the optimizer cannot skip making it.
#[inline]
pub fn digest(d: &Decision<'_>) -> usize {
    d.hitl_rule().unwrap_or(7) ^ (d.escalation_rule().unwrap_or(3) << 1) ^ d.outcome() as usize
}

fn per_decision(elapsed: Duration, count: usize) -> f64 {
    elapsed.as_nanos() as f64 / count.max(1) as f64
}

/// The least of the samples: what a run takes when nothing else on the machine got in its way.
fn least(samples: Vec<f64>) -> f64 {
    samples.into_iter().reduce(f64::min).unwrap_or(f64::NAN)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Times compiled and floor in alternating passes, so that both see the same machine.
/// Returns (compiled, floor) ns per decision.
fn race(
    rounds: usize,
    requests: &[Request],
    compiled: &CompiledPolicy,
    floor: &Floor<'_>,
) -> (f64, f64) {
    let mut c = Vec::with_capacity(rounds);
    let mut f = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let mut sum = 0usize;
        for r in requests {
            sum = sum.wrapping_add(floor.decide(black_box(r)).map_or(0, digest));
        }
        black_box(sum);
        f.push(per_decision(start.elapsed(), requests.len()));

        let start = Instant::now();
        let mut sum = 0usize;
        for r in requests {
            sum = sum.wrapping_add(compiled.decide(black_box(r)).map_or(0, |d| digest(&d)));
        }
        black_box(sum);
        c.push(per_decision(start.elapsed(), requests.len()));
    }
    (least(c), least(f))
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

/// The least time of `run`.
fn timed<T>(runs: usize, mut run: impl FnMut() -> T) -> Duration {
    let samples = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            black_box(run());
            start.elapsed().as_secs_f64()
        })
        .collect();
    Duration::from_secs_f64(least(samples))
}

/// Text to compiled policy: parse, validate, compile.
fn from_text(language: Language, text: &str) -> Duration {
    timed(COMPILE_RUNS, || {
        Policy::from_str_in(language, text, "bench").map(|p| p.compile())
    })
}

/// Measures one policy. The varied workload is made only after compile times are taken, so
/// that a million live requests do not slow the allocator down for them.
fn measure(
    settings: &Settings,
    label: String,
    policy: &Policy,
    repeated: &[Request],
    make_varied: &dyn Fn() -> Vec<Request>,
) -> Row {
    let doc = policy.doc();
    let rules = doc.hitl.as_ref().map_or(0, |s| s.rules.len())
        + doc.escalation.as_ref().map_or(0, |s| s.rules.len());

    let compile = timed(COMPILE_RUNS, || policy.compile());
    let from_yaml = from_text(Language::Yaml, &crate::print::to_yaml(doc));
    let from_dsl = from_text(Language::Dsl, &crate::print::to_dsl(doc));
    let compiled = policy.compile();

    let (reference_ns, reference_timed, mut mismatches) = reference(policy, &compiled, repeated);
    let mut checked = reference_timed;
    let floor = Floor::new(&compiled, repeated);
    let (compiled_ns, floor_ns) = race(settings.rounds, repeated, &compiled, &floor);
    drop(floor);

    let varied = make_varied();
    let varied = (!varied.is_empty()).then(|| {
        let sample = &varied[..varied.len().min(settings.requests)];
        let (reference_ns, reference_timed, wrong) = reference(policy, &compiled, sample);
        mismatches += wrong;
        checked += reference_timed;
        let floor = Floor::new(&compiled, &varied);
        let (compiled_ns, floor_ns) = race(settings.rounds.min(3), &varied, &compiled, &floor);
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
        stages: None,
        size: rules,
        rules,
        requests: repeated.len(),
        hit_share: None,
        reference_ns,
        reference_timed,
        compiled_ns,
        floor_ns,
        varied,
        compile,
        from_yaml,
        from_dsl,
        memory: compiled.memory_usage(),
        mismatches,
        checked,
    }
}

/// The cores and the CPU model, to say what the numbers were measured on.
pub fn machine() -> String {
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
