//! Starting and stopping: the zero-config start, tokens, the configuration's located errors,
//! and a SIGTERM with a waiter in flight, after which a restarted server answers the same.

use std::time::{Duration, Instant};

use serde_json::json;

use rekall_policy::server::auth::{Tokens, hex, sha256};
use rekall_policy::server::config::Config;

use crate::support::*;

#[tokio::test]
async fn sigterm_answers_the_waiter_and_a_restart_keeps_the_request_answerable() {
    let mut s = Server::start("");
    let (exe, approval) = s.gate(BOT, &[ADAM]).await;
    let waiter = {
        let get = s.detached_get(&format!("/v1/approvals/{approval}?wait=60s"), BOT);
        tokio::spawn(async move {
            let started = Instant::now();
            (get.await, started.elapsed())
        })
    };
    // Let the waiter's request reach the server before the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = s.terminate();
    let (r, took) = waiter.await.unwrap();
    assert!(status.success(), "serve ended with {status}");
    assert!(s.stderr().contains("stopped"));
    let r = r.ok(200);
    assert_eq!(r["status"], "pending", "the waiter gets the state it has");
    assert!(
        took < Duration::from_secs(20),
        "answered after {took:?} of a 60s wait"
    );

    let dir = s.into_dir();
    let s = Server::start_in(dir, "");
    let a = s
        .get(&format!("/v1/approvals/{approval}"), ADAM)
        .await
        .ok(200);
    assert_eq!(a["status"], "pending");
    s.post(
        &format!("/v1/approvals/{approval}/approve"),
        ADAM,
        json!({}),
    )
    .await
    .ok(200);
    let r = s
        .get(&format!("/v1/approvals/{approval}?wait=5s"), BOT)
        .await
        .ok(200);
    assert_eq!(r["status"], "approved");
    assert_eq!(
        s.get(&format!("/v1/executions/{exe}"), BOT).await.ok(200)["status"],
        "running"
    );
}

#[tokio::test]
async fn with_no_configuration_serve_prints_an_admin_token_for_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seed_policy();
    let args = [
        "serve",
        "--policy",
        seed.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    let s = Server::spawn(dir, &args, 1);
    let printed = &s.printed[0];
    let token = printed.rsplit(' ').next().unwrap();
    assert!(
        printed.contains("admin token") && token.starts_with("rkl_"),
        "{printed}"
    );
    assert_eq!(token.len(), 4 + 64);
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/v1/executions", s.base))
        .bearer_auth(token)
        .body(r#"{"name": "first try"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(
        s.dir.path().join("rekall.db").exists(),
        "the store is in the working folder"
    );
    let wrong = client
        .get(format!("{}/v1/executions", s.base))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}

#[test]
fn token_new_prints_a_token_and_the_line_that_admits_it() {
    let out = bin()
        .args([
            "token",
            "new",
            "--principal",
            "user:adam",
            "--role",
            "approver",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let token = text
        .lines()
        .next()
        .unwrap()
        .strip_prefix("token: ")
        .unwrap();
    let line = text.lines().last().unwrap();
    assert!(line.contains(&hex(&sha256(token.as_bytes()))), "{line}");
    assert!(
        !line.contains(token),
        "the configuration holds the hash only"
    );
    let config = Config::parse("c.yaml", &format!("tokens:\n{line}\n")).unwrap();
    let caller = Tokens::new(config.tokens).authenticate(token).unwrap();
    assert_eq!(caller.principal.as_str(), "user:adam");
    let bad = bin()
        .args(["token", "new", "--principal", "adam", "--role", "approver"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let bad = bin()
        .args(["token", "new", "--principal", "user:adam", "--role", "god"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`god` is not a role"));
}

#[test]
fn configuration_errors_are_located_and_unknown_keys_refused() {
    let text = "listen: 127.0.0.1:8080\ntokns: []\nlimits: {bodyBytes: 10, maxWait: 2m}\ntokens:\n  - {principal: \"user:adam\", role: boss, sha256: \"abc\"}\n  - {principal: adam, role: agent}\nagents:\n  \"agent:bot\": {mayTighten: true}\n";
    let err = Config::parse("rekall-server.yaml", text).unwrap_err();
    let shown = err.to_string();
    for expected in [
        "rekall-server.yaml:2:1: error: unknown key `tokns` in the server configuration",
        "did you mean `tokens`?",
        "rekall-server.yaml:3:21: error: `bodyBytes` is 10",
        "rekall-server.yaml:3:34: error: `maxWait` is 2m; a wait may be at most 60s",
        "rekall-server.yaml:5:36: error: `boss` is not a role",
        "rekall-server.yaml:5:50: error: `sha256` must be 64 hexadecimal digits",
        "rekall-server.yaml:6:5: error: a token has no `sha256`",
        "rekall-server.yaml:8:17: error: unknown key `mayTighten`",
        "the keys allowed here are: mayTightenPolicy",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in\n{shown}");
    }
    assert!(
        Config::parse("c.yaml", "listen: [1\n")
            .unwrap_err()
            .to_string()
            .starts_with("c.yaml:")
    );
    let ok = Config::parse(
        "c.yaml",
        "listen: 127.0.0.1:9000\nstore: sqlite://x.db\nlimits: {bodyBytes: 4096, maxWait: 30s}\nagents:\n  \"agent:bot\": {mayTightenPolicy: true}\nslack: {botTokenEnv: SLACK_BOT_TOKEN, signingSecretEnv: S, channel: \"#a\", users: {U1: \"user:adam\"}}\nemail: {smtp: \"smtp://127.0.0.1:2525\", from: a@b.c, addresses: {\"user:adam\": adam@b.c}}\nlinkSecretEnv: REKALL_LINK_SECRET\n",
    )
    .unwrap();
    assert_eq!(ok.listen.port(), 9000);
    assert_eq!(ok.limits.body_bytes, 4096);
    assert_eq!(ok.limits.max_wait, Duration::from_secs(30));
    assert!(ok.agents.values().all(|a| a.may_tighten_policy));
    assert_eq!(ok.slack.unwrap().users.len(), 1);
    assert_eq!(ok.email.unwrap().from, "a@b.c");
}

#[test]
fn serve_refuses_a_bad_configuration_with_its_location_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rekall-server.yaml");
    std::fs::write(&path, "policy: p.yaml\nlisten: somewhere\n").unwrap();
    let out = bin()
        .args(["serve", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rekall-server.yaml:2:9: error: `somewhere` is not an address"),
        "{err}"
    );
    let out = bin()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no policy"));
}
