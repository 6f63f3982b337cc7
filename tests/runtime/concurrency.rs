//! Exactly-once resolution under concurrent votes. The votes race through two runtimes on
//! one SQLite file (two connections, as two processes would have), so what keeps the count
//! right is the store's versioned transaction, not a lock in one process.

use std::collections::BTreeSet;
use std::sync::Arc;

use rekall_policy::model::{ApprovalStatus, AuditKind, StepSpec, VoteError};
use rekall_policy::runtime::{ApprovalSpec, ManualClock, Runtime, RuntimeError};
use rekall_policy::store::AuditFilter;

use crate::common::{T0, p, ps, running};

#[derive(Debug)]
enum Result_ {
    Counted(String, ApprovalStatus),
    Ignored,
    Unauthorized(String),
    Late,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_racing_votes_resolve_once_with_exactly_the_listed_distinct_voters() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::store_at(&dir.path().join("race.db")).await;
    let clock = Arc::new(ManualClock::at(T0));
    let open = || async {
        Runtime::builder()
            .store_url(&url)
            .clock(clock.clone())
            .background(false)
            .notifier(Arc::new(rekall_policy::runtime::RecordingNotifier::new()))
            .build()
            .await
            .unwrap()
    };
    let (one, two) = (open().await, open().await);

    let listed = ["user:a1", "user:a2", "user:a3", "user:a4", "user:a5"];
    let e = running(&one, "race").await;
    let gate = ApprovalSpec::gate(
        "race",
        StepSpec::new("approval", ps(&listed)).min_approvals(2),
    );
    let h = one.execution().request_approval(&e.id, gate).await.unwrap();
    let id = h.id().clone();

    // 32 voters: each listed approver twice (10), 22 strangers.
    let mut voters: Vec<String> = listed
        .iter()
        .flat_map(|v| [v.to_string(), v.to_string()])
        .collect();
    voters.extend((0..22).map(|i| format!("user:stranger{i}")));
    assert_eq!(voters.len(), 32);

    let start = Arc::new(tokio::sync::Barrier::new(voters.len()));
    let mut tasks = Vec::new();
    for (i, voter) in voters.into_iter().enumerate() {
        let rt = if i % 2 == 0 { one.clone() } else { two.clone() };
        let id = id.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            match rt.approvals().approve(&id, &p(&voter), None).await {
                Ok(r) if r.counted => Result_::Counted(voter, r.status),
                Ok(_) => Result_::Ignored,
                Err(RuntimeError::Vote(VoteError::NotAnApprover { .. })) => {
                    Result_::Unauthorized(voter)
                }
                Err(RuntimeError::Vote(VoteError::AlreadyResolved { .. })) => Result_::Late,
                Err(other) => panic!("{voter}: unexpected error {other}"),
            }
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }

    let resolving: Vec<&Result_> = results
        .iter()
        .filter(|r| matches!(r, Result_::Counted(_, ApprovalStatus::Approved)))
        .collect();
    assert_eq!(resolving.len(), 1, "exactly one vote resolves: {results:?}");
    let unauthorized: BTreeSet<&str> = results
        .iter()
        .filter_map(|r| match r {
            Result_::Unauthorized(v) => Some(v.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        unauthorized.len(),
        22,
        "every stranger got an authorization error"
    );
    assert!(unauthorized.iter().all(|v| v.starts_with("user:stranger")));

    let req = one.approvals().get(&id).await.unwrap();
    assert_eq!(req.status, ApprovalStatus::Approved);
    let counted: Vec<String> = req.steps[0]
        .votes
        .iter()
        .map(|v| v.principal.to_string())
        .collect();
    let distinct: BTreeSet<&String> = counted.iter().collect();
    assert_eq!(
        counted.len(),
        2,
        "the quorum, and not a vote more: {counted:?}"
    );
    assert_eq!(distinct.len(), 2, "distinct voters: {counted:?}");
    assert!(counted.iter().all(|v| listed.contains(&v.as_str())));
    let reported: Vec<String> = results
        .iter()
        .filter_map(|r| match r {
            Result_::Counted(v, _) => Some(v.clone()),
            _ => None,
        })
        .collect();
    let mut reported_sorted = reported.clone();
    reported_sorted.sort();
    let mut counted_sorted = counted.clone();
    counted_sorted.sort();
    assert_eq!(
        reported_sorted, counted_sorted,
        "callers told `counted` are the stored votes"
    );

    // One resolution in the log, and the execution resumed once.
    let resolved = one
        .audit()
        .query(AuditFilter {
            request: Some(id.to_string()),
            kind: Some(AuditKind::ApprovalResolved.as_str().into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(resolved.len(), 1);
    let outcome = h.wait().await.unwrap();
    assert_eq!(outcome.approved_by.len(), 2);
    assert_eq!(
        two.execution().get(&e.id).await.unwrap().status,
        rekall_policy::model::ExecutionStatus::Running
    );
}
