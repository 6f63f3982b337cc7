//! The PostgreSQL schema and its migrations: the same tables and columns as SQLite's (with
//! PostgreSQL's types), numbered alike, so that both backends are at one schema version.
//! Migrations run in one transaction under an advisory lock, so that of several nodes
//! starting at once one migrates and the others find it done; a database from a newer
//! program, or one holding other tables, is refused unchanged.

use tokio_postgres::{Client, GenericClient};

use super::connect::backend;
use crate::store::StoreError;
use crate::store::sqlite::schema::Found;

/// The key of the advisory lock that migrations hold (an arbitrary number of our own).
const MIGRATION_LOCK: i64 = 0x7265_6b61_6c6c_0001;

/// The migrations, in order. Append; never edit one that has shipped.
const MIGRATIONS: &[(i64, &str)] = &[(1, V1), (2, V2), (3, V3), (4, V4), (5, V5)];

const V1: &str = r#"
CREATE FUNCTION rekall_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;

CREATE TABLE executions (
    id          TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX executions_by_status ON executions (status, created_at);

CREATE TABLE checkpoints (
    execution_id TEXT NOT NULL REFERENCES executions (id),
    seq          BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (execution_id, seq)
);

CREATE TABLE approvals (
    id           TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    status       TEXT NOT NULL,
    next_due     BIGINT,
    created_at   BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX approvals_due ON approvals (next_due) WHERE next_due IS NOT NULL;
CREATE INDEX approvals_by_execution ON approvals (execution_id, created_at);
CREATE INDEX approvals_by_status ON approvals (status, created_at);

CREATE TABLE feedback (
    id           TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    status       TEXT NOT NULL,
    next_due     BIGINT,
    created_at   BIGINT NOT NULL,
    version      BIGINT NOT NULL,
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
    used_at      BIGINT,
    version      BIGINT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX grants_by_call ON grants (execution_id, action, resource, context_hash)
    WHERE used_at IS NULL;

CREATE TABLE audit (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    execution_id TEXT,
    request_id   TEXT,
    principal    TEXT,
    detail       TEXT NOT NULL
);
CREATE INDEX audit_by_execution ON audit (execution_id, seq);
CREATE INDEX audit_by_request ON audit (request_id, seq);
CREATE INDEX audit_by_kind ON audit (kind, seq);
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION rekall_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION rekall_append_only();

CREATE TABLE memories (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    execution_id TEXT,
    created_at   BIGINT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX memories_by_time ON memories (created_at);
CREATE TABLE memory_tags (
    memory_id TEXT NOT NULL REFERENCES memories (id),
    tag       TEXT NOT NULL,
    PRIMARY KEY (tag, memory_id)
);

CREATE TABLE outbox (
    id           TEXT PRIMARY KEY,
    created_at   BIGINT NOT NULL,
    due_at       BIGINT,
    lease_until  BIGINT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    delivered_at BIGINT,
    last_error   TEXT,
    delivered    TEXT,
    body         TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (due_at) WHERE due_at IS NOT NULL;
"#;

const V2: &str = r#"
CREATE TABLE learned_calls (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    class        TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    action       TEXT NOT NULL,
    resource     TEXT NOT NULL,
    context_hash TEXT NOT NULL,
    request_id   TEXT,
    confidence   DOUBLE PRECISION NOT NULL,
    route        TEXT NOT NULL,
    label        TEXT,
    source       TEXT,
    note         TEXT,
    at           BIGINT NOT NULL
);
CREATE INDEX learned_calls_by_class ON learned_calls (class, seq);
CREATE INDEX learned_calls_labelled ON learned_calls (class, seq)
    WHERE label IS NOT NULL AND route <> 'auto';
CREATE INDEX learned_calls_by_request ON learned_calls (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX learned_calls_by_call
    ON learned_calls (execution_id, action, resource, context_hash, seq);

CREATE TABLE thresholds (
    id          TEXT PRIMARY KEY,
    updated_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    body        TEXT NOT NULL
);
"#;

const V3: &str = r#"
CREATE TABLE policy_versions (
    version     BIGINT PRIMARY KEY,
    language    TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    name        TEXT,
    principal   TEXT NOT NULL,
    request_id  TEXT,
    created_at  BIGINT NOT NULL,
    summary     TEXT NOT NULL,
    rollback_of BIGINT,
    text        TEXT NOT NULL
);
CREATE TRIGGER policy_versions_append_only BEFORE UPDATE OR DELETE ON policy_versions
    FOR EACH ROW EXECUTE FUNCTION rekall_append_only();
CREATE TRIGGER policy_versions_no_truncate BEFORE TRUNCATE ON policy_versions
    FOR EACH STATEMENT EXECUTE FUNCTION rekall_append_only();

CREATE TABLE idempotency (
    principal    TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    status       INTEGER,
    body         BYTEA,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_by_time ON idempotency (created_at);
"#;

const V4: &str = r#"
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE used_tokens (
    scope      TEXT NOT NULL,
    token      TEXT NOT NULL,
    used_at    BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (scope, token)
);
CREATE INDEX used_tokens_by_expiry ON used_tokens (expires_at);
"#;

/// One row per counted vote, keyed so that a principal's second vote on one step of one
/// request cannot be stored, whatever the caller; and the leases that let one node at a time
/// handle deadlines.
const V5: &str = r#"
CREATE TABLE votes (
    request_id TEXT NOT NULL,
    step       INTEGER NOT NULL,
    principal  TEXT NOT NULL,
    choice     TEXT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (request_id, step, principal)
);
CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL
);
"#;

/// The newest schema version this program knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
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

/// Tells a rekall store from any other database, reading only (the tables of the schema in
/// use, normally `public`).
pub async fn inspect(c: &impl GenericClient, shown: &str) -> Result<Found, StoreError> {
    let rows = c
        .query(
            "SELECT tablename::text FROM pg_catalog.pg_tables
             WHERE schemaname = current_schema() ORDER BY tablename",
            &[],
        )
        .await
        .map_err(backend("list the database's tables"))?;
    let tables: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    if tables.is_empty() {
        return Ok(Found::Empty);
    }
    let columns: Vec<String> = c
        .query(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = 'schema_migrations'
             ORDER BY column_name",
            &[],
        )
        .await
        .map_err(backend("read the schema version"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if columns == ["applied_at", "version"] {
        let version: Option<i64> = c
            .query_one("SELECT MAX(version)::bigint FROM schema_migrations", &[])
            .await
            .map_err(backend("read the schema version"))?
            .get(0);
        let version = version.unwrap_or(0);
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
    let named: Vec<&str> = if foreign.is_empty() {
        tables.iter().map(String::as_str).collect()
    } else {
        foreign
    };
    Err(StoreError::NotAStore {
        path: shown.to_owned(),
        tables: named.iter().take(5).map(ToString::to_string).collect(),
        more: named.len().saturating_sub(5),
    })
}

/// Brings the database up to [`latest`], in one transaction under the migration lock: what
/// it found first (inspected under the lock, so a racing node's finished migration is seen).
pub async fn migrate(c: &mut Client, shown: &str) -> Result<Found, StoreError> {
    let t = c
        .transaction()
        .await
        .map_err(backend("begin the migration"))?;
    t.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(backend("take the migration lock"))?;
    let found = inspect(&t, shown).await?;
    let current = match found {
        Found::Empty => {
            t.batch_execute(
                "CREATE TABLE schema_migrations (
                     version    BIGINT PRIMARY KEY,
                     applied_at BIGINT NOT NULL
                 )",
            )
            .await
            .map_err(backend("create schema_migrations"))?;
            0
        }
        Found::Store { version } => version,
    };
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        t.batch_execute(sql)
            .await
            .map_err(backend("apply a migration"))?;
        t.execute(
            "INSERT INTO schema_migrations (version, applied_at)
             VALUES ($1, EXTRACT(EPOCH FROM now())::bigint)",
            &[version],
        )
        .await
        .map_err(backend("record a migration"))?;
    }
    t.commit().await.map_err(backend("commit the migration"))?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_know_the_same_tables_at_the_same_version() {
        let mut ours: Vec<&str> = known_tables().collect();
        let mut theirs: Vec<&str> = crate::store::sqlite::schema::known_tables().collect();
        ours.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(ours, theirs);
        assert_eq!(latest(), crate::store::sqlite::schema::latest());
    }
}
