//! The runtime: the policy decides, the runtime makes the decision real. An agent creates an
//! execution, checkpoints its steps, asks for escalation checks, approvals and feedback, is
//! paused until the right people answer, and resumes. Everything lives in a
//! [`Store`], so nothing is lost when the process dies.
//!
//! ```
//! use rekall_policy::ir::Principal;
//! use rekall_policy::model::{ApprovalStatus, StepSpec};
//! use rekall_policy::runtime::{ApprovalSpec, NewExecution, Runtime};
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let rt = Runtime::builder().store_url("sqlite::memory:").build().await?;
//! let exe = rt.execution().create(NewExecution::new("Deploy api@1.4.2")).await?;
//! rt.execution().start(&exe.id).await?;
//!
//! let adam = Principal::parse("user:adam").unwrap();
//! let gate = ApprovalSpec::gate("Production deployment", StepSpec::new("approval", vec![adam.clone()]));
//! let approval = rt.execution().request_approval(&exe.id, gate).await?;
//! rt.approvals().approve(approval.id(), &adam, Some("ship it")).await?;
//!
//! let outcome = approval.wait().await?;
//! assert_eq!(outcome.status, ApprovalStatus::Approved);
//! assert_eq!(outcome.approved_by, vec![adam]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The records and their state machines are in [`crate::model`]; this module holds the
//! services that drive them: `execution` (its API), `approval` (gates, chains, votes),
//! `feedback` (forms), `escalation` (`check_escalation` and grants), `timeouts` (deadlines
//! and the background loop), `memory`, `audit`, `notify` (delivery), `policy_versions` (the
//! policy's stored versions) and `idempotency` (answers kept for retried requests). Every
//! state change is one store transaction with version checks, retried when another writer
//! got there first.

mod approval;
mod audit;
mod clock;
mod error;
mod escalation;
mod execution;
mod feedback;
mod idempotency;
mod learning;
mod memory;
mod notify;
mod policy;
mod policy_versions;
pub mod preferences;
mod timeouts;

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use tokio::sync::watch;

use crate::ir::Principal;
use crate::model::Timestamp;
use crate::store::{self, Store, StoreError, Transaction};

pub use approval::{
    ApprovalHandle, ApprovalOutcome, ApprovalSpec, Approvals, StepReport, VoteReceipt,
};
pub use audit::Audit;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::RuntimeError;
pub use escalation::EscalationDecision;
pub use execution::{Executions, NewExecution, Waiting};
pub use feedback::{Feedback, FeedbackHandle, FeedbackOutcome, FeedbackSpec};
pub use idempotency::{Claim, Idempotency, IdempotencyError};
pub use learning::{
    ThresholdReport, ThresholdState, Thresholds, history as threshold_history,
    states as threshold_states,
};
pub use memory::Memories;
pub use notify::{
    ALL_CHANNELS, Channels, LogNotifier, Notifier, NotifyError, RecordingNotifier, Target,
};
pub use policy::{Decide, LoadedPolicy};
pub use policy_versions::{
    ChangedBy, HistoryPage, MAX_HISTORY_PAGE, Policies, PolicyChangeError, PolicyDiagnostic,
    PolicyRejected, PreparedChange, RuleSection, Seed,
};

/// The runtime. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    notifier: Arc<dyn Notifier>,
    /// The channels `notifyVia` may name.
    channels: Channels,
    policy: ArcSwapOption<LoadedPolicy>,
    /// The last policy refused by [`Runtime::policies`], until one is accepted.
    last_policy_error: std::sync::Mutex<Option<PolicyRejected>>,
    /// When this runtime last pruned expired idempotency records (ms since the epoch).
    idempotency_pruned: std::sync::atomic::AtomicI64,
    /// The principal executions act as unless they name their own.
    agent: Principal,
    /// Bumped after every commit of this process, so that waiters re-read the store at once
    /// instead of at their next poll. Only a hint: the store is the truth.
    changes: watch::Sender<u64>,
    /// The same by record, for the waiters of one record (`kind:id`, as
    /// [`crate::store::Write::wake_key`]): a waiter is woken by the commits that write its
    /// record, not by every commit of a busy cluster.
    keyed: std::sync::Mutex<Keyed>,
    /// How often waiters re-read the store for changes made by other processes.
    poll: std::time::Duration,
    /// Whether notifications are delivered right after the change that queues them (with
    /// the background loop), or only when [`Runtime::deliver_notifications`] is called.
    eager_delivery: bool,
    /// Who this runtime is when it takes the store's lease on deadlines: unique per process
    /// start, so that a node that restarts waits for its old lease like any other node.
    node: String,
    /// The audit sample's draws, seeded from the operating system.
    rng: std::sync::Mutex<crate::learn::random::Rng>,
    /// Each adaptive class's learner, kept between labels so that a label costs a constant
    /// and not a replay of the window; rebuilt from the store after a restart.
    learners: tokio::sync::Mutex<learning::Learners>,
}

/// The per-record senders of [`Runtime::subscribe_to`]; a record nobody waits on any more is
/// dropped the next time the map has doubled.
#[derive(Debug, Default)]
struct Keyed {
    senders: std::collections::HashMap<String, watch::Sender<u64>>,
    /// The map's size after its last sweep.
    swept_at: usize,
}

impl Keyed {
    fn subscribe(&mut self, key: String) -> watch::Receiver<u64> {
        if self.senders.len() >= 2 * self.swept_at.max(64) {
            self.senders.retain(|_, s| s.receiver_count() > 0);
            self.swept_at = self.senders.len();
        }
        self.senders
            .entry(key)
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe()
    }
}

/// Builds a [`Runtime`].
#[derive(Debug)]
pub struct RuntimeBuilder {
    store: Option<Arc<dyn Store>>,
    url: Option<String>,
    clock: Arc<dyn Clock>,
    notifier: Arc<dyn Notifier>,
    channels: Channels,
    policy: Option<LoadedPolicy>,
    agent: Principal,
    poll: std::time::Duration,
    background: bool,
    audit_seed: Option<u64>,
}

impl Runtime {
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder {
            store: None,
            url: None,
            clock: Arc::new(SystemClock),
            notifier: Arc::new(LogNotifier),
            channels: Channels::Any,
            policy: None,
            agent: default_agent(),
            poll: std::time::Duration::from_millis(500),
            background: true,
            audit_seed: None,
        }
    }

    /// `runtime.execution()`: executions, and the requests they make.
    pub fn execution(&self) -> Executions<'_> {
        Executions { rt: self }
    }

    /// `runtime.approvals()`: votes, grants, listing.
    pub fn approvals(&self) -> Approvals<'_> {
        Approvals { rt: self }
    }

    /// `runtime.feedback()`: answering forms.
    pub fn feedback(&self) -> Feedback<'_> {
        Feedback { rt: self }
    }

    /// `runtime.memories()`.
    pub fn memories(&self) -> Memories<'_> {
        Memories { rt: self }
    }

    /// `runtime.audit()`.
    pub fn audit(&self) -> Audit<'_> {
        Audit { rt: self }
    }

    /// `runtime.policies()`: the policy's stored versions, changes and rollbacks.
    pub fn policies(&self) -> Policies<'_> {
        Policies { rt: self }
    }

    /// `runtime.idempotency()`: the answers kept for requests made with an idempotency key.
    pub fn idempotency(&self) -> Idempotency<'_> {
        Idempotency { rt: self }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The channels a policy's or a request's `notifyVia` may name.
    pub fn channels(&self) -> &Channels {
        &self.inner.channels
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The principal executions act as unless they name their own.
    pub fn default_agent(&self) -> &Principal {
        &self.inner.agent
    }

    /// Commits a transaction, then wakes this process's waiters and starts delivering any
    /// notifications it queued.
    pub(crate) async fn commit(&self, tx: Transaction) -> Result<(), StoreError> {
        let notify = !tx.notifications.is_empty();
        let written: Vec<String> = tx
            .writes
            .iter()
            .map(crate::store::Write::wake_key)
            .collect();
        self.inner.store.commit(tx).await?;
        self.touch(Some(&written));
        self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
        if notify && self.inner.eager_delivery {
            self.kick_delivery();
        }
        Ok(())
    }

    /// Passes the store's word that another process committed on to this runtime's waiters,
    /// so that a vote on one node wakes the waiters of another at once rather than at their
    /// next poll: those of the records it wrote, when the store can say which.
    fn forward_store_changes(&self) {
        let weak = Arc::downgrade(&self.inner);
        if let Some(mut records) = self.inner.store.changed_records() {
            tokio::spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    let changed = match records.recv().await {
                        Ok(changed) => changed,
                        Err(RecvError::Lagged(_)) => store::Changed::Anything,
                        Err(RecvError::Closed) => return,
                    };
                    let Some(inner) = weak.upgrade() else { return };
                    let rt = Runtime { inner };
                    match changed {
                        store::Changed::Records(keys) => rt.touch(Some(&keys)),
                        store::Changed::Anything => rt.touch(None),
                    }
                    rt.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
                }
            });
            return;
        }
        let Some(mut theirs) = self.inner.store.changes() else {
            return;
        };
        tokio::spawn(async move {
            while theirs.changed().await.is_ok() {
                let Some(inner) = weak.upgrade() else { return };
                let rt = Runtime { inner };
                rt.touch(None);
                rt.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
            }
        });
    }

    /// Wakes the waiters of these records (of every record for `None`).
    fn touch(&self, keys: Option<&[String]>) {
        let Ok(keyed) = self.inner.keyed.lock() else {
            return;
        };
        match keys {
            Some(keys) => {
                for key in keys {
                    if let Some(sender) = keyed.senders.get(key) {
                        sender.send_modify(|n| *n = n.wrapping_add(1));
                    }
                }
            }
            None => {
                for sender in keyed.senders.values() {
                    sender.send_modify(|n| *n = n.wrapping_add(1));
                }
            }
        }
    }

    /// A subscription to the changes of one record (`kind:id`): moved by the commits of
    /// this process that write it, by other processes' when the store says which records
    /// they wrote, and by any change when it cannot say.
    pub(crate) fn subscribe_to(&self, kind: &str, id: &str) -> watch::Receiver<u64> {
        let key = format!("{kind}:{id}");
        let mut keyed = match self.inner.keyed.lock() {
            Ok(k) => k,
            Err(poisoned) => poisoned.into_inner(),
        };
        keyed.subscribe(key)
    }

    /// Who this runtime is to the store's leases.
    pub(crate) fn node(&self) -> &str {
        &self.inner.node
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    pub(crate) fn poll_interval(&self) -> std::time::Duration {
        self.inner.poll
    }
}

/// A seed the process cannot predict: the standard library's hasher keys come from the
/// operating system's random source.
fn os_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}

fn default_agent() -> Principal {
    Principal::parse("agent:default").unwrap_or_else(|| unreachable!("a valid principal"))
}

impl RuntimeBuilder {
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// A store by URL (`sqlite://PATH`, `sqlite::memory:`), opened by [`Self::build`].
    pub fn store_url(mut self, url: &str) -> Self {
        self.url = Some(url.to_owned());
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = notifier;
        self
    }

    /// The channels a policy's `notifyVia` may name (default: any); a policy naming another
    /// is refused where it names it.
    pub fn channels(mut self, channels: Channels) -> Self {
        self.channels = channels;
        self
    }

    pub fn policy(mut self, policy: LoadedPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The principal executions act as unless they name their own (default
    /// `agent:default`).
    pub fn agent(mut self, agent: Principal) -> Self {
        self.agent = agent;
        self
    }

    /// How often waiters re-read the store for changes by other processes (default 500ms).
    pub fn poll_interval(mut self, poll: std::time::Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Whether to run the background loop that handles deadlines, reminders and deliveries
    /// (default yes). Without it, deadlines are handled by waiters and by
    /// [`Runtime::process_due`], and notifications are delivered only by
    /// [`Runtime::deliver_notifications`] (which keeps tests deterministic).
    pub fn background(mut self, on: bool) -> Self {
        self.background = on;
        self
    }

    /// Seeds the audit sample's draws, for a reproducible run (by default the seed comes from
    /// the operating system, so that an agent cannot predict which calls are audited).
    pub fn audit_seed(mut self, seed: u64) -> Self {
        self.audit_seed = Some(seed);
        self
    }

    /// Opens the store, handles every deadline that passed while no runtime was running
    /// (waiters will find those requests timed out), and starts the background loop.
    pub async fn build(self) -> Result<Runtime, RuntimeError> {
        let store = match (self.store, self.url) {
            (Some(store), _) => store,
            (None, Some(url)) => store::open(&url).await?,
            (None, None) => store::open("sqlite::memory:").await?,
        };
        let rt = Runtime {
            inner: Arc::new(Inner {
                store,
                clock: self.clock,
                notifier: self.notifier,
                channels: self.channels,
                policy: ArcSwapOption::empty(),
                last_policy_error: std::sync::Mutex::new(None),
                idempotency_pruned: std::sync::atomic::AtomicI64::new(i64::MIN),
                agent: self.agent,
                changes: watch::Sender::new(0),
                keyed: std::sync::Mutex::new(Keyed::default()),
                poll: self.poll,
                eager_delivery: self.background,
                node: format!("{}-{:016x}", std::process::id(), os_seed()),
                rng: std::sync::Mutex::new(crate::learn::random::Rng::new(
                    self.audit_seed.unwrap_or_else(os_seed),
                )),
                learners: tokio::sync::Mutex::new(learning::Learners::default()),
            }),
        };
        if let Some(policy) = self.policy {
            rt.set_policy(policy).await?;
        }
        rt.process_due().await?;
        rt.forward_store_changes();
        if self.background {
            timeouts::spawn_background(&rt);
        }
        Ok(rt)
    }
}

/// Retries an optimistic update after a version conflict, a bounded number of times.
pub(crate) struct Retry {
    what: &'static str,
    id: String,
    attempts: u32,
}

/// Enough for dozens of writers racing on one record; each retry re-reads, so every attempt
/// makes progress for someone.
const MAX_ATTEMPTS: u32 = 200;

impl Retry {
    pub(crate) fn new(what: &'static str, id: impl ToString) -> Retry {
        Retry {
            what,
            id: id.to_string(),
            attempts: 0,
        }
    }

    /// Returns `Ok` when the update should be tried again, or the error to give up with.
    pub(crate) async fn again(&mut self, err: StoreError) -> Result<(), RuntimeError> {
        if !err.is_conflict() {
            return Err(err.into());
        }
        self.attempts += 1;
        if self.attempts >= MAX_ATTEMPTS {
            return Err(RuntimeError::Contended {
                what: self.what,
                id: self.id.clone(),
                attempts: self.attempts,
            });
        }
        // Back off a little, more after repeated conflicts, with jitter from the clock so
        // that racing writers spread out.
        let jitter = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos() % 1000));
        let micros = (u64::from(self.attempts.min(20)) * 200) + jitter;
        tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
        Ok(())
    }
}
