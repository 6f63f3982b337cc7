//! A feedback request as stored, and the rules for answering it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::FeedbackError;
use super::form::{Artifact, Form};
use super::ids::{ExecutionId, FeedbackId};
use super::time::Timestamp;
use crate::ir::{Duration, Principal};

/// Where a feedback request is. Everything but `pending` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackStatus {
    Pending,
    Submitted,
    TimedOut,
    Cancelled,
}

impl FeedbackStatus {
    pub const ALL: [FeedbackStatus; 4] = [
        FeedbackStatus::Pending,
        FeedbackStatus::Submitted,
        FeedbackStatus::TimedOut,
        FeedbackStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackStatus::Pending => "pending",
            FeedbackStatus::Submitted => "submitted",
            FeedbackStatus::TimedOut => "timed_out",
            FeedbackStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for FeedbackStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FeedbackStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FeedbackStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a feedback status"))
    }
}

/// A request for structured feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackRequest {
    pub id: FeedbackId,
    pub execution_id: ExecutionId,
    pub requested_by: Principal,
    pub title: String,
    pub description: String,
    pub artifacts: Vec<Artifact>,
    pub form: Form,
    /// Who may answer; empty means anyone but the agent that asked.
    pub respondents: Vec<Principal>,
    pub notify_via: Vec<String>,
    pub timeout: Option<Duration>,
    pub deadline: Option<Timestamp>,
    pub status: FeedbackStatus,
    pub answers: Option<Map<String, Value>>,
    pub submitted_by: Option<Principal>,
    pub created_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
}

impl FeedbackRequest {
    pub fn next_due(&self) -> Option<Timestamp> {
        (self.status == FeedbackStatus::Pending)
            .then_some(self.deadline)
            .flatten()
    }

    /// Records an answer after checking who gives it, when, and that it fits the form.
    pub fn submit(
        &mut self,
        principal: &Principal,
        answers: Map<String, Value>,
        now: Timestamp,
    ) -> Result<(), FeedbackError> {
        if self.status != FeedbackStatus::Pending {
            return Err(FeedbackError::AlreadyClosed {
                request: self.id.clone(),
                status: self.status,
            });
        }
        if let Some(deadline) = self.deadline
            && now >= deadline
        {
            return Err(FeedbackError::DeadlinePassed {
                request: self.id.clone(),
                deadline,
            });
        }
        if principal == &self.requested_by {
            return Err(FeedbackError::SelfAnswer {
                request: self.id.clone(),
                principal: principal.clone(),
            });
        }
        if !self.respondents.is_empty() && !self.respondents.contains(principal) {
            return Err(FeedbackError::NotARespondent {
                request: self.id.clone(),
                principal: principal.clone(),
                respondents: self.respondents.clone(),
            });
        }
        self.form
            .validate(&answers)
            .map_err(|errors| FeedbackError::Invalid {
                request: self.id.clone(),
                errors,
            })?;
        self.status = FeedbackStatus::Submitted;
        self.answers = Some(answers);
        self.submitted_by = Some(principal.clone());
        self.resolved_at = Some(now);
        Ok(())
    }

    /// Times the request out if its deadline has passed; returns whether it did.
    pub fn handle_due(&mut self, now: Timestamp) -> bool {
        match self.next_due() {
            Some(deadline) if deadline <= now => {
                self.status = FeedbackStatus::TimedOut;
                self.resolved_at = Some(now);
                true
            }
            _ => false,
        }
    }

    pub fn cancel(&mut self, now: Timestamp) -> Result<(), FeedbackError> {
        if self.status != FeedbackStatus::Pending {
            return Err(FeedbackError::AlreadyClosed {
                request: self.id.clone(),
                status: self.status,
            });
        }
        self.status = FeedbackStatus::Cancelled;
        self.resolved_at = Some(now);
        Ok(())
    }
}
