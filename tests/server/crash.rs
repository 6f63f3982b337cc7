//! Crash safety: a server killed outright (SIGKILL) with approvals pending and clients
//! waiting loses nothing, and one stopped gracefully closes its store, leaving no `-wal` or
//! `-shm` file beside it.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

/// A long-poll that reports a connection cut instead of failing the test.
fn wait_on(
    s: &Server,
    approval: &str,
    wait: &str,
) -> tokio::task::JoinHandle<Result<String, String>> {
    let url = format!("{}/v1/approvals/{approval}?wait={wait}", s.base);
    tokio::spawn(async move {
        let r = reqwest::Client::new()
            .get(url)
            .bearer_auth(token(BOT))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
        Ok(body["status"].as_str().unwrap_or("").to_owned())
    })
}

#[tokio::test]
async fn after_a_sigkill_every_pending_approval_is_answerable_and_a_retried_wait_gets_it() {
    let mut s = Server::start("");
    let mut approvals = Vec::new();
    for _ in 0..3 {
        approvals.push(s.gate(BOT, &[ADAM]).await.1);
    }
    let waiters: Vec<_> = approvals.iter().map(|a| wait_on(&s, a, "60s")).collect();
    // Let the waiters' requests reach the server before it dies.
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.kill();
    for w in waiters {
        let cut = w.await.unwrap();
        assert!(
            cut.is_err(),
            "a waiter was answered by a killed server: {cut:?}"
        );
    }

    let s = Server::start_in(s.into_dir(), "");
    let pending = s.get("/v1/approvals?status=pending", ADAM).await.ok(200);
    let mut listed: Vec<&str> = pending["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut expected: Vec<&str> = approvals.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected, "every approval is still pending");

    // Each client waits again; each vote wakes its waiter with the resolution.
    for (i, a) in approvals.iter().enumerate() {
        let waiter = wait_on(&s, a, "30s");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (verb, status) = if i % 2 == 0 {
            ("approve", "approved")
        } else {
            ("reject", "rejected")
        };
        let vote = s
            .post(&format!("/v1/approvals/{a}/{verb}"), ADAM, json!({}))
            .await
            .ok(200);
        assert_eq!(vote["counted"], true);
        assert_eq!(waiter.await.unwrap().unwrap(), status);
    }
}

#[tokio::test]
async fn a_graceful_stop_closes_the_store_without_a_wal_left_beside_it() {
    if crate::postgres::skip_on_postgres("about SQLite's -wal and -shm files") {
        return;
    }
    let mut s = Server::start("");
    s.gate(BOT, &[ADAM]).await;
    let db = s.dir.path().join("rekall.db");
    let beside = |suffix: &str| db.with_file_name(format!("rekall.db{suffix}"));
    assert!(beside("-wal").exists(), "the store runs in WAL mode");
    assert!(s.terminate().success());
    for suffix in ["-wal", "-shm"] {
        assert!(
            !beside(suffix).exists(),
            "{suffix} left after a graceful stop"
        );
    }
    // And the store opens again with what was written.
    let s = Server::start_in(s.into_dir(), "");
    let pending = s.get("/v1/approvals?status=pending", ADAM).await.ok(200);
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
}
