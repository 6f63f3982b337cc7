//! The learning loop end to end: calls of an adaptive rule recorded with their route, labels
//! from resolutions, reports and the audit sample, thresholds moved (or proposed) by the
//! learner, the effective policy swapped in, and every move and decision of a person audited.

use std::sync::Arc;

use rekall_policy::Policy;
use rekall_policy::learn::{Label, Route};
use rekall_policy::model::{AuditKind, Call, ExecutionId, LabelSource};
use rekall_policy::runtime::{EscalationDecision, LoadedPolicy, ManualClock, Runtime};
use rekall_policy::store::{AuditFilter, CallWindow};
use rekall_policy::{Outcome, Principal};
use serde_json::json;

use crate::common::{T0, p, running};

/// Deploys auto-approve from 0.9 (the rule that adapts), below that adam decides. Labels
/// within a few dozen: alpha 0.2 and a grid of 0.1, checkpoint at 40 labels.
fn policy(adapt: &str) -> LoadedPolicy {
    LoadedPolicy::new(
        &Policy::from_yaml_str(&policy_text(adapt), "learning.yaml").expect("a valid policy"),
    )
}

fn policy_text(adapt: &str) -> String {
    format!(
        "version: 1\nescalation:\n  rules:\n    - id: fast-deploys\n      match: {{action: deploy}}\n      confidenceRange: [0.9, 1.0]\n      action: auto-approve\n{adapt}    - match: {{action: deploy}}\n      confidenceRange: [0.0, 0.9]\n      action: request-approval\n      approvers: [user:adam]\n    - id: migrations\n      match: {{action: migrate}}\n      confidenceRange: [0.9, 1.0]\n      action: auto-approve\n      adapt: {{auditRate: 1.0, approvers: [user:sre], minLabels: 1000, window: 1000}}\n    - match: {{action: migrate}}\n      confidenceRange: [0.0, 0.9]\n      action: request-approval\n      approvers: [user:adam]\n"
    )
}

fn adapt(mode: &str, audit_rate: f64, min_labels: u64) -> String {
    format!(
        "      adapt:\n        alpha: 0.2\n        step: 0.1\n        minLabels: {min_labels}\n        window: 1000\n        mode: {mode}\n        auditRate: {audit_rate}\n        approvers: [user:sre]\n"
    )
}

async fn runtime(url: &str, policy: LoadedPolicy) -> Runtime {
    let url = if url == "sqlite::memory:" {
        crate::postgres::store_url_or(url).await
    } else {
        url.to_owned()
    };
    let rt = Runtime::builder()
        .store_url(&url)
        .clock(Arc::new(ManualClock::at(T0)))
        .background(false)
        .audit_seed(7)
        .build()
        .await
        .expect("a runtime");
    rt.set_policy(policy).await.expect("the policy");
    rt
}

fn deploy(confidence: f64) -> Call {
    Call::new("deploy").resource("prod").confidence(confidence)
}

/// Checks a call and, when a person is asked, has them resolve it as `good` says.
async fn resolve(rt: &Runtime, e: &ExecutionId, call: Call, good: bool) -> EscalationDecision {
    let d = rt.execution().check_escalation(e, call).await.unwrap();
    if let Some(req) = &d.request {
        let who = if d.audit {
            p("user:sre")
        } else {
            p("user:adam")
        };
        if good {
            rt.approvals()
                .approve(req, &who, Some("fine"))
                .await
                .unwrap();
        } else {
            rt.approvals()
                .reject(req, &who, "wrong target")
                .await
                .unwrap();
        }
    }
    d
}

/// Twenty good labels above the policy's threshold (the audit sample, at rate 1) and twenty
/// just below it: at the checkpoint of 40 labels the learner certifies 0.8. Each call is a
/// new one (an approved call repeated would use its grant instead of asking again).
async fn forty_good_labels(rt: &Runtime, e: &ExecutionId) {
    for i in 0..20 {
        let d = resolve(rt, e, deploy(0.95).context(json!({"n": i})), true).await;
        assert!(d.request.is_some(), "{d:?}");
        let d = resolve(rt, e, deploy(0.85).context(json!({"n": i})), true).await;
        assert!(d.request.is_some(), "{d:?}");
    }
}

fn effective(d: &EscalationDecision) -> f64 {
    d.threshold
        .as_ref()
        .expect("a call of an adaptive class")
        .effective
}

async fn kinds(rt: &Runtime, kind: AuditKind) -> Vec<rekall_policy::model::AuditEntry> {
    rt.store()
        .audit(AuditFilter {
            kind: Some(kind.as_str().to_owned()),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
}

async fn calls(rt: &Runtime, class: &str) -> Vec<rekall_policy::model::LearnedCall> {
    rt.store()
        .learned_calls(CallWindow {
            class: class.into(),
            labels: 10_000,
            max_calls: 10_000,
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn adaptation_off_changes_nothing() {
    let plain = policy("");
    let rt = runtime("sqlite::memory:", plain.clone()).await;
    let e = running(&rt, "deploys").await;
    let d = rt
        .execution()
        .check_escalation(&e.id, deploy(0.95))
        .await
        .unwrap();
    // The decision is the policy's, in the form of `eval`, and carries nothing more.
    let reference = Policy::from_yaml_str(&policy_text_without_adapt(), "learning.yaml").unwrap();
    let expected =
        serde_json::to_value(reference.decide(&deploy(0.95).to_request()).unwrap()).unwrap();
    assert_eq!(d.decision, expected);
    assert!(d.threshold.is_none() && !d.audit);
    let json = serde_json::to_value(&d).unwrap();
    assert!(
        json.get("threshold").is_none() && json.get("audit").is_none(),
        "{json}"
    );
    assert!(calls(&rt, "fast-deploys").await.is_empty());
    // The other class adapts; this one does not, so nothing is shown for it.
    let shown = rt.thresholds().show().await.unwrap();
    assert!(shown.iter().all(|s| s.class != "fast-deploys"), "{shown:?}");

    // A policy with no `adapt` at all: nothing recorded, nothing shown, nothing added.
    let none = LoadedPolicy::new(&reference);
    let rt = runtime("sqlite::memory:", none).await;
    let e = running(&rt, "deploys").await;
    for c in [0.95, 0.5] {
        let d = rt
            .execution()
            .check_escalation(&e.id, deploy(c).context(json!({"c": c})))
            .await
            .unwrap();
        let expected =
            serde_json::to_value(reference.decide(&deploy(c).to_request()).unwrap()).unwrap();
        assert_eq!(d.decision, expected);
        assert!(d.threshold.is_none() && !d.audit);
    }
    assert!(calls(&rt, "fast-deploys").await.is_empty());
    assert!(calls(&rt, "migrations").await.is_empty());
    assert!(rt.thresholds().show().await.unwrap().is_empty());
    assert!(rt.store().overlays().await.unwrap().is_empty());
}

fn policy_text_without_adapt() -> String {
    // The same policy as `policy("")`, for the reference evaluator.
    "version: 1\nescalation:\n  rules:\n    - id: fast-deploys\n      match: {action: deploy}\n      confidenceRange: [0.9, 1.0]\n      action: auto-approve\n    - match: {action: deploy}\n      confidenceRange: [0.0, 0.9]\n      action: request-approval\n      approvers: [user:adam]\n    - id: migrations\n      match: {action: migrate}\n      confidenceRange: [0.9, 1.0]\n      action: auto-approve\n    - match: {action: migrate}\n      confidenceRange: [0.0, 0.9]\n      action: request-approval\n      approvers: [user:adam]\n".into()
}

#[tokio::test]
async fn audit_sampled_calls_really_reach_a_human() {
    let rt = runtime("sqlite::memory:", policy(&adapt("propose", 1.0, 1000))).await;
    let e = running(&rt, "deploys").await;
    let d = rt
        .execution()
        .check_escalation(&e.id, deploy(0.97))
        .await
        .unwrap();
    assert!(d.audit && !d.approved, "{d:?}");
    assert_eq!(d.outcome, Outcome::RequestApproval);
    assert_eq!(
        d.decision["outcome"], "auto-approve",
        "the policy's own decision"
    );
    let id = d.request.clone().expect("an approval request");
    let req = rt.approvals().get(&id).await.unwrap();
    assert_eq!(req.steps[0].spec.approvers, vec![p("user:sre")]);
    // A real approval: the agent waits, and adam (not an adapt approver) cannot answer it.
    assert!(
        rt.approvals()
            .approve(&id, &p("user:adam"), None)
            .await
            .is_err()
    );
    let handle = rt.approvals().handle(&id);
    rt.approvals()
        .approve(&id, &p("user:sre"), Some("looked right"))
        .await
        .unwrap();
    assert_eq!(
        handle.wait().await.unwrap().status,
        rekall_policy::model::ApprovalStatus::Approved
    );
    let stored = calls(&rt, "fast-deploys").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].route, Route::Audit);
    assert_eq!(stored[0].label, Some(Label::Good));
    assert_eq!(stored[0].source, Some(LabelSource::Audit));
    assert_eq!(stored[0].note.as_deref(), Some("looked right"));
    // Every call above the threshold is sampled at rate 1.
    for c in [0.9, 0.99, 1.0] {
        let d = resolve(&rt, &e.id, deploy(c), true).await;
        assert!(d.audit, "{c}: {d:?}");
    }
}

#[tokio::test]
async fn labels_from_resolutions_and_reports_land_on_their_class() {
    let rt = runtime("sqlite::memory:", policy(&adapt("propose", 1.0, 1000))).await;
    let e = running(&rt, "work").await;
    resolve(&rt, &e.id, deploy(0.85), false).await;
    let migrate = Call::new("migrate").resource("db").confidence(0.5);
    resolve(&rt, &e.id, migrate.clone(), true).await;
    rt.execution()
        .report_outcome(&e.id, &migrate, Label::Bad, Some("lost a column"), None)
        .await
        .unwrap();
    let deploys = calls(&rt, "fast-deploys").await;
    assert_eq!(deploys.len(), 1);
    assert_eq!(
        (deploys[0].route, deploys[0].label, deploys[0].source),
        (
            Route::Human,
            Some(Label::Bad),
            Some(LabelSource::Resolution)
        )
    );
    assert_eq!(deploys[0].note.as_deref(), Some("wrong target"));
    let migrations = calls(&rt, "migrations").await;
    assert_eq!(migrations.len(), 1);
    assert_eq!(
        (migrations[0].label, migrations[0].source),
        (Some(Label::Bad), Some(LabelSource::Report))
    );
    assert_eq!(migrations[0].note.as_deref(), Some("lost a column"));
    assert_eq!(kinds(&rt, AuditKind::OutcomeReported).await.len(), 1);
    // A call no class recorded cannot be reported on.
    let other = Call::new("deploy").resource("elsewhere");
    assert!(
        rt.execution()
            .report_outcome(&e.id, &other, Label::Bad, None, None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn propose_never_changes_a_decision_until_accepted() {
    let rt = runtime("sqlite::memory:", policy(&adapt("propose", 1.0, 40))).await;
    let e = running(&rt, "deploys").await;
    forty_good_labels(&rt, &e.id).await;
    let proposals = rt.thresholds().proposals().await.unwrap();
    assert_eq!(proposals.len(), 1, "{proposals:?}");
    let (class, proposal) = &proposals[0];
    assert_eq!(
        (class.as_str(), proposal.from, proposal.to),
        ("fast-deploys", 0.9, 0.8)
    );
    assert_eq!(proposal.evidence["alpha"], 0.2);
    assert_eq!(kinds(&rt, AuditKind::ThresholdProposed).await.len(), 1);
    // Still the policy's threshold: 0.85 goes to adam as the policy says.
    let d = resolve(&rt, &e.id, deploy(0.85), true).await;
    assert_eq!(d.decision["outcome"], "request-approval");
    assert!(!d.audit);
    assert_eq!(effective(&d), 0.9);
    assert!(kinds(&rt, AuditKind::ThresholdMoved).await.is_empty());

    let accepted = rt
        .thresholds()
        .accept(&proposal.id, &p("user:lead"))
        .await
        .unwrap();
    assert_eq!(accepted.effective, 0.8);
    let d = resolve(&rt, &e.id, deploy(0.85), true).await;
    assert_eq!(d.decision["outcome"], "auto-approve", "{d:?}");
    assert_eq!(d.decision["threshold"]["policy"], 0.9);
    assert_eq!(effective(&d), 0.8);
    let acceptances = kinds(&rt, AuditKind::ProposalAccepted).await;
    assert_eq!(acceptances.len(), 1);
    assert_eq!(acceptances[0].principal, Some(p("user:lead")));
    assert!(rt.thresholds().proposals().await.unwrap().is_empty());
    // Accepting twice is refused.
    assert!(
        rt.thresholds()
            .accept(&proposal.id, &p("user:lead"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn auto_mode_moves_by_itself_and_audits_the_move() {
    let rt = runtime("sqlite::memory:", policy(&adapt("auto", 1.0, 40))).await;
    let e = running(&rt, "deploys").await;
    forty_good_labels(&rt, &e.id).await;
    let moved = kinds(&rt, AuditKind::ThresholdMoved).await;
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0].detail["move"], "lower");
    assert_eq!(
        (
            moved[0].detail["from"].as_f64(),
            moved[0].detail["to"].as_f64()
        ),
        (Some(0.9), Some(0.8))
    );
    assert!(
        moved[0].detail["evidence"]["tests"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
    let d = resolve(&rt, &e.id, deploy(0.85), true).await;
    assert_eq!(effective(&d), 0.8);
    assert_eq!(d.decision["outcome"], "auto-approve");
}

/// Auto-approved calls seen by no one (no audit sample), and no checkpoint within reach.
fn unaudited() -> LoadedPolicy {
    policy("      adapt: {alpha: 0.2, auditRate: 0, minLabels: 1000, window: 1000, mode: auto}\n")
}

async fn five_unseen_deploys(rt: &Runtime) -> ExecutionId {
    let e = running(rt, "deploys").await;
    for _ in 0..5 {
        let d = rt
            .execution()
            .check_escalation(&e.id, deploy(0.95))
            .await
            .unwrap();
        assert!(d.approved && !d.audit, "{d:?}");
    }
    e.id
}

#[tokio::test]
async fn a_bad_report_raises_the_threshold_at_once_and_the_rise_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::store_at(&dir.path().join("store.db")).await;
    let rt = runtime(&url, unaudited()).await;
    let e = five_unseen_deploys(&rt).await;
    let x = rt.execution();
    let x = &x;
    // One bad outcome in five is alpha exactly (known bad, not above it); two break it.
    x.report_outcome(&e, &deploy(0.95), Label::Bad, Some("rolled back"), None)
        .await
        .unwrap();
    let d = x.check_escalation(&e, deploy(0.95)).await.unwrap();
    assert!(d.approved);
    x.report_outcome(
        &e,
        &deploy(0.95),
        Label::Bad,
        Some("rolled back again"),
        None,
    )
    .await
    .unwrap();
    let moved = kinds(&rt, AuditKind::ThresholdMoved).await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].detail["move"], "rise");
    let d = x.check_escalation(&e, deploy(0.95)).await.unwrap();
    assert_eq!(effective(&d), 1.0);
    assert_eq!(d.outcome, Outcome::RequestApproval, "{d:?}");
    assert_eq!(d.decision["approvers"], serde_json::json!(["user:adam"]));
    drop(rt);

    // A new process on the same file decides with the raised threshold.
    let rt = runtime(&url, unaudited()).await;
    let shown = rt.thresholds().show().await.unwrap();
    let fast = shown.iter().find(|s| s.class == "fast-deploys").unwrap();
    assert_eq!((fast.policy, fast.effective), (0.9, 1.0));
    let e2 = running(&rt, "more deploys").await;
    let d = rt
        .execution()
        .check_escalation(&e2.id, deploy(0.95))
        .await
        .unwrap();
    assert_eq!(d.outcome, Outcome::RequestApproval);
}

#[tokio::test]
async fn reset_restores_the_policy_threshold_and_is_audited() {
    let rt = runtime("sqlite::memory:", unaudited()).await;
    let e = five_unseen_deploys(&rt).await;
    for _ in 0..2 {
        // Each report is on the latest such call: a new one each time.
        rt.execution()
            .check_escalation(&e, deploy(0.95))
            .await
            .unwrap();
        rt.execution()
            .report_outcome(&e, &deploy(0.95), Label::Bad, None, Some(&p("user:ops")))
            .await
            .unwrap();
    }
    let lead: Principal = p("user:lead");
    let reset = rt
        .thresholds()
        .reset(Some("fast-deploys"), &lead)
        .await
        .unwrap();
    assert_eq!(reset.len(), 1);
    assert_eq!(reset[0].effective, 0.9);
    let d = rt
        .execution()
        .check_escalation(&e, deploy(0.95))
        .await
        .unwrap();
    assert!(d.approved && effective(&d) == 0.9, "{d:?}");
    let history = rt.thresholds().history(Some("fast-deploys")).await.unwrap();
    let names: Vec<AuditKind> = history.iter().map(|h| h.kind).collect();
    assert_eq!(
        names,
        [AuditKind::ThresholdMoved, AuditKind::ThresholdReset]
    );
    assert_eq!(history[1].principal, Some(lead.clone()));
    assert!(
        rt.thresholds()
            .reset(Some("no-such-class"), &lead)
            .await
            .is_err()
    );
}

fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn the_thresholds_verb_shows_accepts_and_records_proposals() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::store_at(&dir.path().join("store.db")).await;
    let rt = runtime(&url, policy(&adapt("propose", 1.0, 40))).await;
    let e = running(&rt, "deploys").await;
    forty_good_labels(&rt, &e.id).await;
    drop(rt);

    let out = cli(&[
        "thresholds",
        "proposals",
        "--store",
        &url,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let listed: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let id = listed["proposals"][0]["proposal"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(listed["proposals"][0]["proposal"]["to"], 0.8);
    let out = cli(&[
        "thresholds",
        "accept",
        &id,
        "--store",
        &url,
        "--as",
        "user:lead",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = cli(&[
        "thresholds",
        "accept",
        &id,
        "--store",
        &url,
        "--as",
        "user:lead",
    ]);
    assert_eq!(out.status.code(), Some(1), "accepted twice: {out:?}");
    let out = cli(&["thresholds", "show", "--store", &url, "--format", "json"]);
    let shown: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let fast = &shown["thresholds"][0];
    assert_eq!(
        (&fast["class"], &fast["policy"], &fast["effective"]),
        (&json!("fast-deploys"), &json!(0.9), &json!(0.8))
    );
    let out = cli(&["thresholds", "history", "fast-deploys", "--store", &url]);
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("threshold_proposed")
            && lines[1].contains("proposal_accepted fast-deploys: 0.9 -> 0.8 by user:lead"),
        "{lines:?}"
    );

    // Reset through the CLI, then a report raises the class from the command line.
    let policy_file = dir.path().join("learning.yaml");
    std::fs::write(&policy_file, policy_text(&adapt("propose", 1.0, 40))).unwrap();
    let policy_arg = policy_file.display().to_string();
    let out = cli(&["thresholds", "reset", "--store", &url, "--as", "user:lead"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout(&out).contains("fast-deploys: back at 0.9"),
        "{}",
        stdout(&out)
    );
    let out = cli(&[
        "executions",
        "report-outcome",
        e.id.as_str(),
        "--store",
        &url,
        "--policy",
        &policy_arg,
        "--action",
        "deploy",
        "--resource",
        "prod",
        "--context",
        r#"{"n": 19}"#,
        "--outcome",
        "bad",
        "--note",
        "rolled back",
        "--as",
        "user:ops",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = cli(&[
        "executions",
        "report-outcome",
        e.id.as_str(),
        "--store",
        &url,
        "--policy",
        &policy_arg,
        "--action",
        "deploy",
        "--resource",
        "nowhere",
        "--outcome",
        "bad",
    ]);
    assert_eq!(out.status.code(), Some(1), "no such call: {out:?}");
}

/// Twenty good labels above the threshold, then twenty more, half just below it, under a
/// window of `window` labels: the class's checkpoints are its 20th and 40th labels, and the
/// second tests only the batch of the twenty since the first (alpha is high enough for a
/// batch of twenty to certify a region with bad labels in it, so the test is run).
async fn checkpoints_with_a_full_window(window: u64) -> Vec<rekall_policy::model::AuditEntry> {
    let adapt = format!(
        "      adapt: {{alpha: 0.5, step: 0.1, minLabels: 20, window: {window}, mode: auto, auditRate: 1.0, approvers: [user:sre]}}\n"
    );
    let rt = runtime("sqlite::memory:", policy(&adapt)).await;
    let e = running(&rt, "deploys").await;
    // At the first checkpoint 0.9 holds and nothing below it was seen: nothing moves.
    for i in 0..20 {
        resolve(&rt, &e.id, deploy(0.95).context(json!({"a": i})), true).await;
    }
    assert!(kinds(&rt, AuditKind::ThresholdMoved).await.is_empty());
    for i in 0..10 {
        resolve(&rt, &e.id, deploy(0.95).context(json!({"b": i})), true).await;
        resolve(&rt, &e.id, deploy(0.85).context(json!({"b": i})), true).await;
        if i < 9 {
            let moved = kinds(&rt, AuditKind::ThresholdMoved).await;
            assert!(
                moved.is_empty(),
                "window {window}, before the checkpoint, at {i}: {moved:?}"
            );
        }
    }
    kinds(&rt, AuditKind::ThresholdMoved).await
}

#[tokio::test]
async fn the_grid_is_still_tested_at_its_checkpoints_once_the_window_is_full() {
    // The window keeps 21 labels: the learner alone would never count to 40.
    let moved = checkpoints_with_a_full_window(21).await;
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0].detail["to"], 0.8, "{:#}", moved[0].detail);
    assert_eq!(moved[0].detail["evidence"]["labels"], 21);
    // A window of exactly `minLabels` counts to a checkpoint at every label once full; only
    // the class's own checkpoint (the 40th) tests the grid.
    let moved = checkpoints_with_a_full_window(20).await;
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0].detail["to"], 0.8, "{:#}", moved[0].detail);
}

/// A store that counts the learned calls it hands out, to bound what a label reads.
#[derive(Debug)]
struct CountingStore {
    inner: Arc<dyn rekall_policy::store::Store>,
    calls_read: std::sync::atomic::AtomicU64,
}

mod counting {
    use super::CountingStore;
    use rekall_policy::model::*;
    use rekall_policy::store::*;
    use std::sync::atomic::Ordering;

    impl Store for CountingStore {
        fn commit(&self, tx: Transaction) -> StoreFuture<'_, ()> {
            self.inner.commit(tx)
        }
        fn append_audit(&self, entries: Vec<AuditEntry>) -> StoreFuture<'_, ()> {
            self.inner.append_audit(entries)
        }
        fn execution(&self, id: &ExecutionId) -> StoreFuture<'_, Option<Versioned<Execution>>> {
            self.inner.execution(id)
        }
        fn executions(&self, f: ExecutionFilter) -> StoreFuture<'_, Vec<Versioned<Execution>>> {
            self.inner.executions(f)
        }
        fn checkpoints(&self, id: &ExecutionId) -> StoreFuture<'_, Vec<Checkpoint>> {
            self.inner.checkpoints(id)
        }
        fn approval(&self, id: &ApprovalId) -> StoreFuture<'_, Option<Versioned<ApprovalRequest>>> {
            self.inner.approval(id)
        }
        fn approvals(&self, f: ApprovalFilter) -> StoreFuture<'_, Vec<Versioned<ApprovalRequest>>> {
            self.inner.approvals(f)
        }
        fn feedback(&self, id: &FeedbackId) -> StoreFuture<'_, Option<Versioned<FeedbackRequest>>> {
            self.inner.feedback(id)
        }
        fn feedback_requests(
            &self,
            f: FeedbackFilter,
        ) -> StoreFuture<'_, Vec<Versioned<FeedbackRequest>>> {
            self.inner.feedback_requests(f)
        }
        fn grant(&self, id: &GrantId) -> StoreFuture<'_, Option<Versioned<Grant>>> {
            self.inner.grant(id)
        }
        fn unused_grants(
            &self,
            execution: &ExecutionId,
            action: &str,
            resource: &str,
            context_hash: &str,
        ) -> StoreFuture<'_, Vec<Versioned<Grant>>> {
            self.inner
                .unused_grants(execution, action, resource, context_hash)
        }
        fn due(&self, now: Timestamp) -> StoreFuture<'_, Vec<Due>> {
            self.inner.due(now)
        }
        fn next_due(&self) -> StoreFuture<'_, Option<Timestamp>> {
            self.inner.next_due()
        }
        fn audit(&self, f: AuditFilter) -> StoreFuture<'_, Vec<AuditEntry>> {
            self.inner.audit(f)
        }
        fn memories(&self, q: MemoryQuery) -> StoreFuture<'_, Vec<Memory>> {
            self.inner.memories(q)
        }
        fn claim_notifications(
            &self,
            now: Timestamp,
            lease_until: Timestamp,
            limit: usize,
        ) -> StoreFuture<'_, Vec<Claimed>> {
            self.inner.claim_notifications(now, lease_until, limit)
        }
        fn settle_notification(
            &self,
            id: &NotificationId,
            delivery: Delivery,
            audit: AuditEntry,
        ) -> StoreFuture<'_, ()> {
            self.inner.settle_notification(id, delivery, audit)
        }
        fn next_notification(&self) -> StoreFuture<'_, Option<Timestamp>> {
            self.inner.next_notification()
        }
        fn learned_calls(&self, window: CallWindow) -> StoreFuture<'_, Vec<LearnedCall>> {
            Box::pin(async move {
                let calls = self.inner.learned_calls(window).await?;
                self.calls_read
                    .fetch_add(calls.len() as u64, Ordering::SeqCst);
                Ok(calls)
            })
        }
        fn learned_labels(&self, class: &str) -> StoreFuture<'_, u64> {
            self.inner.learned_labels(class)
        }
        fn learned_call(&self, target: LabelTarget) -> StoreFuture<'_, Option<LearnedCall>> {
            self.inner.learned_call(target)
        }
        fn latest_learned_call(
            &self,
            execution: &ExecutionId,
            action: &str,
            resource: &str,
            context_hash: &str,
        ) -> StoreFuture<'_, Option<LearnedCall>> {
            self.inner
                .latest_learned_call(execution, action, resource, context_hash)
        }
        fn overlays(&self) -> StoreFuture<'_, Vec<Versioned<Overlay>>> {
            self.inner.overlays()
        }
        fn append_policy_version(
            &self,
            version: NewPolicyVersion,
            after: Option<u64>,
            audit: Vec<AuditEntry>,
        ) -> StoreFuture<'_, PolicyVersion> {
            self.inner.append_policy_version(version, after, audit)
        }
        fn policy_version(&self, number: Option<u64>) -> StoreFuture<'_, Option<PolicyVersion>> {
            self.inner.policy_version(number)
        }
        fn policy_versions(
            &self,
            before: Option<u64>,
            limit: usize,
        ) -> StoreFuture<'_, Vec<PolicyVersionInfo>> {
            self.inner.policy_versions(before, limit)
        }
        fn claim_idempotency_key(
            &self,
            principal: &rekall_policy::Principal,
            key: &str,
            request_hash: &str,
            now: Timestamp,
            expired_before: Timestamp,
        ) -> StoreFuture<'_, KeyClaim> {
            self.inner
                .claim_idempotency_key(principal, key, request_hash, now, expired_before)
        }
        fn answer_idempotency_key(
            &self,
            claim: &IdempotencyRecord,
            response: StoredResponse,
        ) -> StoreFuture<'_, ()> {
            self.inner.answer_idempotency_key(claim, response)
        }
        fn release_idempotency_key(&self, claim: &IdempotencyRecord) -> StoreFuture<'_, bool> {
            self.inner.release_idempotency_key(claim)
        }
        fn idempotency_record(
            &self,
            principal: &rekall_policy::Principal,
            key: &str,
        ) -> StoreFuture<'_, Option<IdempotencyRecord>> {
            self.inner.idempotency_record(principal, key)
        }
        fn prune_idempotency(&self, before: Timestamp) -> StoreFuture<'_, u64> {
            self.inner.prune_idempotency(before)
        }
        fn server_secret(
            &self,
            name: &str,
            candidate: Vec<u8>,
            now: Timestamp,
        ) -> StoreFuture<'_, Vec<u8>> {
            self.inner.server_secret(name, candidate, now)
        }
        fn spend_token(
            &self,
            scope: &str,
            token: &str,
            now: Timestamp,
            expires_at: Timestamp,
        ) -> StoreFuture<'_, bool> {
            self.inner.spend_token(scope, token, now, expires_at)
        }
    }
}

/// The calls a label reads stay bounded as the class's history grows: the learner is kept
/// between labels and reads only what was recorded since, where a replay of the window
/// would read every call in it.
#[tokio::test]
async fn a_label_reads_a_bounded_number_of_calls_however_long_the_history() {
    let store = Arc::new(CountingStore {
        inner: rekall_policy::store::open(&crate::postgres::store_url_or("sqlite::memory:").await)
            .await
            .unwrap(),
        calls_read: Default::default(),
    });
    let rt = Runtime::builder()
        .store(store.clone())
        .clock(Arc::new(ManualClock::at(T0)))
        .background(false)
        .audit_seed(7)
        .build()
        .await
        .unwrap();
    // No checkpoint within reach, so that only the cost of counting a label is measured.
    rt.set_policy(policy(&adapt("auto", 0.5, 1000)))
        .await
        .unwrap();
    let e = running(&rt, "deploys").await;
    let read = || store.calls_read.load(std::sync::atomic::Ordering::SeqCst);
    let mut per_label = Vec::new();
    for i in 0..300 {
        let before = read();
        let d = resolve(
            &rt,
            &e.id,
            deploy(0.85).context(json!({"n": i})),
            i % 7 != 0,
        )
        .await;
        assert!(d.request.is_some(), "{d:?}");
        per_label.push(read() - before);
    }
    // The first label builds the learner from the store; every later one reads at most the
    // first catch-up's few calls, at 300 labels as at 2.
    assert!(per_label[1..].iter().all(|&n| n <= 16), "{per_label:?}");
    assert_eq!(calls(&rt, "fast-deploys").await.len(), 300);
    // A restart builds it once from the window again, then reads little again.
    let rt2 = Runtime::builder()
        .store(store.clone())
        .clock(Arc::new(ManualClock::at(T0)))
        .background(false)
        .audit_seed(8)
        .build()
        .await
        .unwrap();
    rt2.set_policy(policy(&adapt("auto", 0.5, 1000)))
        .await
        .unwrap();
    let before = read();
    resolve(
        &rt2,
        &e.id,
        deploy(0.85).context(json!({"n": "again"})),
        true,
    )
    .await;
    assert!(
        read() - before >= 300,
        "the window is read once after a restart"
    );
    let before = read();
    resolve(
        &rt2,
        &e.id,
        deploy(0.85).context(json!({"n": "more"})),
        true,
    )
    .await;
    assert!(read() - before <= 16);
}

/// Two agents on one `perAgent` rule: a careful one whose labels certify a lower threshold,
/// and a careless one whose labels break alpha.
fn per_agent_policy() -> LoadedPolicy {
    policy(
        "      adapt:\n        alpha: 0.2\n        step: 0.1\n        minLabels: 40\n        window: 1000\n        mode: auto\n        auditRate: 1.0\n        perAgent: true\n        approvers: [user:sre]\n",
    )
}

async fn running_as(rt: &Runtime, name: &str, agent: &str) -> ExecutionId {
    let e = rt
        .execution()
        .create(rekall_policy::runtime::NewExecution::new(name).agent(p(agent)))
        .await
        .expect("create");
    rt.execution().start(&e.id).await.expect("start").id
}

#[tokio::test]
async fn a_per_agent_rule_learns_one_threshold_per_agent() {
    let rt = runtime("sqlite::memory:", per_agent_policy()).await;
    let careful = running_as(&rt, "careful deploys", "agent:careful").await;
    let careless = running_as(&rt, "careless deploys", "agent:careless").await;
    // The careful agent: forty good labels certify 0.8 for its class alone.
    forty_good_labels(&rt, &careful).await;
    // The careless agent: as many calls, half of them bad: its class's threshold rises.
    for i in 0..40 {
        let confidence = if i % 2 == 0 { 0.95 } else { 0.85 };
        let d = resolve(
            &rt,
            &careless,
            deploy(confidence).context(json!({"n": i})),
            i % 4 >= 2,
        )
        .await;
        assert!(d.request.is_some(), "{d:?}");
    }
    // Each agent's calls are counted in its own class, none in the rule's.
    assert_eq!(calls(&rt, "fast-deploys@agent:careful").await.len(), 40);
    assert_eq!(calls(&rt, "fast-deploys@agent:careless").await.len(), 40);
    assert!(calls(&rt, "fast-deploys").await.is_empty());
    let moved = kinds(&rt, AuditKind::ThresholdMoved).await;
    let moves: Vec<(&str, &str, Option<f64>)> = moved
        .iter()
        .map(|m| {
            (
                m.detail["class"].as_str().unwrap_or(""),
                m.detail["move"].as_str().unwrap_or(""),
                m.detail["to"].as_f64(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            ("fast-deploys@agent:careful", "lower", Some(0.8)),
            ("fast-deploys@agent:careless", "rise", Some(1.0)),
        ],
        "{moved:?}"
    );

    // Decisions use the calling agent's threshold: 0.85 auto-approves for the careful agent
    // (the audit sample, at rate 1, still asks a person), not for the careless one.
    let d = resolve(
        &rt,
        &careful,
        deploy(0.85).context(json!({"after": 1})),
        true,
    )
    .await;
    let t = d.threshold.as_ref().unwrap();
    assert_eq!(
        (t.class.as_str(), t.policy, t.effective),
        ("fast-deploys@agent:careful", 0.9, 0.8)
    );
    assert_eq!(d.decision["outcome"], "auto-approve", "{d:?}");
    assert!(d.audit, "{d:?}");
    let d = resolve(
        &rt,
        &careless,
        deploy(0.85).context(json!({"after": 1})),
        true,
    )
    .await;
    let t = d.threshold.as_ref().unwrap();
    assert_eq!(
        (t.class.as_str(), t.effective),
        ("fast-deploys@agent:careless", 1.0)
    );
    assert_eq!(d.outcome, Outcome::RequestApproval, "{d:?}");
    assert!(!d.audit);
    // At 0.95 too: the careless agent's threshold is the ceiling, the careful one's is not.
    let d = resolve(
        &rt,
        &careless,
        deploy(0.95).context(json!({"after": 3})),
        true,
    )
    .await;
    assert!(d.request.is_some(), "{d:?}");
    assert_eq!(
        (d.outcome, d.decision["outcome"].as_str(), d.audit),
        (Outcome::RequestApproval, Some("request-approval"), false),
        "{d:?}"
    );
    // An agent with no threshold of its own yet gets the policy's.
    let newcomer = running_as(&rt, "new deploys", "agent:newcomer").await;
    let d = rt
        .execution()
        .check_escalation(&newcomer, deploy(0.85))
        .await
        .unwrap();
    assert_eq!(d.outcome, Outcome::RequestApproval, "{d:?}");
    assert_eq!(
        d.threshold.as_ref().map(|t| (t.class.clone(), t.effective)),
        Some(("fast-deploys@agent:newcomer".to_owned(), 0.9))
    );

    // `thresholds show` lists the rule (what an agent without a threshold of its own gets)
    // and the agent that has one, with the rule's mode.
    let shown = rt.thresholds().show().await.unwrap();
    let lines: Vec<(&str, f64, f64, Option<&str>)> = shown
        .iter()
        .map(|s| (s.class.as_str(), s.policy, s.effective, s.mode))
        .collect();
    assert_eq!(
        lines,
        [
            ("fast-deploys", 0.9, 0.9, Some("auto")),
            ("fast-deploys@agent:careful", 0.9, 0.8, Some("auto")),
            ("fast-deploys@agent:careless", 0.9, 1.0, Some("auto")),
            ("migrations", 0.9, 0.9, Some("propose")),
        ]
    );

    // Resetting one agent's class puts only that agent back at the policy's threshold.
    let lead = p("user:lead");
    let reset = rt
        .thresholds()
        .reset(Some("fast-deploys@agent:careful"), &lead)
        .await
        .unwrap();
    assert_eq!(reset.len(), 1);
    let d = rt
        .execution()
        .check_escalation(&careful, deploy(0.85).context(json!({"after": 2})))
        .await
        .unwrap();
    assert_eq!(d.outcome, Outcome::RequestApproval, "{d:?}");
}

#[tokio::test]
async fn a_per_agent_threshold_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let rt = runtime(&url, per_agent_policy()).await;
    let careful = running_as(&rt, "careful deploys", "agent:careful").await;
    forty_good_labels(&rt, &careful).await;
    drop(rt);
    let rt = runtime(&url, per_agent_policy()).await;
    let other = running_as(&rt, "other deploys", "agent:other").await;
    let d = rt
        .execution()
        .check_escalation(&other, deploy(0.85))
        .await
        .unwrap();
    assert_eq!(d.outcome, Outcome::RequestApproval, "{d:?}");
    let again = running_as(&rt, "careful again", "agent:careful").await;
    let d = rt
        .execution()
        .check_escalation(&again, deploy(0.85))
        .await
        .unwrap();
    assert_eq!(d.decision["outcome"], "auto-approve", "{d:?}");
    assert_eq!(effective(&d), 0.8);
}
