//! The product document's single approval gate: deploy a service to production only after a
//! person approves. Run it with `cargo run --example deploy_to_production [STORE_URL]`; a
//! simulated `user:adam` approves (the notifications he would get are logged to stderr).

use std::error::Error;

use rekall_policy::demo::SimulatedHuman;
use rekall_policy::ir::{Duration, Principal};
use rekall_policy::model::{Execution, OnFailure, StepSpec};
use rekall_policy::runtime::{ApprovalSpec, NewExecution, Runtime, RuntimeError};
use serde_json::json;

/// Runs tests, builds an image, asks for approval, then deploys or records why not.
pub async fn deploy_to_production(
    rt: &Runtime,
    service: &str,
    version: &str,
    approver: &Principal,
) -> Result<Execution, RuntimeError> {
    let x = rt.execution();
    let execution = x
        .create(
            NewExecution::new(format!("Deploy {service}@{version} to production"))
                .on_failure(OnFailure::Pause),
        )
        .await?;
    x.start(&execution.id).await?;

    // Step 1 (automatic): the tests pass.
    x.checkpoint(&execution.id, 1, None, "Tests passed").await?;

    // Step 2 (automatic): the image is built.
    let image = format!("registry.local/{service}:{version}");
    x.checkpoint(
        &execution.id,
        2,
        Some(json!({ "image": image })),
        "Image built",
    )
    .await?;

    // Step 3: a person approves; the execution is paused until they answer.
    let gate = ApprovalSpec::gate(
        "Production Deployment Approval",
        StepSpec::new("approval", vec![approver.clone()]).timeout(Duration(3_600_000)),
    )
    .description(format!(
        "Ready to deploy {service}@{version} to production.\n\nTests: PASSED\nImage: {image}"
    ))
    .notify_via(&["email", "slack"]);
    let approval = x
        .request_approval(&execution.id, gate)
        .await?
        .wait()
        .await?;

    if approval.approved() {
        // Step 4 (approved by a person): deploy.
        x.complete(&execution.id, json!({ "deployedBy": approval.approved_by }))
            .await
    } else {
        x.complete(
            &execution.id,
            json!({ "status": approval.status, "reason": approval.reason }),
        )
        .await
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite::memory:".into());
    let rt = Runtime::builder().store_url(&url).build().await?;
    let adam = Principal::parse("user:adam").ok_or("bad principal")?;
    let human = SimulatedHuman::new(rt.clone(), adam.clone())
        .approving()
        .spawn();

    let done = deploy_to_production(&rt, "api", "1.4.2", &adam).await?;
    human.abort();
    println!("{}: {}", done.name, done.status);
    println!("result: {}", done.result.unwrap_or_default());
    Ok(())
}
