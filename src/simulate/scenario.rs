//! The synthetic agents: how confident they say they are, and how often they are right.

/// A match class of the simulated agent: its confidence is drawn from `Beta(shape, 1)` and a
/// call at confidence `c` turns out good with probability `good(c)` (after the drop, if the
/// scenario has one, `good_after(c)`).
#[derive(Debug, Clone, Copy)]
pub struct Class {
    pub name: &'static str,
    /// The share of the agent's calls in this class.
    pub share: f64,
    pub shape: f64,
    pub good: fn(f64) -> f64,
    pub good_after: Option<fn(f64) -> f64>,
}

impl Class {
    /// A confidence drawn from `Beta(shape, 1)` by its quantile function `u^(1/shape)`.
    pub fn draw(&self, u: f64) -> f64 {
        u.powf(1.0 / self.shape)
    }

    pub fn p_good(&self, c: f64, dropped: bool) -> f64 {
        match (dropped, self.good_after) {
            (true, Some(after)) => after(c),
            _ => (self.good)(c),
        }
        .clamp(0.0, 1.0)
    }
}

/// A named scenario of the simulation.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub classes: &'static [Class],
    /// Labelled resolutions after which the agent changes (`good_after`).
    pub drop_at: Option<u64>,
}

fn calibrated(c: f64) -> f64 {
    c
}

/// Says 0.9 and is right four times in five: its bad rate is twice what it claims.
fn overconfident(c: f64) -> f64 {
    2.0 * c - 1.0
}

/// After the drop, right 30 points less often than it says.
fn worse(c: f64) -> f64 {
    c - 0.3
}

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "calibrated",
        about: "confidence ~ Beta(5, 1), P(good | c) = c",
        classes: &[Class {
            name: "deploy",
            share: 1.0,
            shape: 5.0,
            good: calibrated,
            good_after: None,
        }],
        drop_at: None,
    },
    Scenario {
        name: "overconfident",
        about: "confidence ~ Beta(5, 1), P(good | c) = 2c - 1",
        classes: &[Class {
            name: "deploy",
            share: 1.0,
            shape: 5.0,
            good: overconfident,
            good_after: None,
        }],
        drop_at: None,
    },
    Scenario {
        name: "per-action",
        about: "read: Beta(8, 1), P(good | c) = c; deploy: Beta(5, 1), P(good | c) = 2c - 1; half each",
        classes: &[
            Class {
                name: "read",
                share: 0.5,
                shape: 8.0,
                good: calibrated,
                good_after: None,
            },
            Class {
                name: "deploy",
                share: 0.5,
                shape: 5.0,
                good: overconfident,
                good_after: None,
            },
        ],
        drop_at: None,
    },
    Scenario {
        name: "drop",
        about: "calibrated, then after 5,000 labels P(good | c) = c - 0.3",
        classes: &[Class {
            name: "deploy",
            share: 1.0,
            shape: 5.0,
            good: calibrated,
            good_after: Some(worse),
        }],
        drop_at: Some(5_000),
    },
];

pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// What the simulation knows and the learner does not: each threshold's true bad rate among
/// the calls it auto-approves, and the share of calls it auto-approves, computed on a fixed
/// stratified sample of the confidence distribution (every `1/POINTS` quantile).
#[derive(Debug, Clone)]
pub struct Truth {
    /// Confidences, ascending.
    confidences: Vec<f64>,
    /// `suffix_bad[i]`: the expected bad outcomes among `confidences[i..]`.
    suffix_bad: Vec<f64>,
}

const POINTS: usize = 100_000;

impl Truth {
    pub fn new(class: &Class, dropped: bool) -> Truth {
        let confidences: Vec<f64> = (0..POINTS)
            .map(|i| class.draw((i as f64 + 0.5) / POINTS as f64))
            .collect();
        let mut suffix_bad = vec![0.0; POINTS + 1];
        for i in (0..POINTS).rev() {
            suffix_bad[i] = suffix_bad[i + 1] + 1.0 - class.p_good(confidences[i], dropped);
        }
        Truth {
            confidences,
            suffix_bad,
        }
    }

    fn first_at_or_above(&self, threshold: f64) -> usize {
        self.confidences.partition_point(|&c| c < threshold)
    }

    /// The share of calls a threshold auto-approves.
    pub fn automation(&self, threshold: f64) -> f64 {
        (POINTS - self.first_at_or_above(threshold)) as f64 / POINTS as f64
    }

    /// The bad rate among the calls a threshold auto-approves (0 when it approves none).
    pub fn bad_rate(&self, threshold: f64) -> f64 {
        let i = self.first_at_or_above(threshold);
        if i == POINTS {
            0.0
        } else {
            self.suffix_bad[i] / (POINTS - i) as f64
        }
    }

    /// The lowest threshold whose bad rate is at most `alpha`: the most automation a learner
    /// that knew the truth could have.
    pub fn oracle(&self, alpha: f64) -> f64 {
        (0..POINTS)
            .find(|&i| self.suffix_bad[i] / (POINTS - i) as f64 <= alpha)
            .map_or(1.0, |i| self.confidences[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calibrated_oracle_is_where_the_issue_says() {
        let truth = Truth::new(&find("calibrated").unwrap().classes[0], false);
        let oracle = truth.oracle(0.05);
        // Beta(5, 1) with P(good | c) = c: E[1 - c | c >= t] = 0.05 near t = 0.89, which
        // auto-approves 1 - t^5, about 44% of calls.
        assert!((oracle - 0.89).abs() < 0.01, "{oracle}");
        assert!((truth.automation(oracle) - 0.44).abs() < 0.02);
        assert!(truth.bad_rate(oracle) <= 0.05);
        assert!(truth.bad_rate(oracle - 0.01) > 0.05);
        // Closed form at 0.5: E[1 - c | c >= 0.5] for density 5c^4.
        let t: f64 = 0.5;
        let closed = (1.0 - t.powi(5) - 5.0 / 6.0 * (1.0 - t.powi(6))) / (1.0 - t.powi(5));
        assert!((truth.bad_rate(t) - closed).abs() < 1e-4);
    }
}
