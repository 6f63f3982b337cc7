//! Notifications: who is told what. A notification is written to the store's outbox in the
//! same transaction as the change it announces, and delivered after it commits (see
//! `runtime::Notifier`).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::{ExecutionId, NotificationId};
use super::time::Timestamp;
use crate::ir::{Principal, Priority};

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A new approval request, to the first step's approvers.
    ApprovalRequested,
    /// A chain step was approved; the next step's approvers are asked.
    NextStep,
    /// Approvers who have not voted are reminded (`remindEvery`).
    Reminder,
    /// A step timed out and was re-routed to `escalateTo`.
    Escalated,
    /// A request was resolved (approved, rejected, cancelled).
    Resolved,
    /// A request timed out.
    TimedOut,
    /// `notify-and-proceed`: the agent went ahead and tells people.
    Proceeding,
    FeedbackRequested,
    FeedbackResolved,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::ApprovalRequested => "approval_requested",
            NotificationKind::NextStep => "next_step",
            NotificationKind::Reminder => "reminder",
            NotificationKind::Escalated => "escalated",
            NotificationKind::Resolved => "resolved",
            NotificationKind::TimedOut => "timed_out",
            NotificationKind::Proceeding => "proceeding",
            NotificationKind::FeedbackRequested => "feedback_requested",
            NotificationKind::FeedbackResolved => "feedback_resolved",
        }
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: NotificationId,
    pub kind: NotificationKind,
    pub recipients: Vec<Principal>,
    /// The channels asked for (`notifyVia`): `email`, `slack`, ...
    pub channels: Vec<String>,
    pub title: String,
    pub message: String,
    pub priority: Option<Priority>,
    pub execution_id: Option<ExecutionId>,
    pub request_id: Option<String>,
    pub created_at: Timestamp,
}

impl Notification {
    #[allow(clippy::too_many_arguments)] // every field is needed; a builder would only hide them
    pub(crate) fn new(
        kind: NotificationKind,
        recipients: Vec<Principal>,
        channels: Vec<String>,
        title: String,
        message: String,
        priority: Option<Priority>,
        execution_id: Option<ExecutionId>,
        request_id: Option<String>,
        now: Timestamp,
    ) -> Notification {
        Notification {
            id: NotificationId::generate(),
            kind,
            recipients,
            channels,
            title,
            message,
            priority,
            execution_id,
            request_id,
            created_at: now,
        }
    }
}
