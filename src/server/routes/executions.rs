//! `/v1/executions`: the product document's `rekall.execution.*`. An execution belongs to the
//! agent whose token created it; only that agent (and an admin) sees or drives it.

use axum::extract::State;
use serde_json::Value;

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
use crate::server::views;
use crate::store::ExecutionFilter;

pub async fn create(State(state): State<AppState>, caller: Caller, Json(body): Json) -> Answer {
    if caller.role == Role::Approver {
        return Err(ApiError::forbidden(
            "an approver token does not create executions; use an agent token",
        ));
    }
    body.allow(&["name", "config"])?;
    let mut new = NewExecution::new(body.str("name")?).agent(caller.principal.clone());
    if let Some(config) = body.opt_obj("config")? {
        new.config = execution_config(&config)?;
    }
    let e = state.rt.execution().create(new).await?;
    created(views::execution(&e))
}

fn execution_config(o: &Obj) -> Result<ExecutionConfig, ApiError> {
    o.allow(&["onFailure", "checkpointInterval"])?;
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

pub async fn show(State(state): State<AppState>, caller: Caller, Id(id): Id) -> Answer {
    let e = visible_execution(&state, &caller, &id).await?;
    ok(views::execution(&e))
}

/// The caller's executions (an admin's: all), newest first.
pub async fn list(State(state): State<AppState>, caller: Caller, params: Params) -> Answer {
    let mut allowed = vec!["status"];
    allowed.extend(PAGING);
    params.allow(&allowed)?;
    if caller.role == Role::Approver {
        return ok(views::page(Vec::new(), None));
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

/// Loads the caller's execution and refuses any body field but `allowed`.
async fn own(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: &Obj,
    allowed: &[&str],
) -> Result<ExecutionId, ApiError> {
    let e = visible_execution(state, caller, id).await?;
    body.allow(allowed)?;
    Ok(e.id)
}

pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own(&state, &caller, &id, &body, &[]).await?;
    ok(views::execution(&state.rt.execution().start(&id).await?))
}

pub async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own(&state, &caller, &id, &body, &[]).await?;
    ok(views::execution(&state.rt.execution().pause(&id).await?))
}

pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own(&state, &caller, &id, &body, &[]).await?;
    ok(views::execution(&state.rt.execution().resume(&id).await?))
}

pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own(&state, &caller, &id, &body, &["reason"]).await?;
    let reason = body
        .opt_str("reason")?
        .unwrap_or_else(|| format!("cancelled by {}", caller.principal));
    ok(views::execution(
        &state.rt.execution().cancel(&id, &reason).await?,
    ))
}

pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own(&state, &caller, &id, &body, &["result"]).await?;
    let result = body.value("result").unwrap_or(Value::Null);
    ok(views::execution(
        &state.rt.execution().complete(&id, result).await?,
    ))
}

pub async fn fail(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own(&state, &caller, &id, &body, &["error"]).await?;
    let error = body.str("error")?;
    ok(views::execution(
        &state.rt.execution().fail(&id, &error).await?,
    ))
}

pub async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own(&state, &caller, &id, &body, &["step", "state", "message"]).await?;
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
pub async fn escalation_check(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let id = own(
        &state,
        &caller,
        &id,
        &body,
        &["action", "resource", "confidence", "context"],
    )
    .await?;
    let action = body.str("action")?;
    let mut call = Call::new(action).resource(body.opt_str("resource")?.unwrap_or_default());
    call.confidence = body.opt_f64("confidence")?;
    call.context = body.value("context").unwrap_or(Value::Null);
    let d = state.rt.execution().check_escalation(&id, call).await?;
    ok(views::escalation(&d))
}
