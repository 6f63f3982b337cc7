//! The router: every endpoint of the contract under `/v1`, the edge middleware
//! (`X-Request-Id`), and the extractors that give a handler its caller and its ids.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::watch;

use super::auth::{Caller, Tokens};
use super::config::{Config, Limits};
use super::error::ApiError;
use super::idempotency;
use super::limits::{self, Edge};
use super::metrics::{self as metric, Metrics};
use super::{openapi, routes};
use crate::model::Origin;
use crate::runtime::Runtime;

/// What every handler shares. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub rt: Runtime,
    pub tokens: Arc<Tokens>,
    pub limits: Limits,
    pub config: Arc<Config>,
    /// Turns true when the server is stopping: waiters answer at once.
    pub stopping: watch::Receiver<bool>,
    pub metrics: Arc<Metrics>,
    /// Signs email links and inbox sessions.
    pub keys: Arc<super::keys::Keys>,
}

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const AGENT_INSTANCE: HeaderName = HeaderName::from_static("x-rekall-agent");

/// The most bytes of a request id or agent instance name taken from a client.
const MAX_ID_BYTES: usize = 128;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| state.tokens.from_header(v))
            .ok_or_else(ApiError::unauthenticated)
    }
}

/// A path's `{id}`.
#[derive(Debug, Clone)]
pub struct Id(pub String);

impl FromRequestParts<AppState> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Id, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| Id(p.0))
            .map_err(|_| ApiError::bad_request("id", "the id in the path cannot be read"))
    }
}

/// Letters, digits, `-`, `_`, `.` and `:`, at most [`MAX_ID_BYTES`]: anything else a client
/// sends is replaced, so that a log line cannot be forged through it.
fn sane(value: Option<&HeaderValue>) -> Option<String> {
    let text = value?.to_str().ok()?;
    let ok = !text.is_empty()
        && text.len() <= MAX_ID_BYTES
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    ok.then(|| text.to_owned())
}

/// Gives every request an id (the client's when sane, else a fresh one), records it with the
/// audit entries the request causes, and answers it in `X-Request-Id`.
async fn request_id(mut req: Request, next: Next) -> Response {
    let id = sane(req.headers().get(&REQUEST_ID))
        .unwrap_or_else(|| format!("req_{}", uuid::Uuid::now_v7().simple()));
    let origin = Origin {
        request_id: id.clone(),
        agent_instance: sane(req.headers().get(&AGENT_INSTANCE)),
    };
    // Handlers that record the id themselves (a policy version's) take it from here.
    req.extensions_mut().insert(origin.clone());
    let mut response = origin.scope(next.run(req)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

async fn no_route() -> Response {
    ApiError::no_route().into_response()
}

async fn wrong_method() -> Response {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
    .into_response()
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    use routes::{approvals, audit, decide, executions, feedback, health, memories, policy};
    let v1 = Router::new()
        .route(
            "/executions",
            post(executions::create).get(executions::list),
        )
        .route("/executions/{id}", get(executions::show))
        .route("/executions/{id}/start", post(executions::start))
        .route("/executions/{id}/pause", post(executions::pause))
        .route("/executions/{id}/resume", post(executions::resume))
        .route("/executions/{id}/cancel", post(executions::cancel))
        .route("/executions/{id}/complete", post(executions::complete))
        .route("/executions/{id}/fail", post(executions::fail))
        .route("/executions/{id}/checkpoint", post(executions::checkpoint))
        .route(
            "/executions/{id}/escalation-check",
            post(executions::escalation_check),
        )
        .route("/executions/{id}/approvals", post(approvals::create))
        .route("/executions/{id}/feedback", post(feedback::create))
        .route("/approvals", get(approvals::list))
        .route("/approvals/{id}", get(approvals::show))
        .route("/approvals/{id}/approve", post(approvals::approve))
        .route("/approvals/{id}/reject", post(approvals::reject))
        .route("/feedback", get(feedback::list))
        .route("/feedback/{id}", get(feedback::show))
        .route("/feedback/{id}/submit", post(feedback::submit))
        .route("/memories", post(memories::create).get(memories::list))
        .route("/audit", get(audit::list))
        .route("/decide", post(decide::decide))
        .route("/openapi.json", get(openapi::openapi_json))
        .merge(policy::routes());
    let edge = Edge::new(state.tokens.clone(), state.limits);
    // `Idempotency-Key` is a layer between the request id (which its replays keep, so a
    // replay answers with its own id) and the handlers, inside the rate and time limits (a
    // refused or timed-out request releases its key).
    Router::new()
        .merge(super::inbox::router(&state))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metric::metrics))
        .nest("/v1", v1)
        .merge(super::answers::routes(state.limits))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        // Outermost last: the request id, then the count of what was answered (a 500 from a
        // panic included), the panic catcher, the time limit, the rate limit, and the
        // idempotency keys.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .layer(middleware::from_fn_with_state(
            edge.clone(),
            limits::rate_limit,
        ))
        .layer(middleware::from_fn_with_state(edge, limits::time_limit))
        .layer(middleware::from_fn(limits::catch_panic))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metric::count_requests,
        ))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_request_ids_are_taken() {
        let h = |s: &str| HeaderValue::from_str(s).ok();
        assert_eq!(
            sane(h("abc-123_x.y:z").as_ref()),
            Some("abc-123_x.y:z".into())
        );
        for bad in ["", "a b", "a\tb", "ü", &"x".repeat(MAX_ID_BYTES + 1)] {
            assert_eq!(sane(h(bad).as_ref()), None, "{bad:?}");
        }
        assert!(sane(h(&"x".repeat(MAX_ID_BYTES)).as_ref()).is_some());
    }
}
