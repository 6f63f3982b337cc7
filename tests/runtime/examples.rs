//! The four examples of the product document, end to end, each with simulated people
//! answering through the same API a person at the CLI uses. The example files are compiled
//! into this test as modules, so the code tested is the code shown.

#[allow(dead_code)]
#[path = "../../examples/deploy_to_production.rs"]
mod deploy_to_production;

#[allow(dead_code)]
#[path = "../../examples/migration_chain.rs"]
mod migration_chain;

#[allow(dead_code)]
#[path = "../../examples/code_review_feedback.rs"]
mod code_review_feedback;

#[allow(dead_code)]
#[path = "../../examples/process_task.rs"]
mod process_task;

use rekall_policy::Policy;
use rekall_policy::demo::SimulatedHuman;
use rekall_policy::model::{ApprovalStatus, Choice, ExecutionStatus, MemoryQuery, StepStatus};
use rekall_policy::runtime::LoadedPolicy;
use serde_json::json;

use crate::common::{p, rig, within};

#[tokio::test]
async fn deploy_to_production_approved_and_rejected() {
    let rig = rig().await;
    let adam = p("user:adam");
    let human = SimulatedHuman::new(rig.rt.clone(), adam.clone())
        .approving()
        .spawn();
    let done = within(
        "deploy",
        deploy_to_production::deploy_to_production(&rig.rt, "api", "1.4.2", &adam),
    )
    .await
    .unwrap();
    human.abort();
    assert_eq!(done.status, ExecutionStatus::Completed);
    assert_eq!(done.result, Some(json!({"deployedBy": ["user:adam"]})));
    let cp = done.checkpoint.unwrap();
    assert_eq!(cp.state, json!({"image": "registry.local/api:1.4.2"}));

    let human = SimulatedHuman::new(rig.rt.clone(), adam.clone())
        .rejecting("change freeze until Monday")
        .spawn();
    let done = within(
        "deploy",
        deploy_to_production::deploy_to_production(&rig.rt, "api", "1.4.3", &adam),
    )
    .await
    .unwrap();
    human.abort();
    assert_eq!(
        done.result,
        Some(json!({"status": "rejected", "reason": "change freeze until Monday"}))
    );
}

#[tokio::test]
async fn deploy_to_production_times_out_when_nobody_answers() {
    let rig = rig().await;
    let adam = p("user:adam");
    let run = tokio::spawn({
        let rt = rig.rt.clone();
        async move { deploy_to_production::deploy_to_production(&rt, "api", "2.0.0", &adam).await }
    });
    // Wait until the gate is open, then let the hour pass.
    within("the gate", async {
        while rig
            .rt
            .approvals()
            .list(Default::default())
            .await
            .unwrap()
            .is_empty()
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    rig.clock.advance(crate::common::hours(1));
    let done = within("deploy", run).await.unwrap().unwrap();
    assert_eq!(done.result.unwrap()["status"], "timed_out");
}

#[tokio::test]
async fn migration_chain_step_by_step() {
    let rig = rig().await;
    let bob = SimulatedHuman::new(rig.rt.clone(), p("user:bob"))
        .approving()
        .spawn();
    let carol = SimulatedHuman::new(rig.rt.clone(), p("user:carol"))
        .approving()
        .spawn();
    let outcome = within("migration", migration_chain::migrate(&rig.rt))
        .await
        .unwrap();
    bob.abort();
    carol.abort();
    assert_eq!(outcome.status, ApprovalStatus::Approved);
    let steps: Vec<(&str, StepStatus, Vec<String>)> = outcome
        .chain_status
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.status,
                s.approved_by.iter().map(|p| p.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (
                "Technical Review",
                StepStatus::Approved,
                vec!["user:bob".to_string()]
            ),
            (
                "Manager Approval",
                StepStatus::Approved,
                vec!["user:carol".to_string()]
            ),
        ]
    );

    // The manager says no: the whole chain is rejected.
    let bob = SimulatedHuman::new(rig.rt.clone(), p("user:bob"))
        .approving()
        .spawn();
    let carol = SimulatedHuman::new(rig.rt.clone(), p("user:carol"))
        .rejecting("not this sprint")
        .spawn();
    let outcome = within("migration", migration_chain::migrate(&rig.rt))
        .await
        .unwrap();
    bob.abort();
    carol.abort();
    assert_eq!(outcome.status, ApprovalStatus::Rejected);
    assert_eq!(outcome.chain_status[1].status, StepStatus::Rejected);
}

#[tokio::test]
async fn code_review_feedback_blocks_approves_and_remembers() {
    let rig = rig().await;
    let human = SimulatedHuman::new(rig.rt.clone(), p("user:alice"))
        .on_feedback(|req| {
            Some(if req.title.starts_with("Critical issues in PR #14") {
                json!({"action": "Block PR", "comments": "Use a prepared statement."})
            } else if req.title.starts_with("Critical") {
                json!({"action": "False positive", "comments": "The input is a constant."})
            } else {
                json!({"quality": 2, "issues": ["Missing error handling", "Security concern"]})
            })
        })
        .spawn();
    // PR 12 has no critical issue: no person is asked.
    let clean = within(
        "review 12",
        code_review_feedback::code_review_workflow(&rig.rt, 12),
    )
    .await
    .unwrap();
    assert_eq!(
        clean.result,
        Some(json!({"issues": 1, "criticalReviewed": 0}))
    );
    let blocked = within(
        "review 14",
        code_review_feedback::code_review_workflow(&rig.rt, 14),
    )
    .await
    .unwrap();
    assert_eq!(
        blocked.result.as_ref().unwrap()["review"],
        "changes_requested"
    );
    assert_eq!(
        blocked.checkpoint.as_ref().unwrap().message,
        "Human review: Block PR"
    );
    assert_eq!(
        blocked.checkpoint.as_ref().unwrap().state["humanReview"]["comments"],
        "Use a prepared statement."
    );
    let passed = within(
        "review 21",
        code_review_feedback::code_review_workflow(&rig.rt, 21),
    )
    .await
    .unwrap();
    assert_eq!(
        passed.result,
        Some(json!({"issues": 2, "criticalReviewed": 1}))
    );

    let rating = within(
        "rating",
        code_review_feedback::review_generated_code(&rig.rt, "fn f() {}"),
    )
    .await
    .unwrap();
    human.abort();
    assert_eq!(rating["quality"], 2);
    let learned = rig
        .rt
        .memories()
        .query(MemoryQuery::tagged(&["feedback", "code-generation"]))
        .await
        .unwrap();
    assert_eq!(learned.len(), 1);
    assert!(learned[0].content.starts_with(
        "Code generation feedback: quality 2/5. Issues: Missing error handling, Security concern."
    ));
    // Every feedback answer is remembered by the runtime too (three forms were answered).
    assert_eq!(
        rig.rt
            .memories()
            .query(MemoryQuery::tagged(&["feedback"]))
            .await
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn process_task_by_confidence() {
    let rig = rig().await;
    let policy = Policy::from_yaml_str(process_task::ESCALATION_POLICY, "escalation.yaml").unwrap();
    rig.rt.set_policy(LoadedPolicy::new(&policy)).await.unwrap();
    let adam = SimulatedHuman::new(rig.rt.clone(), p("user:adam"))
        .approving()
        .spawn();
    let carol = SimulatedHuman::new(rig.rt.clone(), p("user:carol"))
        .on_approval(|_| {
            Some((
                Choice::Reject,
                Some("closing accounts needs a ticket".into()),
            ))
        })
        .spawn();
    let e = crate::common::running(&rig.rt, "Support queue").await;
    let mut results = Vec::new();
    for task in process_task::tasks() {
        results.push(
            within("task", process_task::process_task(&rig.rt, &e.id, &task))
                .await
                .unwrap(),
        );
    }
    adam.abort();
    carol.abort();
    use process_task::Done;
    assert_eq!(
        results,
        [
            Done::Executed,
            Done::Executed,
            Done::ExecutedAfterApproval,
            Done::NotApproved("closing accounts needs a ticket".into()),
        ]
    );
    // Two escalations, each remembered with its resolution.
    let escalations = rig
        .rt
        .memories()
        .query(MemoryQuery::tagged(&["escalation"]))
        .await
        .unwrap();
    assert_eq!(escalations.len(), 4);
    assert_eq!(
        rig.rt.execution().get(&e.id).await.unwrap().status,
        ExecutionStatus::Running
    );
}
