//! The handle an agent waits on. Waiting reads the store, so a handle works the same after a
//! restart, and sees votes cast by other processes (the CLI, another node).

use serde::Serialize;

use super::super::Runtime;
use super::super::error::RuntimeError;
use crate::ir::Principal;
use crate::model::{ApprovalId, ApprovalRequest, ApprovalStatus, GrantId, StepStatus, Timestamp};

/// How a request ended, as the agent reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalOutcome {
    pub request: ApprovalId,
    /// `approved`, `rejected`, `timed_out` or `cancelled`; only `approved` lets the agent go
    /// ahead.
    pub status: ApprovalStatus,
    pub approved_by: Vec<Principal>,
    /// Why it was not approved (the rejecter's reason, or the timeout).
    pub reason: Option<String>,
    /// Per step of a chain: its name, status and approvers. Empty for a single gate.
    pub chain_status: Vec<StepReport>,
    /// The single-use grant for the approved call, when the request came from
    /// `check_escalation`.
    pub grant: Option<GrantId>,
}

impl ApprovalOutcome {
    pub fn approved(&self) -> bool {
        self.status == ApprovalStatus::Approved
    }

    pub(crate) fn of(req: &ApprovalRequest) -> ApprovalOutcome {
        ApprovalOutcome {
            request: req.id.clone(),
            status: req.status,
            approved_by: req.approved_by(),
            reason: req.reason.clone(),
            chain_status: if req.chain {
                req.steps
                    .iter()
                    .map(|s| StepReport {
                        name: s.spec.step.clone(),
                        status: s.status,
                        approved_by: s.approved_by(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            grant: req.grant.clone(),
        }
    }
}

/// One step of a chain in an outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    pub name: String,
    pub status: StepStatus,
    pub approved_by: Vec<Principal>,
}

/// A pending (or resolved) approval request to wait on.
#[derive(Debug, Clone)]
pub struct ApprovalHandle {
    rt: Runtime,
    id: ApprovalId,
}

impl ApprovalHandle {
    pub(crate) fn new(rt: Runtime, id: ApprovalId) -> ApprovalHandle {
        ApprovalHandle { rt, id }
    }

    pub fn id(&self) -> &ApprovalId {
        &self.id
    }

    /// The request as it is now.
    pub async fn get(&self) -> Result<ApprovalRequest, RuntimeError> {
        self.rt.approvals().get(&self.id).await
    }

    /// Waits until the request is resolved. Votes cast before the wait count; a deadline
    /// that passes while waiting (or passed while no process ran) is handled here too, so
    /// the caller is told `timed_out` even without a background loop.
    pub async fn wait(&self) -> Result<ApprovalOutcome, RuntimeError> {
        let mut changes = self.rt.subscribe_to("approval", &self.id.to_string());
        loop {
            changes.borrow_and_update();
            let req = self.get().await?;
            if req.status != ApprovalStatus::Pending {
                return Ok(ApprovalOutcome::of(&req));
            }
            self.rt
                .wait_for_change(&mut changes, req.next_due())
                .await?;
        }
    }
}

impl Runtime {
    /// Sleeps until this process commits something, another process may have (the poll
    /// interval), or `due` is reached, in which case it handles what is due.
    pub(crate) async fn wait_for_change(
        &self,
        changes: &mut tokio::sync::watch::Receiver<u64>,
        due: Option<Timestamp>,
    ) -> Result<(), RuntimeError> {
        let clock = self.clock().clone();
        let deadline = async {
            match due {
                Some(at) => clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = changes.changed() => Ok(()),
            () = tokio::time::sleep(self.poll_interval()) => Ok(()),
            () = deadline => self.process_due().await.map(|_| ()),
        }
    }
}
