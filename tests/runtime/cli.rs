//! `rekall-policy executions` and `approvals` against a store that an agent (this test)
//! is using at the same time: a vote at the terminal resumes the waiting agent.

use std::process::{Command, Output};
use std::sync::Arc;

use rekall_policy::model::{ApprovalStatus, ExecutionStatus, StepSpec};
use rekall_policy::runtime::{ApprovalSpec, RecordingNotifier, Runtime};
use serde_json::{Value, json};

use crate::common::{ps, running, within};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_at_the_terminal_answers_a_waiting_agent() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::store_at(&dir.path().join("agent.db")).await;
    let rt = Runtime::builder()
        .store_url(&url)
        .notifier(Arc::new(RecordingNotifier::new()))
        .poll_interval(std::time::Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    let e = running(&rt, "Deploy api@1.4.2 to production").await;
    rt.execution()
        .checkpoint(&e.id, 2, Some(json!({"image": "api:1.4.2"})), "Image built")
        .await
        .unwrap();
    let gate = ApprovalSpec::gate(
        "Production Deployment Approval",
        StepSpec::new("approval", ps(&["user:adam", "user:bob"])),
    );
    let h = rt.execution().request_approval(&e.id, gate).await.unwrap();
    let id = h.id().to_string();
    let waiter = tokio::spawn({
        let h = h.clone();
        async move { h.wait().await }
    });

    let out = cli(&["approvals", "list", "--store", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(
        listed.contains(&id) && listed.contains("Production Deployment Approval"),
        "{listed}"
    );
    assert!(listed.contains("0/1 by user:adam, user:bob"), "{listed}");
    let out = cli(&["approvals", "list", "--store", &url, "--for", "user:zed"]);
    assert_eq!(text(&out.stdout).trim(), "no approval requests");

    // An unlisted principal is refused, with the reason, and exit code 1.
    let out = cli(&[
        "approvals",
        "approve",
        &id,
        "--store",
        &url,
        "--as",
        "user:zed",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("user:zed may not vote"),
        "{}",
        text(&out.stderr)
    );
    let out = cli(&["approvals", "approve", &id, "--store", &url, "--as", "zed"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a principal"),
        "{}",
        text(&out.stderr)
    );

    let out = cli(&[
        "approvals",
        "approve",
        &id,
        "--store",
        &url,
        "--as",
        "user:adam",
        "--comment",
        "ship it",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("the request is approved"),
        "{}",
        text(&out.stdout)
    );

    // The agent, in another process, is woken by its poll and resumes.
    let outcome = within("the waiting agent", waiter).await.unwrap().unwrap();
    assert_eq!(outcome.status, ApprovalStatus::Approved);
    assert_eq!(
        rt.execution().get(&e.id).await.unwrap().status,
        ExecutionStatus::Running
    );

    let out = cli(&[
        "approvals",
        "reject",
        &id,
        "--store",
        &url,
        "--as",
        "user:bob",
        "--reason",
        "late",
    ]);
    assert_eq!(out.status.code(), Some(1), "a late vote is refused");
    assert!(
        text(&out.stderr).contains("already approved"),
        "{}",
        text(&out.stderr)
    );

    let out = cli(&["executions", "list", "--store", &url]);
    let listed = text(&out.stdout);
    assert!(
        listed.contains(e.id.as_str()) && listed.contains("running"),
        "{listed}"
    );
    assert!(listed.contains("step 2: Image built"), "{listed}");
    let out = cli(&[
        "executions",
        "list",
        "--store",
        &url,
        "--status",
        "completed",
    ]);
    assert_eq!(text(&out.stdout).trim(), "no executions");
    let out = cli(&["executions", "list", "--store", &url, "--status", "done"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not an execution status"));

    let out = cli(&["executions", "show", e.id.as_str(), "--store", &url]);
    let shown = text(&out.stdout);
    for part in [
        "status:  running",
        "#1 step 2",
        "Image built",
        "user:adam approve",
        "vote",
        "approval_resolved",
    ] {
        assert!(shown.contains(part), "{part} missing from:\n{shown}");
    }
    let out = cli(&[
        "executions",
        "show",
        e.id.as_str(),
        "--store",
        &url,
        "--format",
        "json",
    ]);
    let shown: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(shown["execution"]["status"], "running");
    assert_eq!(shown["approvals"][0]["status"], "approved");

    let out = cli(&[
        "approvals",
        "list",
        "--store",
        &url,
        "--status",
        "approved",
        "--format",
        "json",
    ]);
    let line: Value = serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(line["id"], id.as_str());

    let out = cli(&["executions", "show", "exe_missing", "--store", &url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("execution `exe_missing` does not exist"));
}

#[test]
fn a_missing_store_is_an_error_not_a_new_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.db");
    let url = format!("sqlite://{}", path.display());
    let out = cli(&["approvals", "list", "--store", &url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no such file"),
        "{}",
        text(&out.stderr)
    );
    assert!(!path.exists());
    let out = cli(&["executions", "list", "--store", "mysql://db"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`mysql` is not supported"),
        "{}",
        text(&out.stderr)
    );
    let out = cli(&["executions", "list", "--store", "postgres://db"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("the database is missing"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feedback_request_is_shown_with_its_artifacts_and_no_escape_sequences() {
    use rekall_policy::model::{Artifact, Field, Form};
    use rekall_policy::runtime::FeedbackSpec;

    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::store_at(&dir.path().join("agent.db")).await;
    let rt = Runtime::builder()
        .store_url(&url)
        .notifier(Arc::new(RecordingNotifier::new()))
        .build()
        .await
        .unwrap();
    let e = running(&rt, "review").await;
    // An agent's text is untrusted: here it tries to clear the screen and fake a line.
    let spec = FeedbackSpec::new(
        "Review \u{1b}[2Jthe patch",
        Form::new(vec![Field::rating("quality", "Code Quality", 1, 5)]),
    )
    .description("Please look.\n\u{1b}[1Aapproved by user:adam")
    .artifact(Artifact::code("fn main() {\n    run();\n}", Some("rust")).titled("main.rs"));
    let h = rt.execution().request_feedback(&e.id, spec).await.unwrap();
    let id = h.id().to_string();

    let out = cli(&["approvals", "show", &id, "--store", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
    assert!(shown.contains("Review \\u{1b}[2Jthe patch"), "{shown}");
    assert!(shown.contains("\\u{1b}[1Aapproved by user:adam"), "{shown}");
    assert!(shown.contains("1. code (rust): main.rs"), "{shown}");
    assert!(shown.contains("     |     run();"), "{shown}");
    assert!(shown.contains("quality  Code Quality"), "{shown}");

    let out = cli(&[
        "approvals",
        "show",
        &id,
        "--store",
        &url,
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["artifacts"][0]["language"], "rust");

    let out = cli(&["executions", "show", e.id.as_str(), "--store", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
    assert!(shown.contains("Review \\u{1b}[2Jthe patch"), "{shown}");

    let out = cli(&["approvals", "show", "fbk_missing", "--store", &url]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("feedback request `fbk_missing` does not exist"));
}
