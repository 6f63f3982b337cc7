//! Deadlines: found by querying the store, never held in memory, so that one that passed
//! while every process was down is handled by the next one to start. Handling is a normal
//! versioned update, so several processes may race to handle the same deadline and exactly
//! one succeeds. A timeout never approves: it re-routes once (`onTimeout: escalate`) or
//! resolves the request as `timed_out`.

use std::sync::Weak;

use serde_json::json;

use super::approval::resolution_effects;
use super::error::RuntimeError;
use super::{Inner, Retry, Runtime};
use crate::model::{
    ApprovalId, AuditEntry, AuditKind, DueEffect, FeedbackId, MemoryKind, NewMemory, Notification,
    NotificationKind,
};
use crate::store::{Due, Expected, Transaction, Write};

impl Runtime {
    /// Handles every deadline and reminder due now; returns how many requests changed.
    /// The background loop and waiters call it; call it yourself when running without them.
    pub async fn process_due(&self) -> Result<usize, RuntimeError> {
        let due = self.store().due(self.now()).await?;
        let mut changed = 0;
        for item in due {
            let did = match item {
                Due::Approval(id) => self.approval_due(&id).await?,
                Due::Feedback(id) => self.feedback_due(&id).await?,
            };
            changed += usize::from(did);
        }
        Ok(changed)
    }

    async fn approval_due(&self, id: &ApprovalId) -> Result<bool, RuntimeError> {
        let mut retry = Retry::new("approval request", id);
        loop {
            let now = self.now();
            let Some(loaded) = self.store().approval(id).await? else {
                return Ok(false);
            };
            let mut req = loaded.record.clone();
            let effects = req.handle_due(now);
            if effects.is_empty() {
                // Someone else handled it first, or a vote resolved it meanwhile.
                return Ok(false);
            }
            let mut tx = Transaction::default();
            let step = req
                .current_step()
                .map(|s| s.spec.step.clone())
                .unwrap_or_default();
            for effect in &effects {
                match effect {
                    DueEffect::Reminder(to) => {
                        tx.audit.push(
                            AuditEntry::new(
                                AuditKind::Reminder,
                                now,
                                json!({"step": step, "to": to}),
                            )
                            .execution(&req.execution_id)
                            .request(id),
                        );
                        tx.notifications.push(Notification::new(
                            NotificationKind::Reminder,
                            to.clone(),
                            req.notify_via.clone(),
                            req.title.clone(),
                            format!("Reminder: {} waits for your vote at step `{step}`", req.id),
                            req.priority,
                            Some(req.execution_id.clone()),
                            Some(id.to_string()),
                            now,
                        ));
                    }
                    DueEffect::Escalated(to) => {
                        let deadline = req.current_step().and_then(|s| s.deadline);
                        tx.audit.push(
                            AuditEntry::new(
                                AuditKind::Escalated,
                                now,
                                json!({"step": step, "to": to, "deadline": deadline,
                                       "why": "timeout"}),
                            )
                            .execution(&req.execution_id)
                            .request(id),
                        );
                        tx.notifications.push(Notification::new(
                            NotificationKind::Escalated,
                            to.clone(),
                            req.notify_via.clone(),
                            req.title.clone(),
                            format!(
                                "{} got no decision in time at step `{step}` and is escalated to you",
                                req.id
                            ),
                            req.priority,
                            Some(req.execution_id.clone()),
                            Some(id.to_string()),
                            now,
                        ));
                        let names: Vec<&str> = to.iter().map(|p| p.as_str()).collect();
                        let memory = NewMemory::new(
                            MemoryKind::Episodic,
                            format!(
                                "Approval \"{}\" got no decision in time at step `{step}`; escalated to {}",
                                req.title,
                                names.join(", ")
                            ),
                        )
                        .tags(&["escalation", "timeout"])
                        .importance(0.7)
                        .meta("requestId", json!(req.id))
                        .meta("escalateTo", json!(to))
                        .execution(&req.execution_id);
                        tx.memories.push(memory.into_memory(now)?);
                    }
                    DueEffect::TimedOut => {}
                }
            }
            if effects.contains(&DueEffect::TimedOut) {
                let exec = self.store().execution(&req.execution_id).await?;
                resolution_effects(&mut tx, &mut req, exec, now);
            }
            tx.writes
                .push(Write::Approval(req, Expected::Version(loaded.version)));
            match self.commit(tx).await {
                Ok(()) => return Ok(true),
                Err(err) => retry.again(err).await?,
            }
        }
    }

    async fn feedback_due(&self, id: &FeedbackId) -> Result<bool, RuntimeError> {
        let mut retry = Retry::new("feedback request", id);
        loop {
            let now = self.now();
            let Some(loaded) = self.store().feedback(id).await? else {
                return Ok(false);
            };
            let mut req = loaded.record.clone();
            if !req.handle_due(now) {
                return Ok(false);
            }
            let exec = self.store().execution(&req.execution_id).await?;
            let mut tx = Transaction::default();
            super::feedback::resolution_effects(&mut tx, &req, exec, now);
            tx.writes
                .push(Write::Feedback(req, Expected::Version(loaded.version)));
            match self.commit(tx).await {
                Ok(()) => return Ok(true),
                Err(err) => retry.again(err).await?,
            }
        }
    }
}

/// Starts the loop that handles deadlines, reminders and deliveries for as long as the
/// runtime lives. It holds the runtime weakly, so dropping the last handle stops it.
/// The store's lease on handling deadlines, and how long a holder keeps it without renewing:
/// a node that dies holding it delays the deadlines it would have handled by at most this.
pub const DEADLINE_LEASE_NAME: &str = "deadlines";
pub const DEADLINE_LEASE_MS: u64 = 5_000;

pub(super) fn spawn_background(rt: &Runtime) {
    let weak = std::sync::Arc::downgrade(&rt.inner);
    tokio::spawn(background(weak));
}

/// The least time between two passes of the background loop that a change started: on a
/// busy store (several nodes, hundreds of commits a second) the commits of that time make
/// one pass, not one each. Deliveries of this process's own commits do not wait for it
/// (they are started right after the commit), nor do deadlines (timed on their own).
const CHANGE_PASS_GAP: std::time::Duration = std::time::Duration::from_millis(100);

async fn background(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let rt = Runtime { inner };
        let mut changes = rt.subscribe();
        changes.borrow_and_update();
        let pass = tokio::time::Instant::now();
        let worked = async {
            // Of several nodes on one store, the one holding the lease handles deadlines and
            // reminders; the others take over when it stops renewing (it died). Waiters whose
            // own deadline falls handle it wherever they are: every effect is a versioned
            // update, so it still happens once.
            let now = rt.now();
            let until = now.after(crate::ir::Duration(DEADLINE_LEASE_MS));
            if rt
                .store()
                .lease(DEADLINE_LEASE_NAME, rt.node(), now, until)
                .await?
            {
                rt.process_due().await?;
            }
            rt.deliver_notifications().await?;
            // Hourly at most; a failed prune is tried again later and holds nothing up.
            rt.idempotency().prune_if_due().await.ok();
            let due = rt.store().next_due().await?;
            let note = rt.store().next_notification().await?;
            Ok::<_, RuntimeError>(match (due, note) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            })
        }
        .await;
        let clock = rt.clock().clone();
        let poll = rt.poll_interval();
        // Do not keep the runtime alive while sleeping.
        drop(rt);
        // If the store failed (busy, gone), try again after a poll interval.
        let next = worked.unwrap_or_default();
        let deadline = async {
            match next {
                Some(at) => clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return; // the runtime is gone
                }
                tokio::time::sleep_until(pass + CHANGE_PASS_GAP).await;
            }
            () = tokio::time::sleep(poll) => {}
            () = deadline => {}
        }
    }
}
