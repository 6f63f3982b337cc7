//! Who may do what: tokens, roles, and the rule that a read of what is not the caller's is a
//! 404, as if it did not exist.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_missing_or_unknown_token_is_401_without_saying_which() {
    let s = Server::start("");
    let none = s.call(Method::GET, "/v1/executions", None, None).await;
    let bodies: Vec<serde_json::Value> = vec![
        none.body.clone(),
        s.raw(
            Method::GET,
            "/v1/executions",
            None,
            "",
            &[("authorization", "Bearer tok-user:nobody")],
        )
        .await
        .body,
        s.raw(
            Method::GET,
            "/v1/executions",
            None,
            "",
            &[("authorization", "Basic dG9rLXVzZXI6YWRhbQ==")],
        )
        .await
        .body,
        s.raw(
            Method::GET,
            "/v1/executions",
            None,
            "",
            &[("authorization", "Bearer")],
        )
        .await
        .body,
    ];
    assert_eq!(none.status, 401);
    assert!(none.headers.contains_key("x-request-id"));
    for b in &bodies {
        assert_eq!(b, &bodies[0], "every 401 says the same");
    }
    assert_eq!(bodies[0]["error"]["code"], "unauthenticated");
    // Health needs no token.
    assert_eq!(
        s.call(Method::GET, "/healthz", None, None).await.status,
        200
    );
    assert_eq!(s.call(Method::GET, "/readyz", None, None).await.status, 200);
}

#[tokio::test]
async fn an_agent_never_votes_and_an_approver_votes_only_where_listed() {
    let s = Server::start("");
    let (_, approval) = s.gate(BOT, &[ADAM]).await;
    for agent in [BOT, OTHER_BOT] {
        let (code, _) = s
            .post(
                &format!("/v1/approvals/{approval}/approve"),
                agent,
                json!({}),
            )
            .await
            .error(403);
        assert_eq!(code, "forbidden");
    }
    let (code, _) = s
        .post(&format!("/v1/approvals/{approval}/approve"), BOB, json!({}))
        .await
        .error(403);
    assert_eq!(code, "forbidden");
    let (code, _) = s
        .post(&format!("/v1/approvals/{approval}/reject"), ROOT, json!({}))
        .await
        .error(403);
    assert_eq!(
        code, "forbidden",
        "an admin votes as its own principal, which is not listed"
    );
    assert_eq!(
        s.get(&format!("/v1/approvals/{approval}"), BOT)
            .await
            .ok(200)["status"],
        "pending"
    );
    let (code, _) = s
        .post("/v1/approvals/apr_nothing/approve", ADAM, json!({}))
        .await
        .error(404);
    assert_eq!(code, "not_found");
    // The principal is the token's: a body naming one is refused, and nothing is counted.
    let (code, field) = s
        .post(
            &format!("/v1/approvals/{approval}/approve"),
            BOB,
            json!({"approvedBy": ADAM}),
        )
        .await
        .error(400);
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("bad_request", Some("approvedBy"))
    );
    let (_, field) = s
        .post(
            &format!("/v1/approvals/{approval}/approve"),
            BOB,
            json!({"principal": ADAM}),
        )
        .await
        .error(400);
    assert_eq!(field.as_deref(), Some("principal"));
    assert_eq!(
        s.get(&format!("/v1/approvals/{approval}"), ADAM)
            .await
            .ok(200)["approvedBy"],
        json!([])
    );
    let r = s
        .post(
            &format!("/v1/approvals/{approval}/approve"),
            ADAM,
            json!({}),
        )
        .await
        .ok(200);
    assert_eq!(r["approvedBy"], json!([ADAM]));
}

#[tokio::test]
async fn reads_of_what_is_not_the_callers_are_404() {
    let s = Server::start("");
    let (exe, approval) = s.gate(BOT, &[ADAM]).await;
    let not_found = |r: Reply| {
        let (code, _) = r.error(404);
        assert_eq!(code, "not_found");
    };
    // Another agent: not its execution, not its request.
    not_found(s.get(&format!("/v1/executions/{exe}"), OTHER_BOT).await);
    not_found(
        s.post(
            &format!("/v1/executions/{exe}/cancel"),
            OTHER_BOT,
            json!({}),
        )
        .await,
    );
    not_found(s.get(&format!("/v1/approvals/{approval}"), OTHER_BOT).await);
    not_found(
        s.get(&format!("/v1/audit?executionId={exe}"), OTHER_BOT)
            .await,
    );
    not_found(
        s.get(&format!("/v1/approvals?executionId={exe}"), OTHER_BOT)
            .await,
    );
    assert_eq!(
        s.get("/v1/executions", OTHER_BOT).await.ok(200)["items"],
        json!([])
    );
    assert_eq!(
        s.get("/v1/approvals", OTHER_BOT).await.ok(200)["items"],
        json!([])
    );
    // An approver not listed: neither the request nor the execution, nor in its queue.
    not_found(s.get(&format!("/v1/approvals/{approval}"), BOB).await);
    not_found(
        s.get(&format!("/v1/approvals/{approval}?wait=1s"), BOB)
            .await,
    );
    not_found(s.get(&format!("/v1/executions/{exe}"), ADAM).await);
    assert_eq!(
        s.get("/v1/approvals?status=pending", BOB).await.ok(200)["items"],
        json!([])
    );
    // The unknown and the hidden answer alike.
    let hidden =
        s.get(&format!("/v1/approvals/{approval}"), BOB).await.body["error"]["message"].clone();
    assert!(hidden.as_str().unwrap().contains(&approval));
    // Its own agent, the listed approver and an admin see it.
    for who in [BOT, ADAM, ROOT] {
        s.get(&format!("/v1/approvals/{approval}"), who)
            .await
            .ok(200);
    }
    s.get(&format!("/v1/executions/{exe}"), ROOT).await.ok(200);
    assert_eq!(
        s.get("/v1/executions", ROOT).await.ok(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Approvers make no executions and read no audit log.
    let (code, _) = s
        .post("/v1/executions", ADAM, json!({"name": "x"}))
        .await
        .error(403);
    assert_eq!(code, "forbidden");
    s.get("/v1/audit", ADAM).await.error(403);
    s.get("/v1/audit", ROOT).await.ok(200);
    let (_, field) = s.get("/v1/audit", BOT).await.error(422);
    assert_eq!(field.as_deref(), Some("executionId"));
}

#[tokio::test]
async fn feedback_is_answered_only_by_its_reviewers() {
    let s = Server::start("");
    let exe = s.running(BOT, "review").await;
    let form = json!({"fields": [{"name": "ok", "type": "select", "label": "OK?", "options": ["yes", "no"]}]});
    let f = s
        .post(
            &format!("/v1/executions/{exe}/feedback"),
            BOT,
            json!({"title": "Check", "form": form, "reviewers": [ALICE]}),
        )
        .await
        .ok(201);
    let id = f["id"].as_str().unwrap();
    assert_eq!(s.get(&format!("/v1/feedback/{id}"), BOB).await.status, 404);
    assert_eq!(
        s.get("/v1/feedback?status=pending", BOB).await.ok(200)["items"],
        json!([])
    );
    assert_eq!(
        s.get("/v1/feedback?status=pending", ALICE).await.ok(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    s.post(
        &format!("/v1/feedback/{id}/submit"),
        BOB,
        json!({"data": {"ok": "yes"}}),
    )
    .await
    .error(403);
    s.post(
        &format!("/v1/feedback/{id}/submit"),
        ALICE,
        json!({"data": {"ok": "no"}}),
    )
    .await
    .ok(200);
}
