//! Idempotency records: the first answer to a request made with an `Idempotency-Key`, kept so
//! that a retry of the same request gets the same answer instead of a second effect.
//!
//! A record is keyed by (principal, key): keys are the caller's, so two callers may use the
//! same one. It is first *claimed* (written without an answer) before the request runs, then
//! given the answer; two first requests racing with one key find one claim, so only one of
//! them runs.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::time::Timestamp;
use crate::ir::Principal;

/// The longest key accepted, in characters.
pub const MAX_KEY_CHARS: usize = 255;

/// How long a record is kept at least (24 hours): a retry within that time is answered from it.
pub const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// The answer kept for a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredResponse {
    /// The HTTP status.
    pub status: u16,
    pub body: Vec<u8>,
}

/// One (principal, key) and what is known of its request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyRecord {
    pub principal: Principal,
    pub key: String,
    /// [`request_hash`] of the request first made with the key.
    pub request_hash: String,
    /// When the key was first claimed.
    pub created_at: Timestamp,
    /// The answer, once the request finished; `None` while it runs (or if its process died
    /// before answering: the key then stays unusable until the record expires).
    pub response: Option<StoredResponse>,
}

impl IdempotencyRecord {
    /// Whether the record is past [`RETENTION_MS`] at `now`, and so as good as gone.
    pub fn expired(&self, now: Timestamp) -> bool {
        now.0.saturating_sub(self.created_at.0) >= RETENTION_MS
    }
}

/// SHA-256 over a request's method, path and body, hex: a retry must match it exactly. Each
/// part is preceded by its length, so that no two different requests give the same input.
pub fn request_hash(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), body] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    super::binding::hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_of_a_request_cannot_slide_into_each_other() {
        assert_ne!(
            request_hash("POST", "/v1/a", b"b"),
            request_hash("POST", "/v1/", b"ab")
        );
        assert_eq!(
            request_hash("POST", "/v1/a", b"{}"),
            request_hash("POST", "/v1/a", b"{}")
        );
        assert_ne!(
            request_hash("POST", "/v1/a", b"{}"),
            request_hash("PUT", "/v1/a", b"{}")
        );
    }
}
