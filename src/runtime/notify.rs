//! Delivering notifications: the [`Notifier`] that tells people, and the loop that takes
//! them from the store's outbox after the change that queued them commits. A notifier that
//! fails or hangs is retried later and never holds up, or undoes, a decision.

use std::fmt;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::Runtime;
use super::error::RuntimeError;
use crate::ir::Duration;
use crate::model::{AuditEntry, AuditKind, BoxFuture, Notification};
use crate::store::Delivery;

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotifyError(pub String);

/// Delivers notifications (email, Slack, ... come with the server; the runtime ships a log
/// notifier and a recording one for tests).
pub trait Notifier: Send + Sync + fmt::Debug + 'static {
    fn notify<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), NotifyError>>;
}

/// Writes each notification as one JSON line to standard error: the default, so that nothing
/// is silently dropped before real channels are configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let line = serde_json::to_string(n).map_err(|e| NotifyError(e.to_string()))?;
            writeln!(
                std::io::stderr().lock(),
                "rekall-policy notification: {line}"
            )
            .map_err(|e| NotifyError(e.to_string()))
        })
    }
}

/// Keeps every notification it is given, for tests and simulations.
#[derive(Debug, Clone, Default)]
pub struct RecordingNotifier {
    sent: Arc<Mutex<Vec<Notification>>>,
}

impl RecordingNotifier {
    pub fn new() -> RecordingNotifier {
        RecordingNotifier::default()
    }

    /// What was delivered so far, in order.
    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Notifier for RecordingNotifier {
    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            self.sent
                .lock()
                .map_err(|_| NotifyError("recording notifier poisoned".into()))?
                .push(n.clone());
            Ok(())
        })
    }
}

/// How long one delivery may take before it counts as failed.
const DELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a claimed notification is leased to one deliverer.
const LEASE: Duration = Duration(60_000);
/// Deliveries tried before giving up; the failure stays in the audit log.
pub const MAX_ATTEMPTS: u32 = 8;

/// The wait before retry `attempt` (1-based): 1s, 2s, 4s, ... up to 5 minutes.
fn backoff(attempt: u32) -> Duration {
    let secs = 1u64 << attempt.saturating_sub(1).min(8);
    Duration(secs.min(300) * 1000)
}

impl Runtime {
    /// Delivers the notifications that are due now; returns how many were sent. Failures
    /// are recorded (audit `notification_failed`) and retried later with a growing wait.
    pub async fn deliver_notifications(&self) -> Result<usize, RuntimeError> {
        let mut sent = 0;
        loop {
            let now = self.now();
            let claimed = self
                .store()
                .claim_notifications(now, now.after(LEASE), 32)
                .await?;
            if claimed.is_empty() {
                return Ok(sent);
            }
            for c in claimed {
                let n = &c.notification;
                let result =
                    tokio::time::timeout(DELIVERY_TIMEOUT, self.inner.notifier.notify(n)).await;
                let attempt = c.attempts + 1;
                let error = match result {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.0),
                    Err(_) => Some(format!(
                        "the notifier did not answer within {}s",
                        DELIVERY_TIMEOUT.as_secs()
                    )),
                };
                let now = self.now();
                let base = || {
                    json!({"notification": n.id, "kind": n.kind, "recipients": n.recipients,
                           "channels": n.channels, "attempt": attempt})
                };
                let (delivery, kind, detail) = match error {
                    None => {
                        sent += 1;
                        (Delivery::Sent, AuditKind::NotificationSent, base())
                    }
                    Some(error) => {
                        let retry_at =
                            (attempt < MAX_ATTEMPTS).then(|| now.after(backoff(attempt)));
                        let mut detail = base();
                        detail["error"] = json!(error);
                        detail["retryAt"] = json!(retry_at);
                        (
                            Delivery::Failed { error, retry_at },
                            AuditKind::NotificationFailed,
                            detail,
                        )
                    }
                };
                let mut entry = AuditEntry::new(kind, now, detail);
                entry.execution_id = n.execution_id.clone();
                entry.request_id = n.request_id.clone();
                self.store()
                    .settle_notification(&n.id, delivery, entry)
                    .await?;
            }
        }
    }

    /// Delivers in the background, so that the caller of a state change never waits for a
    /// notifier.
    pub(crate) fn kick_delivery(&self) {
        let rt = self.clone();
        tokio::spawn(async move {
            // A failure here is retried by the next delivery pass (the background loop or
            // the next change); the notifications stay in the outbox.
            let _ = rt.deliver_notifications().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration(1_000));
        assert_eq!(backoff(2), Duration(2_000));
        assert_eq!(backoff(4), Duration(8_000));
        assert_eq!(backoff(20), Duration(256_000));
    }
}
