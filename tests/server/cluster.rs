//! Several nodes on one PostgreSQL database, and what happens to them under faults: votes
//! spread over two nodes resolve each request once and wake the waiters of both; a node
//! killed outright in a vote storm loses nothing and its clients get their answers from the
//! other; a database restarted or paused under load gives clear retryable 503s, then the
//! nodes carry on by themselves.
//!
//! Each test has a PostgreSQL cluster of its own (`.ci/postgres`, in a temp folder), since
//! some restart or pause it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// A throwaway PostgreSQL cluster, stopped when dropped.
struct Postgres {
    dir: tempfile::TempDir,
    admin: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/postgres")
}

impl Postgres {
    fn start() -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("bash")
            .arg(script())
            .args(["start"])
            .arg(dir.path())
            .output()
            .expect("bash runs .ci/postgres");
        assert!(
            out.status.success(),
            "a PostgreSQL cluster for the test did not start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let admin = String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .find(|l| l.starts_with("postgres://"))
            .expect(".ci/postgres start prints the admin URL")
            .trim()
            .to_owned();
        Postgres { dir, admin }
    }

    /// A fresh database on the cluster, by URL.
    fn database(&self, name: &str) -> String {
        let status = Command::new("psql")
            .args([&self.admin, "-q", "-c", &format!("CREATE DATABASE {name}")])
            .status()
            .unwrap();
        assert!(status.success(), "CREATE DATABASE {name}");
        let (base, _) = self.admin.rsplit_once('/').unwrap();
        format!("{base}/{name}")
    }

    fn ctl(&self, args: &[&str]) {
        let out = Command::new("bash")
            .arg(script())
            .args(args)
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            ".ci/postgres {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the database and starts it again on the same port and data.
    fn restart(&self) {
        self.ctl(&["restart"]);
    }

    /// SIGSTOP to every process of the cluster: to its clients, a network partition.
    fn pause(&self) {
        self.ctl(&["pause"]);
    }

    fn resume(&self) {
        self.ctl(&["resume"]);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("resume")
            .arg(self.dir.path())
            .output();
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// A node on the store at `url`, with `extra` configuration.
fn node(url: &str, extra: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rekall-server.yaml");
    let text = config_text(dir.path(), extra);
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("store:") {
                format!("store: \"{url}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&config, text).unwrap();
    let args = [
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    Server::spawn(dir, &args, 0)
}

/// A long-poll on `base` that reports a failure instead of failing the test.
fn wait_on(
    base: &str,
    approval: &str,
    wait: &str,
) -> impl std::future::Future<Output = Result<String, String>> + Send + 'static {
    let url = format!("{base}/v1/approvals/{approval}?wait={wait}");
    async move {
        let r = reqwest::Client::new()
            .get(url)
            .bearer_auth(token(BOT))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != StatusCode::OK {
            return Err(format!("the wait answered {}", r.status()));
        }
        let body: Value = r.json().await.map_err(|e| e.to_string())?;
        Ok(body["status"].as_str().unwrap_or("").to_owned())
    }
}

/// A vote as `who` on `base`: its status, or the transport error.
async fn vote(base: &str, approval: &str, who: &str) -> Result<(StatusCode, Value), String> {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/approvals/{approval}/approve"))
        .bearer_auth(token(who))
        .json(&json!({"comment": format!("{who} agrees")}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let body = r.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// The audit entries of an execution, read as the admin.
async fn audit_of(s: &Server, execution: &str) -> Vec<Value> {
    let page = s
        .get(&format!("/v1/audit?executionId={execution}"), ROOT)
        .await
        .ok(200);
    page["items"].as_array().cloned().unwrap_or_default()
}

fn of_kind<'a>(entries: &'a [Value], kind: &str, request: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|e| e["kind"] == kind && e["requestId"] == request)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn votes_spread_over_two_nodes_resolve_each_request_once_and_wake_waiters_on_both() {
    let pg = Postgres::start();
    let url = pg.database("cross_node");
    let a = node(&url, "");
    let b = node(&url, "");
    let nodes = [&a, &b];

    // 200 gates of two votes out of three approvers, made on both nodes.
    let mut gates = Vec::new();
    for i in 0..200 {
        let s = nodes[i % 2];
        let exe = s.running(BOT, "cross-node work").await;
        let req = s
            .post(
                &format!("/v1/executions/{exe}/approvals"),
                BOT,
                json!({"title": "Two of three", "approvers": [ALICE, BOB, CAROL], "minApprovals": 2}),
            )
            .await
            .ok(201);
        gates.push((exe, req["id"].as_str().unwrap().to_owned()));
    }
    // A waiter on each node for every request.
    let mut waiters = Vec::new();
    for (_, id) in &gates {
        for s in nodes {
            waiters.push(tokio::spawn(wait_on(&s.base, id, "60s")));
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Every approver votes on every request at once, alice and carol on one node, bob on the
    // other, alternating.
    let mut votes = Vec::new();
    for (i, (_, id)) in gates.iter().enumerate() {
        for (k, who) in [ALICE, BOB, CAROL].into_iter().enumerate() {
            let base = nodes[(i + k) % 2].base.clone();
            let id = id.clone();
            votes.push(tokio::spawn(async move {
                (id.clone(), who, vote(&base, &id, who).await)
            }));
        }
    }
    let mut counted: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for v in votes {
        let (id, who, result) = v.await.unwrap();
        let (status, body) = result.expect("both nodes are up");
        match status {
            StatusCode::OK => {
                if body["counted"] == true {
                    counted.entry(id).or_default().insert(who);
                }
            }
            // The third vote may find the request resolved by the other two.
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "already_resolved", "{body}"),
            other => panic!("a vote answered {other}: {body}"),
        }
    }
    for w in waiters {
        let status = tokio::time::timeout(Duration::from_secs(90), w)
            .await
            .expect("every waiter is answered")
            .unwrap();
        assert_eq!(status.as_deref(), Ok("approved"));
    }
    for (exe, id) in &gates {
        let audit = audit_of(&a, exe).await;
        assert_eq!(of_kind(&audit, "approval_resolved", id).len(), 1, "{id}");
        let voters: BTreeSet<&str> = of_kind(&audit, "vote", id)
            .iter()
            .map(|v| v["principal"].as_str().unwrap())
            .collect();
        let empty = BTreeSet::new();
        let counted = counted.get(id).unwrap_or(&empty);
        assert_eq!(
            voters.len(),
            counted.len(),
            "{id}: every counted vote is audited"
        );
        assert!(voters.iter().all(|v| counted.contains(v)), "{id}");
        // Read back on the other node: resolved with two of the three.
        let r = b.get(&format!("/v1/approvals/{id}"), ROOT).await.ok(200);
        assert_eq!(r["status"], "approved");
        let by: BTreeSet<&str> = r["approvedBy"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(by.len(), 2, "{r}");
        assert!(by.is_subset(&[ALICE, BOB, CAROL].into_iter().collect()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_in_a_vote_storm_loses_nothing_and_its_clients_get_answers_from_the_other() {
    let pg = Postgres::start();
    let url = pg.database("sigkill_storm");
    let mut a = node(&url, "");
    let b = node(&url, "");
    let mut gates = Vec::new();
    for i in 0..100 {
        let s = if i % 2 == 0 { &a } else { &b };
        gates.push(s.gate(BOT, &[ALICE]).await);
    }
    // Every waiter is a client of the node that dies.
    let waiters: Vec<_> = gates
        .iter()
        .map(|(_, id)| tokio::spawn(wait_on(&a.base, id, "60s")))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (a_base, b_base) = (a.base.clone(), b.base.clone());
    let storm: Vec<_> = gates
        .iter()
        .enumerate()
        .map(|(i, (_, id))| {
            let first = if i % 2 == 0 {
                a_base.clone()
            } else {
                b_base.clone()
            };
            let (other, id) = (b_base.clone(), id.clone());
            tokio::spawn(async move {
                // Spread over a little time, so that the kill falls in the middle.
                tokio::time::sleep(Duration::from_millis(5 * i as u64)).await;
                match vote(&first, &id, ALICE).await {
                    Ok((status, body))
                        if status == StatusCode::OK || status == StatusCode::CONFLICT =>
                    {
                        (status, body)
                    }
                    // The node died under the vote: the client tries the other node.
                    _ => vote(&other, &id, ALICE)
                        .await
                        .expect("the other node is up"),
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(250)).await;
    a.kill();
    for v in storm {
        let (status, body) = v.await.unwrap();
        // A retried vote may find its first attempt counted: the request is resolved.
        assert!(
            status == StatusCode::OK
                || (status == StatusCode::CONFLICT && body["error"]["code"] == "already_resolved"),
            "{status}: {body}"
        );
    }
    // The dead node's waiters ask again on the other node and get their answer.
    for (w, (_, id)) in waiters.into_iter().zip(&gates) {
        let status = match w.await.unwrap() {
            Ok(status) => status,
            Err(_) => wait_on(&b.base, id, "30s")
                .await
                .expect("the other node answers"),
        };
        assert_eq!(status, "approved", "{id}");
    }
    for (exe, id) in &gates {
        let audit = audit_of(&b, exe).await;
        assert_eq!(
            of_kind(&audit, "vote", id).len(),
            1,
            "{id}: one vote, counted once"
        );
        assert_eq!(of_kind(&audit, "approval_resolved", id).len(), 1, "{id}");
        let r = b.get(&format!("/v1/approvals/{id}"), ROOT).await.ok(200);
        assert_eq!(r["approvedBy"], json!([ALICE]), "{r}");
    }
}

/// Statuses seen while a loop creates executions, and whether each 503 said to retry.
async fn creating_executions(base: String, until: Instant) -> Vec<(StatusCode, Value, bool)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut seen = Vec::new();
    while Instant::now() < until {
        let r = client
            .post(format!("{base}/v1/executions"))
            .bearer_auth(token(BOT))
            .json(&json!({"name": "under load"}))
            .send()
            .await
            .expect("the node itself stays up");
        let status = r.status();
        let retry = r.headers().contains_key("retry-after");
        let body = r.json().await.unwrap_or(Value::Null);
        seen.push((status, body, retry));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

/// Asks until a request succeeds again, for at most `within`.
async fn recovers(s: &Server, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let r = s
            .post("/v1/executions", BOT, json!({"name": "after"}))
            .await;
        if r.status == StatusCode::CREATED {
            return started.elapsed();
        }
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
        assert!(
            started.elapsed() < within,
            "the node did not recover by itself"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn only_created_or_retryable(seen: &[(StatusCode, Value, bool)]) -> usize {
    let mut unavailable = 0;
    for (status, body, retry) in seen {
        match *status {
            StatusCode::CREATED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(retry, "a 503 says when to retry: {body}");
                assert!(body["error"]["code"].is_string(), "{body}");
                unavailable += 1;
            }
            other => panic!("under a database fault a request answered {other}: {body}"),
        }
    }
    unavailable
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restarted_under_load_gives_retryable_503s_then_the_node_recovers_by_itself() {
    let pg = Postgres::start();
    let url = pg.database("restart_load");
    let s = node(&url, "");
    let (exe, id) = s.gate(BOT, &[ADAM]).await;
    let load = tokio::spawn(creating_executions(
        s.base.clone(),
        Instant::now() + Duration::from_secs(6),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg.restart();
    let seen = load.await.unwrap();
    only_created_or_retryable(&seen);
    recovers(&s, Duration::from_secs(30)).await;
    // What was there before is still there, and a waiter parked now is woken by a vote.
    let waiter = tokio::spawn(wait_on(&s.base, &id, "30s"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.post(&format!("/v1/approvals/{id}/approve"), ADAM, json!({}))
        .await
        .ok(200);
    assert_eq!(waiter.await.unwrap().as_deref(), Ok("approved"));
    let e = s.get(&format!("/v1/executions/{exe}"), BOT).await.ok(200);
    assert_eq!(e["status"], "running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_paused_longer_than_the_request_timeout_gives_503s_then_everything_carries_on() {
    let pg = Postgres::start();
    let url = pg.database("partition");
    let s = node(&url, "limits: {requestTimeout: 2s}\n");
    let (_, id) = s.gate(BOT, &[ADAM]).await;
    pg.pause();
    let started = Instant::now();
    let r = s
        .post("/v1/executions", BOT, json!({"name": "cut off"}))
        .await;
    let answered = started.elapsed();
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    // Answered by the request timeout, not left hanging (with a wide margin: this is a bound
    // on hanging, not a timing).
    assert!(answered < Duration::from_secs(20), "{answered:?}");
    let vote = s
        .post(&format!("/v1/approvals/{id}/approve"), ADAM, json!({}))
        .await;
    assert_eq!(
        vote.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        vote.body
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.resume();
    recovers(&s, Duration::from_secs(30)).await;
    // The vote that timed out either took effect or not; asked again, it counts once.
    let again = s
        .post(&format!("/v1/approvals/{id}/approve"), ADAM, json!({}))
        .await;
    assert!(
        again.status == StatusCode::OK
            || (again.status == StatusCode::CONFLICT
                && again.body["error"]["code"] == "already_resolved"),
        "{:?}",
        again.body
    );
    let r = s.get(&format!("/v1/approvals/{id}"), ROOT).await.ok(200);
    assert_eq!(r["status"], "approved");
    assert_eq!(r["approvedBy"], json!([ADAM]));
}

#[test]
fn bench_cluster_runs_nodes_on_one_store_and_checks_every_request_it_made() {
    let url = crate::postgres::fresh_database_blocking();
    let out = bin()
        .args([
            "bench",
            "--cluster",
            "--store",
            &url,
            "--nodes",
            "2",
            "--seconds",
            "1",
            "--agents",
            "4",
            "--clients",
            "2",
            "--format",
            "json",
        ])
        .arg(seed_policy())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["nodes"], 2);
    let inv = &report["invariants"];
    let made = inv["requests"].as_u64().unwrap();
    assert!(made > 0, "{report}");
    assert_eq!(report["roundTrips"]["completed"].as_u64(), Some(made));
    for counted in [
        "resolvedOnce",
        "votesByListed",
        "votesInAudit",
        "waitersAnswered",
    ] {
        assert_eq!(inv[counted].as_u64(), Some(made), "{counted}: {report}");
    }
    assert_eq!(inv["violations"], json!([]));
    assert!(report["decideAllNodes"]["requests"].as_u64().unwrap() > 0);
}

#[test]
fn bench_cluster_refuses_a_store_the_nodes_cannot_share() {
    let out = bin()
        .args([
            "bench",
            "--cluster",
            "--store",
            "sqlite://one.db",
            "--seconds",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("postgres:// URL"), "{err}");
}
