//! `/v1/executions`: the product document's `rekall.execution.*`. An execution belongs to the
//! agent whose token created it; only that agent (and an admin) sees or drives it.

use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

// `POST .../escalation-check` (`checkEscalation`) takes a call as `/v1/decide` does.
use super::decide::CallBody as EscalationCheck;
use super::{Answer, PAGING, created, ok, page, visible_execution};
use crate::ir::Duration;
use crate::model::{
    Call, CheckpointInterval, ExecutionConfig, ExecutionId, ExecutionStatus, OnFailure,
};
use crate::runtime::NewExecution;
use crate::server::app::{AppState, Id};
use crate::server::auth::{Caller, Role};
use crate::server::body::{Json, Obj, Params};
use crate::server::error::ApiError;
use crate::server::openapi::{self, Errors};
use crate::server::views;
use crate::store::ExecutionFilter;

/// `POST /v1/executions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CreateExecution {
    pub name: String,
    pub config: Option<ExecutionConfigBody>,
}

/// An execution's `config`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ExecutionConfigBody {
    /// `fail` (the default) or `pause`.
    pub on_failure: Option<String>,
    /// `per-step`, or milliseconds, or a duration such as `"5m"`.
    pub checkpoint_interval: Option<Value>,
}

/// A body with no fields (it may be empty).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

/// `POST .../cancel`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CancelExecution {
    pub reason: Option<String>,
}

/// `POST .../complete`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CompleteExecution {
    /// Whatever the execution produced.
    pub result: Option<Value>,
}

/// `POST .../fail`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct FailExecution {
    pub error: String,
}

/// `POST .../checkpoint`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct NewCheckpoint {
    /// The number of the step finished.
    pub step: u64,
    /// What a resumed agent reads back; the previous state is kept when not given.
    pub state: Option<Value>,
    pub message: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/executions",
    tag = "executions",
    request_body = CreateExecution,
    responses((status = 201, description = "The execution created, owned by the token's agent", body = views::ExecutionView), Errors)
)]
pub async fn create(State(state): State<AppState>, caller: Caller, Json(body): Json) -> Answer {
    if caller.role == Role::Approver {
        return Err(ApiError::forbidden(
            "an approver token does not create executions; use an agent token",
        ));
    }
    openapi::allow::<CreateExecution>(&body)?;
    let mut new = NewExecution::new(body.str("name")?).agent(caller.principal.clone());
    if let Some(config) = body.opt_obj("config")? {
        new.config = execution_config(&config)?;
    }
    let e = state.rt.execution().create(new).await?;
    created(views::execution(&e))
}

fn execution_config(o: &Obj) -> Result<ExecutionConfig, ApiError> {
    openapi::allow::<ExecutionConfigBody>(o)?;
    let mut config = ExecutionConfig::default();
    if let Some(f) = o.opt_str("onFailure")? {
        config.on_failure = match f.as_str() {
            "fail" => OnFailure::Fail,
            "pause" => OnFailure::Pause,
            _ => {
                return Err(ApiError::invalid(
                    o.at("onFailure"),
                    format!("`{f}` is not an onFailure; use fail or pause"),
                ));
            }
        };
    }
    match o.value("checkpointInterval") {
        None => {}
        Some(Value::String(s)) if s == "per-step" => {
            config.checkpoint_interval = CheckpointInterval::PerStep;
        }
        Some(_) => {
            let every: Option<Duration> = o.opt_duration("checkpointInterval")?;
            if let Some(d) = every {
                config.checkpoint_interval = CheckpointInterval::Every(d);
            }
        }
    }
    Ok(config)
}

#[utoipa::path(
    get,
    path = "/v1/executions/{id}",
    tag = "executions",
    params(("id" = String, Path, description = "the execution's id")),
    responses((status = 200, description = "The execution, with `waitingOn` and its last checkpoint", body = views::ExecutionView), Errors)
)]
pub async fn show(State(state): State<AppState>, caller: Caller, Id(id): Id) -> Answer {
    let e = visible_execution(&state, &caller, &id).await?;
    ok(views::execution(&e))
}

/// The caller's executions (an admin's: all), newest first.
#[utoipa::path(
    get,
    path = "/v1/executions",
    tag = "executions",
    params(("status" = Option<String>, Query, description = "created, running, paused, completed, failed or cancelled"), ("limit" = Option<u32>, Query, description = "at most 200; 50 when not given"), ("cursor" = Option<String>, Query, description = "the `nextCursor` of the previous page")),
    responses((status = 200, description = "The caller's executions (an admin's: all), newest first", body = views::Page<views::ExecutionView>), Errors)
)]
pub async fn list(State(state): State<AppState>, caller: Caller, params: Params) -> Answer {
    let mut allowed = vec!["status"];
    allowed.extend(PAGING);
    params.allow(&allowed)?;
    if caller.role == Role::Approver {
        return ok(views::page(Vec::<views::ExecutionView>::new(), None));
    }
    let status = params.parsed("status", |s| s.parse::<ExecutionStatus>())?;
    let mut found = state
        .rt
        .execution()
        .list(ExecutionFilter {
            status,
            limit: None,
        })
        .await?;
    if !caller.is_admin() {
        found.retain(|e| e.agent == caller.principal);
    }
    let (items, next) = page(found, |e| e.id.as_str(), &params)?;
    ok(views::page(
        items.iter().map(views::execution).collect(),
        next,
    ))
}

/// Loads the caller's execution and refuses any body field that `B` does not have.
async fn own<B: ToSchema>(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: &Obj,
) -> Result<ExecutionId, ApiError> {
    let e = visible_execution(state, caller, id).await?;
    openapi::allow::<B>(body)?;
    Ok(e.id)
}

#[utoipa::path(
    post,
    path = "/v1/executions/{id}/start",
    tag = "executions",
    params(("id" = String, Path, description = "the execution's id")),
    request_body = NoFields,
    responses((status = 200, description = "The execution", body = views::ExecutionView), Errors)
)]
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own::<NoFields>(&state, &caller, &id, &body).await?;
    ok(views::execution(&state.rt.execution().start(&id).await?))
}

#[utoipa::path(
    post,
    path = "/v1/executions/{id}/pause",
    tag = "executions",
    params(("id" = String, Path, description = "the execution's id")),
    request_body = NoFields,
    responses((status = 200, description = "The execution", body = views::ExecutionView), Errors)
)]
pub async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own::<NoFields>(&state, &caller, &id, &body).await?;
    ok(views::execution(&state.rt.execution().pause(&id).await?))
}

#[utoipa::path(
    post,
    path = "/v1/executions/{id}/resume",
    tag = "executions",
    params(("id" = String, Path, description = "the execution's id")),
    request_body = NoFields,
    responses((status = 200, description = "The execution", body = views::ExecutionView), Errors)
)]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own::<NoFields>(&state, &caller, &id, &body).await?;
    ok(views::execution(&state.rt.execution().resume(&id).await?))
}

#[utoipa::path(
    post,
    path = "/v1/executions/{id}/cancel",
    tag = "executions",
    params(("id" = String, Path, description = "the execution's id")),
    request_body = CancelExecution,
    responses((status = 200, description = "The execution", body = views::ExecutionView), Errors)
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own::<CancelExecution>(&state, &caller, &id, &body).await?;
    let reason = body
        .opt_str("reason")?
        .unwrap_or_else(|| format!("cancelled by {}", caller.principal));
    ok(views::execution(
        &state.rt.execution().cancel(&id, &reason).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/executions/{id}/complete",
    tag = "executions",
    params(("id" = String, Path, description = "the execution's id")),
    request_body = CompleteExecution,
    responses((status = 200, description = "The execution", body = views::ExecutionView), Errors)
)]
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own::<CompleteExecution>(&state, &caller, &id, &body).await?;
    let result = body.value("result").unwrap_or(Value::Null);
    ok(views::execution(
        &state.rt.execution().complete(&id, result).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/executions/{id}/fail",
    tag = "executions",
    params(("id" = String, Path, description = "the execution's id")),
    request_body = FailExecution,
    responses((status = 200, description = "The execution, paused or failed as its `onFailure` says", body = views::ExecutionView), Errors)
)]
pub async fn fail(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own::<FailExecution>(&state, &caller, &id, &body).await?;
    let error = body.str("error")?;
    ok(views::execution(
        &state.rt.execution().fail(&id, &error).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/executions/{id}/checkpoint",
    tag = "executions",
    params(("id" = String, Path, description = "the execution's id")),
    request_body = NewCheckpoint,
    responses((status = 201, description = "The checkpoint", body = views::CheckpointView), Errors)
)]
pub async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own::<NewCheckpoint>(&state, &caller, &id, &body).await?;
    let step = body.opt_u64("step")?.ok_or_else(|| {
        ApiError::invalid(
            "step",
            "`step` is required: the number of the step finished",
        )
    })?;
    let message = body.opt_str("message")?.unwrap_or_default();
    let c = state
        .rt
        .execution()
        .checkpoint(&id, step, body.value("state"), &message)
        .await?;
    created(views::checkpoint(&c))
}

/// `checkEscalation`: the policy decides the call; when it is not approved, the execution is
/// paused on the approval it opened.
#[utoipa::path(
    post,
    path = "/v1/executions/{id}/escalation-check",
    tag = "executions",
    params(("id" = String, Path, description = "the execution's id")),
    request_body = EscalationCheck,
    responses((status = 200, description = "The policy's answer; when not approved, the execution is paused on the approval it opened", body = views::EscalationView), Errors)
)]
pub async fn escalation_check(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own::<EscalationCheck>(&state, &caller, &id, &body).await?;
    let action = body.str("action")?;
    let mut call = Call::new(action).resource(body.opt_str("resource")?.unwrap_or_default());
    call.confidence = body.opt_f64("confidence")?;
    call.context = body.value("context").unwrap_or(Value::Null);
    let d = state.rt.execution().check_escalation(&id, call).await?;
    state.metrics.decided(d.outcome, None);
    ok(views::escalation(&d))
}
