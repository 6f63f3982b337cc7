//! `Idempotency-Key`: a retried request has one effect and gets the first answer again, on
//! this server or a restarted one; the same key for another request is refused.

use reqwest::Method;

use crate::support::*;

async fn create(s: &Server, principal: &str, key: &str, body: &str) -> Reply {
    s.raw(
        Method::POST,
        "/v1/executions",
        Some(principal),
        body.to_owned(),
        &[("idempotency-key", key)],
    )
    .await
}

async fn executions(s: &Server, principal: &str) -> usize {
    s.get("/v1/executions", principal).await.ok(200)["items"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_retried_create_runs_once_and_answers_the_first_answer_again() {
    let s = Server::start("");
    let body = r#"{"name": "deploy"}"#;
    let first = create(&s, BOT, "k-1", body).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(!first.headers.contains_key("idempotent-replayed"));
    let again = create(&s, BOT, "k-1", body).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(executions(&s, BOT).await, 1);

    // A refusal is an answer too, and is kept.
    let start = format!(
        "/v1/executions/{}/complete",
        first.body["id"].as_str().unwrap()
    );
    let refused = s
        .raw(
            Method::POST,
            &start,
            Some(BOT),
            "{}",
            &[("idempotency-key", "k-2")],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    let replayed = s
        .raw(
            Method::POST,
            &start,
            Some(BOT),
            "{}",
            &[("idempotency-key", "k-2")],
        )
        .await;
    assert_eq!(
        (replayed.status, &replayed.body),
        (refused.status, &refused.body)
    );
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
}

#[tokio::test]
async fn the_same_key_for_another_body_is_422_and_keys_are_per_principal() {
    let s = Server::start("");
    create(&s, BOT, "k-1", r#"{"name": "deploy"}"#)
        .await
        .ok(201);
    let (code, _) = create(&s, BOT, "k-1", r#"{"name": "other"}"#)
        .await
        .error(422);
    assert_eq!(code, "idempotency_key_reused");
    // The same key on another path is another request too.
    let (code, _) = s
        .raw(
            Method::POST,
            "/v1/memories",
            Some(BOT),
            r#"{"name": "deploy"}"#,
            &[("idempotency-key", "k-1")],
        )
        .await
        .error(422);
    assert_eq!(code, "idempotency_key_reused");
    assert_eq!(executions(&s, BOT).await, 1);

    // Another principal's key of the same name is its own: its request runs.
    let other = create(&s, OTHER_BOT, "k-1", r#"{"name": "deploy"}"#).await;
    assert_eq!(other.status, 201, "{}", other.body);
    assert!(!other.headers.contains_key("idempotent-replayed"));
    assert_eq!(executions(&s, OTHER_BOT).await, 1);
}

#[tokio::test]
async fn a_key_over_255_characters_is_400_naming_the_header() {
    let s = Server::start("");
    let long = "k".repeat(256);
    let r = create(&s, BOT, &long, r#"{"name": "deploy"}"#).await;
    let message = r.body["error"]["message"].as_str().unwrap_or("").to_owned();
    let (code, _) = r.error(400);
    assert_eq!(code, "bad_request");
    assert!(message.contains("Idempotency-Key"), "{message}");
    assert_eq!(executions(&s, BOT).await, 0);
    create(&s, BOT, &"k".repeat(255), r#"{"name": "deploy"}"#)
        .await
        .ok(201);
}

#[tokio::test]
async fn a_replay_survives_a_restart_of_the_server() {
    let mut s = Server::start("");
    let body = r#"{"name": "deploy"}"#;
    let first = create(&s, BOT, "k-restart", body).await.ok(201);
    assert!(s.terminate().success());
    let s = Server::start_in(s.into_dir(), "");
    let again = create(&s, BOT, "k-restart", body).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body, first);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(executions(&s, BOT).await, 1);
}
