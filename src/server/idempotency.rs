//! `Idempotency-Key` (contract section 1): a request that changes something, sent again with
//! the same key, has one effect and gets the first answer again.
//!
//! A layer over every route, between the request id and the handlers. For a `POST`, `PUT`,
//! `PATCH` or `DELETE` with the header and a known token, it claims (principal, key, hash of
//! method, path and body) in the store before the handler runs ([`crate::runtime::Idempotency`]):
//!
//! - fresh: the handler runs, and its answer is kept, unless it is one a retry should not get
//!   back (5xx, 429, 408: nothing was done, or the client is told to come back), whose claim
//!   is released so that the retry runs;
//! - the same request answered before: its status and body again, with `Idempotent-Replayed:
//!   true`;
//! - another request with the key: 422 `idempotency_key_reused`;
//! - the same request still running (or its process died before answering): 409 `conflict`
//!   with `Retry-After`.
//!
//! The handler runs in a task of its own, so a client that hangs up does not cut it short
//! between its effect and the keeping of its answer: a retry then gets the answer.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::app::AppState;
use super::body::read_bytes;
use super::error::ApiError;
use crate::model::{MAX_KEY_CHARS, Origin, StoredResponse, request_hash};
use crate::runtime::{Claim, IdempotencyError};

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long a client should wait before retrying a request whose first copy still runs.
const IN_FLIGHT_RETRY_SECONDS: &str = "1";

/// Whether an answer is kept for the retries: not when nothing was done and a retry should
/// run again (the store failed, the rate limit or the request timeout struck).
fn keeps(status: StatusCode) -> bool {
    !(status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT)
}

/// The key of the header: 1 to [`MAX_KEY_CHARS`] characters of text.
fn key_of(value: &HeaderValue) -> Result<String, ApiError> {
    let bad = |why: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the Idempotency-Key header {why}"),
        )
    };
    let text = value
        .to_str()
        .map_err(|_| bad("must be visible ASCII text".into()))?;
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_KEY_CHARS {
        return Err(bad(format!(
            "must be 1 to {MAX_KEY_CHARS} characters; this one has {chars}"
        )));
    }
    Ok(text.to_owned())
}

fn changes_something(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

/// The middleware (see the module docs).
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !changes_something(req.method()) {
        return next.run(req).await;
    }
    let Some(value) = req.headers().get(&IDEMPOTENCY_KEY) else {
        return next.run(req).await;
    };
    let key = match key_of(value) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    // Without a known token there is no one to keep the answer for: the handler says 401.
    let caller = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| state.tokens.from_header(v));
    let Some(caller) = caller else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    // The handler's reader checks the declared length again, and reads these same bytes.
    let bytes = match read_bytes(Request::new(body), state.limits.body_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let hash = request_hash(parts.method.as_str(), &target, &bytes);
    let req = Request::from_parts(parts, Body::from(bytes));
    let claims = state.rt.idempotency();
    let claim = match claims.claim(&caller.principal, &key, &hash).await {
        Ok(Claim::Fresh(claim)) => claim,
        Ok(Claim::Replay(first)) => return replay(first),
        Ok(Claim::Reused { first_at }) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                format!(
                    "the Idempotency-Key `{key}` was first used at {} for another request (another method, path or body); use a new key for a new request",
                    first_at.0
                ),
            )
            .into_response();
        }
        Ok(Claim::InFlight { since }) => return in_flight(&key, since.0),
        Err(IdempotencyError::Store(e)) => return ApiError::from(e).into_response(),
        Err(e) => {
            return ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
                .into_response();
        }
    };
    let origin = req.extensions().get::<Origin>().cloned();
    let run = async move {
        match origin {
            Some(origin) => origin.scope(next.run(req)).await,
            None => next.run(req).await,
        }
    };
    let rt = state.rt.clone();
    let task = tokio::spawn(async move {
        let response = run.await;
        let (parts, body) = response.into_parts();
        let bytes = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("serve: an answer could not be read to keep it: {e}");
                let _ = rt.idempotency().release(&claim).await;
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the server could not answer; the error is in its log",
                )
                .into_response();
            }
        };
        let kept = if keeps(parts.status) {
            rt.idempotency()
                .remember(&claim, parts.status.as_u16(), bytes.to_vec())
                .await
                .map(|()| true)
        } else {
            rt.idempotency().release(&claim).await
        };
        if let Err(e) = kept {
            // The answer still goes out; a retry then finds the key in flight (409) rather
            // than running the request twice.
            eprintln!("serve: the answer for an Idempotency-Key was not kept: {e}");
        }
        Response::from_parts(parts, Body::from(bytes))
    });
    match task.await {
        Ok(response) => response,
        Err(e) => {
            eprintln!("serve: a request failed: {e}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the server could not answer; the error is in its log",
            )
            .into_response()
        }
    }
}

fn replay(first: StoredResponse) -> Response {
    let status = StatusCode::from_u16(first.status).unwrap_or(StatusCode::OK);
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        first.body,
    )
        .into_response();
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

fn in_flight(key: &str, since: i64) -> Response {
    let mut response = ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        format!(
            "a request with the Idempotency-Key `{key}` has run since {since} and not answered yet; retry it later with the same key"
        ),
    )
    .into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(IN_FLIGHT_RETRY_SECONDS),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_characters_of_text() {
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(key_of(&h("k-1")).unwrap(), "k-1");
        assert!(key_of(&h(&"x".repeat(MAX_KEY_CHARS))).is_ok());
        let long = key_of(&h(&"x".repeat(MAX_KEY_CHARS + 1))).unwrap_err();
        assert_eq!(long.status, StatusCode::BAD_REQUEST);
        assert!(long.message.contains("Idempotency-Key"), "{}", long.message);
        assert!(key_of(&h("")).is_err());
        let binary = HeaderValue::from_bytes(b"\xffk").unwrap();
        assert!(key_of(&binary).is_err());
    }

    #[test]
    fn answers_that_did_nothing_are_not_kept() {
        for s in [500, 503, 429, 408] {
            assert!(!keeps(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [200, 201, 400, 403, 404, 409, 422] {
            assert!(keeps(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }
}
