//! Answers from outside the API: the signed links of approval emails (`GET|POST /links/...`)
//! and Slack's interaction callback, against the real server. The link secret and the Slack
//! signing secret are set in the server's environment, so that the tests sign what a mail or
//! Slack would carry, and forge what an attacker would; a local HTTP server stands for Slack's
//! `response_url`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use rekall_policy::ir::Principal;
use rekall_policy::model::Timestamp;
use rekall_policy::server::auth::hex;
use rekall_policy::server::keys::{Key, hmac_sha256};
use rekall_policy::server::links::{Choice, LinkClaims, SLACK_APPROVE, SLACK_REJECT};

use crate::support::*;

const LINK_SECRET_ENV: &str = "REKALL_TEST_LINK_SECRET";
const LINK_SECRET: &str = "a link secret of more than thirty-two bytes";
const SIGNING_ENV: &str = "REKALL_TEST_SLACK_SIGNING_SECRET";
const SIGNING_SECRET: &str = "slack-signing-secret-for-the-tests";
const HOUR_MS: i64 = 3_600_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn key() -> Key {
    Key::new(LINK_SECRET.as_bytes().to_vec())
}

/// A link token for `approver` on `request`, expiring at `expires_at` (ms).
fn link(request: &str, approver: &str, choice: Choice, expires_at: i64) -> String {
    LinkClaims::new(
        request,
        &Principal::parse(approver).unwrap(),
        choice,
        Timestamp(expires_at),
    )
    .unwrap()
    .sign(&key())
}

fn fresh_link(request: &str, approver: &str, choice: Choice) -> String {
    link(request, approver, choice, now_ms() + HOUR_MS)
}

/// A server that signs links with the test secret and knows two Slack users; Slack's API
/// base is `api_base`.
fn server(api_base: &str) -> Server {
    server_with(api_base, "")
}

fn server_with(api_base: &str, extra: &str) -> Server {
    Server::start_env(
        &format!(
            "{extra}linkSecretEnv: {LINK_SECRET_ENV}\n\
             slack:\n  apiBase: \"{api_base}\"\n  botTokenEnv: REKALL_TEST_SLACK_BOT\n  \
             signingSecretEnv: {SIGNING_ENV}\n  channel: \"#approvals\"\n  \
             users: {{\"UADAM01\": \"user:adam\", \"UBOB01\": \"user:bob\"}}\n"
        ),
        &[
            (LINK_SECRET_ENV, LINK_SECRET),
            (SIGNING_ENV, SIGNING_SECRET),
            ("REKALL_TEST_SLACK_BOT", "xoxb-test"),
        ],
    )
}

/// A page: status, headers and HTML text.
struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

async fn page(s: &Server, method: Method, token: &str, form: &[(&str, &str)]) -> Page {
    let mut req = reqwest::Client::new().request(method, format!("{}/links/{token}", s.base));
    if !form.is_empty() {
        req = req.form(form);
    }
    let r = req.send().await.unwrap();
    Page {
        status: r.status(),
        headers: r.headers().clone(),
        text: r.text().await.unwrap(),
    }
}

async fn get_link(s: &Server, token: &str) -> Page {
    page(s, Method::GET, token, &[]).await
}

async fn post_link(s: &Server, token: &str, form: &[(&str, &str)]) -> Page {
    page(s, Method::POST, token, form).await
}

async fn approval(s: &Server, id: &str) -> Value {
    s.get(&format!("/v1/approvals/{id}"), ROOT).await.ok(200)
}

/// The `answer_refused` entries of the audit log.
async fn refusals(s: &Server) -> Vec<Value> {
    let audit = s.get("/v1/audit?kind=answer_refused", ROOT).await.ok(200);
    audit["items"].as_array().unwrap().clone()
}

/// The one refusal with this channel and reason.
async fn refusal(s: &Server, channel: &str, reason: &str) -> Value {
    let found: Vec<Value> = refusals(s)
        .await
        .into_iter()
        .filter(|e| e["detail"]["channel"] == channel && e["detail"]["reason"] == reason)
        .collect();
    assert_eq!(found.len(), 1, "{channel}/{reason}: {found:?}");
    found[0].clone()
}

/// A token with one character of its claims changed.
fn tampered(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let at = token.find('.').unwrap() / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn a_link_shows_its_request_and_fetching_it_never_votes() {
    let s = server("https://slack.com/api");
    let exe = s.running(BOT, "deploy").await;
    let a = s
        .post(
            &format!("/v1/executions/{exe}/approvals"),
            BOT,
            json!({"title": "Deploy <b>api</b>", "description": "<script>alert('x')</script> & more",
                   "approvers": [ADAM], "priority": "high"}),
        )
        .await
        .ok(201);
    let id = a["id"].as_str().unwrap();
    let token = fresh_link(id, ADAM, Choice::Approve);
    for _ in 0..3 {
        let p = get_link(&s, &token).await;
        assert_eq!(p.status, 200, "{}", p.text);
        assert_eq!(p.headers["referrer-policy"], "no-referrer");
        assert!(
            p.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(p.text.contains("Approve this request?"), "{}", p.text);
        assert!(
            p.text.contains("Deploy &lt;b&gt;api&lt;/b&gt;"),
            "{}",
            p.text
        );
        assert!(
            p.text
                .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more")
        );
        assert!(
            !p.text.contains("<script") && !p.text.contains("<b>"),
            "{}",
            p.text
        );
        assert!(p.text.contains(BOT) && p.text.contains(ADAM));
        assert!(
            p.text
                .contains(&format!("<form method=\"post\" action=\"/links/{token}\">"))
        );
        // Nothing from elsewhere: no script, style or image from another site.
        assert!(
            !p.text.contains("http://") && !p.text.contains("https://"),
            "{}",
            p.text
        );
    }
    let head = reqwest::Client::new()
        .head(format!("{}/links/{token}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let a = approval(&s, id).await;
    assert_eq!(
        (a["status"].as_str(), a["approvedBy"].clone()),
        (Some("pending"), json!([]))
    );
    let e = s.get(&format!("/v1/executions/{exe}"), BOT).await.ok(200);
    assert_eq!(e["status"], "paused");
    // A fetch did not spend the link: its button still votes.
    let p = post_link(&s, &token, &[("comment", "looks good")]).await;
    assert_eq!(p.status, 200, "{}", p.text);
}

#[tokio::test]
async fn the_links_button_votes_once_and_the_paused_execution_resumes() {
    let s = server("https://slack.com/api");
    let (exe, id) = s.gate(BOT, &[ADAM]).await;
    let token = fresh_link(&id, ADAM, Choice::Approve);
    let p = post_link(&s, &token, &[("comment", "ship <it>")]).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert!(
        p.text.contains("is counted") && p.text.contains("now approved"),
        "{}",
        p.text
    );
    let a = approval(&s, &id).await;
    assert_eq!(
        (a["status"].as_str(), a["approvedBy"].clone()),
        (Some("approved"), json!([ADAM]))
    );
    let e = s.get(&format!("/v1/executions/{exe}"), BOT).await.ok(200);
    assert_eq!(e["status"], "running");
    let audit = s
        .get(&format!("/v1/audit?executionId={exe}&kind=vote"), ROOT)
        .await
        .ok(200);
    let votes = audit["items"].as_array().unwrap();
    assert_eq!(votes.len(), 1, "{votes:?}");
    assert_eq!(votes[0]["principal"], ADAM);
    assert_eq!(votes[0]["detail"]["note"], "ship <it>");

    // The same link again: refused, saying it was used, and nothing more is counted.
    let again = post_link(&s, &token, &[]).await;
    assert_eq!(again.status, 410, "{}", again.text);
    assert!(again.text.contains("already used"), "{}", again.text);
    let r = refusal(&s, "email", "used").await;
    assert_eq!(
        (r["principal"].as_str(), r["requestId"].as_str()),
        (Some(ADAM), Some(id.as_str()))
    );
    assert_eq!(r["executionId"], exe.as_str());
    assert_eq!(approval(&s, &id).await["approvedBy"], json!([ADAM]));
}

#[tokio::test]
async fn expired_and_tampered_links_are_refused_with_a_page_and_audited() {
    let s = server("https://slack.com/api");
    let (_, id) = s.gate(BOT, &[ADAM]).await;
    let expired = link(&id, ADAM, Choice::Approve, now_ms() - 1);
    for p in [
        get_link(&s, &expired).await,
        post_link(&s, &expired, &[]).await,
    ] {
        assert_eq!(p.status, 410, "{}", p.text);
        assert!(p.text.contains("expired"), "{}", p.text);
    }
    let good = fresh_link(&id, ADAM, Choice::Approve);
    let bad = tampered(&good);
    assert_ne!(bad, good);
    for p in [get_link(&s, &bad).await, post_link(&s, &bad, &[]).await] {
        assert_eq!(p.status, 403, "{}", p.text);
        assert!(p.text.contains("not valid"), "{}", p.text);
    }
    // Signed with another secret: as good as tampered.
    let foreign = LinkClaims::new(
        &id,
        &Principal::parse(ADAM).unwrap(),
        Choice::Approve,
        Timestamp(now_ms() + HOUR_MS),
    )
    .unwrap()
    .sign(&Key::new(b"some other secret of thirty-two bytes".to_vec()));
    assert_eq!(post_link(&s, &foreign, &[]).await.status, 403);
    assert_eq!(approval(&s, &id).await["status"], "pending");

    let all = refusals(&s).await;
    let count = |reason: &str| {
        all.iter()
            .filter(|e| e["detail"]["reason"] == reason)
            .count()
    };
    assert_eq!((count("expired"), count("tampered")), (2, 3), "{all:?}");
    let e = all
        .iter()
        .find(|e| e["detail"]["reason"] == "expired")
        .unwrap();
    assert_eq!(
        (e["principal"].as_str(), e["requestId"].as_str()),
        (Some(ADAM), Some(id.as_str()))
    );
    assert_eq!(e["detail"]["channel"], "email");
    let t = all
        .iter()
        .find(|e| e["detail"]["reason"] == "tampered")
        .unwrap();
    assert!(
        t["principal"].is_null(),
        "a tampered token names no one: {t}"
    );
    // The good link still works.
    assert_eq!(post_link(&s, &good, &[]).await.status, 200);
}

#[tokio::test]
async fn a_link_votes_only_as_its_approver_and_only_on_its_request() {
    let s = server("https://slack.com/api");
    let exe = s.running(BOT, "two approvers").await;
    let a = s
        .post(
            &format!("/v1/executions/{exe}/approvals"),
            BOT,
            json!({"title": "Rotate keys", "approvers": [ADAM, BOB], "minApprovals": 2}),
        )
        .await
        .ok(201);
    let id_a = a["id"].as_str().unwrap().to_owned();
    let (_, id_b) = s.gate(BOT, &[CAROL]).await;

    // Bob's link votes as bob, never as adam.
    let bobs = fresh_link(&id_a, BOB, Choice::Approve);
    assert_eq!(post_link(&s, &bobs, &[]).await.status, 200);
    let a = approval(&s, &id_a).await;
    assert_eq!(
        (a["status"].as_str(), a["approvedBy"].clone()),
        (Some("pending"), json!([BOB]))
    );

    // Adam's link for A with B's id put in: the signature no longer checks.
    let adams = fresh_link(&id_a, ADAM, Choice::Approve);
    let (claims, tag) = adams.split_once('.').unwrap();
    let (retargeted, _) = fresh_link(&id_b, ADAM, Choice::Approve)
        .split_once('.')
        .map(|(c, t)| (c.to_owned(), t.to_owned()))
        .unwrap();
    assert_ne!(retargeted, claims);
    let p = post_link(&s, &format!("{retargeted}.{tag}"), &[]).await;
    assert_eq!(p.status, 403, "{}", p.text);
    // A link signed for adam on B, where only carol is asked: not his to answer.
    let p = post_link(&s, &fresh_link(&id_b, ADAM, Choice::Approve), &[]).await;
    assert_eq!(p.status, 403, "{}", p.text);
    assert!(p.text.contains("not an approver"), "{}", p.text);
    let b = approval(&s, &id_b).await;
    assert_eq!(
        (b["status"].as_str(), b["approvedBy"].clone()),
        (Some("pending"), json!([]))
    );
    let r = refusal(&s, "email", "not_an_approver").await;
    assert_eq!(
        (r["principal"].as_str(), r["requestId"].as_str()),
        (Some(ADAM), Some(id_b.as_str()))
    );

    // Bob's link once more (a second vote of his): used. Adam's own link counts as adam.
    assert_eq!(post_link(&s, &bobs, &[]).await.status, 410);
    assert_eq!(post_link(&s, &adams, &[]).await.status, 200);
    let a = approval(&s, &id_a).await;
    assert_eq!(
        (a["status"].as_str(), a["approvedBy"].clone()),
        (Some("approved"), json!([BOB, ADAM]))
    );
}

#[tokio::test]
async fn links_for_a_resolved_request_say_so_and_a_reject_link_carries_its_reason() {
    let s = server("https://slack.com/api");
    let exe = s.running(BOT, "either approver").await;
    let a = s
        .post(
            &format!("/v1/executions/{exe}/approvals"),
            BOT,
            json!({"title": "Scale down", "approvers": [ADAM, BOB], "minApprovals": 1}),
        )
        .await
        .ok(201);
    let id = a["id"].as_str().unwrap().to_owned();
    let adams = fresh_link(&id, ADAM, Choice::Approve);
    s.post(&format!("/v1/approvals/{id}/approve"), BOB, json!({}))
        .await
        .ok(200);
    for p in [get_link(&s, &adams).await, post_link(&s, &adams, &[]).await] {
        assert_eq!(p.status, 409, "{}", p.text);
        assert!(
            p.text.contains("already approved by user:bob"),
            "{}",
            p.text
        );
    }
    let r = refusals(&s).await;
    assert_eq!(
        r.iter()
            .filter(|e| e["detail"]["reason"] == "resolved")
            .count(),
        2,
        "{r:?}"
    );
    assert_eq!(approval(&s, &id).await["approvedBy"], json!([BOB]));

    let (exe, id) = s.gate(BOT, &[ADAM]).await;
    let reject = fresh_link(&id, ADAM, Choice::Reject);
    let p = get_link(&s, &reject).await;
    assert!(
        p.text.contains("Reject this request?") && p.text.contains("name=\"reason\""),
        "{}",
        p.text
    );
    // A field the page does not have is refused, and nothing is counted.
    let p = post_link(&s, &reject, &[("comment", "x")]).await;
    assert_eq!(p.status, 400, "{}", p.text);
    assert_eq!(approval(&s, &id).await["status"], "pending");
    let p = post_link(&s, &reject, &[("reason", "not on a Friday")]).await;
    assert_eq!(p.status, 200, "{}", p.text);
    let a = approval(&s, &id).await;
    assert_eq!(
        (a["status"].as_str(), a["reason"].as_str()),
        (Some("rejected"), Some("not on a Friday"))
    );
    let e = s.get(&format!("/v1/executions/{exe}"), BOT).await.ok(200);
    assert_eq!(e["status"], "running");
}

/// A local HTTP server standing for Slack's `response_url`: it records what is posted to it.
#[derive(Clone, Default)]
struct Hook {
    received: Arc<Mutex<Vec<(String, Value)>>>,
    base: String,
}

impl Hook {
    async fn start() -> Hook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook = Hook {
            base: format!("http://{}", listener.local_addr().unwrap()),
            ..Hook::default()
        };
        let received = hook.received.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: String| {
            let received = received.clone();
            async move {
                let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
                received
                    .lock()
                    .unwrap()
                    .push((uri.path().to_owned(), value));
                "ok"
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        hook
    }

    fn received(&self) -> Vec<(String, Value)> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) until something was posted to `path`.
    async fn wait_for(&self, path: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((_, v)) = self.received().into_iter().find(|(p, _)| p == path) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "nothing was posted to {path}: {:?}",
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn click(
    user: &str,
    action_id: &str,
    request: &str,
    action_ts: &str,
    response_url: &str,
) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": "root", "name": "user:root"},
        "trigger_id": format!("trig-{action_ts}"),
        "response_url": response_url,
        "actions": [{"type": "button", "action_id": action_id, "value": request, "action_ts": action_ts}]
    });
    let mut body = String::new();
    body.push_str("payload=");
    body.extend(form_urlencoded::byte_serialize(
        payload.to_string().as_bytes(),
    ));
    body
}

fn slack_signature(secret: &str, ts: &str, body: &str) -> String {
    let tag = hmac_sha256(secret.as_bytes(), format!("v0:{ts}:{body}").as_bytes());
    format!("v0={}", hex(&tag))
}

/// Posts `body` to the callback as Slack would, signed at `ts` with `secret`.
async fn slack_post(s: &Server, body: &str, ts: i64, secret: &str) -> Reply {
    let ts = ts.to_string();
    let sig = slack_signature(secret, &ts, body);
    s.raw(
        Method::POST,
        "/v1/slack/interactions",
        None,
        body.to_owned(),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-slack-request-timestamp", &ts),
            ("x-slack-signature", &sig),
        ],
    )
    .await
}

fn now_s() -> i64 {
    now_ms() / 1000
}

#[tokio::test]
async fn a_signed_slack_click_resolves_the_request_and_updates_the_message() {
    let hook = Hook::start().await;
    let s = server(&format!("{}/api", hook.base));
    let (exe, id) = s.gate(BOT, &[ADAM]).await;
    let body = click(
        "UADAM01",
        SLACK_APPROVE,
        &id,
        "1700000000.000100",
        &format!("{}/actions/1", hook.base),
    );
    let answer = slack_post(&s, &body, now_s(), SIGNING_SECRET).await.ok(200);
    assert_eq!(
        (
            answer["counted"].as_bool(),
            answer["status"].as_str(),
            answer["principal"].as_str()
        ),
        (Some(true), Some("approved"), Some(ADAM))
    );
    assert_eq!(answer["messageUpdate"], "sent");
    let a = approval(&s, &id).await;
    assert_eq!(
        a["approvedBy"],
        json!([ADAM]),
        "the mapped user voted, not the payload's name"
    );
    let e = s.get(&format!("/v1/executions/{exe}"), BOT).await.ok(200);
    assert_eq!(e["status"], "running");
    let update = hook.wait_for("/actions/1").await;
    assert_eq!(update["replace_original"], true, "{update}");
    assert!(
        update["text"]
            .as_str()
            .unwrap()
            .starts_with("Approved by user:adam"),
        "{update}"
    );

    // Bob rejects another request from Slack.
    let (_, id2) = s.gate(BOT, &[BOB]).await;
    let body = click(
        "UBOB01",
        SLACK_REJECT,
        &id2,
        "1700000001.000100",
        &format!("{}/actions/2", hook.base),
    );
    slack_post(&s, &body, now_s(), SIGNING_SECRET).await.ok(200);
    assert_eq!(approval(&s, &id2).await["status"], "rejected");
    let update = hook.wait_for("/actions/2").await;
    assert!(
        update["text"]
            .as_str()
            .unwrap()
            .starts_with("Rejected by user:bob"),
        "{update}"
    );
}

#[tokio::test]
async fn slack_refuses_bad_signatures_stale_timestamps_unmapped_users_and_replays() {
    let hook = Hook::start().await;
    let s = server(&format!("{}/api", hook.base));
    let (_, id) = s.gate(BOT, &[ADAM]).await;
    let url = format!("{}/actions/x", hook.base);
    let body = click("UADAM01", SLACK_APPROVE, &id, "1700000000.000200", &url);

    let (code, _) = slack_post(&s, &body, now_s(), "not the signing secret")
        .await
        .error(401);
    assert_eq!(code, "unauthenticated");
    let stale = now_s() - 6 * 60;
    slack_post(&s, &body, stale, SIGNING_SECRET)
        .await
        .error(401);
    // A body changed after signing.
    let ts = now_s().to_string();
    let sig = slack_signature(SIGNING_SECRET, &ts, &body);
    let changed = body.replace("UADAM01", "UBOB01");
    s.raw(
        Method::POST,
        "/v1/slack/interactions",
        None,
        changed,
        &[
            ("x-slack-request-timestamp", &ts),
            ("x-slack-signature", &sig),
        ],
    )
    .await
    .error(401);
    // A user the configuration does not map, whatever name the payload gives.
    let eve = click("UEVE0001", SLACK_APPROVE, &id, "1700000000.000300", &url);
    slack_post(&s, &eve, now_s(), SIGNING_SECRET)
        .await
        .error(403);
    // An action that is not one of the buttons, and a payload that is not a click.
    let other = click(
        "UADAM01",
        "delete_everything",
        &id,
        "1700000000.000400",
        &url,
    );
    slack_post(&s, &other, now_s(), SIGNING_SECRET)
        .await
        .error(400);
    slack_post(&s, "payload=%7B%22type%22%3A1%7D", now_s(), SIGNING_SECRET)
        .await
        .error(400);
    assert_eq!(approval(&s, &id).await["status"], "pending");

    // The real click counts; the same click again, freshly signed, is a replay.
    slack_post(&s, &body, now_s(), SIGNING_SECRET).await.ok(200);
    let (code, _) = slack_post(&s, &body, now_s(), SIGNING_SECRET)
        .await
        .error(409);
    assert_eq!(code, "replayed");
    assert_eq!(approval(&s, &id).await["approvedBy"], json!([ADAM]));

    let all = refusals(&s).await;
    let slack: Vec<&Value> = all
        .iter()
        .filter(|e| e["detail"]["channel"] == "slack")
        .collect();
    let reasons: Vec<&str> = slack
        .iter()
        .map(|e| e["detail"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "bad_signature",
            "stale_timestamp",
            "bad_signature",
            "unmapped_user",
            "unknown_action",
            "malformed",
            "replay"
        ],
        "{slack:?}"
    );
    let unmapped = refusal(&s, "slack", "unmapped_user").await;
    assert_eq!(unmapped["detail"]["slackUser"], "UEVE0001");
    assert!(unmapped["principal"].is_null());
    let replay = refusal(&s, "slack", "replay").await;
    assert_eq!(
        (replay["principal"].as_str(), replay["requestId"].as_str()),
        (Some(ADAM), Some(id.as_str()))
    );
}

#[tokio::test]
async fn a_slack_click_the_runtime_refuses_is_refused_and_the_voter_told_why() {
    let hook = Hook::start().await;
    let s = server(&format!("{}/api", hook.base));
    let (_, id) = s.gate(BOT, &[ADAM]).await;
    // Bob is mapped, but not asked on this request.
    let bobs = click(
        "UBOB01",
        SLACK_APPROVE,
        &id,
        "1700000000.000800",
        &format!("{}/bob", hook.base),
    );
    let (code, _) = slack_post(&s, &bobs, now_s(), SIGNING_SECRET)
        .await
        .error(403);
    assert_eq!(code, "forbidden");
    let told = hook.wait_for("/bob").await;
    assert_eq!(told["response_type"], "ephemeral", "{told}");
    assert_eq!(told["replace_original"], false, "the buttons stay: {told}");
    assert!(
        told["text"].as_str().unwrap().contains("not counted"),
        "{told}"
    );
    // Adam approves, then clicks Reject on the resolved message: too late.
    let adams = click(
        "UADAM01",
        SLACK_APPROVE,
        &id,
        "1700000000.000900",
        &format!("{}/adam", hook.base),
    );
    slack_post(&s, &adams, now_s(), SIGNING_SECRET)
        .await
        .ok(200);
    let late = click(
        "UADAM01",
        SLACK_REJECT,
        &id,
        "1700000001.000900",
        &format!("{}/late", hook.base),
    );
    let (code, _) = slack_post(&s, &late, now_s(), SIGNING_SECRET)
        .await
        .error(409);
    assert_eq!(code, "already_resolved");
    let a = approval(&s, &id).await;
    assert_eq!(
        (a["status"].as_str(), a["approvedBy"].clone()),
        (Some("approved"), json!([ADAM]))
    );
    let r = refusal(&s, "slack", "not_an_approver").await;
    assert_eq!(
        (r["principal"].as_str(), r["requestId"].as_str()),
        (Some(BOB), Some(id.as_str()))
    );
    assert_eq!(refusal(&s, "slack", "resolved").await["principal"], ADAM);
}

#[tokio::test]
async fn a_response_url_outside_slack_is_never_called() {
    let hook = Hook::start().await;
    let elsewhere = Hook::start().await;
    let s = server(&format!("{}/api", hook.base));
    let (_, id) = s.gate(BOT, &[ADAM]).await;
    let body = click(
        "UADAM01",
        SLACK_APPROVE,
        &id,
        "1700000000.000500",
        &format!("{}/steal", elsewhere.base),
    );
    let answer = slack_post(&s, &body, now_s(), SIGNING_SECRET).await.ok(200);
    assert_eq!(
        (answer["status"].as_str(), answer["messageUpdate"].as_str()),
        (Some("approved"), Some("refused"))
    );
    // A later click's update arrives; the one outside Slack was never sent.
    let (_, id2) = s.gate(BOT, &[ADAM]).await;
    let body = click(
        "UADAM01",
        SLACK_APPROVE,
        &id2,
        "1700000000.000600",
        &format!("{}/actions/ok", hook.base),
    );
    slack_post(&s, &body, now_s(), SIGNING_SECRET).await.ok(200);
    hook.wait_for("/actions/ok").await;
    assert!(
        elsewhere.received().is_empty(),
        "{:?}",
        elsewhere.received()
    );
}

#[tokio::test]
async fn without_slack_configured_the_callback_is_not_found_and_the_document_lists_it() {
    let s = Server::start("");
    let (code, _) = s
        .raw(
            Method::POST,
            "/v1/slack/interactions",
            None,
            "payload=%7B%7D",
            &[],
        )
        .await
        .error(404);
    assert_eq!(code, "not_found");
    let doc = s
        .call(Method::GET, "/v1/openapi.json", None, None)
        .await
        .ok(200);
    let op = &doc["paths"]["/v1/slack/interactions"]["post"];
    assert_eq!(op["security"], json!([{}]), "{op}");
    assert!(
        op["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object(),
        "{op}"
    );
    let paths = doc["paths"].as_object().unwrap();
    assert!(
        paths.keys().all(|p| !p.starts_with("/links")),
        "pages are not API"
    );
}

#[tokio::test]
async fn answers_without_a_token_are_rate_limited_by_the_identity_they_prove() {
    let hook = Hook::start().await;
    let s = server_with(
        &format!("{}/api", hook.base),
        "limits: {ratePerToken: {requests: 8, per: 1h}}\n",
    );
    let (_, id) = s.gate(BOT, &[ADAM]).await;
    let forged = tampered(&fresh_link(&id, ADAM, Choice::Approve));
    for _ in 0..8 {
        assert_eq!(get_link(&s, &forged).await.status, 403);
    }
    let p = get_link(&s, &forged).await;
    assert_eq!(p.status, 429, "{}", p.text);
    assert!(p.headers.contains_key("retry-after"));
    // Forgeries share one bucket; adam's real link has its own.
    let adams = fresh_link(&id, ADAM, Choice::Approve);
    assert_eq!(get_link(&s, &adams).await.status, 200);
    assert_eq!(post_link(&s, &adams, &[]).await.status, 200);

    let (_, id2) = s.gate(BOT, &[BOB]).await;
    let body = click(
        "UBOB01",
        SLACK_APPROVE,
        &id2,
        "1700000000.000700",
        &format!("{}/a", hook.base),
    );
    for _ in 0..8 {
        slack_post(&s, &body, now_s(), "wrong secret")
            .await
            .error(401);
    }
    let (code, _) = slack_post(&s, &body, now_s(), "wrong secret")
        .await
        .error(429);
    assert_eq!(code, "rate_limited");
    slack_post(&s, &body, now_s(), SIGNING_SECRET).await.ok(200);
    // Only what was answered before the limit is in the log.
    let all = refusals(&s).await;
    let count = |reason: &str| {
        all.iter()
            .filter(|e| e["detail"]["reason"] == reason)
            .count()
    };
    assert_eq!(
        (count("tampered"), count("bad_signature")),
        (8, 8),
        "{all:?}"
    );
}
