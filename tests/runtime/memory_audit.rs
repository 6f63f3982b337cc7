//! Memories (create, query by tag and time, corrections) and the audit log (by execution,
//! append-only in the store itself).

use rekall_policy::model::{AuditKind, Correction, MemoryKind, MemoryQuery, NewMemory, StepSpec};
use rekall_policy::runtime::{ApprovalSpec, RuntimeError};
use serde_json::json;

use crate::common::{T0, hours, p, ps, rig, running};

#[tokio::test]
async fn memories_are_queried_by_tag_kind_and_time() {
    let rig = rig().await;
    let m = rig.rt.memories();
    m.create(
        NewMemory::new(MemoryKind::Episodic, "first")
            .tags(&["feedback", "code-generation"])
            .importance(0.8),
    )
    .await
    .unwrap();
    rig.clock.advance(hours(1));
    m.create(NewMemory::new(MemoryKind::Semantic, "the api runs on port 8080").tags(&["feedback"]))
        .await
        .unwrap();
    rig.clock.advance(hours(1));
    m.create(NewMemory::new(MemoryKind::Procedural, "deploy with make release").tags(&["deploy"]))
        .await
        .unwrap();

    let both = m
        .query(MemoryQuery::tagged(&["feedback", "code-generation"]))
        .await
        .unwrap();
    assert_eq!(
        both.iter().map(|x| x.content.as_str()).collect::<Vec<_>>(),
        ["first"]
    );
    assert_eq!(both[0].importance, 0.8);
    let feedback = m.query(MemoryQuery::tagged(&["feedback"])).await.unwrap();
    assert_eq!(
        feedback
            .iter()
            .map(|x| x.content.as_str())
            .collect::<Vec<_>>(),
        ["the api runs on port 8080", "first"],
        "newest first"
    );
    let later = m
        .query(MemoryQuery {
            since: Some(T0.after(hours(1))),
            ..MemoryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(later.len(), 2);
    let window = m
        .query(MemoryQuery {
            since: Some(T0),
            until: Some(T0.after(hours(1))),
            ..MemoryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(window.len(), 1);
    let procedural = m
        .query(MemoryQuery {
            kind: Some(MemoryKind::Procedural),
            ..MemoryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(procedural[0].content, "deploy with make release");

    for (bad, field) in [
        (
            NewMemory::new(MemoryKind::Episodic, "x").importance(1.5),
            "importance",
        ),
        (
            NewMemory::new(MemoryKind::Episodic, "x").importance(f64::NAN),
            "importance",
        ),
        (
            NewMemory::new(MemoryKind::Episodic, "x").importance(-0.1),
            "importance",
        ),
        (NewMemory::new(MemoryKind::Episodic, " "), "content"),
        (
            NewMemory::new(MemoryKind::Episodic, "x").tags(&["ok", ""]),
            "metadata.tags[1]",
        ),
    ] {
        let err = m.create(bad).await.unwrap_err();
        assert!(
            matches!(&err, RuntimeError::InvalidInput { field: f, .. } if f == field),
            "{err}"
        );
    }
}

#[tokio::test]
async fn corrections_are_episodic_memories_and_audited() {
    let rig = rig().await;
    let e = running(&rig.rt, "commit").await;
    let memory = rig
        .rt
        .memories()
        .record_correction(Correction {
            execution_id: Some(e.id.clone()),
            principal: p("user:adam"),
            kind: "commit-message".into(),
            action: None,
            original: json!("fix stuff"),
            corrected: json!("Fix the retry loop in the uploader"),
            note: Some("say what was fixed".into()),
        })
        .await
        .unwrap();
    assert_eq!(memory.kind, MemoryKind::Episodic);
    assert_eq!(memory.importance, 0.85);
    assert_eq!(memory.tags, ["commit-message", "correction", "learning"]);
    assert_eq!(
        memory.metadata["corrected"],
        "Fix the retry loop in the uploader"
    );
    let found = rig
        .rt
        .memories()
        .query(MemoryQuery::tagged(&["correction", "learning"]))
        .await
        .unwrap();
    assert_eq!(found, [memory]);
    let log = rig.rt.audit().for_execution(&e.id).await.unwrap();
    assert!(
        log.iter()
            .any(|a| a.kind == AuditKind::Correction && a.principal == Some(p("user:adam")))
    );
}

#[tokio::test]
async fn the_audit_log_tells_an_execution_s_story_and_cannot_be_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let url = crate::common::store_at(&path).await;
    let rt = rekall_policy::runtime::Runtime::builder()
        .store_url(&url)
        .background(false)
        .notifier(std::sync::Arc::new(
            rekall_policy::runtime::RecordingNotifier::new(),
        ))
        .build()
        .await
        .unwrap();
    let e = running(&rt, "story").await;
    rt.execution()
        .checkpoint(&e.id, 1, None, "tests passed")
        .await
        .unwrap();
    let gate = ApprovalSpec::gate("go", StepSpec::new("approval", ps(&["user:adam"])));
    let h = rt.execution().request_approval(&e.id, gate).await.unwrap();
    rt.approvals()
        .approve(h.id(), &p("user:adam"), Some("yes"))
        .await
        .unwrap();
    rt.deliver_notifications().await.unwrap();
    rt.execution()
        .complete(&e.id, json!({"deployedBy": "user:adam"}))
        .await
        .unwrap();

    let log = rt.audit().for_execution(&e.id).await.unwrap();
    let kinds: Vec<AuditKind> = log.iter().map(|a| a.kind).collect();
    use AuditKind::*;
    for k in [
        ExecutionCreated,
        ExecutionState,
        Checkpoint,
        ApprovalRequested,
        Vote,
        ApprovalResolved,
        NotificationSent,
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert!(log.windows(2).all(|w| w[0].seq < w[1].seq), "in order");
    let vote = log.iter().find(|a| a.kind == Vote).unwrap();
    assert_eq!(vote.principal, Some(p("user:adam")));
    assert_eq!(vote.request_id.as_deref(), Some(h.id().as_str()));
    assert_eq!(vote.detail["note"], "yes");
    drop(rt);

    // The store itself refuses to change or delete an entry.
    if url.starts_with("postgres") {
        let conn = crate::postgres::connect(&url).await;
        let update = conn
            .batch_execute("UPDATE audit SET principal = 'user:mallory'")
            .await;
        assert!(format!("{:?}", update.unwrap_err()).contains("append-only"));
        let delete = conn.batch_execute("DELETE FROM audit").await;
        assert!(format!("{:?}", delete.unwrap_err()).contains("append-only"));
        return;
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let update = conn.execute("UPDATE audit SET principal = 'user:mallory'", []);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = conn.execute("DELETE FROM audit", []);
    assert!(delete.unwrap_err().to_string().contains("append-only"));
}
