//! An approval request as stored, and the rules that resolve it (spec section 8): quorum of
//! distinct listed approvers, one listed rejection rejects, separation of duties, late votes
//! refused, timeouts that never approve. Pure functions of the record and the time, so the
//! store can commit their result under a version check: whichever vote commits the quorum
//! first resolves the request, and every other writer sees the resolved record on retry.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::binding::Binding;
use super::error::VoteError;
use super::ids::{ApprovalId, ExecutionId, GrantId};
use super::time::Timestamp;
use crate::decision::StepVerdict;
use crate::ir::{Duration, OnTimeout, Principal, Priority};

/// Where a request is. Everything but `pending` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    /// The deadline passed without a decision. Never an approval.
    TimedOut,
    Cancelled,
}

impl ApprovalStatus {
    pub const ALL: [ApprovalStatus; 5] = [
        ApprovalStatus::Pending,
        ApprovalStatus::Approved,
        ApprovalStatus::Rejected,
        ApprovalStatus::TimedOut,
        ApprovalStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::TimedOut => "timed_out",
            ApprovalStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApprovalStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ApprovalStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!("`{s}` is not an approval status; use pending, approved, rejected, timed_out or cancelled")
            })
    }
}

/// Where one step of a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// A later step of a chain, not open yet: its approvers have not been told.
    Waiting,
    Pending,
    Approved,
    Rejected,
    TimedOut,
    Cancelled,
    /// A later step that never opened because an earlier one ended the request.
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Waiting => "waiting",
            StepStatus::Pending => "pending",
            StepStatus::Approved => "approved",
            StepStatus::Rejected => "rejected",
            StepStatus::TimedOut => "timed_out",
            StepStatus::Cancelled => "cancelled",
            StepStatus::Skipped => "skipped",
        }
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one step is to be approved: a single gate is a request with one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepSpec {
    pub step: String,
    pub approvers: Vec<Principal>,
    pub min_approvals: u32,
    pub timeout: Option<Duration>,
    pub on_timeout: OnTimeout,
    pub escalate_to: Vec<Principal>,
    pub remind_every: Option<Duration>,
}

impl StepSpec {
    /// A step approved by any one of `approvers`, with no timeout.
    pub fn new(step: impl Into<String>, approvers: Vec<Principal>) -> StepSpec {
        StepSpec {
            step: step.into(),
            approvers,
            min_approvals: 1,
            timeout: None,
            on_timeout: OnTimeout::Reject,
            escalate_to: Vec::new(),
            remind_every: None,
        }
    }

    pub fn min_approvals(mut self, n: u32) -> StepSpec {
        self.min_approvals = n;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> StepSpec {
        self.timeout = Some(timeout);
        self
    }

    /// On timeout, re-route once to `to`, then reject.
    pub fn escalate_to(mut self, to: Vec<Principal>) -> StepSpec {
        self.on_timeout = OnTimeout::Escalate;
        self.escalate_to = to;
        self
    }

    pub fn remind_every(mut self, every: Duration) -> StepSpec {
        self.remind_every = Some(every);
        self
    }
}

impl From<&StepVerdict> for StepSpec {
    fn from(v: &StepVerdict) -> StepSpec {
        StepSpec {
            step: v.step.clone(),
            approvers: v.approvers.clone(),
            min_approvals: v.min_approvals,
            timeout: v.timeout,
            on_timeout: v.on_timeout,
            escalate_to: v.escalate_to.clone(),
            remind_every: v.remind_every,
        }
    }
}

/// Approve or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    Approve,
    Reject,
}

/// A counted vote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vote {
    pub principal: Principal,
    pub choice: Choice,
    /// The approver's comment, or the rejection's reason.
    pub note: Option<String>,
    pub at: Timestamp,
}

/// One step of a request as it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub spec: StepSpec,
    pub status: StepStatus,
    pub votes: Vec<Vote>,
    pub opened_at: Option<Timestamp>,
    pub deadline: Option<Timestamp>,
    /// The step was re-routed to `escalateTo` after its first timeout.
    pub escalated: bool,
    pub next_reminder: Option<Timestamp>,
}

impl Step {
    fn new(spec: StepSpec) -> Step {
        Step {
            spec,
            status: StepStatus::Waiting,
            votes: Vec::new(),
            opened_at: None,
            deadline: None,
            escalated: false,
            next_reminder: None,
        }
    }

    fn open(&mut self, now: Timestamp) {
        self.status = StepStatus::Pending;
        self.opened_at = Some(now);
        self.deadline = self.spec.timeout.map(|t| now.after(t));
        self.next_reminder = self.spec.remind_every.map(|r| now.after(r));
    }

    /// Who may vote now: the listed approvers, and after an escalation `escalateTo` too (the
    /// first group may still answer; escalation widens the circle, it does not silence them).
    pub fn eligible(&self) -> Vec<Principal> {
        let mut all = self.spec.approvers.clone();
        if self.escalated {
            all.extend(self.spec.escalate_to.iter().cloned());
        }
        all.sort();
        all.dedup();
        all
    }

    /// Whether the principal is named by this step at all (approvers or `escalateTo`).
    fn listed(&self, p: &Principal) -> bool {
        self.spec.approvers.contains(p) || self.spec.escalate_to.contains(p)
    }

    pub fn approved_by(&self) -> Vec<Principal> {
        self.votes
            .iter()
            .filter(|v| v.choice == Choice::Approve)
            .map(|v| v.principal.clone())
            .collect()
    }

    fn has_voted(&self, p: &Principal) -> bool {
        self.votes.iter().any(|v| &v.principal == p)
    }
}

/// An approval request, single gate or chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    pub id: ApprovalId,
    pub execution_id: ExecutionId,
    /// The agent that asked; it never votes on its own request.
    pub requested_by: Principal,
    pub title: String,
    pub description: String,
    pub notify_via: Vec<String>,
    pub priority: Option<Priority>,
    /// Whether it was asked as a chain (even of one step), for reporting `chainStatus`.
    pub chain: bool,
    pub steps: Vec<Step>,
    /// The step open now (or the last one, once resolved).
    pub current: usize,
    pub status: ApprovalStatus,
    pub reason: Option<String>,
    /// The call it was asked for, when it came from `check_escalation`.
    pub binding: Option<Binding>,
    /// The grant issued when it was approved (bound requests only).
    pub grant: Option<GrantId>,
    pub created_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
}

/// What a counted vote did.
#[derive(Debug, Clone, PartialEq)]
pub enum VoteEffect {
    /// A second vote by the same principal in the same step: ignored (spec section 8).
    Ignored,
    /// Counted; the step still waits for more.
    Counted,
    /// The step reached its quorum and the next step (this index) opened.
    NextStep(usize),
    /// The request is resolved.
    Resolved(ApprovalStatus),
}

/// What passing time did to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum DueEffect {
    /// Remind these approvers, who have not voted.
    Reminder(Vec<Principal>),
    /// The step timed out and was re-routed to these principals with a new deadline.
    Escalated(Vec<Principal>),
    /// The request timed out: not approved.
    TimedOut,
}

impl ApprovalRequest {
    /// A new pending request with its first step open.
    pub fn new(
        execution_id: ExecutionId,
        requested_by: Principal,
        title: String,
        description: String,
        steps: Vec<StepSpec>,
        chain: bool,
        now: Timestamp,
    ) -> ApprovalRequest {
        let mut steps: Vec<Step> = steps.into_iter().map(Step::new).collect();
        if let Some(first) = steps.first_mut() {
            first.open(now);
        }
        ApprovalRequest {
            id: ApprovalId::generate(),
            execution_id,
            requested_by,
            title,
            description,
            notify_via: Vec::new(),
            priority: None,
            chain,
            steps,
            current: 0,
            status: ApprovalStatus::Pending,
            reason: None,
            binding: None,
            grant: None,
            created_at: now,
            resolved_at: None,
        }
    }

    pub fn current_step(&self) -> Option<&Step> {
        self.steps.get(self.current)
    }

    /// The earliest time something is due: the open step's deadline or its next reminder.
    /// The store indexes it, so that due requests are found by a query, not by a timer held
    /// in memory.
    pub fn next_due(&self) -> Option<Timestamp> {
        if self.status != ApprovalStatus::Pending {
            return None;
        }
        let step = self.current_step()?;
        match (step.deadline, step.next_reminder) {
            (Some(d), Some(r)) => Some(d.min(r)),
            (d, r) => d.or(r),
        }
    }

    /// Every principal who approved, across the steps, in voting order.
    pub fn approved_by(&self) -> Vec<Principal> {
        self.steps.iter().flat_map(Step::approved_by).collect()
    }

    /// Whether `principal` may cast a counted vote now (pending, listed for the open step,
    /// not the requester, no vote in this or an earlier step). The deadline is not looked
    /// at: the time is the voter's to check.
    pub fn may_vote(&self, principal: &Principal) -> bool {
        let Some(step) = self.current_step() else {
            return false;
        };
        self.status == ApprovalStatus::Pending
            && principal != &self.requested_by
            && step.eligible().contains(principal)
            && !self.steps[..=self.current]
                .iter()
                .any(|s| s.has_voted(principal))
    }

    /// Counts a vote, or refuses it. On success the record holds the vote and whatever it
    /// resolved; on refusal it is unchanged.
    pub fn vote(
        &mut self,
        principal: &Principal,
        choice: Choice,
        note: Option<String>,
        now: Timestamp,
    ) -> Result<VoteEffect, VoteError> {
        // Who may vote at all comes first, whatever the state: a principal nobody listed is
        // told it is not an approver, not what became of the request.
        if principal == &self.requested_by {
            return Err(VoteError::SelfApproval {
                request: self.id.clone(),
                principal: principal.clone(),
            });
        }
        if !self.steps.iter().any(|s| s.listed(principal)) {
            let step = self.current_step();
            return Err(VoteError::NotAnApprover {
                request: self.id.clone(),
                step: step.map(|s| s.spec.step.clone()).unwrap_or_default(),
                principal: principal.clone(),
                approvers: step.map(Step::eligible).unwrap_or_default(),
            });
        }
        if self.status != ApprovalStatus::Pending {
            return Err(VoteError::AlreadyResolved {
                request: self.id.clone(),
                status: self.status,
            });
        }
        let current = self.current;
        let Some(step) = self.steps.get(current) else {
            // A pending request always has an open step; a record without one cannot be
            // voted on, and saying so is safer than guessing.
            return Err(VoteError::AlreadyResolved {
                request: self.id.clone(),
                status: self.status,
            });
        };
        if let Some(deadline) = step.deadline
            && now >= deadline
        {
            return Err(VoteError::DeadlinePassed {
                request: self.id.clone(),
                step: step.spec.step.clone(),
                deadline,
            });
        }
        if let Some(earlier) = self.steps[..current]
            .iter()
            .find(|s| s.has_voted(principal))
        {
            return Err(VoteError::CrossStepVote {
                request: self.id.clone(),
                principal: principal.clone(),
                earlier_step: earlier.spec.step.clone(),
                step: step.spec.step.clone(),
            });
        }
        let eligible = step.eligible();
        if !eligible.contains(principal) {
            return Err(VoteError::NotAnApprover {
                request: self.id.clone(),
                step: step.spec.step.clone(),
                principal: principal.clone(),
                approvers: eligible,
            });
        }
        if step.has_voted(principal) {
            return Ok(VoteEffect::Ignored);
        }

        let step = &mut self.steps[current];
        step.votes.push(Vote {
            principal: principal.clone(),
            choice,
            note: note.clone(),
            at: now,
        });
        match choice {
            Choice::Reject => {
                step.status = StepStatus::Rejected;
                let reason = note.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| {
                    format!("rejected by {principal} at step `{}`", step.spec.step)
                });
                self.finish(ApprovalStatus::Rejected, reason, now);
                Ok(VoteEffect::Resolved(ApprovalStatus::Rejected))
            }
            Choice::Approve => {
                let approvals = step.approved_by().len();
                if approvals < usize::try_from(step.spec.min_approvals).unwrap_or(usize::MAX) {
                    return Ok(VoteEffect::Counted);
                }
                step.status = StepStatus::Approved;
                step.next_reminder = None;
                if let Some(next) = self.steps.get_mut(current + 1) {
                    next.open(now);
                    self.current = current + 1;
                    return Ok(VoteEffect::NextStep(current + 1));
                }
                self.status = ApprovalStatus::Approved;
                self.resolved_at = Some(now);
                Ok(VoteEffect::Resolved(ApprovalStatus::Approved))
            }
        }
    }

    /// Handles what is due at `now`: a reminder, an escalation, a timeout. Returns what
    /// happened, in order; empty when nothing was due. Deadlines follow the original
    /// timeline, so a process that was down extends no one's window: after a long outage an
    /// escalation and the rejection after it may both be due at once.
    pub fn handle_due(&mut self, now: Timestamp) -> Vec<DueEffect> {
        let mut effects = Vec::new();
        while self.status == ApprovalStatus::Pending {
            let current = self.current;
            let Some(step) = self.steps.get_mut(current) else {
                break;
            };
            match step.deadline {
                Some(deadline) if deadline <= now => {
                    let can_escalate = step.spec.on_timeout == OnTimeout::Escalate
                        && !step.escalated
                        && !step.spec.escalate_to.is_empty();
                    if can_escalate {
                        step.escalated = true;
                        step.deadline = step.spec.timeout.map(|t| deadline.after(t));
                        effects.push(DueEffect::Escalated(step.spec.escalate_to.clone()));
                        continue;
                    }
                    step.status = StepStatus::TimedOut;
                    let waited = step
                        .spec
                        .timeout
                        .map_or_else(String::new, |t| format!(" within {t}"));
                    let reason = format!(
                        "no decision{waited} at step `{}`; a timeout is not an approval",
                        step.spec.step
                    );
                    self.finish(ApprovalStatus::TimedOut, reason, now);
                    effects.push(DueEffect::TimedOut);
                }
                _ => {
                    if let (Some(at), Some(every)) = (step.next_reminder, step.spec.remind_every)
                        && at <= now
                    {
                        step.next_reminder = Some(now.after(every));
                        let missing: Vec<Principal> = step
                            .eligible()
                            .into_iter()
                            .filter(|p| !step.has_voted(p))
                            .collect();
                        effects.push(DueEffect::Reminder(missing));
                    }
                    break;
                }
            }
        }
        effects
    }

    /// Cancels a pending request.
    pub fn cancel(&mut self, reason: String, now: Timestamp) -> Result<(), VoteError> {
        if self.status != ApprovalStatus::Pending {
            return Err(VoteError::AlreadyResolved {
                request: self.id.clone(),
                status: self.status,
            });
        }
        if let Some(step) = self.steps.get_mut(self.current) {
            step.status = StepStatus::Cancelled;
        }
        self.finish(ApprovalStatus::Cancelled, reason, now);
        Ok(())
    }

    /// Ends a request that was not approved: the open step keeps the status it was given,
    /// later steps are skipped.
    fn finish(&mut self, status: ApprovalStatus, reason: String, now: Timestamp) {
        for step in self.steps.iter_mut().skip(self.current + 1) {
            step.status = StepStatus::Skipped;
        }
        if let Some(step) = self.steps.get_mut(self.current) {
            step.next_reminder = None;
        }
        self.status = status;
        self.reason = Some(reason);
        self.resolved_at = Some(now);
    }
}
