//! Edge limits over real sockets: the per-token rate limit, the request time limit and its
//! keys, and request field lengths from the engine.

use reqwest::Method;
use serde_json::json;

use crate::support::{ADAM, BOT, Server, config_text};

#[tokio::test]
async fn a_token_past_its_rate_gets_429_with_retry_after_and_others_do_not() {
    // A long period: the bucket does not refill during the test.
    let s = Server::start("limits: {ratePerToken: {requests: 3, per: 1h}}\n");
    for _ in 0..3 {
        s.post("/v1/decide", BOT, json!({"action": "read_file"}))
            .await
            .ok(200);
    }
    let r = s
        .post("/v1/decide", BOT, json!({"action": "read_file"}))
        .await;
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(retry, 1200, "one request's worth of an hour over 3");
    let (code, _) = r.error(429);
    assert_eq!(code, "rate_limited");
    // Another token has its own bucket; requests without a token are refused as before.
    s.post("/v1/decide", ADAM, json!({"action": "read_file"}))
        .await
        .ok(200);
    s.call(
        Method::POST,
        "/v1/decide",
        None,
        Some(json!({"action": "x"})),
    )
    .await
    .error(401);
}

#[tokio::test]
async fn without_a_configured_rate_there_is_no_limit() {
    let s = Server::start("");
    for _ in 0..50 {
        s.post("/v1/decide", BOT, json!({"action": "read_file"}))
            .await
            .ok(200);
    }
}

#[tokio::test]
async fn a_long_poll_may_wait_past_the_request_time_limit() {
    let s = Server::start("limits: {requestTimeout: 200ms}\n");
    let (_, id) = s.gate(BOT, &[ADAM]).await;
    let r = s
        .get(&format!("/v1/approvals/{id}?wait=1s"), BOT)
        .await
        .ok(200);
    assert_eq!(r["status"], "pending");
}

#[test]
fn the_limit_keys_are_checked_and_located() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, expect) in [
        ("limits: {requestTimeout: 0s}\n", "must be longer than zero"),
        (
            "limits: {requestTimeout: soon}\n",
            "malformed duration `soon`",
        ),
        (
            "limits: {ratePerToken: {requests: 0, per: 1s}}\n",
            "`requests` must be a whole number of at least 1",
        ),
        (
            "limits: {ratePerToken: {requests: 10}}\n",
            "needs both `requests` and `per`",
        ),
        (
            "limits: {ratePerToken: {requests: 10, per: 1s, burst: 3}}\n",
            "burst",
        ),
    ] {
        let config = dir.path().join("c.yaml");
        std::fs::write(&config, config_text(dir.path(), extra)).unwrap();
        let out = crate::support::bin()
            .args([
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{extra}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{extra}: {err}");
        assert!(err.contains("c.yaml:"), "located: {err}");
    }
}

#[tokio::test]
async fn request_fields_longer_than_the_engine_takes_are_refused_with_their_field() {
    let s = Server::start("");
    let long = "a".repeat(64 * 1024);
    let (code, field) = s
        .post(
            "/v1/decide",
            BOT,
            json!({"action": "read_file", "resource": long}),
        )
        .await
        .error(422);
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("invalid_field", Some("resource"))
    );
}
