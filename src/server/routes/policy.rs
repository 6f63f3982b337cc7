//! `/v1/policy`: the policy in force, read-only for now. Its changes over HTTP (`PUT` in YAML
//! or the DSL, the JSON rule lists, versions and rollback) are routes of this module, over the
//! store's policy versions.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::json;

use super::{Answer, ok};
use crate::server::app::AppState;
use crate::server::auth::Caller;

/// The policy's routes, merged under `/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/policy", get(show))
}

/// Any role may read the policy in force: agents decide against it, approvers see why they
/// are asked.
#[utoipa::path(
    get,
    path = "/v1/policy",
    tag = "policy",
    responses((status = 200, description = "The policy in force: `{version, name, language, text, loadedAt, loadedBy, lastError?}`", body = Object), crate::server::openapi::Errors)
)]
pub(crate) async fn show(State(state): State<AppState>, _caller: Caller) -> Answer {
    let p = &state.policy;
    let version = state.rt.policy().map(|live| live.version().to_owned());
    ok(json!({
        "version": version.unwrap_or_else(|| p.version.clone()),
        "name": p.name,
        "language": p.language,
        "text": p.text,
        "file": p.file,
        "loadedAt": p.loaded_at,
        "loadedBy": null,
    }))
}
