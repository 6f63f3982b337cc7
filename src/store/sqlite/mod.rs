//! The embedded store: one SQLite database (a file in WAL mode, or in memory for tests).
//!
//! SQLite calls block, so the connection lives on a dedicated thread and every call is a job
//! sent to it; async callers await the reply and never block the tokio runtime. One
//! connection per store is enough: SQLite has one writer at a time anyway, and several
//! processes sharing a file are serialized by its locks (with a busy timeout).

mod idempotency;
mod learning;
mod ops;
pub mod schema;
mod secrets;
mod versions;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::{
    ApprovalFilter, AuditFilter, CallWindow, Claimed, Delivery, Due, ExecutionFilter,
    FeedbackFilter, KeyClaim, Store, StoreError, StoreFuture, Transaction, Versioned,
};
use crate::model::Principal;
use crate::model::{
    ApprovalId, ApprovalRequest, AuditEntry, Checkpoint, Execution, ExecutionId, FeedbackId,
    FeedbackRequest, Grant, GrantId, IdempotencyRecord, LabelTarget, LearnedCall, Memory,
    MemoryQuery, NewPolicyVersion, NotificationId, Overlay, PolicyVersion, PolicyVersionInfo,
    StoredResponse, Timestamp,
};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// What [`migrate_file`] did: the schema version before (`None` for a new store) and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    pub from: Option<i64>,
    pub to: i64,
}

/// Brings a store file to this program's schema, creating it where the file is missing or
/// empty; any other database is refused unchanged.
pub fn migrate_file(path: &Path) -> Result<Migrated, StoreError> {
    let (_, found) = connect(path, Access::Create)?;
    Ok(Migrated {
        from: match found {
            schema::Found::Empty => None,
            schema::Found::Store { version } => Some(version),
        },
        to: schema::latest(),
    })
}

/// Whether reading failed only because SQLite could not create the files through which WAL
/// readers share the database (`-shm`, `-wal`), as in a folder we may not write to. With
/// neither file present, no process has the database open for writing and everything
/// committed is in the file itself.
fn cannot_share_wal(path: &Path, reason: &str) -> bool {
    let beside = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name).exists()
    };
    reason.contains("readonly database") && !beside("-wal") && !beside("-shm")
}

/// Opens a file as immutable: read as it is, without the shared-memory index. Only for
/// [`cannot_share_wal`], where nobody else has the file open.
fn open_immutable(path: &Path) -> rusqlite::Result<Connection> {
    // A URI names the file; rather than guess at the encoding of a path that is not plain
    // ASCII, such a path is refused (the error of the first attempt then stands).
    let bytes = path.as_os_str().as_encoded_bytes();
    if !bytes.is_ascii() {
        return Err(rusqlite::Error::InvalidPath(path.to_owned()));
    }
    let mut uri = String::from("file:");
    for &byte in bytes {
        match byte {
            b'?' | b'#' | b'%' => uri.push_str(&format!("%{byte:02X}")),
            _ => uri.push(char::from(byte)),
        }
    }
    uri.push_str("?immutable=1");
    let conn = Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

/// Opens a file as `access` allows, after telling what it holds; with write access, it is in
/// WAL mode and migrated when this returns.
fn connect(path: &Path, access: Access) -> Result<(Connection, schema::Found), StoreError> {
    let shown = path.display().to_string();
    let open_err = |e: rusqlite::Error| StoreError::Open {
        path: shown.clone(),
        reason: e.to_string(),
    };
    let flags = match access {
        Access::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
        Access::Existing => OpenFlags::SQLITE_OPEN_READ_WRITE,
        Access::Create => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    // Other processes (the CLI, another agent) may hold the lock for a moment.
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(open_err)?;
    if access == Access::ReadOnly {
        conn.pragma_update(None, "query_only", "ON")
            .map_err(open_err)?;
    }
    let found = match schema::inspect(&conn, &shown) {
        Err(StoreError::Open { path: p, reason })
            if access == Access::ReadOnly && cannot_share_wal(path, &reason) =>
        {
            conn = open_immutable(path).map_err(|_| StoreError::Open { path: p, reason })?;
            schema::inspect(&conn, &shown)?
        }
        found => found?,
    };
    match (&found, access) {
        (schema::Found::Store { version }, Access::ReadOnly) => {
            if *version < schema::latest() {
                return Err(StoreError::SchemaTooOld {
                    found: *version,
                    supported: schema::latest(),
                });
            }
            return Ok((conn, found));
        }
        (schema::Found::Empty, Access::ReadOnly | Access::Existing) => {
            return Err(StoreError::EmptyFile { path: shown });
        }
        _ => {}
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Open {
            path: shown,
            reason: format!("could not switch to WAL mode (got `{mode}`)"),
        });
    }
    // FULL: a committed vote survives a power cut too, not only a killed process.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open_err)?;
    schema::migrate(&mut conn)?;
    Ok((conn, found))
}

/// A store in one SQLite database.
#[derive(Debug)]
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    location: String,
    /// Set by the job of [`Store::close`]: the database thread closes the connection after it.
    closing: Arc<AtomicBool>,
    /// Answered by the database thread once the connection is closed, so that
    /// [`Store::close`] returns only then (a process that exits right after it must not cut
    /// the thread off between the checkpoint and the close, leaving `-wal` and `-shm`).
    closed: Arc<std::sync::Mutex<Option<oneshot::Receiver<()>>>>,
}

/// Maps a rusqlite error to a store error naming the operation.
pub(crate) fn backend(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::Backend {
        operation,
        reason: e.to_string(),
    }
}

/// How far opening a file may go in changing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only reads: opened with `SQLITE_OPEN_READ_ONLY` and `query_only`, so it works on a
    /// read-only file or folder and beside a long writer, and never migrates. The file must be
    /// a store at this program's schema.
    ReadOnly,
    /// Reads and writes a store that exists (an empty file is refused); an older schema is
    /// migrated.
    Existing,
    /// As [`Access::Existing`], and a missing or empty (0-byte) file becomes a new store.
    Create,
}

impl SqliteStore {
    /// Opens (creating if needed) a database file, in WAL mode, and migrates it: the same as
    /// [`SqliteStore::open_with`] and [`Access::Create`].
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, Access::Create).await
    }

    /// Opens a database file as `access` allows. Whatever the access, a file that is not a
    /// rekall store is refused before anything is written to it.
    pub async fn open_with(path: &Path, access: Access) -> Result<SqliteStore, StoreError> {
        let shown = path.display().to_string();
        let path = path.to_owned();
        SqliteStore::start(shown, move || connect(&path, access).map(|(conn, _)| conn)).await
    }

    /// A private in-memory database, gone when the store is dropped: for tests.
    pub async fn memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::start("memory".into(), || {
            let mut conn = Connection::open_in_memory().map_err(|e| StoreError::Open {
                path: ":memory:".into(),
                reason: e.to_string(),
            })?;
            conn.pragma_update(None, "foreign_keys", "ON")
                .map_err(backend("enable foreign keys"))?;
            schema::migrate(&mut conn)?;
            Ok(conn)
        })
        .await
    }

    /// Where the database is (a path, or `memory`).
    pub fn location(&self) -> &str {
        &self.location
    }

    async fn start(
        location: String,
        connect: impl FnOnce() -> Result<Connection, StoreError> + Send + 'static,
    ) -> Result<SqliteStore, StoreError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = oneshot::channel();
        let closing = Arc::new(AtomicBool::new(false));
        let closed = Arc::clone(&closing);
        let (done_tx, done_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("rekall-sqlite".into())
            .spawn(move || {
                let mut conn = match connect() {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                // Runs until every sender (every handle to the store) is dropped, or until
                // closed; the jobs left then are dropped, and their callers told `Closed`.
                while let Ok(job) = rx.recv() {
                    job(&mut conn);
                    if closed.load(Ordering::Acquire) {
                        break;
                    }
                }
                if let Err((_, e)) = conn.close() {
                    eprintln!("the store could not be closed cleanly: {e}");
                }
                let _ = done_tx.send(());
            })
            .map_err(|e| StoreError::Open {
                path: location.clone(),
                reason: format!("cannot start the database thread: {e}"),
            })?;
        ready_rx.await.map_err(|_| StoreError::Closed)??;
        Ok(SqliteStore {
            jobs,
            location,
            closing,
            closed: Arc::new(std::sync::Mutex::new(Some(done_rx))),
        })
    }

    /// Runs `f` on the database thread and returns its result.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |conn| {
                let _ = tx.send(f(conn));
            }))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

impl Store for SqliteStore {
    fn close(&self) -> StoreFuture<'_, ()> {
        let closing = Arc::clone(&self.closing);
        let closed = self.closed.lock().ok().and_then(|mut c| c.take());
        Box::pin(async move {
            let checkpoint = self
                .call(move |c| {
                    closing.store(true, Ordering::Release);
                    // An in-memory database has no `-wal`; a file's is emptied into it.
                    if c.path().is_some_and(|p| !p.is_empty()) {
                        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                            .map_err(backend("checkpoint the write-ahead log"))?;
                    }
                    Ok(())
                })
                .await;
            if let Some(closed) = closed {
                // The thread closes the connection after the checkpoint's job, or at once
                // when it had already stopped; either way it answers (or is gone).
                let _ = closed.await;
            }
            checkpoint
        })
    }

    fn commit(&self, tx: Transaction) -> StoreFuture<'_, ()> {
        Box::pin(self.call(move |c| ops::commit(c, tx)))
    }

    fn append_audit(&self, entries: Vec<AuditEntry>) -> StoreFuture<'_, ()> {
        Box::pin(self.call(move |c| {
            ops::commit(
                c,
                Transaction {
                    audit: entries,
                    ..Transaction::default()
                },
            )
        }))
    }

    fn execution(&self, id: &ExecutionId) -> StoreFuture<'_, Option<Versioned<Execution>>> {
        let id = id.to_string();
        Box::pin(self.call(move |c| ops::get(c, ops::Table::Executions, &id)))
    }

    fn executions(&self, filter: ExecutionFilter) -> StoreFuture<'_, Vec<Versioned<Execution>>> {
        Box::pin(self.call(move |c| {
            ops::list(
                c,
                ops::Table::Executions,
                filter.status.map(|s| s.as_str()),
                None,
                filter.limit,
            )
        }))
    }

    fn checkpoints(&self, id: &ExecutionId) -> StoreFuture<'_, Vec<Checkpoint>> {
        let id = id.to_string();
        Box::pin(self.call(move |c| ops::checkpoints(c, &id)))
    }

    fn approval(&self, id: &ApprovalId) -> StoreFuture<'_, Option<Versioned<ApprovalRequest>>> {
        let id = id.to_string();
        Box::pin(self.call(move |c| ops::get(c, ops::Table::Approvals, &id)))
    }

    fn approvals(
        &self,
        filter: ApprovalFilter,
    ) -> StoreFuture<'_, Vec<Versioned<ApprovalRequest>>> {
        Box::pin(self.call(move |c| {
            ops::list(
                c,
                ops::Table::Approvals,
                filter.status.map(|s| s.as_str()),
                filter.execution.as_ref().map(ExecutionId::as_str),
                filter.limit,
            )
        }))
    }

    fn feedback(&self, id: &FeedbackId) -> StoreFuture<'_, Option<Versioned<FeedbackRequest>>> {
        let id = id.to_string();
        Box::pin(self.call(move |c| ops::get(c, ops::Table::Feedback, &id)))
    }

    fn feedback_requests(
        &self,
        filter: FeedbackFilter,
    ) -> StoreFuture<'_, Vec<Versioned<FeedbackRequest>>> {
        Box::pin(self.call(move |c| {
            ops::list(
                c,
                ops::Table::Feedback,
                filter.status.map(|s| s.as_str()),
                filter.execution.as_ref().map(ExecutionId::as_str),
                filter.limit,
            )
        }))
    }

    fn grant(&self, id: &GrantId) -> StoreFuture<'_, Option<Versioned<Grant>>> {
        let id = id.to_string();
        Box::pin(self.call(move |c| ops::get(c, ops::Table::Grants, &id)))
    }

    fn unused_grants(
        &self,
        execution: &ExecutionId,
        action: &str,
        resource: &str,
        context_hash: &str,
    ) -> StoreFuture<'_, Vec<Versioned<Grant>>> {
        let key = [
            execution.to_string(),
            action.to_owned(),
            resource.to_owned(),
            context_hash.to_owned(),
        ];
        Box::pin(self.call(move |c| ops::unused_grants(c, &key)))
    }

    fn due(&self, now: Timestamp) -> StoreFuture<'_, Vec<Due>> {
        Box::pin(self.call(move |c| ops::due(c, now)))
    }

    fn next_due(&self) -> StoreFuture<'_, Option<Timestamp>> {
        Box::pin(self.call(ops::next_due))
    }

    fn audit(&self, filter: AuditFilter) -> StoreFuture<'_, Vec<AuditEntry>> {
        Box::pin(self.call(move |c| ops::audit(c, &filter)))
    }

    fn memories(&self, query: MemoryQuery) -> StoreFuture<'_, Vec<Memory>> {
        Box::pin(self.call(move |c| ops::memories(c, &query)))
    }

    fn claim_notifications(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Claimed>> {
        Box::pin(self.call(move |c| ops::claim_notifications(c, now, lease_until, limit)))
    }

    fn settle_notification(
        &self,
        id: &NotificationId,
        delivery: Delivery,
        audit: AuditEntry,
    ) -> StoreFuture<'_, ()> {
        let id = id.to_string();
        Box::pin(self.call(move |c| ops::settle_notification(c, &id, delivery, audit)))
    }

    fn next_notification(&self) -> StoreFuture<'_, Option<Timestamp>> {
        Box::pin(self.call(ops::next_notification))
    }

    fn learned_calls(&self, window: CallWindow) -> StoreFuture<'_, Vec<LearnedCall>> {
        Box::pin(self.call(move |c| ops::learned_calls(c, &window)))
    }

    fn learned_labels(&self, class: &str) -> StoreFuture<'_, u64> {
        let class = class.to_owned();
        Box::pin(self.call(move |c| ops::learned_labels(c, &class)))
    }

    fn learned_call(&self, target: LabelTarget) -> StoreFuture<'_, Option<LearnedCall>> {
        Box::pin(self.call(move |c| ops::learned_call(c, &target)))
    }

    fn latest_learned_call(
        &self,
        execution: &ExecutionId,
        action: &str,
        resource: &str,
        context_hash: &str,
    ) -> StoreFuture<'_, Option<LearnedCall>> {
        let key = [
            execution.to_string(),
            action.to_owned(),
            resource.to_owned(),
            context_hash.to_owned(),
        ];
        Box::pin(self.call(move |c| ops::latest_learned_call(c, &key)))
    }

    fn overlays(&self) -> StoreFuture<'_, Vec<Versioned<Overlay>>> {
        Box::pin(self.call(ops::overlays))
    }

    fn append_policy_version(
        &self,
        version: NewPolicyVersion,
        after: Option<u64>,
        audit: Vec<AuditEntry>,
    ) -> StoreFuture<'_, PolicyVersion> {
        Box::pin(self.call(move |c| versions::append(c, version, after, &audit)))
    }

    fn policy_version(&self, number: Option<u64>) -> StoreFuture<'_, Option<PolicyVersion>> {
        Box::pin(self.call(move |c| versions::get(c, number)))
    }

    fn policy_versions(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<PolicyVersionInfo>> {
        Box::pin(self.call(move |c| versions::list(c, before, limit)))
    }

    fn claim_idempotency_key(
        &self,
        principal: &Principal,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        expired_before: Timestamp,
    ) -> StoreFuture<'_, KeyClaim> {
        let (principal, key, hash) = (principal.clone(), key.to_owned(), request_hash.to_owned());
        Box::pin(
            self.call(move |c| idempotency::claim(c, &principal, &key, &hash, now, expired_before)),
        )
    }

    fn answer_idempotency_key(
        &self,
        claim: &IdempotencyRecord,
        response: StoredResponse,
    ) -> StoreFuture<'_, ()> {
        let claim = claim.clone();
        Box::pin(self.call(move |c| idempotency::answer(c, &claim, &response)))
    }

    fn release_idempotency_key(&self, claim: &IdempotencyRecord) -> StoreFuture<'_, bool> {
        let claim = claim.clone();
        Box::pin(self.call(move |c| idempotency::release(c, &claim)))
    }

    fn idempotency_record(
        &self,
        principal: &Principal,
        key: &str,
    ) -> StoreFuture<'_, Option<IdempotencyRecord>> {
        let (principal, key) = (principal.clone(), key.to_owned());
        Box::pin(self.call(move |c| idempotency::record(c, &principal, &key)))
    }

    fn prune_idempotency(&self, before: Timestamp) -> StoreFuture<'_, u64> {
        Box::pin(self.call(move |c| idempotency::prune(c, before)))
    }

    fn server_secret(
        &self,
        name: &str,
        candidate: Vec<u8>,
        now: Timestamp,
    ) -> StoreFuture<'_, Vec<u8>> {
        let name = name.to_owned();
        Box::pin(self.call(move |c| secrets::get_or_create(c, &name, &candidate, now)))
    }

    fn spend_token(
        &self,
        scope: &str,
        token: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreFuture<'_, bool> {
        let (scope, token) = (scope.to_owned(), token.to_owned());
        Box::pin(self.call(move |c| secrets::spend(c, &scope, &token, now, expires_at)))
    }

    fn lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreFuture<'_, bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        Box::pin(self.call(move |c| ops::lease(c, &name, &holder, now, until)))
    }
}
