//! The labelled calls of one match class, counted per cell of the threshold grid, in a
//! sliding window.
//!
//! A call is counted in one of two strata, by how it was routed when it was made:
//! - **human**: its confidence was below the threshold then, so a person saw it and every
//!   resolved one is labelled (probability 1);
//! - **eligible**: it was at or above the threshold, so it was auto-approved unless the audit
//!   sample (probability `auditRate`) sent it to a person. Every eligible call is counted;
//!   the audited ones are its labels.
//!
//! Within each stratum the labels are a random sample of its calls, so each stratum's bad
//! rate is estimated without bias from its own labels, and the region's rate is the strata's
//! rates weighted by their call counts: an audited label stands for `eligible / audited`
//! calls (about `1 / auditRate`), a human label for one.

use std::collections::VecDeque;

use super::settings::Settings;

/// How a call was routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Below the threshold: sent to a person by the policy.
    Human,
    /// At or above the threshold and chosen by the audit sample: sent to a person anyway.
    Audit,
    /// At or above the threshold: auto-approved, seen by no one.
    Auto,
}

/// Whether an outcome was good (approved, or reported fine) or bad (rejected, or reported
/// bad after the fact).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Good,
    Bad,
}

/// One call of the class, as the learner counts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub confidence: f64,
    pub route: Route,
    /// `None` while no one has resolved it. For an `Auto` call only a reported bad outcome
    /// counts (see [`Evidence::add`]).
    pub label: Option<Label>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cell {
    pub human_labels: u64,
    pub human_bad: u64,
    pub eligible: u64,
    pub audited: u64,
    pub audited_bad: u64,
}

/// The counts of one region `[threshold, 1]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Region {
    pub human_labels: u64,
    pub human_bad: u64,
    pub eligible: u64,
    pub audited: u64,
    pub audited_bad: u64,
}

impl Region {
    pub fn labels(&self) -> u64 {
        self.human_labels + self.audited
    }

    /// The unbiased estimate of the region's bad rate (strata weighted by their calls).
    pub fn estimate(&self) -> Option<f64> {
        let human = (self.human_labels > 0).then_some(self.human_bad as f64);
        let eligible = (self.audited > 0)
            .then(|| self.eligible as f64 * self.audited_bad as f64 / self.audited as f64);
        let weight = if eligible.is_some() { self.eligible } else { 0 } + self.human_labels;
        match (human, eligible) {
            (None, None) => None,
            (h, e) => Some((h.unwrap_or(0.0) + e.unwrap_or(0.0)) / weight as f64),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    cell: usize,
    route: Route,
    label: Option<Label>,
}

/// The window's counts per grid cell: cell 0 is `[ceiling, 1]`, cell `j` is
/// `[grid[j], grid[j - 1])`, and the last cell holds what is below the floor (labels that no
/// threshold within the limits would auto-approve, kept for the shift check).
#[derive(Debug, Clone)]
pub struct Evidence {
    grid: Vec<f64>,
    cells: Vec<Cell>,
    entries: VecDeque<Entry>,
    labels: u64,
    window: u64,
}

impl Evidence {
    pub fn new(settings: &Settings) -> Evidence {
        let grid = settings.grid();
        Evidence {
            cells: vec![Cell::default(); grid.len() + 1],
            grid,
            entries: VecDeque::new(),
            labels: 0,
            window: settings.window,
        }
    }

    pub fn grid(&self) -> &[f64] {
        &self.grid
    }

    /// Labels in the window.
    pub fn labels(&self) -> u64 {
        self.labels
    }

    /// The cell of a confidence.
    pub fn cell_of(&self, confidence: f64) -> usize {
        // The grid is short (at most `MAX_GRID_POINTS`) and this is not on the decision's
        // path; a binary search keeps it logarithmic anyway.
        self.grid.partition_point(|&point| point > confidence)
    }

    /// The index of the cell below the floor.
    pub fn below_floor(&self) -> usize {
        self.grid.len()
    }

    /// Counts one call; then drops the oldest calls while the window holds too many labels.
    ///
    /// A reported outcome of an auto-approved call counts only when bad, and then as an
    /// audited bad label: reports are not a random sample (bad ones are far likelier to be
    /// reported), so a good report could only bias the estimate down, while a bad one can only
    /// raise it, which errs on the strict side.
    pub fn add(&mut self, observation: Observation) {
        let label = match (observation.route, observation.label) {
            (Route::Auto, Some(Label::Good)) => None,
            (_, label) => label,
        };
        let entry = Entry {
            cell: self.cell_of(observation.confidence),
            route: observation.route,
            label,
        };
        self.count(&entry, 1);
        self.entries.push_back(entry);
        while self.labels > self.window {
            self.drop_oldest();
        }
    }

    /// Keeps only the calls from the `labels`-th most recent label on: what a detected shift
    /// leaves, since older labels describe an agent that is gone.
    pub fn keep_recent(&mut self, labels: u64) {
        while self.labels > labels {
            self.drop_oldest();
        }
        // Unlabelled calls before the first kept label go too.
        while self.entries.front().is_some_and(|e| e.label.is_none()) {
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        if let Some(entry) = self.entries.pop_front() {
            self.count(&entry, -1);
        }
    }

    fn count(&mut self, entry: &Entry, sign: i64) {
        let cell = &mut self.cells[entry.cell];
        let add = |n: &mut u64| *n = n.wrapping_add_signed(sign);
        let bad = entry.label == Some(Label::Bad);
        match entry.route {
            Route::Human => {
                if entry.label.is_some() {
                    add(&mut cell.human_labels);
                    self.labels = self.labels.wrapping_add_signed(sign);
                    if bad {
                        add(&mut cell.human_bad);
                    }
                }
            }
            Route::Audit | Route::Auto => {
                add(&mut cell.eligible);
                if entry.label.is_some() {
                    add(&mut cell.audited);
                    self.labels = self.labels.wrapping_add_signed(sign);
                    if bad {
                        add(&mut cell.audited_bad);
                    }
                }
            }
        }
    }

    /// The counts of the region at or above `grid[j]`.
    pub fn region(&self, j: usize) -> Region {
        self.cells[..=j]
            .iter()
            .fold(Region::default(), |r, c| Region {
                human_labels: r.human_labels + c.human_labels,
                human_bad: r.human_bad + c.human_bad,
                eligible: r.eligible + c.eligible,
                audited: r.audited + c.audited,
                audited_bad: r.audited_bad + c.audited_bad,
            })
    }

    /// Every cell's counts, the one below the floor last.
    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }

    /// The labels of the most recent `n` labelled calls, newest last, with their cells.
    pub fn recent_labels(&self, n: usize) -> Vec<(usize, Label)> {
        let mut out: Vec<(usize, Label)> = self
            .entries
            .iter()
            .rev()
            .filter_map(|e| e.label.map(|l| (e.cell, l)))
            .take(n)
            .collect();
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            floor: 0.8,
            ceiling: 1.0,
            step: 0.1,
            window: 4,
            min_labels: 1,
            ..Settings::default()
        }
    }

    fn obs(confidence: f64, route: Route, label: Option<Label>) -> Observation {
        Observation {
            confidence,
            route,
            label,
        }
    }

    #[test]
    fn calls_land_in_the_cell_of_their_confidence() {
        let e = Evidence::new(&settings());
        assert_eq!(e.grid(), &[1.0, 0.9, 0.8]);
        assert_eq!(e.cell_of(1.0), 0);
        assert_eq!(e.cell_of(0.95), 1);
        assert_eq!(e.cell_of(0.9), 1);
        assert_eq!(e.cell_of(0.85), 2);
        assert_eq!(e.cell_of(0.8), 2);
        assert_eq!(e.cell_of(0.79), 3);
        assert_eq!(e.below_floor(), 3);
    }

    #[test]
    fn audited_labels_stand_for_the_calls_they_sample() {
        let mut e = Evidence {
            window: 1_000,
            ..Evidence::new(&settings())
        };
        // Ten eligible calls at 0.95, two audited (one bad); four human labels at 0.85, one bad.
        for i in 0..10 {
            let (route, label) = match i {
                0 => (Route::Audit, Some(Label::Bad)),
                1 => (Route::Audit, Some(Label::Good)),
                _ => (Route::Auto, None),
            };
            e.add(obs(0.95, route, label));
        }
        for i in 0..4 {
            let label = if i == 0 { Label::Bad } else { Label::Good };
            e.add(obs(0.85, Route::Human, Some(label)));
        }
        let top = e.region(1);
        assert_eq!((top.eligible, top.audited, top.audited_bad), (10, 2, 1));
        assert_eq!(top.estimate(), Some(0.5));
        let all = e.region(2);
        // (1 human bad + 10 calls x 1/2) / (4 + 10)
        assert_eq!(all.estimate(), Some(6.0 / 14.0));
        assert_eq!(all.labels(), 6);
    }

    #[test]
    fn good_reports_on_unseen_calls_do_not_count_and_bad_ones_do() {
        let mut e = Evidence::new(&settings());
        e.add(obs(0.95, Route::Auto, Some(Label::Good)));
        assert_eq!(e.labels(), 0);
        e.add(obs(0.95, Route::Auto, Some(Label::Bad)));
        assert_eq!(e.region(1).audited_bad, 1);
        assert_eq!(e.labels(), 1);
    }

    #[test]
    fn the_window_keeps_the_latest_labels_and_forgets_the_rest() {
        let mut e = Evidence::new(&settings());
        for i in 0..10 {
            let label = if i < 5 { Label::Bad } else { Label::Good };
            e.add(obs(0.85, Route::Human, Some(label)));
        }
        assert_eq!(e.labels(), 4);
        assert_eq!(e.region(2).human_bad, 0, "the bad labels were the oldest");
        e.keep_recent(2);
        assert_eq!(e.labels(), 2);
        assert_eq!(e.recent_labels(5).len(), 2);
    }
}
