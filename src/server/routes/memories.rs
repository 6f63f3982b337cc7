//! Memories: what the agent keeps (`rekall.memories.create`), and reads back by tag. A memory
//! belongs to the principal that wrote it (kept as `metadata.createdBy`) and, when it is about
//! an execution, to that execution's agent: the memories the runtime writes of every approval
//! and feedback are the agent's to read.

use std::collections::BTreeSet;

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{Answer, PAGING, created, ok, page, visible_execution};
use crate::model::{Memory, MemoryKind, MemoryQuery, NewMemory};
use crate::server::app::AppState;
use crate::server::auth::Caller;
use crate::server::body::{Json, Params};
use crate::server::error::ApiError;
use crate::server::openapi::{self, Errors};
use crate::server::views;
use crate::store::ExecutionFilter;

/// `POST /v1/memories`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CreateMemory {
    /// `episodic` (the default), ...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub content: String,
    /// `{tags: [...], ...}`; `createdBy` is the server's.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// From 0 to 1.
    pub importance: Option<f64>,
    pub execution_id: Option<String>,
}

/// Where a memory records who wrote it.
const CREATED_BY: &str = "createdBy";

#[utoipa::path(
    post,
    path = "/v1/memories",
    tag = "memories",
    request_body = CreateMemory,
    responses((status = 201, description = "The memory", body = views::MemoryView), Errors)
)]
pub async fn create(State(state): State<AppState>, caller: Caller, Json(body): Json) -> Answer {
    openapi::allow::<CreateMemory>(&body)?;
    let kind = match body.opt_str("type")? {
        None => MemoryKind::Episodic,
        Some(t) => t
            .parse::<MemoryKind>()
            .map_err(|e| ApiError::invalid("type", e))?,
    };
    let mut memory = NewMemory::new(kind, body.str("content")?);
    if let Some(meta) = body.opt_obj("metadata")? {
        if meta.value(CREATED_BY).is_some() {
            return Err(ApiError::bad_request(
                meta.at(CREATED_BY),
                "`metadata.createdBy` is set by the server to the token's principal",
            ));
        }
        memory.tags = meta.opt_strs("tags")?.unwrap_or_default();
        if let Some(serde_json::Value::Object(map)) = body.value("metadata") {
            for (k, v) in map {
                if k != "tags" {
                    memory.metadata.insert(k, v);
                }
            }
        }
    }
    if let Some(i) = body.opt_f64("importance")? {
        memory.importance = i;
    }
    if let Some(id) = body.opt_str("executionId")? {
        memory.execution_id = Some(visible_execution(&state, &caller, &id).await?.id);
    }
    memory
        .metadata
        .insert(CREATED_BY.into(), json!(caller.principal));
    let m = state.rt.memories().create(memory).await?;
    created(views::memory(&m))
}

/// The caller's memories (an admin's: all), newest first; `tag` takes a comma-separated list,
/// all of which a memory must carry.
#[utoipa::path(
    get,
    path = "/v1/memories",
    tag = "memories",
    params(("tag" = Option<String>, Query, description = "comma-separated tags, all of which a memory must carry"), ("executionId" = Option<String>, Query, description = "only this execution's memories"), ("type" = Option<String>, Query, description = "the memory's type"), ("limit" = Option<u32>, Query, description = "at most 200; 50 when not given"), ("cursor" = Option<String>, Query, description = "the `nextCursor` of the previous page")),
    responses((status = 200, description = "The caller's memories (an admin's: all), newest first", body = views::Page<views::MemoryView>), Errors)
)]
pub async fn list(State(state): State<AppState>, caller: Caller, params: Params) -> Answer {
    let mut allowed = vec!["tag", "executionId", "type"];
    allowed.extend(PAGING);
    params.allow(&allowed)?;
    let mut query = MemoryQuery::default();
    if let Some(tags) = params.get("tag") {
        query.tags = tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
    }
    query.kind = params.parsed("type", |t| t.parse::<MemoryKind>())?;
    if let Some(id) = params.get("executionId") {
        query.execution = Some(visible_execution(&state, &caller, id).await?.id);
    }
    let mut found = state.rt.memories().query(query).await?;
    if !caller.is_admin() {
        let own: BTreeSet<String> = state
            .rt
            .execution()
            .list(ExecutionFilter::default())
            .await?
            .into_iter()
            .filter(|e| e.agent == caller.principal)
            .map(|e| e.id.to_string())
            .collect();
        found.retain(|m| belongs(m, &caller, &own));
    }
    let (items, next) = page(found, |m| m.id.as_str(), &params)?;
    ok(views::page(items.iter().map(views::memory).collect(), next))
}

fn belongs(m: &Memory, caller: &Caller, own: &BTreeSet<String>) -> bool {
    m.metadata.get(CREATED_BY).and_then(|v| v.as_str()) == Some(caller.principal.as_str())
        || m.execution_id
            .as_ref()
            .is_some_and(|e| own.contains(e.as_str()))
}
