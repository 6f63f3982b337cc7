//! The inbox over real sockets, as a browser without JavaScript uses it: sign-in and its
//! refusals, the session cookie's flags and checks, CSRF on every form, who may open and
//! answer what, the feedback form's checks, escaping of hostile text, the long-poll that
//! updates pages, and the history.

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{Value, json};

use rekall_policy::model::Timestamp;
use rekall_policy::server::inbox::session::{COOKIE, Session};
use rekall_policy::server::keys::Key;

use crate::support::*;

/// A form field or a header.
type Pair<'a> = (&'a str, &'a str);

/// A browser without JavaScript: a cookie jar, no redirects followed.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

/// A page: its status, headers and text.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Page {
    /// The value of the first hidden `csrf` field.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let at = self.text.find(marker).expect("a csrf field") + marker.len();
        let end = self.text[at..].find('"').unwrap();
        self.text[at..at + end].to_owned()
    }

    fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }

    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

impl Browser {
    fn new(s: &Server) -> Browser {
        Browser {
            base: s.base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header("cookie", self.cookie_header())
        };
        let r = req.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        for value in headers.get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status,
            headers,
            text: r.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// A form post; `headers` are sent as well (an `Origin`, say).
    async fn post(&mut self, path: &str, pairs: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let body: String = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    /// Signs in with `token`: the sign-in form, then its post.
    async fn sign_in_with(&mut self, token: &str) -> Page {
        let form = self.get("/signin").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.csrf();
        self.post("/signin", &[("csrf", &csrf), ("token", token)], &[])
            .await
    }

    /// A browser signed in as `principal`.
    async fn signed_in(s: &Server, principal: &str) -> Browser {
        let mut b = Browser::new(s);
        let done = b.sign_in_with(&token(principal)).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
        assert_eq!(done.location(), Some("/"));
        assert!(b.cookies.contains_key(COOKIE));
        b
    }

    /// The CSRF token of the page at `path`.
    async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        page.csrf()
    }
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The server's session key, read from its store.
fn session_key(s: &Server) -> Key {
    if let Ok(url) = std::fs::read_to_string(s.dir.path().join("postgres-url")) {
        return Key::new(crate::postgres::bytes_blocking(
            &url,
            "SELECT value FROM server_secrets WHERE name = 'sessions'",
        ));
    }
    let db = rusqlite::Connection::open(s.dir.path().join("rekall.db")).unwrap();
    let value: Vec<u8> = db
        .query_row(
            "SELECT value FROM server_secrets WHERE name = 'sessions'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    Key::new(value)
}

async fn audit_kinds(s: &Server, kind: &str) -> Vec<Value> {
    let all = s.get(&format!("/v1/audit?kind={kind}"), ROOT).await.ok(200);
    all["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn sign_in_refuses_agent_and_unknown_tokens_and_audits_every_attempt() {
    let s = Server::start("");
    let mut b = Browser::new(&s);
    let agent = b.sign_in_with(&token(BOT)).await;
    assert_eq!(agent.status, StatusCode::FORBIDDEN);
    assert!(
        agent.text.contains("agent token cannot sign in"),
        "{}",
        agent.text
    );
    let unknown = b.sign_in_with("tok-nobody").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.text.contains("not a valid approver token"));
    let empty = b.sign_in_with("").await;
    assert_eq!(empty.status, StatusCode::UNAUTHORIZED);
    assert!(
        !b.cookies.contains_key(COOKIE),
        "no session after a refusal"
    );
    assert_eq!(b.get("/").await.location(), Some("/signin"));

    let refused = audit_kinds(&s, "answer_refused").await;
    let reasons: Vec<&str> = refused
        .iter()
        .map(|e| e["detail"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "an agent token cannot sign in",
            "not a configured token",
            "not a configured token"
        ]
    );
    assert!(refused.iter().all(|e| e["detail"]["channel"] == "inbox"));

    let mut adam = Browser::signed_in(&s, ADAM).await;
    assert_eq!(adam.get("/").await.status, StatusCode::OK);
    let signed = audit_kinds(&s, "signed_in").await;
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0]["principal"], ADAM);
    assert_eq!(signed[0]["detail"]["role"], "approver");
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_for_the_whole_site_and_secure_over_https() {
    let s = Server::start("");
    let mut b = Browser::new(&s);
    let done = b.sign_in_with(&token(ADAM)).await;
    let cookie = done.set_cookie(COOKIE).unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");

    let s = Server::start("publicUrl: https://inbox.example.com\n");
    let mut b = Browser::new(&s);
    let form = b.get("/signin").await;
    assert!(
        form.set_cookie("rekall_signin")
            .unwrap()
            .contains("; Secure")
    );
    let done = b
        .post(
            "/signin",
            &[("csrf", &form.csrf()), ("token", &token(ADAM))],
            &[],
        )
        .await;
    assert!(done.set_cookie(COOKIE).unwrap().contains("; Secure"));

    // The API takes bearer tokens only: the cookie is no credential there.
    let api = b.get("/v1/approvals?status=pending").await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_tampered_forged_or_expired_cookie_signs_no_one_in() {
    let s = Server::start("");
    let mut b = Browser::signed_in(&s, ADAM).await;
    assert_eq!(b.get("/").await.status, StatusCode::OK);
    let good = b.cookies[COOKIE].clone();

    let (claims, tag) = good.split_once('.').unwrap();
    let mut flipped = claims.as_bytes().to_vec();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{}.{tag}", String::from_utf8(flipped).unwrap());
    let key = session_key(&s);
    let now = Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let session = |principal: &str, role: &str, expires_at: Timestamp| Session {
        principal: rekall_policy::ir::Principal::parse(principal).unwrap(),
        role: role.into(),
        id: "0".repeat(32),
        expires_at,
    };
    let expired = session(ADAM, "approver", Timestamp(now.0 - 1000)).sign(&key);
    let other_key =
        session(ADAM, "approver", Timestamp(now.0 + 60_000)).sign(&Key::new(vec![9; 32]));
    let raised = session(ADAM, "admin", Timestamp(now.0 + 60_000)).sign(&key);
    let agent = session(BOT, "agent", Timestamp(now.0 + 60_000)).sign(&key);
    for bad in [
        &tampered,
        &expired,
        &other_key,
        &raised,
        &agent,
        &"x".repeat(2000),
    ] {
        b.cookies.insert(COOKIE.into(), bad.clone());
        let page = b.get("/").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{bad}");
        assert_eq!(page.location(), Some("/signin"));
    }
    // A well-signed, unexpired cookie of the server's key does sign in: the refusals above
    // are each for its own reason.
    b.cookies.insert(
        COOKIE.into(),
        session(ADAM, "approver", Timestamp(now.0 + 60_000)).sign(&key),
    );
    assert_eq!(b.get("/").await.status, StatusCode::OK);
    b.cookies.insert(COOKIE.into(), good);
    assert_eq!(b.get("/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_post_without_this_sessions_form_token_or_from_another_origin_is_refused() {
    let s = Server::start("");
    let (exe, id) = s.gate(BOT, &[ADAM]).await;
    let path = format!("/approvals/{id}");
    let mut adam = Browser::signed_in(&s, ADAM).await;
    let mut alice = Browser::signed_in(&s, ALICE).await;
    let good = adam.csrf(&path).await;
    let alices = alice.csrf("/").await;
    assert_ne!(good, alices);

    let cases: [(&[Pair], &[Pair]); 6] = [
        (&[("choice", "approve")], &[]),
        (&[("choice", "approve"), ("csrf", "")], &[]),
        (&[("choice", "approve"), ("csrf", "bm90IGEgdG9rZW4")], &[]),
        (&[("choice", "approve"), ("csrf", &alices)], &[]),
        (
            &[("choice", "approve"), ("csrf", &good)],
            &[("origin", "http://evil.example")],
        ),
        (
            &[("choice", "approve"), ("csrf", &good)],
            &[("sec-fetch-site", "cross-site")],
        ),
    ];
    for (pairs, headers) in cases {
        let page = adam.post(&path, pairs, headers).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{pairs:?} {headers:?}");
        assert!(page.text.contains("refused"), "{}", page.text);
    }
    let twice = adam
        .post(
            &path,
            &[("csrf", &good), ("csrf", &good), ("choice", "approve")],
            &[],
        )
        .await;
    assert_eq!(twice.status, StatusCode::FORBIDDEN);
    let a = s.get(&format!("/v1/approvals/{id}"), BOT).await.ok(200);
    assert_eq!(
        (a["status"].as_str(), a["approvedBy"].clone()),
        (Some("pending"), json!([]))
    );

    // Sign-out is a form too.
    let out = adam.post("/signout", &[], &[]).await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    assert_eq!(
        adam.get("/").await.status,
        StatusCode::OK,
        "still signed in"
    );

    // The sign-in form's own token (login CSRF): posted without the form's nonce cookie.
    let mut stranger = Browser::new(&s);
    let form = stranger.get("/signin").await.csrf();
    stranger.cookies.clear();
    let page = stranger
        .post("/signin", &[("csrf", &form), ("token", &token(ADAM))], &[])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!stranger.cookies.contains_key(COOKIE));

    // With its token, from this origin, the vote counts.
    let page = adam
        .post(
            &path,
            &[
                ("csrf", &good),
                ("choice", "approve"),
                ("comment", "ship it"),
            ],
            &[("origin", &s.base), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(
        page.text
            .contains("Your approval was counted: the request is now approved.")
    );
    let e = s.get(&format!("/v1/executions/{exe}"), BOT).await.ok(200);
    assert_eq!(e["status"], "running");
    let votes = s
        .get(&format!("/v1/audit?executionId={exe}&kind=vote"), BOT)
        .await
        .ok(200);
    assert_eq!(votes["items"][0]["detail"]["note"], "ship it");
    assert_eq!(votes["items"][0]["principal"], ADAM);

    let out = adam.post("/signout", &[("csrf", &good)], &[]).await;
    assert_eq!(out.location(), Some("/signin"));
    assert_eq!(adam.get("/").await.location(), Some("/signin"));
}

#[tokio::test]
async fn another_approver_can_neither_open_nor_vote_on_a_request_not_theirs() {
    let s = Server::start("");
    let (_, id) = s.gate(BOT, &[ADAM]).await;
    let exe = s.running(BOT, "a chain").await;
    let chain = s
        .post(
            &format!("/v1/executions/{exe}/approvals"),
            BOT,
            json!({"title": "Chain", "chain": [
                {"step": "Technical Review", "approvers": [ALICE]},
                {"step": "Manager Approval", "approvers": [CAROL]}]}),
        )
        .await
        .ok(201);
    let chain = chain["id"].as_str().unwrap().to_owned();

    let mut bob = Browser::signed_in(&s, BOB).await;
    let list = bob.get("/").await;
    assert!(!list.text.contains(&id) && !list.text.contains(&chain));
    let csrf = bob.csrf("/").await;
    for request in [&id, &chain] {
        let path = format!("/approvals/{request}");
        assert_eq!(bob.get(&path).await.status, StatusCode::NOT_FOUND);
        let vote = bob
            .post(&path, &[("csrf", &csrf), ("choice", "approve")], &[])
            .await;
        assert_eq!(vote.status, StatusCode::NOT_FOUND);
    }
    // Carol's step has not opened: her inbox does not show it, and her page is a 404 as in
    // the API, until Alice approves.
    let mut carol = Browser::signed_in(&s, CAROL).await;
    assert_eq!(
        carol.get(&format!("/approvals/{chain}")).await.status,
        StatusCode::NOT_FOUND
    );
    let mut alice = Browser::signed_in(&s, ALICE).await;
    let list = alice.get("/").await;
    assert!(list.text.contains(&chain) && !list.text.contains(&id));
    assert!(list.text.contains("Step 1 of 2"), "{}", list.text);
    assert!(list.text.contains("Also asked: nobody"));
    let csrf = alice.csrf("/").await;
    let done = alice
        .post(
            &format!("/approvals/{chain}"),
            &[("csrf", &csrf), ("choice", "approve")],
            &[],
        )
        .await;
    assert!(
        done.text.contains(
            "Your approval was counted: step `Technical Review` is approved; the request waits on `Manager Approval`."
        ),
        "{}",
        done.text
    );
    let list = carol.get("/").await;
    assert!(list.text.contains(&chain) && list.text.contains("Step 2 of 2"));
    // Alice voted in step 1: she may not vote in step 2, as the API says.
    let again = alice
        .post(
            &format!("/approvals/{chain}"),
            &[("csrf", &csrf), ("choice", "approve")],
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    assert!(again.text.contains("Your answer was refused"));
    let r = s.get(&format!("/v1/approvals/{chain}"), BOT).await.ok(200);
    assert_eq!(r["approvedBy"], json!([ALICE]));
}

#[tokio::test]
async fn feedback_errors_name_the_field_keep_the_input_and_a_fixed_answer_is_recorded() {
    let s = Server::start("");
    let exe = s.running(BOT, "codegen").await;
    let f = s
        .post(
            &format!("/v1/executions/{exe}/feedback"),
            BOT,
            json!({"title": "Review Generated Code", "reviewers": [ADAM],
                   "artifacts": [{"type": "code", "content": "fn main() {}", "language": "rust"}],
                   "form": {"fields": [
                       {"name": "quality", "type": "rating", "label": "Code Quality", "min": 1, "max": 5},
                       {"name": "issues", "type": "multiselect", "label": "Issues Found",
                        "options": ["Security concern", "No issues"]},
                       {"name": "verdict", "type": "select", "label": "Verdict", "options": ["ship", "hold"]},
                       {"name": "comments", "type": "text", "label": "Additional Comments", "required": false}]}}),
        )
        .await
        .ok(201);
    let id = f["id"].as_str().unwrap().to_owned();
    let path = format!("/feedback/{id}");
    let mut adam = Browser::signed_in(&s, ADAM).await;
    let page = adam.get(&path).await;
    assert!(
        page.text
            .contains("<pre><code class=\"language-rust\">fn main() {}</code></pre>")
    );
    assert!(page.text.contains("min=\"1\" max=\"5\""), "{}", page.text);
    assert!(page.text.contains("data-multiselect data-required"));
    let csrf = page.csrf();

    let refused = adam
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("a.quality", "9"),
                ("a.issues", "No issues"),
                ("a.comments", "keep this text"),
            ],
            &[],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let t = &refused.text;
    assert!(
        t.contains("Code Quality: 9 is outside the range 1 to 5"),
        "{t}"
    );
    assert!(t.contains("Verdict: is required but has no answer"), "{t}");
    assert!(
        t.contains(">keep this text</textarea>"),
        "the input is kept: {t}"
    );
    assert!(t.contains("value=\"9\""));
    assert!(t.contains("value=\"No issues\" checked"));
    assert!(t.contains("class=\"field invalid\" data-field=\"f0\""));

    for bad in [
        vec![("csrf", csrf.as_str()), ("a.unknown", "x")],
        vec![
            ("csrf", csrf.as_str()),
            ("a.verdict", "ship"),
            ("a.verdict", "hold"),
        ],
        vec![("csrf", csrf.as_str()), ("quality", "3")],
    ] {
        let page = adam.post(&path, &bad, &[]).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad:?}");
    }
    let wrong_type = adam
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("a.quality", "four"),
                ("a.verdict", "ship"),
            ],
            &[],
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong_type.text.contains("Code Quality: must be"),
        "{}",
        wrong_type.text
    );

    let done = adam
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("a.quality", "4"),
                ("a.issues", "Security concern"),
                ("a.issues", "No issues"),
                ("a.verdict", "ship"),
                ("a.comments", "two\r\nlines"),
            ],
            &[],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert!(done.text.contains("your answer was recorded"));
    let f = s.get(&format!("/v1/feedback/{id}"), BOT).await.ok(200);
    assert_eq!(
        f["data"],
        json!({"quality": 4, "issues": ["Security concern", "No issues"], "verdict": "ship",
               "comments": "two\nlines"})
    );
    let history = adam.get("/history").await;
    assert!(
        history.text.contains("Review Generated Code") && history.text.contains("You answered")
    );
}

#[tokio::test]
async fn hostile_text_from_an_agent_is_shown_as_text_everywhere() {
    let s = Server::start("");
    let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
    let exe = s.running(BOT, evil).await;
    let a = s
        .post(
            &format!("/v1/executions/{exe}/approvals"),
            BOT,
            json!({"title": evil, "description": evil, "chain": [{"step": evil, "approvers": [ADAM]}]}),
        )
        .await
        .ok(201);
    let approval = a["id"].as_str().unwrap().to_owned();
    // A bound request from escalation-check carries the call's context.
    let exe2 = s.running(BOT, "bound").await;
    let d = s
        .post(
            &format!("/v1/executions/{exe2}/escalation-check"),
            BOT,
            json!({"action": "delete", "resource": evil, "confidence": 0.95, "context": {"note": evil}}),
        )
        .await
        .ok(200);
    let bound = d["approvalId"].as_str().unwrap().to_owned();
    let exe3 = s.running(BOT, "form").await;
    let f = s
        .post(
            &format!("/v1/executions/{exe3}/feedback"),
            BOT,
            json!({"title": evil, "description": evil,
                   "artifacts": [{"type": "code", "content": evil, "language": "\"><script>x</script>", "title": evil},
                                 {"type": evil, "content": evil}],
                   "form": {"fields": [
                       {"name": "pick", "type": "select", "label": evil, "options": [evil, "fine"]},
                       {"name": "many", "type": "multiselect", "label": evil, "options": [evil]},
                       {"name": evil, "type": "text", "label": evil}]}}),
        )
        .await
        .ok(201);
    let feedback = f["id"].as_str().unwrap().to_owned();

    let mut adam = Browser::signed_in(&s, ADAM).await;
    let csrf = adam.csrf("/").await;
    adam.post(
        &format!("/approvals/{approval}"),
        &[("csrf", &csrf), ("choice", "reject"), ("comment", evil)],
        &[],
    )
    .await;
    let list = adam.get("/").await;
    let pages = [
        list.text.clone(),
        adam.get(&format!("/approvals/{approval}")).await.text,
        adam.get(&format!("/approvals/{bound}")).await.text,
        adam.get(&format!("/feedback/{feedback}")).await.text,
        adam.get("/history").await.text,
    ];
    assert!(list.text.contains(&bound) && list.text.contains(&feedback));
    let escaped =
        "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;";
    for (i, page) in pages.iter().enumerate() {
        assert!(!page.contains("<script>alert"), "page {i}: {page}");
        assert!(!page.contains("<img"), "page {i}: {page}");
        assert!(!page.contains("<script>x"), "page {i}: {page}");
        assert!(page.contains(escaped), "page {i}: {page}");
        // The only script is the inbox's own.
        assert_eq!(page.matches("<script").count(), 1, "page {i}");
    }
    let bound_page = &pages[2];
    assert!(bound_page.contains("<code class=\"language-json\" id=\"context\">"));
    assert!(bound_page.contains("The call being approved"));
    assert!(
        bound_page.contains("<dt>Confidence</dt><dd>0.95</dd>"),
        "{bound_page}"
    );
    let feedback_page = &pages[3];
    assert!(
        feedback_page.contains("<pre><code>"),
        "an unsafe language is no class"
    );
}

#[tokio::test]
async fn the_changes_poll_answers_when_a_request_is_resolved_elsewhere() {
    let s = Server::start("");
    let (_, id) = s.gate(BOT, &[ADAM]).await;
    let mut adam = Browser::signed_in(&s, ADAM).await;
    let page = adam.get("/").await;
    let marker = "data-digest=\"";
    let at = page.text.find(marker).unwrap() + marker.len();
    let digest = page.text[at..at + 16].to_owned();

    let unsigned = Browser::new(&s)
        .get(&format!("/inbox/changes?watch=list&since={digest}"))
        .await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    let same = adam
        .get(&format!("/inbox/changes?watch=list&since={digest}"))
        .await;
    let same: Value = serde_json::from_str(&same.text).unwrap();
    assert_eq!(same, json!({"digest": digest, "changed": false}));
    for bad in [
        "watch=list&wait=10m",
        "watch=nothing",
        "watch=list&since=a&since=b",
    ] {
        let page = adam.get(&format!("/inbox/changes?{bad}")).await;
        assert!(page.status.is_client_error(), "{bad}");
    }
    let hidden = Browser::signed_in(&s, BOB)
        .await
        .get(&format!("/inbox/changes?watch=approval&id={id}"))
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);

    // A waiter beside an approval through the API: it answers with the change.
    let cookie = adam.cookie_header();
    let url = format!(
        "{}/inbox/changes?watch=list&since={digest}&wait=30s",
        s.base
    );
    let waiter = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .get(url)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()
    });
    s.post(&format!("/v1/approvals/{id}/approve"), ADAM, json!({}))
        .await
        .ok(200);
    let answer = waiter.await.unwrap();
    assert_eq!(answer["changed"], true, "{answer}");
    assert_ne!(answer["digest"], digest.as_str());
    let list = adam.get("/").await;
    assert!(!list.text.contains(&id) && list.text.contains("Nothing waits for you now"));
}

#[tokio::test]
async fn failed_sign_ins_from_one_address_are_bounded() {
    let s = Server::start("");
    let mut b = Browser::new(&s);
    for _ in 0..10 {
        assert_eq!(
            b.sign_in_with("tok-guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let blocked = b.sign_in_with("tok-guess").await;
    assert_eq!(
        blocked.status,
        StatusCode::UNAUTHORIZED,
        "the eleventh failure is counted"
    );
    // Past the allowance, not even a right token is looked at.
    let held = b.sign_in_with(&token(ADAM)).await;
    assert_eq!(held.status, StatusCode::TOO_MANY_REQUESTS, "{}", held.text);
    assert!(held.headers.contains_key("retry-after"));
    assert!(!b.cookies.contains_key(COOKIE));
    assert_eq!(audit_kinds(&s, "answer_refused").await.len(), 11);
}

#[tokio::test]
async fn history_lists_past_votes_newest_first() {
    let s = Server::start("");
    let mut adam = Browser::signed_in(&s, ADAM).await;
    let csrf = adam.csrf("/").await;
    let mut titles = Vec::new();
    for i in 0..3 {
        let exe = s.running(BOT, "work").await;
        let title = format!("Request number {i}");
        let a = s
            .post(
                &format!("/v1/executions/{exe}/approvals"),
                BOT,
                json!({"title": title, "approvers": [ADAM]}),
            )
            .await
            .ok(201);
        let choice = if i == 1 { "reject" } else { "approve" };
        let page = adam
            .post(
                &format!("/approvals/{}", a["id"].as_str().unwrap()),
                &[
                    ("csrf", &csrf),
                    ("choice", choice),
                    ("comment", &format!("note {i}")),
                ],
                &[],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK);
        titles.push(title);
    }
    let page = adam.get("/history").await.text;
    let at = |t: &str| page.find(t).unwrap_or_else(|| panic!("{t} in {page}"));
    assert!(at(&titles[2]) < at(&titles[1]) && at(&titles[1]) < at(&titles[0]));
    assert!(page.contains("You rejected") && page.contains("note 1"));
    assert_eq!(
        adam.get("/history?page=0").await.status,
        StatusCode::BAD_REQUEST
    );
    assert!(
        adam.get("/history?page=2")
            .await
            .text
            .contains("No answers here")
    );
}

#[tokio::test]
async fn after_a_kill_the_inbox_still_lists_pending_requests_and_a_removed_token_ends_its_session()
{
    let mut s = Server::start("");
    let (_, id) = s.gate(BOT, &[ADAM]).await;
    let mut adam = Browser::signed_in(&s, ADAM).await;
    assert!(adam.get("/").await.text.contains(&id));
    s.kill();
    let dir = s.into_dir();

    // The same store: the session key is kept there, so the cookie still signs Adam in.
    let config = dir.path().join("rekall-server.yaml");
    let args = [
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    let mut s = Server::spawn(dir, &args, 0);
    adam.base = s.base.clone();
    let list = adam.get("/").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.text.contains(&id), "{}", list.text);
    s.terminate();
    let dir = s.into_dir();

    // Adam's token taken out of the configuration: his session ends with the restart.
    let text = config_text(dir.path(), "");
    let without: Vec<&str> = text.lines().filter(|l| !l.contains(ADAM)).collect();
    std::fs::write(&config, without.join("\n") + "\n").unwrap();
    let s = Server::spawn(dir, &args, 0);
    adam.base = s.base.clone();
    assert_eq!(adam.get("/").await.location(), Some("/signin"));
    let mut alice = Browser::signed_in(&s, ALICE).await;
    assert_eq!(alice.get("/").await.status, StatusCode::OK);
}
