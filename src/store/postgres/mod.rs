//! The store on PostgreSQL, for several nodes sharing one database.
//!
//! # Transactions
//!
//! `READ COMMITTED` with the version checks of the store's contract, not `SERIALIZABLE`:
//! every write of a record is `UPDATE .. WHERE id = $1 AND version = $2`, and PostgreSQL
//! re-checks that condition on the newest row once a concurrent writer commits, so of two
//! writers from one version exactly one changes a row and the other gets 0 rows, which is
//! [`StoreError::Conflict`] with the whole transaction rolled back. An insert of a new
//! record that meets the primary key is a Conflict too. That is the same contract as
//! SQLite's, without `SERIALIZABLE`'s false conflicts on reads that the runtime re-decides
//! anyway. A deadlock or serialization failure that PostgreSQL reports all the same is a
//! Conflict as well: nothing was written, read and retry.
//!
//! # Appends in order
//!
//! The audit log's and the learned calls' numbers come from identity columns (unique and
//! increasing, with gaps where a transaction rolled back). Audit entries are appended by the
//! last statement of each transaction, which first takes a transaction-level advisory lock,
//! so that their numbers are committed in order and a reader paging with `after_seq` never
//! passes over an entry committed later with a lower number; the lock is held for one round
//! trip. Policy versions are numbered in the transaction that checks the latest, under
//! another advisory lock.
//!
//! # Votes, changes and leases
//!
//! A `votes` table keyed by (request, step, principal) is written with each approval write,
//! so a second vote of one principal on one step cannot be stored (see `store::votes`).
//! Every write sends `NOTIFY rekall_changes` in its transaction; [`Store::changes`] is fed by
//! one connection that `LISTEN`s, and reconnects with backoff (then bumps once, since
//! notifications sent meanwhile are lost). [`Store::lease`] is one atomic upsert.
//!
//! # Failures
//!
//! A refused or dropped connection, a database shutting down, a statement past its timeout
//! and a pool with no free connection in time are [`StoreError::Unavailable`]: nothing was
//! changed and the call may be retried. Every call is also bounded on the client side, so a
//! database that stopped answering (a paused process, a cut network) fails calls instead of
//! holding them.

mod connect;
mod keys;
mod learning;
mod listen;
mod ops;
pub mod schema;
mod versions;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use tokio::sync::watch;

use super::{
    Access, ApprovalFilter, AuditFilter, CallWindow, Claimed, Delivery, Due, ExecutionFilter,
    FeedbackFilter, KeyClaim, Store, StoreError, StoreFuture, Transaction, Versioned,
};
use crate::model::{
    ApprovalId, ApprovalRequest, AuditEntry, BoxFuture, Checkpoint, Execution, ExecutionId,
    FeedbackId, FeedbackRequest, Grant, GrantId, IdempotencyRecord, LabelTarget, LearnedCall,
    Memory, MemoryQuery, NewPolicyVersion, NotificationId, Overlay, PolicyVersion,
    PolicyVersionInfo, Principal, StoredResponse, Timestamp,
};
use crate::store::sqlite::schema::Found;
use crate::store::url::PostgresUrl;
pub use connect::Settings;
use connect::Tls;

/// A pooled connection.
type Client = deadpool_postgres::Client;

/// What [`migrate`] did: the schema version before (`None` for a new store) and after.
pub use crate::store::sqlite::Migrated;

/// A store in one PostgreSQL database.
pub struct PostgresStore {
    pool: Pool,
    settings: Arc<Settings>,
    changes: watch::Receiver<u64>,
    /// The records other processes wrote, as heard.
    records: tokio::sync::broadcast::Sender<crate::store::Changed>,
    /// Set (or dropped with the store) to stop the listening connection.
    stop: watch::Sender<bool>,
    closed: AtomicBool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.settings.shown)
            .finish_non_exhaustive()
    }
}

fn pool(settings: &Settings, read_only: bool) -> Result<Pool, StoreError> {
    let config = settings.session(read_only);
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match settings.tls {
        Tls::Off => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
        Tls::On => Manager::from_config(config, connect::rustls(&settings.shown)?, manager_config),
    };
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .wait_timeout(Some(settings.pool_timeout))
        .create_timeout(Some(settings.pool_timeout))
        .recycle_timeout(Some(settings.pool_timeout))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Open {
            path: settings.shown.clone(),
            reason: e.to_string(),
        })
}

/// A pool's failure to hand out a connection.
fn pool_error(settings: &Settings, e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => connect::classify("connect to the database", &e),
        PoolError::Timeout(_) => StoreError::Unavailable {
            reason: format!(
                "no connection to the database within {:?}",
                settings.pool_timeout
            ),
        },
        PoolError::Closed => StoreError::Closed,
        other => StoreError::Unavailable {
            reason: format!("connect to the database: {other}"),
        },
    }
}

/// Brings the database a URL names to this program's schema (creating the store's tables
/// in an empty database); any other database is refused unchanged.
pub async fn migrate(url: &PostgresUrl) -> Result<Migrated, StoreError> {
    let settings = Settings::parse(url)?;
    let pool = pool(&settings, false)?;
    let mut client = first_connection(&pool, &settings).await?;
    let found = schema::migrate(&mut client, &settings.shown).await?;
    drop(client);
    pool.close();
    Ok(Migrated {
        from: match found {
            Found::Empty => None,
            Found::Store { version } => Some(version),
        },
        to: schema::latest(),
    })
}

/// The connection opening uses: its failure is an error of opening, naming the database.
async fn first_connection(pool: &Pool, settings: &Settings) -> Result<Client, StoreError> {
    pool.get().await.map_err(|e| StoreError::Open {
        path: settings.shown.clone(),
        reason: pool_error(settings, e).to_string(),
    })
}

impl PostgresStore {
    /// Opens the database a URL names as `access` allows: [`Access::ReadOnly`] sessions are
    /// `default_transaction_read_only` and never migrate; the others migrate, and an empty
    /// database becomes a store only with [`Access::Create`].
    pub async fn open(url: &PostgresUrl, access: Access) -> Result<PostgresStore, StoreError> {
        let settings = Arc::new(Settings::parse(url)?);
        let read_only = access == Access::ReadOnly;
        let pool = pool(&settings, read_only)?;
        let mut client = first_connection(&pool, &settings).await?;
        let shown = settings.shown.clone();
        match access {
            Access::ReadOnly => match schema::inspect(&**client, &shown).await? {
                Found::Empty => return Err(StoreError::EmptyFile { path: shown }),
                Found::Store { version } if version < schema::latest() => {
                    return Err(StoreError::SchemaTooOld {
                        found: version,
                        supported: schema::latest(),
                    });
                }
                Found::Store { .. } => {}
            },
            Access::Existing => {
                if schema::inspect(&**client, &shown).await? == Found::Empty {
                    return Err(StoreError::EmptyFile { path: shown });
                }
                schema::migrate(&mut client, &shown).await?;
            }
            Access::Create => {
                schema::migrate(&mut client, &shown).await?;
            }
        }
        drop(client);
        let (stop, stopped) = watch::channel(false);
        let heard = listen::start(Arc::clone(&settings), stopped).await;
        Ok(PostgresStore {
            pool,
            settings,
            changes: heard.changes,
            records: heard.records,
            stop,
            closed: AtomicBool::new(false),
        })
    }

    /// Where the database is, with any password masked.
    pub fn location(&self) -> &str {
        &self.settings.shown
    }

    /// Drops the pool's idle connections once one failed as unavailable: after a crash or a
    /// cut network they are all dead, and each would fail one more call before being noticed.
    fn forget_idle_connections(&self) {
        drop(self.pool.retain(|_, _| false));
    }

    /// Runs `f` with a pooled connection, bounded in time: a call that the database does not
    /// answer in time is [`StoreError::Unavailable`], and its connection (in an unknown state)
    /// is closed rather than handed to the next call.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send,
        F: for<'c> FnOnce(&'c mut Client) -> BoxFuture<'c, Result<T, StoreError>> + Send,
    {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let limit = self.settings.call_timeout();
        let mut client = match tokio::time::timeout(limit, self.pool.get()).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(pool_error(&self.settings, e)),
            Err(_) => {
                return Err(StoreError::Unavailable {
                    reason: format!("no connection to the database within {limit:?}"),
                });
            }
        };
        let outcome = tokio::time::timeout(limit, f(&mut client)).await;
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if matches!(e, StoreError::Unavailable { .. }) {
                    drop(deadpool_postgres::Object::take(client));
                    self.forget_idle_connections();
                }
                Err(e)
            }
            Err(_) => {
                drop(deadpool_postgres::Object::take(client));
                self.forget_idle_connections();
                Err(StoreError::Unavailable {
                    reason: format!("the database did not answer within {limit:?}"),
                })
            }
        }
    }
}

impl Store for PostgresStore {
    fn commit(&self, tx: Transaction) -> StoreFuture<'_, ()> {
        Box::pin(self.run(move |c| Box::pin(ops::commit(c, tx))))
    }

    fn append_audit(&self, entries: Vec<AuditEntry>) -> StoreFuture<'_, ()> {
        let tx = Transaction {
            audit: entries,
            ..Transaction::default()
        };
        Box::pin(self.run(move |c| Box::pin(ops::commit(c, tx))))
    }

    fn execution(&self, id: &ExecutionId) -> StoreFuture<'_, Option<Versioned<Execution>>> {
        let id = id.to_string();
        Box::pin(
            self.run(move |c| {
                Box::pin(async move { ops::get(c, ops::Table::Executions, &id).await })
            }),
        )
    }

    fn executions(&self, filter: ExecutionFilter) -> StoreFuture<'_, Vec<Versioned<Execution>>> {
        Box::pin(self.run(move |c| {
            Box::pin(async move {
                ops::list(
                    c,
                    ops::Table::Executions,
                    filter.status.map(|s| s.as_str()),
                    None,
                    filter.limit,
                )
                .await
            })
        }))
    }

    fn checkpoints(&self, id: &ExecutionId) -> StoreFuture<'_, Vec<Checkpoint>> {
        let id = id.to_string();
        Box::pin(self.run(move |c| Box::pin(async move { ops::checkpoints(c, &id).await })))
    }

    fn approval(&self, id: &ApprovalId) -> StoreFuture<'_, Option<Versioned<ApprovalRequest>>> {
        let id = id.to_string();
        Box::pin(
            self.run(move |c| {
                Box::pin(async move { ops::get(c, ops::Table::Approvals, &id).await })
            }),
        )
    }

    fn approvals(
        &self,
        filter: ApprovalFilter,
    ) -> StoreFuture<'_, Vec<Versioned<ApprovalRequest>>> {
        Box::pin(self.run(move |c| {
            Box::pin(async move {
                ops::list(
                    c,
                    ops::Table::Approvals,
                    filter.status.map(|s| s.as_str()),
                    filter.execution.as_ref().map(ExecutionId::as_str),
                    filter.limit,
                )
                .await
            })
        }))
    }

    fn feedback(&self, id: &FeedbackId) -> StoreFuture<'_, Option<Versioned<FeedbackRequest>>> {
        let id = id.to_string();
        Box::pin(
            self.run(move |c| {
                Box::pin(async move { ops::get(c, ops::Table::Feedback, &id).await })
            }),
        )
    }

    fn feedback_requests(
        &self,
        filter: FeedbackFilter,
    ) -> StoreFuture<'_, Vec<Versioned<FeedbackRequest>>> {
        Box::pin(self.run(move |c| {
            Box::pin(async move {
                ops::list(
                    c,
                    ops::Table::Feedback,
                    filter.status.map(|s| s.as_str()),
                    filter.execution.as_ref().map(ExecutionId::as_str),
                    filter.limit,
                )
                .await
            })
        }))
    }

    fn grant(&self, id: &GrantId) -> StoreFuture<'_, Option<Versioned<Grant>>> {
        let id = id.to_string();
        Box::pin(
            self.run(move |c| Box::pin(async move { ops::get(c, ops::Table::Grants, &id).await })),
        )
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
        Box::pin(self.run(move |c| Box::pin(async move { ops::unused_grants(c, &key).await })))
    }

    fn due(&self, now: Timestamp) -> StoreFuture<'_, Vec<Due>> {
        Box::pin(self.run(move |c| Box::pin(async move { ops::due(c, now).await })))
    }

    fn next_due(&self) -> StoreFuture<'_, Option<Timestamp>> {
        Box::pin(self.run(move |c| Box::pin(async move { ops::next_due(c).await })))
    }

    fn audit(&self, filter: AuditFilter) -> StoreFuture<'_, Vec<AuditEntry>> {
        Box::pin(self.run(move |c| Box::pin(async move { ops::audit(c, &filter).await })))
    }

    fn memories(&self, query: MemoryQuery) -> StoreFuture<'_, Vec<Memory>> {
        Box::pin(self.run(move |c| Box::pin(async move { ops::memories(c, &query).await })))
    }

    fn claim_notifications(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Claimed>> {
        Box::pin(self.run(move |c| {
            Box::pin(async move { ops::claim_notifications(c, now, lease_until, limit).await })
        }))
    }

    fn settle_notification(
        &self,
        id: &NotificationId,
        delivery: Delivery,
        audit: AuditEntry,
    ) -> StoreFuture<'_, ()> {
        let id = id.to_string();
        Box::pin(self.run(move |c| {
            Box::pin(async move { ops::settle_notification(c, &id, delivery, audit).await })
        }))
    }

    fn next_notification(&self) -> StoreFuture<'_, Option<Timestamp>> {
        Box::pin(self.run(move |c| Box::pin(async move { ops::next_notification(c).await })))
    }

    fn learned_calls(&self, window: CallWindow) -> StoreFuture<'_, Vec<LearnedCall>> {
        Box::pin(
            self.run(move |c| Box::pin(async move { learning::learned_calls(c, &window).await })),
        )
    }

    fn learned_labels(&self, class: &str) -> StoreFuture<'_, u64> {
        let class = class.to_owned();
        Box::pin(
            self.run(move |c| Box::pin(async move { learning::learned_labels(c, &class).await })),
        )
    }

    fn learned_call(&self, target: LabelTarget) -> StoreFuture<'_, Option<LearnedCall>> {
        Box::pin(
            self.run(move |c| Box::pin(async move { learning::learned_call(c, &target).await })),
        )
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
        Box::pin(
            self.run(move |c| {
                Box::pin(async move { learning::latest_learned_call(c, &key).await })
            }),
        )
    }

    fn overlays(&self) -> StoreFuture<'_, Vec<Versioned<Overlay>>> {
        Box::pin(self.run(move |c| Box::pin(async move { learning::overlays(c).await })))
    }

    fn append_policy_version(
        &self,
        version: NewPolicyVersion,
        after: Option<u64>,
        audit: Vec<AuditEntry>,
    ) -> StoreFuture<'_, PolicyVersion> {
        Box::pin(self.run(move |c| {
            Box::pin(async move { versions::append(c, version, after, &audit).await })
        }))
    }

    fn policy_version(&self, number: Option<u64>) -> StoreFuture<'_, Option<PolicyVersion>> {
        Box::pin(self.run(move |c| Box::pin(async move { versions::get(c, number).await })))
    }

    fn policy_versions(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> StoreFuture<'_, Vec<PolicyVersionInfo>> {
        Box::pin(self.run(move |c| Box::pin(async move { versions::list(c, before, limit).await })))
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
        Box::pin(self.run(move |c| {
            Box::pin(
                async move { keys::claim(c, &principal, &key, &hash, now, expired_before).await },
            )
        }))
    }

    fn answer_idempotency_key(
        &self,
        claim: &IdempotencyRecord,
        response: StoredResponse,
    ) -> StoreFuture<'_, ()> {
        let claim = claim.clone();
        Box::pin(
            self.run(move |c| Box::pin(async move { keys::answer(c, &claim, &response).await })),
        )
    }

    fn release_idempotency_key(&self, claim: &IdempotencyRecord) -> StoreFuture<'_, bool> {
        let claim = claim.clone();
        Box::pin(self.run(move |c| Box::pin(async move { keys::release(c, &claim).await })))
    }

    fn idempotency_record(
        &self,
        principal: &Principal,
        key: &str,
    ) -> StoreFuture<'_, Option<IdempotencyRecord>> {
        let (principal, key) = (principal.clone(), key.to_owned());
        Box::pin(
            self.run(move |c| Box::pin(async move { keys::record(c, &principal, &key).await })),
        )
    }

    fn prune_idempotency(&self, before: Timestamp) -> StoreFuture<'_, u64> {
        Box::pin(self.run(move |c| Box::pin(async move { keys::prune(c, before).await })))
    }

    fn server_secret(
        &self,
        name: &str,
        candidate: Vec<u8>,
        now: Timestamp,
    ) -> StoreFuture<'_, Vec<u8>> {
        let name = name.to_owned();
        Box::pin(self.run(move |c| {
            Box::pin(async move { keys::server_secret(c, &name, &candidate, now).await })
        }))
    }

    fn spend_token(
        &self,
        scope: &str,
        token: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreFuture<'_, bool> {
        let (scope, token) = (scope.to_owned(), token.to_owned());
        Box::pin(self.run(move |c| {
            Box::pin(async move { keys::spend_token(c, &scope, &token, now, expires_at).await })
        }))
    }

    fn changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.changes.clone())
    }

    fn changed_records(&self) -> Option<tokio::sync::broadcast::Receiver<crate::store::Changed>> {
        Some(self.records.subscribe())
    }

    fn lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreFuture<'_, bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        Box::pin(self.run(move |c| {
            Box::pin(async move { keys::lease(c, &name, &holder, now, until).await })
        }))
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.closed.store(true, Ordering::Release);
            let _ = self.stop.send(true);
            self.pool.close();
            Ok(())
        })
    }
}
