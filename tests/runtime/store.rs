//! The contract of a `Store`, checked against every backend: the SQLite store in memory and
//! on a file, and the PostgreSQL store on a fresh database (see `store_postgres` for what
//! only PostgreSQL needs checked).

use std::sync::Arc;

use rekall_policy::Outcome;
use rekall_policy::model::Binding;
use rekall_policy::model::{
    ApprovalRequest, AuditEntry, AuditKind, Execution, ExecutionConfig, Grant, Memory, MemoryId,
    MemoryKind, MemoryQuery, Notification, NotificationId, NotificationKind, StepSpec, Timestamp,
};
use rekall_policy::store::{
    self, AuditFilter, Delivery, Due, Expected, Store, StoreError, Transaction, Write,
};
use serde_json::json;

use crate::common::{T0, hours, p, ps};
use crate::postgres;

pub fn execution() -> Execution {
    Execution::new(
        "contract".into(),
        ExecutionConfig::default(),
        p("agent:test"),
        T0,
    )
}

pub fn approval(e: &Execution) -> ApprovalRequest {
    ApprovalRequest::new(
        e.id.clone(),
        e.agent.clone(),
        "gate".into(),
        String::new(),
        vec![StepSpec::new("approval", ps(&["user:adam"])).timeout(hours(1))],
        false,
        T0,
    )
}

fn note(at: Timestamp) -> Notification {
    Notification {
        id: NotificationId::generate(),
        kind: NotificationKind::ApprovalRequested,
        recipients: ps(&["user:adam"]),
        channels: vec!["email".into()],
        title: "t".into(),
        message: "m".into(),
        priority: None,
        execution_id: None,
        request_id: None,
        created_at: at,
    }
}

fn memory(tags: &[&str], at: Timestamp) -> Memory {
    Memory {
        id: MemoryId::generate(),
        kind: MemoryKind::Semantic,
        content: tags.join("+"),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        metadata: Default::default(),
        importance: 0.5,
        execution_id: None,
        created_at: at,
    }
}

pub fn conflict(r: Result<(), StoreError>) -> Option<u64> {
    match r {
        Err(StoreError::Conflict { expected, .. }) => expected,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn contract(s: Arc<dyn Store>) {
    // Versioned writes: insert once, update only from the version read.
    let mut e = execution();
    let insert = Transaction {
        writes: vec![Write::Execution(e.clone(), Expected::New)],
        ..Default::default()
    };
    s.commit(insert.clone()).await.unwrap();
    assert_eq!(
        conflict(s.commit(insert).await),
        None,
        "a second insert conflicts"
    );
    let read = s.execution(&e.id).await.unwrap().unwrap();
    assert_eq!((read.version, &read.record), (1, &e));
    e.name = "renamed".into();
    let update = |x: &Execution, v| Transaction {
        writes: vec![Write::Execution(x.clone(), Expected::Version(v))],
        ..Default::default()
    };
    s.commit(update(&e, 1)).await.unwrap();
    let mut stale = e.clone();
    stale.name = "lost update".into();
    assert_eq!(conflict(s.commit(update(&stale, 1)).await), Some(1));
    let read = s.execution(&e.id).await.unwrap().unwrap();
    assert_eq!((read.version, read.record.name.as_str()), (2, "renamed"));

    // All or nothing: a stale write takes the whole transaction's appends with it.
    let a = approval(&e);
    let audit_before = s.audit(AuditFilter::default()).await.unwrap().len();
    let mixed = Transaction {
        writes: vec![
            Write::Approval(a.clone(), Expected::New),
            Write::Execution(stale.clone(), Expected::Version(1)),
        ],
        audit: vec![AuditEntry::new(AuditKind::Vote, T0, json!({}))],
        memories: vec![memory(&["lost"], T0)],
        notifications: vec![note(T0)],
        ..Default::default()
    };
    assert_eq!(conflict(s.commit(mixed).await), Some(1));
    assert!(s.approval(&a.id).await.unwrap().is_none());
    assert_eq!(
        s.audit(AuditFilter::default()).await.unwrap().len(),
        audit_before
    );
    assert!(
        s.memories(MemoryQuery::tagged(&["lost"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.claim_notifications(T0, T0.after(hours(1)), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Deadlines are found by query.
    s.commit(Transaction {
        writes: vec![Write::Approval(a.clone(), Expected::New)],
        ..Default::default()
    })
    .await
    .unwrap();
    let deadline = T0.after(hours(1));
    assert_eq!(s.next_due().await.unwrap(), Some(deadline));
    assert!(s.due(Timestamp(deadline.0 - 1)).await.unwrap().is_empty());
    assert_eq!(
        s.due(deadline).await.unwrap(),
        [Due::Approval(a.id.clone())]
    );
    let mut resolved = a.clone();
    resolved.cancel("done".into(), T0).unwrap();
    s.commit(Transaction {
        writes: vec![Write::Approval(resolved, Expected::Version(1))],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.next_due().await.unwrap(),
        None,
        "a resolved request has no deadline"
    );
    assert!(s.due(deadline.after(hours(9))).await.unwrap().is_empty());

    // Grants: only unused ones are offered.
    let binding = Binding {
        action: "deploy".into(),
        resource: "prod".into(),
        confidence: None,
        context: json!({}),
        context_hash: "h".into(),
        policy_version: "v".into(),
        decision_fingerprint: "f".into(),
        outcome: Outcome::RequestApproval,
    };
    let mut g = Grant::issue(
        a.id.clone(),
        e.id.clone(),
        &binding,
        vec![p("user:adam")],
        T0,
    );
    s.commit(Transaction {
        writes: vec![Write::Grant(g.clone(), Expected::New)],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.unused_grants(&e.id, "deploy", "prod", "h")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.unused_grants(&e.id, "deploy", "prod", "other")
            .await
            .unwrap()
            .is_empty()
    );
    g.used_at = Some(T0);
    s.commit(Transaction {
        writes: vec![Write::Grant(g.clone(), Expected::Version(1))],
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(
        s.unused_grants(&e.id, "deploy", "prod", "h")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.grant(&g.id).await.unwrap().unwrap().record.used_at,
        Some(T0)
    );

    // The outbox: leased, retried after a failure, never again once sent.
    let n = note(T0);
    s.commit(Transaction {
        notifications: vec![n.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let lease = T0.after(hours(1));
    let claimed = s.claim_notifications(T0, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 0);
    assert!(
        s.claim_notifications(T0, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    let retry_at = T0.after(hours(2));
    let entry = AuditEntry::new(AuditKind::NotificationFailed, T0, json!({}));
    s.settle_notification(
        &n.id,
        Delivery::Failed {
            error: "down".into(),
            retry_at: Some(retry_at),
            delivered: vec!["email user:adam".into()],
        },
        entry,
    )
    .await
    .unwrap();
    assert_eq!(s.next_notification().await.unwrap(), Some(retry_at));
    assert!(
        s.claim_notifications(T0.after(hours(1)), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = s
        .claim_notifications(retry_at, retry_at.after(hours(1)), 10)
        .await
        .unwrap();
    assert_eq!(again[0].attempts, 1);
    assert_eq!(
        again[0].delivered,
        ["email user:adam"],
        "what succeeded is kept for the retry"
    );
    assert_eq!(
        again[0].notification, n,
        "the notification reads back unchanged"
    );
    let entry = AuditEntry::new(AuditKind::NotificationSent, retry_at, json!({}));
    s.settle_notification(&n.id, Delivery::Sent, entry)
        .await
        .unwrap();
    assert_eq!(s.next_notification().await.unwrap(), None);
    assert!(
        s.claim_notifications(retry_at.after(hours(9)), retry_at.after(hours(10)), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The audit log reads in order, filtered and paged.
    let mine = |k| {
        AuditEntry::new(k, T0, json!({"k": 1}))
            .execution(&e.id)
            .request("apr_x")
            .by(&p("user:adam"))
    };
    s.append_audit(vec![
        mine(AuditKind::Vote),
        mine(AuditKind::ApprovalResolved),
    ])
    .await
    .unwrap();
    let log = s
        .audit(AuditFilter {
            execution: Some(e.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        log.iter().map(|x| x.kind).collect::<Vec<_>>(),
        [AuditKind::Vote, AuditKind::ApprovalResolved]
    );
    assert_eq!(log[0].principal, Some(p("user:adam")));
    assert_eq!(log[0].detail, json!({"k": 1}));
    let later = s
        .audit(AuditFilter {
            after_seq: Some(log[0].seq),
            execution: Some(e.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    let votes = s
        .audit(AuditFilter {
            kind: Some("vote".into()),
            request: Some("apr_x".into()),
            limit: Some(5),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(votes.len(), 1);

    // Memories: every tag must match; newest first; time windows.
    let early = memory(&["a", "b"], T0);
    let late = memory(&["a"], T0.after(hours(1)));
    s.commit(Transaction {
        memories: vec![early.clone(), late.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.memories(MemoryQuery::tagged(&["a"])).await.unwrap(),
        [late.clone(), early.clone()]
    );
    assert_eq!(
        s.memories(MemoryQuery::tagged(&["a", "b"])).await.unwrap(),
        [early]
    );
    let window = MemoryQuery {
        tags: vec!["a".into()],
        since: Some(T0.after(hours(1))),
        ..Default::default()
    };
    assert_eq!(s.memories(window).await.unwrap(), [late]);

    // A server key is made once: whoever asks later gets the first one, not their candidate.
    let first = s.server_secret("links", vec![1; 32], T0).await.unwrap();
    assert_eq!(first, vec![1; 32]);
    let again = s
        .server_secret("links", vec![2; 32], T0.after(hours(1)))
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(
        s.server_secret("sessions", vec![3; 32], T0).await.unwrap(),
        vec![3; 32],
        "keys are kept by name"
    );

    // A single-use token is spent once, per scope; after its record expires it may be
    // forgotten (its own expiry refuses it by then).
    let until = T0.after(hours(2));
    assert!(s.spend_token("email", "tok1", T0, until).await.unwrap());
    assert!(
        !s.spend_token("email", "tok1", T0.after(hours(1)), until)
            .await
            .unwrap()
    );
    assert!(s.spend_token("slack", "tok1", T0, until).await.unwrap());
    let spends = (0..8).map(|_| s.spend_token("email", "raced", T0, until));
    let won = futures_util::future::join_all(spends).await;
    assert_eq!(
        won.iter().filter(|w| matches!(w, Ok(true))).count(),
        1,
        "{won:?}"
    );
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_contract_in_memory() {
    contract(store::open("sqlite::memory:").await.unwrap()).await;
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_contract_on_a_file() {
    let dir = tempfile::tempdir().unwrap();
    contract(
        store::open(&format!("sqlite://{}", dir.path().join("c.db").display()))
            .await
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn the_postgres_store_keeps_the_contract() {
    let url = postgres::fresh_database().await;
    let s = store::open(&url).await.unwrap();
    contract(s.clone()).await;
    s.close().await.unwrap();
    assert_eq!(s.next_due().await, Err(StoreError::Closed));
}

#[tokio::test]
async fn migrations_run_once_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema.db");
    let url = format!("sqlite://{}", path.display());
    let s = store::open(&url).await.unwrap();
    let e = execution();
    s.commit(Transaction {
        writes: vec![Write::Execution(e.clone(), Expected::New)],
        ..Default::default()
    })
    .await
    .unwrap();
    drop(s);
    // Reopening migrates nothing and keeps the data.
    let s = store::open(&url).await.unwrap();
    assert!(s.execution(&e.id).await.unwrap().is_some());
    drop(s);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)",
            [],
        )
        .unwrap();
    }
    let err = store::open(&url).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::SchemaTooNew {
            found: 99,
            supported: 5
        }
    );
    assert!(err.to_string().contains("upgrade rekall-policy"));
}

#[tokio::test]
async fn a_corrupt_record_is_an_error_not_a_guess() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.db");
    let url = format!("sqlite://{}", path.display());
    let s = store::open(&url).await.unwrap();
    let e = execution();
    s.commit(Transaction {
        writes: vec![Write::Execution(e.clone(), Expected::New)],
        ..Default::default()
    })
    .await
    .unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("UPDATE executions SET body = '{\"id\": 1}'", [])
            .unwrap();
    }
    let err = s.execution(&e.id).await.unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Corrupt {
                record: "execution",
                ..
            }
        ),
        "{err}"
    );
}
