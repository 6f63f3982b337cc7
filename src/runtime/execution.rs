//! Executions: the agent's unit of work and its checkpoints (the record and its state machine
//! are [`crate::model::Execution`]). The API is
//! `runtime.execution()`, as in the product document (`rekall.execution.create`, ...); the
//! requests an execution makes (`request_approval`, `request_feedback`,
//! `check_escalation`) are in their own modules.

use serde_json::{Value, json};

use super::error::RuntimeError;
use super::{ApprovalHandle, FeedbackHandle, Retry, Runtime};
use crate::ir::Principal;
use crate::model::{
    ApprovalId, ApprovalStatus, AuditEntry, AuditKind, Checkpoint, CheckpointInterval, Execution,
    ExecutionConfig, ExecutionId, ExecutionStatus, FeedbackStatus, OnFailure, Operation, Timestamp,
};
use crate::store::{
    ApprovalFilter, ExecutionFilter, Expected, FeedbackFilter, Transaction, Versioned, Write,
};

/// What `create` takes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewExecution {
    pub name: String,
    pub config: ExecutionConfig,
    /// The principal the agent acts as; the runtime's default agent when `None`.
    pub agent: Option<Principal>,
}

impl NewExecution {
    pub fn new(name: impl Into<String>) -> NewExecution {
        NewExecution {
            name: name.into(),
            config: ExecutionConfig::default(),
            agent: None,
        }
    }

    pub fn on_failure(mut self, on_failure: OnFailure) -> NewExecution {
        self.config.on_failure = on_failure;
        self
    }

    pub fn checkpoint_interval(mut self, interval: CheckpointInterval) -> NewExecution {
        self.config.checkpoint_interval = interval;
        self
    }

    pub fn agent(mut self, agent: Principal) -> NewExecution {
        self.agent = Some(agent);
        self
    }
}

/// What an execution waits on.
#[derive(Debug, Clone, Default)]
pub struct Waiting {
    pub approvals: Vec<ApprovalHandle>,
    pub feedback: Vec<FeedbackHandle>,
}

/// The executions API: `runtime.execution()`.
#[derive(Debug, Clone, Copy)]
pub struct Executions<'a> {
    pub(crate) rt: &'a Runtime,
}

impl<'a> Executions<'a> {
    pub async fn create(&self, new: NewExecution) -> Result<Execution, RuntimeError> {
        if new.name.trim().is_empty() {
            return Err(RuntimeError::invalid("name", "must not be empty"));
        }
        let now = self.rt.now();
        let agent = new.agent.unwrap_or_else(|| self.rt.default_agent().clone());
        let execution = Execution::new(new.name, new.config, agent, now);
        let entry = AuditEntry::new(
            AuditKind::ExecutionCreated,
            now,
            json!({"name": execution.name, "config": execution.config}),
        )
        .execution(&execution.id)
        .by(&execution.agent);
        let tx = Transaction {
            writes: vec![Write::Execution(execution.clone(), Expected::New)],
            audit: vec![entry],
            ..Transaction::default()
        };
        self.rt.commit(tx).await?;
        Ok(execution)
    }

    /// The execution, or [`RuntimeError::NotFound`].
    pub async fn get(&self, id: &ExecutionId) -> Result<Execution, RuntimeError> {
        Ok(self.load(id).await?.record)
    }

    pub(crate) async fn load(
        &self,
        id: &ExecutionId,
    ) -> Result<Versioned<Execution>, RuntimeError> {
        self.rt
            .store()
            .execution(id)
            .await?
            .ok_or_else(|| RuntimeError::NotFound {
                what: "execution",
                id: id.to_string(),
            })
    }

    /// Executions, newest first.
    pub async fn list(&self, filter: ExecutionFilter) -> Result<Vec<Execution>, RuntimeError> {
        let found = self.rt.store().executions(filter).await?;
        Ok(found.into_iter().map(|v| v.record).collect())
    }

    /// The requests a paused execution waits on, as handles to wait on again: what an agent
    /// restarted after a crash picks up, together with [`Execution::checkpoint`].
    pub async fn waiting(&self, id: &ExecutionId) -> Result<Waiting, RuntimeError> {
        let e = self.get(id).await?;
        let mut waiting = Waiting::default();
        for request in &e.waiting_on {
            if request.starts_with(ApprovalId::PREFIX) {
                waiting
                    .approvals
                    .push(self.rt.approvals().handle(&request.as_str().into()));
            } else {
                waiting
                    .feedback
                    .push(self.rt.feedback().handle(&request.as_str().into()));
            }
        }
        Ok(waiting)
    }

    /// Every checkpoint of an execution, oldest first.
    pub async fn checkpoints(&self, id: &ExecutionId) -> Result<Vec<Checkpoint>, RuntimeError> {
        self.load(id).await?;
        Ok(self.rt.store().checkpoints(id).await?)
    }

    pub async fn start(&self, id: &ExecutionId) -> Result<Execution, RuntimeError> {
        self.change(id, Operation::Start, |_| {}).await
    }

    pub async fn pause(&self, id: &ExecutionId) -> Result<Execution, RuntimeError> {
        self.change(id, Operation::Pause, |_| {}).await
    }

    /// Resumes a paused execution; the agent reads its state back from
    /// [`Execution::checkpoint`].
    pub async fn resume(&self, id: &ExecutionId) -> Result<Execution, RuntimeError> {
        self.change(id, Operation::Resume, |_| {}).await
    }

    pub async fn complete(
        &self,
        id: &ExecutionId,
        result: Value,
    ) -> Result<Execution, RuntimeError> {
        self.change(id, Operation::Complete, move |e| {
            e.result = Some(result.clone())
        })
        .await
    }

    /// Reports a failed step: the execution fails, or pauses if it is set to
    /// `onFailure: pause` (a second `fail` while paused fails it for good).
    pub async fn fail(&self, id: &ExecutionId, error: &str) -> Result<Execution, RuntimeError> {
        let error = error.to_owned();
        self.change(id, Operation::Fail, move |e| e.error = Some(error.clone()))
            .await
    }

    /// Cancels an execution and every request it still waits on.
    pub async fn cancel(&self, id: &ExecutionId, reason: &str) -> Result<Execution, RuntimeError> {
        let reason = format!("execution cancelled: {reason}");
        self.change(id, Operation::Cancel, move |e| {
            e.error = Some(reason.clone())
        })
        .await
    }

    /// Records a finished step. `state` is what a resumed agent reads back; `None` keeps the
    /// previous checkpoint's state.
    pub async fn checkpoint(
        &self,
        id: &ExecutionId,
        step: u64,
        state: Option<Value>,
        message: &str,
    ) -> Result<Checkpoint, RuntimeError> {
        let mut retry = Retry::new("execution", id);
        loop {
            let now = self.rt.now();
            let loaded = self.load(id).await?;
            let mut e = loaded.record.clone();
            e.apply(Operation::Checkpoint, now)?;
            let previous = e.checkpoint.as_ref();
            let checkpoint = Checkpoint {
                execution_id: id.clone(),
                seq: previous.map_or(1, |c| c.seq + 1),
                step,
                state: state
                    .clone()
                    .or_else(|| previous.map(|c| c.state.clone()))
                    .unwrap_or(Value::Null),
                message: message.to_owned(),
                at: now,
            };
            e.checkpoint = Some(checkpoint.clone());
            let entry = AuditEntry::new(
                AuditKind::Checkpoint,
                now,
                json!({"seq": checkpoint.seq, "step": step, "message": message}),
            )
            .execution(id)
            .by(&e.agent);
            let tx = Transaction {
                writes: vec![Write::Execution(e, Expected::Version(loaded.version))],
                checkpoints: vec![checkpoint.clone()],
                audit: vec![entry],
                ..Transaction::default()
            };
            match self.rt.commit(tx).await {
                Ok(()) => return Ok(checkpoint),
                Err(err) => retry.again(err).await?,
            }
        }
    }

    /// One state-machine step, committed under the execution's version. An execution that
    /// ends (failed, cancelled) takes the requests it waits on with it, in the same
    /// transaction, so no one is asked about work that will not happen.
    async fn change(
        &self,
        id: &ExecutionId,
        op: Operation,
        also: impl Fn(&mut Execution),
    ) -> Result<Execution, RuntimeError> {
        let mut retry = Retry::new("execution", id);
        loop {
            let now = self.rt.now();
            let loaded = self.load(id).await?;
            let mut e = loaded.record.clone();
            let from = e.status;
            also(&mut e);
            e.apply(op, now)?;
            let mut tx = Transaction {
                audit: vec![state_entry(&e, from, op, now)],
                ..Transaction::default()
            };
            if e.status.is_finished() && !e.waiting_on.is_empty() {
                let why = e
                    .error
                    .clone()
                    .unwrap_or_else(|| format!("execution {}", e.status));
                self.close_requests(&mut tx, id, &why, now).await?;
                e.waiting_on.clear();
            }
            tx.writes.push(Write::Execution(
                e.clone(),
                Expected::Version(loaded.version),
            ));
            match self.rt.commit(tx).await {
                Ok(()) => return Ok(e),
                Err(err) => retry.again(err).await?,
            }
        }
    }

    /// Adds the cancellation of every pending request of an execution to `tx`.
    async fn close_requests(
        &self,
        tx: &mut Transaction,
        id: &ExecutionId,
        why: &str,
        now: Timestamp,
    ) -> Result<(), RuntimeError> {
        let approvals = self
            .rt
            .store()
            .approvals(ApprovalFilter {
                status: Some(ApprovalStatus::Pending),
                execution: Some(id.clone()),
                limit: None,
            })
            .await?;
        for v in approvals {
            let mut req = v.record;
            if req.cancel(why.to_owned(), now).is_ok() {
                super::approval::resolution_effects(tx, &mut req, None, now);
                tx.writes
                    .push(Write::Approval(req, Expected::Version(v.version)));
            }
        }
        let feedback = self
            .rt
            .store()
            .feedback_requests(FeedbackFilter {
                status: Some(FeedbackStatus::Pending),
                execution: Some(id.clone()),
                limit: None,
            })
            .await?;
        for v in feedback {
            let mut req = v.record;
            if req.cancel(now).is_ok() {
                super::feedback::resolution_effects(tx, &req, None, now);
                tx.writes
                    .push(Write::Feedback(req, Expected::Version(v.version)));
            }
        }
        Ok(())
    }
}

pub(crate) fn state_entry(
    e: &Execution,
    from: ExecutionStatus,
    op: Operation,
    now: Timestamp,
) -> AuditEntry {
    AuditEntry::new(
        AuditKind::ExecutionState,
        now,
        json!({"operation": op.as_str(), "from": from, "to": e.status,
               "error": e.error, "result": e.result}),
    )
    .execution(&e.id)
}
