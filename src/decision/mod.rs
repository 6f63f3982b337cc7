//! Decisions: what each stage decided, how they combine, and how a decision is reported
//! (spec sections 4 and 5).

mod owned;
mod verdict;

use std::fmt::Write as _;

use serde::ser::{Serialize, SerializeMap, Serializer};

pub use owned::{OwnedDecision, OwnedStageResult};
pub use verdict::{StepVerdict, Verdict};

use crate::ir::{Outcome, Principal};

/// Which stage of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Hitl,
    Escalation,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Hitl => "hitl",
            Stage::Escalation => "escalation",
        }
    }
}

/// What one stage decided: the rule that matched (or none for the stage's default) and its
/// verdict, borrowed from the policy's precomputed ones. Two words, so that building and
/// returning a decision costs nothing next to finding its rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageResult<'a> {
    pub verdict: &'a Verdict,
    /// The rule's index, or [`StageResult::DEFAULT`].
    rule: u32,
}

impl<'a> StageResult<'a> {
    /// The `rule` of a stage's default: no rule matched.
    const DEFAULT: u32 = u32::MAX;

    /// Rule `rule` (`None` for the stage's default) decided `verdict`. A policy holds fewer
    /// than `u32::MAX` rules a stage (the front ends refuse more long before).
    #[inline]
    pub fn new(rule: Option<usize>, verdict: &'a Verdict) -> StageResult<'a> {
        let rule = rule.map_or(StageResult::DEFAULT, |r| {
            u32::try_from(r)
                .ok()
                .filter(|&r| r != StageResult::DEFAULT)
                .unwrap_or_else(|| unreachable!("rule index {r} past what a policy can hold"))
        });
        StageResult { verdict, rule }
    }

    /// The rule that matched, or `None` when the stage's default applied.
    #[inline]
    pub fn rule(&self) -> Option<usize> {
        (self.rule != StageResult::DEFAULT).then_some(self.rule as usize)
    }
}

/// The answer to "may I do this now?": a few words (each stage's rule and a reference to its
/// verdict); [`Decision::into_owned`] makes the form to keep beyond the policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision<'a> {
    /// `None` when the policy has no HITL section.
    pub hitl: Option<StageResult<'a>>,
    /// `None` when the policy has no escalation section.
    pub escalation: Option<StageResult<'a>>,
}

impl<'a> Decision<'a> {
    /// Combines the stages: the stricter outcome stands, and on a tie the HITL stage's.
    /// Returns `None` only when neither stage is present, which validation rules out.
    pub fn combine(
        hitl: Option<StageResult<'a>>,
        escalation: Option<StageResult<'a>>,
    ) -> Option<Decision<'a>> {
        (hitl.is_some() || escalation.is_some()).then_some(Decision { hitl, escalation })
    }

    /// The stage whose verdict stands.
    pub fn decided_by(&self) -> Stage {
        match (&self.hitl, &self.escalation) {
            (Some(h), Some(e)) if e.verdict.outcome > h.verdict.outcome => Stage::Escalation,
            (Some(_), _) => Stage::Hitl,
            (None, _) => Stage::Escalation,
        }
    }

    fn deciding(&self) -> &StageResult<'a> {
        let stage = match self.decided_by() {
            Stage::Hitl => &self.hitl,
            Stage::Escalation => &self.escalation,
        };
        stage
            .as_ref()
            .or(self.hitl.as_ref())
            .or(self.escalation.as_ref())
            .unwrap_or_else(|| unreachable!("a decision has at least one stage"))
    }

    /// The verdict that stands: its outcome, approvers and gate are the decision's.
    pub fn verdict(&self) -> &'a Verdict {
        self.deciding().verdict
    }

    pub fn outcome(&self) -> Outcome {
        self.verdict().outcome
    }

    /// True exactly for `auto-approve` and `notify-and-proceed`.
    pub fn approved(&self) -> bool {
        self.outcome().is_approved()
    }

    pub fn approvers(&self) -> &'a [Principal] {
        &self.verdict().approvers
    }

    pub fn hitl_rule(&self) -> Option<usize> {
        self.hitl.as_ref().and_then(StageResult::rule)
    }

    pub fn escalation_rule(&self) -> Option<usize> {
        self.escalation.as_ref().and_then(StageResult::rule)
    }

    /// A decision that owns copies of its verdicts, to keep beyond the policy's lifetime.
    pub fn into_owned(self) -> OwnedDecision {
        OwnedDecision::from(self)
    }

    /// One line saying why, for people and logs.
    pub fn reason(&self) -> String {
        let mut out = String::new();
        let describe = |out: &mut String, stage: Stage, result: &StageResult<'_>| {
            let v = &result.verdict;
            match (result.rule(), &v.rule_id) {
                (Some(i), Some(id)) => {
                    let _ = write!(out, "{} rule {i} ({id}) says {}", stage.as_str(), v.outcome);
                }
                (Some(i), None) => {
                    let _ = write!(out, "{} rule {i} says {}", stage.as_str(), v.outcome);
                }
                (None, _) => {
                    let _ = write!(
                        out,
                        "no {} rule matched, so the default says {}",
                        stage.as_str(),
                        v.outcome
                    );
                }
            }
            if !v.approvers.is_empty() {
                let names: Vec<&str> = v.approvers.iter().map(Principal::as_str).collect();
                let _ = write!(out, " by {}", names.join(", "));
            }
        };
        let decided = self.decided_by();
        let (first, second) = match decided {
            Stage::Hitl => (
                self.hitl.as_ref().map(|s| (Stage::Hitl, s)),
                self.escalation.as_ref().map(|s| (Stage::Escalation, s)),
            ),
            Stage::Escalation => (
                self.escalation.as_ref().map(|s| (Stage::Escalation, s)),
                self.hitl.as_ref().map(|s| (Stage::Hitl, s)),
            ),
        };
        if let Some((stage, result)) = first {
            describe(&mut out, stage, result);
        }
        if let Some((stage, result)) = second {
            // The deciding stage is never looser; equal outcomes mean the HITL stage won a tie.
            out.push_str(if result.verdict.outcome == self.outcome() {
                "; it stands on a tie with: "
            } else {
                "; it is stricter than: "
            });
            describe(&mut out, stage, result);
        }
        out
    }
}

/// The JSON form (spec section 5 plus the gate): `outcome`, `approved`, `approvers`,
/// `hitlRule`, `escalationRule`, then `minApprovals`, `chain`, `notifyVia`, `timeout` (ms),
/// `onTimeout`, `escalateTo`, `remindEvery`, `priority`, the rule ids and stage outcomes, and a
/// one-line `reason`.
impl Serialize for Decision<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.verdict();
        let stage_outcome = |r: &Option<StageResult<'_>>| r.as_ref().map(|r| r.verdict.outcome);
        let stage_id = |r: &Option<StageResult<'_>>| {
            r.as_ref()
                .and_then(|r| r.verdict.rule_id.clone())
                .filter(|_| r.as_ref().is_some_and(|r| r.rule().is_some()))
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("outcome", &v.outcome)?;
        m.serialize_entry("approved", &self.approved())?;
        m.serialize_entry("approvers", &v.approvers)?;
        m.serialize_entry("hitlRule", &self.hitl_rule())?;
        m.serialize_entry("escalationRule", &self.escalation_rule())?;
        m.serialize_entry("minApprovals", &v.min_approvals)?;
        m.serialize_entry("chain", &v.chain)?;
        m.serialize_entry("notifyVia", &v.notify_via)?;
        m.serialize_entry("timeout", &v.timeout)?;
        m.serialize_entry("onTimeout", &v.on_timeout)?;
        m.serialize_entry("escalateTo", &v.escalate_to)?;
        m.serialize_entry("remindEvery", &v.remind_every)?;
        m.serialize_entry("priority", &v.priority)?;
        m.serialize_entry("decidedBy", self.decided_by().as_str())?;
        m.serialize_entry("hitlOutcome", &stage_outcome(&self.hitl))?;
        m.serialize_entry("escalationOutcome", &stage_outcome(&self.escalation))?;
        m.serialize_entry("hitlRuleId", &stage_id(&self.hitl))?;
        m.serialize_entry("escalationRuleId", &stage_id(&self.escalation))?;
        m.serialize_entry("reason", &self.reason())?;
        m.end()
    }
}
