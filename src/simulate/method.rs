//! The ways a threshold can be moved that the simulation compares: the learner, and the two
//! rules of thumb in use elsewhere.

use crate::learn::{Label, Learner, Observation, Route, Sample, Settings};

/// A way of moving one match class's threshold.
pub trait Method {
    fn threshold(&self) -> f64;

    /// How a call is routed (the same audit sample for every method).
    fn route(&self, confidence: f64, draw: f64) -> Route;

    /// Counts a call; the threshold after it, when it changed.
    fn record(&mut self, observation: Observation) -> Option<f64>;
}

/// Which method, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Fixed-sequence testing with exact binomial bounds on each batch (the learner).
    Learner,
    /// The same tests on every label of the window, at delta / 2: the previous learner, not
    /// exact under routing that follows the labels.
    Pooled,
    /// Lower one step after `k` approvals and no rejection just below the threshold.
    KApprovals(u32),
    /// Lower one step after `n` approvals in a row at or near the threshold.
    InARow(u32),
}

impl Kind {
    pub fn name(self) -> String {
        match self {
            Kind::Learner => "learner".into(),
            Kind::Pooled => "pooled".into(),
            Kind::KApprovals(k) => format!("{k}-approvals"),
            Kind::InARow(n) => format!("{n}-in-a-row"),
        }
    }

    pub fn build(self, settings: &Settings) -> Box<dyn Method + Send> {
        match self {
            Kind::Learner => Box::new(Learner::new(settings.clone(), settings.ceiling)),
            Kind::Pooled => Box::new(Learner::with_sample(
                settings.clone(),
                settings.ceiling,
                Sample::Window,
            )),
            Kind::KApprovals(k) => Box::new(Thumb::new(settings, Streak::KApprovals(k))),
            Kind::InARow(n) => Box::new(Thumb::new(settings, Streak::InARow(n))),
        }
    }
}

impl Method for Learner {
    fn threshold(&self) -> f64 {
        Learner::threshold(self)
    }

    fn route(&self, confidence: f64, draw: f64) -> Route {
        Learner::route(self, confidence, draw)
    }

    fn record(&mut self, observation: Observation) -> Option<f64> {
        let before = Learner::threshold(self);
        Learner::record(self, observation);
        let after = Learner::threshold(self);
        (after != before).then_some(after)
    }
}

#[derive(Debug, Clone, Copy)]
enum Streak {
    KApprovals(u32),
    InARow(u32),
}

/// A rule of thumb on the same grid and limits as the learner: it steps down one grid point
/// after its streak of approvals, and up one point on any bad outcome it auto-approved or
/// audited.
struct Thumb {
    grid: Vec<f64>,
    at: usize,
    streak: Streak,
    count: u32,
    audit_rate: f64,
}

impl Thumb {
    fn new(settings: &Settings, streak: Streak) -> Thumb {
        Thumb {
            grid: settings.grid(),
            at: 0,
            streak,
            count: 0,
            audit_rate: settings.audit_rate,
        }
    }
}

impl Method for Thumb {
    fn threshold(&self) -> f64 {
        self.grid[self.at]
    }

    fn route(&self, confidence: f64, draw: f64) -> Route {
        Route::of(confidence, self.threshold(), self.audit_rate, draw)
    }

    fn record(&mut self, o: Observation) -> Option<f64> {
        let label = o.label?;
        if o.route == Route::Auto && label == Label::Good {
            return None;
        }
        let threshold = self.threshold();
        let next = self.grid.get(self.at + 1).copied();
        if label == Label::Bad && o.confidence >= threshold {
            self.count = 0;
            if self.at > 0 {
                self.at -= 1;
                return Some(self.threshold());
            }
            return None;
        }
        let next = next?;
        // The stretch the next step would open up: where the streak is counted.
        let near = o.confidence >= next && o.confidence < threshold;
        match (self.streak, label) {
            (Streak::KApprovals(_), Label::Good) if near => self.count += 1,
            (Streak::KApprovals(_), Label::Bad) if near => self.count = 0,
            (Streak::InARow(_), Label::Good) if o.confidence >= next => self.count += 1,
            (Streak::InARow(_), Label::Bad) if o.confidence >= next => self.count = 0,
            _ => {}
        }
        let needed = match self.streak {
            Streak::KApprovals(k) | Streak::InARow(k) => k,
        };
        if self.count >= needed {
            self.count = 0;
            self.at += 1;
            return Some(self.threshold());
        }
        None
    }
}
