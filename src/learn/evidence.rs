//! The calls of one match class in a sliding window, counted per cell of the threshold grid.
//!
//! Within a cell (a stretch of confidence one grid step wide), whether a call is labelled
//! does not depend on its outcome: below the threshold every resolved call is labelled, above
//! it the audit sample picks calls at random. So each cell's labels are a random sample of
//! its calls, whatever the threshold was when they were made. Across cells they are not: a
//! cell below the threshold is labelled in full, a cell above it at the audit rate. A
//! region's labels are therefore reweighted by cell, never pooled as they come:
//! - the estimate weights each label by `calls / labels` of its cell (about `1 / auditRate`
//!   above the threshold, 1 below it), which is unbiased for the region's bad rate;
//! - the test takes from every cell the same fraction of its calls as labels (the fraction
//!   of the cell that has the fewest), the most recent ones, so that the sample it bounds is
//!   spread over the region exactly as the calls are. The bad count of such a proportionally
//!   stratified sample is a sum of Bernoulli variables with the region's mean rate; by
//!   Hoeffding's theorem on such sums, its tails are no heavier than the binomial's, so the
//!   exact binomial (Clopper–Pearson) bound stays valid for it.

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

impl Route {
    /// How a call of this confidence is routed under `threshold`: `draw` is a uniform number
    /// in [0, 1) drawn for the call, so that the audit sample is random and independent of
    /// the outcome.
    pub fn of(confidence: f64, threshold: f64, audit_rate: f64, draw: f64) -> Route {
        if confidence < threshold {
            Route::Human
        } else if draw < audit_rate {
            Route::Audit
        } else {
            Route::Auto
        }
    }
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

/// One cell's calls and labels in the window.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub calls: u64,
    /// Bad outcomes reported for calls no one saw.
    pub reported_bad: u64,
    /// Bad labels so far, counted from the cell's first label ever: `bad_before[i]` is the
    /// count before the `i`-th label still in the window, so the bad count of any run of
    /// recent labels is a difference of two entries.
    bad_before: VecDeque<u64>,
    bad_total: u64,
    /// Labels dropped from the front so far: the `i`-th label ever given in the cell is at
    /// `bad_before[i - dropped]` while it is in the window.
    dropped: u64,
}

impl Cell {
    pub fn labels(&self) -> u64 {
        self.bad_before.len() as u64
    }

    /// Bad labels in the window.
    pub fn bad(&self) -> u64 {
        self.bad_total - self.bad_before.front().copied().unwrap_or(self.bad_total)
    }

    /// Adds a label at the end; its index among every label the cell was ever given.
    fn push(&mut self, label: Label) -> u64 {
        self.bad_before.push_back(self.bad_total);
        if label == Label::Bad {
            self.bad_total += 1;
        }
        self.dropped + self.bad_before.len() as u64 - 1
    }

    fn pop_front(&mut self) {
        if self.bad_before.pop_front().is_some() {
            self.dropped += 1;
        }
    }

    /// Whether the label of that index was bad (`None` once it left the window).
    fn is_bad(&self, index: u64) -> Option<bool> {
        let i = usize::try_from(index.checked_sub(self.dropped)?).ok()?;
        let before = *self.bad_before.get(i)?;
        let after = self
            .bad_before
            .get(i + 1)
            .copied()
            .unwrap_or(self.bad_total);
        Some(after > before)
    }

    /// Changes the value of a label still in the window: the counts after it shift by one.
    fn relabel(&mut self, index: u64, label: Label) {
        let Some(was_bad) = self.is_bad(index) else {
            return;
        };
        let bad = label == Label::Bad;
        if was_bad == bad {
            return;
        }
        let i = (index - self.dropped) as usize;
        for before in self.bad_before.iter_mut().skip(i + 1) {
            *before = if bad { *before + 1 } else { *before - 1 };
        }
        self.bad_total = if bad {
            self.bad_total + 1
        } else {
            self.bad_total - 1
        };
    }

    /// Bad labels among the `n` most recent.
    fn bad_in_last(&self, n: usize) -> u64 {
        let len = self.bad_before.len();
        if n == 0 {
            return 0;
        }
        self.bad_total - self.bad_before[len - n.min(len)]
    }
}

/// A region `[threshold, 1]`: its counts, and the proportional sample its test bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Region {
    pub calls: u64,
    pub labels: u64,
    pub bad: u64,
    /// The proportional sample: its size and its bad labels.
    pub sample: u64,
    pub sample_bad: u64,
    /// Bad outcomes reported for auto-approved calls no one saw: not a sample, but known bad,
    /// so the region's bad rate is at least `reported_bad / calls` whatever the labels say.
    pub reported_bad: u64,
    /// The estimate of the region's bad rate, each label weighted by its cell's calls per
    /// label; `None` when a cell with calls has no label.
    pub estimate: Option<f64>,
}

#[derive(Debug, Clone)]
struct Entry {
    /// The caller's key for the call (the store's sequence number in the runtime), rising.
    key: u64,
    cell: usize,
    /// The index of its label in its cell's labels, while the label is in the window.
    label: Option<u64>,
    /// Auto-approved: seen by no one, so a report on it is not a label.
    auto: bool,
    reported_bad: bool,
}

/// What a label did to the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labelled {
    /// A new label, in this cell.
    New(usize),
    /// It replaced the call's earlier label.
    Replaced,
    /// A report on an auto-approved call: bad or not, it is not a label.
    Reported { bad: bool },
    /// No such call in the window.
    Ignored,
}

/// The window's counts per grid cell: cell 0 is `[ceiling, 1]`, cell `j` is
/// `[grid[j], grid[j - 1])`, and the last cell holds what is below the floor (labels that no
/// threshold within the limits would auto-approve, kept for the shift check).
///
/// A call may be labelled when it is counted (the simulation's people answer at once) or
/// later ([`Evidence::label`]: a person answers, or an outcome is reported, after other
/// calls came in). Labels are kept in the order they were given, and the window drops the
/// oldest given first; each step costs a constant, or the labels of one cell at most for a
/// label that replaces an earlier one.
#[derive(Debug, Clone)]
pub struct Evidence {
    grid: Vec<f64>,
    cells: Vec<Cell>,
    /// The calls in the window, by key.
    entries: VecDeque<Entry>,
    /// The keys of the labelled calls, in the order their labels were given.
    given: VecDeque<u64>,
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
            given: VecDeque::new(),
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
        self.grid.partition_point(|&point| point > confidence)
    }

    /// The index of the cell below the floor.
    pub fn below_floor(&self) -> usize {
        self.grid.len()
    }

    /// The key the next call counted by [`Evidence::add`] gets: one above the last.
    pub fn next_key(&self) -> u64 {
        self.entries.back().map_or(0, |e| e.key + 1)
    }

    /// Counts one call under the next key; see [`Evidence::add_keyed`].
    pub fn add(&mut self, observation: Observation) {
        self.add_keyed(self.next_key(), observation);
    }

    /// Counts one call under `key` (above every key counted before; a lower one is ignored,
    /// as a call already counted or dropped); then drops the oldest labels while the window
    /// holds too many.
    ///
    /// A reported outcome of an auto-approved call is not a label: reports are not a random
    /// sample (bad ones are far likelier to be reported), so counting them would bias the
    /// estimate. A reported bad outcome is kept apart instead, as a floor under the region's
    /// true bad count (see [`Region::reported_bad`]); a good one tells nothing.
    pub fn add_keyed(&mut self, key: u64, observation: Observation) {
        if self.entries.back().is_some_and(|e| e.key >= key) {
            return;
        }
        let cell = self.cell_of(observation.confidence);
        self.entries.push_back(Entry {
            key,
            cell,
            label: None,
            auto: observation.route == Route::Auto,
            reported_bad: false,
        });
        self.cells[cell].calls += 1;
        if let Some(label) = observation.label {
            self.label(key, label);
        }
    }

    /// Labels a call counted before, by its key: a label given later than the call was
    /// counted, or one that replaces an earlier label (a report after a resolution knows
    /// more). A call no longer in the window is left alone.
    pub fn label(&mut self, key: u64, label: Label) -> Labelled {
        let Ok(i) = self.entries.binary_search_by_key(&key, |e| e.key) else {
            return Labelled::Ignored;
        };
        let entry = &mut self.entries[i];
        let cell_index = entry.cell;
        let cell = &mut self.cells[cell_index];
        if entry.auto {
            let bad = label == Label::Bad;
            if bad != entry.reported_bad {
                entry.reported_bad = bad;
                if bad {
                    cell.reported_bad += 1;
                } else {
                    cell.reported_bad -= 1;
                }
            }
            return Labelled::Reported { bad };
        }
        if let Some(index) = entry.label {
            cell.relabel(index, label);
            return Labelled::Replaced;
        }
        entry.label = Some(cell.push(label));
        self.given.push_back(key);
        self.labels += 1;
        while self.labels > self.window {
            self.drop_oldest_label();
        }
        Labelled::New(cell_index)
    }

    /// Keeps only the `labels` labels given last, and the calls from the first of them on:
    /// what a detected shift leaves, since older labels describe an agent that is gone.
    pub fn keep_recent(&mut self, labels: u64) {
        while self.labels > labels {
            self.drop_oldest_label();
        }
        self.drop_unlabelled_front(u64::MAX);
    }

    /// Drops the label given first, and the calls in front of the window that no label
    /// still in it is for, up to that label's call.
    fn drop_oldest_label(&mut self) {
        let Some(key) = self.given.pop_front() else {
            return;
        };
        if let Ok(i) = self.entries.binary_search_by_key(&key, |e| e.key) {
            let entry = &mut self.entries[i];
            entry.label = None;
            // Labels are dropped in the order they were given, as the cell keeps them.
            self.cells[entry.cell].pop_front();
            self.labels -= 1;
        }
        self.drop_unlabelled_front(key);
    }

    fn drop_unlabelled_front(&mut self, up_to: u64) {
        while let Some(front) = self.entries.front() {
            if front.label.is_some() || front.key > up_to {
                break;
            }
            let cell = &mut self.cells[front.cell];
            cell.calls -= 1;
            if front.reported_bad {
                cell.reported_bad -= 1;
            }
            self.entries.pop_front();
        }
    }

    /// The region at or above `grid[j]`.
    pub fn region(&self, j: usize) -> Region {
        let cells = &self.cells[..=j];
        let calls: u64 = cells.iter().map(|c| c.calls).sum();
        let labels: u64 = cells.iter().map(Cell::labels).sum();
        let bad: u64 = cells.iter().map(Cell::bad).sum();
        // The fraction of its calls every cell can supply as labels.
        let fraction = cells
            .iter()
            .filter(|c| c.calls > 0)
            .map(|c| c.labels() as f64 / c.calls as f64)
            .fold(f64::INFINITY, f64::min);
        let (mut sample, mut sample_bad) = (0, 0);
        let mut weighted_bad = 0.0;
        let mut unlabelled = false;
        if fraction.is_finite() {
            for c in cells.iter().filter(|c| c.calls > 0) {
                let take = ((fraction * c.calls as f64) as u64).min(c.labels());
                sample += take;
                sample_bad += c.bad_in_last(take as usize);
                if c.labels() == 0 {
                    unlabelled = true;
                } else {
                    weighted_bad += c.bad() as f64 * c.calls as f64 / c.labels() as f64;
                }
            }
        }
        Region {
            calls,
            labels,
            bad,
            sample,
            sample_bad,
            reported_bad: cells.iter().map(|c| c.reported_bad).sum(),
            estimate: (calls > 0 && !unlabelled).then(|| (weighted_bad / calls as f64).min(1.0)),
        }
    }

    /// Every cell, the one below the floor last.
    pub fn cells(&self) -> &[Cell] {
        &self.cells
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
    fn labels_are_reweighted_by_cell_and_sampled_in_proportion() {
        let mut e = Evidence {
            window: 1_000,
            ..Evidence::new(&settings())
        };
        // Ten calls at 0.95, two audited (one bad); ten human labels at 0.85, two bad.
        for i in 0..10 {
            let (route, label) = match i {
                0 => (Route::Audit, Some(Label::Bad)),
                1 => (Route::Audit, Some(Label::Good)),
                _ => (Route::Auto, None),
            };
            e.add(obs(0.95, route, label));
        }
        for i in 0..10 {
            let label = if i < 2 { Label::Bad } else { Label::Good };
            e.add(obs(0.85, Route::Human, Some(label)));
        }
        let top = e.region(1);
        assert_eq!((top.calls, top.labels, top.bad), (10, 2, 1));
        assert_eq!(top.estimate, Some(0.5));
        let all = e.region(2);
        // Each audited label stands for five calls: (1 x 5 + 2) / 20.
        assert_eq!(all.estimate, Some(7.0 / 20.0));
        // Both cells give a fifth of their calls: 2 audited labels and the 2 latest human
        // ones (both good).
        assert_eq!((all.sample, all.sample_bad), (4, 1));
    }

    #[test]
    fn reports_on_unseen_calls_are_not_labels_and_bad_ones_are_kept_apart() {
        let mut e = Evidence::new(&settings());
        e.add(obs(0.95, Route::Auto, Some(Label::Good)));
        e.add(obs(0.95, Route::Auto, Some(Label::Bad)));
        assert_eq!(e.labels(), 0);
        let r = e.region(1);
        assert_eq!((r.calls, r.bad, r.reported_bad), (2, 0, 1));
    }

    #[test]
    fn a_cell_with_calls_and_no_label_leaves_nothing_to_sample() {
        let mut e = Evidence::new(&settings());
        e.add(obs(0.95, Route::Auto, None));
        e.add(obs(0.85, Route::Human, Some(Label::Good)));
        let r = e.region(2);
        assert_eq!((r.sample, r.estimate), (0, None));
    }

    #[test]
    fn the_window_keeps_the_latest_labels_and_forgets_the_rest() {
        let mut e = Evidence::new(&settings());
        for i in 0..10 {
            let label = if i < 5 { Label::Bad } else { Label::Good };
            e.add(obs(0.85, Route::Human, Some(label)));
        }
        assert_eq!(e.labels(), 4);
        assert_eq!(e.region(2).bad, 0, "the bad labels were the oldest");
        e.keep_recent(2);
        assert_eq!(e.labels(), 2);
    }
}
