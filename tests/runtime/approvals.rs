//! Approval gates and chains (spec section 8): quorum, rejection, separation of duties, late
//! votes, votes before waiting, chain status, and what approving does to the execution.

use rekall_policy::model::{
    ApprovalStatus, AuditKind, ExecutionStatus, NotificationKind, StepSpec, StepStatus, VoteError,
};
use rekall_policy::runtime::{ApprovalSpec, RuntimeError};

use crate::common::{hours, p, ps, rig, running, within};

fn two_of_three() -> ApprovalSpec {
    ApprovalSpec::gate(
        "Rotate keys",
        StepSpec::new("approval", ps(&["user:adam", "user:alice", "user:bob"])).min_approvals(2),
    )
    .notify_via(&["email", "slack"])
}

fn migration_chain() -> ApprovalSpec {
    ApprovalSpec::chain(
        "Database Schema Migration",
        vec![
            StepSpec::new("Technical Review", ps(&["user:alice", "user:bob"])).timeout(hours(1)),
            StepSpec::new("Manager Approval", ps(&["user:carol", "user:bob"])).timeout(hours(2)),
        ],
    )
}

#[tokio::test]
async fn quorum_of_distinct_listed_approvers_approves_and_resumes_the_execution() {
    let rig = rig().await;
    let e = running(&rig.rt, "keys").await;
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, two_of_three())
        .await
        .unwrap();
    assert_eq!(
        rig.rt.execution().get(&e.id).await.unwrap().status,
        ExecutionStatus::Paused
    );

    let a = rig.rt.approvals();
    let first = a
        .approve(h.id(), &p("user:adam"), Some("ok"))
        .await
        .unwrap();
    assert!(first.counted);
    assert_eq!(first.status, ApprovalStatus::Pending);
    // A second vote by the same principal is ignored, not counted twice.
    let again = a.approve(h.id(), &p("user:adam"), None).await.unwrap();
    assert!(!again.counted);
    assert_eq!(again.status, ApprovalStatus::Pending);
    let second = a.approve(h.id(), &p("user:bob"), None).await.unwrap();
    assert_eq!(second.status, ApprovalStatus::Approved);

    let outcome = within("wait", h.wait()).await.unwrap();
    assert!(outcome.approved());
    assert_eq!(outcome.approved_by, ps(&["user:adam", "user:bob"]));
    assert!(
        outcome.chain_status.is_empty(),
        "a single gate has no chain status"
    );
    assert_eq!(
        rig.rt.execution().get(&e.id).await.unwrap().status,
        ExecutionStatus::Running
    );

    let ignored = rig
        .rt
        .audit()
        .for_execution(&e.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|x| x.kind == AuditKind::VoteIgnored)
        .count();
    assert_eq!(ignored, 1);
}

#[tokio::test]
async fn one_listed_rejection_rejects_and_its_reason_goes_back() {
    let rig = rig().await;
    let e = running(&rig.rt, "keys").await;
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, two_of_three())
        .await
        .unwrap();
    rig.rt
        .approvals()
        .approve(h.id(), &p("user:adam"), None)
        .await
        .unwrap();
    rig.rt
        .approvals()
        .reject(h.id(), &p("user:alice"), "not during the freeze")
        .await
        .unwrap();
    let outcome = h.wait().await.unwrap();
    assert_eq!(outcome.status, ApprovalStatus::Rejected);
    assert_eq!(outcome.reason.as_deref(), Some("not during the freeze"));
    // Rejected is resolved: the agent gets control back to act on it.
    assert_eq!(
        rig.rt.execution().get(&e.id).await.unwrap().status,
        ExecutionStatus::Running
    );
}

#[tokio::test]
async fn votes_cast_before_the_agent_waits_are_kept() {
    let rig = rig().await;
    let e = running(&rig.rt, "keys").await;
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, two_of_three())
        .await
        .unwrap();
    let id = h.id().clone();
    rig.rt
        .approvals()
        .approve(&id, &p("user:alice"), None)
        .await
        .unwrap();
    rig.rt
        .approvals()
        .approve(&id, &p("user:bob"), None)
        .await
        .unwrap();
    drop(h);
    // Waiting afterwards, from a fresh handle, sees the resolution.
    let outcome = rig.rt.approvals().handle(&id).wait().await.unwrap();
    assert_eq!(outcome.approved_by, ps(&["user:alice", "user:bob"]));
}

#[tokio::test]
async fn the_requesting_agent_never_votes_even_if_listed() {
    let rig = rig().await;
    let e = running(&rig.rt, "self").await;
    let agent = e.agent.clone();
    let gate = ApprovalSpec::gate(
        "Self",
        StepSpec::new("approval", vec![agent.clone(), p("user:adam")]),
    );
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, gate)
        .await
        .unwrap();
    let err = rig
        .rt
        .approvals()
        .approve(h.id(), &agent, None)
        .await
        .unwrap_err();
    match &err {
        RuntimeError::Vote(VoteError::SelfApproval { principal, request }) => {
            assert_eq!(principal, &agent);
            assert_eq!(request, h.id());
        }
        other => panic!("expected a self-approval error, got {other:?}"),
    }
    assert!(err.to_string().contains("separation of duties"), "{err}");
    assert_eq!(h.get().await.unwrap().status, ApprovalStatus::Pending);
    // A gate only the agent could approve is refused when asked for.
    let only_agent = ApprovalSpec::gate("Self only", StepSpec::new("approval", vec![agent]));
    let e2 = running(&rig.rt, "self2").await;
    let err = rig
        .rt
        .execution()
        .request_approval(&e2.id, only_agent)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::InvalidInput { field, .. } if field == "minApprovals"),
        "{err}"
    );
}

#[tokio::test]
async fn unlisted_principals_are_refused_with_an_authorization_error() {
    let rig = rig().await;
    let e = running(&rig.rt, "keys").await;
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, two_of_three())
        .await
        .unwrap();
    let err = rig
        .rt
        .approvals()
        .reject(h.id(), &p("user:mallory"), "no")
        .await
        .unwrap_err();
    match err {
        RuntimeError::Vote(VoteError::NotAnApprover {
            principal,
            approvers,
            step,
            ..
        }) => {
            assert_eq!(principal, p("user:mallory"));
            assert_eq!(step, "approval");
            assert_eq!(approvers, ps(&["user:adam", "user:alice", "user:bob"]));
        }
        other => panic!("expected NotAnApprover, got {other:?}"),
    }
    // An unlisted rejection does not reject.
    assert_eq!(h.get().await.unwrap().status, ApprovalStatus::Pending);
    let refused = rig.rt.audit().for_execution(&e.id).await.unwrap();
    assert!(
        refused
            .iter()
            .any(|x| x.kind == AuditKind::VoteRefused && x.principal == Some(p("user:mallory")))
    );
}

#[tokio::test]
async fn a_chain_runs_step_by_step_and_refuses_cross_step_votes() {
    let rig = rig().await;
    let e = running(&rig.rt, "migrate").await;
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, migration_chain())
        .await
        .unwrap();
    let a = rig.rt.approvals();

    // The manager cannot vote before the technical review is done.
    let early = a.approve(h.id(), &p("user:carol"), None).await.unwrap_err();
    assert!(
        matches!(&early, RuntimeError::Vote(VoteError::NotAnApprover { step, .. }) if step == "Technical Review"),
        "{early}"
    );
    a.approve(h.id(), &p("user:bob"), Some("schema ok"))
        .await
        .unwrap();
    let req = h.get().await.unwrap();
    assert_eq!(req.current, 1);
    assert_eq!(req.steps[0].status, StepStatus::Approved);
    assert_eq!(req.steps[1].status, StepStatus::Pending);

    // bob is listed for both steps, but one principal votes in one step only.
    let cross = a.approve(h.id(), &p("user:bob"), None).await.unwrap_err();
    match &cross {
        RuntimeError::Vote(VoteError::CrossStepVote {
            earlier_step,
            step,
            principal,
            ..
        }) => {
            assert_eq!(earlier_step, "Technical Review");
            assert_eq!(step, "Manager Approval");
            assert_eq!(principal, &p("user:bob"));
        }
        other => panic!("expected a cross-step error, got {other:?}"),
    }
    a.approve(h.id(), &p("user:carol"), None).await.unwrap();
    let outcome = h.wait().await.unwrap();
    assert!(outcome.approved());
    let status: Vec<(String, StepStatus, Vec<String>)> = outcome
        .chain_status
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.status,
                s.approved_by.iter().map(|p| p.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(
        status,
        [
            (
                "Technical Review".into(),
                StepStatus::Approved,
                vec!["user:bob".to_string()]
            ),
            (
                "Manager Approval".into(),
                StepStatus::Approved,
                vec!["user:carol".to_string()]
            ),
        ]
    );

    // Each group is told when its step opens, and not before.
    rig.rt.deliver_notifications().await.unwrap();
    let sent = rig.notes.sent();
    // Deliveries may finish in any order; what matters is who was told what.
    let mut kinds: Vec<(NotificationKind, Vec<String>)> = sent
        .iter()
        .filter(|n| n.kind != NotificationKind::Resolved)
        .map(|n| (n.kind, n.recipients.iter().map(|p| p.to_string()).collect()))
        .collect();
    kinds.sort_by_key(|(k, _)| k.as_str());
    assert_eq!(
        kinds,
        [
            (
                NotificationKind::ApprovalRequested,
                vec!["user:alice".into(), "user:bob".into()]
            ),
            (
                NotificationKind::NextStep,
                vec!["user:carol".into(), "user:bob".into()]
            ),
        ]
    );
}

#[tokio::test]
async fn a_rejection_at_any_step_rejects_the_whole_chain() {
    let rig = rig().await;
    let e = running(&rig.rt, "migrate").await;
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, migration_chain())
        .await
        .unwrap();
    rig.rt
        .approvals()
        .approve(h.id(), &p("user:alice"), None)
        .await
        .unwrap();
    rig.rt
        .approvals()
        .reject(h.id(), &p("user:carol"), "not this quarter")
        .await
        .unwrap();
    let outcome = h.wait().await.unwrap();
    assert_eq!(outcome.status, ApprovalStatus::Rejected);
    assert_eq!(outcome.reason.as_deref(), Some("not this quarter"));
    assert_eq!(outcome.chain_status[1].status, StepStatus::Rejected);

    // A three-step chain rejected at the first step skips the rest.
    let e = running(&rig.rt, "three").await;
    let chain = ApprovalSpec::chain(
        "three",
        vec![
            StepSpec::new("one", ps(&["user:a"])),
            StepSpec::new("two", ps(&["user:b"])),
            StepSpec::new("three", ps(&["user:c"])),
        ],
    );
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, chain)
        .await
        .unwrap();
    rig.rt
        .approvals()
        .reject(h.id(), &p("user:a"), "no")
        .await
        .unwrap();
    let steps: Vec<StepStatus> = h
        .wait()
        .await
        .unwrap()
        .chain_status
        .iter()
        .map(|s| s.status)
        .collect();
    assert_eq!(
        steps,
        [
            StepStatus::Rejected,
            StepStatus::Skipped,
            StepStatus::Skipped
        ]
    );
}

#[tokio::test]
async fn late_votes_are_refused_after_resolution_and_after_the_deadline() {
    let rig = rig().await;
    let e = running(&rig.rt, "keys").await;
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, two_of_three())
        .await
        .unwrap();
    rig.rt
        .approvals()
        .approve(h.id(), &p("user:adam"), None)
        .await
        .unwrap();
    rig.rt
        .approvals()
        .approve(h.id(), &p("user:alice"), None)
        .await
        .unwrap();
    let late = rig
        .rt
        .approvals()
        .reject(h.id(), &p("user:bob"), "wait")
        .await
        .unwrap_err();
    match &late {
        RuntimeError::Vote(VoteError::AlreadyResolved { status, .. }) => {
            assert_eq!(*status, ApprovalStatus::Approved)
        }
        other => panic!("expected AlreadyResolved, got {other:?}"),
    }
    assert!(late.to_string().contains("already approved"), "{late}");
    assert_eq!(h.wait().await.unwrap().status, ApprovalStatus::Approved);

    // A vote after the deadline is refused even before anyone has processed the timeout.
    let e = running(&rig.rt, "slow").await;
    let gate = ApprovalSpec::gate(
        "slow",
        StepSpec::new("approval", ps(&["user:adam"])).timeout(hours(1)),
    );
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, gate)
        .await
        .unwrap();
    rig.clock.advance(hours(1));
    let late = rig
        .rt
        .approvals()
        .approve(h.id(), &p("user:adam"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&late, RuntimeError::Vote(VoteError::DeadlinePassed { step, .. }) if step == "approval"),
        "{late}"
    );
    assert_eq!(h.wait().await.unwrap().status, ApprovalStatus::TimedOut);
}

#[tokio::test]
async fn bad_gates_are_refused_naming_the_field() {
    let rig = rig().await;
    let e = running(&rig.rt, "bad").await;
    let cases = [
        (
            ApprovalSpec::gate("t", StepSpec::new("approval", vec![])),
            "approvers",
        ),
        (
            ApprovalSpec::gate(
                "t",
                StepSpec::new("approval", ps(&["user:a"])).min_approvals(2),
            ),
            "minApprovals",
        ),
        (
            ApprovalSpec::gate(
                "t",
                StepSpec::new("approval", ps(&["user:a"])).min_approvals(0),
            ),
            "minApprovals",
        ),
        (
            ApprovalSpec::gate(
                "t",
                StepSpec::new("approval", ps(&["user:a"])).escalate_to(vec![]),
            ),
            "escalateTo",
        ),
        (ApprovalSpec::chain("t", vec![]), "chain"),
        (
            ApprovalSpec::chain(
                "t",
                vec![
                    StepSpec::new("one", ps(&["user:a"])),
                    StepSpec::new("two", vec![]),
                ],
            ),
            "chain[1].approvers",
        ),
        (
            ApprovalSpec::gate(" ", StepSpec::new("approval", ps(&["user:a"]))),
            "title",
        ),
    ];
    for (spec, field) in cases {
        let err = rig
            .rt
            .execution()
            .request_approval(&e.id, spec)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RuntimeError::InvalidInput { field: f, .. } if f == field),
            "{field}: {err}"
        );
    }
    // Nothing was opened, and the execution still runs.
    assert_eq!(
        rig.rt.execution().get(&e.id).await.unwrap().status,
        ExecutionStatus::Running
    );
}
