//! The one error type of the HTTP layer, and its mapping to statuses and the contract's body
//! `{"error": {"code", "message", "field"?}}` (section 1). Runtime errors are mapped here, in
//! one place, so that a handler only says `?`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::model::{ExecutionError, FeedbackError, GrantError, VoteError};
use crate::runtime::RuntimeError;
use crate::store::StoreError;

/// How long a client should wait before retrying after the store failed.
const RETRY_AFTER_SECONDS: &str = "1";

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    /// 400: the body is not JSON.
    pub fn bad_json(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_json", message)
    }

    /// 400: JSON, but not the shape asked for (an unknown key, a wrong type).
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message).field(field)
    }

    /// 422: the right shape, a value that is not allowed.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).field(field)
    }

    /// 401, never saying why.
    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid bearer token is needed",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404, also for what exists but the caller may not see.
    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} `{id}`"),
        )
    }

    pub fn no_route() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over the limit of {limit} bytes"),
        )
    }

    /// 503: the store did not answer; nothing was changed.
    pub fn unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the store is unavailable; nothing was changed, try again",
        )
    }

    /// 500: what went wrong is in the server's log, not in the answer.
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not answer; the error is in its log",
        )
    }

    /// The body of the answer.
    pub fn body(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let (Some(field), Some(map)) = (&self.field, error.as_object_mut()) {
            map.insert("field".into(), json!(field));
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body().to_string(),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Conflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", format!("{e}; try again"))
            }
            StoreError::Corrupt { .. } => {
                eprintln!("serve: {e}");
                ApiError::internal()
            }
            StoreError::Unavailable { .. } => {
                eprintln!("serve: {e}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the store is unavailable; try again (a change under way when it went away is whole or absent, never half done)",
                )
            }
            _ => {
                eprintln!("serve: {e}");
                ApiError::unavailable()
            }
        }
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> ApiError {
        let message = e.to_string();
        match e {
            RuntimeError::Store(s) => s.into(),
            RuntimeError::NotFound { what, id } => ApiError::not_found(what, &id),
            RuntimeError::InvalidInput { field, message } => ApiError::invalid(field, message),
            RuntimeError::Request(r) => ApiError::invalid(r.field, r.message),
            RuntimeError::Execution(ExecutionError::InvalidTransition { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "invalid_transition", message)
            }
            RuntimeError::Execution(ExecutionError::AwaitingHuman { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "invalid_transition", message)
            }
            RuntimeError::Vote(v) => match v {
                VoteError::AlreadyResolved { .. } | VoteError::DeadlinePassed { .. } => {
                    ApiError::new(StatusCode::CONFLICT, "already_resolved", message)
                }
                VoteError::NotAnApprover { .. }
                | VoteError::SelfApproval { .. }
                | VoteError::CrossStepVote { .. } => ApiError::forbidden(message),
            },
            RuntimeError::Feedback(f) => match f {
                FeedbackError::Invalid { errors, .. } => {
                    let field = errors
                        .first()
                        .map_or_else(|| "data".to_owned(), |e| format!("data.{}", e.field));
                    ApiError::invalid(field, message)
                }
                FeedbackError::NotARespondent { .. } | FeedbackError::SelfAnswer { .. } => {
                    ApiError::forbidden(message)
                }
                FeedbackError::AlreadyClosed { .. } | FeedbackError::DeadlinePassed { .. } => {
                    ApiError::new(StatusCode::CONFLICT, "already_resolved", message)
                }
            },
            RuntimeError::Grant(GrantError::AlreadyUsed { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "already_resolved", message)
            }
            RuntimeError::Grant(_) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            RuntimeError::NoPolicy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "no policy is in force yet; nothing was changed",
            ),
            RuntimeError::Contended { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
        }
    }
}
