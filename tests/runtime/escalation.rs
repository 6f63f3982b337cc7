//! check_escalation on the seed policy: every outcome, grants bound to the exact call and
//! the policy, and the decision log replayed through `rekall-policy eval --input`.

use rekall_policy::Policy;
use rekall_policy::model::{
    AuditKind, Call, ExecutionError, ExecutionStatus, GrantError, MemoryQuery, NotificationKind,
};
use rekall_policy::runtime::{LoadedPolicy, Runtime, RuntimeError};
use rekall_policy::store::AuditFilter;
use rekall_policy::{Outcome, Priority};
use serde_json::json;

use crate::common::{p, rig, running};

fn seed() -> LoadedPolicy {
    LoadedPolicy::new(&Policy::from_path("policies/seed.yaml").expect("the seed policy"))
}

fn deploy(confidence: f64) -> Call {
    Call::new("deploy")
        .resource("staging")
        .confidence(confidence)
        .context(
            json!({"reasoning": "Based on 3 similar past tasks, 2 succeeded",
                        "alternatives": ["Alternative A", "Alternative B"]}),
        )
}

async fn seeded() -> crate::common::Rig {
    let rig = rig().await;
    rig.rt.set_policy(seed()).await.unwrap();
    rig
}

#[tokio::test]
async fn each_outcome_does_what_it_says() {
    let rig = seeded().await;
    let x = rig.rt.execution();
    let e = running(&rig.rt, "tasks").await;

    let auto = x.check_escalation(&e.id, deploy(0.95)).await.unwrap();
    assert!(auto.approved);
    assert_eq!(auto.outcome, Outcome::AutoApprove);
    assert_eq!(auto.request, None);

    let notify = x.check_escalation(&e.id, deploy(0.8)).await.unwrap();
    assert!(notify.approved);
    assert_eq!(notify.outcome, Outcome::NotifyAndProceed);
    rig.rt.deliver_notifications().await.unwrap();
    let sent = rig.notes.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, NotificationKind::Proceeding);
    assert_eq!(sent[0].channels, ["slack"]);

    let ask = x.check_escalation(&e.id, deploy(0.5)).await.unwrap();
    assert!(!ask.approved);
    assert_eq!(ask.outcome, Outcome::RequestApproval);
    assert!(ask.reason.contains("user:adam"), "{}", ask.reason);
    let req = rig
        .rt
        .approvals()
        .get(ask.request.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(req.steps[0].spec.approvers, [p("user:adam")]);
    assert_eq!(
        req.steps[0].deadline,
        Some(crate::common::T0.after(crate::common::hours(1)))
    );
    assert_eq!(x.get(&e.id).await.unwrap().status, ExecutionStatus::Paused);

    // A paused execution is not acting: asking again is refused until a human answers.
    let err = x.check_escalation(&e.id, deploy(0.95)).await.unwrap_err();
    assert!(
        matches!(
            &err,
            RuntimeError::Execution(ExecutionError::InvalidTransition {
                from: ExecutionStatus::Paused,
                ..
            })
        ),
        "{err}"
    );
    rig.rt
        .approvals()
        .reject(&req.id, &p("user:adam"), "too risky")
        .await
        .unwrap();

    let escalate = x.check_escalation(&e.id, deploy(0.2)).await.unwrap();
    assert_eq!(escalate.outcome, Outcome::Escalate);
    let req = rig
        .rt
        .approvals()
        .get(escalate.request.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(req.steps[0].spec.approvers, [p("user:carol")]);
    assert_eq!(req.priority, Some(Priority::High));
    assert_eq!(req.notify_via, ["email", "slack"]);
    let remembered = rig
        .rt
        .memories()
        .query(MemoryQuery::tagged(&["escalation"]))
        .await
        .unwrap();
    assert_eq!(
        remembered.len(),
        3,
        "two escalations, one resolution of an escalated call"
    );
}

#[tokio::test]
async fn deny_does_not_go_ahead_and_is_recorded() {
    let rig = rig().await;
    let policy = Policy::from_yaml_str(
        "version: 1\nescalation:\n  rules:\n    - confidenceRange: [0.0, 1.0]\n      action: deny\n",
        "deny.yaml",
    )
    .unwrap();
    rig.rt.set_policy(LoadedPolicy::new(&policy)).await.unwrap();
    let e = running(&rig.rt, "denied").await;
    let d = rig
        .rt
        .execution()
        .check_escalation(&e.id, deploy(0.99))
        .await
        .unwrap();
    assert!(!d.approved);
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(d.reason.starts_with("denied"));
    assert_eq!(
        rig.rt.execution().get(&e.id).await.unwrap().status,
        ExecutionStatus::Running
    );
    let log = rig.rt.audit().for_execution(&e.id).await.unwrap();
    assert!(
        log.iter()
            .any(|a| a.kind == AuditKind::Decision && a.detail["decision"]["outcome"] == "deny")
    );
}

#[tokio::test]
async fn bad_calls_and_no_policy_are_errors() {
    let rig = rig().await;
    let e = running(&rig.rt, "x").await;
    let err = rig
        .rt
        .execution()
        .check_escalation(&e.id, deploy(0.5))
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::NoPolicy), "{err}");
    rig.rt.set_policy(seed()).await.unwrap();
    let err = rig
        .rt
        .execution()
        .check_escalation(&e.id, deploy(1.5))
        .await
        .unwrap_err();
    match err {
        RuntimeError::Request(r) => assert_eq!(r.field, "confidence"),
        other => panic!("expected a request error, got {other}"),
    }
    let err = rig
        .rt
        .execution()
        .check_escalation(&e.id, Call::new(""))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Request(r) if r.field == "action"),
        "{err}"
    );
}

/// Asks, gets approved by adam, and returns the runtime's answer to the approved wait.
async fn approved_once(
    rt: &Runtime,
    exe: &rekall_policy::model::ExecutionId,
    call: Call,
) -> rekall_policy::model::GrantId {
    let d = rt.execution().check_escalation(exe, call).await.unwrap();
    let id = d.request.expect("a request");
    rt.approvals()
        .approve(&id, &p("user:adam"), None)
        .await
        .unwrap();
    let outcome = rt.approvals().handle(&id).wait().await.unwrap();
    assert!(outcome.approved());
    outcome.grant.expect("a bound approval issues a grant")
}

#[tokio::test]
async fn a_grant_is_good_for_one_use_of_the_exact_call() {
    let rig = seeded().await;
    let x = rig.rt.execution();
    let e = running(&rig.rt, "tasks").await;
    let grant = approved_once(&rig.rt, &e.id, deploy(0.5)).await;

    // The same call (context keys in another order): approved once, with the grant.
    let same = deploy(0.5).context(json!({"alternatives": ["Alternative A", "Alternative B"],
        "reasoning": "Based on 3 similar past tasks, 2 succeeded"}));
    let d = x.check_escalation(&e.id, same.clone()).await.unwrap();
    assert!(d.approved, "{}", d.reason);
    assert_eq!(d.grant.as_ref(), Some(&grant));
    // Used: the next identical call asks again.
    let again = x.check_escalation(&e.id, same.clone()).await.unwrap();
    assert!(!again.approved);
    assert!(again.request.is_some());
    rig.rt
        .approvals()
        .cancel(again.request.as_ref().unwrap(), &p("user:adam"), "test")
        .await
        .unwrap();

    let err = rig.rt.approvals().redeem(&grant, &same).await.unwrap_err();
    assert!(
        matches!(err, RuntimeError::Grant(GrantError::AlreadyUsed { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn a_changed_call_needs_a_new_approval() {
    let rig = seeded().await;
    let x = rig.rt.execution();
    let e = running(&rig.rt, "tasks").await;
    let grant = approved_once(&rig.rt, &e.id, deploy(0.5)).await;

    let changed = deploy(0.5).context(json!({"reasoning": "something else"}));
    let err = rig
        .rt
        .approvals()
        .redeem(&grant, &changed)
        .await
        .unwrap_err();
    match &err {
        RuntimeError::Grant(GrantError::CallChanged { field, .. }) => {
            assert_eq!(*field, "context hash")
        }
        other => panic!("expected CallChanged, got {other}"),
    }
    let err = rig
        .rt
        .approvals()
        .redeem(&grant, &deploy(0.5).resource("qa"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            RuntimeError::Grant(GrantError::CallChanged {
                field: "resource",
                ..
            })
        ),
        "{err}"
    );
    let d = x.check_escalation(&e.id, changed).await.unwrap();
    assert!(!d.approved, "a changed call asks again");
    assert!(d.request.is_some());
    // The refusals left the grant unused.
    assert!(
        rig.rt
            .approvals()
            .redeem(&grant, &deploy(0.5))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_policy_swap_that_changes_the_decision_needs_a_new_approval() {
    let rig = seeded().await;
    let e = running(&rig.rt, "tasks").await;
    let grant = approved_once(&rig.rt, &e.id, deploy(0.5)).await;

    // The same rules with a comment: another version, the same decision; the grant holds.
    let text = std::fs::read_to_string("policies/seed.yaml").unwrap();
    let reworded = Policy::from_yaml_str(&format!("# reviewed\n{text}"), "seed-v2.yaml").unwrap();
    let reworded = LoadedPolicy::new(&reworded);
    assert_ne!(reworded.version(), seed().version());
    rig.rt.set_policy(reworded).await.unwrap();
    let grant2 = {
        let g = rig
            .rt
            .approvals()
            .redeem(&grant, &deploy(0.5))
            .await
            .unwrap();
        assert!(g.used_at.is_some());
        approved_once(&rig.rt, &e.id, deploy(0.5)).await
    };

    // Now `unsure` asks two people: the decision changed, the grant does not carry over.
    let stricter = text.replace(
        "      approvers: [user:adam]\n      timeout: 1h",
        "      approvers: [user:adam, user:bob]\n      minApprovals: 2\n      timeout: 1h",
    );
    assert_ne!(stricter, text);
    let stricter = LoadedPolicy::new(&Policy::from_yaml_str(&stricter, "seed-v3.yaml").unwrap());
    rig.rt.set_policy(stricter).await.unwrap();
    let err = rig
        .rt
        .approvals()
        .redeem(&grant2, &deploy(0.5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RuntimeError::Grant(GrantError::PolicyChanged { .. })),
        "{err}"
    );
    let d = rig
        .rt
        .execution()
        .check_escalation(&e.id, deploy(0.5))
        .await
        .unwrap();
    assert!(!d.approved);
    let req = rig
        .rt
        .approvals()
        .get(d.request.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(req.steps[0].spec.min_approvals, 2);
    let swaps = rig
        .rt
        .audit()
        .query(AuditFilter {
            kind: Some("policy_swap".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(swaps.len(), 3);
}

#[tokio::test]
async fn the_decision_log_replays_through_eval_input() {
    let rig = seeded().await;
    let e = running(&rig.rt, "tasks").await;
    for c in [0.95, 0.8] {
        rig.rt
            .execution()
            .check_escalation(&e.id, deploy(c))
            .await
            .unwrap();
    }
    let d = rig
        .rt
        .execution()
        .check_escalation(
            &e.id,
            Call::new("delete").resource("db/users").confidence(0.99),
        )
        .await
        .unwrap();
    assert_eq!(d.outcome, Outcome::RequestApproval);

    let lines = rig.rt.audit().export_decisions(Some(&e.id)).await.unwrap();
    assert_eq!(lines.lines().count(), 3);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("decisions.jsonl");
    std::fs::write(&input, &lines).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
        .args(["eval", "policies/seed.yaml", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replayed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["outcome"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        replayed,
        ["auto-approve", "notify-and-proceed", "request-approval"]
    );
}

const GATES: &str = r#"version: 1
hitl:
  rules:
    - action: migrate
      resource: "db/*"
      chain:
        - step: Technical Review
          approvers: [user:alice, user:bob]
          minApprovals: 1
          timeout: 1h
        - step: Manager Approval
          approvers: [user:carol]
          minApprovals: 1
          timeout: 2h
      notifyVia: [email, slack]
    - action: drop
      requireApproval: true
      approvers: [user:adam]
      timeout: 1h
      onTimeout: escalate
      escalateTo: [user:carol]
      remindEvery: 15m
    - action: "*"
      requireApproval: false
"#;

#[tokio::test]
async fn the_policy_s_chains_timeouts_and_escalations_reach_the_gate() {
    let rig = rig().await;
    let policy = Policy::from_yaml_str(GATES, "gates.yaml").unwrap();
    rig.rt.set_policy(LoadedPolicy::new(&policy)).await.unwrap();
    let x = rig.rt.execution();

    let e = running(&rig.rt, "migrate").await;
    let d = x
        .check_escalation(
            &e.id,
            Call::new("migrate").resource("db/users").confidence(1.0),
        )
        .await
        .unwrap();
    let req = rig
        .rt
        .approvals()
        .get(d.request.as_ref().unwrap())
        .await
        .unwrap();
    assert!(req.chain);
    let steps: Vec<(&str, usize)> = req
        .steps
        .iter()
        .map(|s| (s.spec.step.as_str(), s.spec.approvers.len()))
        .collect();
    assert_eq!(steps, [("Technical Review", 2), ("Manager Approval", 1)]);
    assert_eq!(req.notify_via, ["email", "slack"]);
    rig.rt
        .approvals()
        .approve(&req.id, &p("user:bob"), None)
        .await
        .unwrap();
    rig.rt
        .approvals()
        .approve(&req.id, &p("user:carol"), None)
        .await
        .unwrap();
    let outcome = rig.rt.approvals().handle(&req.id).wait().await.unwrap();
    assert_eq!(outcome.chain_status.len(), 2);
    assert!(outcome.grant.is_some());

    let e = running(&rig.rt, "drop").await;
    let d = x
        .check_escalation(&e.id, Call::new("drop").resource("legacy_users"))
        .await
        .unwrap();
    let id = d.request.unwrap();
    let req = rig.rt.approvals().get(&id).await.unwrap();
    let step = &req.steps[0].spec;
    assert_eq!(step.escalate_to, [p("user:carol")]);
    assert_eq!(step.remind_every, Some(crate::common::minutes(15)));
    rig.clock.advance(crate::common::hours(1));
    rig.rt.process_due().await.unwrap();
    assert!(rig.rt.approvals().get(&id).await.unwrap().steps[0].escalated);
    rig.clock.advance(crate::common::hours(1));
    rig.rt.process_due().await.unwrap();
    let outcome = rig.rt.approvals().handle(&id).wait().await.unwrap();
    assert_eq!(
        outcome.status,
        rekall_policy::model::ApprovalStatus::TimedOut
    );
    assert_eq!(outcome.grant, None, "a timeout never issues a grant");
    let again = x
        .check_escalation(&e.id, Call::new("drop").resource("legacy_users"))
        .await
        .unwrap();
    assert!(!again.approved, "no grant, so it asks again");
    let log = rig
        .rt
        .audit()
        .query(AuditFilter {
            request: Some(id.to_string()),
            kind: Some("reminder".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(
        !log.is_empty(),
        "a reminder went to those who had not voted"
    );
}
