//! The runtime's error: what a call of the runtime API can fail with, from the store, a
//! record's state machine or the caller's input.

use crate::model::{ExecutionError, FeedbackError, GrantError, InvalidInput, VoteError};
use crate::request::RequestError;
use crate::store::StoreError;

/// Any error of the runtime API.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Execution(#[from] ExecutionError),
    #[error(transparent)]
    Vote(#[from] VoteError),
    #[error(transparent)]
    Feedback(#[from] FeedbackError),
    #[error(transparent)]
    Grant(#[from] GrantError),
    /// The call given to `check_escalation` is not a valid request (spec section 3).
    #[error("request {0}")]
    Request(#[from] RequestError),
    #[error("{what} `{id}` does not exist")]
    NotFound { what: &'static str, id: String },
    /// An argument is wrong; `field` is its name as written in the product document.
    #[error("{field}: {message}")]
    InvalidInput { field: String, message: String },
    #[error("no policy is loaded: give the runtime a policy before calling check_escalation")]
    NoPolicy,
    /// Optimistic updates kept conflicting with other writers; nothing was changed.
    #[error(
        "{what} `{id}` kept changing under concurrent updates; gave up after {attempts} attempts, nothing was changed"
    )]
    Contended {
        what: &'static str,
        id: String,
        attempts: u32,
    },
}

impl RuntimeError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> RuntimeError {
        RuntimeError::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<InvalidInput> for RuntimeError {
    fn from(e: InvalidInput) -> RuntimeError {
        RuntimeError::InvalidInput {
            field: e.field,
            message: e.message,
        }
    }
}
