//! Answers from outside the API and the inbox (contract section 5): the signed links of
//! approval emails ([`email`]) and the buttons of Slack messages ([`slack`]). Neither carries
//! a bearer token: the voter is the approver a link was signed for, or the principal the
//! configuration maps a Slack user to, never a name in the request. Every refusal is an
//! [`AuditKind::AnswerRefused`] entry naming the channel and why.
//!
//! A vote from either goes through the runtime exactly as `POST /v1/approvals/{id}/approve`
//! does, so that the same rules count it: one vote per approver and request, only the open
//! step's approvers, never the agent that asked.

pub mod email;
pub mod response_url;
pub mod slack;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{Map, Value, json};

use super::app::AppState;
use super::config::Limits;
use super::limits::RateLimiter;
use super::links::LINK_PATH;
use crate::ir::Principal;
use crate::model::{ApprovalId, AuditEntry, AuditKind, ExecutionId};

/// The routes of both channels, with their full paths.
pub fn routes(limits: Limits) -> Router<AppState> {
    Router::new()
        .route(
            &format!("{LINK_PATH}/{{token}}"),
            get(email::show).post(email::answer),
        )
        .route(slack::PATH, post(slack::interaction))
        .layer(Extension(Throttle::new(limits)))
}

/// `limits.ratePerToken` for answers that carry no token: the edge's limiter keys on the
/// bearer token and lets these pass, so they are limited here, by the identity a verified
/// link or signature gives (`email:user:adam`, `slack:U012ABCDEF`), and every unverified one
/// shares one bucket per channel. A flood of forged links or signatures is then answered 429
/// before it costs a store read or an audit entry, and no one's answers wait for it.
#[derive(Debug, Clone)]
pub struct Throttle(Option<Arc<RateLimiter>>);

impl Throttle {
    pub fn new(limits: Limits) -> Throttle {
        Throttle(limits.rate_per_token.map(|r| Arc::new(RateLimiter::new(r))))
    }

    /// Takes one answer of `key`'s allowance; when none is left, how long until one is.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        match &self.0 {
            Some(limiter) => limiter.take(key, Instant::now()),
            None => Ok(()),
        }
    }
}

/// Whole seconds for `Retry-After`, rounded up and at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Where a refused answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Slack,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Slack => "slack",
        }
    }
}

/// An answer refused before (or instead of) a counted vote, as the audit log records it.
#[derive(Debug, Clone)]
pub struct Refused {
    pub channel: Channel,
    /// A short code: `tampered`, `expired`, `used`, `bad_signature`, `replay`, ...
    pub reason: &'static str,
    /// One sentence for a person.
    pub message: String,
    pub request: Option<String>,
    pub execution: Option<ExecutionId>,
    pub principal: Option<Principal>,
    /// More that the entry keeps (the Slack user id, the link's choice).
    pub detail: Map<String, Value>,
}

impl Refused {
    pub fn new(channel: Channel, reason: &'static str, message: impl Into<String>) -> Refused {
        Refused {
            channel,
            reason,
            message: message.into(),
            request: None,
            execution: None,
            principal: None,
            detail: Map::new(),
        }
    }

    pub fn request(mut self, id: impl Into<String>) -> Refused {
        self.request = Some(id.into());
        self
    }

    pub fn execution(mut self, id: &ExecutionId) -> Refused {
        self.execution = Some(id.clone());
        self
    }

    pub fn by(mut self, principal: &Principal) -> Refused {
        self.principal = Some(principal.clone());
        self
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Refused {
        self.detail.insert(key.to_owned(), value.into());
        self
    }
}

/// Writes the refusal's audit entry. The refusal stands whether or not the entry could be
/// written (the answer is refused either way); a store that fails is logged.
pub async fn audit(state: &AppState, refused: &Refused) {
    let mut detail = refused.detail.clone();
    detail.insert("channel".into(), json!(refused.channel.as_str()));
    detail.insert("reason".into(), json!(refused.reason));
    detail.insert("message".into(), json!(refused.message));
    let mut entry = AuditEntry::new(
        AuditKind::AnswerRefused,
        state.rt.now(),
        Value::Object(detail),
    );
    let mut execution = refused.execution.clone();
    if let (None, Some(id)) = (&execution, &refused.request) {
        // The request's execution, so that the agent reading its own execution's log sees
        // the refusal too; an id that names no request leaves it out.
        if let Ok(Some(r)) = state
            .rt
            .store()
            .approval(&ApprovalId::from(id.as_str()))
            .await
        {
            execution = Some(r.record.execution_id);
        }
    }
    if let Some(id) = &execution {
        entry = entry.execution(id);
    }
    if let Some(id) = &refused.request {
        entry = entry.request(id);
    }
    if let Some(p) = &refused.principal {
        entry = entry.by(p);
    }
    if let Err(e) = state.rt.store().append_audit(vec![entry]).await {
        eprintln!(
            "serve: the audit entry of a refused {} answer ({}) could not be written: {e}",
            refused.channel.as_str(),
            refused.reason
        );
    }
}
