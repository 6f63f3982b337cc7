//! The audit log over HTTP: an admin reads all of it, an agent the entries of its own
//! executions; in order, paged by sequence number.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Answer, ok, visible_execution};
use crate::model::AuditEntry;
use crate::server::app::AppState;
use crate::server::auth::{Caller, Role};
use crate::server::body::Params;
use crate::server::error::ApiError;
use crate::server::openapi::Errors;
use crate::store::AuditFilter;

const MAX_PAGE: usize = 500;

/// A page of the audit log: `{items, nextCursor}`, the cursor a sequence number for `after`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    /// The entries, each as the store keeps it.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    params(("executionId" = Option<String>, Query, description = "only this execution's entries; required for an agent"), ("after" = Option<u64>, Query, description = "entries after this sequence number"), ("kind" = Option<String>, Query, description = "only entries of this kind"), ("limit" = Option<u32>, Query, description = "at most 500")),
    responses((status = 200, description = "Audit entries in order of sequence number", body = AuditPage), Errors)
)]
pub async fn list(State(state): State<AppState>, caller: Caller, params: Params) -> Answer {
    params.allow(&["executionId", "after", "kind", "limit"])?;
    if caller.role == Role::Approver {
        return Err(ApiError::forbidden(
            "the audit log is read by an admin, or by an agent for its own executions",
        ));
    }
    let execution = match params.get("executionId") {
        Some(id) => Some(visible_execution(&state, &caller, id).await?.id),
        None if caller.is_admin() => None,
        None => {
            return Err(ApiError::invalid(
                "executionId",
                "an agent reads the audit log of its own executions: give `executionId`",
            ));
        }
    };
    let after = params.parsed("after", |v| {
        v.parse::<u64>()
            .map_err(|_| format!("`after` is a sequence number, found `{v}`"))
    })?;
    let limit = params
        .parsed("limit", |v| match v.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(format!(
                "`limit` must be a whole number from 1 to {MAX_PAGE}, found `{v}`"
            )),
        })?
        .unwrap_or(MAX_PAGE);
    let entries = state
        .rt
        .audit()
        .query(AuditFilter {
            execution,
            request: None,
            kind: params.get("kind").map(str::to_owned),
            after_seq: after,
            limit: Some(limit + 1),
        })
        .await?;
    let more = entries.len() > limit;
    let items: Vec<_> = entries.into_iter().take(limit).collect();
    let next = if more {
        items.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    ok(AuditPage {
        items,
        next_cursor: next,
    })
}
