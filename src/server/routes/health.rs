//! `/healthz` (the process answers) and `/readyz` (the store answers too); no token needed.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Answer, ok};
use crate::server::app::AppState;
use crate::server::error::ApiError;
use crate::store::ExecutionFilter;

/// `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The process is up", body = Health))
)]
pub async fn healthz() -> Answer {
    ok(Health { status: "ok" })
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    security(()),
    responses(
        (status = 200, description = "The store answers", body = Health),
        (status = 503, description = "The store does not answer, or the server is stopping", body = crate::server::openapi::ErrorBody)
    )
)]
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
    ok(Health { status: "ready" })
}
