//! The product document's flows over HTTP: the single gate of deployToProduction, a chain, a
//! feedback form, and checkEscalation with its grant.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn deploy_to_production_waits_for_adam_and_completes_with_his_name() {
    let s = Server::start("");
    let e = s
        .post(
            "/v1/executions",
            BOT,
            json!({"name": "Deploy api@1.4.2 to production", "config": {"onFailure": "pause"}}),
        )
        .await
        .ok(201);
    assert_eq!(
        (e["status"].as_str(), e["agent"].as_str()),
        (Some("created"), Some(BOT))
    );
    assert_eq!(
        e["config"],
        json!({"onFailure": "pause", "checkpointInterval": "per-step"})
    );
    let id = e["id"].as_str().unwrap();
    s.post(&format!("/v1/executions/{id}/start"), BOT, json!({}))
        .await
        .ok(200);
    let c = s
        .post(
            &format!("/v1/executions/{id}/checkpoint"),
            BOT,
            json!({"step": 1, "message": "Tests passed"}),
        )
        .await
        .ok(201);
    assert_eq!(c["seq"], 1);
    s.post(
        &format!("/v1/executions/{id}/checkpoint"),
        BOT,
        json!({"step": 2, "state": {"image": "api:1.4.2"}, "message": "Image built"}),
    )
    .await
    .ok(201);
    let a = s
        .post(
            &format!("/v1/executions/{id}/approvals"),
            BOT,
            json!({"title": "Production Deployment Approval", "description": "Ready to deploy",
                   "approvers": [ADAM], "timeout": 3600000, "notifyVia": ["email", "slack"]}),
        )
        .await
        .ok(201);
    assert_eq!(a["status"], "pending");
    let approval = a["id"].as_str().unwrap().to_owned();
    let e = s.get(&format!("/v1/executions/{id}"), BOT).await.ok(200);
    assert_eq!(e["status"], "paused");
    assert_eq!(e["waitingOn"], json!([approval]));
    assert_eq!(e["checkpoint"]["state"], json!({"image": "api:1.4.2"}));

    let pending = s.get("/v1/approvals?status=pending", ADAM).await.ok(200);
    let ids: Vec<&str> = pending["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [approval.as_str()]);
    assert!(pending["nextCursor"].is_null());

    let vote = s
        .raw(
            Method::POST,
            &format!("/v1/approvals/{approval}/approve"),
            Some(ADAM),
            r#"{"comment":"ship it"}"#,
            &[("x-request-id", "vote-from-adam")],
        )
        .await;
    assert_eq!(vote.headers["x-request-id"], "vote-from-adam");
    let receipt = vote.ok(200);
    assert_eq!(receipt["counted"], true);
    assert_eq!(receipt["status"], "approved");
    assert_eq!(receipt["approvedBy"], json!([ADAM]));

    let a = s
        .get(&format!("/v1/approvals/{approval}"), BOT)
        .await
        .ok(200);
    assert_eq!(
        (a["status"].as_str(), a["approvedBy"].clone()),
        (Some("approved"), json!([ADAM]))
    );
    let done = s
        .post(
            &format!("/v1/executions/{id}/complete"),
            BOT,
            json!({"result": {"deployedBy": a["approvedBy"]}}),
        )
        .await
        .ok(200);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["result"], json!({"deployedBy": [ADAM]}));

    // The vote's audit entry names the request that cast it.
    let audit = s
        .get(&format!("/v1/audit?executionId={id}"), ROOT)
        .await
        .ok(200);
    let votes: Vec<_> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "vote")
        .collect();
    assert_eq!(votes.len(), 1);
    assert_eq!(votes[0]["principal"], ADAM);
    assert_eq!(votes[0]["detail"]["http"]["requestId"], "vote-from-adam");
}

#[tokio::test]
async fn a_chain_is_approved_step_by_step_by_different_people() {
    let s = Server::start("");
    let exe = s.running(BOT, "Database Schema Migration").await;
    let a = s
        .post(
            &format!("/v1/executions/{exe}/approvals"),
            BOT,
            json!({"title": "Database Schema Migration", "chain": [
                {"step": "Technical Review", "approvers": [ALICE, BOB], "minApprovals": 1, "timeout": 3600000},
                {"step": "Manager Approval", "approvers": [CAROL, ALICE], "minApprovals": 1, "timeout": "2h"}],
                "notifyVia": ["email", "slack"]}),
        )
        .await
        .ok(201);
    let id = a["id"].as_str().unwrap().to_owned();
    let steps = a["chainStatus"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(
        (steps[0]["status"].as_str(), steps[1]["status"].as_str()),
        (Some("pending"), Some("waiting"))
    );
    // Carol is asked only once the first step is approved.
    assert_eq!(
        s.get(&format!("/v1/approvals/{id}"), CAROL).await.status,
        404
    );

    let r = s
        .post(&format!("/v1/approvals/{id}/approve"), ALICE, json!({}))
        .await
        .ok(200);
    assert_eq!(
        (r["status"].as_str(), r["step"].as_str()),
        (Some("pending"), Some("Technical Review"))
    );
    // Alice voted in the first step, so she may not vote in the second.
    let (code, _) = s
        .post(&format!("/v1/approvals/{id}/approve"), ALICE, json!({}))
        .await
        .error(403);
    assert_eq!(code, "forbidden");
    let (code, _) = s
        .post(&format!("/v1/approvals/{id}/approve"), BOB, json!({}))
        .await
        .error(403);
    assert_eq!(code, "forbidden");
    let r = s
        .post(
            &format!("/v1/approvals/{id}/approve"),
            CAROL,
            json!({"comment": "ok"}),
        )
        .await
        .ok(200);
    assert_eq!(r["status"], "approved");
    let a = s.get(&format!("/v1/approvals/{id}"), BOT).await.ok(200);
    let report: Vec<(String, String, serde_json::Value)> = a["chainStatus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().into(),
                s["status"].as_str().unwrap().into(),
                s["approvedBy"].clone(),
            )
        })
        .collect();
    assert_eq!(
        report,
        [
            ("Technical Review".into(), "approved".into(), json!([ALICE])),
            ("Manager Approval".into(), "approved".into(), json!([CAROL]))
        ]
    );
    let (code, _) = s
        .post(&format!("/v1/approvals/{id}/reject"), CAROL, json!({}))
        .await
        .error(409);
    assert_eq!(code, "already_resolved");
    assert_eq!(
        s.get(&format!("/v1/executions/{exe}"), BOT).await.ok(200)["status"],
        "running"
    );
}

#[tokio::test]
async fn a_feedback_form_refuses_wrong_answers_by_field_and_keeps_the_right_ones() {
    let s = Server::start("");
    let exe = s.running(BOT, "Review generated code").await;
    let f = s
        .post(
            &format!("/v1/executions/{exe}/feedback"),
            BOT,
            json!({"title": "Review Generated Code", "description": "the auth module",
                   "artifacts": [{"type": "code", "content": "fn main() {}", "language": "rust"}],
                   "form": {"fields": [
                       {"name": "quality", "type": "rating", "label": "Code Quality", "min": 1, "max": 5},
                       {"name": "issues", "type": "multiselect", "label": "Issues Found",
                        "options": ["Missing error handling", "Security concern", "No issues"]},
                       {"name": "comments", "type": "text", "label": "Additional Comments", "required": false}]},
                   "timeout": 86400000}),
        )
        .await
        .ok(201);
    let id = f["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/feedback/{id}/submit");
    let submit = |data: serde_json::Value| s.post(&path, ADAM, json!({"data": data}));
    let (code, field) = submit(json!({"quality": 7, "issues": []})).await.error(422);
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("invalid_field", Some("data.quality"))
    );
    let (_, field) = submit(json!({"quality": 2, "issues": ["Typo"]}))
        .await
        .error(422);
    assert_eq!(field.as_deref(), Some("data.issues"));
    let (_, field) = submit(json!({"issues": []})).await.error(422);
    assert_eq!(field.as_deref(), Some("data.quality"));
    let (code, _) = s
        .post(
            &format!("/v1/feedback/{id}/submit"),
            BOT,
            json!({"data": {"quality": 5, "issues": []}}),
        )
        .await
        .error(403);
    assert_eq!(code, "forbidden");
    let done = submit(json!({"quality": 2, "issues": ["Security concern"]}))
        .await
        .ok(200);
    assert_eq!(done["status"], "submitted");
    let read = s.get(&format!("/v1/feedback/{id}"), BOT).await.ok(200);
    assert_eq!(
        read["data"],
        json!({"quality": 2, "issues": ["Security concern"]})
    );
    assert_eq!(read["submittedBy"], ADAM);
    assert_eq!(
        s.get(&format!("/v1/executions/{exe}"), BOT).await.ok(200)["status"],
        "running"
    );

    let m = s
        .post(
            "/v1/memories",
            BOT,
            json!({"type": "episodic", "content": "Code generation feedback: quality 2/5",
               "metadata": {"tags": ["feedback", "code-generation"]}, "importance": 0.8}),
        )
        .await
        .ok(201);
    assert_eq!(
        m["metadata"]["tags"],
        json!(["code-generation", "feedback"])
    );
    let mine = s.get("/v1/memories?tag=feedback", BOT).await.ok(200);
    let contents: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents.len(), 2, "{contents:?}");
    assert!(
        contents
            .iter()
            .any(|c| c.starts_with("Feedback on \"Review Generated Code\"")),
        "{contents:?}"
    );
    // Another agent sees neither.
    assert_eq!(
        s.get("/v1/memories?tag=feedback", OTHER_BOT).await.ok(200)["items"],
        json!([])
    );
}

#[tokio::test]
async fn check_escalation_opens_a_bound_approval_whose_grant_lets_the_call_through_once() {
    let s = Server::start("");
    let exe = s.running(BOT, "Deploy").await;
    let call = json!({"action": "deploy", "resource": "production", "confidence": 0.5,
                      "context": {"reasoning": "2 of 3 similar tasks succeeded"}});
    let d = s
        .post(
            &format!("/v1/executions/{exe}/escalation-check"),
            BOT,
            call.clone(),
        )
        .await
        .ok(200);
    assert_eq!(
        (d["approved"].as_bool(), d["outcome"].as_str()),
        (Some(false), Some("request-approval"))
    );
    assert_eq!(d["decision"]["hitlRuleId"], "deploy-production");
    let approval = d["approvalId"].as_str().unwrap().to_owned();
    assert_eq!(
        s.get(&format!("/v1/executions/{exe}"), BOT).await.ok(200)["status"],
        "paused"
    );
    s.post(
        &format!("/v1/approvals/{approval}/approve"),
        ALICE,
        json!({}),
    )
    .await
    .ok(200);
    let a = s
        .get(&format!("/v1/approvals/{approval}"), BOT)
        .await
        .ok(200);
    assert!(a["grantId"].as_str().is_some(), "{a}");
    let again = s
        .post(
            &format!("/v1/executions/{exe}/escalation-check"),
            BOT,
            call.clone(),
        )
        .await
        .ok(200);
    assert_eq!(again["approved"], true);
    assert_eq!(again["grantId"], a["grantId"]);
    let third = s
        .post(&format!("/v1/executions/{exe}/escalation-check"), BOT, call)
        .await
        .ok(200);
    assert_eq!(third["approved"], false, "a grant is good for one call");

    let exe2 = s.running(BOT, "Read").await;
    let fine = s
        .post(
            &format!("/v1/executions/{exe2}/escalation-check"),
            BOT,
            json!({"action": "read", "resource": "docs", "confidence": 0.95}),
        )
        .await
        .ok(200);
    assert_eq!(
        (fine["approved"].as_bool(), fine["outcome"].as_str()),
        (Some(true), Some("auto-approve"))
    );
    assert!(fine.get("approvalId").is_none());

    let decided = s
        .post(
            "/v1/decide",
            ADAM,
            json!({"action": "delete", "resource": "db", "confidence": 0.95}),
        )
        .await
        .ok(200);
    assert_eq!(decided["approvers"], json!([ADAM]));
}

#[tokio::test]
async fn a_long_poll_is_woken_by_the_vote_long_before_its_wait_ends() {
    let s = Server::start("");
    let (_, approval) = s.gate(BOT, &[ADAM]).await;
    let waiter = {
        let get = s.detached_get(&format!("/v1/approvals/{approval}?wait=30s"), BOT);
        tokio::spawn(async move {
            let started = Instant::now();
            let r = get.await.ok(200);
            (r, started.elapsed())
        })
    };
    // Give the waiter's request a moment to reach the server; if the vote comes first the
    // waiter simply finds the request resolved.
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.post(
        &format!("/v1/approvals/{approval}/approve"),
        ADAM,
        json!({}),
    )
    .await
    .ok(200);
    let (r, took) = waiter.await.unwrap();
    assert_eq!(r["status"], "approved");
    assert!(
        took < Duration::from_secs(10),
        "woken after {took:?} of a 30s wait"
    );

    // With nothing happening, the wait ends with the current state.
    let (_, other) = s.gate(BOT, &[ADAM]).await;
    let r = s
        .get(&format!("/v1/approvals/{other}?wait=300ms"), BOT)
        .await
        .ok(200);
    assert_eq!(r["status"], "pending");
    let (code, field) = s
        .get(&format!("/v1/approvals/{other}?wait=61s"), BOT)
        .await
        .error(422);
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("invalid_field", Some("wait"))
    );
}
