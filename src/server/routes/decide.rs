//! `POST /v1/decide`: the policy in force decides a request, statelessly, for any role; the
//! answer is the decision as `eval --format json` prints it.

use axum::extract::State;
use serde_json::Value;

use super::{Answer, ok};
use crate::request::Request;
use crate::runtime::RuntimeError;
use crate::server::app::AppState;
use crate::server::auth::Caller;
use crate::server::body::Json;
use crate::server::error::ApiError;

pub async fn decide(State(state): State<AppState>, _caller: Caller, Json(body): Json) -> Answer {
    let request = Request::from_json(&Value::Object(body.into_map()))
        .map_err(|e| ApiError::invalid(e.field, e.message))?;
    let policy = state.rt.policy().ok_or(RuntimeError::NoPolicy)?;
    let decision = policy.decide(&request).map_err(RuntimeError::from)?;
    ok(serde_json::to_value(decision).unwrap_or(Value::Null))
}
