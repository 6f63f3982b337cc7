//! `/healthz` (the process answers) and `/readyz` (the store answers too); no token needed.

use axum::extract::State;
use serde_json::json;

use super::{Answer, ok};
use crate::server::app::AppState;
use crate::server::error::ApiError;
use crate::store::ExecutionFilter;

pub async fn healthz() -> Answer {
    ok(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> Answer {
    state
        .rt
        .store()
        .executions(ExecutionFilter {
            status: None,
            limit: Some(1),
        })
        .await
        .map_err(|_| ApiError::unavailable())?;
    if *state.stopping.borrow() {
        return Err(ApiError::unavailable());
    }
    ok(json!({"status": "ready"}))
}
