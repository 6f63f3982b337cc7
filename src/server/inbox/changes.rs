//! `GET /inbox/changes`: what lets a page update by itself. A page carries a digest of what
//! it shows (`data-digest`); `/inbox.js` asks with it, and the answer comes as soon as the
//! digest differs (a vote through the API, an email link, Slack, a timeout) or when the wait
//! ends. The waiter sleeps on the runtime's change notification, as the API's `?wait=` does
//! ([`crate::server::wait`]), and holds nothing: after a restart the page simply asks again.
//!
//! The query: `watch=list`, or `watch=approval&id=ID` / `watch=feedback&id=ID`; `since=DIGEST`;
//! `wait=25s` (at most the configured `maxWait`).

use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::InboxState;
use super::guard::Viewer;
use crate::model::{ApprovalId, ApprovalRequest, FeedbackId, FeedbackRequest, Timestamp};
use crate::runtime::RuntimeError;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::form;
use crate::server::html::{Markup, escape};
use crate::server::routes::{ok, sees_approval, sees_feedback};

/// What a page shows, and so what it waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watch {
    List,
    Approval(String),
    Feedback(String),
}

/// The wait a page asks for when the configuration allows it.
pub const PAGE_WAIT: Duration = Duration::from_secs(25);

/// The opening tag of a page's watched part: what it shows, its digest, and how long each
/// ask may wait (the page's wait, or the configured `maxWait` when that is shorter).
pub fn watched(state: &InboxState, watch: &Watch, digest: &str) -> Markup {
    let (kind, id) = match watch {
        Watch::List => ("list", None),
        Watch::Approval(id) => ("approval", Some(id)),
        Watch::Feedback(id) => ("feedback", Some(id)),
    };
    let id = id.map_or_else(String::new, |id| format!(" data-id=\"{}\"", escape(id)));
    let wait = PAGE_WAIT.min(state.app.limits.max_wait).as_millis();
    Markup::trusted(format!(
        "<div data-watch=\"{kind}\"{id} data-digest=\"{}\" data-wait=\"{wait}\">",
        escape(digest)
    ))
}

/// A digest of what a page shows: 16 hex digits of a SHA-256 over its parts.
pub fn digest(
    watch: &Watch,
    approvals: &[ApprovalRequest],
    feedback: &[FeedbackRequest],
) -> String {
    let mut h = Sha256::new();
    let mut part = |text: String| {
        h.update((text.len() as u64).to_be_bytes());
        h.update(text.as_bytes());
    };
    part(format!("{watch:?}"));
    for r in approvals {
        let votes: usize = r.steps.iter().map(|s| s.votes.len()).sum();
        let steps: Vec<&str> = r.steps.iter().map(|s| s.status.as_str()).collect();
        part(format!(
            "a {} {} {} {votes} {}",
            r.id.as_str(),
            r.status.as_str(),
            r.current,
            steps.join(",")
        ));
    }
    for r in feedback {
        part(format!("f {} {}", r.id.as_str(), r.status.as_str()));
    }
    let out: [u8; 32] = h.finalize().into();
    crate::server::auth::hex(&out[..8])
}

/// What the watched thing looks like now, and when something falls due on it.
async fn snapshot(
    state: &InboxState,
    caller: &Caller,
    watch: &Watch,
) -> Result<(String, Option<Timestamp>), ApiError> {
    let not_found = |what: &str, id: &str| ApiError::not_found(what, id);
    match watch {
        Watch::List => {
            let (approvals, feedback) = super::list::pending(state, caller).await?;
            let due = approvals
                .iter()
                .filter_map(ApprovalRequest::next_due)
                .chain(feedback.iter().filter_map(FeedbackRequest::next_due))
                .min();
            Ok((digest(watch, &approvals, &feedback), due))
        }
        Watch::Approval(id) => match state
            .app
            .rt
            .approvals()
            .get(&ApprovalId::from(id.as_str()))
            .await
        {
            Ok(r) if sees_approval(caller, &r) => {
                let due = r.next_due();
                Ok((digest(watch, std::slice::from_ref(&r), &[]), due))
            }
            Ok(_) | Err(RuntimeError::NotFound { .. }) => Err(not_found("approval request", id)),
            Err(e) => Err(e.into()),
        },
        Watch::Feedback(id) => match state
            .app
            .rt
            .feedback()
            .get(&FeedbackId::from(id.as_str()))
            .await
        {
            Ok(r) if sees_feedback(caller, &r) => {
                let due = r.next_due();
                Ok((digest(watch, &[], std::slice::from_ref(&r)), due))
            }
            Ok(_) | Err(RuntimeError::NotFound { .. }) => Err(not_found("feedback request", id)),
            Err(e) => Err(e.into()),
        },
    }
}

/// The query, strictly: each key known and given once.
fn query(uri: &Uri, max_wait: Duration) -> Result<(Watch, String, Duration), ApiError> {
    let pairs = form::parse(uri.query().unwrap_or(""))
        .map_err(|e| ApiError::new(axum::http::StatusCode::BAD_REQUEST, "bad_request", e))?;
    let mut get = std::collections::HashMap::new();
    for (k, v) in &pairs {
        if !["watch", "id", "since", "wait"].contains(&k.as_str()) {
            return Err(ApiError::bad_request(
                k.clone(),
                format!("unknown query parameter `{k}`; the parameters are watch, id, since, wait"),
            ));
        }
        if get.insert(k.as_str(), v.as_str()).is_some() {
            return Err(ApiError::bad_request(
                k.clone(),
                format!("the query parameter `{k}` is given twice"),
            ));
        }
    }
    let id = get.get("id").copied();
    if id.is_some_and(|i| i.is_empty() || i.len() > 128) {
        return Err(ApiError::invalid("id", "`id` must be a request's id"));
    }
    let watch = match (get.get("watch").copied(), id) {
        (Some("list"), None) => Watch::List,
        (Some("approval"), Some(id)) => Watch::Approval(id.to_owned()),
        (Some("feedback"), Some(id)) => Watch::Feedback(id.to_owned()),
        _ => {
            return Err(ApiError::invalid(
                "watch",
                "`watch` must be `list`, or `approval` or `feedback` with an `id`",
            ));
        }
    };
    let since = get.get("since").copied().unwrap_or("").to_owned();
    if since.len() > 64 {
        return Err(ApiError::invalid(
            "since",
            "`since` must be a page's digest",
        ));
    }
    let wait = match get.get("wait") {
        None => Duration::ZERO,
        Some(text) => {
            let d = crate::ir::Duration::parse(text).map_err(|e| {
                ApiError::invalid("wait", format!("`{text}` is not a duration: {e}"))
            })?;
            let d = Duration::from_millis(d.as_millis());
            if d > max_wait {
                return Err(ApiError::invalid(
                    "wait",
                    format!(
                        "`wait` is {}ms; the longest wait is {}ms",
                        d.as_millis(),
                        max_wait.as_millis()
                    ),
                ));
            }
            d
        }
    };
    Ok((watch, since, wait))
}

/// `GET /inbox/changes`: `{digest, changed}`, as soon as the digest differs from `since` or
/// when the wait ends. Needs the session cookie (401 otherwise); a request the viewer may not
/// see is 404, as in the API.
pub async fn changes(State(state): State<InboxState>, headers: HeaderMap, uri: Uri) -> Response {
    match answer(&state, &headers, &uri).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn answer(state: &InboxState, headers: &HeaderMap, uri: &Uri) -> Result<Response, ApiError> {
    let viewer = Viewer::of(headers, state).ok_or_else(ApiError::unauthenticated)?;
    let caller = viewer.caller();
    let (watch, since, wait) = query(uri, state.app.limits.max_wait)?;
    let rt = &state.app.rt;
    let end = Instant::now() + wait;
    let mut changes = rt.subscribe();
    let mut stopping = state.app.stopping.clone();
    loop {
        changes.borrow_and_update();
        let (now, due) = snapshot(state, &caller, &watch).await?;
        if now != since || Instant::now() >= end || *stopping.borrow_and_update() {
            return ok(json!({"digest": now, "changed": now != since}));
        }
        tokio::select! {
            woke = rt.wait_for_change(&mut changes, due) => { woke.map_err(ApiError::from)?; }
            () = tokio::time::sleep_until(end) => {}
            _ = stopping.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Result<(Watch, String, Duration), ApiError> {
        query(
            &format!("/inbox/changes?{text}").parse().unwrap(),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn the_query_is_read_strictly() {
        assert_eq!(
            q("watch=list&since=ab&wait=25s").unwrap(),
            (Watch::List, "ab".into(), Duration::from_secs(25))
        );
        assert_eq!(
            q("watch=approval&id=apr_1").unwrap().0,
            Watch::Approval("apr_1".into())
        );
        for bad in [
            "watch=list&watch=list",
            "watch=list&id=x",
            "watch=approval",
            "watch=other",
            "watch=list&wait=2m",
            "watch=list&wait=soon",
            "watch=list&extra=1",
            "",
        ] {
            assert!(q(bad).is_err(), "{bad}");
        }
    }
}
