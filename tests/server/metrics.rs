//! `/metrics`: the admin's, in Prometheus text; each counter moves by exactly the calls made.

use reqwest::Method;
use serde_json::json;

use crate::support::{ADAM, BOT, ROOT, Server, token};

/// The value of one sample line (`name{labels} value`), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn scrape(s: &Server) -> String {
    let r = reqwest::Client::new()
        .get(format!("{}/metrics", s.base))
        .bearer_auth(token(ROOT))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

#[tokio::test]
async fn only_an_admin_reads_the_metrics() {
    let s = Server::start("");
    let (code, _) = s.call(Method::GET, "/metrics", None, None).await.error(401);
    assert_eq!(code, "unauthenticated");
    for p in [BOT, ADAM] {
        let (code, _) = s
            .call(Method::GET, "/metrics", Some(p), None)
            .await
            .error(403);
        assert_eq!(code, "forbidden");
    }
}

#[tokio::test]
async fn the_counters_move_by_exactly_the_calls_made() {
    let s = Server::start("");
    let before = scrape(&s).await;
    for _ in 0..3 {
        s.post(
            "/v1/decide",
            BOT,
            json!({"action": "read_file", "resource": "a.txt"}),
        )
        .await
        .ok(200);
    }
    let decided = s
        .post(
            "/v1/decide",
            BOT,
            json!({"action": "read_file", "resource": "a.txt"}),
        )
        .await
        .ok(200);
    s.post("/v1/decide", BOT, json!({"action": 5}))
        .await
        .error(422);
    let (_, approval) = s.gate(BOT, &[ADAM]).await;
    s.post(
        &format!("/v1/approvals/{approval}/approve"),
        ADAM,
        json!({}),
    )
    .await
    .ok(200);
    s.post(
        &format!("/v1/approvals/{approval}/approve"),
        ADAM,
        json!({}),
    )
    .await
    .error(409);
    let (_, still_pending) = s.gate(BOT, &[ADAM]).await;
    let after = scrape(&s).await;

    let outcome = decided["outcome"]
        .as_str()
        .or_else(|| decided["hitl"]["outcome"].as_str())
        .map(str::to_owned);
    let total = |text: &str| {
        [
            "auto-approve",
            "notify-and-proceed",
            "request-approval",
            "escalate",
            "deny",
        ]
        .iter()
        .map(|o| sample(text, &format!("rekall_decisions_total{{outcome=\"{o}\"}}")))
        .sum::<f64>()
    };
    assert_eq!(total(&after) - total(&before), 4.0, "{after}");
    if let Some(o) = outcome {
        let series = format!("rekall_decisions_total{{outcome=\"{o}\"}}");
        assert_eq!(
            sample(&after, &series) - sample(&before, &series),
            4.0,
            "{series}"
        );
    }
    let count = "rekall_decision_duration_seconds_count";
    assert_eq!(sample(&after, count) - sample(&before, count), 4.0);
    let http = |route: &str, status: u16| {
        let series = format!("rekall_http_requests_total{{route=\"{route}\",status=\"{status}\"}}");
        sample(&after, &series) - sample(&before, &series)
    };
    assert_eq!(http("/v1/decide", 200), 4.0);
    assert_eq!(http("/v1/decide", 422), 1.0);
    assert_eq!(http("/v1/executions", 201), 2.0);
    assert_eq!(http("/v1/approvals/{id}/approve", 200), 1.0);
    assert_eq!(http("/v1/approvals/{id}/approve", 409), 1.0);
    // One scrape before this one, answered after `before` was read.
    assert_eq!(http("/metrics", 200), 1.0);
    let votes = "rekall_votes_total{choice=\"approve\",counted=\"true\"}";
    assert_eq!(
        sample(&after, votes) - sample(&before, votes),
        1.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, "rekall_pending_approvals"),
        1.0,
        "{still_pending}"
    );
    assert!(after.contains("rekall_notification_attempts_total"));
    assert!(after.contains("rekall_notification_failures_total 0"));
}
