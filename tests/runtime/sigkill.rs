//! Nothing is lost when the process dies. A child process (this test binary, re-run as the
//! ignored test below) opens a store, leaves pending approvals, a half-approved chain, a
//! feedback form and running executions, says it is ready and is killed with SIGKILL. A new
//! runtime on the same file, later by the clock, finds everything as it was, times out what
//! passed its deadline meanwhile, and approving resumes the right execution.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;

use rekall_policy::model::{
    ApprovalId, ApprovalStatus, AuditKind, ExecutionId, ExecutionStatus, FeedbackId,
    FeedbackStatus, Field, Form, StepSpec, StepStatus,
};
use rekall_policy::runtime::{ApprovalSpec, FeedbackSpec, ManualClock, RecordingNotifier, Runtime};
use rekall_policy::store::AuditFilter;
use serde_json::{Value, json};

use crate::common::{T0, hours, minutes, p, ps, running, within};

const STORE_VAR: &str = "REKALL_SIGKILL_STORE";

async fn open(path: &str, clock: &ManualClock) -> Runtime {
    Runtime::builder()
        .store_url(&crate::common::store_at(std::path::Path::new(path)).await)
        .clock(Arc::new(clock.clone()))
        .notifier(Arc::new(RecordingNotifier::new()))
        .background(false)
        .build()
        .await
        .expect("the runtime opens the store")
}

/// The child's part: only run by the test below, which kills it.
#[tokio::test]
#[ignore = "the child process of killed_process_loses_nothing; it never ends by itself"]
async fn child_holding_pending_work() {
    // Run with --include-ignored outside its parent there is nothing to do: the parent test
    // sets the store path and does the checking.
    let Ok(path) = std::env::var(STORE_VAR) else {
        return;
    };
    let clock = ManualClock::at(T0);
    let rt = open(&path, &clock).await;
    let x = rt.execution();

    let a = running(&rt, "A: running").await;
    x.checkpoint(&a.id, 2, Some(json!({"progress": 2})), "halfway")
        .await
        .unwrap();

    let b = running(&rt, "B: two of two").await;
    let gate = StepSpec::new("approval", ps(&["user:adam", "user:bob"]))
        .min_approvals(2)
        .timeout(hours(24));
    let b_req = x
        .request_approval(&b.id, ApprovalSpec::gate("B", gate))
        .await
        .unwrap();
    rt.approvals()
        .approve(b_req.id(), &p("user:adam"), Some("first"))
        .await
        .unwrap();

    let c = running(&rt, "C: chain").await;
    let chain = ApprovalSpec::chain(
        "C",
        vec![
            StepSpec::new("Technical Review", ps(&["user:alice", "user:bob"])).timeout(hours(24)),
            StepSpec::new("Manager Approval", ps(&["user:carol"])).timeout(hours(24)),
        ],
    );
    let c_req = x.request_approval(&c.id, chain).await.unwrap();
    rt.approvals()
        .approve(c_req.id(), &p("user:alice"), None)
        .await
        .unwrap();

    let d = running(&rt, "D: one hour").await;
    let gate = StepSpec::new("approval", ps(&["user:adam"])).timeout(hours(1));
    let d_req = x
        .request_approval(&d.id, ApprovalSpec::gate("D", gate))
        .await
        .unwrap();

    let e = running(&rt, "E: escalates").await;
    let gate = StepSpec::new("approval", ps(&["user:adam"]))
        .timeout(hours(1))
        .escalate_to(ps(&["user:carol"]));
    let e_req = x
        .request_approval(&e.id, ApprovalSpec::gate("E", gate))
        .await
        .unwrap();

    let f = running(&rt, "F: feedback").await;
    let form = Form::new(vec![Field::rating("quality", "Quality", 1, 5)]);
    let f_req = x
        .request_feedback(&f.id, FeedbackSpec::new("F", form).timeout(hours(24)))
        .await
        .unwrap();

    // A caller waiting when the process dies.
    let waiting = d_req.clone();
    tokio::spawn(async move { waiting.wait().await });

    let ids = json!({
        "a": a.id, "b": b.id, "c": c.id, "d": d.id, "e": e.id, "f": f.id,
        "b_req": b_req.id(), "c_req": c_req.id(), "d_req": d_req.id(),
        "e_req": e_req.id(), "f_req": f_req.id(),
    });
    println!("READY {ids}");
    tokio::time::sleep(std::time::Duration::from_secs(600)).await;
    panic!("the child should have been killed");
}

fn id(ids: &Value, key: &str) -> String {
    ids[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {ids}"))
        .to_owned()
}

#[tokio::test]
async fn killed_process_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.db").display().to_string();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "sigkill::child_holding_pending_work",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(STORE_VAR, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child starts");
    let stdout = child.stdout.take().unwrap();
    let ids: Value = within("the child", async {
        tokio::task::spawn_blocking(move || {
            for line in BufReader::new(stdout).lines() {
                let line = line.expect("the child's output");
                if let Some(json) = line.strip_prefix("READY ") {
                    return serde_json::from_str(json).expect("the ids");
                }
            }
            panic!("the child ended without saying READY");
        })
        .await
        .unwrap()
    })
    .await;
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL");

    // 90 minutes later: D's hour has passed, E's first hour too (escalated, not yet rejected).
    let clock = ManualClock::at(T0.after(minutes(90)));
    let rt = open(&path, &clock).await;
    let exe = |k: &str| ExecutionId::from(id(&ids, k));
    let apr = |k: &str| ApprovalId::from(id(&ids, k));

    let a = rt.execution().get(&exe("a")).await.unwrap();
    assert_eq!(a.status, ExecutionStatus::Running);
    assert_eq!(a.checkpoint.unwrap().state, json!({"progress": 2}));

    // A restarted agent finds what each execution waits on.
    let waiting = rt.execution().waiting(&exe("c")).await.unwrap();
    assert_eq!(waiting.approvals.len(), 1);
    assert_eq!(waiting.approvals[0].id(), &apr("c_req"));
    let waiting = rt.execution().waiting(&exe("f")).await.unwrap();
    assert_eq!((waiting.approvals.len(), waiting.feedback.len()), (0, 1));

    // B: pending with adam's vote; bob's approval resumes B, and only B.
    let b = rt.approvals().get(&apr("b_req")).await.unwrap();
    assert_eq!(b.status, ApprovalStatus::Pending);
    let votes: Vec<String> = b.steps[0]
        .votes
        .iter()
        .map(|v| v.principal.to_string())
        .collect();
    assert_eq!(votes, ["user:adam"]);
    assert_eq!(
        rt.execution().get(&exe("b")).await.unwrap().status,
        ExecutionStatus::Paused
    );
    rt.approvals()
        .approve(&apr("b_req"), &p("user:bob"), None)
        .await
        .unwrap();
    let outcome = rt.approvals().handle(&apr("b_req")).wait().await.unwrap();
    assert_eq!(outcome.approved_by, ps(&["user:adam", "user:bob"]));
    assert_eq!(
        rt.execution().get(&exe("b")).await.unwrap().status,
        ExecutionStatus::Running
    );
    assert_eq!(
        rt.execution().get(&exe("c")).await.unwrap().status,
        ExecutionStatus::Paused
    );

    // C: half approved; the manager finishes it.
    let c = rt.approvals().get(&apr("c_req")).await.unwrap();
    assert_eq!(
        (c.current, c.steps[0].status, c.steps[1].status),
        (1, StepStatus::Approved, StepStatus::Pending)
    );
    rt.approvals()
        .approve(&apr("c_req"), &p("user:carol"), None)
        .await
        .unwrap();
    let outcome = rt.approvals().handle(&apr("c_req")).wait().await.unwrap();
    assert!(outcome.approved());
    assert_eq!(outcome.chain_status[0].approved_by, ps(&["user:alice"]));
    assert_eq!(
        rt.execution().get(&exe("c")).await.unwrap().status,
        ExecutionStatus::Running
    );

    // D: timed out while no process ran; a caller waiting on it now is told.
    let outcome = within("D", rt.approvals().handle(&apr("d_req")).wait())
        .await
        .unwrap();
    assert_eq!(outcome.status, ApprovalStatus::TimedOut);
    assert_eq!(
        rt.execution().get(&exe("d")).await.unwrap().status,
        ExecutionStatus::Running
    );

    // E: escalated on start; rejected when its second hour passes.
    let e = rt.approvals().get(&apr("e_req")).await.unwrap();
    assert_eq!(e.status, ApprovalStatus::Pending);
    assert!(e.steps[0].escalated);
    clock.advance(minutes(30));
    let outcome = within("E", rt.approvals().handle(&apr("e_req")).wait())
        .await
        .unwrap();
    assert_eq!(outcome.status, ApprovalStatus::TimedOut);

    // F: the form is still open.
    let f_req = FeedbackId::from(id(&ids, "f_req"));
    assert_eq!(
        rt.feedback().get(&f_req).await.unwrap().status,
        FeedbackStatus::Pending
    );
    rt.feedback()
        .submit(&f_req, &p("user:alice"), json!({"quality": 5}))
        .await
        .unwrap();
    assert_eq!(
        rt.execution().get(&exe("f")).await.unwrap().status,
        ExecutionStatus::Running
    );

    // The votes cast before the kill are in the audit log with their principal.
    let log = rt
        .audit()
        .query(AuditFilter {
            request: Some(id(&ids, "b_req")),
            kind: Some("vote".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let voters: Vec<String> = log
        .iter()
        .filter(|a| a.kind == AuditKind::Vote)
        .map(|a| a.principal.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(voters, ["user:adam", "user:bob"]);
}
