//! What only the PostgreSQL store needs checked beyond the shared contract (`store`): its
//! migrations under racing nodes, what it refuses, the votes' key, leases, `changes()` across
//! two store instances and across a killed listening connection, races through two instances,
//! and unavailability. The votes' key and leases are checked on SQLite too, for parity.

use std::sync::Arc;
use std::time::Duration;

use rekall_policy::front::Language;
use rekall_policy::model::{AuditEntry, AuditKind, Choice, NewPolicyVersion, Timestamp, Vote};
use rekall_policy::store::{self, AuditFilter, Expected, Store, StoreError, Transaction, Write};
use serde_json::json;

use crate::common::{T0, p};
use crate::postgres::{admin, connect, fresh_database};
use crate::store::{approval, conflict, execution};

async fn pg() -> (String, Arc<dyn Store>) {
    let url = fresh_database().await;
    let s = store::open(&url).await.expect("a PostgreSQL store");
    (url, s)
}

fn db_name(url: &str) -> String {
    url.rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

/// Waits (with a deadline) until the counter moves past `seen`; its new value.
async fn moved(rx: &mut tokio::sync::watch::Receiver<u64>, seen: u64, what: &str) -> u64 {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let now = *rx.borrow_and_update();
            if now != seen {
                return now;
            }
            rx.changed().await.expect("the store is alive");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: changes() did not move within 20s"))
}

#[tokio::test]
async fn racing_openers_migrate_once() {
    let url = fresh_database().await;
    let opens = (0..4).map(|_| store::open(&url));
    for opened in futures_util::future::join_all(opens).await {
        opened.expect("every opener gets the store");
    }
    let c = connect(&url).await;
    let rows = c
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let versions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn another_database_is_refused_unchanged() {
    let url = fresh_database().await;
    let c = connect(&url).await;
    c.batch_execute("CREATE TABLE users (id INTEGER)")
        .await
        .unwrap();
    let err = store::open(&url).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NotAStore { tables, .. } if tables == &["users"]),
        "{err}"
    );
    let rows = c
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "nothing was added");
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_read_only_access_never_migrates() {
    let url = fresh_database().await;
    assert!(
        matches!(
            store::open_read_only(&url).await,
            Err(StoreError::EmptyFile { .. })
        ),
        "an empty database is not read as a store"
    );
    assert!(
        matches!(
            store::open_existing(&url).await,
            Err(StoreError::EmptyFile { .. })
        ),
        "nor opened as an existing one"
    );
    let c = connect(&url).await;
    let tables: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "neither created anything");

    let s = store::open(&url).await.unwrap();
    let e = execution();
    s.commit(Transaction {
        writes: vec![Write::Execution(e.clone(), Expected::New)],
        ..Default::default()
    })
    .await
    .unwrap();
    let reader = store::open_read_only(&url).await.unwrap();
    assert!(reader.execution(&e.id).await.unwrap().is_some());
    let refused = reader
        .commit(Transaction {
            writes: vec![Write::Execution(execution(), Expected::New)],
            ..Default::default()
        })
        .await;
    assert!(refused.is_err(), "a read-only store writes nothing");

    c.execute(
        "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)",
        &[],
    )
    .await
    .unwrap();
    let err = store::open(&url).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::SchemaTooNew {
            found: 99,
            supported: 5
        }
    );
}

#[tokio::test]
async fn the_audit_log_and_policy_versions_refuse_changes() {
    let (url, s) = pg().await;
    s.append_audit(vec![AuditEntry::new(AuditKind::Vote, T0, json!({}))])
        .await
        .unwrap();
    let c = connect(&url).await;
    assert!(
        c.batch_execute("UPDATE audit SET kind = 'x'")
            .await
            .is_err()
    );
    assert!(c.batch_execute("DELETE FROM audit").await.is_err());
    assert!(c.batch_execute("TRUNCATE audit").await.is_err());
    assert_eq!(s.audit(AuditFilter::default()).await.unwrap().len(), 1);
    let version = NewPolicyVersion {
        language: Language::Yaml,
        text: "t".into(),
        name: None,
        principal: p("user:root"),
        request_id: None,
        created_at: T0,
        summary: "s".into(),
        rollback_of: None,
    };
    s.append_policy_version(version, None, vec![])
        .await
        .unwrap();
    for change in [
        "UPDATE policy_versions SET text = 'x'",
        "DELETE FROM policy_versions",
        "TRUNCATE policy_versions",
    ] {
        let refused = c.batch_execute(change).await.unwrap_err();
        assert!(
            format!("{refused:?}").contains("append-only"),
            "{change}: {refused:?}"
        );
    }
    assert_eq!(s.policy_version(None).await.unwrap().unwrap().text, "t");
}

#[tokio::test]
async fn a_corrupt_record_is_an_error_not_a_guess() {
    let (url, s) = pg().await;
    let e = execution();
    s.commit(Transaction {
        writes: vec![Write::Execution(e.clone(), Expected::New)],
        ..Default::default()
    })
    .await
    .unwrap();
    connect(&url)
        .await
        .batch_execute("UPDATE executions SET body = '{\"id\": 1}'")
        .await
        .unwrap();
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

/// A caller that counts one principal's vote twice on one step is refused by the store.
async fn a_second_vote_by_one_principal_is_never_stored(s: Arc<dyn Store>) {
    let e = execution();
    let mut a = approval(&e);
    a.steps[0].spec.approvers.push(p("user:bea"));
    a.steps[0].spec.min_approvals = 2;
    s.commit(Transaction {
        writes: vec![Write::Approval(a.clone(), Expected::New)],
        ..Default::default()
    })
    .await
    .unwrap();
    a.vote(&p("user:adam"), Choice::Approve, None, T0).unwrap();
    s.commit(Transaction {
        writes: vec![Write::Approval(a.clone(), Expected::Version(1))],
        ..Default::default()
    })
    .await
    .unwrap();
    // A buggy caller appends adam's vote again instead of going through `vote`.
    let mut twice = a.clone();
    twice.steps[0].votes.push(Vote {
        principal: p("user:adam"),
        choice: Choice::Approve,
        note: None,
        at: T0,
    });
    let refused = s
        .commit(Transaction {
            writes: vec![Write::Approval(twice, Expected::Version(2))],
            audit: vec![AuditEntry::new(AuditKind::Vote, T0, json!({}))],
            ..Default::default()
        })
        .await;
    match refused {
        Err(StoreError::Conflict {
            record: "vote", id, ..
        }) => {
            assert!(id.contains("user:adam"), "{id}")
        }
        other => panic!("expected the vote's key to refuse it, got {other:?}"),
    }
    let stored = s.approval(&a.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 2, "nothing of the refused write was stored");
    assert_eq!(stored.record.steps[0].votes.len(), 1);
    assert!(s.audit(AuditFilter::default()).await.unwrap().is_empty());
    // Another principal's vote still goes in.
    a.vote(&p("user:bea"), Choice::Approve, None, T0).unwrap();
    s.commit(Transaction {
        writes: vec![Write::Approval(a.clone(), Expected::Version(2))],
        ..Default::default()
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_votes_key_refuses_a_duplicate_on_postgres() {
    a_second_vote_by_one_principal_is_never_stored(pg().await.1).await;
}

#[tokio::test]
async fn the_votes_key_refuses_a_duplicate_on_sqlite() {
    a_second_vote_by_one_principal_is_never_stored(store::open("sqlite::memory:").await.unwrap())
        .await;
}

async fn leases_pass_on_only_after_expiry(s: Arc<dyn Store>) {
    let at = |ms: i64| Timestamp(T0.0 + ms);
    assert!(
        s.lease("deadlines", "node-a", at(0), at(10_000))
            .await
            .unwrap()
    );
    assert!(
        !s.lease("deadlines", "node-b", at(5_000), at(15_000))
            .await
            .unwrap()
    );
    assert!(
        s.lease("deadlines", "node-a", at(6_000), at(16_000))
            .await
            .unwrap(),
        "the holder renews"
    );
    assert!(
        !s.lease("deadlines", "node-b", at(15_999), at(30_000))
            .await
            .unwrap()
    );
    assert!(
        s.lease("deadlines", "node-b", at(16_000), at(30_000))
            .await
            .unwrap(),
        "an expired lease is taken over"
    );
    assert!(
        !s.lease("deadlines", "node-a", at(17_000), at(40_000))
            .await
            .unwrap()
    );
    assert!(
        s.lease("reminders", "node-a", at(17_000), at(40_000))
            .await
            .unwrap(),
        "leases are kept by name"
    );
}

#[tokio::test]
async fn a_lease_is_taken_over_after_expiry_on_postgres() {
    leases_pass_on_only_after_expiry(pg().await.1).await;
}

#[tokio::test]
async fn a_lease_is_taken_over_after_expiry_on_sqlite() {
    leases_pass_on_only_after_expiry(store::open("sqlite::memory:").await.unwrap()).await;
}

#[tokio::test]
async fn racing_lease_takers_on_two_instances_get_one_holder() {
    let (url, one) = pg().await;
    let two = store::open(&url).await.unwrap();
    let tries = (0..16).map(|i| {
        let s = if i % 2 == 0 { one.clone() } else { two.clone() };
        async move {
            s.lease(
                "deadlines",
                &format!("node-{i}"),
                T0,
                Timestamp(T0.0 + 1000),
            )
            .await
            .unwrap()
        }
    });
    let won = futures_util::future::join_all(tries).await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
}

#[tokio::test]
async fn a_commit_on_one_instance_wakes_the_other() {
    let (url, one) = pg().await;
    let two = store::open(&url).await.unwrap();
    let mut rx = two
        .changes()
        .expect("PostgreSQL tells of other processes' commits");
    let seen = *rx.borrow_and_update();
    one.commit(Transaction {
        writes: vec![Write::Execution(execution(), Expected::New)],
        ..Default::default()
    })
    .await
    .unwrap();
    moved(&mut rx, seen, "a commit on the other instance").await;
    let seen = *rx.borrow_and_update();
    one.spend_token("email", "t", T0, T0).await.unwrap();
    one.lease("deadlines", "a", T0, T0).await.unwrap();
    one.append_audit(vec![AuditEntry::new(AuditKind::Vote, T0, json!({}))])
        .await
        .unwrap();
    moved(&mut rx, seen, "an audit entry on the other instance").await;
}

#[tokio::test]
async fn the_listener_reconnects_after_its_connection_is_killed() {
    let (url, one) = pg().await;
    let two = store::open(&url).await.unwrap();
    let mut rx = two.changes().unwrap();
    let seen = *rx.borrow_and_update();
    let killed: i64 = admin()
        .await
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = $1 AND query LIKE 'LISTEN%'",
            &[&db_name(&url)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 2, "both instances' listeners");
    // Once back it bumps, since anything may have changed meanwhile...
    let back = moved(&mut rx, seen, "the reconnect").await;
    // ...and it hears commits again (waiting until its LISTEN is in place again).
    let heard = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            one.append_audit(vec![AuditEntry::new(AuditKind::Vote, T0, json!({}))])
                .await
                .unwrap();
            if tokio::time::timeout(Duration::from_millis(500), rx.changed())
                .await
                .is_ok()
                && *rx.borrow_and_update() != back
            {
                return;
            }
        }
    })
    .await;
    assert!(
        heard.is_ok(),
        "the listener hears commits after reconnecting"
    );
}

#[tokio::test]
async fn racing_versioned_writes_through_two_instances_have_one_winner_per_version() {
    let (url, one) = pg().await;
    let two = store::open(&url).await.unwrap();
    let mut e = execution();
    one.commit(Transaction {
        writes: vec![Write::Execution(e.clone(), Expected::New)],
        ..Default::default()
    })
    .await
    .unwrap();
    for version in 1..=5u64 {
        let writes = (0..12).map(|i| {
            let s = if i % 2 == 0 { one.clone() } else { two.clone() };
            let mut mine = e.clone();
            mine.name = format!("writer {i} at {version}");
            async move {
                s.commit(Transaction {
                    writes: vec![Write::Execution(mine, Expected::Version(version))],
                    audit: vec![AuditEntry::new(AuditKind::Vote, T0, json!({"i": i}))],
                    ..Default::default()
                })
                .await
            }
        });
        let results = futures_util::future::join_all(writes).await;
        let won: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_ok())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(won.len(), 1, "version {version}: {results:?}");
        for r in results.into_iter().filter(|r| r.is_err()) {
            assert_eq!(conflict(r), Some(version));
        }
        let stored = two.execution(&e.id).await.unwrap().unwrap();
        assert_eq!(stored.version, version + 1);
        assert_eq!(
            stored.record.name,
            format!("writer {} at {version}", won[0])
        );
        e = stored.record;
    }
    let log = one.audit(AuditFilter::default()).await.unwrap();
    assert_eq!(log.len(), 5, "only the winners' audit entries");
    assert!(log.windows(2).all(|w| w[0].seq < w[1].seq));
}

#[tokio::test]
async fn concurrent_appends_are_numbered_uniquely_and_in_order() {
    let (url, one) = pg().await;
    let two = store::open(&url).await.unwrap();
    let appends = (0..40).map(|i| {
        let s = if i % 2 == 0 { one.clone() } else { two.clone() };
        async move {
            s.append_audit(vec![
                AuditEntry::new(AuditKind::Vote, T0, json!({"i": i, "n": 0})),
                AuditEntry::new(AuditKind::Vote, T0, json!({"i": i, "n": 1})),
            ])
            .await
        }
    });
    for r in futures_util::future::join_all(appends).await {
        r.unwrap();
    }
    let log = one.audit(AuditFilter::default()).await.unwrap();
    assert_eq!(log.len(), 80);
    assert!(log.windows(2).all(|w| w[0].seq < w[1].seq));
    for pair in log.chunks(2) {
        assert_eq!(
            pair[0].detail["i"], pair[1].detail["i"],
            "a batch stays together"
        );
        assert_eq!(pair[0].detail["n"], 0);
    }
    // Two writers of the next policy version: exactly one numbers it.
    let version = |by: &str| NewPolicyVersion {
        language: Language::Yaml,
        text: "t".into(),
        name: None,
        principal: p(by),
        request_id: None,
        created_at: T0,
        summary: "s".into(),
        rollback_of: None,
    };
    let (a, b) = tokio::join!(
        one.append_policy_version(version("user:adam"), None, vec![]),
        two.append_policy_version(version("user:bea"), None, vec![])
    );
    assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
    assert_eq!(
        one.policy_version(None)
            .await
            .unwrap()
            .unwrap()
            .info
            .version,
        1
    );
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error_that_never_shows_the_password() {
    // Port 1 on the loopback: nothing listens there.
    let err = store::open("postgres://app:s3cret@127.0.0.1:1/rekall")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Open { .. }), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("app:***@127.0.0.1:1"), "{text}");
}

#[tokio::test]
async fn killed_connections_fail_as_unavailable_then_recover_by_themselves() {
    let (url, s) = pg().await;
    let e = execution();
    s.commit(Transaction {
        writes: vec![Write::Execution(e.clone(), Expected::New)],
        ..Default::default()
    })
    .await
    .unwrap();
    // Several connections in the pool, all of them killed.
    for read in futures_util::future::join_all((0..8).map(|_| s.execution(&e.id))).await {
        read.unwrap();
    }
    admin()
        .await
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db_name(&url)],
        )
        .await
        .unwrap();
    let mut failures = Vec::new();
    let recovered = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match s.execution(&e.id).await {
                Ok(found) => return found,
                Err(err) => {
                    assert!(err.is_unavailable(), "{err}");
                    failures.push(err);
                }
            }
        }
    })
    .await
    .expect("the store recovers without help");
    assert!(recovered.is_some());
    assert!(
        failures.len() <= 1,
        "one failed call, then the dead connections are forgotten: {failures:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_migrate_creates_a_postgres_store_once() {
    let url = fresh_database().await;
    let migrate = |url: String| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
                .args(["store", "migrate", "--store", &url])
                .output()
                .unwrap()
        })
    };
    let out = migrate(url.clone()).await.unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("new store at schema version 5"), "{said}");
    let out = migrate(url.clone()).await.unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("already at schema version 5"), "{said}");
    // A database of something else is refused in one line, and a password never shown.
    let other = fresh_database().await;
    connect(&other)
        .await
        .batch_execute("CREATE TABLE users (id INTEGER)")
        .await
        .unwrap();
    let with_password = other.replacen("postgres@", "postgres:hunter2@", 1);
    let out = migrate(with_password).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not a rekall store") && err.contains("users"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2") && err.contains("postgres:***@"),
        "{err}"
    );
}

#[tokio::test]
async fn tls_asked_for_is_never_dropped_to_plain_text() {
    // The test cluster has no TLS: a URL that asks for it gets no connection at all.
    let url = fresh_database().await;
    let err = store::open(&format!("{url}?sslmode=require"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    let plain = store::open(&format!("{url}?sslmode=disable")).await;
    assert!(plain.is_ok(), "{plain:?}");
}

/// Sends SIGCONT to a stopped process when dropped, so that a failing test does not leave a
/// database backend stopped.
struct Resume(i32);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

#[tokio::test]
async fn a_database_that_stops_answering_fails_calls_as_unavailable_instead_of_holding_them() {
    let url = fresh_database().await;
    let s = store::open(&format!("{url}?statement_timeout=300ms&pool_size=1"))
        .await
        .unwrap();
    s.next_due().await.unwrap();
    let rows = admin()
        .await
        .query(
            "SELECT pid FROM pg_stat_activity
             WHERE datname = $1 AND backend_type = 'client backend' AND query NOT LIKE 'LISTEN%'",
            &[&db_name(&url)],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the pool's one connection");
    let pid: i32 = rows[0].get(0);
    // A stopped backend is a database that accepted the connection and never answers: its
    // own statement timeout cannot fire, so only the store's bound on the call ends it.
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let resume = Resume(pid);
    let answer = tokio::time::timeout(Duration::from_secs(30), s.next_due())
        .await
        .expect("the call is given up by the store, not held");
    match answer {
        Err(e) => assert!(e.is_unavailable(), "{e}"),
        Ok(found) => panic!("a stopped database answered: {found:?}"),
    }
    drop(resume);
    // The connection it gave up is not reused; the next call gets a new one.
    let again = tokio::time::timeout(Duration::from_secs(30), s.next_due())
        .await
        .expect("the store answers again");
    assert_eq!(again, Ok(None));
}
