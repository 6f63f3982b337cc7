//! Learning from how humans resolve escalations: an adaptive rule's auto-approve threshold
//! moves only where, with probability at least `1 - delta`, the bad rate among what it
//! auto-approves is at most `alpha`.
//!
//! - [`binomial`]: exact (Clopper–Pearson) bounds on a binomial rate,
//! - [`settings`]: what a policy declares for a rule that adapts,
//! - [`evidence`]: the labelled calls of one match class in a sliding window, by route,
//! - [`batch`]: the calls since the routing last changed or the grid was last tested, whose
//!   labels a checkpoint's test uses,
//! - [`learner`]: the fixed-sequence test over the grid of thresholds, and the rises.
//!
//! Pure computation: no clock, no store, no randomness of its own (the caller draws the audit
//! sample), so the runtime and the simulation run the same code.

pub mod batch;
pub mod binomial;
pub mod evidence;
pub mod learner;
pub mod random;
pub mod settings;

pub use batch::Batch;
pub use evidence::{Evidence, Label, Labelled, Observation, Region, Route};
pub use learner::{Assessment, Learner, Move, PointTest, Sample};
pub use settings::{Mode, SettingError, Settings};
