//! Idempotency records: the first answer kept for (principal, key), replayed for the same
//! request, refused for another, one winner among racing first requests, and expiry.

use std::sync::Arc;

use rekall_policy::model::{MAX_KEY_CHARS, RETENTION_MS, Timestamp, request_hash};
use rekall_policy::runtime::{Claim, IdempotencyError, ManualClock, Runtime};
use rekall_policy::store::{self, KeyClaim, Store, StoreError};

use crate::common::{T0, p, rig};

fn body(name: &str) -> Vec<u8> {
    format!("{{\"name\":\"{name}\"}}").into_bytes()
}

fn hash(name: &str) -> String {
    request_hash("POST", "/v1/executions", &body(name))
}

async fn fresh(
    rt: &Runtime,
    principal: &str,
    key: &str,
    name: &str,
) -> rekall_policy::model::IdempotencyRecord {
    match rt
        .idempotency()
        .claim(&p(principal), key, &hash(name))
        .await
        .unwrap()
    {
        Claim::Fresh(claim) => claim,
        other => panic!("expected a fresh claim, got {other:?}"),
    }
}

#[tokio::test]
async fn the_same_key_and_body_get_the_first_answer_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::store_at(&dir.path().join("keys.db")).await;
    let open = || async {
        Runtime::builder()
            .store_url(&url)
            .background(false)
            .build()
            .await
            .unwrap()
    };
    {
        let rt = open().await;
        let claim = fresh(&rt, "agent:bot", "k1", "deploy").await;
        rt.idempotency()
            .remember(&claim, 201, b"{\"id\":\"exe_1\"}".to_vec())
            .await
            .unwrap();
    }
    let rt = open().await;
    let again = rt
        .idempotency()
        .claim(&p("agent:bot"), "k1", &hash("deploy"))
        .await
        .unwrap();
    let Claim::Replay(answer) = again else {
        panic!("{again:?}")
    };
    assert_eq!(
        (answer.status, answer.body.as_slice()),
        (201, &b"{\"id\":\"exe_1\"}"[..])
    );
    let record = rt
        .idempotency()
        .lookup(&p("agent:bot"), "k1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.request_hash, hash("deploy"));
    assert_eq!(record.response, Some(answer));
}

#[tokio::test]
async fn the_same_key_with_another_body_is_told_apart_and_keys_are_per_principal() {
    let rig = rig().await;
    let rt = &rig.rt;
    let claim = fresh(rt, "agent:bot", "k1", "deploy").await;
    // While the first runs, the same request waits its turn and another is refused.
    let running = rt
        .idempotency()
        .claim(&p("agent:bot"), "k1", &hash("deploy"))
        .await
        .unwrap();
    assert_eq!(running, Claim::InFlight { since: T0 });
    rt.idempotency()
        .remember(&claim, 200, b"{}".to_vec())
        .await
        .unwrap();
    let other = rt
        .idempotency()
        .claim(&p("agent:bot"), "k1", &hash("rollback"))
        .await
        .unwrap();
    assert_eq!(other, Claim::Reused { first_at: T0 });
    // Another path or method with the same body is another request too.
    let put = request_hash("PUT", "/v1/executions", &body("deploy"));
    assert!(matches!(
        rt.idempotency()
            .claim(&p("agent:bot"), "k1", &put)
            .await
            .unwrap(),
        Claim::Reused { .. }
    ));
    // The key is the caller's: another principal's `k1` is its own.
    fresh(rt, "agent:other", "k1", "rollback").await;
    // A second answer for one claim is not kept over the first.
    let lost = rt.idempotency().remember(&claim, 500, b"x".to_vec()).await;
    assert!(
        matches!(lost, Err(IdempotencyError::ClaimLost { .. })),
        "{lost:?}"
    );
    let kept = rt
        .idempotency()
        .lookup(&p("agent:bot"), "k1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.response.unwrap().status, 200);
}

#[tokio::test]
async fn a_released_claim_lets_the_retry_run() {
    let rig = rig().await;
    let rt = &rig.rt;
    let claim = fresh(rt, "agent:bot", "k1", "deploy").await;
    assert!(rt.idempotency().release(&claim).await.unwrap());
    assert!(!rt.idempotency().release(&claim).await.unwrap());
    assert_eq!(
        rt.idempotency()
            .lookup(&p("agent:bot"), "k1")
            .await
            .unwrap(),
        None
    );
    let retry = fresh(rt, "agent:bot", "k1", "deploy").await;
    // The old claim cannot answer for the new one.
    rig.clock.advance(rekall_policy::ir::Duration(1));
    let newer = {
        assert!(rt.idempotency().release(&retry).await.unwrap());
        fresh(rt, "agent:bot", "k1", "deploy").await
    };
    let stale = rt.idempotency().remember(&retry, 201, vec![]).await;
    assert!(
        matches!(stale, Err(IdempotencyError::ClaimLost { .. })),
        "{stale:?}"
    );
    rt.idempotency()
        .remember(&newer, 201, b"new".to_vec())
        .await
        .unwrap();
}

#[tokio::test]
async fn keys_are_one_to_255_characters() {
    let rig = rig().await;
    let rt = &rig.rt;
    let longest: String = "é".repeat(MAX_KEY_CHARS);
    fresh(rt, "agent:bot", &longest, "a").await;
    for key in [String::new(), "k".repeat(MAX_KEY_CHARS + 1)] {
        let err = rt
            .idempotency()
            .claim(&p("agent:bot"), &key, &hash("a"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, IdempotencyError::BadKey { chars } if chars == key.chars().count()),
            "{err}"
        );
        assert!(err.to_string().contains("1 to 255 characters"), "{err}");
        assert!(
            rt.idempotency()
                .lookup(&p("agent:bot"), &key)
                .await
                .is_err()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_racing_first_requests_exactly_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::store_at(&dir.path().join("race.db")).await;
    let mut nodes = Vec::new();
    for _ in 0..2 {
        nodes.push(
            Runtime::builder()
                .store_url(&url)
                .background(false)
                .build()
                .await
                .unwrap(),
        );
    }
    for round in 0..5 {
        let key = format!("race-{round}");
        let mut tasks = Vec::new();
        for i in 0..12 {
            let rt = nodes[i % 2].clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                rt.idempotency()
                    .claim(&p("agent:bot"), &key, &hash("deploy"))
                    .await
                    .unwrap()
            }));
        }
        let mut claims = Vec::new();
        for t in tasks {
            claims.push(t.await.unwrap());
        }
        let winners: Vec<_> = claims
            .iter()
            .filter_map(|c| match c {
                Claim::Fresh(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {claims:?}");
        assert!(
            claims
                .iter()
                .all(|c| matches!(c, Claim::Fresh(_) | Claim::InFlight { .. })),
            "{claims:?}"
        );
        nodes[0]
            .idempotency()
            .remember(&winners[0], 201, b"once".to_vec())
            .await
            .unwrap();
        for node in &nodes {
            let again = node
                .idempotency()
                .claim(&p("agent:bot"), &key, &hash("deploy"))
                .await
                .unwrap();
            assert!(
                matches!(again, Claim::Replay(ref r) if r.body == b"once"),
                "{again:?}"
            );
        }
    }
}

#[tokio::test]
async fn records_are_kept_24_hours_and_pruned_after() {
    let clock = ManualClock::at(T0);
    let rt = Runtime::builder()
        .store_url(&crate::postgres::store_url_or("sqlite::memory:").await)
        .clock(Arc::new(clock.clone()))
        .background(false)
        .build()
        .await
        .unwrap();
    let first = fresh(&rt, "agent:bot", "old", "a").await;
    rt.idempotency()
        .remember(&first, 201, b"first".to_vec())
        .await
        .unwrap();
    clock.advance(rekall_policy::ir::Duration(3_600_000));
    let later = fresh(&rt, "agent:bot", "new", "a").await;
    rt.idempotency()
        .remember(&later, 201, b"later".to_vec())
        .await
        .unwrap();

    // One millisecond before its 24 hours, the first answer still stands...
    clock.set(Timestamp(T0.0 + RETENTION_MS - 1));
    assert!(matches!(
        rt.idempotency()
            .claim(&p("agent:bot"), "old", &hash("a"))
            .await
            .unwrap(),
        Claim::Replay(_)
    ));
    assert_eq!(rt.idempotency().prune().await.unwrap(), 0);
    // ...and at 24 hours it is gone, pruned or not: the key is new again.
    clock.set(Timestamp(T0.0 + RETENTION_MS));
    assert_eq!(
        rt.idempotency()
            .lookup(&p("agent:bot"), "old")
            .await
            .unwrap(),
        None
    );
    assert!(
        rt.idempotency()
            .lookup(&p("agent:bot"), "new")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(rt.idempotency().prune().await.unwrap(), 1);
    assert_eq!(
        rt.store()
            .idempotency_record(&p("agent:bot"), "old")
            .await
            .unwrap(),
        None
    );
    assert!(
        rt.store()
            .idempotency_record(&p("agent:bot"), "new")
            .await
            .unwrap()
            .is_some()
    );
    // Expired but not yet pruned: a claim replaces it.
    let n = T0.0 + 3_600_000 + RETENTION_MS;
    clock.set(Timestamp(n));
    fresh(&rt, "agent:bot", "new", "b").await;
    // The background loop's prune runs at most hourly: half an hour after one, an expired
    // record is left for the next.
    let half_hour = 1_800_000;
    clock.set(Timestamp(n + RETENTION_MS - half_hour));
    assert_eq!(rt.idempotency().prune_if_due().await.unwrap(), 0);
    clock.set(Timestamp(n + RETENTION_MS));
    assert_eq!(rt.idempotency().prune_if_due().await.unwrap(), 0);
    let left = rt
        .store()
        .idempotency_record(&p("agent:bot"), "new")
        .await
        .unwrap();
    assert!(left.is_some());
    clock.set(Timestamp(n + RETENTION_MS + half_hour));
    assert_eq!(rt.idempotency().prune_if_due().await.unwrap(), 1);
}

/// The store's part, for any store.
async fn contract(s: Arc<dyn Store>) {
    let bot = p("agent:bot");
    let gone = Timestamp(T0.0 - RETENTION_MS);
    let claimed = s
        .claim_idempotency_key(&bot, "k", "h1", T0, gone)
        .await
        .unwrap();
    let KeyClaim::Claimed(claim) = claimed else {
        panic!("{claimed:?}")
    };
    assert_eq!(claim.response, None);
    let taken = s
        .claim_idempotency_key(&bot, "k", "h2", T0, gone)
        .await
        .unwrap();
    assert_eq!(taken, KeyClaim::Taken(claim.clone()));
    let answer = rekall_policy::model::StoredResponse {
        status: 201,
        body: vec![0, 159, 146, 150],
    };
    s.answer_idempotency_key(&claim, answer.clone())
        .await
        .unwrap();
    let err = s
        .answer_idempotency_key(&claim, answer.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    let record = s.idempotency_record(&bot, "k").await.unwrap().unwrap();
    assert_eq!(record.response, Some(answer));
    assert!(
        !s.release_idempotency_key(&claim).await.unwrap(),
        "an answered key stays"
    );
    // A claim at a time when the record has expired replaces it.
    let later = Timestamp(T0.0 + RETENTION_MS);
    let replaced = s
        .claim_idempotency_key(&bot, "k", "h2", later, Timestamp(T0.0 + 1))
        .await
        .unwrap();
    assert!(
        matches!(replaced, KeyClaim::Claimed(ref r) if r.request_hash == "h2"),
        "{replaced:?}"
    );
    assert_eq!(s.prune_idempotency(later).await.unwrap(), 0);
    assert_eq!(
        s.prune_idempotency(Timestamp(later.0 + 1)).await.unwrap(),
        1
    );
    assert_eq!(s.idempotency_record(&bot, "k").await.unwrap(), None);
}

#[tokio::test]
async fn the_postgres_store_keeps_the_idempotency_contract() {
    let url = crate::postgres::fresh_database().await;
    contract(store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_idempotency_contract() {
    contract(store::open("sqlite::memory:").await.unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    contract(store::open(&url).await.unwrap()).await;
}
