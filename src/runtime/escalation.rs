//! `check_escalation`: ask the policy in force about a call the agent is about to make, and
//! act on the answer. `auto-approve` and `notify-and-proceed` go ahead (the latter telling
//! people); `request-approval` and `escalate` open an approval request from the decision and
//! pause the execution, unless an unused grant for this exact call is at hand; `deny` does
//! not go ahead. Every decision is in the audit log with its request, so the log replays
//! through `rekall-policy eval --input`.

use serde::Serialize;
use serde_json::{Value, json};

use super::Retry;
use super::approval::{ApprovalSpec, grant_used_entry};
use super::error::RuntimeError;
use super::execution::Executions;
use super::learning::ThresholdReport;
use crate::decision::Decision;
use crate::ir::{OnTimeout, Outcome, Priority};
use crate::learn::Route;
use crate::model::{
    ApprovalId, AuditEntry, AuditKind, Binding, Call, ExecutionError, ExecutionId, ExecutionStatus,
    GrantError, GrantId, LearnedCall, MemoryKind, NewMemory, Notification, NotificationKind,
    Operation, StepSpec, hash_json, transition,
};
use crate::policy::AdaptiveRule;
use crate::store::{Expected, Transaction, Write};

/// The answer to `check_escalation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EscalationDecision {
    /// Whether the agent may go ahead now.
    pub approved: bool,
    pub outcome: Outcome,
    /// Why, for the agent's log and for people.
    pub reason: String,
    /// The approval request opened for it (the execution is paused until it is resolved).
    pub request: Option<ApprovalId>,
    /// The grant used, when an earlier approval of this exact call let it go ahead.
    pub grant: Option<GrantId>,
    pub policy_version: String,
    /// The policy's decision, in the JSON form of `rekall-policy eval` (with `threshold` when
    /// the call is of an adaptive class).
    pub decision: Value,
    /// For a call of an adaptive class: the policy's threshold and the one in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<ThresholdReport>,
    /// Whether the audit sample sent a call the policy auto-approves to a person.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub audit: bool,
}

/// A hash of what a decision asks for (outcome, approvers, gate): a policy swap that leaves
/// it the same leaves grants valid.
pub(crate) fn fingerprint(decision: &Decision<'_>) -> String {
    hash_json(&serde_json::to_value(decision.verdict()).unwrap_or(Value::Null))
}

impl Executions<'_> {
    /// Checks a call against the policy in force; see the module docs.
    pub async fn check_escalation(
        &self,
        execution: &ExecutionId,
        call: Call,
    ) -> Result<EscalationDecision, RuntimeError> {
        // Another process may have moved a threshold (a person accepted a proposal).
        if self
            .rt
            .policy()
            .is_some_and(|p| !p.adaptive_rules().is_empty())
        {
            self.rt.refresh_thresholds().await?;
        }
        let policy = self.rt.policy().ok_or(RuntimeError::NoPolicy)?;
        let request = call.to_request();
        // A `perAgent` rule decides with the calling agent's own threshold; the agent of an
        // execution never changes, so one read of it is enough.
        let agent = if policy.has_per_agent() {
            Some(self.load(execution).await?.record.agent)
        } else {
            None
        };
        let decision = policy.decide_as(&request, agent.as_ref())?;
        let outcome = decision.outcome();
        let fingerprint = fingerprint(&decision);
        let mut decision_json = serde_json::to_value(decision).unwrap_or(Value::Null);
        let version = policy.version().to_owned();
        let adaptive = policy
            .adaptive_rules()
            .iter()
            .find(|r| r.matches(&call.action, &call.resource));
        let threshold = adaptive.map(|r| ThresholdReport {
            class: r.class_for(agent.as_ref()),
            policy: r.threshold,
            effective: policy.threshold(r, agent.as_ref()),
        });
        if let (Some(t), Some(map)) = (&threshold, decision_json.as_object_mut()) {
            map.insert(
                "threshold".into(),
                json!({"class": t.class, "policy": t.policy, "effective": t.effective}),
            );
        }
        // The adaptive rule itself auto-approves this call: it is above the threshold in
        // force, and the audit sample may still send it to a person.
        let auto_by_rule = adaptive.filter(|r| {
            outcome == Outcome::AutoApprove && decision.escalation_rule() == Some(r.rule)
        });
        let audited = auto_by_rule.filter(|r| {
            r.settings.audit_rate > 0.0 && self.rt.audit_draw() < r.settings.audit_rate
        });
        let confidence = call.confidence.unwrap_or(0.0);
        let learned = |route: Route, e: &ExecutionId, now| {
            adaptive.map(|r| LearnedCall {
                seq: 0,
                class: r.class_for(agent.as_ref()),
                execution_id: e.clone(),
                action: call.action.clone(),
                resource: call.resource.clone(),
                context_hash: call.context_hash(),
                request_id: None,
                confidence,
                route,
                label: None,
                source: None,
                note: None,
                at: now,
            })
        };
        let answer = |approved: bool, reason: String| EscalationDecision {
            approved,
            outcome,
            reason,
            request: None,
            grant: None,
            policy_version: version.clone(),
            decision: decision_json.clone(),
            threshold: threshold.clone(),
            audit: false,
        };

        let mut retry = Retry::new("execution", execution);
        loop {
            let now = self.rt.now();
            let loaded = self.load(execution).await?;
            let e = &loaded.record;
            if transition(
                e.status,
                e.paused_by.as_ref(),
                Operation::Check,
                e.config.on_failure,
            )
            .is_none()
            {
                return Err(ExecutionError::InvalidTransition {
                    execution: e.id.clone(),
                    operation: Operation::Check.as_str(),
                    from: e.status,
                    to: ExecutionStatus::Running,
                }
                .into());
            }
            let decided = AuditEntry::new(
                AuditKind::Decision,
                now,
                json!({"request": request.to_json(), "decision": decision_json,
                       "policyVersion": version}),
            )
            .execution(&e.id)
            .by(&e.agent);
            let mut tx = Transaction {
                audit: vec![decided],
                ..Transaction::default()
            };
            if let Some(rule) = audited {
                tx.calls.extend(learned(Route::Audit, &e.id, now));
                let spec = audit_gate(rule, &call, &decision, confidence);
                let names: Vec<&str> = rule.approvers.iter().map(|p| p.as_str()).collect();
                let reason = format!(
                    "audit sample: waiting for approval by {} ({} of the calls the policy auto-approves at or above {} go to a person): {}",
                    names.join(", "),
                    rule.settings.audit_rate,
                    policy.threshold(rule, agent.as_ref()),
                    decision.reason()
                );
                let id = self.rt.open_approval(loaded, spec, tx).await?;
                let mut d = answer(false, reason);
                d.outcome = Outcome::RequestApproval;
                d.request = Some(id);
                d.audit = true;
                return Ok(d);
            }
            let result = match outcome {
                Outcome::AutoApprove => {
                    if auto_by_rule.is_some() {
                        tx.calls.extend(learned(Route::Auto, &e.id, now));
                    }
                    answer(true, decision.reason())
                }
                Outcome::NotifyAndProceed => {
                    let v = decision.verdict();
                    tx.notifications.push(Notification::new(
                        NotificationKind::Proceeding,
                        v.approvers.clone(),
                        v.notify_via.clone(),
                        format!(
                            "{} is proceeding with {} on {}",
                            e.agent, call.action, call.resource
                        ),
                        format!(
                            "{} goes ahead with {} on `{}` at confidence {}: {}",
                            e.agent,
                            call.action,
                            call.resource,
                            confidence_text(call.confidence),
                            decision.reason()
                        ),
                        v.priority,
                        Some(e.id.clone()),
                        None,
                        now,
                    ));
                    answer(true, decision.reason())
                }
                Outcome::Deny => answer(false, format!("denied: {}", decision.reason())),
                Outcome::RequestApproval | Outcome::Escalate => {
                    // An approval of this exact call, under a policy that decides it the
                    // same, lets it go ahead once.
                    let grants = self
                        .rt
                        .store()
                        .unused_grants(&e.id, &call.action, &call.resource, &call.context_hash())
                        .await?;
                    let mut used = None;
                    for g in grants {
                        let mut grant = g.record.clone();
                        match grant.redeem(&call, &version, decision.verdict(), &fingerprint, now) {
                            Ok(()) => {
                                tx.audit.push(grant_used_entry(&grant, now));
                                tx.writes.push(Write::Grant(
                                    grant.clone(),
                                    Expected::Version(g.version),
                                ));
                                used = Some(grant);
                                break;
                            }
                            Err(
                                refused @ (GrantError::PolicyChanged { .. }
                                | GrantError::StricterDecision { .. }),
                            ) => {
                                tx.audit.push(
                                    AuditEntry::new(
                                        AuditKind::GrantRefused,
                                        now,
                                        json!({"grant": grant.id, "error": refused.to_string()}),
                                    )
                                    .execution(&e.id)
                                    .request(&grant.request_id),
                                );
                            }
                            Err(_) => {}
                        }
                    }
                    if let Some(grant) = used {
                        let names: Vec<&str> =
                            grant.approved_by.iter().map(|p| p.as_str()).collect();
                        let mut d = answer(
                            true,
                            format!(
                                "approved by {} in {}; grant {} used",
                                names.join(", "),
                                grant.request_id,
                                grant.id
                            ),
                        );
                        d.grant = Some(grant.id);
                        d
                    } else {
                        let spec = gate_for(&decision, &call, &version, &fingerprint);
                        tx.calls.extend(learned(Route::Human, &e.id, now));
                        tx.memories
                            .push(escalation_memory(&call, &decision, &e.id).into_memory(now)?);
                        let approvers: Vec<&str> =
                            decision.approvers().iter().map(|p| p.as_str()).collect();
                        let id = self.rt.open_approval(loaded, spec, tx).await?;
                        let mut d = answer(
                            false,
                            format!(
                                "waiting for approval by {} ({outcome}): {}",
                                approvers.join(", "),
                                decision.reason()
                            ),
                        );
                        d.request = Some(id);
                        return Ok(d);
                    }
                }
            };
            match self.rt.commit(tx).await {
                Ok(()) => return Ok(result),
                Err(err) => retry.again(err).await?,
            }
        }
    }
}

/// The approval request a decision asks for: its chain, or a single gate.
fn gate_for(
    decision: &Decision<'_>,
    call: &Call,
    version: &str,
    fingerprint: &str,
) -> ApprovalSpec {
    let v = decision.verdict();
    let outcome = v.outcome;
    let title = format!("{outcome}: {} on `{}`", call.action, call.resource);
    let mut spec = if v.chain.is_empty() {
        let step = StepSpec {
            step: "approval".into(),
            approvers: v.approvers.clone(),
            min_approvals: v.min_approvals.unwrap_or(1),
            timeout: v.timeout,
            on_timeout: v.on_timeout.unwrap_or(OnTimeout::Reject),
            escalate_to: v.escalate_to.clone(),
            remind_every: v.remind_every,
        };
        ApprovalSpec::gate(title, step)
    } else {
        ApprovalSpec::chain(title, v.chain.iter().map(StepSpec::from).collect())
    };
    spec.description = format!(
        "{}\n\nAction: {}\nResource: {}\nConfidence: {}\nContext: {}",
        decision.reason(),
        call.action,
        call.resource,
        confidence_text(call.confidence),
        serde_json::to_string_pretty(&call.context).unwrap_or_default()
    );
    spec.notify_via = v.notify_via.clone();
    spec.priority = v
        .priority
        .or((outcome == Outcome::Escalate).then_some(Priority::High));
    spec.binding = Some(Binding {
        action: call.action.clone(),
        resource: call.resource.clone(),
        confidence: call.confidence,
        context: call.context.clone(),
        context_hash: call.context_hash(),
        policy_version: version.to_owned(),
        decision_fingerprint: fingerprint.to_owned(),
        outcome,
    });
    spec
}

/// The approval an audit-sampled call asks for: the adapt approvers, one of whom suffices,
/// with no grant (the call goes ahead when the request is approved).
fn audit_gate(
    rule: &AdaptiveRule,
    call: &Call,
    decision: &Decision<'_>,
    confidence: f64,
) -> ApprovalSpec {
    let step = StepSpec::new("audit", rule.approvers.clone());
    ApprovalSpec::gate(
        format!("audit: {} on `{}`", call.action, call.resource),
        step,
    )
    .description(format!(
        "The policy auto-approves this call ({}); it was drawn for the audit sample of `{}`, \
         so that the threshold learns from calls no one would otherwise see. Approve if the call \
         is right, reject if it is not.\n\nAction: {}\nResource: {}\nConfidence: {confidence}\nContext: {}",
        decision.reason(),
        rule.class,
        call.action,
        call.resource,
        serde_json::to_string_pretty(&call.context).unwrap_or_default()
    ))
}

fn escalation_memory(call: &Call, decision: &Decision<'_>, execution: &ExecutionId) -> NewMemory {
    let v = decision.verdict();
    let important = matches!(v.priority, Some(Priority::High | Priority::Critical));
    let approvers: Vec<&str> = v.approvers.iter().map(|p| p.as_str()).collect();
    NewMemory::new(
        MemoryKind::Episodic,
        format!(
            "Escalated {} on `{}` at confidence {} ({}) to {}",
            call.action,
            call.resource,
            confidence_text(call.confidence),
            v.outcome,
            approvers.join(", ")
        ),
    )
    .tags(&["escalation", v.outcome.as_str()])
    .importance(if important { 0.8 } else { 0.6 })
    .meta("action", json!(call.action))
    .meta("resource", json!(call.resource))
    .meta("confidence", json!(call.confidence))
    .meta("context", call.context.clone())
    .meta("outcome", json!(v.outcome))
    .meta("reason", json!(decision.reason()))
    .execution(execution)
}

fn confidence_text(c: Option<f64>) -> String {
    c.map_or_else(|| "not given (0)".to_owned(), |c| c.to_string())
}
