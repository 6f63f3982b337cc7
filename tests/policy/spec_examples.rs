//! The examples of spec section 7 and the combination rules of section 4, through the Rust API.

use rekall_policy::{Outcome, Policy, Request, Stage};

fn seed() -> Policy {
    Policy::from_path("policies/seed.yaml").expect("the seed policy is valid")
}

fn names(d: &rekall_policy::Decision<'_>) -> Vec<String> {
    d.approvers().iter().map(|p| p.to_string()).collect()
}

#[test]
fn delete_at_095_needs_adam_because_the_hitl_stage_is_stricter() {
    let policy = seed();
    let d = policy
        .decide(&Request::new("delete").resource("db/users").confidence(0.95))
        .unwrap();
    assert_eq!(d.outcome(), Outcome::RequestApproval);
    assert!(!d.approved());
    assert_eq!(names(&d), ["user:adam"]);
    assert_eq!(d.hitl_rule(), Some(0));
    assert_eq!(d.escalation_rule(), Some(0));
    assert_eq!(d.decided_by(), Stage::Hitl);
    assert_eq!(
        d.escalation.as_ref().unwrap().verdict.outcome,
        Outcome::AutoApprove
    );
}

/// A confidence, the outcome it gets, its approvers and the escalation rule that decides.
type BandCase = (Option<f64>, Outcome, &'static [&'static str], Option<usize>);

#[test]
fn deploy_to_staging_follows_the_confidence_bands() {
    let policy = seed();
    let cases: [BandCase; 6] = [
        (Some(0.9), Outcome::AutoApprove, &[], Some(0)),
        (Some(0.8999), Outcome::NotifyAndProceed, &[], Some(1)),
        (Some(0.4), Outcome::RequestApproval, &["user:adam"], Some(2)),
        (Some(0.3999), Outcome::Escalate, &["user:carol"], Some(3)),
        (None, Outcome::Escalate, &["user:carol"], Some(3)),
        (Some(1.0), Outcome::AutoApprove, &[], Some(0)),
    ];
    for (confidence, outcome, approvers, band) in cases {
        let mut request = Request::new("deploy").resource("staging");
        request.confidence = confidence;
        let d = policy.decide(&request).unwrap();
        assert_eq!(d.outcome(), outcome, "confidence {confidence:?}");
        assert_eq!(names(&d), approvers, "confidence {confidence:?}");
        assert_eq!(d.escalation_rule(), band, "confidence {confidence:?}");
        assert_eq!(d.hitl_rule(), Some(2), "the catch-all HITL rule matches");
        assert_eq!(d.approved(), outcome.is_approved());
    }
}

#[test]
fn decision_json_has_the_fields_of_section_5() {
    let policy = seed();
    let d = policy
        .decide(&Request::new("deploy").resource("staging").confidence(0.5))
        .unwrap();
    let json = serde_json::to_value(d).unwrap();
    assert_eq!(json["outcome"], "request-approval");
    assert_eq!(json["approved"], false);
    assert_eq!(json["approvers"], serde_json::json!(["user:adam"]));
    assert_eq!(json["hitlRule"], 2);
    assert_eq!(json["escalationRule"], 2);
    assert_eq!(json["minApprovals"], 1);
    assert_eq!(json["timeout"], 3_600_000);
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("escalation rule 2 (unsure)")
    );
}

const ONLY_HITL: &str = r#"
version: 1
groups:
  sre: [user:alice, user:adam]
  dba: [user:bob, group:sre, user:alice]
defaults:
  noMatch: escalate
hitl:
  rules:
    - action: "migrate"
      resource: "db/*"
      chain:
        - step: Technical Review
          approvers: [group:dba]
          minApprovals: 2
          timeout: 1h
        - step: Manager Approval
          approvers: [user:carol]
          timeout: 2h
      notifyVia: [email, slack]
    - action: "{drop,truncate}"
      requireApproval: true
      approvers: [group:dba, user:bob]
      minApprovals: 3
"#;

#[test]
fn chains_union_their_approvers_and_groups_expand_sorted_and_deduplicated() {
    let policy = Policy::from_yaml_str(ONLY_HITL, "only-hitl.yaml").unwrap();
    let d = policy
        .decide(&Request::new("migrate").resource("db/users"))
        .unwrap();
    assert_eq!(d.outcome(), Outcome::RequestApproval);
    assert_eq!(
        names(&d),
        ["user:adam", "user:alice", "user:bob", "user:carol"]
    );
    let chain = &d.verdict().chain;
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0].step, "Technical Review");
    assert_eq!(chain[0].min_approvals, 2);
    assert_eq!(chain[1].approvers.len(), 1);
    assert_eq!(d.verdict().notify_via, ["email", "slack"]);
    assert_eq!(
        d.escalation, None,
        "no escalation section, no escalation stage"
    );
    assert_eq!(d.escalation_rule(), None);

    let d = policy
        .decide(&Request::new("truncate").resource("t"))
        .unwrap();
    assert_eq!(names(&d), ["user:adam", "user:alice", "user:bob"]);
    assert_eq!(d.verdict().min_approvals, Some(3));
}

#[test]
fn a_default_that_needs_approvers_without_any_fails_closed_to_deny() {
    let policy = Policy::from_yaml_str(ONLY_HITL, "only-hitl.yaml").unwrap();
    let d = policy
        .decide(&Request::new("read").resource("db/users"))
        .unwrap();
    assert_eq!(d.outcome(), Outcome::Deny);
    assert_eq!(d.hitl_rule(), None);
    assert!(d.approvers().is_empty());
}

#[test]
fn an_unmatched_stage_takes_the_default_and_its_approvers() {
    let text = r#"
version: 1
defaults: {noMatch: request-approval, approvers: [user:oncall]}
escalation:
  rules:
    - match: {action: "deploy*", resource: "prod*"}
      confidenceRange: [0.0, 0.5]
      action: escalate
      approvers: [user:carol]
"#;
    let policy = Policy::from_yaml_str(text, "esc.yaml").unwrap();
    let d = policy
        .decide(
            &Request::new("deploy-api")
                .resource("prod-eu")
                .confidence(0.2),
        )
        .unwrap();
    assert_eq!(
        (d.outcome(), d.escalation_rule()),
        (Outcome::Escalate, Some(0))
    );
    let d = policy
        .decide(
            &Request::new("deploy-api")
                .resource("prod-eu")
                .confidence(0.5),
        )
        .unwrap();
    assert_eq!(
        d.outcome(),
        Outcome::RequestApproval,
        "0.5 is outside [0.0, 0.5)"
    );
    assert_eq!(d.escalation_rule(), None);
    assert_eq!(names(&d), ["user:oncall"]);
    assert_eq!(d.hitl, None);
}

#[test]
fn one_point_zero_belongs_only_to_the_band_that_ends_there() {
    let text = r#"
version: 1
escalation:
  rules:
    - confidenceRange: [0.5, 0.5]
      action: deny
    - confidenceRange: [0.2, 1.0]
      action: notify-and-proceed
    - confidenceRange: [1.0, 1.0]
      action: auto-approve
"#;
    let policy = Policy::from_yaml_str(text, "edges.yaml").unwrap();
    let at = |c: f64| {
        policy
            .decide(&Request::new("x").confidence(c))
            .unwrap()
            .escalation_rule()
    };
    assert_eq!(at(0.5), Some(1), "[0.5, 0.5] holds nothing below 1.0");
    assert_eq!(at(1.0), Some(1), "the first band ending at 1.0 takes it");
    assert_eq!(at(0.1), None);
}
