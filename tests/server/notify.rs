//! Outgoing notifications end to end: the server sends to an SMTP server and an HTTP server
//! (standing for Slack's API and a webhook receiver) that the test runs on 127.0.0.1; a dead
//! endpoint is retried and audited while decisions go on, and a notification pending when
//! the server is killed is delivered once after it restarts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use rekall_policy::model::Timestamp;
use rekall_policy::server::keys::{Key, hmac_sha256};
use rekall_policy::server::links::{Choice, LinkClaims};

use crate::support::*;

const SLACK_TOKEN: &str = "xoxb-test-bot-token";
const HOOK_SECRET: &str = "the webhook's shared secret";
const LINK_SECRET: &str = "a link secret of at least thirty-two bytes";

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("T_SLACK_TOKEN", SLACK_TOKEN),
        ("T_SLACK_SECRET", "slack signing secret"),
        ("T_HOOK_SECRET", HOOK_SECRET),
        ("T_LINK_SECRET", LINK_SECRET),
    ]
}

// ---- a minimal SMTP server -------------------------------------------------------------

/// One message the SMTP server took.
#[derive(Debug, Clone)]
struct Mail {
    to: Vec<String>,
    data: String,
}

#[derive(Debug, Clone, Default)]
struct Mailbox(Arc<Mutex<Vec<Mail>>>);

impl Mailbox {
    fn all(&self) -> Vec<Mail> {
        self.0.lock().unwrap().clone()
    }
}

/// An SMTP server on a free port speaking EHLO, MAIL, RCPT, DATA, QUIT, keeping each message.
async fn smtp_server() -> (u16, Mailbox) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mailbox = Mailbox::default();
    let kept = mailbox.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let _ = smtp_session(socket, kept).await;
            });
        }
    });
    (port, mailbox)
}

async fn smtp_session(socket: TcpStream, kept: Mailbox) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 127.0.0.1 test SMTP\r\n").await?;
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
            b"250-127.0.0.1\r\n250 8BITMIME\r\n"
        } else if command.starts_with("MAIL FROM:") {
            to.clear();
            b"250 OK\r\n"
        } else if command.starts_with("RCPT TO:") {
            to.push(line.trim_end()["RCPT TO:".len()..].trim().to_owned());
            b"250 OK\r\n"
        } else if command == "DATA" {
            write.write_all(b"354 end with a dot\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                // Undo the dot-stuffing of lines that begin with a dot.
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            kept.0.lock().unwrap().push(Mail {
                to: std::mem::take(&mut to),
                data,
            });
            b"250 kept\r\n"
        } else if command == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"250 OK\r\n"
        };
        write.write_all(reply).await?;
    }
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

// ---- reading a MIME message ------------------------------------------------------------

/// A message's headers (unfolded) and its plain-text and HTML parts, decoded.
#[derive(Debug)]
struct Parsed {
    headers: Vec<(String, String)>,
    text: String,
    html: String,
}

fn unfold(block: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    out
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn quoted_printable(body: &str) -> String {
    let body = body.replace("=\r\n", "");
    let bytes = body.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn decode(headers: &[(String, String)], body: &str) -> String {
    match header(headers, "content-transfer-encoding").map(str::to_ascii_lowercase) {
        Some(e) if e == "base64" => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body.replace("\r\n", ""))
                .unwrap(),
        )
        .unwrap(),
        Some(e) if e == "quoted-printable" => quoted_printable(body),
        _ => body.to_owned(),
    }
}

fn parse(data: &str) -> Parsed {
    let (head, body) = data.split_once("\r\n\r\n").unwrap();
    let headers = unfold(head);
    let content_type = header(&headers, "content-type").unwrap().to_owned();
    assert!(
        content_type.starts_with("multipart/alternative"),
        "{content_type}"
    );
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .unwrap()
        .trim_matches('"')
        .to_owned();
    let (mut text, mut html) = (None, None);
    for part in body.split(&format!("--{boundary}")).skip(1) {
        let Some((part_head, part_body)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let part_headers = unfold(part_head.trim_start_matches("\r\n"));
        let decoded = decode(&part_headers, part_body.trim_end_matches("\r\n"));
        match header(&part_headers, "content-type") {
            Some(t) if t.starts_with("text/plain") => text = Some(decoded),
            Some(t) if t.starts_with("text/html") => html = Some(decoded),
            _ => {}
        }
    }
    Parsed {
        headers,
        text: text.expect("a text/plain part"),
        html: html.expect("a text/html part"),
    }
}

// ---- an HTTP server standing for Slack's API and webhook receivers ---------------------

#[derive(Debug, Clone)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    /// The status it was answered with.
    answered: u16,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Debug, Clone)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// The status every request is answered with (Slack's calls answer `ok: false` unless
    /// it is 200).
    status: Arc<AtomicU16>,
    /// Whether Slack's calls answer `ok: false` even with 200, as Slack refuses a message.
    slack_refuses: Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    fn hits(&self, path: &str) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

async fn receive(
    State(r): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let status = r.status.load(Ordering::SeqCst);
    r.hits.lock().unwrap().push(Hit {
        path: uri.path().to_owned(),
        headers,
        body: body.to_vec(),
        answered: status,
    });
    let answer = if uri.path().ends_with("/chat.postMessage") {
        if status == 200 && !r.slack_refuses.load(Ordering::SeqCst) {
            json!({"ok": true, "ts": "1.2"})
        } else {
            json!({"ok": false, "error": "channel_not_found"})
        }
    } else {
        json!({})
    };
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        answer.to_string(),
    )
}

/// An HTTP server on a free port; its base URL.
async fn http_receiver() -> (String, Receiver) {
    http_receiver_on(TcpListener::bind("127.0.0.1:0").await.unwrap())
}

fn http_receiver_on(listener: TcpListener) -> (String, Receiver) {
    let r = Receiver {
        hits: Arc::default(),
        status: Arc::new(AtomicU16::new(200)),
        slack_refuses: Arc::default(),
    };
    let app = Router::new().fallback(receive).with_state(r.clone());
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, r)
}

// ---- helpers ---------------------------------------------------------------------------

/// Asks `f` every 100 ms until it gives something, for at most 30 s.
async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..300 {
        if let Some(t) = f().await {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 30 s");
}

/// The audit entries of an execution of one kind.
async fn audited(s: &Server, execution: &str, kind: &str) -> Vec<Value> {
    let audit = s
        .get(&format!("/v1/audit?executionId={execution}"), ROOT)
        .await
        .ok(200);
    audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// The token of a link under `base`.
fn token_of<'a>(link: &'a str, base: &str) -> &'a str {
    link.strip_prefix(&format!("{base}/links/"))
        .unwrap_or_else(|| panic!("{link} is not a link of {base}"))
}

/// The link after `label: ` in a text part.
fn link_after<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` line in\n{text}"))
        .trim()
}

/// Whether a webhook's signature headers check with the secret.
fn signed(hit: &Hit) -> bool {
    let ts = hit.headers["x-rekall-timestamp"].to_str().unwrap();
    let sig = hit.headers["x-rekall-signature"].to_str().unwrap();
    let mut message = format!("{ts}.").into_bytes();
    message.extend_from_slice(&hit.body);
    let tag = hmac_sha256(HOOK_SECRET.as_bytes(), &message);
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    sig == format!("sha256={hex}")
}

/// `PUT /v1/policy` of a YAML text as the admin: the status and the body.
async fn put_policy(s: &Server, text: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .put(format!("{}/v1/policy", s.base))
        .bearer_auth(token(ROOT))
        .header("content-type", "application/yaml")
        .body(text.to_owned())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn approval(s: &Server, exe: &str, body: Value) -> String {
    let a = s
        .post(&format!("/v1/executions/{exe}/approvals"), BOT, body)
        .await
        .ok(201);
    a["id"].as_str().unwrap().to_owned()
}

// ---- the tests -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_request_goes_out_by_email_slack_and_a_signed_webhook() {
    let (smtp, mailbox) = smtp_server().await;
    let (http, receiver) = http_receiver().await;
    let extra = format!(
        "email: {{smtp: \"smtp://127.0.0.1:{smtp}\", from: \"rekall@example.com\", addresses: {{\"user:adam\": adam@example.com, \"user:alice\": alice@example.com}}}}\n\
         slack: {{apiBase: \"{http}/api\", botTokenEnv: T_SLACK_TOKEN, signingSecretEnv: T_SLACK_SECRET, channel: \"#approvals\", users: {{U0ADAM: \"user:adam\"}}}}\n\
         webhooks:\n  ops: {{url: \"{http}/hooks/ops\", secretEnv: T_HOOK_SECRET}}\n\
         linkSecretEnv: T_LINK_SECRET\n"
    );
    let s = Server::start_in_env(tempfile::tempdir().unwrap(), &extra, &env());
    let exe = s.running(BOT, "deploy").await;
    let title = "Deploy api@1.4.2 to production";
    let id = approval(
        &s,
        &exe,
        json!({"title": title, "description": "<script>alert('owned')</script> rolls out the new API",
               "approvers": [ADAM, ALICE], "timeout": 3600000, "priority": "high",
               "notifyVia": ["email", "slack", "webhook"]}),
    )
    .await;

    // One email to each approver, each with its own links.
    let mails = until("two emails", async || {
        let m = mailbox.all();
        (m.len() >= 2).then_some(m)
    })
    .await;
    let adams = mails
        .iter()
        .find(|m| m.to == ["<adam@example.com>"])
        .expect("an email to adam");
    let mail = parse(&adams.data);
    let subject = header(&mail.headers, "subject").unwrap();
    assert!(subject.contains("Approval requested"), "{subject}");
    assert_eq!(header(&mail.headers, "from"), Some("rekall@example.com"));
    for want in [
        title,
        "Asked by: agent:deploy-bot",
        "Priority: high",
        "Deadline: ",
    ] {
        assert!(mail.text.contains(want), "{want} missing:\n{}", mail.text);
    }
    let page = format!("{}/approvals/{id}", s.base);
    assert!(mail.text.contains(&page), "{}", mail.text);
    assert!(
        mail.html.contains(&format!("href=\"{page}\"")),
        "{}",
        mail.html
    );
    assert!(
        !mail.html.contains("<script>") && mail.html.contains("&lt;script&gt;"),
        "the agent's text is escaped:\n{}",
        mail.html
    );

    // The links are signed with the server's key, bound to the request, adam and a choice.
    let key = Key::new(LINK_SECRET.as_bytes().to_vec());
    let now = Timestamp(now_ms());
    for (label, choice) in [("Approve: ", Choice::Approve), ("Reject: ", Choice::Reject)] {
        let link = link_after(&mail.text, label);
        assert!(
            mail.html.contains(&format!("href=\"{link}\"")),
            "the HTML part has the same link"
        );
        let claims = LinkClaims::verify(token_of(link, &s.base), &key, now).unwrap();
        assert_eq!(
            (
                claims.request.as_str(),
                claims.approver.as_str(),
                claims.choice
            ),
            (id.as_str(), ADAM, choice)
        );
        assert!(
            claims.expires_at.0 <= now.0 + 3_600_000,
            "no later than the deadline"
        );
    }
    let alices = parse(
        &mails
            .iter()
            .find(|m| m.to == ["<alice@example.com>"])
            .unwrap()
            .data,
    );
    let alice_link = link_after(&alices.text, "Approve: ");
    let claims = LinkClaims::verify(token_of(alice_link, &s.base), &key, now).unwrap();
    assert_eq!(claims.approver.as_str(), ALICE);

    // Slack: the bot token, the channel, adam mentioned, both buttons with the request id.
    let posted = until("a Slack message", async || {
        receiver.hits("/api/chat.postMessage").into_iter().next()
    })
    .await;
    assert_eq!(
        posted.headers["authorization"].to_str().unwrap(),
        format!("Bearer {SLACK_TOKEN}")
    );
    let message = posted.json();
    assert_eq!(message["channel"], "#approvals");
    let text = message["blocks"].to_string();
    assert!(text.contains("<@U0ADAM>"), "{text}");
    assert!(
        text.contains("user:alice"),
        "an unmapped recipient is named: {text}"
    );
    assert!(text.contains(&page), "{text}");
    let buttons: Vec<(String, String)> = message["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().clone())
        .map(|e| {
            (
                e["action_id"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        buttons,
        [
            (
                rekall_policy::server::links::SLACK_APPROVE.to_owned(),
                id.clone()
            ),
            (
                rekall_policy::server::links::SLACK_REJECT.to_owned(),
                id.clone()
            )
        ]
    );

    // The webhook: signed over its timestamp and body, naming the notification.
    let hook = until("a webhook call", async || {
        receiver.hits("/hooks/ops").into_iter().next()
    })
    .await;
    assert!(signed(&hook), "the signature checks with the secret");
    let ts: i64 = hook.headers["x-rekall-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((now_ms() / 1000 - ts).abs() < 300, "a fresh timestamp");
    let mut forged = hook.clone();
    forged.body = hook.body.iter().copied().chain(*b" ").collect();
    assert!(!signed(&forged), "a changed body does not check");
    let body = hook.json();
    assert_eq!(body["request"]["id"], id.as_str());
    assert_eq!(body["notification"]["kind"], "approval_requested");
    assert_eq!(
        hook.headers["x-rekall-notification"].to_str().unwrap(),
        body["notification"]["id"].as_str().unwrap()
    );

    // Every delivery is in the audit log, on one entry per attempt.
    let sent = until("the delivery audited", async || {
        let sent = audited(&s, &exe, "notification_sent").await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    let deliveries: Vec<(String, Value)> = sent[0]["detail"]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["channel"].as_str().unwrap().to_owned(),
                d["recipient"].clone(),
            )
        })
        .collect();
    assert_eq!(
        deliveries,
        [
            ("email".to_owned(), json!(ADAM)),
            ("email".to_owned(), json!(ALICE)),
            ("slack".to_owned(), Value::Null),
            ("ops".to_owned(), Value::Null)
        ]
    );
    assert_eq!(sent[0]["detail"]["attempt"], 1);

    // Adam follows his email's Approve link: the GET is only a page (a mail scanner's fetch
    // votes nothing), the page's button votes once, as adam, and the link is used up.
    let http = reqwest::Client::new();
    let approve = link_after(&mail.text, "Approve: ").to_owned();
    for _ in 0..2 {
        let page = http.get(&approve).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains(title) && html.contains("<form"), "{html}");
    }
    let still = s.get(&format!("/v1/approvals/{id}"), ADAM).await.ok(200);
    assert_eq!(
        still["status"], "pending",
        "a GET of the link does not vote"
    );
    let voted = http
        .post(&approve)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("comment=looks+good")
        .send()
        .await
        .unwrap();
    assert_eq!(voted.status(), 200, "{}", voted.text().await.unwrap());
    let done = s.get(&format!("/v1/approvals/{id}"), ADAM).await.ok(200);
    assert_eq!(done["status"], "approved");
    assert_eq!(done["approvedBy"], json!([ADAM]));
    let replay = http
        .post(&approve)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("comment=again")
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 410, "a used link is refused");
    let late = http
        .post(alice_link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(
        late.status(),
        409,
        "alice's link after the request is resolved"
    );

    // Once resolved, the approvers are told, without links that could vote.
    let resolved = until("the resolution's email", async || {
        mailbox
            .all()
            .into_iter()
            .map(|m| parse(&m.data))
            .find(|m| header(&m.headers, "subject").is_some_and(|s| s.contains("Resolved")))
    })
    .await;
    assert!(!resolved.text.contains("/links/"), "{}", resolved.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_is_retried_with_backoff_and_audited_while_the_vote_completes() {
    let dead_smtp = closed_port().await;
    let (slack, slack_api) = http_receiver().await;
    let (hooks, hook_receiver) = http_receiver().await;
    hook_receiver.answer(500);
    let extra = format!(
        "email: {{smtp: \"smtp://127.0.0.1:{dead_smtp}\", from: \"rekall@example.com\", addresses: {{\"user:adam\": adam@example.com}}}}\n\
         slack: {{apiBase: \"{slack}/api\", botTokenEnv: T_SLACK_TOKEN, signingSecretEnv: T_SLACK_SECRET, channel: \"#approvals\"}}\n\
         webhooks:\n  ops: {{url: \"{hooks}/hook\", secretEnv: T_HOOK_SECRET}}\n"
    );
    let s = Server::start_in_env(tempfile::tempdir().unwrap(), &extra, &env());
    let exe = s.running(BOT, "deploy").await;
    let id = approval(
        &s,
        &exe,
        json!({"title": "Rotate keys", "approvers": [ADAM],
               "notifyVia": ["email", "slack", "ops"]}),
    )
    .await;
    // The vote and the decision do not wait for any channel.
    let vote = s
        .post(&format!("/v1/approvals/{id}/approve"), ADAM, json!({}))
        .await
        .ok(200);
    assert_eq!(
        (vote["counted"].as_bool(), vote["status"].as_str()),
        (Some(true), Some("approved"))
    );
    let e = s.get(&format!("/v1/executions/{exe}"), BOT).await.ok(200);
    assert_eq!(e["status"], "running");

    // The request's notification fails on email and the webhook, and is tried again after
    // 1 s, then 2 s; what succeeded (Slack) is not sent again.
    let failed = until("two failed attempts", async || {
        let f: Vec<Value> = audited(&s, &exe, "notification_failed")
            .await
            .into_iter()
            .filter(|e| e["detail"]["kind"] == "approval_requested")
            .collect();
        (f.len() >= 2).then_some(f)
    })
    .await;
    let first = &failed[0]["detail"];
    let second = &failed[1]["detail"];
    assert_eq!(
        (first["attempt"].as_u64(), second["attempt"].as_u64()),
        (Some(1), Some(2))
    );
    let outcome = |d: &Value| -> BTreeMap<String, bool> {
        d["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["channel"].as_str().unwrap().to_owned(),
                    x["ok"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        outcome(first),
        BTreeMap::from([
            ("email".into(), false),
            ("ops".into(), false),
            ("slack".into(), true)
        ])
    );
    assert_eq!(
        outcome(second),
        BTreeMap::from([("email".into(), false), ("ops".into(), false)]),
        "Slack had it already"
    );
    let email = first["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == "email")
        .unwrap();
    assert_eq!(email["recipient"], ADAM);
    assert!(email["error"].as_str().unwrap().contains("SMTP"), "{email}");
    assert!(
        first["error"].as_str().unwrap().contains("HTTP 500"),
        "{first}"
    );
    let wait = |e: &Value| e["detail"]["retryAt"].as_i64().unwrap() - e["at"].as_i64().unwrap();
    assert_eq!(
        (wait(&failed[0]), wait(&failed[1])),
        (1_000, 2_000),
        "the wait doubles"
    );
    let asked = slack_api
        .hits("/api/chat.postMessage")
        .iter()
        .filter(|h| {
            h.json()["text"]
                .as_str()
                .unwrap()
                .contains("Approval requested")
        })
        .count();
    assert_eq!(asked, 1);

    // Once the webhook answers, its delivery goes through and email alone is left failing.
    hook_receiver.answer(200);
    until("the webhook delivered", async || {
        hook_receiver
            .hits("/hook")
            .iter()
            .any(|h| h.answered == 200 && h.json()["request"]["id"] == id.as_str())
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_refusing_with_http_200_is_a_failed_delivery() {
    let (slack, api) = http_receiver().await;
    api.slack_refuses.store(true, Ordering::SeqCst);
    let extra = format!(
        "slack: {{apiBase: \"{slack}/api\", botTokenEnv: T_SLACK_TOKEN, signingSecretEnv: T_SLACK_SECRET, channel: \"#gone\"}}\n"
    );
    let s = Server::start_in_env(tempfile::tempdir().unwrap(), &extra, &env());
    let exe = s.running(BOT, "deploy").await;
    approval(
        &s,
        &exe,
        json!({"title": "t", "approvers": [ADAM], "notifyVia": ["slack"]}),
    )
    .await;
    let failed = until("the refusal audited", async || {
        audited(&s, &exe, "notification_failed")
            .await
            .into_iter()
            .next()
    })
    .await;
    let error = failed["detail"]["error"].as_str().unwrap();
    assert!(
        error.contains("Slack refused the message: channel_not_found"),
        "{error}"
    );
    assert_eq!(api.hits("/api/chat.postMessage")[0].answered, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_pending_at_a_kill_are_delivered_once_after_the_restart() {
    let (hooks, receiver) = http_receiver().await;
    receiver.answer(503);
    let extra = format!("webhooks:\n  ops: {{url: \"{hooks}/hook\", secretEnv: T_HOOK_SECRET}}\n");
    let mut s = Server::start_in_env(tempfile::tempdir().unwrap(), &extra, &env());
    let mut ids = Vec::new();
    let mut executions = Vec::new();
    for title in ["first", "second"] {
        let exe = s.running(BOT, title).await;
        executions.push(exe.clone());
        ids.push(
            approval(
                &s,
                &exe,
                json!({"title": title, "approvers": [ADAM], "notifyVia": ["webhook"]}),
            )
            .await,
        );
    }
    let notified = until("both deliveries failed once", async || {
        let mut failed = Vec::new();
        for exe in &executions {
            failed.extend(audited(&s, exe, "notification_failed").await);
        }
        let mut notes: Vec<String> = failed
            .iter()
            .map(|e| e["detail"]["notification"].as_str().unwrap().to_owned())
            .collect();
        notes.sort();
        notes.dedup();
        (notes.len() == 2).then_some(notes)
    })
    .await;
    s.kill();

    receiver.answer(200);
    let s = Server::start_in_env(s.into_dir(), &extra, &env());
    until("both delivered", async || {
        let mut sent = 0;
        for exe in &executions {
            sent += audited(&s, exe, "notification_sent").await.len();
        }
        (sent == 2).then_some(())
    })
    .await;
    let delivered: Vec<Hit> = receiver
        .hits("/hook")
        .into_iter()
        .filter(|h| h.answered == 200)
        .collect();
    let mut got: Vec<String> = delivered
        .iter()
        .map(|h| {
            h.headers["x-rekall-notification"]
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    got.sort();
    assert_eq!(got, notified, "each pending notification, exactly once");
    let mut requests: Vec<String> = delivered
        .iter()
        .map(|h| h.json()["request"]["id"].as_str().unwrap().to_owned())
        .collect();
    requests.sort();
    ids.sort();
    assert_eq!(requests, ids);
    assert!(delivered.iter().all(signed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_go_out_through_the_same_channels() {
    let (hooks, receiver) = http_receiver().await;
    let extra = format!("webhooks:\n  ops: {{url: \"{hooks}/hook\", secretEnv: T_HOOK_SECRET}}\n");
    let s = Server::start_in_env(tempfile::tempdir().unwrap(), &extra, &env());
    let policy = "version: 1\nhitl:\n  rules:\n    - id: anything\n      action: \"*\"\n      requireApproval: false\nescalation:\n  rules:\n    - id: unsure\n      confidenceRange: [0.0, 1.0]\n      action: request-approval\n      approvers: [user:adam]\n      timeout: 1h\n      remindEvery: 1s\n      notifyVia: [ops]\n";
    let (status, body) = put_policy(&s, policy).await;
    assert_eq!(status, 200, "{body}");
    let exe = s.running(BOT, "deploy").await;
    let check = s
        .post(
            &format!("/v1/executions/{exe}/escalation-check"),
            BOT,
            json!({"action": "deploy", "resource": "production", "confidence": 0.5}),
        )
        .await
        .ok(200);
    let id = check["approvalId"].as_str().unwrap().to_owned();
    let reminder = until("a reminder", async || {
        receiver
            .hits("/hook")
            .into_iter()
            .find(|h| h.json()["notification"]["kind"] == "reminder")
    })
    .await;
    assert!(signed(&reminder));
    let body = reminder.json();
    assert_eq!(body["request"]["id"], id.as_str());
    assert_eq!(body["request"]["pending"], true);
    assert_eq!(body["notification"]["recipients"], json!([ADAM]));
}

#[tokio::test]
async fn a_channel_that_is_not_configured_is_refused_where_it_is_named() {
    let s = Server::start("");
    // A policy text: located at the channel's entry.
    let seed = std::fs::read_to_string(seed_policy()).unwrap();
    let text = seed.replace("notifyVia: [slack]", "notifyVia: [slack, pagerduty]");
    let (line, column) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find("pagerduty").map(|c| (i + 1, c + 1)))
        .unwrap();
    let (status, refused) = put_policy(&s, &text).await;
    assert_eq!(status, 422, "{refused}");
    let d = &refused["error"]["diagnostics"][0];
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(line as u64), Some(column as u64))
    );
    let message = d["message"].as_str().unwrap();
    assert!(
        message.contains("`pagerduty` is not configured"),
        "{message}"
    );
    assert!(d["help"].as_str().unwrap().contains("email, slack"), "{d}");
    assert_eq!(s.get("/v1/policy", ROOT).await.ok(200)["version"], 1);

    // A JSON rule list: located in its body.
    let refused = s
        .raw(
            reqwest::Method::PUT,
            "/v1/policy/escalation",
            Some(ROOT),
            json!({"rules": [{"confidenceRange": [0.0, 1.0], "action": "notify-and-proceed",
                              "approvers": ["user:adam"], "notifyVia": ["teams"]}]})
            .to_string(),
            &[],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let d = refused.body["error"]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("`teams`"))
        .unwrap_or_else(|| panic!("no diagnostic names the channel: {}", refused.body))
        .clone();
    assert_eq!(d["field"], "rules[0].notifyVia[0]", "{d}");

    // A request through the API.
    let exe = s.running(BOT, "deploy").await;
    let (code, field) = s
        .post(
            &format!("/v1/executions/{exe}/approvals"),
            BOT,
            json!({"title": "t", "approvers": [ADAM], "notifyVia": ["email", "pager"]}),
        )
        .await
        .error(422);
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("invalid_field", Some("notifyVia"))
    );
    let (_, field) = s
        .post(
            &format!("/v1/executions/{exe}/feedback"),
            BOT,
            json!({"title": "t", "form": {"fields": [{"name": "ok", "type": "text", "label": "OK?"}]},
                   "notifyVia": ["pager"]}),
        )
        .await
        .error(422);
    assert_eq!(field.as_deref(), Some("notifyVia"));
}

#[test]
fn serve_refuses_to_start_on_a_policy_or_a_channel_it_cannot_serve() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &str, env: &[(&str, &str)]| {
        let config = dir.path().join("rekall-server.yaml");
        let text = config_text(dir.path(), extra).replace("logChannels: [email, slack]\n", "");
        std::fs::write(&config, text).unwrap();
        let out = bin()
            .args([
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The seed asks for email and Slack; a configuration that has neither is refused,
    // located in the policy.
    let (code, err) = run("", &[]);
    assert_eq!(code, Some(2), "{err}");
    let seed = seed_policy();
    let text = std::fs::read_to_string(&seed).unwrap();
    let (line, column) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find("[slack]").map(|c| (i + 1, c + 2)))
        .unwrap();
    let at = format!("{}:{line}:{column}", seed.display());
    assert!(
        err.contains(&format!(
            "{at}: error: the notification channel `slack` is not configured"
        )),
        "{err}"
    );
    // A configured channel whose secret is not in the environment.
    let (code, err) = run(
        "logChannels: [email]\nslack: {botTokenEnv: T_NOT_SET_ANYWHERE, signingSecretEnv: S, channel: \"#a\"}\n",
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("slack.botTokenEnv: the environment variable `T_NOT_SET_ANYWHERE` is not set"),
        "{err}"
    );
}

#[tokio::test]
async fn without_a_configuration_file_every_channel_goes_to_the_log_and_start_up_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seed_policy();
    let args = [
        "serve",
        "--policy",
        seed.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    let mut s = Server::spawn(dir, &args, 1);
    let token = s.printed[0].rsplit(' ').next().unwrap().to_owned();
    let client = reqwest::Client::new();
    let e: Value = client
        .post(format!("{}/v1/executions", s.base))
        .bearer_auth(&token)
        .json(&json!({"name": "try"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let exe = e["id"].as_str().unwrap();
    let started = client
        .post(format!("{}/v1/executions/{exe}/start", s.base))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 200);
    let a = client
        .post(format!("{}/v1/executions/{exe}/approvals", s.base))
        .bearer_auth(&token)
        .json(&json!({"title": "logged", "approvers": [ADAM], "notifyVia": ["email", "anything"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 201);
    let audit_url = format!("{}/v1/audit?executionId={exe}", s.base);
    until("the notification logged", async || {
        let audit: Value = client
            .get(&audit_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "notification_sent")
            .then_some(())
    })
    .await;
    s.terminate();
    let err = s.stderr();
    assert!(
        err.contains("notifications are written to standard error"),
        "{err}"
    );
    assert!(
        err.contains("rekall-policy notification: ") && err.contains("\"logged\""),
        "{err}"
    );
}

#[tokio::test]
async fn a_reloaded_policy_file_naming_an_unconfigured_channel_keeps_the_old_version() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    let seed = std::fs::read_to_string(seed_policy()).unwrap();
    std::fs::write(&file, &seed).unwrap();
    let config = dir.path().join("rekall-server.yaml");
    let text = config_text(dir.path(), "").replace(
        &format!("policy: {}\n", seed_policy().display()),
        &format!("policy: {}\n", file.display()),
    );
    std::fs::write(&config, text).unwrap();
    let args = [
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    let s = Server::spawn(dir, &args, 0);
    std::fs::write(
        &file,
        seed.replace("notifyVia: [slack]", "notifyVia: [sms]"),
    )
    .unwrap();
    // Asked for by SIGHUP too, as the watcher may have first looked at the file after the edit.
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let mut refused = None;
    for _ in 0..300 {
        let p = s.get("/v1/policy", ROOT).await.ok(200);
        if p.get("lastError").is_some() {
            refused = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut s = s;
    let Some(p) = refused else {
        s.kill();
        panic!("the edit was not refused; the server said:\n{}", s.stderr());
    };
    assert_eq!(p["version"], 1, "the old version stays live");
    let d = &p["lastError"]["diagnostics"][0];
    assert_eq!(d["code"], "unconfigured-channel", "{d}");
    assert!(d["message"].as_str().unwrap().contains("`sms`"), "{d}");
}
