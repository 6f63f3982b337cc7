//! Demo and test support, not part of the runtime: a simulated human that answers approval
//! and feedback requests like a person at the CLI would, through the same API and store. For
//! the examples, the tests, and trying an agent before real people are wired in.
//!
//! ```
//! use rekall_policy::demo::SimulatedHuman;
//! use rekall_policy::ir::Principal;
//! use rekall_policy::model::StepSpec;
//! use rekall_policy::runtime::{ApprovalSpec, NewExecution, Runtime};
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let rt = Runtime::builder().build().await?;
//! let adam = Principal::parse("user:adam").unwrap();
//! let human = SimulatedHuman::new(rt.clone(), adam.clone()).approving().spawn();
//!
//! let exe = rt.execution().create(NewExecution::new("demo")).await?;
//! rt.execution().start(&exe.id).await?;
//! let gate = ApprovalSpec::gate("Go?", StepSpec::new("approval", vec![adam]));
//! let outcome = rt.execution().request_approval(&exe.id, gate).await?.wait().await?;
//! assert!(outcome.approved());
//! human.abort();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::ir::Principal;
use crate::model::{ApprovalRequest, ApprovalStatus, Choice, FeedbackRequest, FeedbackStatus};
use crate::runtime::{Runtime, RuntimeError};
use crate::store::{ApprovalFilter, FeedbackFilter};

type ApprovalRule = Arc<dyn Fn(&ApprovalRequest) -> Option<(Choice, Option<String>)> + Send + Sync>;
type FeedbackRule = Arc<dyn Fn(&FeedbackRequest) -> Option<Value> + Send + Sync>;

/// A person who answers what is put in front of them, by rules given in code.
#[derive(Clone)]
pub struct SimulatedHuman {
    rt: Runtime,
    principal: Principal,
    on_approval: ApprovalRule,
    on_feedback: FeedbackRule,
}

impl std::fmt::Debug for SimulatedHuman {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedHuman")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

impl SimulatedHuman {
    /// A person who answers nothing until given rules.
    pub fn new(rt: Runtime, principal: Principal) -> SimulatedHuman {
        SimulatedHuman {
            rt,
            principal,
            on_approval: Arc::new(|_| None),
            on_feedback: Arc::new(|_| None),
        }
    }

    /// Approves every request they may vote on.
    pub fn approving(self) -> SimulatedHuman {
        self.on_approval(|_| Some((Choice::Approve, Some("looks good".into()))))
    }

    /// Rejects every request they may vote on, with this reason.
    pub fn rejecting(self, reason: &str) -> SimulatedHuman {
        let reason = reason.to_owned();
        self.on_approval(move |_| Some((Choice::Reject, Some(reason.clone()))))
    }

    /// Decides approvals by a rule; `None` leaves a request alone.
    pub fn on_approval(
        mut self,
        rule: impl Fn(&ApprovalRequest) -> Option<(Choice, Option<String>)> + Send + Sync + 'static,
    ) -> SimulatedHuman {
        self.on_approval = Arc::new(rule);
        self
    }

    /// Answers feedback forms by a rule; `None` leaves a request alone.
    pub fn on_feedback(
        mut self,
        rule: impl Fn(&FeedbackRequest) -> Option<Value> + Send + Sync + 'static,
    ) -> SimulatedHuman {
        self.on_feedback = Arc::new(rule);
        self
    }

    /// Looks at every pending request once and answers those the rules say to; returns how
    /// many answers were given.
    pub async fn act_once(&self) -> Result<usize, RuntimeError> {
        let mut answered = 0;
        let pending = self
            .rt
            .approvals()
            .list(ApprovalFilter {
                status: Some(ApprovalStatus::Pending),
                ..ApprovalFilter::default()
            })
            .await?;
        for req in pending {
            if !req.may_vote(&self.principal) {
                continue;
            }
            if let Some((choice, note)) = (self.on_approval)(&req) {
                match self
                    .rt
                    .approvals()
                    .vote(&req.id, &self.principal, choice, note)
                    .await
                {
                    Ok(_) => answered += 1,
                    // Someone else resolved it first, or its deadline passed: as for a person.
                    Err(RuntimeError::Vote(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let pending = self
            .rt
            .feedback()
            .list(FeedbackFilter {
                status: Some(FeedbackStatus::Pending),
                ..FeedbackFilter::default()
            })
            .await?;
        for req in pending {
            let allowed = req.requested_by != self.principal
                && (req.respondents.is_empty() || req.respondents.contains(&self.principal));
            if !allowed {
                continue;
            }
            if let Some(answers) = (self.on_feedback)(&req) {
                match self
                    .rt
                    .feedback()
                    .submit(&req.id, &self.principal, answers)
                    .await
                {
                    Ok(_) => answered += 1,
                    Err(RuntimeError::Feedback(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(answered)
    }

    /// Keeps answering in the background until aborted.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut changes = self.rt.subscribe();
            loop {
                changes.borrow_and_update();
                // A failed pass is tried again on the next change, like a person retrying.
                let _ = self.act_once().await;
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(self.rt.poll_interval()) => {}
                }
            }
        })
    }
}
