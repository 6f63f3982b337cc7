//! The records' errors: one enum per state machine, each variant naming the record, the state
//! and the principal involved, so that a refused change says exactly what to fix.

use crate::ir::{Outcome, Principal};

use super::approval::ApprovalStatus;
use super::execution::ExecutionStatus;
use super::feedback::FeedbackStatus;
use super::form::FieldError;
use super::ids::{ApprovalId, ExecutionId, FeedbackId, GrantId};
use super::time::Timestamp;

/// An argument is wrong; `field` is its name as written in the product document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: String,
    pub message: String,
}

impl InvalidInput {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> InvalidInput {
        InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An execution was asked for something its state does not allow.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExecutionError {
    #[error("execution {execution} cannot {operation}: {from} -> {to} is not a valid transition")]
    InvalidTransition {
        execution: ExecutionId,
        operation: &'static str,
        from: ExecutionStatus,
        to: ExecutionStatus,
    },
    /// A paused execution waiting for people resumes when they answer, not on request.
    #[error("execution {execution} is paused waiting for {}; it resumes when they are resolved (or cancel it)", requests.join(", "))]
    AwaitingHuman {
        execution: ExecutionId,
        requests: Vec<String>,
    },
}

/// A vote was refused. Nothing was counted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VoteError {
    /// The principal is not listed for the step that is open now (an authorization error).
    #[error(
        "{principal} may not vote on {request} step `{step}`: the approvers are {}",
        list(approvers)
    )]
    NotAnApprover {
        request: ApprovalId,
        step: String,
        principal: Principal,
        approvers: Vec<Principal>,
    },
    /// Separation of duties: whoever asked for a gate never answers it.
    #[error("{principal} asked for {request}, so it may not vote on it (separation of duties)")]
    SelfApproval {
        request: ApprovalId,
        principal: Principal,
    },
    /// Separation of duties in a chain: one principal, one step.
    #[error(
        "{principal} already voted in step `{earlier_step}` of {request}, so it may not vote in step `{step}` too"
    )]
    CrossStepVote {
        request: ApprovalId,
        principal: Principal,
        earlier_step: String,
        step: String,
    },
    /// A late vote: the request is no longer pending.
    #[error("{request} is already {status}; a vote after resolution is not counted")]
    AlreadyResolved {
        request: ApprovalId,
        status: ApprovalStatus,
    },
    /// A late vote: the step's deadline has passed (even if no one has processed it yet).
    #[error(
        "{request} step `{step}` passed its deadline at {deadline}; a vote after it is not counted"
    )]
    DeadlinePassed {
        request: ApprovalId,
        step: String,
        deadline: Timestamp,
    },
}

/// A feedback answer was refused. Nothing was recorded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeedbackError {
    /// Answers that do not fit the form, one error per field.
    #[error("{request}: {} answer{} refused: {}", errors.len(), if errors.len() == 1 { "" } else { "s" }, errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        request: FeedbackId,
        errors: Vec<FieldError>,
    },
    #[error(
        "{principal} may not answer {request}: the respondents are {}",
        list(respondents)
    )]
    NotARespondent {
        request: FeedbackId,
        principal: Principal,
        respondents: Vec<Principal>,
    },
    #[error("{principal} asked for {request}, so it may not answer it")]
    SelfAnswer {
        request: FeedbackId,
        principal: Principal,
    },
    #[error("{request} is already {status}; an answer after it is closed is not recorded")]
    AlreadyClosed {
        request: FeedbackId,
        status: FeedbackStatus,
    },
    #[error("{request} passed its deadline at {deadline}; an answer after it is not recorded")]
    DeadlinePassed {
        request: FeedbackId,
        deadline: Timestamp,
    },
}

/// A grant could not be used for a call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GrantError {
    #[error("grant {grant} was already used at {used_at}; an approval is good for one call")]
    AlreadyUsed { grant: GrantId, used_at: Timestamp },
    /// The call differs from the one that was approved.
    #[error(
        "grant {grant} was given for {field} `{granted}`, not `{called}`; a changed call needs a new approval"
    )]
    CallChanged {
        grant: GrantId,
        field: &'static str,
        granted: String,
        called: String,
    },
    /// The policy in force decides this call differently from the one it was approved under.
    #[error(
        "grant {grant} was given under policy {granted_under}, and policy {in_force} decides the call differently; it needs a new approval"
    )]
    PolicyChanged {
        grant: GrantId,
        granted_under: String,
        in_force: String,
    },
    /// The policy decides this call more strictly than the decision that was approved (the
    /// confidence fell, say), or asks approvers the approval does not have.
    #[error(
        "grant {grant} was given for a {} gate, and the policy now decides the call {decided} with a gate this approval does not meet; it needs a new approval",
        granted.map_or("different", |o| o.as_str())
    )]
    StricterDecision {
        grant: GrantId,
        granted: Option<Outcome>,
        decided: Outcome,
    },
}

fn list(principals: &[Principal]) -> String {
    if principals.is_empty() {
        return "nobody".into();
    }
    principals
        .iter()
        .map(Principal::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
