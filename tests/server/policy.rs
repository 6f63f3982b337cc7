//! The policy over HTTP: versions in the store, `PUT` in YAML or the DSL with located
//! diagnostics, the product document's rule lists, history and rollback, and the rule that an
//! agent may only tighten the policy.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// The configuration that lets the deploy bot tighten the policy (and no other agent).
const TIGHTENING_BOT: &str = "agents:\n  \"agent:deploy-bot\": {mayTightenPolicy: true}\n";

fn seed_text() -> String {
    std::fs::read_to_string(seed_policy()).unwrap()
}

/// A `PUT` of a policy text with a content type, as `principal`, with extra headers.
async fn put_text(
    s: &Server,
    path: &str,
    principal: &str,
    content_type: &str,
    text: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = reqwest::Client::new()
        .put(format!("{}{path}", s.base))
        .bearer_auth(token(principal))
        .header("content-type", content_type)
        .body(text.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    Reply {
        status,
        headers,
        body,
    }
}

async fn put_yaml(s: &Server, principal: &str, text: &str) -> Reply {
    put_text(s, "/v1/policy", principal, "application/yaml", text, &[]).await
}

async fn live_version(s: &Server) -> u64 {
    s.get("/v1/policy", ADAM).await.ok(200)["version"]
        .as_u64()
        .unwrap()
}

async fn decide(s: &Server, action: &str, resource: &str, confidence: f64) -> Value {
    s.post(
        "/v1/decide",
        BOT,
        json!({"action": action, "resource": resource, "confidence": confidence}),
    )
    .await
    .ok(200)
}

#[tokio::test]
async fn an_admin_puts_yaml_and_dsl_versions_that_decide_and_show_in_the_history() {
    let s = Server::start("");
    let p = s.get("/v1/policy", BOT).await.ok(200);
    assert_eq!(p["version"], 1);
    assert_eq!(p["language"], "yaml");
    assert_eq!(p["loadedBy"], "system:config");
    assert_eq!(p["text"], seed_text());
    assert!(p.get("lastError").is_none(), "{p}");

    // Deploys to staging now need adam, at any confidence.
    let stricter = seed_text().replace(
        "    - id: everything-else",
        "    - action: deploy\n      resource: staging\n      requireApproval: true\n      approvers: [user:adam]\n    - id: everything-else",
    );
    assert_eq!(
        decide(&s, "deploy", "staging", 0.95).await["outcome"],
        "auto-approve"
    );
    let v2 = put_text(
        &s,
        "/v1/policy",
        ROOT,
        "application/yaml; charset=utf-8",
        &stricter,
        &[("x-request-id", "req-put-2")],
    )
    .await
    .ok(200);
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["principal"], ROOT);
    assert_eq!(v2["requestId"], "req-put-2");
    assert_eq!(v2["summary"], "hitl: +1 -0 rules (3 -> 4)");
    assert_eq!(
        decide(&s, "deploy", "staging", 0.95).await["outcome"],
        "request-approval"
    );

    // The DSL, as `text/x-rekall`.
    let dsl = std::fs::read_to_string(seed_policy().with_extension("rkl")).unwrap();
    let v3 = put_text(&s, "/v1/policy", ROOT, "text/x-rekall", &dsl, &[])
        .await
        .ok(200);
    assert_eq!(
        (v3["version"].as_u64(), v3["language"].as_str()),
        (Some(3), Some("dsl"))
    );
    assert_eq!(s.get("/v1/policy", BOT).await.ok(200)["text"], dsl);
    assert_eq!(
        decide(&s, "deploy", "staging", 0.95).await["outcome"],
        "auto-approve"
    );

    let page = s.get("/v1/policy/versions?limit=2", BOT).await.ok(200);
    let numbers: Vec<u64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 2]);
    assert_eq!(page["nextCursor"], "2");
    let rest = s.get("/v1/policy/versions?cursor=2", BOT).await.ok(200);
    assert_eq!(rest["items"][0]["version"], 1);
    assert_eq!(rest["nextCursor"], Value::Null);
}

#[tokio::test]
async fn a_policy_in_another_type_is_415_and_one_with_errors_422_with_its_diagnostics() {
    let s = Server::start("");
    for ct in [
        "application/json",
        "text/plain",
        "application/yaml; charset=latin1",
    ] {
        let (code, _) = put_text(&s, "/v1/policy", ROOT, ct, &seed_text(), &[])
            .await
            .error(415);
        assert_eq!(code, "unsupported_media_type", "{ct}");
    }
    let bad = seed_text().replace("approvers: [user:adam]\n", "approvers: [adam]\n");
    let r = put_yaml(&s, ROOT, &bad).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let e = &r.body["error"];
    assert_eq!(e["code"], "invalid_field");
    let d = &e["diagnostics"][0];
    assert_eq!(d["file"], "policy.yaml");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(11), Some(19))
    );
    assert!(d["message"].as_str().unwrap().contains("adam"), "{d}");
    assert!(d.get("help").is_some(), "{d}");
    // The old version is live, and the refusal shows at GET /v1/policy.
    let p = s.get("/v1/policy", ROOT).await.ok(200);
    assert_eq!(p["version"], 1);
    assert_eq!(p["lastError"]["diagnostics"][0]["line"], 11);
    assert_eq!(p["lastError"]["principal"], ROOT);
}

#[tokio::test]
async fn rule_lists_replace_one_section_and_a_rollback_is_a_new_version() {
    let s = Server::start("");
    let rules = json!({"rules": [
        {"action": "deploy", "resource": "production", "requireApproval": true,
         "approvers": ["user:adam", "user:bob"], "minApprovals": 2},
        {"action": "*", "requireApproval": false},
    ]});
    let r = s
        .call(Method::PUT, "/v1/policy/hitl", Some(ROOT), Some(rules))
        .await
        .ok(200);
    assert_eq!(r["version"], 2);
    let p = s.get("/v1/policy", ROOT).await.ok(200);
    let text = p["text"].as_str().unwrap();
    assert!(
        text.contains("user:bob") && !text.contains("delete-anything"),
        "{text}"
    );
    assert!(
        text.contains("fairly-confident"),
        "the escalation section is kept: {text}"
    );

    let bad = json!({"rules": [{"action": "deploy", "requireApproval": "yes"}]});
    let r = s
        .call(Method::PUT, "/v1/policy/escalation", Some(ROOT), Some(bad))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["error"]["diagnostics"][0]["file"],
        "escalation-rules.json"
    );
    assert!(
        r.body["error"]["field"]
            .as_str()
            .unwrap()
            .starts_with("rules[0]"),
        "{}",
        r.body
    );

    let back = s
        .post("/v1/policy/rollback", ROOT, json!({"version": 1}))
        .await
        .ok(200);
    assert_eq!(
        (back["version"].as_u64(), back["rollbackOf"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(s.get("/v1/policy", ROOT).await.ok(200)["text"], seed_text());
    let (code, _) = s
        .post("/v1/policy/rollback", ROOT, json!({"version": 99}))
        .await
        .error(404);
    assert_eq!(code, "not_found");
    let (_, field) = s
        .post("/v1/policy/rollback", ROOT, json!({"version": 0}))
        .await
        .error(422);
    assert_eq!(field.as_deref(), Some("version"));
}

#[tokio::test]
async fn an_agent_may_tighten_the_policy_but_never_loosen_it() {
    let s = Server::start(TIGHTENING_BOT);
    // Loosened: delete no longer needs adam, so a confident delete is auto-approved.
    let looser = seed_text().replace(
        "    - id: delete-anything\n      action: delete\n      resource: \"*\"\n      requireApproval: true\n      approvers: [user:adam]\n",
        "",
    );
    let r = put_yaml(&s, BOT, &looser).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let e = &r.body["error"];
    assert_eq!(e["code"], "forbidden");
    assert_eq!(e["counterExample"]["request"]["action"], "delete");
    assert!(e["message"].as_str().unwrap().contains("delete"), "{e}");
    assert_eq!(live_version(&s).await, 1, "the live version is unchanged");
    let audit = s.get("/v1/audit?kind=policy_refused", ROOT).await.ok(200);
    let entry = &audit["items"][0];
    assert_eq!(entry["principal"], BOT);
    assert!(
        entry["detail"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("refused"),
        "{entry}"
    );

    // Tightened: production deploys need both adam and alice.
    let tighter = seed_text().replace(
        "      approvers: [user:adam, user:alice]\n      minApprovals: 1\n",
        "      approvers: [user:adam, user:alice]\n      minApprovals: 2\n",
    );
    let v2 = put_yaml(&s, BOT, &tighter).await.ok(200);
    assert_eq!(
        (v2["version"].as_u64(), v2["principal"].as_str()),
        (Some(2), Some(BOT))
    );
    assert_eq!(
        decide(&s, "deploy", "production", 0.99).await["minApprovals"],
        2
    );
    // The rule list endpoints are checked alike: dropping every HITL rule loosens.
    let r = s
        .call(
            Method::PUT,
            "/v1/policy/hitl",
            Some(BOT),
            Some(json!({"rules": [{"action": "*", "requireApproval": false}]})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // So is a rollback to the looser version 1.
    let r = s
        .post("/v1/policy/rollback", BOT, json!({"version": 1}))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["error"]["counterExample"]["kind"], "gate-loosened");
    assert_eq!(live_version(&s).await, 2);
}

#[tokio::test]
async fn an_agent_adding_an_adaptive_rule_is_refused_as_its_bands_would_move() {
    let s = Server::start(TIGHTENING_BOT);
    // As written it is no looser (it only adds a band for `train`), but it learns.
    let adaptive = seed_text().replace(
        "escalation:\n  rules:\n",
        "escalation:\n  rules:\n    - match: {action: train}\n      confidenceRange: [0.99, 1.0]\n      action: auto-approve\n      adapt: {auditRate: 0}\n",
    );
    let r = put_yaml(&s, BOT, &adaptive).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`adapt`"),
        "{}",
        r.body
    );
    assert_eq!(live_version(&s).await, 1);
    // An admin may.
    assert_eq!(put_yaml(&s, ROOT, &adaptive).await.ok(200)["version"], 2);
}

#[tokio::test]
async fn approvers_and_agents_without_the_right_may_not_change_the_policy() {
    let s = Server::start(TIGHTENING_BOT);
    let same = seed_text();
    for who in [ADAM, OTHER_BOT] {
        let (code, _) = put_yaml(&s, who, &same).await.error(403);
        assert_eq!(code, "forbidden", "{who}");
        let (code, _) = s
            .post("/v1/policy/rollback", who, json!({"version": 1}))
            .await
            .error(403);
        assert_eq!(code, "forbidden", "{who}");
    }
    assert_eq!(live_version(&s).await, 1);
    let audit = s.get("/v1/audit?kind=policy_refused", ROOT).await.ok(200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 4);
    // Anyone may read it.
    assert_eq!(
        s.get("/v1/policy/versions", ADAM).await.ok(200)["items"][0]["version"],
        1
    );
}

/// A server whose policy file is a copy of the seed in its own folder, and that file.
fn server_with_policy_file(extra: &str) -> (Server, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, seed_text()).unwrap();
    let config = dir.path().join("rekall-server.yaml");
    let text = config_text(dir.path(), extra).replace(
        &format!("policy: {}\n", seed_policy().display()),
        &format!("policy: {}\n", file.display()),
    );
    assert!(text.contains(&*file.to_string_lossy()));
    std::fs::write(&config, text).unwrap();
    let args = [
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    (Server::spawn(dir, &args, 0), file)
}

/// `GET /v1/policy` until `done` holds, asking every 100 ms for at most 15 s.
async fn policy_when(s: &Server, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..150 {
        let p = s.get("/v1/policy", ROOT).await.ok(200);
        if done(&p) {
            return p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "the policy never got there: {}",
        s.get("/v1/policy", ROOT).await.body
    );
}

fn hangup(s: &Server) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn an_edit_of_the_policy_file_is_reloaded_and_an_invalid_one_keeps_the_version() {
    let (s, file) = server_with_policy_file("");
    // SIGHUP with the file as it is: the server lives on, and makes no version.
    hangup(&s);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(live_version(&s).await, 1);

    let stricter = seed_text().replace("minApprovals: 1", "minApprovals: 2");
    std::fs::write(&file, &stricter).unwrap();
    let p = policy_when(&s, |p| p["version"] == 2).await;
    assert_eq!(
        (p["loadedBy"].as_str(), p["text"].as_str()),
        (Some("system:reload"), Some(stricter.as_str()))
    );
    assert_eq!(
        decide(&s, "deploy", "production", 0.99).await["minApprovals"],
        2
    );

    std::fs::write(&file, stricter.replace("user:alice", "alice")).unwrap();
    let p = policy_when(&s, |p| p.get("lastError").is_some()).await;
    assert_eq!(p["version"], 2, "the old version stays live");
    assert_eq!(p["lastError"]["principal"], "system:reload");
    assert!(
        p["lastError"]["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .contains("alice")
    );

    // Mended, and asked for by SIGHUP.
    std::fs::write(&file, seed_text()).unwrap();
    hangup(&s);
    let p = policy_when(&s, |p| p["version"] == 3).await;
    assert!(p.get("lastError").is_none(), "{p}");
}

#[tokio::test]
async fn a_version_stored_by_another_node_comes_into_force_here() {
    let a = Server::start("");
    let config = a.dir.path().join("rekall-server.yaml");
    let args = [
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    let b = Server::spawn(tempfile::tempdir().unwrap(), &args, 0);
    let stricter = seed_text().replace("minApprovals: 1", "minApprovals: 2");
    put_yaml(&a, ROOT, &stricter).await.ok(200);
    let p = policy_when(&b, |p| p["version"] == 2).await;
    assert_eq!(p["text"], stricter);
    assert_eq!(
        decide(&b, "deploy", "production", 0.99).await["minApprovals"],
        2
    );
}
