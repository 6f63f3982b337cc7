//! The SQL of idempotency records.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::backend;
use crate::model::Principal;
use crate::model::{IdempotencyRecord, StoredResponse, Timestamp};
use crate::store::{KeyClaim, StoreError};

/// A row: the request's hash, when it was claimed, and the answer's status and body.
type Row = (String, i64, Option<i64>, Option<Vec<u8>>);

fn read(
    c: &Connection,
    principal: &Principal,
    key: &str,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    let row: Option<Row> = c
        .query_row(
            "SELECT request_hash, created_at, status, body FROM idempotency
             WHERE principal = ?1 AND key = ?2",
            params![principal.as_str(), key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(backend("read an idempotency record"))?;
    let Some((request_hash, created_at, status, body)) = row else {
        return Ok(None);
    };
    let response = match status {
        None => None,
        Some(status) => Some(StoredResponse {
            status: u16::try_from(status).map_err(|_| StoreError::Corrupt {
                record: "idempotency record",
                id: key.to_owned(),
                reason: format!("status {status} is not an HTTP status"),
            })?,
            body: body.unwrap_or_default(),
        }),
    };
    Ok(Some(IdempotencyRecord {
        principal: principal.clone(),
        key: key.to_owned(),
        request_hash,
        created_at: Timestamp(created_at),
        response,
    }))
}

pub fn record(
    c: &mut Connection,
    principal: &Principal,
    key: &str,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    read(c, principal, key)
}

pub fn claim(
    c: &mut Connection,
    principal: &Principal,
    key: &str,
    request_hash: &str,
    now: Timestamp,
    expired_before: Timestamp,
) -> Result<KeyClaim, StoreError> {
    // The read and the insert under one write lock: of two claims, the second reads the first.
    let t = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend("begin a transaction"))?;
    if let Some(found) = read(&t, principal, key)? {
        if found.created_at.0 >= expired_before.0 {
            return Ok(KeyClaim::Taken(found));
        }
        t.execute(
            "DELETE FROM idempotency WHERE principal = ?1 AND key = ?2",
            params![principal.as_str(), key],
        )
        .map_err(backend("replace an expired idempotency record"))?;
    }
    t.execute(
        "INSERT INTO idempotency (principal, key, request_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![principal.as_str(), key, request_hash, now.0],
    )
    .map_err(backend("claim an idempotency key"))?;
    t.commit().map_err(backend("commit an idempotency claim"))?;
    Ok(KeyClaim::Claimed(IdempotencyRecord {
        principal: principal.clone(),
        key: key.to_owned(),
        request_hash: request_hash.to_owned(),
        created_at: now,
        response: None,
    }))
}

/// The `WHERE` clause that finds a claim still unanswered, and only that claim.
const THIS_CLAIM: &str = "principal = ?1 AND key = ?2 AND request_hash = ?3 AND created_at = ?4
                          AND status IS NULL";

pub fn answer(
    c: &mut Connection,
    claim: &IdempotencyRecord,
    response: &StoredResponse,
) -> Result<(), StoreError> {
    let changed = c
        .execute(
            &format!("UPDATE idempotency SET status = ?5, body = ?6 WHERE {THIS_CLAIM}"),
            params![
                claim.principal.as_str(),
                claim.key,
                claim.request_hash,
                claim.created_at.0,
                i64::from(response.status),
                response.body,
            ],
        )
        .map_err(backend("answer an idempotency key"))?;
    if changed == 0 {
        return Err(StoreError::Conflict {
            record: "idempotency key",
            id: claim.key.clone(),
            expected: None,
        });
    }
    Ok(())
}

pub fn release(c: &mut Connection, claim: &IdempotencyRecord) -> Result<bool, StoreError> {
    let changed = c
        .execute(
            &format!("DELETE FROM idempotency WHERE {THIS_CLAIM}"),
            params![
                claim.principal.as_str(),
                claim.key,
                claim.request_hash,
                claim.created_at.0
            ],
        )
        .map_err(backend("release an idempotency key"))?;
    Ok(changed > 0)
}

pub fn prune(c: &mut Connection, before: Timestamp) -> Result<u64, StoreError> {
    let n = c
        .execute(
            "DELETE FROM idempotency WHERE created_at < ?1",
            params![before.0],
        )
        .map_err(backend("prune idempotency records"))?;
    Ok(u64::try_from(n).unwrap_or(u64::MAX))
}
