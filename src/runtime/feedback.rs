//! Feedback requests: a form for a person to fill in, with artifacts to look at. The
//! execution pauses until it is answered (or times out); answers are checked against the
//! form field by field.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::error::RuntimeError;
use super::execution::Executions;
use super::{Retry, Runtime};
use crate::ir::{Duration, Principal};
use crate::model::{
    Artifact, AuditEntry, AuditKind, Execution, ExecutionId, FeedbackId, FeedbackRequest,
    FeedbackStatus, Form, MemoryKind, NewMemory, Notification, NotificationKind, Timestamp,
};
use crate::store::{Expected, FeedbackFilter, Transaction, Versioned, Write};

/// What `request_feedback` takes.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackSpec {
    pub title: String,
    pub description: String,
    pub artifacts: Vec<Artifact>,
    pub form: Form,
    /// Who may answer; empty means anyone but the agent.
    pub respondents: Vec<Principal>,
    pub notify_via: Vec<String>,
    pub timeout: Option<Duration>,
}

impl FeedbackSpec {
    pub fn new(title: impl Into<String>, form: Form) -> FeedbackSpec {
        FeedbackSpec {
            title: title.into(),
            description: String::new(),
            artifacts: Vec::new(),
            form,
            respondents: Vec::new(),
            notify_via: Vec::new(),
            timeout: None,
        }
    }

    pub fn description(mut self, description: impl Into<String>) -> FeedbackSpec {
        self.description = description.into();
        self
    }

    pub fn artifact(mut self, artifact: Artifact) -> FeedbackSpec {
        self.artifacts.push(artifact);
        self
    }

    pub fn respondents(mut self, respondents: Vec<Principal>) -> FeedbackSpec {
        self.respondents = respondents;
        self
    }

    pub fn notify_via(mut self, channels: &[&str]) -> FeedbackSpec {
        self.notify_via = channels.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> FeedbackSpec {
        self.timeout = Some(timeout);
        self
    }
}

/// How a feedback request ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackOutcome {
    pub request: FeedbackId,
    pub status: FeedbackStatus,
    /// The answers (empty unless submitted).
    pub data: Map<String, Value>,
    pub submitted_by: Option<Principal>,
}

impl FeedbackOutcome {
    fn of(req: &FeedbackRequest) -> FeedbackOutcome {
        FeedbackOutcome {
            request: req.id.clone(),
            status: req.status,
            data: req.answers.clone().unwrap_or_default(),
            submitted_by: req.submitted_by.clone(),
        }
    }

    pub fn submitted(&self) -> bool {
        self.status == FeedbackStatus::Submitted
    }
}

impl Executions<'_> {
    /// Asks for feedback with a form, and pauses the execution until it is answered.
    pub async fn request_feedback(
        &self,
        execution: &ExecutionId,
        spec: FeedbackSpec,
    ) -> Result<FeedbackHandle, RuntimeError> {
        if spec.title.trim().is_empty() {
            return Err(RuntimeError::invalid("title", "must not be empty"));
        }
        spec.form.check()?;
        let mut retry = Retry::new("execution", execution);
        let id = FeedbackId::generate();
        loop {
            let now = self.rt.now();
            let loaded = self.load(execution).await?;
            let mut e = loaded.record.clone();
            e.wait_on(id.as_str(), now)?;
            let req = FeedbackRequest {
                id: id.clone(),
                execution_id: e.id.clone(),
                requested_by: e.agent.clone(),
                title: spec.title.clone(),
                description: spec.description.clone(),
                artifacts: spec.artifacts.clone(),
                form: spec.form.clone(),
                respondents: spec.respondents.clone(),
                notify_via: spec.notify_via.clone(),
                timeout: spec.timeout,
                deadline: spec.timeout.map(|t| now.after(t)),
                status: FeedbackStatus::Pending,
                answers: None,
                submitted_by: None,
                created_at: now,
                resolved_at: None,
            };
            let entry = AuditEntry::new(
                AuditKind::FeedbackRequested,
                now,
                json!({"title": req.title, "form": req.form, "respondents": req.respondents,
                       "deadline": req.deadline}),
            )
            .execution(&e.id)
            .request(&id)
            .by(&e.agent);
            let note = Notification::new(
                NotificationKind::FeedbackRequested,
                req.respondents.clone(),
                req.notify_via.clone(),
                req.title.clone(),
                format!(
                    "{} asks for feedback: {}\n\n{}\n\nRequest: {}",
                    req.requested_by, req.title, req.description, req.id
                ),
                None,
                Some(e.id.clone()),
                Some(id.to_string()),
                now,
            );
            let tx = Transaction {
                writes: vec![
                    Write::Execution(e, Expected::Version(loaded.version)),
                    Write::Feedback(req, Expected::New),
                ],
                audit: vec![entry],
                notifications: vec![note],
                ..Transaction::default()
            };
            match self.rt.commit(tx).await {
                Ok(()) => return Ok(FeedbackHandle::new(self.rt.clone(), id)),
                Err(err) => retry.again(err).await?,
            }
        }
    }
}

/// The feedback API: `runtime.feedback()`.
#[derive(Debug, Clone, Copy)]
pub struct Feedback<'a> {
    pub(crate) rt: &'a Runtime,
}

impl Feedback<'_> {
    pub async fn get(&self, id: &FeedbackId) -> Result<FeedbackRequest, RuntimeError> {
        Ok(self.load(id).await?.record)
    }

    async fn load(&self, id: &FeedbackId) -> Result<Versioned<FeedbackRequest>, RuntimeError> {
        self.rt
            .store()
            .feedback(id)
            .await?
            .ok_or_else(|| RuntimeError::NotFound {
                what: "feedback request",
                id: id.to_string(),
            })
    }

    pub async fn list(&self, filter: FeedbackFilter) -> Result<Vec<FeedbackRequest>, RuntimeError> {
        let found = self.rt.store().feedback_requests(filter).await?;
        Ok(found.into_iter().map(|v| v.record).collect())
    }

    pub fn handle(&self, id: &FeedbackId) -> FeedbackHandle {
        FeedbackHandle::new(self.rt.clone(), id.clone())
    }

    /// Answers a feedback request. `answers` must be a JSON object keyed by field name; each
    /// answer is checked against its field, and every bad one is reported.
    pub async fn submit(
        &self,
        id: &FeedbackId,
        principal: &Principal,
        answers: Value,
    ) -> Result<FeedbackRequest, RuntimeError> {
        let Value::Object(answers) = answers else {
            return Err(RuntimeError::invalid(
                "answers",
                "must be a JSON object with one entry per form field",
            ));
        };
        let mut retry = Retry::new("feedback request", id);
        loop {
            let now = self.rt.now();
            let loaded = self.load(id).await?;
            let mut req = loaded.record.clone();
            if let Err(refused) = req.submit(principal, answers.clone(), now) {
                let entry = AuditEntry::new(
                    AuditKind::FeedbackRefused,
                    now,
                    json!({"error": refused.to_string()}),
                )
                .execution(&req.execution_id)
                .request(id)
                .by(principal);
                self.rt.store().append_audit(vec![entry]).await?;
                return Err(refused.into());
            }
            let exec = self.rt.store().execution(&req.execution_id).await?;
            let mut tx = Transaction::default();
            resolution_effects(&mut tx, &req, exec, now);
            tx.writes.push(Write::Feedback(
                req.clone(),
                Expected::Version(loaded.version),
            ));
            match self.rt.commit(tx).await {
                Ok(()) => return Ok(req),
                Err(err) => retry.again(err).await?,
            }
        }
    }

    pub async fn cancel(
        &self,
        id: &FeedbackId,
        principal: &Principal,
    ) -> Result<FeedbackRequest, RuntimeError> {
        let mut retry = Retry::new("feedback request", id);
        loop {
            let now = self.rt.now();
            let loaded = self.load(id).await?;
            let mut req = loaded.record.clone();
            req.cancel(now)?;
            let exec = self.rt.store().execution(&req.execution_id).await?;
            let mut tx = Transaction::default();
            resolution_effects(&mut tx, &req, exec, now);
            if let Some(entry) = tx.audit.first_mut() {
                entry.principal = Some(principal.clone());
            }
            tx.writes.push(Write::Feedback(
                req.clone(),
                Expected::Version(loaded.version),
            ));
            match self.rt.commit(tx).await {
                Ok(()) => return Ok(req),
                Err(err) => retry.again(err).await?,
            }
        }
    }
}

/// What goes with a closed feedback request: the execution resumes, the answer is audited
/// and remembered (an episodic memory of every answer), and people are told.
pub(crate) fn resolution_effects(
    tx: &mut Transaction,
    req: &FeedbackRequest,
    exec: Option<Versioned<Execution>>,
    now: Timestamp,
) {
    if let Some(v) = exec {
        let mut e = v.record;
        if e.request_resolved(req.id.as_str(), now) {
            tx.writes
                .push(Write::Execution(e, Expected::Version(v.version)));
        }
    }
    let (kind, detail) = match req.status {
        FeedbackStatus::Submitted => (
            AuditKind::FeedbackSubmitted,
            json!({"answers": req.answers}),
        ),
        status => (AuditKind::FeedbackResolved, json!({"status": status})),
    };
    let mut entry = AuditEntry::new(kind, now, detail)
        .execution(&req.execution_id)
        .request(&req.id);
    entry.principal = req.submitted_by.clone();
    tx.audit.push(entry);
    if let (FeedbackStatus::Submitted, Some(answers)) = (req.status, &req.answers) {
        let summary: Vec<String> = req
            .form
            .fields
            .iter()
            .filter_map(|f| {
                answers
                    .get(&f.name)
                    .map(|a| format!("{}: {}", f.label, show(a)))
            })
            .collect();
        let by = req
            .submitted_by
            .as_ref()
            .map_or_else(String::new, |p| format!(" from {p}"));
        let memory = NewMemory::new(
            MemoryKind::Episodic,
            format!("Feedback on \"{}\"{by}: {}", req.title, summary.join("; ")),
        )
        .tags(&["feedback"])
        .importance(0.7)
        .meta("requestId", json!(req.id))
        .meta("subject", json!(req.title))
        .meta("answers", Value::Object(answers.clone()))
        .meta("submittedBy", json!(req.submitted_by))
        .execution(&req.execution_id);
        if let Ok(memory) = memory.into_memory(now) {
            tx.memories.push(memory);
        }
    }
    tx.notifications.push(Notification::new(
        NotificationKind::FeedbackResolved,
        req.respondents.clone(),
        req.notify_via.clone(),
        req.title.clone(),
        format!("{} is {}", req.id, req.status),
        None,
        Some(req.execution_id.clone()),
        Some(req.id.to_string()),
        now,
    ));
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(show).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// A feedback request to wait on.
#[derive(Debug, Clone)]
pub struct FeedbackHandle {
    rt: Runtime,
    id: FeedbackId,
}

impl FeedbackHandle {
    fn new(rt: Runtime, id: FeedbackId) -> FeedbackHandle {
        FeedbackHandle { rt, id }
    }

    pub fn id(&self) -> &FeedbackId {
        &self.id
    }

    /// Waits until the request is answered, times out or is cancelled.
    pub async fn wait(&self) -> Result<FeedbackOutcome, RuntimeError> {
        let mut changes = self.rt.subscribe_to("feedback", &self.id.to_string());
        loop {
            changes.borrow_and_update();
            let req = self.rt.feedback().get(&self.id).await?;
            if req.status != FeedbackStatus::Pending {
                return Ok(FeedbackOutcome::of(&req));
            }
            self.rt
                .wait_for_change(&mut changes, req.next_due())
                .await?;
        }
    }
}
