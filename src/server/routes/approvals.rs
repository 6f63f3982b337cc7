//! Approval requests: the agent asks (`requestApproval`, single gate or chain) and waits; the
//! approvers listed on the open step vote, as the principal of their token. An agent token
//! never votes.

use std::str::FromStr;

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Answer, PAGING, awaits_vote, created, ok, page, sees_approval, visible_execution};
use crate::ir::Priority;
use crate::model::{ApprovalId, ApprovalRequest, ApprovalStatus, ExecutionId, StepSpec};
use crate::runtime::{ApprovalSpec, RuntimeError};
use crate::server::app::{AppState, Id};
use crate::server::auth::{Caller, Role};
use crate::server::body::{Json, Obj, Params};
use crate::server::error::ApiError;
use crate::server::openapi::{self, Errors};
use crate::server::{views, wait};
use crate::store::ApprovalFilter;

/// `POST /v1/executions/{id}/approvals` (`requestApproval`): a single gate (`approvers`) or a
/// chain of steps.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CreateApproval {
    pub title: String,
    pub description: Option<String>,
    /// Principals (`user:adam`), for a single gate.
    pub approvers: Option<Vec<String>>,
    pub min_approvals: Option<u32>,
    /// Milliseconds, or a duration such as `"1h"`.
    pub timeout: Option<DurationBody>,
    pub notify_via: Option<Vec<String>>,
    /// `low`, `normal`, `high` or `critical`.
    pub priority: Option<String>,
    pub chain: Option<Vec<ChainStep>>,
}

/// One step of a chain.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ChainStep {
    pub step: String,
    pub approvers: Vec<String>,
    pub min_approvals: Option<u32>,
    pub timeout: Option<DurationBody>,
}

/// Milliseconds, or a duration string such as `"1h"`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum DurationBody {
    Millis(u64),
    Text(String),
}

/// `POST .../approve`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ApproveBody {
    pub comment: Option<String>,
}

/// `POST .../reject`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RejectBody {
    pub reason: Option<String>,
}

/// `requestApproval`: opens the request and pauses the execution on it.
#[utoipa::path(
    post,
    path = "/v1/executions/{id}/approvals",
    tag = "approvals",
    params(("id" = String, Path, description = "the execution's id")),
    request_body = CreateApproval,
    responses((status = 201, description = "The approval request; the execution is paused on it", body = views::ApprovalView), Errors)
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let e = visible_execution(&state, &caller, &id).await?;
    if body.value("call").is_some() {
        return Err(ApiError::invalid(
            "call",
            "binding an approval to a call is done by `escalation-check`, which asks the policy and binds what it approves; this endpoint takes no `call` yet",
        ));
    }
    openapi::allow::<CreateApproval>(&body)?;
    let title = body.str("title")?;
    let steps = match (body.opt_objs("chain")?, body.value("approvers")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "approvers",
                "give `approvers` for a single gate or `chain` for a chain, not both",
            ));
        }
        (Some(chain), None) => {
            for key in ["minApprovals", "timeout"] {
                if body.value(key).is_some() {
                    return Err(ApiError::invalid(
                        key,
                        format!("`{key}` belongs in each step of the chain"),
                    ));
                }
            }
            let steps = chain.iter().map(step).collect::<Result<Vec<_>, _>>()?;
            if steps.is_empty() {
                return Err(ApiError::invalid(
                    "chain",
                    "a chain needs at least one step",
                ));
            }
            Some(steps)
        }
        (None, _) => None,
    };
    let mut spec = match steps {
        Some(steps) => ApprovalSpec::chain(title, steps),
        None => {
            let approvers = body.opt_principals("approvers")?.ok_or_else(|| {
                ApiError::invalid("approvers", "`approvers` (or a `chain`) is required")
            })?;
            ApprovalSpec::gate(title, gate_step(&body, "approval", approvers)?)
        }
    };
    spec.description = body.opt_str("description")?.unwrap_or_default();
    spec.notify_via = crate::server::notify::requested_channels(
        state.rt.channels(),
        body.opt_strs("notifyVia")?,
    )?;
    if let Some(p) = body.opt_str("priority")? {
        spec.priority = Some(Priority::from_str(&p).map_err(|()| {
            ApiError::invalid(
                "priority",
                format!(
                    "`{p}` is not a priority; use {}",
                    Priority::NAMES.join(", ")
                ),
            )
        })?);
    }
    let handle = state.rt.execution().request_approval(&e.id, spec).await?;
    created(views::approval(&handle.get().await?))
}

fn gate_step(
    o: &Obj,
    name: &str,
    approvers: Vec<crate::ir::Principal>,
) -> Result<StepSpec, ApiError> {
    let mut spec = StepSpec::new(name, approvers);
    if let Some(n) = o.opt_u64("minApprovals")? {
        spec.min_approvals = u32::try_from(n).map_err(|_| {
            ApiError::invalid(
                o.at("minApprovals"),
                format!("{n} is far more approvals than anyone can give"),
            )
        })?;
    }
    spec.timeout = o.opt_duration("timeout")?;
    Ok(spec)
}

fn step(o: &Obj) -> Result<StepSpec, ApiError> {
    openapi::allow::<ChainStep>(o)?;
    let name = o.str("step")?;
    let approvers = o.opt_principals("approvers")?.ok_or_else(|| {
        ApiError::invalid(
            o.at("approvers"),
            format!("`{}` is required", o.at("approvers")),
        )
    })?;
    gate_step(o, &name, approvers)
}

/// The request, if the caller may see it; 404 otherwise.
pub(crate) async fn visible(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<ApprovalRequest, ApiError> {
    match state.rt.approvals().get(&ApprovalId::from(id)).await {
        Ok(r) if sees_approval(caller, &r) => Ok(r),
        Ok(_) | Err(RuntimeError::NotFound { .. }) => {
            Err(ApiError::not_found("approval request", id))
        }
        Err(e) => Err(e.into()),
    }
}

/// The request; with `?wait=`, once it is resolved or when the wait ends.
#[utoipa::path(
    get,
    path = "/v1/approvals/{id}",
    tag = "approvals",
    params(("id" = String, Path, description = "the approval request's id"), ("wait" = Option<String>, Query, description = "how long to wait for the resolution: milliseconds or a duration such as `30s`, at most the configured `maxWait`")),
    responses((status = 200, description = "The request; with `wait`, once resolved or when the wait ends", body = views::ApprovalView), Errors)
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    params: Params,
) -> Answer {
    let r = wait::shown(&state, &params, ("approval", &id), || {
        visible(&state, &caller, &id)
    })
    .await?;
    ok(views::approval(&r))
}

/// What the caller may vote on now (`status=pending`), or sees; an agent's own requests, by
/// execution with `executionId`.
#[utoipa::path(
    get,
    path = "/v1/approvals",
    tag = "approvals",
    params(("status" = Option<String>, Query, description = "pending, approved, rejected, timed_out or cancelled"), ("executionId" = Option<String>, Query, description = "only this execution's requests"), ("limit" = Option<u32>, Query, description = "at most 200; 50 when not given"), ("cursor" = Option<String>, Query, description = "the `nextCursor` of the previous page")),
    responses((status = 200, description = "What the caller may vote on now (`status=pending`), or sees", body = views::Page<views::ApprovalView>), Errors)
)]
pub async fn list(State(state): State<AppState>, caller: Caller, params: Params) -> Answer {
    let mut allowed = vec!["status", "executionId"];
    allowed.extend(PAGING);
    params.allow(&allowed)?;
    let status = params.parsed("status", |s| s.parse::<ApprovalStatus>())?;
    let execution = match params.get("executionId") {
        Some(id) => Some(visible_execution(&state, &caller, id).await?.id),
        None => None,
    };
    let found = state
        .rt
        .approvals()
        .list(ApprovalFilter {
            status,
            execution: execution.clone().map(|e: ExecutionId| e),
            limit: None,
        })
        .await?;
    let mine: Vec<ApprovalRequest> = found
        .into_iter()
        .filter(|r| match (caller.role, status) {
            (_, Some(ApprovalStatus::Pending)) => awaits_vote(&caller, r),
            _ => sees_approval(&caller, r),
        })
        .collect();
    let (items, next) = page(mine, |r| r.id.as_str(), &params)?;
    ok(views::page(
        items.iter().map(views::approval).collect(),
        next,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/approvals/{id}/approve",
    tag = "approvals",
    params(("id" = String, Path, description = "the approval request's id")),
    request_body = ApproveBody,
    responses((status = 200, description = "The vote's receipt", body = views::ReceiptView), Errors)
)]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    openapi::allow::<ApproveBody>(&body)?;
    let comment = body.opt_str("comment")?;
    vote(&state, &caller, &id, Vote::Approve(comment)).await
}

#[utoipa::path(
    post,
    path = "/v1/approvals/{id}/reject",
    tag = "approvals",
    params(("id" = String, Path, description = "the approval request's id")),
    request_body = RejectBody,
    responses((status = 200, description = "The vote's receipt", body = views::ReceiptView), Errors)
)]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    openapi::allow::<RejectBody>(&body)?;
    let reason = body.opt_str("reason")?.unwrap_or_default();
    vote(&state, &caller, &id, Vote::Reject(reason)).await
}

enum Vote {
    Approve(Option<String>),
    Reject(String),
}

async fn vote(state: &AppState, caller: &Caller, id: &str, vote: Vote) -> Answer {
    if caller.role == Role::Agent {
        return Err(ApiError::forbidden(
            "an agent token never votes: approvals are given by people, with their own tokens",
        ));
    }
    let id = ApprovalId::from(id);
    let approvals = state.rt.approvals();
    let approving = matches!(vote, Vote::Approve(_));
    let receipt = match vote {
        Vote::Approve(comment) => {
            approvals
                .approve(&id, &caller.principal, comment.as_deref())
                .await?
        }
        Vote::Reject(reason) => approvals.reject(&id, &caller.principal, &reason).await?,
    };
    state.metrics.voted(approving, receipt.counted);
    let r = approvals.get(&id).await?;
    ok(views::receipt(&receipt, &r))
}
