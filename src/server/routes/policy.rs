//! `/v1/policy` (contract sections 4 and 7): the policy in force, its changes in YAML or the
//! DSL, the product document's JSON rule lists, the history, and rollbacks, over the store's
//! policy versions ([`crate::runtime::Policies`]).
//!
//! Any role reads the policy and its history. An admin may put any valid policy; an agent only
//! when the configuration says `agents.<principal>.mayTightenPolicy: true`, and then only one
//! at least as strict as the live one ([`crate::server::tighten`]), checked on the prepared
//! change and committed only if no other version came in between. Every refusal is audited
//! and leaves the live version as it was.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::{Answer, ok};
use crate::front::Language;
use crate::model::{AuditEntry, AuditKind, Origin, language_name};
use crate::runtime::{ChangedBy, PolicyChangeError, PreparedChange, RuleSection};
use crate::server::app::AppState;
use crate::server::auth::{Caller, Role};
use crate::server::body::{Json, Params, read_bytes};
use crate::server::error::ApiError;
use crate::server::tighten;

/// How many times a change is prepared (and, for an agent, checked) again when another
/// version was stored meanwhile, before the caller is told to try again (409).
const ATTEMPTS: usize = 20;

/// The most versions one page of the history holds when the caller does not say.
const DEFAULT_HISTORY_PAGE: usize = 50;

/// The policy's routes, merged under `/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/policy", get(show).put(put_text))
        .route("/policy/hitl", put(put_hitl))
        .route("/policy/escalation", put(put_escalation))
        .route("/policy/versions", get(versions))
        .route("/policy/rollback", post(rollback))
}

/// Any role may read the policy in force: agents decide against it, approvers see why they
/// are asked. `lastError` is the last refused change, until one is accepted.
#[utoipa::path(
    get,
    path = "/v1/policy",
    tag = "policy",
    responses((status = 200, description = "The policy in force: `{version, name, language, text, sha256, summary, loadedAt, loadedBy, lastError?}`", body = Object), crate::server::openapi::Errors)
)]
pub(crate) async fn show(State(state): State<AppState>, _caller: Caller, params: Params) -> Answer {
    params.allow(&[])?;
    let policies = state.rt.policies();
    let mut body = match policies.current() {
        Some(v) => json!({
            "version": v.info.version,
            "name": v.info.name,
            "language": language_name(v.info.language),
            "text": v.text,
            "sha256": v.info.sha256,
            "summary": v.info.summary,
            "loadedAt": v.info.created_at,
            "loadedBy": v.info.principal,
        }),
        None => json!({
            "version": null, "name": null, "language": null, "text": null,
            "loadedAt": null, "loadedBy": null,
        }),
    };
    if let (Some(error), Some(map)) = (policies.last_error(), body.as_object_mut()) {
        map.insert("lastError".into(), json!(error));
    }
    ok(body)
}

/// The language a policy text's `Content-Type` names; 415 for any other.
fn language_of(headers: &HeaderMap) -> Result<Language, ApiError> {
    let unsupported = |found: &str| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "a policy is sent as `Content-Type: application/yaml` or `text/x-rekall` (the DSL), found {found}"
            ),
        )
    };
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported("none"));
    };
    let text = value
        .to_str()
        .map_err(|_| unsupported("an unreadable one"))?;
    let mut parts = text.split(';').map(str::trim);
    let essence = parts.next().unwrap_or("").to_ascii_lowercase();
    for param in parts {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        let utf8 = value.trim_matches('"').eq_ignore_ascii_case("utf-8");
        if !name.trim().eq_ignore_ascii_case("charset") || !utf8 {
            return Err(unsupported(&format!(
                "`{text}` (only `charset=utf-8` may follow)"
            )));
        }
    }
    match essence.as_str() {
        "application/yaml" | "application/x-yaml" | "text/yaml" => Ok(Language::Yaml),
        "text/x-rekall" => Ok(Language::Dsl),
        _ => Err(unsupported(&format!("`{text}`"))),
    }
}

/// The body as UTF-8 text, within the body limit.
async fn text_of(state: &AppState, req: Request) -> Result<String, ApiError> {
    let bytes = read_bytes(req, state.limits.body_bytes).await?;
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body is not UTF-8 text",
        )
    })
}

/// `PUT /v1/policy`: the whole policy, in YAML or the DSL.
#[utoipa::path(
    put,
    path = "/v1/policy",
    tag = "policy",
    request_body(content = String, content_type = "application/yaml", description = "The policy's text: YAML (`application/yaml`) or the DSL (`text/x-rekall`)"),
    responses((status = 200, description = "The version stored and put in force", body = Object), crate::server::openapi::Errors)
)]
pub(crate) async fn put_text(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    req: Request,
) -> Answer {
    let must_tighten = may_change(&state, &caller).await?;
    let by = changed_by(&caller, req.extensions().get::<Origin>());
    let language = language_of(&headers)?;
    let text = text_of(&state, req).await?;
    let policies = state.rt.policies();
    change(&state, must_tighten, || {
        policies.prepare(&text, language, &by)
    })
    .await
}

/// `PUT /v1/policy/hitl`: the product document's `setHITLPolicy({rules})`.
#[utoipa::path(
    put,
    path = "/v1/policy/hitl",
    tag = "policy",
    request_body(content = Object, description = "`{rules: [{action, resource, requireApproval, approvers, minApprovals, ...}]}`: the HITL section, replaced"),
    responses((status = 200, description = "The version stored and put in force", body = Object), crate::server::openapi::Errors)
)]
pub(crate) async fn put_hitl(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> Answer {
    put_rules(state, caller, req, RuleSection::Hitl).await
}

/// `PUT /v1/policy/escalation`: `setEscalationPolicy({rules})`.
#[utoipa::path(
    put,
    path = "/v1/policy/escalation",
    tag = "policy",
    request_body(content = Object, description = "`{rules: [{confidenceRange, action, approvers, notifyVia, priority, timeout, ...}]}`: the escalation section, replaced"),
    responses((status = 200, description = "The version stored and put in force", body = Object), crate::server::openapi::Errors)
)]
pub(crate) async fn put_escalation(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> Answer {
    put_rules(state, caller, req, RuleSection::Escalation).await
}

async fn put_rules(state: AppState, caller: Caller, req: Request, section: RuleSection) -> Answer {
    let must_tighten = may_change(&state, &caller).await?;
    let by = changed_by(&caller, req.extensions().get::<Origin>());
    // The rule list is read by its own strict reader, which places each problem in the body.
    let body = text_of(&state, req).await?;
    let policies = state.rt.policies();
    change(&state, must_tighten, || {
        policies.prepare_rules(section, &body, &by)
    })
    .await
}

/// `GET /v1/policy/versions`: newest first, `{items, nextCursor}`.
#[utoipa::path(
    get,
    path = "/v1/policy/versions",
    tag = "policy",
    params(
        ("cursor" = Option<String>, Query, description = "the last version number of the previous page"),
        ("limit" = Option<u32>, Query, description = "how many versions, at most the server's page size"),
    ),
    responses((status = 200, description = "The versions, newest first: `{items, nextCursor}`", body = Object), crate::server::openapi::Errors)
)]
pub(crate) async fn versions(
    State(state): State<AppState>,
    _caller: Caller,
    params: Params,
) -> Answer {
    params.allow(&super::PAGING)?;
    let max = crate::runtime::MAX_HISTORY_PAGE;
    let limit = params
        .parsed("limit", |v| match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(format!(
                "`limit` must be a whole number from 1 to {max}, found `{v}`"
            )),
        })?
        .unwrap_or(DEFAULT_HISTORY_PAGE);
    let cursor = params.parsed("cursor", |v| {
        v.parse::<u64>()
            .map_err(|_| format!("`cursor` is a version number from an earlier page, found `{v}`"))
    })?;
    let page = state.rt.policies().history(cursor, limit).await?;
    ok(json!(page))
}

/// `POST /v1/policy/rollback {version}`: an old version's text in force as a new version.
#[utoipa::path(
    post,
    path = "/v1/policy/rollback",
    tag = "policy",
    request_body(content = Object, description = "`{version}`: the version whose text becomes a new version"),
    responses((status = 200, description = "The new version, holding the old text", body = Object), crate::server::openapi::Errors)
)]
pub(crate) async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    origin: Option<axum::Extension<Origin>>,
    Json(body): Json,
) -> Answer {
    let must_tighten = may_change(&state, &caller).await?;
    body.allow(&["version"])?;
    let version = match body.value("version") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse::<u64>().ok(),
        None => {
            return Err(ApiError::bad_request(
                "version",
                "`version` is required: the number of the version to bring back",
            ));
        }
        Some(_) => None,
    }
    .filter(|n| *n >= 1)
    .ok_or_else(|| ApiError::invalid("version", "`version` must be a version number, 1 or more"))?;
    let by = changed_by(&caller, origin.as_ref().map(|o| &o.0));
    let policies = state.rt.policies();
    change(&state, must_tighten, || {
        policies.prepare_rollback(version, &by)
    })
    .await
}

/// Who makes the change: the token's principal, with the request's id.
fn changed_by(caller: &Caller, origin: Option<&Origin>) -> ChangedBy {
    let by = ChangedBy::new(caller.principal.clone());
    match origin {
        Some(origin) => by.request(origin.request_id.clone()),
        None => by,
    }
}

/// Whether an agent must show its change to be at least as strict (`true`), or may make any
/// (an admin, `false`); 403, audited, for everyone else.
async fn may_change(state: &AppState, caller: &Caller) -> Result<bool, ApiError> {
    let why = match caller.role {
        Role::Admin => return Ok(false),
        Role::Agent
            if state
                .config
                .agents
                .get(&caller.principal)
                .is_some_and(|a| a.may_tighten_policy) =>
        {
            return Ok(true);
        }
        Role::Agent => format!(
            "`{}` may not change the policy: the server's configuration does not give it `mayTightenPolicy`",
            caller.principal
        ),
        Role::Approver => "an approver may not change the policy; an admin may".to_owned(),
    };
    let entry = AuditEntry::new(
        AuditKind::PolicyRefused,
        state.rt.now(),
        json!({"summary": format!("refused: {why}"), "role": caller.role.as_str()}),
    )
    .by(&caller.principal);
    state.rt.store().append_audit(vec![entry]).await?;
    Err(ApiError::forbidden(format!("{why}; nothing was changed")))
}

/// Prepares, checks (for an agent: `must_tighten`) and commits a change; prepares it again
/// on the latest version when another one was stored in between, so that the check holds for
/// what is stored.
async fn change<F, Fut>(state: &AppState, must_tighten: bool, prepare: F) -> Answer
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<PreparedChange, PolicyChangeError>>,
{
    let policies = state.rt.policies();
    for _ in 0..ATTEMPTS {
        let prepared = match prepare().await {
            Ok(prepared) => prepared,
            Err(e) => return refused(e),
        };
        if must_tighten && let Err(refusal) = check_tightening(state, &prepared).await {
            policies.refused(&prepared, &refusal.message).await?;
            return Ok(forbidden(&refusal));
        }
        match policies.commit(prepared).await {
            Ok(version) => return ok(json!(&*version)),
            Err(PolicyChangeError::Stale { .. }) => {}
            Err(e) => return refused(e),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        "the policy kept changing while this change was prepared; nothing was changed, try again",
    ))
}

/// The tightening check of an agent's prepared change, off the request threads.
async fn check_tightening(
    state: &AppState,
    prepared: &PreparedChange,
) -> Result<(), tighten::Refusal> {
    let Some(live) = prepared.base().cloned() else {
        return Err(tighten::Refusal {
            message: "no policy is in force to compare the change with, so an agent may not set one; nothing was changed".into(),
            counter_example: None,
        });
    };
    let thresholds = state
        .rt
        .policy()
        .map(|p| p.thresholds().clone())
        .unwrap_or_default();
    let new = prepared.policy().clone();
    tokio::task::spawn_blocking(move || tighten::check(&live, &thresholds, &new))
        .await
        .unwrap_or_else(|e| {
            Err(tighten::Refusal {
                message: format!("the strictness check failed ({e}); nothing was changed"),
                counter_example: None,
            })
        })
}

/// 403 with the counter-example under `error.counterExample`.
fn forbidden(refusal: &tighten::Refusal) -> Response {
    let mut body = ApiError::forbidden(refusal.message.clone()).body();
    if let (Some(ce), Some(error)) = (
        &refusal.counter_example,
        body.get_mut("error").and_then(Value::as_object_mut),
    ) {
        error.insert("counterExample".into(), ce.clone());
    }
    with_status(StatusCode::FORBIDDEN, &body)
}

/// The answer to a change that did not happen: a refused policy is 422 with its
/// diagnostics under `error.diagnostics` (and `field`, for a rule list's first problem).
fn refused(e: PolicyChangeError) -> Answer {
    match e {
        PolicyChangeError::Rejected(r) => {
            let mut error = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                r.message.clone(),
            );
            if let Some(field) = r.diagnostics.first().and_then(|d| d.field.clone()) {
                error = error.field(field);
            }
            let mut body = error.body();
            if let Some(map) = body.get_mut("error").and_then(Value::as_object_mut) {
                map.insert("diagnostics".into(), json!(r.diagnostics));
            }
            Ok(with_status(StatusCode::UNPROCESSABLE_ENTITY, &body))
        }
        PolicyChangeError::NoSuchVersion(n) => {
            Err(ApiError::not_found("policy version", &n.to_string()))
        }
        PolicyChangeError::Stale { .. } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("{e}; try again"),
        )),
        PolicyChangeError::Runtime(e) => Err(e.into()),
    }
}

fn with_status(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
