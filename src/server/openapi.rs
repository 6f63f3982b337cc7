//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of the server, derived from the handlers'
//! `#[utoipa::path]` attributes, the views they answer with and the bodies they take, so that
//! it says what the server does. The tests check the document against the router both ways,
//! and CI fuzzes the server against it.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

use super::answers::slack;
use super::body::Obj;
use super::error::ApiError;
use super::metrics;
use super::routes::{approvals, audit, decide, executions, feedback, health, memories, policy};
use super::views;

/// The name of the bearer scheme in the document.
pub const BEARER: &str = "bearer";

/// Every error: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for a person and for a program.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `bad_json`, `bad_request`, `unauthenticated`, `forbidden`, `not_found`,
    /// `invalid_transition`, `already_resolved`, `conflict`, `too_large`, `invalid_field`,
    /// `idempotency_key_reused`, `rate_limited`, `timeout`, `unavailable`, `internal`, ...
    pub code: String,
    /// One sentence for a person.
    pub message: String,
    /// The JSON path of the field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A refused policy's diagnostics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<Diagnostic>>,
}

/// One located diagnostic of a refused policy (line and column 1-based).
#[derive(Debug, Serialize, ToSchema)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
    pub help: Option<String>,
}

/// The error statuses any endpoint may answer (section 1 of the contract).
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum Errors {
    /// The body is not JSON, or not the shape asked for.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No token, or one the server does not know.
    #[response(status = 401)]
    Unauthenticated(ErrorBody),
    /// Authenticated, but not allowed.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such record visible to the caller, or no such endpoint.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// An invalid transition, a request already resolved, a concurrent change.
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// The body is over the configured limit.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// Valid JSON, invalid value; or an idempotency key reused with another body.
    #[response(status = 422)]
    Invalid(ErrorBody),
    /// The token's rate limit was hit; `Retry-After` says when to try again.
    #[response(status = 429, headers(("Retry-After" = u64, description = "seconds")))]
    RateLimited(ErrorBody),
    /// The store is unreachable, or the request ran past its time; `Retry-After` says when.
    #[response(status = 503, headers(("Retry-After" = u64, description = "seconds")))]
    Unavailable(ErrorBody),
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token of the server's configuration: its role (agent, approver, admin) and principal decide what it may do",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rekall-policy",
        description = "Human-in-the-loop gates for AI agents: executions, decisions, approvals, feedback, memories, audit and the policy over HTTP"
    ),
    modifiers(&Security),
    security(("bearer" = [])),
    paths(
        executions::create,
        executions::list,
        executions::show,
        executions::start,
        executions::pause,
        executions::resume,
        executions::cancel,
        executions::complete,
        executions::fail,
        executions::checkpoint,
        executions::escalation_check,
        approvals::create,
        approvals::list,
        approvals::show,
        approvals::approve,
        approvals::reject,
        feedback::create,
        feedback::list,
        feedback::show,
        feedback::submit,
        memories::create,
        memories::list,
        audit::list,
        decide::decide,
        policy::show,
        policy::put_text,
        policy::put_hitl,
        policy::put_escalation,
        policy::versions,
        policy::rollback,
        health::healthz,
        health::readyz,
        metrics::metrics,
        openapi_json,
        slack::interaction,
    ),
    components(schemas(ErrorBody, views::ExecutionView, views::ApprovalView, views::FeedbackView, views::MemoryView))
)]
struct Document;

/// The document, built once.
pub fn document() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        Document::openapi().to_json().unwrap_or_else(|e| {
            format!("{{\"error\": \"the document could not be written: {e}\"}}")
        })
    })
}

/// This document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this server", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
}

/// The names of a body type's fields, as the document shows them.
fn fields_of(schema: RefOr<Schema>) -> Vec<String> {
    match schema {
        RefOr::T(Schema::Object(o)) => o.properties.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Refuses any field of `body` that its documented type `T` does not have: the fields a
/// handler takes are the ones the document shows.
pub fn allow<T: ToSchema>(body: &Obj) -> Result<(), ApiError> {
    let fields = fields_of(T::schema());
    let names: Vec<&str> = fields.iter().map(String::as_str).collect();
    body.allow(&names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_document_is_openapi_3_1_with_bearer_auth() {
        let doc: Value = serde_json::from_str(document()).unwrap();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        assert_eq!(
            doc["components"]["securitySchemes"][BEARER]["scheme"],
            "bearer"
        );
        assert_eq!(doc["security"][0][BEARER], serde_json::json!([]));
    }

    #[test]
    fn a_body_type_gives_its_fields() {
        #[derive(serde::Deserialize, ToSchema)]
        #[allow(dead_code)]
        #[serde(rename_all = "camelCase")]
        struct Sample {
            name: String,
            min_approvals: Option<u32>,
        }
        let body = |v: Value| Obj::new(v.as_object().unwrap().clone(), "");
        assert!(
            allow::<Sample>(&body(serde_json::json!({"name": "x", "minApprovals": 1}))).is_ok()
        );
        let e = allow::<Sample>(&body(serde_json::json!({"name": "x", "min_approvals": 1})))
            .unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("bad_request", Some("min_approvals"))
        );
    }
}
