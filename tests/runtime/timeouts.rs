//! Timeouts: reject, escalate-then-reject, reminders, deadlines that pass while no process
//! runs, and notifiers that fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rekall_policy::model::{
    ApprovalStatus, AuditKind, BoxFuture, ExecutionStatus, MemoryQuery, Notification,
    NotificationKind, StepSpec, StepStatus,
};
use rekall_policy::runtime::NotifyError;
use rekall_policy::runtime::{ApprovalSpec, ManualClock, Notifier, RecordingNotifier, Runtime};
use rekall_policy::store::AuditFilter;

use crate::common::{T0, hours, minutes, p, ps, rig, running, within};

fn gate(timeout_hours: u64) -> ApprovalSpec {
    ApprovalSpec::gate(
        "Production Deployment Approval",
        StepSpec::new("approval", ps(&["user:adam"])).timeout(hours(timeout_hours)),
    )
}

fn escalating() -> ApprovalSpec {
    ApprovalSpec::gate(
        "Drop legacy table",
        StepSpec::new("approval", ps(&["user:adam"]))
            .timeout(hours(1))
            .escalate_to(ps(&["user:carol"])),
    )
}

#[tokio::test]
async fn a_timeout_rejects_and_the_waiting_agent_is_told() {
    let rig = rig().await;
    let e = running(&rig.rt, "deploy").await;
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, gate(1))
        .await
        .unwrap();
    let waiter = tokio::spawn({
        let h = h.clone();
        async move { h.wait().await }
    });
    rig.clock.advance(minutes(59));
    assert_eq!(rig.rt.process_due().await.unwrap(), 0, "not due yet");
    rig.clock.advance(minutes(1));
    // No background loop runs: the waiter handles the deadline itself.
    let outcome = within("the waiter", waiter).await.unwrap().unwrap();
    assert_eq!(outcome.status, ApprovalStatus::TimedOut);
    assert!(!outcome.approved(), "a timeout never approves");
    assert!(outcome.reason.unwrap().contains("no decision within 1h"));
    assert_eq!(
        rig.rt.execution().get(&e.id).await.unwrap().status,
        ExecutionStatus::Running
    );
    let memories = rig
        .rt
        .memories()
        .query(MemoryQuery::tagged(&["approval", "timed_out"]))
        .await
        .unwrap();
    assert_eq!(memories.len(), 1);
}

#[tokio::test]
async fn escalate_reroutes_once_with_the_same_timeout_then_rejects() {
    let rig = rig().await;
    let e = running(&rig.rt, "drop").await;
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, escalating())
        .await
        .unwrap();
    rig.clock.advance(hours(1));
    assert_eq!(rig.rt.process_due().await.unwrap(), 1);
    let req = h.get().await.unwrap();
    assert_eq!(
        req.status,
        ApprovalStatus::Pending,
        "escalation is not a resolution"
    );
    assert!(req.steps[0].escalated);
    assert_eq!(req.steps[0].deadline, Some(T0.after(hours(2))));
    rig.rt.deliver_notifications().await.unwrap();
    let escalated: Vec<Notification> = rig
        .notes
        .sent()
        .into_iter()
        .filter(|n| n.kind == NotificationKind::Escalated)
        .collect();
    assert_eq!(escalated.len(), 1);
    assert_eq!(escalated[0].recipients, ps(&["user:carol"]));

    rig.clock.advance(hours(1));
    rig.rt.process_due().await.unwrap();
    let outcome = h.wait().await.unwrap();
    assert_eq!(outcome.status, ApprovalStatus::TimedOut);
    let kinds: Vec<AuditKind> = rig
        .rt
        .audit()
        .query(AuditFilter {
            request: Some(h.id().to_string()),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.kind)
        .collect();
    assert!(kinds.contains(&AuditKind::Escalated) && kinds.contains(&AuditKind::ApprovalResolved));
    assert_eq!(
        rig.rt
            .memories()
            .query(MemoryQuery::tagged(&["escalation", "timeout"]))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn after_escalation_the_escalation_target_may_approve() {
    let rig = rig().await;
    let e = running(&rig.rt, "drop").await;
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, escalating())
        .await
        .unwrap();
    let early = rig
        .rt
        .approvals()
        .approve(h.id(), &p("user:carol"), None)
        .await;
    assert!(early.is_err(), "carol is not asked before the escalation");
    rig.clock.advance(hours(1));
    rig.rt.process_due().await.unwrap();
    rig.rt
        .approvals()
        .approve(h.id(), &p("user:carol"), Some("ok"))
        .await
        .unwrap();
    assert!(h.wait().await.unwrap().approved());
}

#[tokio::test]
async fn a_chain_step_times_out_on_its_own_clock() {
    let rig = rig().await;
    let e = running(&rig.rt, "migrate").await;
    let chain = ApprovalSpec::chain(
        "migration",
        vec![
            StepSpec::new("Technical Review", ps(&["user:alice"])).timeout(hours(1)),
            StepSpec::new("Manager Approval", ps(&["user:carol"])).timeout(hours(2)),
        ],
    );
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, chain)
        .await
        .unwrap();
    rig.clock.advance(minutes(50));
    rig.rt
        .approvals()
        .approve(h.id(), &p("user:alice"), None)
        .await
        .unwrap();
    // The second step's two hours start when it opens, not when the chain did.
    rig.clock.advance(minutes(60 + 59));
    rig.rt.process_due().await.unwrap();
    assert_eq!(h.get().await.unwrap().status, ApprovalStatus::Pending);
    rig.clock.advance(minutes(11));
    rig.rt.process_due().await.unwrap();
    let outcome = h.wait().await.unwrap();
    assert_eq!(outcome.status, ApprovalStatus::TimedOut);
    let steps: Vec<StepStatus> = outcome.chain_status.iter().map(|s| s.status).collect();
    assert_eq!(steps, [StepStatus::Approved, StepStatus::TimedOut]);
}

#[tokio::test]
async fn reminders_go_to_approvers_who_have_not_voted() {
    let rig = rig().await;
    let e = running(&rig.rt, "keys").await;
    let gate = ApprovalSpec::gate(
        "keys",
        StepSpec::new("approval", ps(&["user:adam", "user:bob"]))
            .min_approvals(2)
            .remind_every(minutes(15)),
    );
    let h = rig
        .rt
        .execution()
        .request_approval(&e.id, gate)
        .await
        .unwrap();
    rig.rt
        .approvals()
        .approve(h.id(), &p("user:adam"), None)
        .await
        .unwrap();
    rig.clock.advance(minutes(15));
    rig.rt.process_due().await.unwrap();
    rig.clock.advance(minutes(15));
    rig.rt.process_due().await.unwrap();
    rig.rt.deliver_notifications().await.unwrap();
    let reminders: Vec<Notification> = rig
        .notes
        .sent()
        .into_iter()
        .filter(|n| n.kind == NotificationKind::Reminder)
        .collect();
    assert_eq!(reminders.len(), 2);
    assert!(reminders.iter().all(|n| n.recipients == ps(&["user:bob"])));
    assert_eq!(
        h.get().await.unwrap().status,
        ApprovalStatus::Pending,
        "a reminder resolves nothing"
    );
}

async fn on_file(path: &std::path::Path, clock: &ManualClock) -> Runtime {
    Runtime::builder()
        .store_url(&crate::common::store_at(path).await)
        .clock(Arc::new(clock.clone()))
        .notifier(Arc::new(RecordingNotifier::new()))
        .background(false)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn deadlines_that_pass_while_no_process_runs_are_handled_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("restart.db");
    let clock = ManualClock::at(T0);
    let (reject, escalate, long, exec) = {
        let rt = on_file(&path, &clock).await;
        let e1 = running(&rt, "one").await;
        let e2 = running(&rt, "two").await;
        let e3 = running(&rt, "three").await;
        let reject = rt
            .execution()
            .request_approval(&e1.id, gate(1))
            .await
            .unwrap();
        let escalate = rt
            .execution()
            .request_approval(&e2.id, escalating())
            .await
            .unwrap();
        let long = rt
            .execution()
            .request_approval(&e3.id, gate(24))
            .await
            .unwrap();
        (
            reject.id().clone(),
            escalate.id().clone(),
            long.id().clone(),
            e1.id,
        )
    };
    // Every runtime is gone; time passes.
    clock.advance(minutes(90));
    let rt = on_file(&path, &clock).await;
    assert_eq!(
        rt.approvals().get(&reject).await.unwrap().status,
        ApprovalStatus::TimedOut
    );
    assert_eq!(
        rt.execution().get(&exec).await.unwrap().status,
        ExecutionStatus::Running
    );
    let esc = rt.approvals().get(&escalate).await.unwrap();
    assert_eq!(esc.status, ApprovalStatus::Pending);
    assert!(esc.steps[0].escalated, "escalated on start");
    assert_eq!(
        rt.approvals().get(&long).await.unwrap().status,
        ApprovalStatus::Pending
    );
    drop(rt);

    // Down again past the escalation's deadline: rejected on the next start.
    clock.advance(hours(1));
    let rt = on_file(&path, &clock).await;
    let outcome = rt.approvals().handle(&escalate).wait().await.unwrap();
    assert_eq!(outcome.status, ApprovalStatus::TimedOut);
    assert_eq!(
        rt.approvals().handle(&reject).wait().await.unwrap().status,
        ApprovalStatus::TimedOut
    );

    // A long outage: escalation and rejection both passed; handled in one start.
    let e = running(&rt, "four").await;
    let both = rt
        .execution()
        .request_approval(&e.id, escalating())
        .await
        .unwrap()
        .id()
        .clone();
    drop(rt);
    clock.advance(hours(5));
    let rt = on_file(&path, &clock).await;
    let req = rt.approvals().get(&both).await.unwrap();
    assert_eq!(req.status, ApprovalStatus::TimedOut);
    assert!(req.steps[0].escalated, "it was escalated on the way");
}

/// Fails its first `failures` deliveries.
#[derive(Debug)]
struct Flaky {
    failures: usize,
    calls: AtomicUsize,
    inner: RecordingNotifier,
}

impl Notifier for Flaky {
    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
                return Err(NotifyError("smtp: connection refused".into()));
            }
            self.inner.notify(n).await
        })
    }
}

#[tokio::test]
async fn a_failing_notifier_never_blocks_or_loses_a_decision() {
    let clock = ManualClock::at(T0);
    let flaky = Arc::new(Flaky {
        failures: 3,
        calls: AtomicUsize::new(0),
        inner: RecordingNotifier::new(),
    });
    let rt = Runtime::builder()
        .clock(Arc::new(clock.clone()))
        .notifier(flaky.clone())
        .background(false)
        .build()
        .await
        .unwrap();
    let e = running(&rt, "deploy").await;
    let h = rt
        .execution()
        .request_approval(&e.id, gate(1))
        .await
        .unwrap();
    rt.approvals()
        .approve(h.id(), &p("user:adam"), None)
        .await
        .unwrap();
    assert!(
        within("wait", h.wait()).await.unwrap().approved(),
        "the decision stands"
    );

    // Both notifications (asked, resolved) failed at least once; they are retried later.
    rt.deliver_notifications().await.unwrap();
    let failed = rt
        .audit()
        .query(AuditFilter {
            kind: Some("notification_failed".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(!failed.is_empty());
    assert!(
        failed[0].detail["error"]
            .as_str()
            .unwrap()
            .contains("connection refused")
    );
    for _ in 0..4 {
        clock.advance(minutes(5));
        rt.deliver_notifications().await.unwrap();
    }
    let kinds: Vec<NotificationKind> = flaky.inner.sent().iter().map(|n| n.kind).collect();
    assert!(
        kinds.contains(&NotificationKind::ApprovalRequested),
        "{kinds:?}"
    );
    assert!(kinds.contains(&NotificationKind::Resolved), "{kinds:?}");
}

#[tokio::test]
async fn the_background_loop_handles_deadlines_and_deliveries_with_no_one_waiting() {
    let clock = ManualClock::at(T0);
    let notes = RecordingNotifier::new();
    let rt = Runtime::builder()
        .clock(Arc::new(clock.clone()))
        .notifier(Arc::new(notes.clone()))
        .poll_interval(std::time::Duration::from_millis(20))
        .build()
        .await
        .unwrap();
    let e = running(&rt, "deploy").await;
    let id = rt
        .execution()
        .request_approval(&e.id, gate(1))
        .await
        .unwrap()
        .id()
        .clone();
    clock.advance(hours(1));
    within("the background loop", async {
        loop {
            let timed_out =
                rt.approvals().get(&id).await.unwrap().status == ApprovalStatus::TimedOut;
            let told = notes
                .sent()
                .iter()
                .any(|n| n.kind == NotificationKind::TimedOut);
            if timed_out && told {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        notes
            .sent()
            .iter()
            .any(|n| n.kind == NotificationKind::ApprovalRequested)
    );
}

/// Never answers.
#[derive(Debug)]
struct Hanging;

impl Notifier for Hanging {
    fn notify<'a>(&'a self, _: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn a_hanging_notifier_holds_nothing_up() {
    let rt = Runtime::builder()
        .clock(Arc::new(ManualClock::at(T0)))
        .notifier(Arc::new(Hanging))
        .build()
        .await
        .unwrap();
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        let e = running(&rt, "deploy").await;
        let h = rt
            .execution()
            .request_approval(&e.id, gate(1))
            .await
            .unwrap();
        rt.approvals()
            .approve(h.id(), &p("user:adam"), None)
            .await
            .unwrap();
        h.wait().await.unwrap()
    })
    .await
    .expect("deciding does not wait for the notifier");
    assert!(outcome.approved());
}
