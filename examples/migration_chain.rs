//! The product document's multi-approval chain: a schema migration approved first by a
//! technical reviewer, then by a manager; each group is asked only when the step before is
//! approved. Run it with `cargo run --example migration_chain`.

use std::error::Error;

use rekall_policy::demo::SimulatedHuman;
use rekall_policy::ir::{Duration, Principal};
use rekall_policy::model::StepSpec;
use rekall_policy::runtime::{ApprovalOutcome, ApprovalSpec, NewExecution, Runtime, RuntimeError};
use serde_json::json;

fn principal(s: &str) -> Principal {
    Principal::parse(s).unwrap_or_else(|| panic!("`{s}` is a valid principal"))
}

/// Asks the chain for approval and finishes the execution by its outcome.
pub async fn migrate(rt: &Runtime) -> Result<ApprovalOutcome, RuntimeError> {
    let x = rt.execution();
    let execution = x
        .create(NewExecution::new("Migrate legacy_users to users_v2"))
        .await?;
    x.start(&execution.id).await?;
    let chain = ApprovalSpec::chain(
        "Database Schema Migration",
        vec![
            StepSpec::new(
                "Technical Review",
                vec![principal("user:alice"), principal("user:bob")],
            )
            .timeout(Duration(3_600_000)),
            StepSpec::new("Manager Approval", vec![principal("user:carol")])
                .timeout(Duration(7_200_000)),
        ],
    )
    .description("Dropping the legacy_users table and migrating data to users_v2")
    .notify_via(&["email", "slack"]);
    // The execution pauses until every step is approved (or one rejects).
    let approval = x
        .request_approval(&execution.id, chain)
        .await?
        .wait()
        .await?;

    println!("Approval status: {}", approval.status);
    for step in &approval.chain_status {
        let by: Vec<&str> = step.approved_by.iter().map(Principal::as_str).collect();
        let by = if by.is_empty() {
            "pending".to_string()
        } else {
            by.join(", ")
        };
        println!(" {}: {} ({by})", step.name, step.status);
    }
    x.complete(&execution.id, json!({ "approval": approval.status }))
        .await?;
    Ok(approval)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite::memory:".into());
    let rt = Runtime::builder().store_url(&url).build().await?;
    let bob = SimulatedHuman::new(rt.clone(), principal("user:bob"))
        .approving()
        .spawn();
    let carol = SimulatedHuman::new(rt.clone(), principal("user:carol"))
        .approving()
        .spawn();
    let approval = migrate(&rt).await?;
    bob.abort();
    carol.abort();
    if !approval.approved() {
        return Err(format!("the migration was not approved: {:?}", approval.reason).into());
    }
    Ok(())
}
