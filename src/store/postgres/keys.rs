//! The SQL of what is claimed once on PostgreSQL: idempotency keys, the server's keys,
//! spent single-use tokens and leases. Each claim is one atomic statement (an insert that
//! does nothing on a conflict, or an upsert that changes a row only when allowed), so that
//! of racing callers on several nodes exactly one wins.

use super::Client;
use super::ops::{NO_RECORD, exec, notify, rows};
use crate::model::{IdempotencyRecord, Principal, StoredResponse, Timestamp};
use crate::store::{KeyClaim, StoreError};

/// How often a claim retries when the record it found vanished (released, or replaced after
/// expiring) before it could read it.
const CLAIM_TRIES: usize = 8;

pub async fn record(
    c: &Client,
    principal: &Principal,
    key: &str,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    let found = rows(
        c,
        "read an idempotency record",
        "SELECT request_hash, created_at, status, body FROM idempotency
         WHERE principal = $1 AND key = $2",
        &[&principal.as_str(), &key],
    )
    .await?;
    let Some(r) = found.first() else {
        return Ok(None);
    };
    let status: Option<i32> = r.get(2);
    let response = match status {
        None => None,
        Some(status) => Some(StoredResponse {
            status: u16::try_from(status).map_err(|_| StoreError::Corrupt {
                record: "idempotency record",
                id: key.to_owned(),
                reason: format!("status {status} is not an HTTP status"),
            })?,
            body: r.get::<_, Option<Vec<u8>>>(3).unwrap_or_default(),
        }),
    };
    Ok(Some(IdempotencyRecord {
        principal: principal.clone(),
        key: key.to_owned(),
        request_hash: r.get(0),
        created_at: Timestamp(r.get(1)),
        response,
    }))
}

pub async fn claim(
    c: &Client,
    principal: &Principal,
    key: &str,
    request_hash: &str,
    now: Timestamp,
    expired_before: Timestamp,
) -> Result<KeyClaim, StoreError> {
    for _ in 0..CLAIM_TRIES {
        let inserted = exec(
            c,
            "claim an idempotency key",
            "INSERT INTO idempotency (principal, key, request_hash, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (principal, key) DO NOTHING",
            &[&principal.as_str(), &key, &request_hash, &now.0],
        )
        .await?;
        if inserted == 1 {
            notify(c, NO_RECORD).await?;
            return Ok(KeyClaim::Claimed(IdempotencyRecord {
                principal: principal.clone(),
                key: key.to_owned(),
                request_hash: request_hash.to_owned(),
                created_at: now,
                response: None,
            }));
        }
        let Some(found) = record(c, principal, key).await? else {
            continue;
        };
        if found.created_at.0 >= expired_before.0 {
            return Ok(KeyClaim::Taken(found));
        }
        // Expired: drop exactly the record read (not one that a racing claim put in its
        // place), then claim again.
        exec(
            c,
            "replace an expired idempotency record",
            "DELETE FROM idempotency
             WHERE principal = $1 AND key = $2 AND created_at = $3 AND request_hash = $4",
            &[
                &principal.as_str(),
                &key,
                &found.created_at.0,
                &found.request_hash,
            ],
        )
        .await?;
    }
    Err(StoreError::Conflict {
        record: "idempotency key",
        id: key.to_owned(),
        expected: None,
    })
}

/// The `WHERE` clause that finds a claim still unanswered, and only that claim.
const THIS_CLAIM: &str = "principal = $1 AND key = $2 AND request_hash = $3 AND created_at = $4
                          AND status IS NULL";

pub async fn answer(
    c: &mut Client,
    claim: &IdempotencyRecord,
    response: &StoredResponse,
) -> Result<(), StoreError> {
    let t = c
        .transaction()
        .await
        .map_err(super::connect::backend("answer an idempotency key"))?;
    let changed = exec(
        &t,
        "answer an idempotency key",
        &format!("UPDATE idempotency SET status = $5, body = $6 WHERE {THIS_CLAIM}"),
        &[
            &claim.principal.as_str(),
            &claim.key,
            &claim.request_hash,
            &claim.created_at.0,
            &i32::from(response.status),
            &response.body,
        ],
    )
    .await?;
    if changed == 0 {
        return Err(StoreError::Conflict {
            record: "idempotency key",
            id: claim.key.clone(),
            expected: None,
        });
    }
    notify(&t, NO_RECORD).await?;
    t.commit()
        .await
        .map_err(super::connect::backend("answer an idempotency key"))
}

pub async fn release(c: &Client, claim: &IdempotencyRecord) -> Result<bool, StoreError> {
    let changed = exec(
        c,
        "release an idempotency key",
        &format!("DELETE FROM idempotency WHERE {THIS_CLAIM}"),
        &[
            &claim.principal.as_str(),
            &claim.key,
            &claim.request_hash,
            &claim.created_at.0,
        ],
    )
    .await?;
    Ok(changed > 0)
}

pub async fn prune(c: &Client, before: Timestamp) -> Result<u64, StoreError> {
    exec(
        c,
        "prune idempotency records",
        "DELETE FROM idempotency WHERE created_at < $1",
        &[&before.0],
    )
    .await
}

/// The key named `name`: the one stored, or `candidate`, stored now, when there is none yet.
pub async fn server_secret(
    c: &Client,
    name: &str,
    candidate: &[u8],
    now: Timestamp,
) -> Result<Vec<u8>, StoreError> {
    exec(
        c,
        "store a server key",
        "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING",
        &[&name, &candidate, &now.0],
    )
    .await?;
    let found = rows(
        c,
        "read a server key",
        "SELECT value FROM server_secrets WHERE name = $1",
        &[&name],
    )
    .await?;
    found
        .first()
        .map(|r| r.get::<_, Vec<u8>>(0))
        .ok_or_else(|| StoreError::Corrupt {
            record: "server key",
            id: name.to_owned(),
            reason: "stored and then not found".into(),
        })
}

/// Spends a single-use token: true the first time, false ever after. Records that expired
/// before `now` are dropped on the way.
pub async fn spend_token(
    c: &Client,
    scope: &str,
    token: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<bool, StoreError> {
    exec(
        c,
        "forget expired tokens",
        "DELETE FROM used_tokens WHERE expires_at < $1",
        &[&now.0],
    )
    .await?;
    let inserted = exec(
        c,
        "spend a single-use token",
        "INSERT INTO used_tokens (scope, token, used_at, expires_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (scope, token) DO NOTHING",
        &[&scope, &token, &now.0, &expires_at.0.max(now.0)],
    )
    .await?;
    Ok(inserted == 1)
}

/// Takes or renews a lease in one statement: the upsert changes the row only when it is
/// free, expired at `now` or already the holder's, and `RETURNING` tells whether it did.
pub async fn lease(
    c: &Client,
    name: &str,
    holder: &str,
    now: Timestamp,
    until: Timestamp,
) -> Result<bool, StoreError> {
    let found = rows(
        c,
        "take a lease",
        "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $4)
         ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
             WHERE leases.holder = EXCLUDED.holder OR leases.until <= $3
         RETURNING holder",
        &[&name, &holder, &now.0, &until.0],
    )
    .await?;
    Ok(!found.is_empty())
}
