//! Approval requests: single gates and chains, the votes that resolve them, and the handle an
//! agent waits on. The rules themselves are in [`crate::model::ApprovalRequest`]; this module loads, applies them and
//! commits the result with everything that goes with it (the execution resuming, the grant,
//! the audit entries, the memory, the notifications) in one transaction.

mod handle;

use std::collections::BTreeSet;

use serde_json::json;

pub use handle::{ApprovalHandle, ApprovalOutcome, StepReport};

use super::error::RuntimeError;
use super::execution::Executions;
use super::{Retry, Runtime};
use crate::ir::{OnTimeout, Principal, Priority};
use crate::model::{
    ApprovalId, ApprovalRequest, ApprovalStatus, AuditEntry, AuditKind, Binding, Call, Choice,
    Execution, ExecutionId, Grant, GrantId, LabelSource, LabelTarget, LabelUpdate, MemoryKind,
    NewMemory, Notification, NotificationKind, StepSpec, Timestamp, VoteEffect,
};
use crate::store::{ApprovalFilter, Expected, Transaction, Versioned, Write};

/// What `request_approval` takes: a single gate (one step) or a chain of steps.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalSpec {
    pub title: String,
    pub description: String,
    pub steps: Vec<StepSpec>,
    pub chain: bool,
    pub notify_via: Vec<String>,
    pub priority: Option<Priority>,
    pub(crate) binding: Option<Binding>,
}

impl ApprovalSpec {
    /// A single gate.
    pub fn gate(title: impl Into<String>, step: StepSpec) -> ApprovalSpec {
        ApprovalSpec {
            title: title.into(),
            description: String::new(),
            steps: vec![step],
            chain: false,
            notify_via: Vec::new(),
            priority: None,
            binding: None,
        }
    }

    /// A chain: the steps are approved in order, each notified when the one before it is
    /// approved; a rejection at any step rejects the whole.
    pub fn chain(title: impl Into<String>, steps: Vec<StepSpec>) -> ApprovalSpec {
        ApprovalSpec {
            chain: true,
            steps,
            ..ApprovalSpec::gate(title, StepSpec::new("", Vec::new()))
        }
    }

    pub fn description(mut self, description: impl Into<String>) -> ApprovalSpec {
        self.description = description.into();
        self
    }

    pub fn notify_via(mut self, channels: &[&str]) -> ApprovalSpec {
        self.notify_via = channels.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    pub fn priority(mut self, priority: Priority) -> ApprovalSpec {
        self.priority = Some(priority);
        self
    }

    /// Checks that every step can be approved by someone other than the requester.
    fn check(&self, requester: &Principal) -> Result<(), RuntimeError> {
        if self.title.trim().is_empty() {
            return Err(RuntimeError::invalid("title", "must not be empty"));
        }
        if self.steps.is_empty() {
            return Err(RuntimeError::invalid(
                "chain",
                "a chain needs at least one step",
            ));
        }
        for (i, step) in self.steps.iter().enumerate() {
            let at = |field: &str| {
                if self.chain {
                    format!("chain[{i}].{field}")
                } else {
                    field.to_owned()
                }
            };
            if self.chain && step.step.trim().is_empty() {
                return Err(RuntimeError::invalid(
                    at("step"),
                    "a chain step needs a name",
                ));
            }
            if step.approvers.is_empty() {
                return Err(RuntimeError::invalid(
                    at("approvers"),
                    "needs at least one approver",
                ));
            }
            let distinct: BTreeSet<&Principal> =
                step.approvers.iter().filter(|p| *p != requester).collect();
            let needed = usize::try_from(step.min_approvals).unwrap_or(usize::MAX);
            if step.min_approvals == 0 {
                return Err(RuntimeError::invalid(
                    at("minApprovals"),
                    "must be at least 1",
                ));
            }
            if needed > distinct.len() {
                return Err(RuntimeError::invalid(
                    at("minApprovals"),
                    format!(
                        "is {} but only {} distinct approver{} other than the requester {requester} can vote",
                        step.min_approvals,
                        distinct.len(),
                        if distinct.len() == 1 { "" } else { "s" }
                    ),
                ));
            }
            if step.on_timeout == OnTimeout::Escalate && step.escalate_to.is_empty() {
                return Err(RuntimeError::invalid(
                    at("escalateTo"),
                    "onTimeout: escalate needs someone to escalate to",
                ));
            }
        }
        Ok(())
    }
}

/// What a vote did.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteReceipt {
    pub request: ApprovalId,
    /// False for a second vote by the same principal in the same step (ignored).
    pub counted: bool,
    /// The request's status after the vote.
    pub status: ApprovalStatus,
    /// The step voted in.
    pub step: String,
}

impl Executions<'_> {
    /// Asks people to approve, and pauses the execution until they answer. The returned
    /// handle's [`ApprovalHandle::wait`] gives the outcome.
    pub async fn request_approval(
        &self,
        execution: &ExecutionId,
        spec: ApprovalSpec,
    ) -> Result<ApprovalHandle, RuntimeError> {
        let loaded = self.load(execution).await?;
        let id = self
            .rt
            .open_approval(loaded, spec, Transaction::default())
            .await?;
        Ok(ApprovalHandle::new(self.rt.clone(), id))
    }
}

impl Runtime {
    /// Creates an approval request on an execution, pausing it, with `extra` (audit entries,
    /// memories) in the same transaction. Retries on conflict with a fresh read.
    pub(crate) async fn open_approval(
        &self,
        mut loaded: Versioned<Execution>,
        spec: ApprovalSpec,
        extra: Transaction,
    ) -> Result<ApprovalId, RuntimeError> {
        spec.check(&loaded.record.agent)?;
        let mut retry = Retry::new("execution", &loaded.record.id);
        let first_now = self.now();
        let mut req = ApprovalRequest::new(
            loaded.record.id.clone(),
            loaded.record.agent.clone(),
            spec.title,
            spec.description,
            spec.steps,
            spec.chain,
            first_now,
        );
        req.notify_via = spec.notify_via;
        req.priority = spec.priority;
        req.binding = spec.binding;
        loop {
            let now = self.now();
            let mut e = loaded.record.clone();
            e.wait_on(req.id.as_str(), now)?;
            let mut tx = extra.clone();
            // The calls recorded for learning with this request are the ones it asks about.
            for call in &mut tx.calls {
                call.request_id.get_or_insert_with(|| req.id.to_string());
            }
            let first = req.current_step().map(|s| s.spec.clone());
            tx.audit.push(
                AuditEntry::new(
                    AuditKind::ApprovalRequested,
                    now,
                    json!({"title": req.title, "chain": req.chain,
                           "steps": req.steps.iter().map(|s| &s.spec).collect::<Vec<_>>(),
                           "priority": req.priority, "binding": req.binding}),
                )
                .execution(&e.id)
                .request(&req.id)
                .by(&req.requested_by),
            );
            if let Some(first) = first {
                tx.notifications.push(Notification::new(
                    NotificationKind::ApprovalRequested,
                    first.approvers.clone(),
                    req.notify_via.clone(),
                    req.title.clone(),
                    request_message(&req, &first.step),
                    req.priority,
                    Some(e.id.clone()),
                    Some(req.id.to_string()),
                    now,
                ));
            }
            tx.writes
                .push(Write::Execution(e, Expected::Version(loaded.version)));
            tx.writes.push(Write::Approval(req.clone(), Expected::New));
            match self.commit(tx).await {
                Ok(()) => return Ok(req.id),
                Err(err) => {
                    retry.again(err).await?;
                    loaded = self.execution().load(&loaded.record.id).await?;
                }
            }
        }
    }
}

fn request_message(req: &ApprovalRequest, step: &str) -> String {
    let mut msg = format!("{} asks for approval: {}", req.requested_by, req.title);
    if req.chain {
        msg.push_str(&format!(" (step `{step}`)"));
    }
    if !req.description.is_empty() {
        msg.push_str("\n\n");
        msg.push_str(&req.description);
    }
    msg.push_str(&format!("\n\nRequest: {}", req.id));
    msg
}

/// The approvals API: `runtime.approvals()`.
#[derive(Debug, Clone, Copy)]
pub struct Approvals<'a> {
    pub(crate) rt: &'a Runtime,
}

impl Approvals<'_> {
    pub async fn get(&self, id: &ApprovalId) -> Result<ApprovalRequest, RuntimeError> {
        Ok(self.load(id).await?.record)
    }

    pub(crate) async fn load(
        &self,
        id: &ApprovalId,
    ) -> Result<Versioned<ApprovalRequest>, RuntimeError> {
        self.rt
            .store()
            .approval(id)
            .await?
            .ok_or_else(|| RuntimeError::NotFound {
                what: "approval request",
                id: id.to_string(),
            })
    }

    /// Requests, newest first.
    pub async fn list(&self, filter: ApprovalFilter) -> Result<Vec<ApprovalRequest>, RuntimeError> {
        let found = self.rt.store().approvals(filter).await?;
        Ok(found.into_iter().map(|v| v.record).collect())
    }

    /// A handle to wait on a request, for example after a restart.
    pub fn handle(&self, id: &ApprovalId) -> ApprovalHandle {
        ApprovalHandle::new(self.rt.clone(), id.clone())
    }

    pub async fn approve(
        &self,
        id: &ApprovalId,
        principal: &Principal,
        comment: Option<&str>,
    ) -> Result<VoteReceipt, RuntimeError> {
        self.vote(id, principal, Choice::Approve, comment.map(str::to_owned))
            .await
    }

    /// Rejects; the reason goes back to the agent.
    pub async fn reject(
        &self,
        id: &ApprovalId,
        principal: &Principal,
        reason: &str,
    ) -> Result<VoteReceipt, RuntimeError> {
        self.vote(id, principal, Choice::Reject, Some(reason.to_owned()))
            .await
    }

    /// Votes. The check and the write happen on one read of the request under its version,
    /// so concurrent votes are counted one at a time and the request resolves exactly once.
    pub async fn vote(
        &self,
        id: &ApprovalId,
        principal: &Principal,
        choice: Choice,
        note: Option<String>,
    ) -> Result<VoteReceipt, RuntimeError> {
        let mut retry = Retry::new("approval request", id);
        loop {
            let now = self.rt.now();
            let loaded = self.load(id).await?;
            let mut req = loaded.record.clone();
            let step_name = req
                .current_step()
                .map(|s| s.spec.step.clone())
                .unwrap_or_default();
            let effect = match req.vote(principal, choice, note.clone(), now) {
                Ok(effect) => effect,
                Err(refused) => {
                    let entry = AuditEntry::new(
                        AuditKind::VoteRefused,
                        now,
                        json!({"choice": choice, "step": step_name, "error": refused.to_string()}),
                    )
                    .execution(&req.execution_id)
                    .request(id)
                    .by(principal);
                    self.rt.store().append_audit(vec![entry]).await?;
                    return Err(refused.into());
                }
            };
            let receipt = VoteReceipt {
                request: id.clone(),
                counted: effect != VoteEffect::Ignored,
                status: req.status,
                step: step_name.clone(),
            };
            if effect == VoteEffect::Ignored {
                let entry = AuditEntry::new(
                    AuditKind::VoteIgnored,
                    now,
                    json!({"choice": choice, "step": step_name,
                           "why": "a second vote by the same principal in the same step"}),
                )
                .execution(&req.execution_id)
                .request(id)
                .by(principal);
                self.rt.store().append_audit(vec![entry]).await?;
                return Ok(receipt);
            }
            let mut tx = Transaction::default();
            tx.audit.push(
                AuditEntry::new(
                    AuditKind::Vote,
                    now,
                    json!({"choice": choice, "note": note, "step": step_name}),
                )
                .execution(&req.execution_id)
                .request(id)
                .by(principal),
            );
            match effect {
                VoteEffect::NextStep(next) => {
                    tx.audit.push(
                        AuditEntry::new(
                            AuditKind::StepApproved,
                            now,
                            json!({"step": step_name, "next": req.steps[next].spec.step}),
                        )
                        .execution(&req.execution_id)
                        .request(id),
                    );
                    let next_step = &req.steps[next].spec;
                    tx.notifications.push(Notification::new(
                        NotificationKind::NextStep,
                        next_step.approvers.clone(),
                        req.notify_via.clone(),
                        req.title.clone(),
                        request_message(&req, &next_step.step),
                        req.priority,
                        Some(req.execution_id.clone()),
                        Some(id.to_string()),
                        now,
                    ));
                }
                VoteEffect::Resolved(_) => {
                    let exec = self.rt.store().execution(&req.execution_id).await?;
                    resolution_effects(&mut tx, &mut req, exec, now);
                    if let Some(label) = super::learning::resolution_label(req.status) {
                        tx.labels.push(LabelUpdate {
                            target: LabelTarget::Request(id.to_string()),
                            label,
                            source: LabelSource::Resolution,
                            note: note.clone(),
                        });
                    }
                }
                VoteEffect::Counted | VoteEffect::Ignored => {}
            }
            let labelled = !tx.labels.is_empty();
            tx.writes
                .push(Write::Approval(req, Expected::Version(loaded.version)));
            match self.rt.commit(tx).await {
                Ok(()) => {
                    if labelled {
                        self.rt.learn_from_request(id).await?;
                    }
                    return Ok(receipt);
                }
                Err(err) => retry.again(err).await?,
            }
        }
    }

    /// Cancels a pending request (the agent no longer needs it, or a person withdraws it).
    pub async fn cancel(
        &self,
        id: &ApprovalId,
        principal: &Principal,
        reason: &str,
    ) -> Result<ApprovalRequest, RuntimeError> {
        let mut retry = Retry::new("approval request", id);
        loop {
            let now = self.rt.now();
            let loaded = self.load(id).await?;
            let mut req = loaded.record.clone();
            req.cancel(format!("cancelled by {principal}: {reason}"), now)?;
            let exec = self.rt.store().execution(&req.execution_id).await?;
            let mut tx = Transaction::default();
            resolution_effects(&mut tx, &mut req, exec, now);
            if let Some(entry) = tx.audit.last_mut() {
                entry.principal = Some(principal.clone());
            }
            tx.writes.push(Write::Approval(
                req.clone(),
                Expected::Version(loaded.version),
            ));
            match self.rt.commit(tx).await {
                Ok(()) => return Ok(req),
                Err(err) => retry.again(err).await?,
            }
        }
    }

    /// Uses a grant for a call: checks it is unused, that the call is the one approved, and
    /// that the policy in force does not decide it differently; then marks it used.
    pub async fn redeem(&self, grant: &GrantId, call: &Call) -> Result<Grant, RuntimeError> {
        let policy = self.rt.policy().ok_or(RuntimeError::NoPolicy)?;
        let decision = policy.decide(&call.to_request())?;
        let fingerprint = super::escalation::fingerprint(&decision);
        let mut retry = Retry::new("grant", grant);
        loop {
            let now = self.rt.now();
            let loaded =
                self.rt
                    .store()
                    .grant(grant)
                    .await?
                    .ok_or_else(|| RuntimeError::NotFound {
                        what: "grant",
                        id: grant.to_string(),
                    })?;
            let mut g = loaded.record.clone();
            if let Err(refused) = g.redeem(
                call,
                policy.version(),
                decision.verdict(),
                &fingerprint,
                now,
            ) {
                let entry = AuditEntry::new(
                    AuditKind::GrantRefused,
                    now,
                    json!({"grant": grant, "action": call.action, "resource": call.resource,
                           "error": refused.to_string()}),
                )
                .execution(&g.execution_id)
                .request(&g.request_id);
                self.rt.store().append_audit(vec![entry]).await?;
                return Err(refused.into());
            }
            let tx = Transaction {
                audit: vec![grant_used_entry(&g, now)],
                writes: vec![Write::Grant(g.clone(), Expected::Version(loaded.version))],
                ..Transaction::default()
            };
            match self.rt.commit(tx).await {
                Ok(()) => return Ok(g),
                Err(err) => retry.again(err).await?,
            }
        }
    }
}

pub(crate) fn grant_used_entry(g: &Grant, now: Timestamp) -> AuditEntry {
    AuditEntry::new(
        AuditKind::GrantUsed,
        now,
        json!({"grant": g.id, "action": g.action, "resource": g.resource,
               "policyVersion": g.policy_version}),
    )
    .execution(&g.execution_id)
    .request(&g.request_id)
}

/// Everything that goes with a resolved request, added to its transaction: the execution
/// resumes, an approved bound request issues its grant, and the resolution is audited,
/// remembered and announced. `req` must already be resolved.
pub(crate) fn resolution_effects(
    tx: &mut Transaction,
    req: &mut ApprovalRequest,
    exec: Option<Versioned<Execution>>,
    now: Timestamp,
) {
    let approved_by = req.approved_by();
    if let Some(v) = exec {
        let mut e = v.record;
        if e.request_resolved(req.id.as_str(), now) {
            tx.writes
                .push(Write::Execution(e, Expected::Version(v.version)));
        }
    }
    if req.status == ApprovalStatus::Approved
        && let Some(binding) = &req.binding
    {
        let grant = Grant::issue(
            req.id.clone(),
            req.execution_id.clone(),
            binding,
            approved_by.clone(),
            now,
        );
        req.grant = Some(grant.id.clone());
        tx.audit.push(
            AuditEntry::new(
                AuditKind::GrantIssued,
                now,
                json!({"grant": grant.id, "action": grant.action, "resource": grant.resource,
                       "contextHash": grant.context_hash, "policyVersion": grant.policy_version}),
            )
            .execution(&req.execution_id)
            .request(&req.id),
        );
        tx.writes.push(Write::Grant(grant, Expected::New));
    }
    let status = req.status;
    let reason = req.reason.clone();
    tx.audit.push(
        AuditEntry::new(
            AuditKind::ApprovalResolved,
            now,
            json!({"status": status, "approvedBy": approved_by, "reason": reason,
                   "grant": req.grant}),
        )
        .execution(&req.execution_id)
        .request(&req.id),
    );
    let by = if approved_by.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = approved_by.iter().map(Principal::as_str).collect();
        format!(" by {}", names.join(", "))
    };
    let mut content = format!("Approval \"{}\" {status}{by}", req.title);
    if let Some(reason) = &reason {
        content.push_str(&format!(": {reason}"));
    }
    let mut memory = NewMemory::new(MemoryKind::Episodic, content)
        .tags(&["approval", status.as_str()])
        .importance(if status == ApprovalStatus::Approved {
            0.5
        } else {
            0.8
        })
        .meta("requestId", json!(req.id))
        .meta("status", json!(status))
        .meta("approvedBy", json!(approved_by))
        .meta("reason", json!(reason))
        .execution(&req.execution_id);
    if let Some(b) = &req.binding {
        memory = memory
            .meta("action", json!(b.action))
            .meta("resource", json!(b.resource))
            .meta("confidence", json!(b.confidence))
            .meta("outcome", json!(b.outcome));
        memory.tags.push("escalation".into());
    }
    if let Ok(memory) = memory.into_memory(now) {
        tx.memories.push(memory);
    }
    let mut recipients: Vec<Principal> = req.steps.iter().flat_map(|s| s.eligible()).collect();
    recipients.sort();
    recipients.dedup();
    let kind = if status == ApprovalStatus::TimedOut {
        NotificationKind::TimedOut
    } else {
        NotificationKind::Resolved
    };
    tx.notifications.push(Notification::new(
        kind,
        recipients,
        req.notify_via.clone(),
        req.title.clone(),
        format!(
            "{} is {status}{by}{}",
            req.id,
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        ),
        req.priority,
        Some(req.execution_id.clone()),
        Some(req.id.to_string()),
        now,
    ));
}
