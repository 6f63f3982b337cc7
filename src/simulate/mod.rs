//! `rekall-policy simulate`: a synthetic agent whose true chance of a good outcome is a known
//! function of its confidence, simulated humans who judge by the true outcome, the audit
//! sample, and the learning loop, over many independent runs, deterministic per seed. The
//! simulation knows each threshold's true bad rate, so it can count how often a method moved a
//! threshold to where the guarantee is broken.
//!
//! The learner here is [`crate::learn::Learner`], the same code the runtime runs; only the
//! store around it is left out, so that thousands of runs take seconds.

pub mod method;
pub mod report;
pub mod scenario;

use crate::learn::random::Rng;
use crate::learn::{Label, Observation, Route, Settings};

pub use method::Kind;
pub use scenario::{SCENARIOS, Scenario, Truth};

/// Labelled resolutions in one run.
pub const LABELS_PER_RUN: u64 = 10_000;

/// The points at which automation is read.
pub const AUTOMATION_AT: [u64; 2] = [2_000, 10_000];

/// The share of bad outcomes of auto-approved calls that someone reports afterwards.
pub const REPORT_RATE: f64 = 0.5;

/// What one simulation is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub runs: usize,
    pub seed: u64,
    pub settings: Settings,
    pub methods: Vec<Kind>,
    pub threads: usize,
}

impl Options {
    pub fn new(runs: usize, seed: u64) -> Options {
        Options {
            runs,
            seed,
            settings: simulation_settings(),
            methods: vec![
                Kind::Learner,
                Kind::Pooled,
                Kind::KApprovals(5),
                Kind::InARow(25),
            ],
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// The settings every scenario declares: alpha 0.05, delta 0.1, the threshold on a grid of
/// 0.01 from a ceiling of 1 (no automation) down to a floor of 0.5, tested at 125, 250, 500,
/// ... 8,000 labels, 5% of the calls above the threshold audited, in `auto` mode.
pub fn simulation_settings() -> Settings {
    Settings {
        alpha: 0.05,
        delta: 0.1,
        floor: 0.5,
        ceiling: 1.0,
        step: 0.01,
        min_labels: 125,
        audit_rate: 0.05,
        window: 20_000,
        mode: crate::learn::Mode::Auto,
        per_agent: false,
    }
}

/// One run's record, for one method.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    pub moves: u64,
    pub violating_moves: u64,
    pub any_violation: bool,
    /// Automation once `AUTOMATION_AT[i]` labels were seen.
    pub automation: [f64; 2],
    pub labels_to_first_move: Option<u64>,
    /// Resolutions from the drop until every threshold in effect met alpha again.
    pub recovery: Option<u64>,
    pub outside_limits: u64,
    pub calls: u64,
}

/// Runs one scenario for one method, `options.runs` times.
pub fn run_scenario(scenario: &Scenario, method: Kind, options: &Options) -> Vec<RunRecord> {
    let truths: Vec<[Truth; 2]> = scenario
        .classes
        .iter()
        .map(|c| [Truth::new(c, false), Truth::new(c, true)])
        .collect();
    let threads = options.threads.clamp(1, options.runs.max(1));
    let mut records: Vec<Option<RunRecord>> = vec![None; options.runs];
    std::thread::scope(|scope| {
        let chunks: Vec<_> = records
            .chunks_mut(options.runs.div_ceil(threads).max(1))
            .enumerate()
            .map(|(t, chunk)| {
                let truths = &truths;
                let start = t * options.runs.div_ceil(threads).max(1);
                scope.spawn(move || {
                    for (i, slot) in chunk.iter_mut().enumerate() {
                        let run = (start + i) as u64;
                        *slot = Some(one_run(scenario, method, options, truths, run));
                    }
                })
            })
            .collect();
        for handle in chunks {
            // A run is plain arithmetic; a panic in one is a bug to surface, not to hide.
            handle.join().expect("a simulation run panicked");
        }
    });
    records.into_iter().flatten().collect()
}

fn one_run(
    scenario: &Scenario,
    method: Kind,
    options: &Options,
    truths: &[[Truth; 2]],
    run: u64,
) -> RunRecord {
    let s = &options.settings;
    // The same calls and outcomes for every method in a run: common random numbers make the
    // comparison between methods sharper than independent draws would.
    let mut rng = Rng::new(
        options
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(run.wrapping_mul(0xD1B5_4A32_D192_ED03))
            ^ scenario.name.len() as u64,
    );
    let mut classes: Vec<_> = scenario.classes.iter().map(|_| method.build(s)).collect();
    let mut record = RunRecord::default();
    let mut labels = 0u64;
    let mut dropped = false;
    let mut drop_labels = None;
    let mut next_reading = 0;
    let violates = |class: usize, threshold: f64, dropped: bool| {
        truths[class][usize::from(dropped)].bad_rate(threshold) > s.alpha
    };
    while labels < LABELS_PER_RUN {
        let pick = rng.unit();
        let mut class = 0;
        let mut acc = 0.0;
        for (i, c) in scenario.classes.iter().enumerate() {
            acc += c.share;
            if pick < acc {
                class = i;
                break;
            }
            class = i;
        }
        let spec = &scenario.classes[class];
        let confidence = spec.draw(rng.unit());
        let good = rng.unit() < spec.p_good(confidence, dropped);
        let method = &mut classes[class];
        let route = method.route(confidence, rng.unit());
        let label = match route {
            Route::Human | Route::Audit => Some(if good { Label::Good } else { Label::Bad }),
            Route::Auto => (!good && rng.unit() < REPORT_RATE).then_some(Label::Bad),
        };
        record.calls += 1;
        if route != Route::Auto {
            labels += 1;
        }
        if let Some(to) = method.record(Observation {
            confidence,
            route,
            label,
        }) {
            record.moves += 1;
            record.labels_to_first_move.get_or_insert(labels);
            if violates(class, to, dropped) {
                record.violating_moves += 1;
            }
            if to < s.floor || to > s.ceiling {
                record.outside_limits += 1;
            }
        }
        if scenario.drop_at.is_some_and(|at| labels >= at) && !dropped {
            dropped = true;
            drop_labels = Some(labels);
        }
        let thresholds_violate =
            (0..classes.len()).any(|k| violates(k, classes[k].threshold(), dropped));
        record.any_violation |= thresholds_violate;
        if let Some(at) = drop_labels
            && record.recovery.is_none()
            && !thresholds_violate
        {
            record.recovery = Some(labels - at);
        }
        while next_reading < AUTOMATION_AT.len() && labels >= AUTOMATION_AT[next_reading] {
            record.automation[next_reading] =
                automation(scenario, truths, &classes, dropped, s.audit_rate);
            next_reading += 1;
        }
    }
    record
}

/// The share of all calls the thresholds in effect auto-approve: those at or above the
/// threshold, less the audit sample.
fn automation(
    scenario: &Scenario,
    truths: &[[Truth; 2]],
    classes: &[Box<dyn method::Method + Send>],
    dropped: bool,
    audit_rate: f64,
) -> f64 {
    scenario
        .classes
        .iter()
        .zip(classes)
        .zip(truths)
        .map(|((spec, m), t)| spec.share * t[usize::from(dropped)].automation(m.threshold()))
        .sum::<f64>()
        * (1.0 - audit_rate)
}

/// The automation of the best thresholds a learner that knew the truth could choose (after
/// the drop, for a scenario with one), with the same audit sample.
pub fn oracle_automation(scenario: &Scenario, settings: &Settings) -> f64 {
    let alpha = settings.alpha;
    (1.0 - settings.audit_rate)
        * scenario
            .classes
            .iter()
            .map(|c| {
                let truth = Truth::new(c, scenario.drop_at.is_some());
                c.share * truth.automation(truth.oracle(alpha))
            })
            .sum::<f64>()
}
