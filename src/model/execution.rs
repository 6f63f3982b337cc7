//! An execution's record and its state machine:
//! `created -> running -> paused -> running -> completed | failed | cancelled`.
//! Every change is a pure function from one record to the next, so the store can commit it
//! under a version check and no rule lives only in one process's memory.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ExecutionError;
use super::ids::ExecutionId;
use super::time::Timestamp;
use crate::ir::{Duration, Principal};

/// Where an execution is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    Created,
    Running,
    Paused,
    Completed,
    Failed,
    Cancelled,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 6] = [
        ExecutionStatus::Created,
        ExecutionStatus::Running,
        ExecutionStatus::Paused,
        ExecutionStatus::Completed,
        ExecutionStatus::Failed,
        ExecutionStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Created => "created",
            ExecutionStatus::Running => "running",
            ExecutionStatus::Paused => "paused",
            ExecutionStatus::Completed => "completed",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Cancelled => "cancelled",
        }
    }

    /// Completed, failed and cancelled executions never change again.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ExecutionStatus::Completed | ExecutionStatus::Failed | ExecutionStatus::Cancelled
        )
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExecutionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ExecutionStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ExecutionStatus::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "`{s}` is not an execution status; use one of {}",
                    names.join(", ")
                )
            })
    }
}

/// What `fail` does (the product document's `onFailure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The execution fails for good.
    #[default]
    Fail,
    /// The execution pauses for a person to look at; `resume` carries on, a second `fail`
    /// fails it for good.
    Pause,
}

/// How often the agent checkpoints (the product document's `checkpointInterval`). The runtime
/// stores every checkpoint it is given; this records the agent's intent for the people who
/// read the execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointInterval {
    #[default]
    PerStep,
    Every(Duration),
}

/// An execution's settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionConfig {
    #[serde(default)]
    pub on_failure: OnFailure,
    #[serde(default)]
    pub checkpoint_interval: CheckpointInterval,
}

/// Why a paused execution is paused: it matters for who may resume it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum PauseReason {
    /// Someone called `pause`.
    Manual,
    /// A step failed and the execution is set to `onFailure: pause`.
    Failure { error: String },
    /// It waits for humans to answer requests; it resumes when the last one is resolved.
    Waiting,
}

/// One checkpoint: a step the agent finished and the state it can resume from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub execution_id: ExecutionId,
    /// 1-based order of checkpoints within the execution.
    pub seq: u64,
    pub step: u64,
    /// The state a resumed agent reads back. A checkpoint given no state carries the previous
    /// one forward, so a message-only checkpoint never loses what came before.
    pub state: Value,
    pub message: String,
    pub at: Timestamp,
}

/// An execution as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub id: ExecutionId,
    pub name: String,
    pub config: ExecutionConfig,
    /// The principal the agent acts as: it asks for gates, so it may never answer them.
    pub agent: Principal,
    pub status: ExecutionStatus,
    pub paused_by: Option<PauseReason>,
    /// Requests (approvals and feedback) the execution waits on.
    pub waiting_on: Vec<String>,
    /// The latest checkpoint.
    pub checkpoint: Option<Checkpoint>,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What was asked of an execution; names the operation in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Start,
    Checkpoint,
    Pause,
    Resume,
    Complete,
    Fail,
    Cancel,
    /// Pausing to wait for a person (`request_approval`, `request_feedback`,
    /// `check_escalation`).
    Wait,
    /// Asking the policy (`check_escalation`), which an execution does while running.
    Check,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Start => "start",
            Operation::Checkpoint => "checkpoint",
            Operation::Pause => "pause",
            Operation::Resume => "resume",
            Operation::Complete => "complete",
            Operation::Fail => "fail",
            Operation::Cancel => "cancel",
            Operation::Wait => "wait for a person",
            Operation::Check => "check escalation",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state machine: where `op` takes an execution in status `from` and the cause of the
/// pause, or `None` when the transition is not allowed. The whole table is here, so that the
/// tests can walk every pair.
pub fn transition(
    from: ExecutionStatus,
    paused_by: Option<&PauseReason>,
    op: Operation,
    on_failure: OnFailure,
) -> Option<ExecutionStatus> {
    use ExecutionStatus as S;
    use Operation as O;
    match (from, op) {
        (S::Created, O::Start) => Some(S::Running),
        (S::Running, O::Checkpoint | O::Check) => Some(S::Running),
        (S::Running, O::Pause | O::Wait) => Some(S::Paused),
        // A paused execution waiting for people resumes when they answer, not on request.
        (S::Paused, O::Resume) if !matches!(paused_by, Some(PauseReason::Waiting)) => {
            Some(S::Running)
        }
        (S::Running, O::Complete) => Some(S::Completed),
        (S::Running, O::Fail) => Some(match on_failure {
            OnFailure::Fail => S::Failed,
            OnFailure::Pause => S::Paused,
        }),
        (S::Paused, O::Fail) => Some(S::Failed),
        (S::Created | S::Running | S::Paused, O::Cancel) => Some(S::Cancelled),
        _ => None,
    }
}

/// The status an operation is meant to reach, for the error message when it may not.
pub fn target(op: Operation) -> ExecutionStatus {
    use ExecutionStatus as S;
    match op {
        Operation::Start | Operation::Checkpoint | Operation::Resume | Operation::Check => {
            S::Running
        }
        Operation::Pause | Operation::Wait => S::Paused,
        Operation::Complete => S::Completed,
        Operation::Fail => S::Failed,
        Operation::Cancel => S::Cancelled,
    }
}

impl Execution {
    pub fn new(
        name: String,
        config: ExecutionConfig,
        agent: Principal,
        now: Timestamp,
    ) -> Execution {
        Execution {
            id: ExecutionId::generate(),
            name,
            config,
            agent,
            status: ExecutionStatus::Created,
            paused_by: None,
            waiting_on: Vec::new(),
            checkpoint: None,
            result: None,
            error: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Applies `op`, or says why it may not happen, naming both states.
    pub fn apply(&mut self, op: Operation, now: Timestamp) -> Result<(), ExecutionError> {
        let Some(to) = transition(
            self.status,
            self.paused_by.as_ref(),
            op,
            self.config.on_failure,
        ) else {
            if self.status == ExecutionStatus::Paused
                && op == Operation::Resume
                && matches!(self.paused_by, Some(PauseReason::Waiting))
            {
                return Err(ExecutionError::AwaitingHuman {
                    execution: self.id.clone(),
                    requests: self.waiting_on.clone(),
                });
            }
            return Err(ExecutionError::InvalidTransition {
                execution: self.id.clone(),
                operation: op.as_str(),
                from: self.status,
                to: target(op),
            });
        };
        self.paused_by = match (to, op) {
            (ExecutionStatus::Paused, Operation::Wait) => Some(PauseReason::Waiting),
            (ExecutionStatus::Paused, Operation::Pause) => Some(PauseReason::Manual),
            (ExecutionStatus::Paused, Operation::Fail) => Some(PauseReason::Failure {
                error: self.error.clone().unwrap_or_default(),
            }),
            _ => None,
        };
        self.status = to;
        self.updated_at = now;
        Ok(())
    }

    /// Starts waiting on a request: pauses the execution.
    pub fn wait_on(&mut self, request: &str, now: Timestamp) -> Result<(), ExecutionError> {
        self.apply(Operation::Wait, now)?;
        self.waiting_on.push(request.to_owned());
        Ok(())
    }

    /// A request it waited on was resolved: when it was the last one, the execution runs
    /// again so that the agent can act on the answer (approved or not). Returns whether the
    /// execution changed.
    pub fn request_resolved(&mut self, request: &str, now: Timestamp) -> bool {
        let before = self.waiting_on.len();
        self.waiting_on.retain(|r| r != request);
        if self.waiting_on.len() == before {
            return false;
        }
        if self.waiting_on.is_empty()
            && self.status == ExecutionStatus::Paused
            && matches!(self.paused_by, Some(PauseReason::Waiting))
        {
            self.status = ExecutionStatus::Running;
            self.paused_by = None;
        }
        self.updated_at = now;
        true
    }
}
