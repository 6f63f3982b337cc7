//! The records as the wire shows them: camelCase names of the contract and the product
//! document (`executionId`, `approvedBy`, `chainStatus`, `minApprovals`), times as milliseconds
//! since the Unix epoch, durations as milliseconds.

use serde_json::{Value, json};

use crate::model::{
    ApprovalRequest, Checkpoint, CheckpointInterval, Execution, FeedbackRequest, Memory,
};
use crate::runtime::{EscalationDecision, VoteReceipt};

/// `checkpointInterval` as the product document writes it: `per-step`, or milliseconds.
pub fn checkpoint_interval(i: CheckpointInterval) -> Value {
    match i {
        CheckpointInterval::PerStep => json!("per-step"),
        CheckpointInterval::Every(d) => json!(d.as_millis()),
    }
}

pub fn execution(e: &Execution) -> Value {
    json!({
        "id": e.id,
        "name": e.name,
        "status": e.status,
        "config": {
            "onFailure": e.config.on_failure,
            "checkpointInterval": checkpoint_interval(e.config.checkpoint_interval),
        },
        "agent": e.agent,
        "waitingOn": e.waiting_on,
        "pausedBy": e.paused_by,
        "checkpoint": e.checkpoint.as_ref().map(checkpoint),
        "result": e.result,
        "error": e.error,
        "createdAt": e.created_at,
        "updatedAt": e.updated_at,
    })
}

pub fn checkpoint(c: &Checkpoint) -> Value {
    json!({
        "executionId": c.execution_id,
        "seq": c.seq,
        "step": c.step,
        "state": c.state,
        "message": c.message,
        "at": c.at,
    })
}

pub fn approval(r: &ApprovalRequest) -> Value {
    let chain_status: Vec<Value> = r
        .steps
        .iter()
        .map(|s| {
            json!({
                "name": s.spec.step,
                "status": s.status,
                "approvers": s.eligible(),
                "minApprovals": s.spec.min_approvals,
                "approvedBy": s.approved_by(),
                "deadline": s.deadline,
            })
        })
        .collect();
    let current = r.current_step();
    json!({
        "id": r.id,
        "executionId": r.execution_id,
        "title": r.title,
        "description": r.description,
        "status": r.status,
        "approvedBy": r.approved_by(),
        "reason": r.reason,
        "chain": r.chain,
        "chainStatus": chain_status,
        "currentStep": current.map(|s| s.spec.step.clone()),
        "deadline": current.and_then(|s| s.deadline),
        "priority": r.priority,
        "notifyVia": r.notify_via,
        "requestedBy": r.requested_by,
        "call": r.binding.as_ref().map(|b| json!({
            "action": b.action, "resource": b.resource, "confidence": b.confidence,
            "context": b.context, "outcome": b.outcome,
        })),
        "grantId": r.grant,
        "createdAt": r.created_at,
        "resolvedAt": r.resolved_at,
    })
}

pub fn feedback(r: &FeedbackRequest) -> Value {
    json!({
        "id": r.id,
        "executionId": r.execution_id,
        "title": r.title,
        "description": r.description,
        "artifacts": r.artifacts,
        "form": r.form,
        "reviewers": r.respondents,
        "notifyVia": r.notify_via,
        "status": r.status,
        "data": r.answers,
        "submittedBy": r.submitted_by,
        "timeout": r.timeout.map(|t| t.as_millis()),
        "deadline": r.deadline,
        "requestedBy": r.requested_by,
        "createdAt": r.created_at,
        "resolvedAt": r.resolved_at,
    })
}

pub fn memory(m: &Memory) -> Value {
    let mut metadata = m.metadata.clone();
    metadata.insert("tags".into(), json!(m.tags));
    json!({
        "id": m.id,
        "type": m.kind,
        "content": m.content,
        "metadata": metadata,
        "importance": m.importance,
        "executionId": m.execution_id,
        "createdAt": m.created_at,
    })
}

pub fn receipt(r: &VoteReceipt, request: &ApprovalRequest) -> Value {
    let mut v = json!({
        "counted": r.counted,
        "status": r.status,
        "step": r.step,
        "approvedBy": request.approved_by(),
        "approval": approval(request),
    });
    if !r.counted
        && let Some(map) = v.as_object_mut()
    {
        map.insert(
            "reason".into(),
            json!("a second vote by the same principal in the same step is not counted"),
        );
    }
    v
}

pub fn escalation(d: &EscalationDecision) -> Value {
    let mut v = json!({
        "approved": d.approved,
        "outcome": d.outcome,
        "reason": d.reason,
        "policyVersion": d.policy_version,
        "decision": d.decision,
    });
    if let Some(map) = v.as_object_mut() {
        if let Some(id) = &d.request {
            map.insert("approvalId".into(), json!(id));
        }
        if let Some(id) = &d.grant {
            map.insert("grantId".into(), json!(id));
        }
        if let Some(t) = &d.threshold {
            map.insert("threshold".into(), json!(t));
        }
        if d.audit {
            map.insert("audit".into(), json!(true));
        }
    }
    v
}

/// A page of a list: `{items, nextCursor}`.
pub fn page(items: Vec<Value>, next: Option<String>) -> Value {
    json!({"items": items, "nextCursor": next})
}
