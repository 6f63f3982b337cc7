//! `?wait=30s`: answer as soon as a request is resolved, or with its current state when the
//! wait ends or the server stops. The waiter sleeps on the runtime's change notification
//! (woken by every commit of this process, and by its poll for other processes' changes),
//! and handles a deadline that falls within the wait; it holds nothing but a subscription, so
//! a restart loses nothing: the client asks again and reads the store.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::app::AppState;
use super::body::Params;
use super::error::ApiError;
use crate::model::Timestamp;

/// The wait a query asks for: `wait=30s` or milliseconds, at most the configured maximum.
pub fn requested(params: &Params, max: Duration) -> Result<Option<Duration>, ApiError> {
    params.parsed("wait", |text| {
        let d = crate::ir::Duration::parse(text)
            .map_err(|e| format!("`{text}` is not a duration: {e}; write it as 30s or 30000"))?;
        let d = Duration::from_millis(d.as_millis());
        if d > max {
            return Err(format!(
                "`wait` is {}ms; the longest wait is {}ms: ask again after it",
                d.as_millis(),
                max.as_millis()
            ));
        }
        Ok(d)
    })
}

/// What a waiter needs to know of a record.
pub trait Awaited {
    /// Whether it is still open.
    fn pending(&self) -> bool;
    /// When something falls due on it (a deadline, a reminder).
    fn next_due(&self) -> Option<Timestamp>;
}

impl Awaited for crate::model::ApprovalRequest {
    fn pending(&self) -> bool {
        self.status == crate::model::ApprovalStatus::Pending
    }
    fn next_due(&self) -> Option<Timestamp> {
        crate::model::ApprovalRequest::next_due(self)
    }
}

impl Awaited for crate::model::FeedbackRequest {
    fn pending(&self) -> bool {
        self.status == crate::model::FeedbackStatus::Pending
    }
    fn next_due(&self) -> Option<Timestamp> {
        crate::model::FeedbackRequest::next_due(self)
    }
}

/// Reads the record with `read` until it is resolved, the wait ends or the server stops, and
/// answers its last state.
/// A `GET` of one request that takes `?wait=` (and nothing else): the request `read` gives
/// (404 when the caller may not see it), read again until it is resolved or the wait ends
/// when a wait is asked for.
///
/// `record` is the request's kind and id (`approval`, `feedback`), so that the waiter is
/// woken by the commits that write it rather than by every commit.
pub async fn shown<T, F, Fut>(
    state: &AppState,
    params: &Params,
    record: (&str, &str),
    read: F,
) -> Result<T, ApiError>
where
    T: Awaited,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    params.allow(&["wait"])?;
    let wait = requested(params, state.limits.max_wait)?;
    let now = read().await?;
    match wait {
        Some(wait) => until_resolved(state, wait, record, read).await,
        None => Ok(now),
    }
}

pub async fn until_resolved<T, F, Fut>(
    state: &AppState,
    wait: Duration,
    (kind, id): (&str, &str),
    read: F,
) -> Result<T, ApiError>
where
    T: Awaited,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let end = Instant::now() + wait;
    let mut changes = state.rt.subscribe_to(kind, id);
    let mut stopping = state.stopping.clone();
    loop {
        changes.borrow_and_update();
        let record = read().await?;
        if !record.pending() || Instant::now() >= end || *stopping.borrow_and_update() {
            return Ok(record);
        }
        tokio::select! {
            woke = state.rt.wait_for_change(&mut changes, record.next_due()) => {
                woke.map_err(ApiError::from)?;
            }
            () = tokio::time::sleep_until(end) => {}
            changed = stopping.changed() => {
                if changed.is_err() {
                    // The server is gone: answer what there is.
                    return read().await;
                }
            }
        }
    }
}
