//! A grant is redeemed only by a call the policy decides with the same gate, or a looser one
//! that the approval already meets; never by a call the policy decides more strictly.

use rekall_policy::model::{AuditKind, Call, GrantError};
use rekall_policy::runtime::{LoadedPolicy, Runtime, RuntimeError};
use rekall_policy::{Outcome, Policy};

use crate::common::{p, rig, running};

fn production(confidence: f64) -> Call {
    Call::new("deploy")
        .resource("production")
        .confidence(confidence)
}

/// Asks for `call`, has `voters` approve it, and returns the grant.
async fn approved(
    rt: &Runtime,
    exe: &rekall_policy::model::ExecutionId,
    call: Call,
    voters: &[&str],
) -> rekall_policy::model::GrantId {
    let d = rt.execution().check_escalation(exe, call).await.unwrap();
    let id = d.request.expect("a gate");
    for v in voters {
        rt.approvals().approve(&id, &p(v), None).await.unwrap();
    }
    let outcome = rt.approvals().handle(&id).wait().await.unwrap();
    assert!(outcome.approved());
    outcome.grant.expect("a grant")
}

#[tokio::test]
async fn a_grant_for_a_request_approval_does_not_open_an_escalation() {
    let rig = rig().await;
    let seed = Policy::from_path("policies/seed.yaml").unwrap();
    rig.rt.set_policy(LoadedPolicy::new(&seed)).await.unwrap();
    let x = rig.rt.execution();
    let e = running(&rig.rt, "deploys").await;
    approved(&rig.rt, &e.id, production(0.5), &["user:alice"]).await;

    // The same call at confidence 0.1: the policy escalates to carol with high priority.
    let d = x.check_escalation(&e.id, production(0.1)).await.unwrap();
    assert!(!d.approved, "{}", d.reason);
    assert_eq!(d.outcome, Outcome::Escalate);
    assert_eq!(d.grant, None);
    let req = rig.rt.approvals().get(&d.request.unwrap()).await.unwrap();
    assert_eq!(req.steps[0].spec.approvers, [p("user:carol")]);
    let log = rig.rt.audit().for_execution(&e.id).await.unwrap();
    let refused = log
        .iter()
        .find(|a| a.kind == AuditKind::GrantRefused)
        .expect("the refusal is audited");
    assert!(
        refused.detail["error"]
            .as_str()
            .unwrap()
            .contains("decides the call escalate"),
        "{}",
        refused.detail
    );
}

#[tokio::test]
async fn a_grant_is_not_redeemed_under_a_stricter_or_different_gate() {
    let rig = rig().await;
    let seed = Policy::from_path("policies/seed.yaml").unwrap();
    rig.rt.set_policy(LoadedPolicy::new(&seed)).await.unwrap();
    let e = running(&rig.rt, "deploys").await;
    let grant = approved(&rig.rt, &e.id, production(0.5), &["user:alice"]).await;
    for confidence in [0.1, 0.0, 0.39999999999999997] {
        let err = rig
            .rt
            .approvals()
            .redeem(&grant, &production(confidence))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                RuntimeError::Grant(GrantError::StricterDecision {
                    granted: Some(Outcome::RequestApproval),
                    decided: Outcome::Escalate,
                    ..
                })
            ),
            "{confidence}: {err}"
        );
    }
    // Looser: at 0.95 the HITL gate still asks adam or alice, and alice's approval meets it.
    rig.rt
        .approvals()
        .redeem(&grant, &production(0.95))
        .await
        .unwrap();
}

/// Two bands asking different quorums of the same people.
const QUORUMS: &str = "version: 1
escalation:
  rules:
    - confidenceRange: [0.0, 0.5]
      action: request-approval
      approvers: [user:a, user:b]
      minApprovals: 2
    - confidenceRange: [0.5, 1.0]
      action: request-approval
      approvers: [user:a, user:b, user:c]
      minApprovals: 1
";

#[tokio::test]
async fn a_looser_gate_that_the_approval_meets_redeems_and_a_stricter_one_does_not() {
    let rig = rig().await;
    let policy = Policy::from_yaml_str(QUORUMS, "quorums.yaml").unwrap();
    rig.rt.set_policy(LoadedPolicy::new(&policy)).await.unwrap();
    let x = rig.rt.execution();
    let call = |c: f64| Call::new("deploy").resource("web").confidence(c);

    // Two of a, b approved at 0.2: one of a, b, c is asked at 0.7, and that is met.
    let e = running(&rig.rt, "strict-first").await;
    let grant = approved(&rig.rt, &e.id, call(0.2), &["user:a", "user:b"]).await;
    let d = x.check_escalation(&e.id, call(0.7)).await.unwrap();
    assert!(d.approved, "{}", d.reason);
    assert_eq!(d.grant, Some(grant));

    // c alone approved at 0.7: two of a, b asked at 0.2 are not met.
    let e = running(&rig.rt, "loose-first").await;
    approved(&rig.rt, &e.id, call(0.7), &["user:c"]).await;
    let d = x.check_escalation(&e.id, call(0.2)).await.unwrap();
    assert!(!d.approved, "{}", d.reason);
    assert!(d.request.is_some());
}

#[tokio::test]
async fn a_call_with_a_field_over_the_limit_is_refused_and_opens_no_gate() {
    let rig = rig().await;
    let seed = Policy::from_path("policies/seed.yaml").unwrap();
    rig.rt.set_policy(LoadedPolicy::new(&seed)).await.unwrap();
    let e = running(&rig.rt, "long").await;
    let long = Call::new("delete").resource("x".repeat(5_000));
    let err = rig
        .rt
        .execution()
        .check_escalation(&e.id, long)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Request(r) if r.field == "resource"),
        "{err}"
    );
    let after = rig.rt.execution().get(&e.id).await.unwrap();
    assert_eq!(after.status, rekall_policy::model::ExecutionStatus::Running);
    let opened = rig
        .rt
        .approvals()
        .list(rekall_policy::store::ApprovalFilter::default())
        .await
        .unwrap();
    assert!(opened.is_empty(), "{opened:?}");
}
