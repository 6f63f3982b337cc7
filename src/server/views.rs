//! The records as the wire shows them: camelCase names of the contract and the product
//! document (`executionId`, `approvedBy`, `chainStatus`, `minApprovals`), times as milliseconds
//! since the Unix epoch, durations as milliseconds.
//!
//! Each view is a type the handlers answer with and the OpenAPI document describes
//! ([`utoipa::ToSchema`]), so that the document cannot drift from what is sent. The model's
//! own types (ids, principals, statuses) serialize as strings and are declared so.

use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::ir::{Principal, Priority};
use crate::model::{
    ApprovalId, ApprovalRequest, ApprovalStatus, Checkpoint, CheckpointInterval, Execution,
    ExecutionId, ExecutionStatus, FeedbackId, FeedbackRequest, FeedbackStatus, GrantId, Memory,
    MemoryId, MemoryKind, OnFailure, PauseReason, StepStatus, Timestamp,
};
use crate::runtime::{EscalationDecision, VoteReceipt};

/// An execution (`rekall.execution.*`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionView {
    #[schema(value_type = String)]
    pub id: ExecutionId,
    pub name: String,
    /// `created`, `running`, `paused`, `completed`, `failed` or `cancelled`.
    #[schema(value_type = String)]
    pub status: ExecutionStatus,
    pub config: ExecutionConfigView,
    /// The agent principal that created it.
    #[schema(value_type = String)]
    pub agent: Principal,
    /// The ids of the requests it is paused on.
    pub waiting_on: Vec<String>,
    /// Why it is paused: `{by: manual | failure | waiting, error?}`.
    #[schema(value_type = Option<Object>)]
    pub paused_by: Option<PauseReason>,
    pub checkpoint: Option<CheckpointView>,
    /// What `complete` was given.
    pub result: Option<Value>,
    pub error: Option<String>,
    #[schema(value_type = i64)]
    pub created_at: Timestamp,
    #[schema(value_type = i64)]
    pub updated_at: Timestamp,
}

/// An execution's `config`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionConfigView {
    /// `fail` or `pause`.
    #[schema(value_type = String)]
    pub on_failure: OnFailure,
    /// `per-step`, or milliseconds.
    pub checkpoint_interval: Value,
}

/// `checkpointInterval` as the product document writes it: `per-step`, or milliseconds.
pub fn checkpoint_interval(i: CheckpointInterval) -> Value {
    match i {
        CheckpointInterval::PerStep => json!("per-step"),
        CheckpointInterval::Every(d) => json!(d.as_millis()),
    }
}

pub fn execution(e: &Execution) -> ExecutionView {
    ExecutionView {
        id: e.id.clone(),
        name: e.name.clone(),
        status: e.status,
        config: ExecutionConfigView {
            on_failure: e.config.on_failure,
            checkpoint_interval: checkpoint_interval(e.config.checkpoint_interval),
        },
        agent: e.agent.clone(),
        waiting_on: e.waiting_on.clone(),
        paused_by: e.paused_by.clone(),
        checkpoint: e.checkpoint.as_ref().map(checkpoint),
        result: e.result.clone(),
        error: e.error.clone(),
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

/// A checkpoint: a step the agent finished and the state it can resume from.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointView {
    #[schema(value_type = String)]
    pub execution_id: ExecutionId,
    pub seq: u64,
    pub step: u64,
    pub state: Value,
    pub message: String,
    #[schema(value_type = i64)]
    pub at: Timestamp,
}

pub fn checkpoint(c: &Checkpoint) -> CheckpointView {
    CheckpointView {
        execution_id: c.execution_id.clone(),
        seq: c.seq,
        step: c.step,
        state: c.state.clone(),
        message: c.message.clone(),
        at: c.at,
    }
}

/// One step of an approval request (`chainStatus`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepView {
    pub name: String,
    /// `waiting`, `pending`, `approved`, `rejected`, `timed_out`, `cancelled` or `skipped`.
    #[schema(value_type = String)]
    pub status: StepStatus,
    #[schema(value_type = Vec<String>)]
    pub approvers: Vec<Principal>,
    pub min_approvals: u32,
    #[schema(value_type = Vec<String>)]
    pub approved_by: Vec<Principal>,
    #[schema(value_type = Option<i64>)]
    pub deadline: Option<Timestamp>,
}

/// The call an approval request is bound to (opened by `escalation-check`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    pub action: String,
    pub resource: String,
    pub confidence: Option<f64>,
    pub context: Value,
    /// The policy's outcome for the call.
    #[schema(value_type = String)]
    pub outcome: Value,
}

/// An approval request (`requestApproval`), single gate or chain.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalView {
    #[schema(value_type = String)]
    pub id: ApprovalId,
    #[schema(value_type = String)]
    pub execution_id: ExecutionId,
    pub title: String,
    pub description: String,
    /// `pending`, `approved`, `rejected`, `timed_out` or `cancelled`.
    #[schema(value_type = String)]
    pub status: ApprovalStatus,
    #[schema(value_type = Vec<String>)]
    pub approved_by: Vec<Principal>,
    pub reason: Option<String>,
    /// Whether it is a chain of steps rather than a single gate.
    pub chain: bool,
    pub chain_status: Vec<StepView>,
    pub current_step: Option<String>,
    #[schema(value_type = Option<i64>)]
    pub deadline: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub priority: Option<Priority>,
    pub notify_via: Vec<String>,
    #[schema(value_type = String)]
    pub requested_by: Principal,
    pub call: Option<CallView>,
    #[schema(value_type = Option<String>)]
    pub grant_id: Option<GrantId>,
    #[schema(value_type = i64)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<i64>)]
    pub resolved_at: Option<Timestamp>,
}

pub fn approval(r: &ApprovalRequest) -> ApprovalView {
    let chain_status = r
        .steps
        .iter()
        .map(|s| StepView {
            name: s.spec.step.clone(),
            status: s.status,
            approvers: s.eligible(),
            min_approvals: s.spec.min_approvals,
            approved_by: s.approved_by(),
            deadline: s.deadline,
        })
        .collect();
    let current = r.current_step();
    ApprovalView {
        id: r.id.clone(),
        execution_id: r.execution_id.clone(),
        title: r.title.clone(),
        description: r.description.clone(),
        status: r.status,
        approved_by: r.approved_by(),
        reason: r.reason.clone(),
        chain: r.chain,
        chain_status,
        current_step: current.map(|s| s.spec.step.clone()),
        deadline: current.and_then(|s| s.deadline),
        priority: r.priority,
        notify_via: r.notify_via.clone(),
        requested_by: r.requested_by.clone(),
        call: r.binding.as_ref().map(|b| CallView {
            action: b.action.clone(),
            resource: b.resource.clone(),
            confidence: b.confidence,
            context: b.context.clone(),
            outcome: json!(b.outcome),
        }),
        grant_id: r.grant.clone(),
        created_at: r.created_at,
        resolved_at: r.resolved_at,
    }
}

/// A feedback request (`requestFeedback`); once answered, `data` holds the answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackView {
    #[schema(value_type = String)]
    pub id: FeedbackId,
    #[schema(value_type = String)]
    pub execution_id: ExecutionId,
    pub title: String,
    pub description: String,
    /// `[{type, content, language?, title?}]`.
    #[schema(value_type = Vec<Object>)]
    pub artifacts: Value,
    /// `{fields: [...]}`.
    #[schema(value_type = Object)]
    pub form: Value,
    #[schema(value_type = Vec<String>)]
    pub reviewers: Vec<Principal>,
    pub notify_via: Vec<String>,
    /// `pending`, `submitted`, `timed_out` or `cancelled`.
    #[schema(value_type = String)]
    pub status: FeedbackStatus,
    /// The answers by field name.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Map<String, Value>>,
    #[schema(value_type = Option<String>)]
    pub submitted_by: Option<Principal>,
    /// Milliseconds.
    pub timeout: Option<u64>,
    #[schema(value_type = Option<i64>)]
    pub deadline: Option<Timestamp>,
    #[schema(value_type = String)]
    pub requested_by: Principal,
    #[schema(value_type = i64)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<i64>)]
    pub resolved_at: Option<Timestamp>,
}

pub fn feedback(r: &FeedbackRequest) -> FeedbackView {
    FeedbackView {
        id: r.id.clone(),
        execution_id: r.execution_id.clone(),
        title: r.title.clone(),
        description: r.description.clone(),
        artifacts: json!(r.artifacts),
        form: json!(r.form),
        reviewers: r.respondents.clone(),
        notify_via: r.notify_via.clone(),
        status: r.status,
        data: r.answers.clone(),
        submitted_by: r.submitted_by.clone(),
        timeout: r.timeout.map(|t| t.as_millis()),
        deadline: r.deadline,
        requested_by: r.requested_by.clone(),
        created_at: r.created_at,
        resolved_at: r.resolved_at,
    }
}

/// A memory (`rekall.memories.create`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryView {
    #[schema(value_type = String)]
    pub id: MemoryId,
    /// `episodic`, ...
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: MemoryKind,
    pub content: String,
    /// `tags`, `createdBy` and whatever else the memory was given.
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    pub importance: f64,
    #[schema(value_type = Option<String>)]
    pub execution_id: Option<ExecutionId>,
    #[schema(value_type = i64)]
    pub created_at: Timestamp,
}

pub fn memory(m: &Memory) -> MemoryView {
    let mut metadata = m.metadata.clone();
    metadata.insert("tags".into(), json!(m.tags));
    MemoryView {
        id: m.id.clone(),
        kind: m.kind,
        content: m.content.clone(),
        metadata,
        importance: m.importance,
        execution_id: m.execution_id.clone(),
        created_at: m.created_at,
    }
}

/// A vote's receipt: `status` is the request's after the vote.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptView {
    pub counted: bool,
    #[schema(value_type = String)]
    pub status: ApprovalStatus,
    /// The step the vote went to.
    pub step: String,
    #[schema(value_type = Vec<String>)]
    pub approved_by: Vec<Principal>,
    pub approval: ApprovalView,
    /// Why the vote was not counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub fn receipt(r: &VoteReceipt, request: &ApprovalRequest) -> ReceiptView {
    ReceiptView {
        counted: r.counted,
        status: r.status,
        step: r.step.clone(),
        approved_by: request.approved_by(),
        approval: approval(request),
        reason: (!r.counted).then(|| {
            "a second vote by the same principal in the same step is not counted".to_owned()
        }),
    }
}

/// The answer of `escalation-check`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EscalationView {
    pub approved: bool,
    /// The policy's outcome.
    #[schema(value_type = String)]
    pub outcome: Value,
    pub reason: String,
    pub policy_version: String,
    /// The policy's decision, as `eval --format json` prints it.
    #[schema(value_type = Object)]
    pub decision: Value,
    /// The request opened for it; the execution is paused on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub approval_id: Option<ApprovalId>,
    /// The grant used, when an earlier approval of this exact call let it go ahead.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub grant_id: Option<GrantId>,
    /// For a call of an adaptive class: the policy's threshold and the one in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub threshold: Option<Value>,
    /// Whether the audit sample sent a call the policy auto-approves to a person.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub audit: bool,
}

pub fn escalation(d: &EscalationDecision) -> EscalationView {
    EscalationView {
        approved: d.approved,
        outcome: json!(d.outcome),
        reason: d.reason.clone(),
        policy_version: d.policy_version.clone(),
        decision: d.decision.clone(),
        approval_id: d.request.clone(),
        grant_id: d.grant.clone(),
        threshold: d.threshold.as_ref().map(|t| json!(t)),
        audit: d.audit,
    }
}

/// A page of a list: `{items, nextCursor}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// The cursor of the next page; null on the last.
    pub next_cursor: Option<String>,
}

pub fn page<T: ToSchema>(items: Vec<T>, next: Option<String>) -> Page<T> {
    Page {
        items,
        next_cursor: next,
    }
}
