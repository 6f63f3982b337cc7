//! The calls of one match class made since the routing last changed or the grid was last
//! tested: the labels a checkpoint's test may use.
//!
//! The routing (the threshold in effect and the audit rate) of every call of a batch was
//! fixed before the batch began, so it depends on the labels before the batch and never on
//! those in it. Conditionally on everything before the batch and on the batch's confidences
//! and draws, whether a call of a cell got a label does not depend on its outcome, and the
//! outcomes are independent: each cell's labels are an independent fair sample of the
//! cell's calls of the batch. The window's labels do not have that property: a cell whose
//! first labels were lucky goes above the threshold sooner and afterwards gets only the
//! audit's labels, so the window keeps its lucky start almost undiluted.

use std::collections::HashMap;

use super::evidence::{Label, Region};

#[derive(Debug, Clone, Default)]
struct BatchCell {
    calls: u64,
    /// Whether each label of the batch's calls in this cell was bad, in the order given.
    bad: Vec<bool>,
}

/// The batch: per cell of the grid, its calls and their labels.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The first key of the batch's calls.
    from: u64,
    /// The key from which calls are no longer the batch's: set once it holds `capacity`
    /// labels, so that its memory stays within the window's.
    until: Option<u64>,
    capacity: u64,
    cells: Vec<BatchCell>,
    /// Where each labelled call's label is: its cell and its index there.
    labelled: HashMap<u64, (usize, usize)>,
    /// The cell of each call of the batch a person may still label (not auto-approved).
    unlabelled: HashMap<u64, usize>,
    /// The key after the batch's last call.
    next: u64,
    labels: u64,
}

impl Batch {
    /// An empty batch over `cells` cells whose calls start at key `from`.
    pub fn new(cells: usize, from: u64, capacity: u64) -> Batch {
        Batch {
            from,
            until: None,
            capacity: capacity.max(1),
            cells: vec![BatchCell::default(); cells],
            labelled: HashMap::new(),
            unlabelled: HashMap::new(),
            next: from,
            labels: 0,
        }
    }

    /// A new batch starting at key `from`: the one before it is done.
    pub fn restart(&mut self, from: u64) {
        *self = Batch::new(self.cells.len(), from, self.capacity);
    }

    /// The first key of the batch.
    pub fn from(&self) -> u64 {
        self.from
    }

    /// The key after the batch's last call (its first key while it has none).
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Labels in the batch.
    pub fn labels(&self) -> u64 {
        self.labels
    }

    /// Labels in one cell.
    pub fn cell_labels(&self, cell: usize) -> u64 {
        self.cells.get(cell).map_or(0, |c| c.bad.len() as u64)
    }

    /// Bad labels in one cell.
    pub fn cell_bad(&self, cell: usize) -> u64 {
        self.cells
            .get(cell)
            .map_or(0, |c| c.bad.iter().filter(|&&b| b).count() as u64)
    }

    /// How many labels the proportional sample of the region at or above `grid[j]` takes
    /// from each cell `0..=j`: what [`Batch::region`] samples, known before any outcome.
    pub fn takes(&self, j: usize) -> Vec<u64> {
        let cells = &self.cells[..=j.min(self.cells.len() - 1)];
        let fraction = cells
            .iter()
            .filter(|c| c.calls > 0)
            .map(|c| c.bad.len() as f64 / c.calls as f64)
            .fold(f64::INFINITY, f64::min);
        cells
            .iter()
            .map(|c| {
                if fraction.is_finite() && c.calls > 0 {
                    ((fraction * c.calls as f64) as u64).min(c.bad.len() as u64)
                } else {
                    0
                }
            })
            .collect()
    }

    fn holds(&self, key: u64) -> bool {
        key >= self.from && self.until.is_none_or(|until| key < until)
    }

    /// Counts a call of the batch, under a key above every key counted before (a key before
    /// the batch, or once it is full, is not the batch's). An auto-approved call is counted
    /// and never labelled: a report on it is not a label.
    pub fn add_call(&mut self, key: u64, cell: usize, auto: bool) {
        if !self.holds(key) || key < self.next {
            return;
        }
        self.next = key + 1;
        self.cells[cell].calls += 1;
        if !auto {
            self.unlabelled.insert(key, cell);
        }
    }

    /// Gives a call of the batch its label, or replaces the label it had.
    pub fn label(&mut self, key: u64, label: Label) {
        let bad = label == Label::Bad;
        if let Some(&(cell, index)) = self.labelled.get(&key) {
            self.cells[cell].bad[index] = bad;
            return;
        }
        let Some(cell) = self.unlabelled.remove(&key) else {
            return;
        };
        let index = self.cells[cell].bad.len();
        self.cells[cell].bad.push(bad);
        self.labelled.insert(key, (cell, index));
        self.labels += 1;
        if self.labels >= self.capacity && self.until.is_none() {
            self.until = Some(self.next);
        }
    }

    /// The region at or above `grid[j]` (cells `0..=j`) in the batch: the proportional
    /// sample takes from every cell with calls the same fraction of its calls as labels
    /// (the fraction of the cell that has the fewest), the latest given. Reported bad
    /// outcomes are the caller's to add (they are known from the whole window).
    pub fn region(&self, j: usize) -> Region {
        let cells = &self.cells[..=j.min(self.cells.len() - 1)];
        let takes = self.takes(j);
        let mut region = Region::default();
        let mut weighted_bad = 0.0;
        let mut unlabelled = false;
        for (c, &take) in cells.iter().zip(&takes) {
            let bad = c.bad.iter().filter(|&&b| b).count() as u64;
            region.calls += c.calls;
            region.labels += c.bad.len() as u64;
            region.bad += bad;
            if c.calls == 0 {
                continue;
            }
            if c.bad.is_empty() {
                unlabelled = true;
            } else {
                weighted_bad += bad as f64 * c.calls as f64 / c.bad.len() as f64;
            }
            let take = take as usize;
            region.sample += take as u64;
            region.sample_bad += c.bad[c.bad.len() - take..].iter().filter(|&&b| b).count() as u64;
        }
        region.estimate = (region.calls > 0 && !unlabelled)
            .then(|| (weighted_bad / region.calls as f64).min(1.0));
        region
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_calls_from_its_start_are_the_batch() {
        let mut b = Batch::new(3, 10, 100);
        b.add_call(9, 0, false);
        b.add_call(10, 0, false);
        b.add_call(11, 1, false);
        b.add_call(12, 1, true);
        b.label(9, Label::Bad);
        b.label(10, Label::Good);
        b.label(11, Label::Bad);
        let r = b.region(1);
        assert_eq!((r.calls, r.labels, r.bad), (3, 2, 1));
        // A report on an auto-approved call is not a label.
        b.label(12, Label::Bad);
        assert_eq!(b.region(1).labels, 2);
        // A replaced label is replaced, not counted twice.
        b.label(11, Label::Good);
        assert_eq!((b.region(1).labels, b.region(1).bad), (2, 0));
        b.restart(13);
        assert_eq!(b.region(2), Region::default());
        assert_eq!(b.from(), 13);
    }

    #[test]
    fn the_sample_takes_the_same_fraction_of_every_cell() {
        let mut b = Batch::new(2, 0, 1_000);
        // Cell 0: 20 calls, 2 labelled (one bad). Cell 1: 10 calls, all labelled, the
        // latest one bad.
        for key in 0..20 {
            b.add_call(key, 0, false);
        }
        b.label(0, Label::Bad);
        b.label(1, Label::Good);
        for key in 20..30 {
            b.add_call(key, 1, false);
            b.label(key, if key == 29 { Label::Bad } else { Label::Good });
        }
        let r = b.region(1);
        // A tenth of each: 2 of cell 0, the latest 1 of cell 1.
        assert_eq!((r.sample, r.sample_bad), (3, 2));
        // Each label of cell 0 stands for ten calls: (1 x 10 + 1) / 30.
        assert_eq!(r.estimate, Some(11.0 / 30.0));
    }

    #[test]
    fn a_full_batch_takes_no_more_calls() {
        let mut b = Batch::new(1, 0, 2);
        b.add_call(0, 0, false);
        b.add_call(1, 0, false);
        b.add_call(2, 0, false);
        b.label(0, Label::Good);
        b.label(1, Label::Good);
        b.add_call(3, 0, false);
        b.label(3, Label::Bad);
        // Call 2 was the batch's before it was full, and may still get its label.
        b.label(2, Label::Bad);
        let r = b.region(0);
        assert_eq!((r.calls, r.labels, r.bad), (3, 3, 1));
    }
}
