//! Delivering notifications: the [`Notifier`] that tells people, and the loop that takes
//! them from the store's outbox after the change that queued them commits. A notifier that
//! fails or hangs is retried later and never holds up, or undoes, a decision.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::Runtime;
use super::error::RuntimeError;
use crate::ir::{Duration, Principal};
use crate::model::{AuditEntry, AuditKind, BoxFuture, Notification};
use crate::store::{Claimed, Delivery};

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotifyError(pub String);

/// Delivers notifications (email, Slack, ... come with the server; the runtime ships a log
/// notifier and a recording one for tests).
///
/// A notification may make several deliveries ([`Notifier::targets`]: an email to each
/// recipient, one Slack message, ...). Each is tried, audited and retried on its own, so that a
/// retry after a partial failure sends only what failed.
pub trait Notifier: Send + Sync + fmt::Debug + 'static {
    /// Delivers the whole notification at once.
    fn notify<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), NotifyError>>;

    /// The deliveries `notification` makes; by default one, of the whole of it.
    fn targets(&self, notification: &Notification) -> Vec<Target> {
        let _ = notification;
        vec![Target::whole()]
    }

    /// Makes one of the deliveries [`Notifier::targets`] named.
    fn notify_target<'a>(
        &'a self,
        notification: &'a Notification,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<(), NotifyError>> {
        let _ = target;
        self.notify(notification)
    }
}

/// One delivery of a notification: a channel, and the one recipient it is for when the
/// channel reaches people one by one (an email).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub channel: String,
    pub recipient: Option<Principal>,
}

impl Target {
    /// The whole notification, for a notifier that delivers it in one go.
    pub fn whole() -> Target {
        Target::channel(ALL_CHANNELS)
    }

    /// A channel that takes the notification once for all its recipients.
    pub fn channel(name: impl Into<String>) -> Target {
        Target {
            channel: name.into(),
            recipient: None,
        }
    }

    /// A channel that reaches `recipient` on its own.
    pub fn to(name: impl Into<String>, recipient: &Principal) -> Target {
        Target {
            channel: name.into(),
            recipient: Some(recipient.clone()),
        }
    }

    /// What the store remembers of a delivery that succeeded.
    pub fn key(&self) -> String {
        match &self.recipient {
            Some(p) => format!("{} {p}", self.channel),
            None => self.channel.clone(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.recipient {
            Some(p) => write!(f, "{} to {p}", self.channel),
            None => f.write_str(&self.channel),
        }
    }
}

/// The channel name of [`Target::whole`].
pub const ALL_CHANNELS: &str = "all";

/// The channels a policy's `notifyVia` and a request's may name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Channels {
    /// Any name: the notifier takes every notification whatever its channels (the log
    /// notifier of a server started without a configuration).
    #[default]
    Any,
    /// Only these; any other name is refused where it is written.
    Only(BTreeSet<String>),
}

impl Channels {
    /// Whether `name` may be asked for.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            Channels::Any => true,
            Channels::Only(names) => names.contains(name),
        }
    }

    /// The first of `names` that may not be asked for, with why, as one sentence.
    pub fn refuse(&self, names: &[String]) -> Option<String> {
        let bad = names.iter().find(|n| !self.allows(n))?;
        Some(format!(
            "the notification channel `{bad}` is not configured; {}",
            self.configured()
        ))
    }

    /// The configured names, as the end of a sentence.
    pub fn configured(&self) -> String {
        match self {
            Channels::Any => "any channel is accepted".into(),
            Channels::Only(names) if names.is_empty() => {
                "no channel is configured in the server's configuration".into()
            }
            Channels::Only(names) => format!(
                "the configured channels are: {}",
                names
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
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
            // Side by side, so that a batch of slow endpoints takes one time limit and not
            // one each: its lease must not run out while it is still being delivered.
            let results =
                futures_util::future::join_all(claimed.into_iter().map(|c| self.deliver_one(c)))
                    .await;
            for done in results {
                sent += usize::from(done?);
            }
        }
    }

    /// Makes the deliveries of one claimed notification that have not succeeded before,
    /// side by side (each with its own time limit), and records how they went: whether all
    /// have now succeeded.
    async fn deliver_one(&self, c: Claimed) -> Result<bool, RuntimeError> {
        let n = &c.notification;
        let notifier = &self.inner.notifier;
        let attempt = c.attempts + 1;
        let targets: Vec<Target> = notifier
            .targets(n)
            .into_iter()
            .filter(|t| !c.delivered.contains(&t.key()))
            .collect();
        let results = futures_util::future::join_all(targets.iter().map(|t| async move {
            let result = tokio::time::timeout(DELIVERY_TIMEOUT, notifier.notify_target(n, t)).await;
            match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.0),
                Err(_) => Err(format!("no answer within {}s", DELIVERY_TIMEOUT.as_secs())),
            }
        }))
        .await;
        let mut delivered = c.delivered.clone();
        let mut deliveries = Vec::new();
        let mut errors = Vec::new();
        for (target, result) in targets.iter().zip(results) {
            let mut d = json!({"channel": target.channel, "recipient": target.recipient,
                               "ok": result.is_ok()});
            match result {
                Ok(()) => delivered.push(target.key()),
                Err(error) => {
                    errors.push(format!("{target}: {error}"));
                    d["error"] = json!(error);
                }
            }
            deliveries.push(d);
        }
        let now = self.now();
        let mut detail = json!({"notification": n.id, "kind": n.kind,
                                "recipients": n.recipients, "channels": n.channels,
                                "attempt": attempt, "deliveries": deliveries});
        let done = errors.is_empty();
        let (delivery, kind) = if done {
            (Delivery::Sent, AuditKind::NotificationSent)
        } else {
            let error = errors.join("; ");
            let retry_at = (attempt < MAX_ATTEMPTS).then(|| now.after(backoff(attempt)));
            detail["error"] = json!(error);
            detail["retryAt"] = json!(retry_at);
            (
                Delivery::Failed {
                    error,
                    retry_at,
                    delivered,
                },
                AuditKind::NotificationFailed,
            )
        };
        let mut entry = AuditEntry::new(kind, now, detail);
        entry.execution_id = n.execution_id.clone();
        entry.request_id = n.request_id.clone();
        self.store()
            .settle_notification(&n.id, delivery, entry)
            .await?;
        Ok(done)
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
