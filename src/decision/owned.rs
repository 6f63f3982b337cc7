//! The owned form of a decision, for what must outlive the policy that decided it (a trace,
//! a record). Deciding never builds it: [`Decision::into_owned`] does, when asked.

use serde::ser::{Serialize, Serializer};

use super::{Decision, Stage, StageResult, Verdict};
use crate::ir::{Outcome, Principal};

/// What one stage decided, owning a copy of its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedStageResult {
    pub rule: Option<usize>,
    pub verdict: Verdict,
}

/// A [`Decision`] that owns its verdicts. Its methods and JSON form are the decision's.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedDecision {
    pub hitl: Option<OwnedStageResult>,
    pub escalation: Option<OwnedStageResult>,
}

impl OwnedDecision {
    /// Combines owned stages as [`Decision::combine`] does; `None` when neither is present.
    pub fn combine(
        hitl: Option<OwnedStageResult>,
        escalation: Option<OwnedStageResult>,
    ) -> Option<OwnedDecision> {
        (hitl.is_some() || escalation.is_some()).then_some(OwnedDecision { hitl, escalation })
    }

    /// The borrowed form, on which every question about the decision is answered.
    pub fn as_decision(&self) -> Decision<'_> {
        fn borrow(s: &OwnedStageResult) -> StageResult<'_> {
            StageResult::new(s.rule, &s.verdict)
        }
        Decision {
            hitl: self.hitl.as_ref().map(borrow),
            escalation: self.escalation.as_ref().map(borrow),
        }
    }

    /// See [`Decision::decided_by`].
    pub fn decided_by(&self) -> Stage {
        self.as_decision().decided_by()
    }

    /// See [`Decision::verdict`].
    pub fn verdict(&self) -> &Verdict {
        self.as_decision().verdict()
    }

    pub fn outcome(&self) -> Outcome {
        self.verdict().outcome
    }

    /// True exactly for `auto-approve` and `notify-and-proceed`.
    pub fn approved(&self) -> bool {
        self.outcome().is_approved()
    }

    pub fn approvers(&self) -> &[Principal] {
        &self.verdict().approvers
    }

    pub fn hitl_rule(&self) -> Option<usize> {
        self.hitl.as_ref().and_then(|s| s.rule)
    }

    pub fn escalation_rule(&self) -> Option<usize> {
        self.escalation.as_ref().and_then(|s| s.rule)
    }

    /// See [`Decision::reason`].
    pub fn reason(&self) -> String {
        self.as_decision().reason()
    }
}

impl From<Decision<'_>> for OwnedDecision {
    fn from(d: Decision<'_>) -> OwnedDecision {
        let own = |s: StageResult<'_>| OwnedStageResult {
            rule: s.rule(),
            verdict: s.verdict.clone(),
        };
        OwnedDecision {
            hitl: d.hitl.map(own),
            escalation: d.escalation.map(own),
        }
    }
}

impl PartialEq<Decision<'_>> for OwnedDecision {
    fn eq(&self, other: &Decision<'_>) -> bool {
        self.as_decision() == *other
    }
}

impl PartialEq<OwnedDecision> for Decision<'_> {
    fn eq(&self, other: &OwnedDecision) -> bool {
        *self == other.as_decision()
    }
}

impl Serialize for OwnedDecision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_decision().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_is_four_words() {
        // Two stages, each a verdict reference and a rule index packed beside it.
        assert_eq!(
            std::mem::size_of::<Decision<'_>>(),
            4 * std::mem::size_of::<usize>()
        );
    }
}
