//! The SQL behind each store call. Each function runs on the database thread with the one
//! connection; every write happens inside one transaction.

use rusqlite::types::Value as Sql;
use rusqlite::{
    Connection, ErrorCode, OptionalExtension, TransactionBehavior, params, params_from_iter,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backend;
pub use super::learning::{
    latest_learned_call, learned_call, learned_calls, learned_labels, overlays,
};
use crate::model::{AuditEntry, Checkpoint, Memory, MemoryQuery, Notification, Timestamp};
use crate::store::{
    AuditFilter, Claimed, Delivery, Due, Expected, StoreError, Transaction, Versioned, Write,
};

pub use crate::store::table::Table;

fn decode<T: DeserializeOwned>(
    record: &'static str,
    id: &str,
    body: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt {
        record,
        id: id.to_owned(),
        reason: e.to_string(),
    })
}

fn encode<T: Serialize>(record: &'static str, id: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        record,
        id: id.to_owned(),
        reason: e.to_string(),
    })
}

fn version_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn limit_of(limit: Option<usize>) -> i64 {
    limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX))
}

pub fn get<T: DeserializeOwned>(
    c: &mut Connection,
    table: Table,
    id: &str,
) -> Result<Option<Versioned<T>>, StoreError> {
    let sql = format!("SELECT version, body FROM {} WHERE id = ?1", table.name());
    let row: Option<(i64, String)> = c
        .query_row(&sql, params![id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(backend("read a record"))?;
    row.map(|(version, body)| {
        Ok(Versioned {
            version: version_of(version),
            record: decode(table.record(), id, &body)?,
        })
    })
    .transpose()
}

pub fn list<T: DeserializeOwned>(
    c: &mut Connection,
    table: Table,
    status: Option<&str>,
    execution: Option<&str>,
    limit: Option<usize>,
) -> Result<Vec<Versioned<T>>, StoreError> {
    let sql = format!(
        "SELECT id, version, body FROM {t}
         WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR {e} = ?2)
         ORDER BY created_at DESC, id DESC LIMIT ?3",
        t = table.name(),
        e = table.execution_column()
    );
    let mut stmt = c.prepare(&sql).map_err(backend("list records"))?;
    let rows = stmt
        .query_map(params![status, execution, limit_of(limit)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(backend("list records"))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, version, body) = row.map_err(backend("list records"))?;
        out.push(Versioned {
            version: version_of(version),
            record: decode(table.record(), &id, &body)?,
        });
    }
    Ok(out)
}

pub fn checkpoints(c: &mut Connection, execution: &str) -> Result<Vec<Checkpoint>, StoreError> {
    let mut stmt = c
        .prepare("SELECT body FROM checkpoints WHERE execution_id = ?1 ORDER BY seq")
        .map_err(backend("list checkpoints"))?;
    let rows = stmt
        .query_map(params![execution], |r| r.get::<_, String>(0))
        .map_err(backend("list checkpoints"))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(decode(
            "checkpoint",
            execution,
            &row.map_err(backend("list checkpoints"))?,
        )?);
    }
    Ok(out)
}

pub fn unused_grants<T: DeserializeOwned>(
    c: &mut Connection,
    key: &[String; 4],
) -> Result<Vec<Versioned<T>>, StoreError> {
    let mut stmt = c
        .prepare(
            "SELECT id, version, body FROM grants
             WHERE execution_id = ?1 AND action = ?2 AND resource = ?3 AND context_hash = ?4
               AND used_at IS NULL
             ORDER BY id",
        )
        .map_err(backend("find grants"))?;
    let rows = stmt
        .query_map(params_from_iter(key.iter()), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(backend("find grants"))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, version, body) = row.map_err(backend("find grants"))?;
        out.push(Versioned {
            version: version_of(version),
            record: decode("grant", &id, &body)?,
        });
    }
    Ok(out)
}

/// Applies a transaction: every write under its version check, every append, or nothing.
pub fn commit(c: &mut Connection, tx: Transaction) -> Result<(), StoreError> {
    let t = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend("begin a transaction"))?;
    for write in &tx.writes {
        put(&t, write)?;
    }
    for cp in &tx.checkpoints {
        let id = cp.execution_id.as_str();
        t.execute(
            "INSERT INTO checkpoints (execution_id, seq, at, body) VALUES (?1, ?2, ?3, ?4)",
            params![
                id,
                i64::try_from(cp.seq).unwrap_or(i64::MAX),
                cp.at.0,
                encode("checkpoint", id, cp)?
            ],
        )
        .map_err(backend("write a checkpoint"))?;
    }
    for entry in &tx.audit {
        insert_audit(&t, entry)?;
    }
    for m in &tx.memories {
        insert_memory(&t, m)?;
    }
    for n in &tx.notifications {
        insert_notification(&t, n)?;
    }
    for call in &tx.calls {
        super::learning::insert_call(&t, call)?;
    }
    for label in &tx.labels {
        super::learning::set_label(&t, label)?;
    }
    t.commit().map_err(backend("commit a transaction"))
}

/// Stores the votes an approval write adds (see `store::votes`).
fn record_votes(
    t: &rusqlite::Transaction<'_>,
    request: &crate::model::ApprovalRequest,
) -> Result<(), StoreError> {
    let id = request.id.as_str();
    let stored: Vec<(usize, usize)> = {
        let mut stmt = t
            .prepare_cached("SELECT step, COUNT(*) FROM votes WHERE request_id = ?1 GROUP BY step")
            .map_err(backend("read stored votes"))?;
        let rows = stmt
            .query_map(params![id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(backend("read stored votes"))?;
        let mut out = Vec::new();
        for row in rows {
            let (step, n) = row.map_err(backend("read stored votes"))?;
            out.push((
                usize::try_from(step).unwrap_or(usize::MAX),
                usize::try_from(n).unwrap_or(0),
            ));
        }
        out
    };
    for (step, vote) in crate::store::votes::new_votes(request, &stored)? {
        let inserted = t.execute(
            "INSERT INTO votes (request_id, step, principal, choice, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                id,
                i64::try_from(step).unwrap_or(i64::MAX),
                vote.principal.as_str(),
                crate::store::votes::choice_name(vote.choice),
                vote.at.0
            ],
        );
        match inserted {
            Ok(_) => {}
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                return Err(crate::store::votes::duplicate(request, step, vote));
            }
            Err(e) => return Err(backend("store a vote")(e)),
        }
    }
    Ok(())
}

fn put(t: &rusqlite::Transaction<'_>, write: &Write) -> Result<(), StoreError> {
    put_record(t, write)?;
    if let Write::Approval(request, _) = write {
        record_votes(t, request)?;
    }
    Ok(())
}

fn put_record(t: &rusqlite::Transaction<'_>, write: &Write) -> Result<(), StoreError> {
    let (record, id) = write.key();
    let (table, expected, body, cols): (Table, Expected, String, Vec<(&str, Sql)>) = match write {
        Write::Execution(e, x) => (
            Table::Executions,
            *x,
            encode(record, &id, e)?,
            vec![
                ("status", Sql::Text(e.status.as_str().into())),
                ("created_at", Sql::Integer(e.created_at.0)),
                ("updated_at", Sql::Integer(e.updated_at.0)),
            ],
        ),
        Write::Approval(a, x) => (
            Table::Approvals,
            *x,
            encode(record, &id, a)?,
            vec![
                ("execution_id", Sql::Text(a.execution_id.to_string())),
                ("status", Sql::Text(a.status.as_str().into())),
                (
                    "next_due",
                    a.next_due().map_or(Sql::Null, |t| Sql::Integer(t.0)),
                ),
                ("created_at", Sql::Integer(a.created_at.0)),
            ],
        ),
        Write::Feedback(f, x) => (
            Table::Feedback,
            *x,
            encode(record, &id, f)?,
            vec![
                ("execution_id", Sql::Text(f.execution_id.to_string())),
                ("status", Sql::Text(f.status.as_str().into())),
                (
                    "next_due",
                    f.next_due().map_or(Sql::Null, |t| Sql::Integer(t.0)),
                ),
                ("created_at", Sql::Integer(f.created_at.0)),
            ],
        ),
        Write::Overlay(o, x) => (
            Table::Thresholds,
            *x,
            encode(record, &id, o)?,
            vec![("updated_at", Sql::Integer(o.updated_at.0))],
        ),
        Write::Grant(g, x) => (
            Table::Grants,
            *x,
            encode(record, &id, g)?,
            vec![
                ("execution_id", Sql::Text(g.execution_id.to_string())),
                ("action", Sql::Text(g.action.clone())),
                ("resource", Sql::Text(g.resource.clone())),
                ("context_hash", Sql::Text(g.context_hash.clone())),
                (
                    "used_at",
                    g.used_at.map_or(Sql::Null, |t| Sql::Integer(t.0)),
                ),
            ],
        ),
    };
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let mut values: Vec<Sql> = cols.into_iter().map(|(_, v)| v).collect();
    match expected {
        Expected::New => {
            let placeholders: Vec<String> =
                (0..names.len()).map(|i| format!("?{}", i + 4)).collect();
            let sql = format!(
                "INSERT INTO {} (id, version, body, {}) VALUES (?1, ?2, ?3, {})",
                table.name(),
                names.join(", "),
                placeholders.join(", ")
            );
            let mut all = vec![Sql::Text(id.clone()), Sql::Integer(1), Sql::Text(body)];
            all.append(&mut values);
            match t.execute(&sql, params_from_iter(all)) {
                Ok(_) => Ok(()),
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                    Err(StoreError::Conflict {
                        record,
                        id,
                        expected: None,
                    })
                }
                Err(e) => Err(backend("insert a record")(e)),
            }
        }
        Expected::Version(v) => {
            let sets: Vec<String> = names
                .iter()
                .enumerate()
                .map(|(i, n)| format!("{n} = ?{}", i + 5))
                .collect();
            let sql = format!(
                "UPDATE {} SET version = ?3, body = ?4, {} WHERE id = ?1 AND version = ?2",
                table.name(),
                sets.join(", ")
            );
            let v = i64::try_from(v).unwrap_or(i64::MAX);
            let mut all = vec![
                Sql::Text(id.clone()),
                Sql::Integer(v),
                Sql::Integer(v.saturating_add(1)),
                Sql::Text(body),
            ];
            all.append(&mut values);
            let changed = t
                .execute(&sql, params_from_iter(all))
                .map_err(backend("update a record"))?;
            if changed == 1 {
                Ok(())
            } else {
                Err(StoreError::Conflict {
                    record,
                    id,
                    expected: Some(version_of(v)),
                })
            }
        }
    }
}

pub(super) fn insert_audit(
    t: &rusqlite::Transaction<'_>,
    e: &AuditEntry,
) -> Result<(), StoreError> {
    t.execute(
        "INSERT INTO audit (at, kind, execution_id, request_id, principal, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            e.at.0,
            e.kind.as_str(),
            e.execution_id.as_ref().map(|x| x.as_str()),
            e.request_id,
            e.principal.as_ref().map(|p| p.as_str()),
            e.detail.to_string()
        ],
    )
    .map_err(backend("append to the audit log"))?;
    Ok(())
}

fn insert_memory(t: &rusqlite::Transaction<'_>, m: &Memory) -> Result<(), StoreError> {
    let id = m.id.as_str();
    t.execute(
        "INSERT INTO memories (id, kind, execution_id, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            id,
            m.kind.as_str(),
            m.execution_id.as_ref().map(|x| x.as_str()),
            m.created_at.0,
            encode("memory", id, m)?
        ],
    )
    .map_err(backend("write a memory"))?;
    for tag in &m.tags {
        t.execute(
            "INSERT OR IGNORE INTO memory_tags (memory_id, tag) VALUES (?1, ?2)",
            params![id, tag],
        )
        .map_err(backend("write a memory tag"))?;
    }
    Ok(())
}

fn insert_notification(t: &rusqlite::Transaction<'_>, n: &Notification) -> Result<(), StoreError> {
    let id = n.id.as_str();
    t.execute(
        "INSERT INTO outbox (id, created_at, due_at, body) VALUES (?1, ?2, ?2, ?3)",
        params![id, n.created_at.0, encode("notification", id, n)?],
    )
    .map_err(backend("queue a notification"))?;
    Ok(())
}

pub fn due(c: &mut Connection, now: Timestamp) -> Result<Vec<Due>, StoreError> {
    let mut out = Vec::new();
    for (table, make) in [
        (
            "approvals",
            (|id: String| Due::Approval(id.into())) as fn(String) -> Due,
        ),
        ("feedback", |id: String| Due::Feedback(id.into())),
    ] {
        let sql = format!(
            "SELECT id FROM {table} WHERE next_due IS NOT NULL AND next_due <= ?1 ORDER BY next_due"
        );
        let mut stmt = c.prepare(&sql).map_err(backend("find due requests"))?;
        let rows = stmt
            .query_map(params![now.0], |r| r.get::<_, String>(0))
            .map_err(backend("find due requests"))?;
        for row in rows {
            out.push(make(row.map_err(backend("find due requests"))?));
        }
    }
    Ok(out)
}

pub fn next_due(c: &mut Connection) -> Result<Option<Timestamp>, StoreError> {
    c.query_row(
        "SELECT MIN(n) FROM (SELECT MIN(next_due) AS n FROM approvals
                             UNION ALL SELECT MIN(next_due) FROM feedback)",
        [],
        |r| r.get::<_, Option<i64>>(0),
    )
    .map(|n| n.map(Timestamp))
    .map_err(backend("find the next deadline"))
}

pub fn audit(c: &mut Connection, f: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
    let mut clauses = Vec::new();
    let mut args: Vec<Sql> = Vec::new();
    let mut add = |clause: &str, value: Sql| {
        args.push(value);
        clauses.push(format!("{clause} ?{}", args.len()));
    };
    if let Some(e) = &f.execution {
        add("execution_id =", Sql::Text(e.to_string()));
    }
    if let Some(r) = &f.request {
        add("request_id =", Sql::Text(r.clone()));
    }
    if let Some(k) = &f.kind {
        add("kind =", Sql::Text(k.clone()));
    }
    if let Some(s) = f.after_seq {
        add("seq >", Sql::Integer(i64::try_from(s).unwrap_or(i64::MAX)));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    args.push(Sql::Integer(limit_of(f.limit)));
    let sql = format!(
        "SELECT seq, at, kind, execution_id, request_id, principal, detail FROM audit {filter}
         ORDER BY seq LIMIT ?{}",
        args.len()
    );
    let mut stmt = c.prepare(&sql).map_err(backend("read the audit log"))?;
    let rows = stmt
        .query_map(params_from_iter(args), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, String>(6)?,
            ))
        })
        .map_err(backend("read the audit log"))?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, at, kind, execution, request, principal, detail) =
            row.map_err(backend("read the audit log"))?;
        let id = seq.to_string();
        out.push(AuditEntry {
            seq: version_of(seq),
            at: Timestamp(at),
            kind: decode("audit entry", &id, &format!("\"{kind}\""))?,
            execution_id: execution.map(Into::into),
            request_id: request,
            principal: principal
                .map(|p| {
                    decode(
                        "audit entry",
                        &id,
                        &serde_json::Value::String(p).to_string(),
                    )
                })
                .transpose()?,
            detail: decode("audit entry", &id, &detail)?,
        });
    }
    Ok(out)
}

pub fn memories(c: &mut Connection, q: &MemoryQuery) -> Result<Vec<Memory>, StoreError> {
    let mut clauses = Vec::new();
    let mut args: Vec<Sql> = Vec::new();
    for tag in &q.tags {
        args.push(Sql::Text(tag.clone()));
        clauses.push(format!(
            "id IN (SELECT memory_id FROM memory_tags WHERE tag = ?{})",
            args.len()
        ));
    }
    if let Some(kind) = q.kind {
        args.push(Sql::Text(kind.as_str().into()));
        clauses.push(format!("kind = ?{}", args.len()));
    }
    if let Some(since) = q.since {
        args.push(Sql::Integer(since.0));
        clauses.push(format!("created_at >= ?{}", args.len()));
    }
    if let Some(until) = q.until {
        args.push(Sql::Integer(until.0));
        clauses.push(format!("created_at < ?{}", args.len()));
    }
    if let Some(e) = &q.execution {
        args.push(Sql::Text(e.to_string()));
        clauses.push(format!("execution_id = ?{}", args.len()));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    args.push(Sql::Integer(limit_of(q.limit)));
    let sql = format!(
        "SELECT id, body FROM memories {filter} ORDER BY created_at DESC, id DESC LIMIT ?{}",
        args.len()
    );
    let mut stmt = c.prepare(&sql).map_err(backend("query memories"))?;
    let rows = stmt
        .query_map(params_from_iter(args), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(backend("query memories"))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, body) = row.map_err(backend("query memories"))?;
        out.push(decode("memory", &id, &body)?);
    }
    Ok(out)
}

pub fn claim_notifications(
    c: &mut Connection,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> Result<Vec<Claimed>, StoreError> {
    let t = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend("claim notifications"))?;
    let mut claimed = Vec::new();
    {
        let mut stmt = t
            .prepare(
                "SELECT id, attempts, body, json_extract(body, '$.delivered') FROM outbox
                 WHERE due_at IS NOT NULL AND due_at <= ?1
                   AND (lease_until IS NULL OR lease_until <= ?1)
                 ORDER BY due_at LIMIT ?2",
            )
            .map_err(backend("claim notifications"))?;
        let rows = stmt
            .query_map(params![now.0, limit_of(Some(limit))], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .map_err(backend("claim notifications"))?;
        for row in rows {
            let (id, attempts, body, delivered) = row.map_err(backend("claim notifications"))?;
            let delivered = match delivered {
                Some(list) => decode("notification's deliveries", &id, &list)?,
                None => Vec::new(),
            };
            claimed.push(Claimed {
                notification: decode("notification", &id, &body)?,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                delivered,
            });
        }
    }
    for c in &claimed {
        t.execute(
            "UPDATE outbox SET lease_until = ?2 WHERE id = ?1",
            params![c.notification.id.as_str(), lease_until.0],
        )
        .map_err(backend("claim notifications"))?;
    }
    t.commit().map_err(backend("claim notifications"))?;
    Ok(claimed)
}

pub fn settle_notification(
    c: &mut Connection,
    id: &str,
    delivery: Delivery,
    audit: AuditEntry,
) -> Result<(), StoreError> {
    let t = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend("settle a notification"))?;
    match delivery {
        Delivery::Sent => t.execute(
            "UPDATE outbox SET delivered_at = ?2, due_at = NULL, lease_until = NULL,
                               attempts = attempts + 1
             WHERE id = ?1",
            params![id, audit.at.0],
        ),
        // The deliveries that succeeded ride in the row's body beside the notification
        // (which ignores them when read), so that the outbox keeps one row per notification
        // and its schema is unchanged.
        Delivery::Failed {
            error,
            retry_at,
            delivered,
        } => t.execute(
            "UPDATE outbox SET last_error = ?2, due_at = ?3, lease_until = NULL,
                               attempts = attempts + 1,
                               body = json_set(body, '$.delivered', json(?4))
             WHERE id = ?1",
            params![
                id,
                error,
                retry_at.map(|t| t.0),
                encode("notification's deliveries", id, &delivered)?
            ],
        ),
    }
    .map_err(backend("settle a notification"))?;
    insert_audit(&t, &audit)?;
    t.commit().map_err(backend("settle a notification"))
}

/// Takes or renews a lease in one statement: the upsert changes the row only when it is free,
/// expired or already the holder's, and `RETURNING` tells whether it did.
pub fn lease(
    c: &mut Connection,
    name: &str,
    holder: &str,
    now: Timestamp,
    until: Timestamp,
) -> Result<bool, StoreError> {
    c.query_row(
        "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?4)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
             WHERE leases.holder = excluded.holder OR leases.until <= ?3
         RETURNING holder",
        params![name, holder, now.0, until.0],
        |_| Ok(()),
    )
    .optional()
    .map(|taken| taken.is_some())
    .map_err(backend("take a lease"))
}

pub fn next_notification(c: &mut Connection) -> Result<Option<Timestamp>, StoreError> {
    c.query_row(
        "SELECT MIN(MAX(due_at, COALESCE(lease_until, due_at))) FROM outbox
         WHERE due_at IS NOT NULL",
        [],
        |r| r.get::<_, Option<i64>>(0),
    )
    .map(|n| n.map(Timestamp))
    .map_err(backend("find the next notification"))
}
