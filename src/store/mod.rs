//! Where the runtime keeps everything that must survive a crash: executions and their
//! checkpoints, approval and feedback requests with their votes and deadlines, grants, the
//! audit log, memories and the notification outbox.
//!
//! # The contract of a [`Store`]
//!
//! The runtime holds no state that matters in memory; a store is the only truth, so that
//! several runtime processes (several nodes on one PostgreSQL, or an agent and the CLI on one
//! SQLite file) can share it:
//!
//! - **Records are versioned.** Every read of a mutable record ([`Execution`],
//!   [`ApprovalRequest`], [`FeedbackRequest`], [`Grant`]) comes with its version. A change
//!   is a [`Transaction`]: the records to write, each with the version it was read at
//!   ([`Expected`]), plus the rows to append that go with it (audit entries, checkpoints,
//!   memories, notifications). The store applies all of it atomically or none of it, and
//!   answers [`StoreError::Conflict`] if any record's version moved. The runtime then reads
//!   again and re-decides, so two votes that race can never both resolve a request: the
//!   second sees the first's result. (SQLite: one `BEGIN IMMEDIATE` transaction with
//!   `UPDATE .. WHERE version = ?`; PostgreSQL: the same statements in a transaction.)
//! - **Deadlines are queried, not held.** Each pending request's next deadline is a column;
//!   [`Store::due`] finds what is due at a time and [`Store::next_due`] says when to look
//!   again, so a deadline that passed while every process was down is found on start-up.
//! - **The outbox is leased.** Notifications are written in the same transaction as the
//!   change they announce and delivered afterwards; [`Store::claim_notifications`] leases
//!   them so that two nodes do not deliver the same one (PostgreSQL: `FOR UPDATE SKIP
//!   LOCKED`), and a failed delivery is retried later. A notifier can fail; a decision is
//!   never lost with it.
//! - **The audit log is append-only**: entries are only ever inserted. So are the policy's
//!   versions ([`Store::append_policy_version`]): each is numbered one after the latest, in
//!   the transaction that checks which is the latest, so two writers never share a number.
//! - **Idempotency keys are claimed before the request runs** ([`Store::claim_idempotency_key`]):
//!   the first claim of a (principal, key) wins, and every later one is answered with the
//!   record it found, so a request made twice with one key has one effect.
//!
//! [`open`] gives the store for a URL: `sqlite://PATH`, `sqlite::memory:`, or
//! `postgres://USER@HOST/DATABASE` (also `postgresql://`) for several nodes on one database.

pub mod postgres;
pub mod sqlite;
mod table;
mod url;
mod votes;

use std::sync::Arc;

use crate::model::Principal;
use crate::model::{
    ApprovalId, ApprovalRequest, ApprovalStatus, AuditEntry, BoxFuture, Checkpoint, Execution,
    ExecutionId, ExecutionStatus, FeedbackId, FeedbackRequest, FeedbackStatus, Grant, GrantId,
    IdempotencyRecord, LabelTarget, LabelUpdate, LearnedCall, Memory, MemoryQuery,
    NewPolicyVersion, Notification, NotificationId, Overlay, PolicyVersion, PolicyVersionInfo,
    StoredResponse, Timestamp,
};

pub use sqlite::Access;
pub use url::{PostgresUrl, StoreUrl, mask_password};

/// What a store call returns.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

/// A record with the version it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub version: u64,
    pub record: T,
}

/// The version a write expects to replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// The record must not exist yet.
    New,
    /// The record must still be at this version.
    Version(u64),
}

/// One record to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Execution(Execution, Expected),
    Approval(ApprovalRequest, Expected),
    Feedback(FeedbackRequest, Expected),
    Grant(Grant, Expected),
    /// A class's threshold overlay, keyed by its class.
    Overlay(Overlay, Expected),
}

/// What another process's commit wrote, as [`Store::changed_records`] hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// These records (keys `kind:id`); none when the commit wrote no record a waiter waits on
    /// (an audit entry, an idempotency key, a policy version).
    Records(std::sync::Arc<[String]>),
    /// Anything may have changed: a notification was lost or could not say.
    Anything,
}

impl Write {
    /// The key waiters know the record by: `kind:id`.
    pub fn wake_key(&self) -> String {
        let (kind, id) = self.key();
        format!("{kind}:{id}")
    }

    /// The kind and id of the record, for conflict errors.
    pub fn key(&self) -> (&'static str, String) {
        match self {
            Write::Execution(r, _) => ("execution", r.id.to_string()),
            Write::Approval(r, _) => ("approval", r.id.to_string()),
            Write::Feedback(r, _) => ("feedback", r.id.to_string()),
            Write::Grant(r, _) => ("grant", r.id.to_string()),
            Write::Overlay(r, _) => ("threshold", r.class.clone()),
        }
    }
}

/// One state change: applied whole or not at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transaction {
    pub writes: Vec<Write>,
    pub checkpoints: Vec<Checkpoint>,
    pub audit: Vec<AuditEntry>,
    pub memories: Vec<Memory>,
    pub notifications: Vec<Notification>,
    /// Calls of adaptive classes to append (their `seq` is given by the store).
    pub calls: Vec<LearnedCall>,
    /// Labels for calls already stored, in the transaction of the resolution or report that
    /// gives them.
    pub labels: Vec<LabelUpdate>,
}

impl Transaction {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.checkpoints.is_empty()
            && self.audit.is_empty()
            && self.memories.is_empty()
            && self.notifications.is_empty()
            && self.calls.is_empty()
            && self.labels.is_empty()
    }
}

/// Which calls of a class to read: the window of its latest `labels` labels, and never more
/// than `max_calls` calls, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct CallWindow {
    pub class: String,
    pub labels: u64,
    pub max_calls: u64,
}

/// A request whose deadline or reminder is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    Approval(ApprovalId),
    Feedback(FeedbackId),
}

/// Which executions to list, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionFilter {
    pub status: Option<ExecutionStatus>,
    pub limit: Option<usize>,
}

/// Which approval requests to list, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApprovalFilter {
    pub status: Option<ApprovalStatus>,
    pub execution: Option<ExecutionId>,
    pub limit: Option<usize>,
}

/// Which feedback requests to list, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedbackFilter {
    pub status: Option<FeedbackStatus>,
    pub execution: Option<ExecutionId>,
    pub limit: Option<usize>,
}

/// Which audit entries to read, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub execution: Option<ExecutionId>,
    /// An approval or feedback request id.
    pub request: Option<String>,
    /// Only entries of this kind (its snake_case name, such as `decision`).
    pub kind: Option<String>,
    /// Only entries after this sequence number, to read the log in pages.
    pub after_seq: Option<u64>,
    pub limit: Option<usize>,
}

/// A notification claimed for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub notification: Notification,
    /// Deliveries tried before this one.
    pub attempts: u32,
    /// The keys of its deliveries that succeeded in an earlier attempt (a notification may
    /// make several, see `runtime::Notifier::targets`); a retry makes only the others.
    pub delivered: Vec<String>,
}

/// How a delivery went.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Sent,
    /// Failed; try again at `retry_at`, or never when `None` (given up). `delivered`: the
    /// keys of its deliveries that have succeeded so far, kept for the next attempt.
    Failed {
        error: String,
        retry_at: Option<Timestamp>,
        delivered: Vec<String>,
    },
}

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key was free (or its record had expired) and is now claimed by this record, which
    /// has no answer yet: run the request, then [`Store::answer_idempotency_key`].
    Claimed(IdempotencyRecord),
    /// Another request holds the key: this is its record (answered or still running).
    Taken(IdempotencyRecord),
}

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// A record changed since it was read (or already exists, for a new one). Nothing was
    /// written; read it again and retry.
    #[error("{record} `{id}` changed since it was read{}; nothing was written", expected.map_or_else(|| " (it already exists)".to_string(), |v| format!(" (expected version {v})")))]
    Conflict {
        record: &'static str,
        id: String,
        expected: Option<u64>,
    },
    #[error("store URL `{url}`: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: String, reason: String },
    /// The file is a database, but not a store: it was left as it was.
    #[error(
        "{path} is not a rekall store: it holds other tables ({}{}); nothing was changed",
        tables.join(", "),
        if *more > 0 { format!(" and {more} more") } else { String::new() }
    )]
    NotAStore {
        path: String,
        tables: Vec<String>,
        more: usize,
    },
    /// A store was needed and the file is empty; only a command that may create one fills it.
    #[error(
        "{path} is empty, not a store; it is created by the runtime, or by `rekall-policy store migrate --store URL`"
    )]
    EmptyFile { path: String },
    /// The store's schema is older than this program's, and the command only reads.
    #[error(
        "the store's schema is version {found}, older than this program's ({supported}); a command that only reads never changes it: run `rekall-policy store migrate --store URL` first"
    )]
    SchemaTooOld { found: i64, supported: i64 },
    /// The database was written by a newer version of this program.
    #[error(
        "the store's schema is version {found}, newer than this program understands ({supported}); upgrade rekall-policy"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("store: {operation} failed: {reason}")]
    Backend {
        operation: &'static str,
        reason: String,
    },
    /// A stored record could not be read back.
    #[error("stored {record} `{id}` is unreadable: {reason}")]
    Corrupt {
        record: &'static str,
        id: String,
        reason: String,
    },
    #[error("the store is closed")]
    Closed,
    /// The database could not be reached or did not answer in time (refused, reset, shutting
    /// down, a statement or a connection timed out). Nothing was changed; try again later.
    #[error("the store is unavailable: {reason}; nothing was changed, try again")]
    Unavailable { reason: String },
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// Whether the same call may succeed later unchanged (the database was unreachable).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// A durable store for the runtime. See the module docs for the contract.
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Applies a transaction atomically, checking every write's expected version.
    fn commit(&self, tx: Transaction) -> StoreFuture<'_, ()>;

    /// Appends audit entries that go with no state change (such as a refused vote).
    fn append_audit(&self, entries: Vec<AuditEntry>) -> StoreFuture<'_, ()>;

    fn execution(&self, id: &ExecutionId) -> StoreFuture<'_, Option<Versioned<Execution>>>;
    fn executions(&self, filter: ExecutionFilter) -> StoreFuture<'_, Vec<Versioned<Execution>>>;
    /// An execution's checkpoints, oldest first.
    fn checkpoints(&self, id: &ExecutionId) -> StoreFuture<'_, Vec<Checkpoint>>;

    fn approval(&self, id: &ApprovalId) -> StoreFuture<'_, Option<Versioned<ApprovalRequest>>>;
    fn approvals(&self, filter: ApprovalFilter)
    -> StoreFuture<'_, Vec<Versioned<ApprovalRequest>>>;

    fn feedback(&self, id: &FeedbackId) -> StoreFuture<'_, Option<Versioned<FeedbackRequest>>>;
    fn feedback_requests(
        &self,
        filter: FeedbackFilter,
    ) -> StoreFuture<'_, Vec<Versioned<FeedbackRequest>>>;

    fn grant(&self, id: &GrantId) -> StoreFuture<'_, Option<Versioned<Grant>>>;
    /// Unused grants of an execution for this action, resource and context hash.
    fn unused_grants(
        &self,
        execution: &ExecutionId,
        action: &str,
        resource: &str,
        context_hash: &str,
    ) -> StoreFuture<'_, Vec<Versioned<Grant>>>;

    /// Pending requests whose next deadline or reminder is at or before `now`.
    fn due(&self, now: Timestamp) -> StoreFuture<'_, Vec<Due>>;
    /// The earliest deadline or reminder of any pending request.
    fn next_due(&self) -> StoreFuture<'_, Option<Timestamp>>;

    fn audit(&self, filter: AuditFilter) -> StoreFuture<'_, Vec<AuditEntry>>;
    fn memories(&self, query: MemoryQuery) -> StoreFuture<'_, Vec<Memory>>;

    /// Leases up to `limit` notifications due for delivery at `now` until `lease_until`.
    fn claim_notifications(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Claimed>>;
    /// Records how a claimed delivery went, with its audit entry.
    fn settle_notification(
        &self,
        id: &NotificationId,
        delivery: Delivery,
        audit: AuditEntry,
    ) -> StoreFuture<'_, ()>;
    /// The earliest time an undelivered notification is due, for the background loop.
    fn next_notification(&self) -> StoreFuture<'_, Option<Timestamp>>;

    /// A class's calls in its label window, oldest first.
    fn learned_calls(&self, window: CallWindow) -> StoreFuture<'_, Vec<LearnedCall>>;
    /// How many labels a class's calls have ever had (not only those in a window).
    fn learned_labels(&self, class: &str) -> StoreFuture<'_, u64>;
    /// One stored call: the one an approval was opened for, or by its sequence number.
    fn learned_call(&self, target: LabelTarget) -> StoreFuture<'_, Option<LearnedCall>>;
    /// The latest stored call of an execution with this action, resource and context hash.
    fn latest_learned_call(
        &self,
        execution: &ExecutionId,
        action: &str,
        resource: &str,
        context_hash: &str,
    ) -> StoreFuture<'_, Option<LearnedCall>>;
    /// Every class's threshold overlay, by class.
    fn overlays(&self) -> StoreFuture<'_, Vec<Versioned<Overlay>>>;

    /// Stores a policy version numbered one after the latest, with its audit entries, in one
    /// transaction, if the latest stored version is still `after` (`None`: the store holds
    /// none); otherwise nothing is written and the answer is [`StoreError::Conflict`].
    fn append_policy_version(
        &self,
        version: NewPolicyVersion,
        after: Option<u64>,
        audit: Vec<AuditEntry>,
    ) -> StoreFuture<'_, PolicyVersion>;
    /// A stored version by its number, or the latest one for `None`.
    fn policy_version(&self, number: Option<u64>) -> StoreFuture<'_, Option<PolicyVersion>>;
    /// The versions numbered below `before` (all of them for `None`), newest first, at most
    /// `limit`, without their texts.
    fn policy_versions(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<PolicyVersionInfo>>;

    /// Claims (principal, key) at `now` for a request with this hash. A record created before
    /// `expired_before` counts as gone and is replaced. Atomic: of two claims of one free key,
    /// exactly one is [`KeyClaim::Claimed`] and the other finds it [`KeyClaim::Taken`].
    fn claim_idempotency_key(
        &self,
        principal: &Principal,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        expired_before: Timestamp,
    ) -> StoreFuture<'_, KeyClaim>;
    /// Gives the request that made `claim` its answer. [`StoreError::Conflict`] when that
    /// claim no longer holds the key unanswered (it was answered, released or replaced).
    fn answer_idempotency_key(
        &self,
        claim: &IdempotencyRecord,
        response: StoredResponse,
    ) -> StoreFuture<'_, ()>;
    /// Drops a claim that has no answer yet (its request failed before any effect), so that a
    /// retry runs again; whether there was one to drop.
    fn release_idempotency_key(&self, claim: &IdempotencyRecord) -> StoreFuture<'_, bool>;
    /// The record of (principal, key), answered or not, expired or not.
    fn idempotency_record(
        &self,
        principal: &Principal,
        key: &str,
    ) -> StoreFuture<'_, Option<IdempotencyRecord>>;
    /// Deletes the idempotency records created before `before`; how many it deleted.
    fn prune_idempotency(&self, before: Timestamp) -> StoreFuture<'_, u64>;

    /// The server's key named `name` (links, sessions): the stored one, or `candidate` when
    /// none is stored yet, which is then kept. Atomic: every caller gets the same key.
    fn server_secret(
        &self,
        name: &str,
        candidate: Vec<u8>,
        now: Timestamp,
    ) -> StoreFuture<'_, Vec<u8>>;
    /// Spends the single-use token `token` of `scope` (an email link, a Slack action): true
    /// the first time, false for every later try. Atomic: of two racing spends exactly one is
    /// true. The record may be forgotten after `expires_at`, when the token is refused by its
    /// expiry anyway.
    fn spend_token(
        &self,
        scope: &str,
        token: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreFuture<'_, bool>;

    /// Commits made by any process on this store, as a counter that moves after each (or
    /// after a batch of them): a hint that lets a waiter on one node wake when a vote lands on
    /// another (PostgreSQL: `LISTEN`/`NOTIFY`). Only a hint: a notification can be lost (while
    /// the listening connection reconnects, the store bumps the counter once it is back, since
    /// anything may have changed), so waiters still poll. `None`: the store tells nothing
    /// beyond this process's own commits, and waiters rely on polling alone.
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// Which records other processes' commits wrote, as they are heard: so that of many
    /// waiters only those of a written record read the store again (every waiter re-reading
    /// on every commit of a busy cluster would cost waiters x commits reads). Keys are
    /// [`Write::key`]'s kind and id as `kind:id`. Only a hint, as [`Store::changes`]: a
    /// lost notification, a reconnect or a lagging receiver is [`Changed::Anything`].
    fn changed_records(&self) -> Option<tokio::sync::broadcast::Receiver<Changed>> {
        None
    }

    /// Takes or renews the lease `name` for `holder` until `until`: true when `holder` holds
    /// it afterwards (it was free, had expired at `now`, or was already `holder`'s), false when
    /// another holder's lease runs past `now`. So that of several nodes exactly one handles the
    /// deadlines and reminders at a time, and another takes over once a dead node's lease runs
    /// out. Atomic. A store that only one process writes at a time may always answer true:
    /// every effect of a deadline is a versioned update anyway, so two handlers never both
    /// apply one.
    fn lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreFuture<'_, bool> {
        let _ = (name, holder, now, until);
        Box::pin(async { Ok(true) })
    }

    /// Finishes what it was given, writes everything to the database proper and lets go of
    /// it (SQLite: a checkpoint that empties the `-wal`, then the connection closed, so that
    /// neither `-wal` nor `-shm` is left when no other process has the file open). Every call
    /// after it is [`StoreError::Closed`]. For a graceful shutdown; a store with nothing to
    /// flush does nothing.
    fn close(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// Opens the store a URL names: `sqlite://PATH` (created if missing or empty),
/// `sqlite::memory:`, or `postgres://` (an empty database gains the store's tables). A file
/// or database that holds something else is refused, unchanged.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, Access::Create).await
}

/// Opens an existing store to read and write (migrating an older schema): a missing or empty
/// file is an error rather than a new store (for the CLI, where a typo in a path should not
/// look like "no work").
pub async fn open_existing(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, Access::Existing).await
}

/// Opens an existing store only to read it: nothing is written, not even a migration, so
/// this works on a read-only file and while another process holds a write transaction.
pub async fn open_read_only(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, Access::ReadOnly).await
}

/// Opens the store a URL names, as far as `access` allows. With anything but
/// [`Access::Create`], a missing file is an error naming the path.
pub async fn open_with(url: &str, access: Access) -> Result<Arc<dyn Store>, StoreError> {
    match StoreUrl::parse(url)? {
        StoreUrl::Sqlite(path) => {
            if access != Access::Create && !path.exists() {
                return Err(StoreError::Open {
                    path: path.display().to_string(),
                    reason: "no such file; check the path (a new store is created only by the runtime, or by `rekall-policy store migrate`)".into(),
                });
            }
            Ok(Arc::new(
                sqlite::SqliteStore::open_with(&path, access).await?,
            ))
        }
        StoreUrl::SqliteMemory if access == Access::ReadOnly => Err(StoreError::Url {
            url: url.to_owned(),
            reason: "a private in-memory store is always empty; there is nothing to read".into(),
        }),
        StoreUrl::SqliteMemory => Ok(Arc::new(sqlite::SqliteStore::memory().await?)),
        StoreUrl::Postgres(url) => Ok(Arc::new(postgres::PostgresStore::open(&url, access).await?)),
    }
}
