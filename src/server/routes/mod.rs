//! The handlers, one module per resource, and what they share: who may see which record,
//! and paging. A record the caller may not see answers 404, as if it did not exist, so that
//! no read tells one principal about another's work.

pub mod approvals;
pub mod audit;
pub mod decide;
pub mod executions;
pub mod feedback;
pub mod health;
pub mod memories;
pub mod policy;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::app::AppState;
use super::auth::{Caller, Role};
use super::body::Params;
use super::error::ApiError;
use crate::model::{ApprovalRequest, Execution, ExecutionId, FeedbackRequest};
use crate::runtime::RuntimeError;

/// What a handler answers.
pub type Answer = Result<Response, ApiError>;

/// 200 with a JSON body.
pub fn ok(body: impl Serialize) -> Answer {
    json_response(StatusCode::OK, body)
}

/// 201 with the created record.
pub fn created(body: impl Serialize) -> Answer {
    json_response(StatusCode::CREATED, body)
}

fn json_response(status: StatusCode, body: impl Serialize) -> Answer {
    let text = serde_json::to_string(&body).map_err(|e| {
        eprintln!("serve: an answer could not be written as JSON: {e}");
        ApiError::internal()
    })?;
    Ok((
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response())
}

/// Whether the caller may see an execution: its own agent, or an admin.
pub fn sees_execution(caller: &Caller, e: &Execution) -> bool {
    caller.is_admin() || (caller.role == Role::Agent && e.agent == caller.principal)
}

/// Whether the caller may see an approval request: the agent that asked, an admin, or an
/// approver listed on a step that has opened (the current one or an earlier one; later steps'
/// approvers have not been asked yet).
pub fn sees_approval(caller: &Caller, r: &ApprovalRequest) -> bool {
    match caller.role {
        Role::Admin => true,
        Role::Agent => r.requested_by == caller.principal,
        Role::Approver => r
            .steps
            .iter()
            .take(r.current + 1)
            .any(|s| s.eligible().contains(&caller.principal)),
    }
}

/// Whether a pending request waits for the caller's vote now: for an approver, listed on the
/// open step and not voted yet; for an admin, every pending request (as `GET
/// /v1/approvals?status=pending` lists it; the vote itself still needs a listing); for an
/// agent, its own.
pub fn awaits_vote(caller: &Caller, r: &ApprovalRequest) -> bool {
    r.status == crate::model::ApprovalStatus::Pending
        && match caller.role {
            Role::Approver => r.may_vote(&caller.principal),
            Role::Admin | Role::Agent => sees_approval(caller, r),
        }
}

/// Whether the caller may see a feedback request: the agent that asked, an admin, or an
/// approver who may answer it (listed, or any approver when no reviewers are named).
pub fn sees_feedback(caller: &Caller, r: &FeedbackRequest) -> bool {
    match caller.role {
        Role::Admin => true,
        Role::Agent => r.requested_by == caller.principal,
        Role::Approver => r.respondents.is_empty() || r.respondents.contains(&caller.principal),
    }
}

/// The execution a caller names, if the caller may see it; 404 otherwise.
pub async fn visible_execution(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Execution, ApiError> {
    let not_found = || ApiError::not_found("execution", id);
    match state.rt.execution().get(&ExecutionId::from(id)).await {
        Ok(e) if sees_execution(caller, &e) => Ok(e),
        Ok(_) | Err(RuntimeError::NotFound { .. }) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

/// The most items one page holds, and how many when the caller does not say.
const MAX_PAGE: usize = 200;
const DEFAULT_PAGE: usize = 50;

/// One page of items sorted newest first by id (ids are time-ordered): those after the
/// `cursor` (the last id of the previous page), at most `limit`.
pub fn page<T>(
    mut items: Vec<T>,
    id: impl Fn(&T) -> &str,
    params: &Params,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = params
        .parsed("limit", |v| match v.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(format!(
                "`limit` must be a whole number from 1 to {MAX_PAGE}, found `{v}`"
            )),
        })?
        .unwrap_or(DEFAULT_PAGE);
    items.sort_by(|a, b| id(b).cmp(id(a)));
    if let Some(cursor) = params.get("cursor") {
        items.retain(|item| id(item) < cursor);
    }
    let more = items.len() > limit;
    items.truncate(limit);
    let next = if more {
        items.last().map(|item| id(item).to_owned())
    } else {
        None
    };
    Ok((items, next))
}

/// The query parameters that paging takes.
pub const PAGING: [&str; 2] = ["limit", "cursor"];
