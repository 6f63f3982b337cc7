//! What one rule (or a stage's default) decides, precomputed once per policy: group-expanded,
//! sorted approvers and every gate parameter, ready to hand out by reference.

use serde::Serialize;

use crate::check::GroupTable;
use crate::ir::{
    ChainStep, Defaults, Duration, EscalationRule, Gate, HitlRule, OnTimeout, Outcome, Principal,
    Priority,
};

/// The decision of one stage, before the stages are combined.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub outcome: Outcome,
    /// Who may resolve it: empty unless the outcome waits for a human. For a chain, the union
    /// of all steps' approvers.
    pub approvers: Vec<Principal>,
    /// How many distinct approvers must agree; absent for chains (see each step) and for
    /// outcomes that ask no one.
    pub min_approvals: Option<u32>,
    pub chain: Vec<StepVerdict>,
    pub notify_via: Vec<String>,
    /// Milliseconds.
    pub timeout: Option<Duration>,
    pub on_timeout: Option<OnTimeout>,
    pub escalate_to: Vec<Principal>,
    pub remind_every: Option<Duration>,
    pub priority: Option<Priority>,
    /// The id of the rule it came from, if the rule has one.
    #[serde(skip)]
    pub rule_id: Option<String>,
}

/// One step of an approval chain, as the runtime will run it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepVerdict {
    pub step: String,
    pub approvers: Vec<Principal>,
    pub min_approvals: u32,
    pub timeout: Option<Duration>,
    pub on_timeout: OnTimeout,
    pub escalate_to: Vec<Principal>,
    pub remind_every: Option<Duration>,
    pub notify_via: Vec<String>,
}

impl Verdict {
    /// A verdict that asks no one.
    fn plain(outcome: Outcome) -> Verdict {
        Verdict {
            outcome,
            approvers: Vec::new(),
            min_approvals: None,
            chain: Vec::new(),
            notify_via: Vec::new(),
            timeout: None,
            on_timeout: None,
            escalate_to: Vec::new(),
            remind_every: None,
            priority: None,
            rule_id: None,
        }
    }

    /// A verdict whose outcome waits on the gate's approvers.
    fn gated(outcome: Outcome, gate: &Gate, groups: &GroupTable) -> Verdict {
        Verdict {
            approvers: expand(gate.approvers.as_ref(), groups),
            min_approvals: Some(min_approvals(gate)),
            timeout: gate.timeout.map(|t| t.node),
            on_timeout: Some(gate.on_timeout.map_or(OnTimeout::Reject, |o| o.node)),
            escalate_to: expand(gate.escalate_to.as_ref(), groups),
            remind_every: gate.remind_every.map(|t| t.node),
            ..Verdict::plain(outcome)
        }
    }

    pub fn for_hitl(rule: &HitlRule, groups: &GroupTable) -> Verdict {
        let mut verdict = if let Some(chain) = &rule.chain {
            let steps: Vec<StepVerdict> = chain
                .node
                .iter()
                .map(|s| StepVerdict::new(s, groups))
                .collect();
            let mut union: Vec<Principal> = steps
                .iter()
                .flat_map(|s| s.approvers.iter().cloned())
                .collect();
            union.sort();
            union.dedup();
            Verdict {
                approvers: union,
                chain: steps,
                ..Verdict::plain(Outcome::RequestApproval)
            }
        } else if rule.require_approval.is_some_and(|f| f.node) {
            Verdict::gated(Outcome::RequestApproval, &rule.gate, groups)
        } else {
            Verdict::plain(Outcome::AutoApprove)
        };
        verdict.notify_via = channels(&rule.gate);
        verdict.priority = rule.priority.map(|p| p.node);
        verdict.rule_id = rule.id.as_ref().map(|id| id.node.clone());
        verdict
    }

    pub fn for_escalation(rule: &EscalationRule, groups: &GroupTable) -> Verdict {
        let outcome = rule.outcome.node;
        let mut verdict = if outcome.needs_approvers() {
            Verdict::gated(outcome, &rule.gate, groups)
        } else {
            Verdict::plain(outcome)
        };
        verdict.notify_via = channels(&rule.gate);
        verdict.priority = rule.priority.map(|p| p.node);
        verdict.rule_id = rule.id.as_ref().map(|id| id.node.clone());
        verdict
    }

    /// What a stage decides when none of its rules match. An outcome that would wait for a
    /// human with no one to ask becomes `deny`: the policy fails closed.
    pub fn for_no_match(defaults: Option<&Defaults>, groups: &GroupTable) -> Verdict {
        let outcome = defaults
            .and_then(|d| d.no_match)
            .map_or(Outcome::RequestApproval, |o| o.node);
        let approvers = expand(defaults.and_then(|d| d.approvers.as_ref()), groups);
        if !outcome.needs_approvers() {
            return Verdict::plain(outcome);
        }
        if approvers.is_empty() {
            return Verdict::plain(Outcome::Deny);
        }
        Verdict {
            approvers,
            min_approvals: Some(1),
            on_timeout: Some(OnTimeout::Reject),
            ..Verdict::plain(outcome)
        }
    }
}

impl StepVerdict {
    fn new(step: &ChainStep, groups: &GroupTable) -> StepVerdict {
        let gate = &step.gate;
        StepVerdict {
            step: step.name.node.clone(),
            approvers: expand(gate.approvers.as_ref(), groups),
            min_approvals: min_approvals(gate),
            timeout: gate.timeout.map(|t| t.node),
            on_timeout: gate.on_timeout.map_or(OnTimeout::Reject, |o| o.node),
            escalate_to: expand(gate.escalate_to.as_ref(), groups),
            remind_every: gate.remind_every.map(|t| t.node),
            notify_via: channels(gate),
        }
    }
}

fn min_approvals(gate: &Gate) -> u32 {
    gate.min_approvals
        .map_or(1, |m| u32::try_from(m.node).unwrap_or(u32::MAX))
}

fn channels(gate: &Gate) -> Vec<String> {
    gate.notify_via
        .as_ref()
        .map(|l| l.node.iter().map(|c| c.node.clone()).collect())
        .unwrap_or_default()
}

fn expand(
    list: Option<&crate::source::Spanned<Vec<crate::source::Spanned<crate::ir::Approver>>>>,
    groups: &GroupTable,
) -> Vec<Principal> {
    list.map(|l| groups.expand(&l.node)).unwrap_or_default()
}
