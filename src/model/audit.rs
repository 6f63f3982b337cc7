//! The audit log: an append-only record of every decision, state change, vote, notification
//! and policy swap, with its time, principal, execution and request. The store refuses to
//! change or delete an entry. Decisions export as the JSON Lines that `rekall-policy eval
//! --input` reads, so that a day of real traffic can be replayed against a new policy.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ids::ExecutionId;
use super::time::Timestamp;
use crate::ir::Principal;

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// `check_escalation` asked the policy; the detail holds the request and the decision.
    Decision,
    ExecutionCreated,
    /// An execution moved from one status to another.
    ExecutionState,
    Checkpoint,
    ApprovalRequested,
    /// A counted vote.
    Vote,
    /// A second vote by the same principal in the same step, not counted.
    VoteIgnored,
    /// A vote that was refused, with the reason.
    VoteRefused,
    StepApproved,
    Escalated,
    Reminder,
    /// An approval request was approved, rejected, timed out or cancelled.
    ApprovalResolved,
    FeedbackRequested,
    FeedbackSubmitted,
    FeedbackRefused,
    FeedbackResolved,
    GrantIssued,
    GrantUsed,
    GrantRefused,
    NotificationSent,
    NotificationFailed,
    PolicySwap,
    /// A new policy version was stored and put in force (a policy put, a JSON rule list, or
    /// the configured policy becoming version 1); the detail holds its number and summary.
    PolicyVersion,
    /// An old version's text was put in force again as a new version.
    PolicyRollback,
    /// A policy was refused (it had errors); nothing changed. The detail holds the errors.
    PolicyRefused,
    Correction,
    /// A class's threshold in force changed by itself: a rise, a shift, or a lower value in
    /// `auto` mode; the detail holds the evidence.
    ThresholdMoved,
    /// A lower threshold was proposed, waiting for a person.
    ThresholdProposed,
    /// A person accepted a proposal, which is now in force.
    ProposalAccepted,
    /// A person rejected a proposal.
    ProposalRejected,
    /// A person put a class back at the policy's threshold.
    ThresholdReset,
    /// `report_outcome`: the agent or an operator said how a call turned out.
    OutcomeReported,
    /// An answer from outside the API (an email link, a Slack action, an inbox sign-in) was
    /// refused before it could vote; the detail names the channel and why.
    AnswerRefused,
    /// An approver signed in to the inbox.
    SignedIn,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Decision => "decision",
            AuditKind::ExecutionCreated => "execution_created",
            AuditKind::ExecutionState => "execution_state",
            AuditKind::Checkpoint => "checkpoint",
            AuditKind::ApprovalRequested => "approval_requested",
            AuditKind::Vote => "vote",
            AuditKind::VoteIgnored => "vote_ignored",
            AuditKind::VoteRefused => "vote_refused",
            AuditKind::StepApproved => "step_approved",
            AuditKind::Escalated => "escalated",
            AuditKind::Reminder => "reminder",
            AuditKind::ApprovalResolved => "approval_resolved",
            AuditKind::FeedbackRequested => "feedback_requested",
            AuditKind::FeedbackSubmitted => "feedback_submitted",
            AuditKind::FeedbackRefused => "feedback_refused",
            AuditKind::FeedbackResolved => "feedback_resolved",
            AuditKind::GrantIssued => "grant_issued",
            AuditKind::GrantUsed => "grant_used",
            AuditKind::GrantRefused => "grant_refused",
            AuditKind::NotificationSent => "notification_sent",
            AuditKind::NotificationFailed => "notification_failed",
            AuditKind::PolicySwap => "policy_swap",
            AuditKind::PolicyVersion => "policy_version",
            AuditKind::PolicyRollback => "policy_rollback",
            AuditKind::PolicyRefused => "policy_refused",
            AuditKind::Correction => "correction",
            AuditKind::ThresholdMoved => "threshold_moved",
            AuditKind::ThresholdProposed => "threshold_proposed",
            AuditKind::ProposalAccepted => "proposal_accepted",
            AuditKind::ProposalRejected => "proposal_rejected",
            AuditKind::ThresholdReset => "threshold_reset",
            AuditKind::OutcomeReported => "outcome_reported",
            AuditKind::AnswerRefused => "answer_refused",
            AuditKind::SignedIn => "signed_in",
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Its place in the log, given by the store (0 before it is written).
    pub seq: u64,
    pub at: Timestamp,
    pub kind: AuditKind,
    pub execution_id: Option<ExecutionId>,
    /// The approval or feedback request it is about.
    pub request_id: Option<String>,
    /// Who acted: the voter, the agent, or none for the runtime itself (timeouts).
    pub principal: Option<Principal>,
    pub detail: Value,
}

/// Where a change came from, when it came over HTTP: the `X-Request-Id` of the request and
/// the agent instance it named (`X-Rekall-Agent`). Every audit entry made while a request is
/// handled records it under `detail.http`, so that a log line leads back to the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Origin {
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_instance: Option<String>,
}

tokio::task_local! {
    static ORIGIN: Origin;
}

impl Origin {
    /// Runs `f` with this origin recorded in every audit entry it makes. A task-local rather
    /// than a parameter: the entries are made deep in the runtime, which knows nothing of HTTP.
    pub async fn scope<F: std::future::Future>(self, f: F) -> F::Output {
        ORIGIN.scope(self, f).await
    }

    fn current() -> Option<Origin> {
        ORIGIN.try_with(Clone::clone).ok()
    }
}

impl AuditEntry {
    pub fn new(kind: AuditKind, at: Timestamp, mut detail: Value) -> AuditEntry {
        if let (Some(origin), Value::Object(map)) = (Origin::current(), &mut detail) {
            map.insert(
                "http".into(),
                serde_json::to_value(origin).unwrap_or(Value::Null),
            );
        }
        AuditEntry {
            seq: 0,
            at,
            kind,
            execution_id: None,
            request_id: None,
            principal: None,
            detail,
        }
    }

    pub fn execution(mut self, id: &ExecutionId) -> AuditEntry {
        self.execution_id = Some(id.clone());
        self
    }

    pub fn request(mut self, id: impl ToString) -> AuditEntry {
        self.request_id = Some(id.to_string());
        self
    }

    pub fn by(mut self, principal: &Principal) -> AuditEntry {
        self.principal = Some(principal.clone());
        self
    }
}
