//! The SQLite schema and its migrations. Each migration runs once, in its own transaction,
//! recorded in `schema_migrations`; a database from a newer program is refused rather than
//! misread.
//!
//! Records are stored whole as JSON (`body`), beside the columns that are queried (status,
//! next deadline, execution) and the `version` that optimistic updates compare. The audit
//! log refuses updates and deletes by trigger.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::super::StoreError;
use super::backend;

/// The migrations, in order. Append; never edit one that has shipped.
const MIGRATIONS: &[(i64, &str)] = &[(1, V1), (2, V2), (3, V3), (4, V4), (5, V5)];

const V1: &str = r#"
CREATE TABLE executions (
    id          TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX executions_by_status ON executions (status, created_at);

CREATE TABLE checkpoints (
    execution_id TEXT NOT NULL REFERENCES executions (id),
    seq          INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (execution_id, seq)
);

CREATE TABLE approvals (
    id           TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    status       TEXT NOT NULL,
    next_due     INTEGER,
    created_at   INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX approvals_due ON approvals (next_due) WHERE next_due IS NOT NULL;
CREATE INDEX approvals_by_execution ON approvals (execution_id, created_at);
CREATE INDEX approvals_by_status ON approvals (status, created_at);

CREATE TABLE feedback (
    id           TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    status       TEXT NOT NULL,
    next_due     INTEGER,
    created_at   INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX feedback_due ON feedback (next_due) WHERE next_due IS NOT NULL;
CREATE INDEX feedback_by_execution ON feedback (execution_id, created_at);
CREATE INDEX feedback_by_status ON feedback (status, created_at);

CREATE TABLE grants (
    id           TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    action       TEXT NOT NULL,
    resource     TEXT NOT NULL,
    context_hash TEXT NOT NULL,
    used_at      INTEGER,
    version      INTEGER NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX grants_by_call ON grants (execution_id, action, resource, context_hash)
    WHERE used_at IS NULL;

CREATE TABLE audit (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    execution_id TEXT,
    request_id   TEXT,
    principal    TEXT,
    detail       TEXT NOT NULL
);
CREATE INDEX audit_by_execution ON audit (execution_id, seq);
CREATE INDEX audit_by_request ON audit (request_id, seq);
CREATE INDEX audit_by_kind ON audit (kind, seq);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE memories (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    execution_id TEXT,
    created_at   INTEGER NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX memories_by_time ON memories (created_at);
CREATE TABLE memory_tags (
    memory_id TEXT NOT NULL REFERENCES memories (id),
    tag       TEXT NOT NULL,
    PRIMARY KEY (tag, memory_id)
);

CREATE TABLE outbox (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    due_at      INTEGER,
    lease_until INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    delivered_at INTEGER,
    last_error  TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (due_at) WHERE due_at IS NOT NULL;
"#;

/// The learning loop: every call of an adaptive class with its route and label, and each
/// class's threshold overlay.
const V2: &str = r#"
CREATE TABLE learned_calls (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    class        TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    action       TEXT NOT NULL,
    resource     TEXT NOT NULL,
    context_hash TEXT NOT NULL,
    request_id   TEXT,
    confidence   REAL NOT NULL,
    route        TEXT NOT NULL,
    label        TEXT,
    source       TEXT,
    note         TEXT,
    at           INTEGER NOT NULL
);
CREATE INDEX learned_calls_by_class ON learned_calls (class, seq);
CREATE INDEX learned_calls_labelled ON learned_calls (class, seq)
    WHERE label IS NOT NULL AND route != 'auto';
CREATE INDEX learned_calls_by_request ON learned_calls (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX learned_calls_by_call
    ON learned_calls (execution_id, action, resource, context_hash, seq);

CREATE TABLE thresholds (
    id          TEXT PRIMARY KEY,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL
);
"#;

/// The policy's versions, append-only like the audit log (a rollback is a new version), and
/// the idempotency records of requests made with a key, with their answers.
const V3: &str = r#"
CREATE TABLE policy_versions (
    version     INTEGER PRIMARY KEY,
    language    TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    name        TEXT,
    principal   TEXT NOT NULL,
    request_id  TEXT,
    created_at  INTEGER NOT NULL,
    summary     TEXT NOT NULL,
    rollback_of INTEGER,
    text        TEXT NOT NULL
);
CREATE TRIGGER policy_versions_no_update BEFORE UPDATE ON policy_versions
    BEGIN SELECT RAISE(ABORT, 'policy versions are append-only'); END;
CREATE TRIGGER policy_versions_no_delete BEFORE DELETE ON policy_versions
    BEGIN SELECT RAISE(ABORT, 'policy versions are append-only'); END;

CREATE TABLE idempotency (
    principal    TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    status       INTEGER,
    body         BLOB,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_by_time ON idempotency (created_at);
"#;

/// What the server keeps to reach humans outside the API: its signing keys (made once, kept so
/// that a restart or a second node signs and checks alike), and the single-use tokens already
/// spent (an email link, a Slack action), so that a replay is refused.
const V4: &str = r#"
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE used_tokens (
    scope      TEXT NOT NULL,
    token      TEXT NOT NULL,
    used_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, token)
);
CREATE INDEX used_tokens_by_expiry ON used_tokens (expires_at);
"#;

/// One row per counted vote, keyed so that a principal's second vote on one step of one
/// request cannot be stored, whatever the caller (filled from the requests already stored);
/// and the leases that let one process at a time handle deadlines.
const V5: &str = r#"
CREATE TABLE votes (
    request_id TEXT NOT NULL,
    step       INTEGER NOT NULL,
    principal  TEXT NOT NULL,
    choice     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (request_id, step, principal)
);
INSERT OR IGNORE INTO votes (request_id, step, principal, choice, at)
    SELECT a.id, CAST(s.key AS INTEGER), json_extract(v.value, '$.principal'),
           json_extract(v.value, '$.choice'), json_extract(v.value, '$.at')
    FROM approvals a, json_each(a.body, '$.steps') s, json_each(s.value, '$.votes') v;
CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  INTEGER NOT NULL
);
"#;

/// The newest schema version this program knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// What a database file holds, read without writing to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No tables at all: a new (or 0-byte) file.
    Empty,
    /// A rekall store at this schema version (0: created, never migrated).
    Store { version: i64 },
}

/// The tables the migrations create, read from their SQL so that the list cannot fall behind.
pub fn known_tables() -> impl Iterator<Item = &'static str> {
    std::iter::once("schema_migrations").chain(MIGRATIONS.iter().flat_map(|(_, sql)| {
        sql.lines().filter_map(|line| {
            let rest = line.trim_start().strip_prefix("CREATE TABLE ")?;
            rest.split(|c: char| c.is_whitespace() || c == '(').next()
        })
    }))
}

/// Tells a rekall store from any other SQLite file, reading only. A file with tables that no
/// migration of ours creates, or with tables but no schema version, is not a store: it is
/// refused as it is, since migrating it would add our tables to somebody else's database.
pub fn inspect(conn: &Connection, path: &str) -> Result<Found, StoreError> {
    let mut tables: Vec<String> = {
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .map_err(not_a_database(path))?;
        stmt.query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect::<Result<_, _>>())
            .map_err(not_a_database(path))?
    };
    tables.sort();
    if tables.is_empty() {
        return Ok(Found::Empty);
    }
    let versioned = tables.iter().any(|t| t == "schema_migrations")
        && conn
            .prepare("SELECT version, applied_at FROM schema_migrations")
            .is_ok();
    if versioned {
        let version: i64 = conn
            .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map_err(backend("read schema version"))?
            .unwrap_or(0);
        // A newer program may have added tables this one does not know.
        if version > latest() {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: latest(),
            });
        }
        if tables.iter().all(|t| known_tables().any(|k| k == t)) {
            return Ok(Found::Store { version });
        }
    }
    let foreign: Vec<&str> = tables
        .iter()
        .map(String::as_str)
        .filter(|t| !known_tables().any(|k| k == *t))
        .collect();
    let shown: Vec<&str> = if foreign.is_empty() {
        tables.iter().map(String::as_str).collect()
    } else {
        foreign
    };
    Err(StoreError::NotAStore {
        path: path.to_owned(),
        tables: shown.iter().take(5).map(ToString::to_string).collect(),
        more: shown.len().saturating_sub(5),
    })
}

/// SQLite says "file is not a database" for any file that is not one (a policy, say).
fn not_a_database(path: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Open {
        path: path.to_owned(),
        reason: if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
            "it is not a SQLite database, so not a rekall store; nothing was changed".into()
        } else {
            e.to_string()
        },
    }
}

/// Brings the database up to [`latest`]. Safe to run from several processes at once: the
/// version is read and the migrations applied under one write lock, in one transaction, so a
/// failed migration leaves the file as it was.
pub fn migrate(conn: &mut Connection) -> Result<i64, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend("begin migration"))?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL
         )",
    )
    .map_err(backend("create schema_migrations"))?;
    let current: i64 = tx
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()
        .map_err(backend("read schema version"))?
        .flatten()
        .unwrap_or(0);
    if current > latest() {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: latest(),
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.execute_batch(sql).map_err(backend("apply migration"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, strftime('%s','now'))",
            params![version],
        )
        .map_err(backend("record migration"))?;
    }
    tx.commit().map_err(backend("commit migration"))?;
    Ok(latest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_known_tables_are_those_the_migrations_create() {
        let known: Vec<&str> = known_tables().collect();
        for table in [
            "schema_migrations",
            "executions",
            "approvals",
            "audit",
            "outbox",
        ] {
            assert!(known.contains(&table), "{table} in {known:?}");
        }
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(
            inspect(&conn, "m").unwrap(),
            Found::Store { version: latest() }
        );
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .unwrap();
        let created: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(created.len(), known.len(), "{created:?} vs {known:?}");
    }

    #[test]
    fn a_first_schema_store_gains_the_learning_tables_and_keeps_its_records() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .unwrap();
        conn.execute_batch(V1).unwrap();
        conn.execute_batch(
            "INSERT INTO schema_migrations VALUES (1, 0);
             INSERT INTO executions VALUES ('exe_1', 'running', 0, 0, 3, '{}');",
        )
        .unwrap();
        assert_eq!(inspect(&conn, "m").unwrap(), Found::Store { version: 1 });
        assert_eq!(migrate(&mut conn).unwrap(), latest());
        let version: i64 = conn
            .query_row(
                "SELECT version FROM executions WHERE id = 'exe_1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, 3);
        for table in ["learned_calls", "thresholds"] {
            let n: i64 = conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{table}");
        }
        assert_eq!(
            inspect(&conn, "m").unwrap(),
            Found::Store { version: latest() }
        );
    }

    #[test]
    fn a_second_schema_store_gains_the_version_tables_and_keeps_its_records() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .unwrap();
        conn.execute_batch(V1).unwrap();
        conn.execute_batch(V2).unwrap();
        conn.execute_batch(
            "INSERT INTO schema_migrations VALUES (1, 0), (2, 0);
             INSERT INTO thresholds VALUES ('deploy', 0, 4, '{}');",
        )
        .unwrap();
        assert_eq!(inspect(&conn, "m").unwrap(), Found::Store { version: 2 });
        assert_eq!(migrate(&mut conn).unwrap(), latest());
        let version: i64 = conn
            .query_row(
                "SELECT version FROM thresholds WHERE id = 'deploy'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, 4);
        for table in [
            "policy_versions",
            "idempotency",
            "server_secrets",
            "used_tokens",
        ] {
            let n: i64 = conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{table}");
        }
        conn.execute_batch(
            "INSERT INTO policy_versions VALUES (1, 'yaml', 'h', NULL, 'user:root', NULL, 0, 's', NULL, 't')",
        )
        .unwrap();
        let refused = conn.execute_batch("UPDATE policy_versions SET text = 'x'");
        assert!(refused.is_err(), "a stored version is never changed");
        let refused = conn.execute_batch("DELETE FROM policy_versions");
        assert!(refused.is_err(), "a stored version is never deleted");
    }

    #[test]
    fn a_fourth_schema_store_gains_the_votes_its_requests_hold() {
        use crate::model::{ApprovalRequest, Choice, ExecutionId, Principal, StepSpec, Timestamp};
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .unwrap();
        for sql in [V1, V2, V3, V4] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch("INSERT INTO schema_migrations VALUES (1, 0), (2, 0), (3, 0), (4, 0)")
            .unwrap();
        let adam = Principal::parse("user:adam").unwrap();
        let mut a = ApprovalRequest::new(
            ExecutionId::from("exe_1".to_owned()),
            Principal::parse("agent:bot").unwrap(),
            "gate".into(),
            String::new(),
            vec![StepSpec::new("approval", vec![adam.clone()])],
            false,
            Timestamp(0),
        );
        a.vote(&adam, Choice::Approve, None, Timestamp(5)).unwrap();
        conn.execute(
            "INSERT INTO approvals (id, execution_id, status, next_due, created_at, version, body)
             VALUES (?1, 'exe_1', 'approved', NULL, 0, 2, ?2)",
            params![a.id.as_str(), serde_json::to_string(&a).unwrap()],
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), latest());
        let vote: (String, i64, String, String, i64) = conn
            .query_row(
                "SELECT request_id, step, principal, choice, at FROM votes",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(
            vote,
            (a.id.to_string(), 0, "user:adam".into(), "approve".into(), 5)
        );
        let again = conn.execute(
            "INSERT INTO votes VALUES (?1, 0, 'user:adam', 'reject', 6)",
            params![a.id.as_str()],
        );
        assert!(again.is_err(), "one vote per principal and step");
    }

    #[test]
    fn other_databases_are_told_apart() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(inspect(&conn, "m").unwrap(), Found::Empty);
        conn.execute_batch("CREATE TABLE users (id INTEGER)")
            .unwrap();
        let err = inspect(&conn, "app.db").unwrap_err();
        assert!(
            matches!(&err, StoreError::NotAStore { tables, .. } if tables == &["users"]),
            "{err}"
        );
        // Another tool's `schema_migrations` (Rails, golang-migrate) is not ours either.
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE schema_migrations (version TEXT, dirty BOOLEAN)")
            .unwrap();
        assert!(matches!(
            inspect(&conn, "m"),
            Err(StoreError::NotAStore { .. })
        ));
    }
}
