//! `POST /v1/decide`: the policy in force decides a request, statelessly, for any role; the
//! answer is the decision as `eval --format json` prints it.

use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{Answer, ok};
use crate::request::Request;
use crate::runtime::RuntimeError;
use crate::server::app::AppState;
use crate::server::auth::Caller;
use crate::server::body::Json;
use crate::server::error::ApiError;
use crate::server::openapi::Errors;

/// A call as the policy decides it, and as `eval` takes it: the body of `POST /v1/decide` and
/// of `escalation-check`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CallBody {
    pub action: String,
    pub resource: Option<String>,
    /// From 0 to 1.
    pub confidence: Option<f64>,
    pub context: Option<Value>,
}

#[utoipa::path(
    post,
    path = "/v1/decide",
    tag = "policy",
    request_body = CallBody,
    responses((status = 200, description = "The decision, as `eval --format json` prints it", body = Object), Errors)
)]
pub async fn decide(State(state): State<AppState>, _caller: Caller, Json(body): Json) -> Answer {
    let request = Request::from_json(&Value::Object(body.into_map()))
        .map_err(|e| ApiError::invalid(e.field, e.message))?;
    let policy = state.rt.policy().ok_or(RuntimeError::NoPolicy)?;
    let decision = crate::server::metrics::timed(
        &state.metrics,
        || policy.decide(&request),
        |d| d.as_ref().ok().map(|d| d.outcome()),
    )
    .map_err(RuntimeError::from)?;
    ok(decision)
}
