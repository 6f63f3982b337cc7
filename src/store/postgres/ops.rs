//! The SQL behind each store call on PostgreSQL: the records, the transaction of a commit,
//! the audit log, memories, deadlines and the outbox.

use deadpool_postgres::GenericClient;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::Client;
use super::connect::{backend, is_unique_violation};
use crate::model::{AuditEntry, Checkpoint, Memory, MemoryQuery, Timestamp};
use crate::store::{
    AuditFilter, Claimed, Delivery, Due, Expected, StoreError, Transaction, Versioned, Write,
};

/// The advisory lock under which audit entries are numbered, so that their numbers are
/// committed in order (a reader paging with `after_seq` never passes over an entry that a
/// slower transaction commits later with a lower number).
pub(super) const APPEND_LOCK: i64 = 0x7265_6b61_6c6c_0002;

/// A query parameter.
pub(super) type Param<'a> = &'a (dyn ToSql + Sync);

/// Prepares (once per connection) and runs a query.
pub(super) async fn rows(
    c: &impl GenericClient,
    operation: &'static str,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Vec<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(backend(operation))?;
    c.query(&stmt, params).await.map_err(backend(operation))
}

/// Prepares (once per connection) and runs a statement; the driver's error is kept, for the
/// caller to tell a unique key from other failures.
pub(super) async fn exec_raw(
    c: &impl GenericClient,
    sql: &str,
    params: &[Param<'_>],
) -> Result<u64, tokio_postgres::Error> {
    let stmt = c.prepare_cached(sql).await?;
    c.execute(&stmt, params).await
}

pub(super) async fn exec(
    c: &impl GenericClient,
    operation: &'static str,
    sql: &str,
    params: &[Param<'_>],
) -> Result<u64, StoreError> {
    exec_raw(c, sql, params).await.map_err(backend(operation))
}

/// The most bytes of keys a notification carries (PostgreSQL's limit is 8000); a commit
/// that wrote more says "anything".
const MAX_PAYLOAD: usize = 7_000;

/// The payload that tells listeners which records a commit wrote: `=` and the keys, each
/// ended by a space (`=` alone: no record a waiter waits on). An empty payload means
/// anything may have changed.
pub(super) fn payload<'a>(keys: impl IntoIterator<Item = &'a Write>) -> String {
    let mut out = String::from("=");
    for w in keys {
        out.push_str(&w.wake_key());
        out.push(' ');
        if out.len() > MAX_PAYLOAD {
            return String::new();
        }
    }
    out
}

/// The payload of a commit that wrote no record a waiter waits on.
pub(super) const NO_RECORD: &str = "=";

/// Tells every listener what the transaction wrote, when it commits.
pub(super) async fn notify(c: &impl GenericClient, payload: &str) -> Result<(), StoreError> {
    exec(
        c,
        "announce a change",
        "SELECT pg_notify('rekall_changes', $1)",
        &[&payload],
    )
    .await
    .map(|_| ())
}

pub use crate::store::table::Table;

pub(super) fn decode<T: DeserializeOwned>(
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

pub(super) fn encode<T: Serialize>(
    record: &'static str,
    id: &str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        record,
        id: id.to_owned(),
        reason: e.to_string(),
    })
}

pub(super) fn version_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn number(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A limit for SQL: `NULL` is none.
pub(super) fn limit_of(limit: Option<usize>) -> Option<i64> {
    limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX))
}

fn versioned<T: DeserializeOwned>(
    record: &'static str,
    rows: Vec<Row>,
) -> Result<Vec<Versioned<T>>, StoreError> {
    rows.iter()
        .map(|r| {
            let id: String = r.get(0);
            Ok(Versioned {
                version: version_of(r.get(1)),
                record: decode(record, &id, r.get(2))?,
            })
        })
        .collect()
}

pub async fn get<T: DeserializeOwned>(
    c: &Client,
    table: Table,
    id: &str,
) -> Result<Option<Versioned<T>>, StoreError> {
    let sql = format!(
        "SELECT id, version, body FROM {} WHERE id = $1",
        table.name()
    );
    let found = rows(c, "read a record", &sql, &[&id]).await?;
    Ok(versioned(table.record(), found)?.pop())
}

pub async fn list<T: DeserializeOwned>(
    c: &Client,
    table: Table,
    status: Option<&str>,
    execution: Option<&str>,
    limit: Option<usize>,
) -> Result<Vec<Versioned<T>>, StoreError> {
    let sql = format!(
        "SELECT id, version, body FROM {t}
         WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR {e} = $2)
         ORDER BY created_at DESC, id DESC LIMIT $3",
        t = table.name(),
        e = table.execution_column()
    );
    let found = rows(
        c,
        "list records",
        &sql,
        &[&status, &execution, &limit_of(limit)],
    )
    .await?;
    versioned(table.record(), found)
}

pub async fn checkpoints(c: &Client, execution: &str) -> Result<Vec<Checkpoint>, StoreError> {
    let found = rows(
        c,
        "list checkpoints",
        "SELECT body FROM checkpoints WHERE execution_id = $1 ORDER BY seq",
        &[&execution],
    )
    .await?;
    found
        .iter()
        .map(|r| decode("checkpoint", execution, r.get(0)))
        .collect()
}

pub async fn unused_grants<T: DeserializeOwned>(
    c: &Client,
    key: &[String; 4],
) -> Result<Vec<Versioned<T>>, StoreError> {
    let found = rows(
        c,
        "find grants",
        "SELECT id, version, body FROM grants
         WHERE execution_id = $1 AND action = $2 AND resource = $3 AND context_hash = $4
           AND used_at IS NULL
         ORDER BY id",
        &[&key[0], &key[1], &key[2], &key[3]],
    )
    .await?;
    versioned("grant", found)
}

/// Applies a transaction: every write under its version check, every append, or nothing.
pub async fn commit(c: &mut Client, tx: Transaction) -> Result<(), StoreError> {
    c.batch_execute("BEGIN")
        .await
        .map_err(backend("begin a transaction"))?;
    let done = commit_in(c, &tx).await;
    if done.is_err() {
        // Nothing of it stays; a connection whose transaction could not be ended is
        // dropped by the pool's next check of it.
        let _ = c.batch_execute("ROLLBACK").await;
    }
    done
}

/// The statements of [`commit`], inside its transaction, ending with its `COMMIT`.
async fn commit_in(t: &Client, tx: &Transaction) -> Result<(), StoreError> {
    for write in &tx.writes {
        put(t, write).await?;
    }
    for cp in &tx.checkpoints {
        let id = cp.execution_id.as_str();
        let body = encode("checkpoint", id, cp)?;
        exec(
            t,
            "write a checkpoint",
            "INSERT INTO checkpoints (execution_id, seq, at, body) VALUES ($1, $2, $3, $4)",
            &[&id, &number(cp.seq), &cp.at.0, &body],
        )
        .await?;
    }
    for m in &tx.memories {
        insert_memory(t, m).await?;
    }
    for n in &tx.notifications {
        let id = n.id.as_str();
        let body = encode("notification", id, n)?;
        exec(
            t,
            "queue a notification",
            "INSERT INTO outbox (id, created_at, due_at, body) VALUES ($1, $2, $2, $3)",
            &[&id, &n.created_at.0, &body],
        )
        .await?;
    }
    for call in &tx.calls {
        super::learning::insert_call(t, call).await?;
    }
    for label in &tx.labels {
        super::learning::set_label(t, label).await?;
    }
    let written = payload(&tx.writes);
    if tx.audit.is_empty() {
        notify(t, &written).await?;
        return t
            .batch_execute("COMMIT")
            .await
            .map_err(backend("commit a transaction"));
    }
    // The audit entries take the append lock, which every writer of the log waits for until
    // this transaction ends: the `COMMIT` goes out with them, so that the lock is held for
    // the database's own work and not for a round trip to this process and back. Should the
    // insert fail, PostgreSQL turns that `COMMIT` into a rollback.
    insert_audit_and_commit(t, &tx.audit, &written).await
}

/// One owned query parameter.
type Value = Box<dyn ToSql + Sync + Send>;

async fn put(t: &impl GenericClient, write: &Write) -> Result<(), StoreError> {
    let (record, id) = write.key();
    let (table, expected, body, cols): (Table, Expected, String, Vec<(&str, Value)>) = match write {
        Write::Execution(e, x) => (
            Table::Executions,
            *x,
            encode(record, &id, e)?,
            vec![
                ("status", Box::new(e.status.as_str().to_owned())),
                ("created_at", Box::new(e.created_at.0)),
                ("updated_at", Box::new(e.updated_at.0)),
            ],
        ),
        Write::Approval(a, x) => (
            Table::Approvals,
            *x,
            encode(record, &id, a)?,
            vec![
                ("execution_id", Box::new(a.execution_id.to_string())),
                ("status", Box::new(a.status.as_str().to_owned())),
                ("next_due", Box::new(a.next_due().map(|t| t.0))),
                ("created_at", Box::new(a.created_at.0)),
            ],
        ),
        Write::Feedback(f, x) => (
            Table::Feedback,
            *x,
            encode(record, &id, f)?,
            vec![
                ("execution_id", Box::new(f.execution_id.to_string())),
                ("status", Box::new(f.status.as_str().to_owned())),
                ("next_due", Box::new(f.next_due().map(|t| t.0))),
                ("created_at", Box::new(f.created_at.0)),
            ],
        ),
        Write::Overlay(o, x) => (
            Table::Thresholds,
            *x,
            encode(record, &id, o)?,
            vec![("updated_at", Box::new(o.updated_at.0))],
        ),
        Write::Grant(g, x) => (
            Table::Grants,
            *x,
            encode(record, &id, g)?,
            vec![
                ("execution_id", Box::new(g.execution_id.to_string())),
                ("action", Box::new(g.action.clone())),
                ("resource", Box::new(g.resource.clone())),
                ("context_hash", Box::new(g.context_hash.clone())),
                ("used_at", Box::new(g.used_at.map(|t| t.0))),
            ],
        ),
    };
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let values: Vec<Param<'_>> = cols.iter().map(|(_, v)| v.as_ref() as Param<'_>).collect();
    match expected {
        Expected::New => {
            let placeholders: Vec<String> =
                (0..names.len()).map(|i| format!("${}", i + 4)).collect();
            let sql = format!(
                "INSERT INTO {} (id, version, body, {}) VALUES ($1, $2, $3, {})",
                table.name(),
                names.join(", "),
                placeholders.join(", ")
            );
            let one: i64 = 1;
            let mut all: Vec<Param<'_>> = vec![&id, &one, &body];
            all.extend(values);
            match exec_raw(t, &sql, &all).await {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Conflict {
                        record,
                        id,
                        expected: None,
                    });
                }
                Err(e) => return Err(backend("insert a record")(e)),
            }
        }
        Expected::Version(v) => {
            let sets: Vec<String> = names
                .iter()
                .enumerate()
                .map(|(i, n)| format!("{n} = ${}", i + 5))
                .collect();
            let sql = format!(
                "UPDATE {} SET version = $3, body = $4, {} WHERE id = $1 AND version = $2",
                table.name(),
                sets.join(", ")
            );
            let v = number(v);
            let next = v.saturating_add(1);
            let mut all: Vec<Param<'_>> = vec![&id, &v, &next, &body];
            all.extend(values);
            let changed = exec(t, "update a record", &sql, &all).await?;
            if changed != 1 {
                return Err(StoreError::Conflict {
                    record,
                    id,
                    expected: Some(version_of(v)),
                });
            }
        }
    }
    if let Write::Approval(request, expected) = write {
        record_votes(t, request, *expected).await?;
    }
    Ok(())
}

/// Stores the votes an approval write adds (see `store::votes`). The request's row is
/// locked by this transaction's write, so the counts read here cannot move before commit.
async fn record_votes(
    t: &impl GenericClient,
    request: &crate::model::ApprovalRequest,
    expected: Expected,
) -> Result<(), StoreError> {
    let id = request.id.as_str();
    let stored: Vec<(usize, usize)> = match expected {
        Expected::New => Vec::new(),
        Expected::Version(_) => rows(
            t,
            "read stored votes",
            "SELECT step, COUNT(*) FROM votes WHERE request_id = $1 GROUP BY step",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| {
            (
                usize::try_from(r.get::<_, i32>(0)).unwrap_or(usize::MAX),
                usize::try_from(r.get::<_, i64>(1)).unwrap_or(0),
            )
        })
        .collect(),
    };
    for (step, vote) in crate::store::votes::new_votes(request, &stored)? {
        let index = i32::try_from(step).unwrap_or(i32::MAX);
        let inserted = exec_raw(
            t,
            "INSERT INTO votes (request_id, step, principal, choice, at) VALUES ($1, $2, $3, $4, $5)",
            &[
                &id,
                &index,
                &vote.principal.as_str(),
                &crate::store::votes::choice_name(vote.choice),
                &vote.at.0,
            ],
        )
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(crate::store::votes::duplicate(request, step, vote));
            }
            Err(e) => return Err(backend("store a vote")(e)),
        }
    }
    Ok(())
}

/// Appends audit entries in one statement, numbered in the order given, and announces the
/// change. The statement takes the append lock before its rows are numbered, and the lock
/// is held until the transaction ends: numbers are committed in order, and the lock is held
/// for one round trip (this statement's answer, then the commit).
pub(super) async fn insert_audit(
    c: &impl GenericClient,
    entries: &[AuditEntry],
    payload: &str,
) -> Result<(), StoreError> {
    append_audit(c, entries, payload, false).await
}

/// [`insert_audit`], then the transaction's `COMMIT` sent right behind it (see `commit_in`).
async fn insert_audit_and_commit(
    c: &impl GenericClient,
    entries: &[AuditEntry],
    payload: &str,
) -> Result<(), StoreError> {
    append_audit(c, entries, payload, true).await
}

const APPEND_AUDIT: &str = "WITH locked AS (
         SELECT pg_advisory_xact_lock($7), pg_notify('rekall_changes', $8)
     )
     INSERT INTO audit (at, kind, execution_id, request_id, principal, detail)
     SELECT e.at, e.kind, e.execution_id, e.request_id, e.principal, e.detail
     FROM locked,
          UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
          WITH ORDINALITY AS e (at, kind, execution_id, request_id, principal, detail, n)
     ORDER BY e.n";

async fn append_audit(
    c: &impl GenericClient,
    entries: &[AuditEntry],
    payload: &str,
    then_commit: bool,
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return if then_commit {
            c.batch_execute("COMMIT")
                .await
                .map_err(backend("commit a transaction"))
        } else {
            Ok(())
        };
    }
    let at: Vec<i64> = entries.iter().map(|e| e.at.0).collect();
    let kind: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    let execution: Vec<Option<&str>> = entries
        .iter()
        .map(|e| e.execution_id.as_ref().map(|x| x.as_str()))
        .collect();
    let request: Vec<Option<&str>> = entries.iter().map(|e| e.request_id.as_deref()).collect();
    let principal: Vec<Option<&str>> = entries
        .iter()
        .map(|e| e.principal.as_ref().map(|p| p.as_str()))
        .collect();
    let detail: Vec<String> = entries.iter().map(|e| e.detail.to_string()).collect();
    let params: [Param<'_>; 8] = [
        &at,
        &kind,
        &execution,
        &request,
        &principal,
        &detail,
        &APPEND_LOCK,
        &payload,
    ];
    // Prepared first, so that the insert's messages are sent before a `COMMIT` behind it.
    let statement = c
        .prepare_cached(APPEND_AUDIT)
        .await
        .map_err(backend("append to the audit log"))?;
    if !then_commit {
        return c
            .execute(&statement, &params)
            .await
            .map(|_| ())
            .map_err(backend("append to the audit log"));
    }
    let (appended, committed) =
        tokio::join!(c.execute(&statement, &params), c.batch_execute("COMMIT"));
    appended.map_err(backend("append to the audit log"))?;
    committed.map_err(backend("commit a transaction"))
}

async fn insert_memory(c: &impl GenericClient, m: &Memory) -> Result<(), StoreError> {
    let id = m.id.as_str();
    let body = encode("memory", id, m)?;
    exec(
        c,
        "write a memory",
        "INSERT INTO memories (id, kind, execution_id, created_at, body) VALUES ($1, $2, $3, $4, $5)",
        &[
            &id,
            &m.kind.as_str(),
            &m.execution_id.as_ref().map(|x| x.as_str()),
            &m.created_at.0,
            &body,
        ],
    )
    .await?;
    for tag in &m.tags {
        exec(
            c,
            "write a memory tag",
            "INSERT INTO memory_tags (memory_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&id, tag],
        )
        .await?;
    }
    Ok(())
}

pub async fn due(c: &Client, now: Timestamp) -> Result<Vec<Due>, StoreError> {
    let found = rows(
        c,
        "find due requests",
        "SELECT id, 0 AS kind, next_due FROM approvals WHERE next_due IS NOT NULL AND next_due <= $1
         UNION ALL
         SELECT id, 1, next_due FROM feedback WHERE next_due IS NOT NULL AND next_due <= $1
         ORDER BY kind, next_due",
        &[&now.0],
    )
    .await?;
    Ok(found
        .iter()
        .map(|r| {
            let id: String = r.get(0);
            if r.get::<_, i32>(1) == 0 {
                Due::Approval(id.into())
            } else {
                Due::Feedback(id.into())
            }
        })
        .collect())
}

pub async fn next_due(c: &Client) -> Result<Option<Timestamp>, StoreError> {
    let found = rows(
        c,
        "find the next deadline",
        "SELECT LEAST((SELECT MIN(next_due) FROM approvals), (SELECT MIN(next_due) FROM feedback))",
        &[],
    )
    .await?;
    Ok(found
        .first()
        .and_then(|r| r.get::<_, Option<i64>>(0))
        .map(Timestamp))
}

pub async fn audit(c: &Client, f: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
    let execution = f.execution.as_ref().map(ToString::to_string);
    let after = f.after_seq.map(number);
    let mut clauses = Vec::new();
    let mut args: Vec<Param<'_>> = Vec::new();
    if let Some(e) = &execution {
        args.push(e);
        clauses.push(format!("execution_id = ${}", args.len()));
    }
    if let Some(r) = &f.request {
        args.push(r);
        clauses.push(format!("request_id = ${}", args.len()));
    }
    if let Some(k) = &f.kind {
        args.push(k);
        clauses.push(format!("kind = ${}", args.len()));
    }
    if let Some(s) = &after {
        args.push(s);
        clauses.push(format!("seq > ${}", args.len()));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let limit = limit_of(f.limit);
    args.push(&limit);
    let sql = format!(
        "SELECT seq, at, kind, execution_id, request_id, principal, detail FROM audit {filter}
         ORDER BY seq LIMIT ${}",
        args.len()
    );
    let found = rows(c, "read the audit log", &sql, &args).await?;
    let mut out = Vec::with_capacity(found.len());
    for r in &found {
        let seq: i64 = r.get(0);
        let id = seq.to_string();
        let kind: String = r.get(2);
        let principal: Option<String> = r.get(5);
        out.push(AuditEntry {
            seq: version_of(seq),
            at: Timestamp(r.get(1)),
            kind: decode(
                "audit entry",
                &id,
                &serde_json::Value::String(kind).to_string(),
            )?,
            execution_id: r.get::<_, Option<String>>(3).map(Into::into),
            request_id: r.get(4),
            principal: principal
                .map(|p| {
                    decode(
                        "audit entry",
                        &id,
                        &serde_json::Value::String(p).to_string(),
                    )
                })
                .transpose()?,
            detail: decode("audit entry", &id, r.get(6))?,
        });
    }
    Ok(out)
}

pub async fn memories(c: &Client, q: &MemoryQuery) -> Result<Vec<Memory>, StoreError> {
    let kind = q.kind.map(|k| k.as_str().to_owned());
    let since = q.since.map(|t| t.0);
    let until = q.until.map(|t| t.0);
    let execution = q.execution.as_ref().map(ToString::to_string);
    let mut clauses = Vec::new();
    let mut args: Vec<Param<'_>> = Vec::new();
    for tag in &q.tags {
        args.push(tag);
        clauses.push(format!(
            "id IN (SELECT memory_id FROM memory_tags WHERE tag = ${})",
            args.len()
        ));
    }
    if let Some(k) = &kind {
        args.push(k);
        clauses.push(format!("kind = ${}", args.len()));
    }
    if let Some(s) = &since {
        args.push(s);
        clauses.push(format!("created_at >= ${}", args.len()));
    }
    if let Some(u) = &until {
        args.push(u);
        clauses.push(format!("created_at < ${}", args.len()));
    }
    if let Some(e) = &execution {
        args.push(e);
        clauses.push(format!("execution_id = ${}", args.len()));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let limit = limit_of(q.limit);
    args.push(&limit);
    let sql = format!(
        "SELECT id, body FROM memories {filter} ORDER BY created_at DESC, id DESC LIMIT ${}",
        args.len()
    );
    let found = rows(c, "query memories", &sql, &args).await?;
    found
        .iter()
        .map(|r| decode("memory", r.get(0), r.get(1)))
        .collect()
}

/// Leases due notifications in one statement; rows another node is leasing at this moment
/// are skipped, not waited for.
pub async fn claim_notifications(
    c: &Client,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> Result<Vec<Claimed>, StoreError> {
    let limit = limit_of(Some(limit));
    let found = rows(
        c,
        "claim notifications",
        "WITH due AS (
             SELECT id FROM outbox
             WHERE due_at IS NOT NULL AND due_at <= $1
               AND (lease_until IS NULL OR lease_until <= $1)
             ORDER BY due_at LIMIT $2
             FOR UPDATE SKIP LOCKED
         )
         UPDATE outbox o SET lease_until = $3 FROM due WHERE o.id = due.id
         RETURNING o.id, o.attempts, o.body, o.delivered, o.due_at",
        &[&now.0, &limit, &lease_until.0],
    )
    .await?;
    let mut claimed = Vec::with_capacity(found.len());
    for r in &found {
        let id: String = r.get(0);
        let delivered: Option<String> = r.get(3);
        let delivered = match delivered {
            Some(list) => decode("notification's deliveries", &id, &list)?,
            None => Vec::new(),
        };
        claimed.push((
            r.get::<_, Option<i64>>(4),
            Claimed {
                notification: decode("notification", &id, r.get(2))?,
                attempts: u32::try_from(r.get::<_, i32>(1)).unwrap_or(0),
                delivered,
            },
        ));
    }
    claimed.sort_by_key(|(due, _)| *due);
    Ok(claimed.into_iter().map(|(_, c)| c).collect())
}

pub async fn settle_notification(
    c: &mut Client,
    id: &str,
    delivery: Delivery,
    audit: AuditEntry,
) -> Result<(), StoreError> {
    let t = c
        .transaction()
        .await
        .map_err(backend("settle a notification"))?;
    match delivery {
        Delivery::Sent => {
            exec(
                &t,
                "settle a notification",
                "UPDATE outbox SET delivered_at = $2, due_at = NULL, lease_until = NULL,
                                   attempts = attempts + 1
                 WHERE id = $1",
                &[&id, &audit.at.0],
            )
            .await?;
        }
        Delivery::Failed {
            error,
            retry_at,
            delivered,
        } => {
            let delivered = encode("notification's deliveries", id, &delivered)?;
            exec(
                &t,
                "settle a notification",
                "UPDATE outbox SET last_error = $2, due_at = $3, lease_until = NULL,
                                   attempts = attempts + 1, delivered = $4
                 WHERE id = $1",
                &[&id, &error, &retry_at.map(|t| t.0), &delivered],
            )
            .await?;
        }
    }
    insert_audit(&t, std::slice::from_ref(&audit), NO_RECORD).await?;
    t.commit().await.map_err(backend("settle a notification"))
}

pub async fn next_notification(c: &Client) -> Result<Option<Timestamp>, StoreError> {
    let found = rows(
        c,
        "find the next notification",
        "SELECT MIN(GREATEST(due_at, COALESCE(lease_until, due_at))) FROM outbox
         WHERE due_at IS NOT NULL",
        &[],
    )
    .await?;
    Ok(found
        .first()
        .and_then(|r| r.get::<_, Option<i64>>(0))
        .map(Timestamp))
}
