//! The one budget that bounds the exactness analysis, whatever the policy: every piece of work
//! that costs time or memory is charged to it before it is done, so running out stops the
//! analysis after at most the budget's worth of work and memory.
//!
//! One unit is one glob state stepped or added, one rule looked at in a joint state, one
//! character of an example request written, or four bytes held. Each stored joint state is
//! charged its size plus [`STATE_OVERHEAD`] for the bookkeeping around it.

/// Units charged per stored joint state beyond its own size: its hash-table entry, its place
/// in the queue and the link back to the state it was reached from (about 64 bytes).
pub const STATE_OVERHEAD: usize = 16;

/// The analysis ran out of budget; what it would have said is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBudget;

/// A count of work done against a limit.
#[derive(Debug, Clone)]
pub struct Budget {
    limit: usize,
    used: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Budget { limit, used: 0 }
    }

    /// Records `units` of work about to be done, or refuses when it would exceed the limit
    /// (the refused units are not recorded, so `used` never exceeds `limit`).
    pub fn charge(&mut self, units: usize) -> Result<(), OutOfBudget> {
        match self.used.checked_add(units) {
            Some(total) if total <= self.limit => {
                self.used = total;
                Ok(())
            }
            _ => Err(OutOfBudget),
        }
    }

    /// The units charged so far.
    pub fn used(&self) -> usize {
        self.used
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_charge_leaves_the_count_within_the_limit() {
        let mut b = Budget::new(10);
        assert!(b.charge(7).is_ok());
        assert_eq!(b.charge(4), Err(OutOfBudget));
        assert_eq!(b.used(), 7);
        assert!(b.charge(3).is_ok());
        assert_eq!(b.charge(usize::MAX), Err(OutOfBudget));
        assert_eq!(b.used(), 10);
    }
}
