//! Feedback requests: a form the agent asks people to fill in (`requestFeedback`), answered by
//! a reviewer with answers checked field by field against the form.

use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{Answer, PAGING, created, ok, page, sees_feedback, visible_execution};
use crate::model::{Artifact, FeedbackId, FeedbackRequest, FeedbackStatus, Form};
use crate::runtime::{FeedbackSpec, RuntimeError};
use crate::server::app::{AppState, Id};
use crate::server::auth::{Caller, Role};
use crate::server::body::{Json, Params};
use crate::server::error::ApiError;
use crate::server::openapi::{self, Errors};
use crate::server::routes::approvals::DurationBody;
use crate::server::{views, wait};
use crate::store::FeedbackFilter;

/// `POST /v1/executions/{id}/feedback` (`requestFeedback`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CreateFeedback {
    pub title: String,
    pub description: Option<String>,
    /// `[{type, content, language?, title?}]`.
    pub artifacts: Option<Vec<Value>>,
    /// `{fields: [...]}`.
    #[schema(value_type = Object)]
    pub form: Value,
    /// Milliseconds, or a duration such as `"1h"`.
    pub timeout: Option<DurationBody>,
    /// Principals who may answer; any approver when not given.
    pub reviewers: Option<Vec<String>>,
    pub notify_via: Option<Vec<String>>,
}

/// `POST /v1/feedback/{id}/submit`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SubmitFeedback {
    /// The answers by field name.
    #[schema(value_type = Object)]
    pub data: Value,
}

#[utoipa::path(
    post,
    path = "/v1/executions/{id}/feedback",
    tag = "feedback",
    params(("id" = String, Path, description = "the execution's id")),
    request_body = CreateFeedback,
    responses((status = 201, description = "The feedback request; the execution is paused on it", body = views::FeedbackView), Errors)
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    let e = visible_execution(&state, &caller, &id).await?;
    openapi::allow::<CreateFeedback>(&body)?;
    let title = body.str("title")?;
    let form_value = body
        .value("form")
        .ok_or_else(|| ApiError::invalid("form", "`form` is required: `{fields: [...]}`"))?;
    let form: Form = serde_json::from_value(form_value)
        .map_err(|e| ApiError::invalid("form", format!("`form` is not a form: {e}")))?;
    let mut spec = FeedbackSpec::new(title, form);
    spec.description = body.opt_str("description")?.unwrap_or_default();
    if let Some(artifacts) = body.value("artifacts") {
        spec.artifacts = serde_json::from_value::<Vec<Artifact>>(artifacts).map_err(|e| {
            ApiError::invalid(
                "artifacts",
                format!("`artifacts` must be a list of {{type, content, language?, title?}}: {e}"),
            )
        })?;
    }
    spec.respondents = body.opt_principals("reviewers")?.unwrap_or_default();
    spec.notify_via = crate::server::notify::requested_channels(
        state.rt.channels(),
        body.opt_strs("notifyVia")?,
    )?;
    spec.timeout = body.opt_duration("timeout")?;
    let handle = state.rt.execution().request_feedback(&e.id, spec).await?;
    let r = state.rt.feedback().get(handle.id()).await?;
    created(views::feedback(&r))
}

/// The request, if the caller may see it; 404 otherwise (the inbox asks the same).
pub(crate) async fn visible(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<FeedbackRequest, ApiError> {
    match state.rt.feedback().get(&FeedbackId::from(id)).await {
        Ok(r) if sees_feedback(caller, &r) => Ok(r),
        Ok(_) | Err(RuntimeError::NotFound { .. }) => {
            Err(ApiError::not_found("feedback request", id))
        }
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    get,
    path = "/v1/feedback/{id}",
    tag = "feedback",
    params(("id" = String, Path, description = "the feedback request's id"), ("wait" = Option<String>, Query, description = "how long to wait for the answer: milliseconds or a duration such as `30s`, at most the configured `maxWait`")),
    responses((status = 200, description = "The request; once answered, `data` holds the answers by field name", body = views::FeedbackView), Errors)
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    params: Params,
) -> Answer {
    let r = wait::shown(&state, &params, ("feedback", &id), || {
        visible(&state, &caller, &id)
    })
    .await?;
    ok(views::feedback(&r))
}

/// What the caller may answer now (`status=pending`), or sees.
#[utoipa::path(
    get,
    path = "/v1/feedback",
    tag = "feedback",
    params(("status" = Option<String>, Query, description = "pending, submitted, timed_out or cancelled"), ("executionId" = Option<String>, Query, description = "only this execution's requests"), ("limit" = Option<u32>, Query, description = "at most 200; 50 when not given"), ("cursor" = Option<String>, Query, description = "the `nextCursor` of the previous page")),
    responses((status = 200, description = "What the caller may answer now (`status=pending`), or sees", body = views::Page<views::FeedbackView>), Errors)
)]
pub async fn list(State(state): State<AppState>, caller: Caller, params: Params) -> Answer {
    let mut allowed = vec!["status", "executionId"];
    allowed.extend(PAGING);
    params.allow(&allowed)?;
    let status = params.parsed("status", |s| s.parse::<FeedbackStatus>())?;
    let execution = match params.get("executionId") {
        Some(id) => Some(visible_execution(&state, &caller, id).await?.id),
        None => None,
    };
    let found = state
        .rt
        .feedback()
        .list(FeedbackFilter {
            status,
            execution,
            limit: None,
        })
        .await?;
    let mine: Vec<FeedbackRequest> = found
        .into_iter()
        .filter(|r| sees_feedback(&caller, r))
        .collect();
    let (items, next) = page(mine, |r| r.id.as_str(), &params)?;
    ok(views::page(
        items.iter().map(views::feedback).collect(),
        next,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/feedback/{id}/submit",
    tag = "feedback",
    params(("id" = String, Path, description = "the feedback request's id")),
    request_body = SubmitFeedback,
    responses((status = 200, description = "The request, answered", body = views::FeedbackView), Errors)
)]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Json(body): Json,
) -> Answer {
    if caller.role == Role::Agent {
        return Err(ApiError::forbidden(
            "an agent token never answers feedback: people answer it, with their own tokens",
        ));
    }
    openapi::allow::<SubmitFeedback>(&body)?;
    let data = match body.value("data") {
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(ApiError::bad_request(
                "data",
                format!(
                    "`data` must be an object of answers by field name, found {}",
                    crate::json::kind(&other)
                ),
            ));
        }
        None => {
            return Err(ApiError::invalid(
                "data",
                "`data` is required: the answers by field name",
            ));
        }
    };
    let r = state
        .rt
        .feedback()
        .submit(
            &FeedbackId::from(id.as_str()),
            &caller.principal,
            Value::Object(data),
        )
        .await?;
    ok(views::feedback(&r))
}
