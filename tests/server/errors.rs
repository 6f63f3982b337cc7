//! Every error answers the contract's body with the right status and, when one field is at
//! fault, its JSON path; hostile bodies get a clear 4xx, never a 5xx.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn bodies_that_are_not_json_or_not_the_shape_are_400_naming_the_field() {
    let s = Server::start("");
    let post = |body: &'static str| s.raw(Method::POST, "/v1/executions", Some(BOT), body, &[]);
    let (code, _) = post("{not json").await.error(400);
    assert_eq!(code, "bad_json");
    let (code, _) = post("[1, 2]").await.error(400);
    assert_eq!(code, "bad_json");
    let (code, field) = post(r#"{"name": "a", "name": "b"}"#).await.error(400);
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("bad_json", Some("name"))
    );
    let (_, field) =
        post(r#"{"name": "a", "config": {"onFailure": "pause", "onFailure": "fail"}}"#)
            .await
            .error(400);
    assert_eq!(field.as_deref(), Some("config.onFailure"));
    let (code, field) = post(r#"{"name": "a", "confg": {}}"#).await.error(400);
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("bad_request", Some("confg"))
    );
    let (code, field) = post(r#"{"name": 5}"#).await.error(400);
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("bad_request", Some("name"))
    );
    let (code, field) = post(r#"{"name": "a", "config": {"onFailure": "explode"}}"#)
        .await
        .error(422);
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("invalid_field", Some("config.onFailure"))
    );
    let (code, field) = post(r#"{"name": "  "}"#).await.error(422);
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("invalid_field", Some("name"))
    );
}

#[tokio::test]
async fn invalid_values_are_422_with_their_json_path() {
    let s = Server::start("");
    let exe = s.running(BOT, "x").await;
    let approvals = format!("/v1/executions/{exe}/approvals");
    let (_, field) = s
        .post(
            &approvals,
            BOT,
            json!({"title": "t", "chain": [
            {"step": "one", "approvers": [ADAM]}, {"step": "two", "approvers": ["carol"]}]}),
        )
        .await
        .error(422);
    assert_eq!(field.as_deref(), Some("chain[1].approvers[0]"));
    let (_, field) = s
        .post(
            &approvals,
            BOT,
            json!({"title": "t", "approvers": [ADAM], "minApprovals": 2}),
        )
        .await
        .error(422);
    assert_eq!(field.as_deref(), Some("minApprovals"));
    let (_, field) = s
        .post(
            &approvals,
            BOT,
            json!({"title": "t", "approvers": [ADAM], "timeout": "soon"}),
        )
        .await
        .error(422);
    assert_eq!(field.as_deref(), Some("timeout"));
    let (_, field) = s
        .post(
            &approvals,
            BOT,
            json!({"title": "t", "approvers": [ADAM], "priority": "urgent"}),
        )
        .await
        .error(422);
    assert_eq!(field.as_deref(), Some("priority"));
    let (_, field) = s
        .post(
            &format!("/v1/executions/{exe}/escalation-check"),
            BOT,
            json!({"action": "deploy", "confidence": 1.5}),
        )
        .await
        .error(422);
    assert_eq!(field.as_deref(), Some("confidence"));
    let (_, field) = s
        .post(
            "/v1/decide",
            BOT,
            json!({"action": "deploy", "confidnce": 0.5}),
        )
        .await
        .error(422);
    assert_eq!(field.as_deref(), Some("confidnce"));
    let (_, field) = s
        .post(
            &format!("/v1/executions/{exe}/feedback"),
            BOT,
            json!({"title": "t", "form": {"fields": [
            {"name": "q", "type": "rating", "label": "Q", "min": 5, "max": 1}]}}),
        )
        .await
        .error(422);
    assert_eq!(field.as_deref(), Some("form.fields[0].min"));
    let (_, field) = s
        .post(
            "/v1/memories",
            BOT,
            json!({"content": "c", "importance": 3}),
        )
        .await
        .error(422);
    assert_eq!(field.as_deref(), Some("importance"));
    let (_, field) = s
        .get("/v1/executions?status=sleeping", BOT)
        .await
        .error(422);
    assert_eq!(field.as_deref(), Some("status"));
    let (code, field) = s.get("/v1/executions?colour=red", BOT).await.error(400);
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("bad_request", Some("colour"))
    );
}

#[tokio::test]
async fn transitions_and_resolutions_are_409() {
    let s = Server::start("");
    let (exe, approval) = s.gate(BOT, &[ADAM]).await;
    let (code, _) = s
        .post(&format!("/v1/executions/{exe}/start"), BOT, json!({}))
        .await
        .error(409);
    assert_eq!(code, "invalid_transition");
    let (code, _) = s
        .post(&format!("/v1/executions/{exe}/resume"), BOT, json!({}))
        .await
        .error(409);
    assert_eq!(
        code, "invalid_transition",
        "a paused execution waiting for people resumes when they answer"
    );
    s.post(
        &format!("/v1/approvals/{approval}/reject"),
        ADAM,
        json!({"reason": "not today"}),
    )
    .await
    .ok(200);
    let (code, _) = s
        .post(
            &format!("/v1/approvals/{approval}/approve"),
            ADAM,
            json!({}),
        )
        .await
        .error(409);
    assert_eq!(code, "already_resolved");
    let a = s
        .get(&format!("/v1/approvals/{approval}"), BOT)
        .await
        .ok(200);
    assert_eq!(
        (a["status"].as_str(), a["reason"].as_str()),
        (Some("rejected"), Some("not today"))
    );
    s.post(
        &format!("/v1/executions/{exe}/cancel"),
        BOT,
        json!({"reason": "done"}),
    )
    .await
    .ok(200);
    let (code, _) = s
        .post(&format!("/v1/executions/{exe}/complete"), BOT, json!({}))
        .await
        .error(409);
    assert_eq!(code, "invalid_transition");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_unknown_routes_are_json_404s() {
    let s = Server::start("limits: {bodyBytes: 2048, maxWait: 5s}\n");
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(4096));
    let (code, _) = s
        .raw(Method::POST, "/v1/executions", Some(BOT), big, &[])
        .await
        .error(413);
    assert_eq!(code, "too_large");
    // Without a declared length, the limit holds all the same.
    let status = chunked_post(&s.base, "/v1/executions", &token(BOT), &"x".repeat(512), 8);
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    let (_, field) = s.get("/v1/approvals/apr_x?wait=6s", BOT).await.error(422);
    assert_eq!(field.as_deref(), Some("wait"));
    let (code, _) = s.get("/v1/nothing-here", BOT).await.error(404);
    assert_eq!(code, "not_found");
    s.call(Method::DELETE, "/v1/executions", Some(BOT), None)
        .await
        .error(405);
}

/// Posts `count` chunks of `chunk` with `Transfer-Encoding: chunked` over a plain socket, and
/// gives back the status line.
fn chunked_post(base: &str, path: &str, token: &str, chunk: &str, count: usize) -> String {
    use std::io::{BufRead, BufReader, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    for _ in 0..count {
        // The server may answer and close before every chunk is sent.
        if write!(stream, "{:x}\r\n{chunk}\r\n", chunk.len()).is_err() {
            break;
        }
    }
    let _ = write!(stream, "0\r\n\r\n");
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line
}

#[tokio::test]
async fn hostile_bodies_get_a_clear_4xx_never_a_5xx() {
    let s = Server::start("");
    let exe = s.running(BOT, "x").await;
    let deep_array = "[".repeat(100_000) + &"]".repeat(100_000);
    let deep_object = r#"{"a":"#.repeat(50_000) + "1" + &"}".repeat(50_000);
    let nested_in_field = format!(
        r#"{{"name": "x", "config": {}}}"#,
        "[".repeat(5000) + &"]".repeat(5000)
    );
    let many_keys = format!(
        "{{{}}}",
        (0..20_000)
            .map(|i| format!(r#""k{i}":{i}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    let duplicate_deep = r#"{"name":"x","config":{"a":{"b":1,"b":2}}}"#.to_owned();
    let control = "{\"name\": \"\u{0}\u{1}\"}".to_owned();
    let huge_action = format!(r#"{{"action": "{}"}}"#, "a".repeat(200_000));
    let bad_utf8: Vec<u8> = vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'];
    let check = format!("/v1/executions/{exe}/escalation-check");
    let paths: Vec<(&str, Vec<u8>)> = vec![
        ("/v1/executions", deep_array.clone().into_bytes()),
        ("/v1/executions", deep_object.into_bytes()),
        ("/v1/executions", nested_in_field.into_bytes()),
        ("/v1/executions", many_keys.into_bytes()),
        ("/v1/executions", duplicate_deep.into_bytes()),
        ("/v1/executions", control.into_bytes()),
        ("/v1/executions", bad_utf8),
        ("/v1/decide", huge_action.clone().into_bytes()),
        (&check, huge_action.into_bytes()),
        ("/v1/memories", deep_array.into_bytes()),
    ];
    for (path, body) in paths {
        let r = s.raw(Method::POST, path, Some(BOT), body, &[]).await;
        assert!(
            r.status.is_client_error(),
            "{path}: {} {}",
            r.status,
            r.body
        );
        let status = r.status.as_u16();
        r.error(status);
    }
    // The server is still there.
    assert_eq!(
        s.get(&format!("/v1/executions/{exe}"), BOT).await.ok(200)["status"],
        "running"
    );
}

/// A store that cannot take a write (another process holds it locked past the store's wait)
/// answers 503 `unavailable` with `Retry-After`, changes nothing, and the same call succeeds
/// once the store is free again.
#[tokio::test]
async fn a_store_that_cannot_write_is_503_with_retry_after_and_nothing_changed() {
    if crate::postgres::skip_on_postgres(
        "about SQLite's file lock (see a_postgres_store_that_does_not_answer_in_time_is_503)",
    ) {
        return;
    }
    let s = Server::start("");
    let db = s.dir.path().join("rekall.db");
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (free_tx, free_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        locked_tx.send(()).unwrap();
        // Held until the server has answered the write it could not make.
        let _ = free_rx.recv();
        conn.execute_batch("ROLLBACK").unwrap();
    });
    locked_rx.recv().unwrap();
    let reply = s
        .post("/v1/executions", BOT, json!({"name": "while locked"}))
        .await;
    let retry = reply.headers.get("retry-after").cloned();
    let (code, _) = reply.error(503);
    assert_eq!(code, "unavailable");
    assert!(retry.is_some(), "503 without Retry-After");
    free_tx.send(()).unwrap();
    holder.join().unwrap();

    let listed = s.get("/v1/executions", BOT).await.ok(200);
    assert_eq!(listed["items"], json!([]), "{listed}");
    s.post("/v1/executions", BOT, json!({"name": "after"}))
        .await
        .ok(201);
}

/// A PostgreSQL store that does not answer within its statement timeout (here a table held
/// locked by another session) answers 503 `unavailable` with `Retry-After: 1`,
/// changes nothing, and the same call succeeds once the database answers again.
#[tokio::test]
async fn a_postgres_store_that_does_not_answer_in_time_is_503() {
    let dir = tempfile::tempdir().unwrap();
    let url = use_postgres(dir.path());
    std::fs::write(
        dir.path().join("postgres-url"),
        format!("{url}?statement_timeout=300ms"),
    )
    .unwrap();
    let s = Server::start_in(dir, "");
    let mut locker = crate::postgres::connect(&url).await;
    let lock = locker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE executions IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let reply = s
        .post("/v1/executions", BOT, json!({"name": "while locked"}))
        .await;
    let retry = reply.headers.get("retry-after").cloned();
    let (code, _) = reply.error(503);
    assert_eq!(code, "unavailable");
    assert_eq!(retry.as_ref().and_then(|v| v.to_str().ok()), Some("1"));
    lock.rollback().await.unwrap();

    let listed = s.get("/v1/executions", BOT).await.ok(200);
    assert_eq!(listed["items"], json!([]), "{listed}");
    s.post("/v1/executions", BOT, json!({"name": "after"}))
        .await
        .ok(201);
}
