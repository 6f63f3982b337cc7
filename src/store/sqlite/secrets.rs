//! The SQL of the server's signing keys and of spent single-use tokens.

use rusqlite::{Connection, OptionalExtension, params};

use super::backend;
use crate::model::Timestamp;
use crate::store::StoreError;

/// The key named `name`: the one stored, or `candidate`, stored now, when there is none yet.
/// Two processes that race both end with the first one's.
pub fn get_or_create(
    c: &mut Connection,
    name: &str,
    candidate: &[u8],
    now: Timestamp,
) -> Result<Vec<u8>, StoreError> {
    c.execute(
        "INSERT INTO server_secrets (name, value, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
        params![name, candidate, now.0],
    )
    .map_err(backend("store a server key"))?;
    let value: Option<Vec<u8>> = c
        .query_row(
            "SELECT value FROM server_secrets WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend("read a server key"))?;
    value.ok_or_else(|| StoreError::Corrupt {
        record: "server key",
        id: name.to_owned(),
        reason: "stored and then not found".into(),
    })
}

/// Spends the token `token` of `scope`: true the first time, false ever after. Records that
/// expired before `now` are dropped on the way, since their tokens are refused by their
/// expiry anyway.
pub fn spend(
    c: &mut Connection,
    scope: &str,
    token: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<bool, StoreError> {
    c.execute(
        "DELETE FROM used_tokens WHERE expires_at < ?1",
        params![now.0],
    )
    .map_err(backend("forget expired tokens"))?;
    let inserted = c
        .execute(
            "INSERT INTO used_tokens (scope, token, used_at, expires_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (scope, token) DO NOTHING",
            params![scope, token, now.0, expires_at.0.max(now.0)],
        )
        .map_err(backend("spend a single-use token"))?;
    Ok(inserted == 1)
}
