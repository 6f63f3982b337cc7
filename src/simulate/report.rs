//! The simulation's figures per scenario and method, its targets, and its JSON and text forms.

use serde_json::{Value, json};

use super::{Kind, Options, RunRecord, Scenario, oracle_automation, run_scenario};

/// The figures of one method over the runs of one scenario.
#[derive(Debug, Clone)]
pub struct Summary {
    pub method: String,
    pub runs: usize,
    pub moves: u64,
    /// The share of moves whose new threshold's true bad rate is above alpha.
    pub violation_rate: f64,
    /// The share of runs in which any threshold in effect at any time broke alpha.
    pub anytime_violation_rate: f64,
    pub automation_at_2000: f64,
    pub automation_at_10000: f64,
    pub labels_to_first_move: Option<f64>,
    /// Median and 95th percentile of the resolutions from the drop to recovery, over the runs
    /// that recovered, and the share of runs that did.
    pub recovery: Option<(f64, f64, f64)>,
    pub outside_limits: u64,
}

impl Summary {
    pub fn of(method: Kind, records: &[RunRecord], has_drop: bool) -> Summary {
        let moves: u64 = records.iter().map(|r| r.moves).sum();
        let violating: u64 = records.iter().map(|r| r.violating_moves).sum();
        let runs = records.len();
        let share = |n: usize| {
            if runs == 0 {
                0.0
            } else {
                n as f64 / runs as f64
            }
        };
        let recovered: Vec<f64> = records
            .iter()
            .filter_map(|r| r.recovery.map(|x| x as f64))
            .collect();
        Summary {
            method: method.name(),
            runs,
            moves,
            violation_rate: if moves == 0 {
                0.0
            } else {
                violating as f64 / moves as f64
            },
            anytime_violation_rate: share(records.iter().filter(|r| r.any_violation).count()),
            automation_at_2000: median(records.iter().map(|r| r.automation[0]).collect()),
            automation_at_10000: median(records.iter().map(|r| r.automation[1]).collect()),
            labels_to_first_move: {
                let firsts: Vec<f64> = records
                    .iter()
                    .filter_map(|r| r.labels_to_first_move.map(|x| x as f64))
                    .collect();
                (!firsts.is_empty()).then(|| median(firsts))
            },
            recovery: (has_drop && !recovered.is_empty()).then(|| {
                (
                    median(recovered.clone()),
                    quantile(recovered.clone(), 0.95),
                    share(recovered.len()),
                )
            }),
            outside_limits: records.iter().map(|r| r.outside_limits).sum(),
        }
    }

    fn json(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("method".into(), json!(self.method));
        m.insert("moves".into(), json!(self.moves));
        m.insert("violationRate".into(), json!(round(self.violation_rate)));
        m.insert(
            "anytimeViolationRate".into(),
            json!(round(self.anytime_violation_rate)),
        );
        m.insert(
            "automationAt2000".into(),
            json!(round(self.automation_at_2000)),
        );
        m.insert(
            "automationAt10000".into(),
            json!(round(self.automation_at_10000)),
        );
        m.insert("labelsToFirstMove".into(), json!(self.labels_to_first_move));
        m.insert(
            "recoveryResolutions".into(),
            json!(self.recovery.map(|r| r.0)),
        );
        if let Some((_, p95, share)) = self.recovery {
            m.insert("recoveryResolutionsP95".into(), json!(p95));
            m.insert("recoveredRuns".into(), json!(round(share)));
        }
        m.insert("outsideLimits".into(), json!(self.outside_limits));
        m
    }
}

/// One scenario's figures: the learner's and the rules of thumb's.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    pub scenario: &'static Scenario,
    pub alpha: f64,
    pub delta: f64,
    pub oracle_automation: f64,
    pub methods: Vec<Summary>,
}

/// Runs every scenario asked for with every method.
pub fn simulate(scenarios: &[&'static Scenario], options: &Options) -> Vec<ScenarioReport> {
    scenarios
        .iter()
        .map(|&scenario| ScenarioReport {
            scenario,
            alpha: options.settings.alpha,
            delta: options.settings.delta,
            oracle_automation: oracle_automation(scenario, &options.settings),
            methods: options
                .methods
                .iter()
                .map(|&kind| {
                    let records = run_scenario(scenario, kind, options);
                    Summary::of(kind, &records, scenario.drop_at.is_some())
                })
                .collect(),
        })
        .collect()
}

/// A target and whether the learner met it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub scenario: &'static str,
    pub what: String,
    pub met: bool,
}

/// The targets the learner is held to.
pub fn targets(reports: &[ScenarioReport]) -> Vec<Target> {
    let mut out = Vec::new();
    for r in reports {
        let Some(learner) = r.methods.iter().find(|m| m.method == Kind::Learner.name()) else {
            continue;
        };
        let name = r.scenario.name;
        let mut push = |what: String, met: bool| {
            out.push(Target {
                scenario: name,
                what,
                met,
            })
        };
        push(
            format!(
                "violation rate {:.3} <= delta {}",
                learner.violation_rate, r.delta
            ),
            learner.violation_rate <= r.delta,
        );
        push(
            format!(
                "thresholds outside floor/ceiling: {}",
                learner.outside_limits
            ),
            learner.outside_limits == 0,
        );
        if name == "calibrated" {
            let o = r.oracle_automation;
            push(
                format!(
                    "automation at 2000 labels {:.3} >= 0.6 x oracle {:.3}",
                    learner.automation_at_2000, o
                ),
                learner.automation_at_2000 >= 0.6 * o,
            );
            push(
                format!(
                    "automation at 10000 labels {:.3} >= 0.8 x oracle {:.3}",
                    learner.automation_at_10000, o
                ),
                learner.automation_at_10000 >= 0.8 * o,
            );
        }
        if r.scenario.drop_at.is_some() {
            let (p95, share) = learner
                .recovery
                .map_or((f64::INFINITY, 0.0), |r| (r.1, r.2));
            push(
                format!(
                    "recovery after the drop within 200 resolutions: 95th percentile {p95}, {:.0}% of runs recovered",
                    share * 100.0
                ),
                p95 <= 200.0 && share == 1.0,
            );
        }
    }
    out
}

pub fn to_json(reports: &[ScenarioReport], runs: usize, seed: u64) -> Value {
    let scenarios: Vec<Value> = reports
        .iter()
        .map(|r| {
            let mut methods = r.methods.iter().map(Summary::json);
            let mut entry = serde_json::Map::new();
            entry.insert("scenario".into(), json!(r.scenario.name));
            entry.insert("about".into(), json!(r.scenario.about));
            entry.insert("runs".into(), json!(runs));
            entry.insert("alpha".into(), json!(r.alpha));
            entry.insert("delta".into(), json!(r.delta));
            if let Some(first) = methods.next() {
                entry.extend(first);
            }
            entry.insert(
                "oracleAutomationRate".into(),
                json!(round(r.oracle_automation)),
            );
            entry.insert(
                "baselines".into(),
                Value::Array(methods.map(Value::Object).collect()),
            );
            Value::Object(entry)
        })
        .collect();
    let targets: Vec<Value> = targets(reports)
        .into_iter()
        .map(|t| json!({"scenario": t.scenario, "target": t.what, "met": t.met}))
        .collect();
    json!({"seed": seed, "scenarios": scenarios, "targets": targets})
}

pub fn to_text(reports: &[ScenarioReport]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<14} {:<13} {:>6} {:>9} {:>8} {:>8} {:>8} {:>7} {:>7} {:>9}",
        "scenario",
        "method",
        "moves",
        "violation",
        "anytime",
        "auto@2k",
        "auto@10k",
        "oracle",
        "first",
        "recovery"
    );
    for r in reports {
        for m in &r.methods {
            let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
            let _ = writeln!(
                out,
                "{:<14} {:<13} {:>6} {:>9.3} {:>8.3} {:>8.3} {:>8.3} {:>7.3} {:>7} {:>9}",
                r.scenario.name,
                m.method,
                m.moves,
                m.violation_rate,
                m.anytime_violation_rate,
                m.automation_at_2000,
                m.automation_at_10000,
                r.oracle_automation,
                opt(m.labels_to_first_move),
                opt(m.recovery.map(|r| r.1)),
            );
        }
    }
    out.push_str("\ntargets (the learner):\n");
    for t in targets(reports) {
        let _ = writeln!(
            out,
            "  {}: {}: {}",
            t.scenario,
            t.what,
            if t.met { "met" } else { "MISSED" }
        );
    }
    out
}

fn round(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

fn median(values: Vec<f64>) -> f64 {
    quantile(values, 0.5)
}

fn quantile(mut values: Vec<f64>, q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let i = ((values.len() - 1) as f64 * q).round() as usize;
    values[i]
}
