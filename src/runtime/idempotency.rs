//! `runtime.idempotency()`: the first answer to each request made with an `Idempotency-Key`,
//! kept in the store (so every node, and a restarted one, knows it) for at least 24 hours.
//!
//! ```
//! use rekall_policy::ir::Principal;
//! use rekall_policy::model::request_hash;
//! use rekall_policy::runtime::{Claim, Runtime};
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let rt = Runtime::builder().store_url("sqlite::memory:").build().await?;
//! let bot = Principal::parse("agent:deploy-bot").unwrap();
//! let hash = request_hash("POST", "/v1/executions", br#"{"name":"deploy"}"#);
//!
//! // The first request with the key runs, then its answer is kept...
//! let Claim::Fresh(claim) = rt.idempotency().claim(&bot, "k-1", &hash).await? else { panic!() };
//! rt.idempotency().remember(&claim, 201, b"{\"id\":\"exe_1\"}".to_vec()).await?;
//!
//! // ...and a retry gets it again, while another request with the same key is refused.
//! let Claim::Replay(answer) = rt.idempotency().claim(&bot, "k-1", &hash).await? else { panic!() };
//! assert_eq!(answer.status, 201);
//! let other = request_hash("POST", "/v1/executions", br#"{"name":"other"}"#);
//! assert!(matches!(rt.idempotency().claim(&bot, "k-1", &other).await?, Claim::Reused { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A key is claimed before its request runs, in one store transaction, so that of two first
//! requests racing with one key exactly one runs; the other is told the key is in use. A
//! request whose process dies before it answers leaves its claim unanswered: the key then
//! answers [`Claim::InFlight`] until the record expires, rather than risk a second effect.

use std::sync::atomic::Ordering;

use super::Runtime;
use crate::ir::Principal;
use crate::model::{IdempotencyRecord, MAX_KEY_CHARS, RETENTION_MS, StoredResponse, Timestamp};
use crate::store::{KeyClaim, StoreError};

/// How often [`Idempotency::prune_if_due`] deletes expired records: they are only ever read
/// by key, so an expired one left a while longer costs nothing but room.
const PRUNE_EVERY_MS: i64 = 60 * 60 * 1000;

/// `runtime.idempotency()`.
#[derive(Debug, Clone, Copy)]
pub struct Idempotency<'a> {
    pub(super) rt: &'a Runtime,
}

/// What to do with a request that came with an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new: run the request, then [`Idempotency::remember`] its answer with this
    /// claim (or [`Idempotency::release`] it when the request failed before any effect and
    /// may be tried again).
    Fresh(IdempotencyRecord),
    /// The same request (same hash) was answered before: answer it again, as it was.
    Replay(StoredResponse),
    /// The key was first used for another request (HTTP 422 `idempotency_key_reused`).
    Reused { first_at: Timestamp },
    /// The same request is still running, or its process died before answering (HTTP 409).
    InFlight { since: Timestamp },
}

/// Why an idempotency call failed.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// A key must be 1 to [`MAX_KEY_CHARS`] characters.
    #[error("an Idempotency-Key is 1 to {MAX_KEY_CHARS} characters; this one has {chars}")]
    BadKey { chars: usize },
    /// The claim no longer holds its key unanswered (answered or released already).
    #[error(
        "the idempotency key `{key}` is not held by this request any more; its answer was not kept"
    )]
    ClaimLost { key: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The records created before this time have expired at `now`: those at least
/// [`RETENTION_MS`] old, as [`IdempotencyRecord::expired`] says.
fn expired_before(now: Timestamp) -> Timestamp {
    Timestamp(now.0.saturating_sub(RETENTION_MS).saturating_add(1))
}

fn check_key(key: &str) -> Result<(), IdempotencyError> {
    let chars = key.chars().count();
    if chars == 0 || chars > MAX_KEY_CHARS {
        return Err(IdempotencyError::BadKey { chars });
    }
    Ok(())
}

impl Idempotency<'_> {
    /// Claims `key` for `principal`'s request whose [`crate::model::request_hash`] is
    /// `request_hash`, or says what the key already holds.
    pub async fn claim(
        &self,
        principal: &Principal,
        key: &str,
        request_hash: &str,
    ) -> Result<Claim, IdempotencyError> {
        check_key(key)?;
        let now = self.rt.now();
        let found = self
            .rt
            .store()
            .claim_idempotency_key(principal, key, request_hash, now, expired_before(now))
            .await?;
        Ok(match found {
            KeyClaim::Claimed(record) => Claim::Fresh(record),
            KeyClaim::Taken(record) if record.request_hash != request_hash => Claim::Reused {
                first_at: record.created_at,
            },
            KeyClaim::Taken(IdempotencyRecord {
                response: Some(response),
                ..
            }) => Claim::Replay(response),
            KeyClaim::Taken(record) => Claim::InFlight {
                since: record.created_at,
            },
        })
    }

    /// Keeps the answer of the request that made `claim`.
    pub async fn remember(
        &self,
        claim: &IdempotencyRecord,
        status: u16,
        body: Vec<u8>,
    ) -> Result<(), IdempotencyError> {
        let response = StoredResponse { status, body };
        match self
            .rt
            .store()
            .answer_idempotency_key(claim, response)
            .await
        {
            Err(StoreError::Conflict { .. }) => Err(IdempotencyError::ClaimLost {
                key: claim.key.clone(),
            }),
            other => Ok(other?),
        }
    }

    /// Gives up a claim whose request failed before any effect (the store was unavailable),
    /// so that a retry runs again; whether it was still held.
    pub async fn release(&self, claim: &IdempotencyRecord) -> Result<bool, IdempotencyError> {
        Ok(self.rt.store().release_idempotency_key(claim).await?)
    }

    /// The record of (principal, key), unless there is none or it has expired.
    pub async fn lookup(
        &self,
        principal: &Principal,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, IdempotencyError> {
        check_key(key)?;
        let found = self.rt.store().idempotency_record(principal, key).await?;
        Ok(found.filter(|r| !r.expired(self.rt.now())))
    }

    /// Deletes every record past its 24 hours; how many.
    pub async fn prune(&self) -> Result<u64, IdempotencyError> {
        let now = self.rt.now();
        self.rt
            .inner
            .idempotency_pruned
            .store(now.0, Ordering::Relaxed);
        Ok(self
            .rt
            .store()
            .prune_idempotency(expired_before(now))
            .await?)
    }

    /// [`Idempotency::prune`], unless this runtime pruned within the last hour: for the
    /// background loop, which runs far more often.
    pub async fn prune_if_due(&self) -> Result<u64, IdempotencyError> {
        let last = self.rt.inner.idempotency_pruned.load(Ordering::Relaxed);
        if self.rt.now().0.saturating_sub(last) < PRUNE_EVERY_MS {
            return Ok(0);
        }
        self.prune().await
    }
}
