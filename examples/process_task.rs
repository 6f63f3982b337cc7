//! The product document's confidence-based escalation: the agent asks the policy before each
//! task; confident tasks go ahead, unsure ones wait for a person, and an approval is used
//! once, for the exact task it was given for. Run it with `cargo run --example process_task`.

use std::error::Error;

use rekall_policy::Policy;
use rekall_policy::demo::SimulatedHuman;
use rekall_policy::ir::Principal;
use rekall_policy::model::{Call, Choice, ExecutionId};
use rekall_policy::runtime::{LoadedPolicy, NewExecution, Runtime, RuntimeError};
use serde_json::json;

/// The escalation policy of the product document.
pub const ESCALATION_POLICY: &str = r#"version: 1
name: confidence-escalation
escalation:
  rules:
    - confidenceRange: [0.9, 1.0]
      action: auto-approve
    - confidenceRange: [0.7, 0.9]
      action: notify-and-proceed
      notifyVia: [slack]
    - confidenceRange: [0.4, 0.7]
      action: request-approval
      approvers: [user:adam]
      timeout: 1h
    - confidenceRange: [0.0, 0.4]
      action: escalate
      approvers: [user:carol]
      notifyVia: [email, slack]
      priority: high
"#;

/// A task for the agent.
#[derive(Debug, Clone)]
pub struct Task {
    pub action: String,
    pub resource: String,
    pub confidence: f64,
}

/// What happened to a task.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// Executed without asking anyone.
    Executed,
    /// Executed after a person approved it.
    ExecutedAfterApproval,
    /// A person said no (or nobody answered in time).
    NotApproved(String),
}

/// Checks a task against the policy and executes it when allowed, waiting for a person when
/// the policy says so.
pub async fn process_task(
    rt: &Runtime,
    execution: &ExecutionId,
    task: &Task,
) -> Result<Done, RuntimeError> {
    let call = Call::new(task.action.clone())
        .resource(task.resource.clone())
        .confidence(task.confidence)
        .context(json!({
            "reasoning": "Based on 3 similar past tasks, 2 succeeded with this approach",
            "alternatives": ["Alternative A", "Alternative B"],
        }));
    let decision = rt
        .execution()
        .check_escalation(execution, call.clone())
        .await?;
    if decision.approved {
        execute_action(task);
        return Ok(Done::Executed);
    }
    println!("Escalated: {}", decision.reason); // the execution is paused, waiting for a person
    let Some(request) = decision.request else {
        return Ok(Done::NotApproved(decision.reason));
    };
    let outcome = rt.approvals().handle(&request).wait().await?;
    if !outcome.approved() {
        return Ok(Done::NotApproved(outcome.reason.unwrap_or_default()));
    }
    // The approval is a grant for this exact call: asking again uses it, once.
    let again = rt.execution().check_escalation(execution, call).await?;
    if again.approved {
        execute_action(task);
        Ok(Done::ExecutedAfterApproval)
    } else {
        Ok(Done::NotApproved(again.reason))
    }
}

fn execute_action(task: &Task) {
    println!("executing {} on {}", task.action, task.resource);
}

pub fn tasks() -> Vec<Task> {
    [
        ("summarize", "ticket-1", 0.95),
        ("reply", "ticket-2", 0.8),
        ("refund", "order-3", 0.55),
        ("close-account", "customer-4", 0.2),
    ]
    .into_iter()
    .map(|(a, r, c)| Task {
        action: a.into(),
        resource: r.into(),
        confidence: c,
    })
    .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite::memory:".into());
    let policy = Policy::from_yaml_str(ESCALATION_POLICY, "escalation.yaml")?;
    let rt = Runtime::builder()
        .store_url(&url)
        .policy(LoadedPolicy::new(&policy))
        .build()
        .await?;
    let adam = SimulatedHuman::new(
        rt.clone(),
        Principal::parse("user:adam").ok_or("principal")?,
    )
    .approving()
    .spawn();
    let carol = SimulatedHuman::new(
        rt.clone(),
        Principal::parse("user:carol").ok_or("principal")?,
    )
    .on_approval(|_| {
        Some((
            Choice::Reject,
            Some("closing accounts needs a ticket".into()),
        ))
    })
    .spawn();
    let execution = rt
        .execution()
        .create(NewExecution::new("Support queue"))
        .await?;
    rt.execution().start(&execution.id).await?;
    for task in tasks() {
        let done = process_task(&rt, &execution.id, &task).await?;
        println!(
            "{} {} at {}: {done:?}",
            task.action, task.resource, task.confidence
        );
    }
    rt.execution().complete(&execution.id, json!({})).await?;
    adam.abort();
    carol.abort();
    Ok(())
}
