//! Executions: the state machine (every invalid transition refused, naming both states),
//! checkpoints, onFailure, cancel.

use rekall_policy::model::{
    ApprovalStatus, ExecutionError, ExecutionId, ExecutionStatus, OnFailure, StepSpec,
};
use rekall_policy::runtime::{ApprovalSpec, NewExecution, Runtime, RuntimeError};
use serde_json::json;

use crate::common::{p, ps, rig, running, within};

#[derive(Debug, Clone, Copy, PartialEq)]
enum From {
    Created,
    Running,
    Paused,
    Waiting,
    Completed,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Start,
    Checkpoint,
    Pause,
    Resume,
    Complete,
    Fail,
    Cancel,
}

async fn in_state(rt: &Runtime, from: From) -> ExecutionId {
    let x = rt.execution();
    let e = x
        .create(NewExecution::new(format!("{from:?}")))
        .await
        .unwrap();
    let id = e.id;
    match from {
        From::Created => {}
        From::Cancelled => {
            x.cancel(&id, "test").await.unwrap();
        }
        _ => {
            x.start(&id).await.unwrap();
        }
    }
    match from {
        From::Paused => {
            x.pause(&id).await.unwrap();
        }
        From::Waiting => {
            let gate = ApprovalSpec::gate("gate", StepSpec::new("approval", ps(&["user:adam"])));
            x.request_approval(&id, gate).await.unwrap();
        }
        From::Completed => {
            x.complete(&id, json!({})).await.unwrap();
        }
        From::Failed => {
            x.fail(&id, "boom").await.unwrap();
        }
        _ => {}
    }
    id
}

async fn apply(rt: &Runtime, id: &ExecutionId, op: Op) -> Result<ExecutionStatus, RuntimeError> {
    let x = rt.execution();
    match op {
        Op::Start => x.start(id).await.map(|e| e.status),
        Op::Checkpoint => x
            .checkpoint(id, 1, None, "step")
            .await
            .map(|_| ExecutionStatus::Running),
        Op::Pause => x.pause(id).await.map(|e| e.status),
        Op::Resume => x.resume(id).await.map(|e| e.status),
        Op::Complete => x.complete(id, json!({"ok": true})).await.map(|e| e.status),
        Op::Fail => x.fail(id, "broken").await.map(|e| e.status),
        Op::Cancel => x.cancel(id, "stop").await.map(|e| e.status),
    }
}

fn name(s: ExecutionStatus) -> &'static str {
    s.as_str()
}

#[tokio::test]
async fn every_transition_is_allowed_or_refused_naming_both_states() {
    use ExecutionStatus as S;
    let rig = rig().await;
    let froms = [
        From::Created,
        From::Running,
        From::Paused,
        From::Waiting,
        From::Completed,
        From::Failed,
        From::Cancelled,
    ];
    let ops = [
        Op::Start,
        Op::Checkpoint,
        Op::Pause,
        Op::Resume,
        Op::Complete,
        Op::Fail,
        Op::Cancel,
    ];
    let mut refused = 0;
    for from in froms {
        for op in ops {
            let expected = match (from, op) {
                (From::Created, Op::Start) => Some(S::Running),
                (From::Running, Op::Checkpoint) => Some(S::Running),
                (From::Running, Op::Pause) => Some(S::Paused),
                (From::Running, Op::Complete) => Some(S::Completed),
                (From::Running, Op::Fail) => Some(S::Failed),
                (From::Paused, Op::Resume) => Some(S::Running),
                (From::Paused | From::Waiting, Op::Fail) => Some(S::Failed),
                (From::Created | From::Running | From::Paused | From::Waiting, Op::Cancel) => {
                    Some(S::Cancelled)
                }
                _ => None,
            };
            let id = in_state(&rig.rt, from).await;
            let before = rig.rt.execution().get(&id).await.unwrap().status;
            let got = apply(&rig.rt, &id, op).await;
            match (expected, got) {
                (Some(to), Ok(status)) => assert_eq!(status, to, "{from:?} {op:?}"),
                (
                    None,
                    Err(RuntimeError::Execution(ExecutionError::AwaitingHuman {
                        requests, ..
                    })),
                ) => {
                    assert_eq!((from, op), (From::Waiting, Op::Resume));
                    assert_eq!(requests.len(), 1);
                    refused += 1;
                }
                (
                    None,
                    Err(RuntimeError::Execution(e @ ExecutionError::InvalidTransition { .. })),
                ) => {
                    let ExecutionError::InvalidTransition { from: f, to, .. } = &e else {
                        unreachable!()
                    };
                    assert_eq!(*f, before, "{from:?} {op:?}");
                    let text = e.to_string();
                    assert!(
                        text.contains(&format!("{} -> {}", name(*f), name(*to))),
                        "{from:?} {op:?}: {text}"
                    );
                    // Refused means unchanged.
                    assert_eq!(rig.rt.execution().get(&id).await.unwrap().status, before);
                    refused += 1;
                }
                (expected, got) => panic!("{from:?} {op:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }
    assert_eq!(refused, 49 - 12, "every pair not in the table is refused");
}

#[tokio::test]
async fn the_latest_checkpoint_is_what_a_resumed_agent_reads_back() {
    let rig = rig().await;
    let x = rig.rt.execution();
    let e = running(&rig.rt, "deploy").await;
    x.checkpoint(&e.id, 1, None, "Tests passed").await.unwrap();
    x.checkpoint(&e.id, 2, Some(json!({"image": "api:1.4.2"})), "Image built")
        .await
        .unwrap();
    // A message-only checkpoint keeps the state before it.
    x.checkpoint(&e.id, 3, None, "Waiting").await.unwrap();
    x.pause(&e.id).await.unwrap();
    let resumed = x.resume(&e.id).await.unwrap();
    let cp = resumed.checkpoint.expect("a checkpoint");
    assert_eq!((cp.seq, cp.step), (3, 3));
    assert_eq!(cp.state, json!({"image": "api:1.4.2"}));
    let all = x.checkpoints(&e.id).await.unwrap();
    let steps: Vec<(u64, &str)> = all.iter().map(|c| (c.step, c.message.as_str())).collect();
    assert_eq!(
        steps,
        [(1, "Tests passed"), (2, "Image built"), (3, "Waiting")]
    );
    assert_eq!(all[0].state, serde_json::Value::Null);
}

#[tokio::test]
async fn on_failure_pause_pauses_then_a_second_failure_fails() {
    let rig = rig().await;
    let x = rig.rt.execution();
    let e = x
        .create(NewExecution::new("flaky").on_failure(OnFailure::Pause))
        .await
        .unwrap();
    x.start(&e.id).await.unwrap();
    let paused = x.fail(&e.id, "disk full").await.unwrap();
    assert_eq!(paused.status, ExecutionStatus::Paused);
    assert_eq!(paused.error.as_deref(), Some("disk full"));
    assert_eq!(
        x.resume(&e.id).await.unwrap().status,
        ExecutionStatus::Running
    );
    x.fail(&e.id, "disk full again").await.unwrap();
    assert_eq!(
        x.fail(&e.id, "and again").await.unwrap().status,
        ExecutionStatus::Failed
    );
}

#[tokio::test]
async fn cancelling_an_execution_cancels_what_it_waits_on() {
    let rig = rig().await;
    let e = running(&rig.rt, "migrate").await;
    let gate = ApprovalSpec::gate("gate", StepSpec::new("approval", ps(&["user:adam"])));
    let handle = rig
        .rt
        .execution()
        .request_approval(&e.id, gate)
        .await
        .unwrap();
    rig.rt
        .execution()
        .cancel(&e.id, "no longer needed")
        .await
        .unwrap();
    let outcome = within("wait", handle.wait()).await.unwrap();
    assert_eq!(outcome.status, ApprovalStatus::Cancelled);
    assert!(outcome.reason.unwrap().contains("no longer needed"));
    let late = rig
        .rt
        .approvals()
        .approve(handle.id(), &p("user:adam"), None)
        .await;
    assert!(matches!(late, Err(RuntimeError::Vote(_))), "{late:?}");
}

#[tokio::test]
async fn unknown_ids_and_bad_names_are_errors() {
    let rig = rig().await;
    let err = rig
        .rt
        .execution()
        .get(&"exe_nope".into())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "execution `exe_nope` does not exist");
    let err = rig
        .rt
        .execution()
        .create(NewExecution::new("  "))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::InvalidInput { field, .. } if field == "name"),
        "{err}"
    );
}
