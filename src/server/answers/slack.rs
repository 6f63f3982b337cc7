//! `POST /v1/slack/interactions`: the Approve and Reject buttons of Slack messages.
//!
//! Slack posts `application/x-www-form-urlencoded` with one `payload` field of JSON, signed:
//! `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` under
//! the app's signing secret (from the variable `slack.signingSecretEnv` names), and
//! `X-Slack-Request-Timestamp` must be within 5 minutes of the server's clock, either way.
//! The voter is the principal `slack.users` maps the payload's `user.id` to; no name in the
//! payload counts. Each click is spent once (scope `slack`), so that a replayed body is
//! refused even within the 5 minutes; a click whose vote then fails can be made again, as a
//! new click is a new action.
//!
//! Slack wants an answer within 3 seconds: the vote is one store write, and the message is
//! updated afterwards through the payload's `response_url` ([`super::response_url`]).
//!
//! Refusals, each an `answer_refused` audit entry and the error body:
//!
//! | status | code | reason |
//! |---|---|---|
//! | 404 | `not_found` | no `slack` section in the configuration |
//! | 401 | `unauthenticated` | `bad_signature`, `stale_timestamp` |
//! | 400 | `bad_request` | `malformed` (not the payload of a button click), `unknown_action` |
//! | 403 | `forbidden` | `unmapped_user`; `not_an_approver` (the runtime's refusal) |
//! | 409 | `replayed` | `replay`: this very click was answered already |
//! | 409 | `already_resolved` | `resolved`, `already_answered` (the runtime's refusal) |

use std::time::Duration;

use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::response_url;
use super::{Channel, Refused, Throttle, audit, retry_after_seconds};
use crate::ir::Principal;
use crate::model::{ApprovalId, ApprovalRequest, ApprovalStatus, Timestamp, VoteError};
use crate::runtime::RuntimeError;
use crate::server::app::AppState;
use crate::server::auth::hex;
use crate::server::body::read_bytes;
use crate::server::config::SlackConfig;
use crate::server::error::ApiError;
use crate::server::form::Form;
use crate::server::keys::hmac_sha256_verify;
use crate::server::links::{SLACK_APPROVE, SLACK_REJECT};
use crate::server::openapi::Errors;

pub const PATH: &str = "/v1/slack/interactions";

/// The scope of spent clicks in the store.
pub const SPENT_SCOPE: &str = "slack";

/// How far a request's timestamp may be from the server's clock, either way.
pub const MAX_SKEW_SECONDS: i64 = 5 * 60;

/// The most bytes of the `payload` field (Slack's payloads are a few kilobytes; the body
/// limit bounds the whole request too).
const MAX_PAYLOAD_CHARS: usize = 64 * 1024;

/// The most characters of an id taken from a payload (user, action, request, timestamps).
const MAX_ID_CHARS: usize = 255;
const MAX_URL_CHARS: usize = 2048;

/// Slack's form body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct InteractionForm {
    /// The interaction, as JSON: a `block_actions` payload with one button action whose
    /// `action_id` is `rekall_approve` or `rekall_reject` and whose `value` is the approval
    /// request's id.
    pub payload: String,
}

/// What a click did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InteractionAnswer {
    /// The approval request.
    pub request: String,
    /// Whether the vote was counted.
    pub counted: bool,
    /// The request's status after the vote.
    pub status: String,
    /// The principal the Slack user is mapped to, who voted.
    pub principal: String,
    /// The text the Slack message is updated with.
    pub text: String,
    /// `sent` (in the background), `none` (the payload has no `response_url`) or `refused`
    /// (its `response_url` is not one of Slack's, so it is not called).
    pub message_update: String,
}

/// A refusal: its audit entry and its error answer.
struct Refusal {
    error: ApiError,
    refused: Refused,
}

impl Refusal {
    fn new(error: ApiError, reason: &'static str) -> Refusal {
        let refused = Refused::new(Channel::Slack, reason, error.message.clone());
        Refusal { error, refused }
    }
}

/// Why a request's signature does not check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureRefusal {
    /// Missing, unreadable, or not the HMAC of this body under the secret.
    Bad(&'static str),
    /// Signed, but `skew` seconds from the server's clock.
    Stale { skew: i64 },
}

/// Checks Slack's `v0` signature of `body`, then the timestamp's distance from `now_secs`.
pub fn check_signature(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), SignatureRefusal> {
    let timestamp = timestamp.ok_or(SignatureRefusal::Bad(
        "the X-Slack-Request-Timestamp header is missing",
    ))?;
    let seconds = (!timestamp.is_empty()
        && timestamp.len() <= 12
        && timestamp.bytes().all(|b| b.is_ascii_digit()))
    .then(|| timestamp.parse::<i64>().ok())
    .flatten()
    .ok_or(SignatureRefusal::Bad(
        "the X-Slack-Request-Timestamp header is not a number of seconds",
    ))?;
    let tag = signature
        .and_then(|s| s.strip_prefix("v0="))
        .and_then(|h| crate::server::auth::parse_sha256(h).filter(|_| h.len() == 64))
        .ok_or(SignatureRefusal::Bad(
            "the X-Slack-Signature header is missing or not `v0=` and 64 hex digits",
        ))?;
    let mut message = Vec::with_capacity(body.len() + timestamp.len() + 4);
    message.extend_from_slice(b"v0:");
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b':');
    message.extend_from_slice(body);
    if !hmac_sha256_verify(secret, &message, &tag) {
        return Err(SignatureRefusal::Bad(
            "the X-Slack-Signature is not this body's signature under the signing secret",
        ));
    }
    let skew = now_secs.saturating_sub(seconds);
    if skew.unsigned_abs() > MAX_SKEW_SECONDS.unsigned_abs() {
        return Err(SignatureRefusal::Stale { skew });
    }
    Ok(())
}

/// A button click, as read from a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub user: String,
    pub action_id: String,
    /// The approval request's id.
    pub value: String,
    pub action_ts: Option<String>,
    pub trigger_id: Option<String>,
    pub response_url: Option<String>,
}

impl Click {
    /// The click of a `block_actions` payload with exactly one action; the error says what
    /// is missing or wrong.
    pub fn read(payload: &Value) -> Result<Click, String> {
        let kind = payload.get("type").and_then(Value::as_str);
        if kind != Some("block_actions") {
            return Err(format!(
                "the payload's `type` is {}, not `block_actions` (a button click)",
                kind.map_or_else(|| "missing".to_owned(), |k| format!("`{k}`"))
            ));
        }
        let user = text(
            payload.get("user").and_then(|u| u.get("id")),
            "user.id",
            MAX_ID_CHARS,
        )?
        .ok_or("the payload has no `user.id`")?;
        if !user.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("`user.id` is not a Slack user id".into());
        }
        let actions = payload
            .get("actions")
            .and_then(Value::as_array)
            .ok_or("the payload has no `actions`")?;
        let [action] = actions.as_slice() else {
            return Err(format!(
                "the payload has {} actions; a click has one",
                actions.len()
            ));
        };
        let action_id = text(
            action.get("action_id"),
            "actions[0].action_id",
            MAX_ID_CHARS,
        )?
        .ok_or("the action has no `action_id`")?;
        let value = text(action.get("value"), "actions[0].value", MAX_ID_CHARS)?
            .ok_or("the action has no `value` (the request's id)")?;
        let action_ts = text(
            action.get("action_ts"),
            "actions[0].action_ts",
            MAX_ID_CHARS,
        )?;
        let trigger_id = text(payload.get("trigger_id"), "trigger_id", MAX_ID_CHARS)?;
        if action_ts.is_none() && trigger_id.is_none() {
            return Err("the payload has neither `actions[0].action_ts` nor `trigger_id`".into());
        }
        let response_url = text(payload.get("response_url"), "response_url", MAX_URL_CHARS)?;
        Ok(Click {
            user,
            action_id,
            value,
            action_ts,
            trigger_id,
            response_url,
        })
    }

    /// What is spent for this click: the same user, action and request at the same moment
    /// is the same click, whatever the request's timestamp.
    pub fn spend_key(&self) -> String {
        let mut hash = Sha256::new();
        for part in [
            self.user.as_str(),
            self.action_ts.as_deref().unwrap_or(""),
            self.trigger_id.as_deref().unwrap_or(""),
            self.value.as_str(),
            self.action_id.as_str(),
        ] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        hex(&hash.finalize())
    }
}

/// A string field of at most `max` characters; none when absent.
fn text(value: Option<&Value>, name: &str, max: usize) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(format!("`{name}` is over {max} characters")),
        Some(_) => Err(format!("`{name}` is not a string")),
    }
}

/// Slack's interaction callback (see the module docs).
#[utoipa::path(
    post,
    path = "/v1/slack/interactions",
    tag = "slack",
    security(()),
    params(
        ("X-Slack-Signature" = String, Header, description = "`v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}` under the signing secret"),
        ("X-Slack-Request-Timestamp" = String, Header, description = "seconds since the Unix epoch; within 5 minutes of the server's clock")
    ),
    request_body(content = InteractionForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The vote was counted; the message is updated in the background", body = InteractionAnswer), Errors)
)]
pub async fn interaction(
    State(state): State<AppState>,
    Extension(throttle): Extension<Throttle>,
    req: Request,
) -> Response {
    let Some(slack) = state.config.slack.clone() else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Slack is not configured on this server (no `slack` section)",
        )
        .into_response();
    };
    match answer(&state, &throttle, &slack, req).await {
        Ok(response) => response,
        Err(Stop::Refused(r)) => {
            audit(&state, &r.refused).await;
            r.error.into_response()
        }
        Err(Stop::Failed(e)) => e.into_response(),
        Err(Stop::Limited(wait)) => {
            let seconds = retry_after_seconds(wait);
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many interactions at once; try again in {seconds} s"),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
    }
}

enum Stop {
    Refused(Refusal),
    /// Nothing was decided: the body is too large, the store failed, the secret is unset.
    Failed(ApiError),
    /// Past the rate limit: nothing was looked at.
    Limited(Duration),
}

impl From<Refusal> for Stop {
    fn from(r: Refusal) -> Stop {
        Stop::Refused(r)
    }
}

async fn answer(
    state: &AppState,
    throttle: &Throttle,
    slack: &SlackConfig,
    req: Request,
) -> Result<Response, Stop> {
    let headers = req.headers().clone();
    let body = read_bytes(req, state.limits.body_bytes)
        .await
        .map_err(Stop::Failed)?;
    let secret = signing_secret(slack).map_err(Stop::Failed)?;
    let now = state.rt.now();
    let signed = check_signature(
        &secret,
        header_text(&headers, "x-slack-request-timestamp"),
        header_text(&headers, "x-slack-signature"),
        &body,
        now.0.div_euclid(1000),
    )
    .map_err(|e| match e {
        SignatureRefusal::Bad(why) => {
            Refusal::new(unauthenticated(why), "bad_signature")
        }
        SignatureRefusal::Stale { skew } => Refusal::new(
            unauthenticated(&format!(
                "the X-Slack-Request-Timestamp is {} s from the server's clock; at most {MAX_SKEW_SECONDS} s are accepted",
                skew.unsigned_abs()
            )),
            "stale_timestamp",
        )
        .with("skewSeconds", skew),
    });
    let click = match signed {
        Ok(()) => read_click(&body)
            .map_err(|why| Refusal::new(ApiError::bad_request("payload", why), "malformed")),
        Err(refusal) => Err(refusal),
    };
    let key = match &click {
        Ok(click) => format!("slack:{}", click.user),
        Err(_) => "slack:unverified".to_owned(),
    };
    throttle.take(&key).map_err(Stop::Limited)?;
    let click = click?;
    let Some(principal) = slack.users.get(&click.user).cloned() else {
        return Err(Refusal::new(
            ApiError::forbidden(format!(
                "the Slack user `{}` is not mapped to a principal in `slack.users`",
                click.user
            )),
            "unmapped_user",
        )
        .with("slackUser", click.user.as_str())
        .into());
    };
    let approving = match click.action_id.as_str() {
        SLACK_APPROVE => true,
        SLACK_REJECT => false,
        other => {
            return Err(Refusal::new(
                ApiError::bad_request(
                    "payload.actions[0].action_id",
                    format!("`{other}` is not an action of this server; the buttons are `{SLACK_APPROVE}` and `{SLACK_REJECT}`"),
                ),
                "unknown_action",
            )
            .of(&click, &principal)
            .into());
        }
    };
    let expires = Timestamp(now.0.saturating_add(2 * MAX_SKEW_SECONDS * 1000));
    let fresh = state
        .rt
        .store()
        .spend_token(SPENT_SCOPE, &click.spend_key(), now, expires)
        .await
        .map_err(|e| Stop::Failed(e.into()))?;
    if !fresh {
        return Err(Refusal::new(
            ApiError::new(
                StatusCode::CONFLICT,
                "replayed",
                "this click was answered already; a click counts once",
            ),
            "replay",
        )
        .of(&click, &principal)
        .into());
    }
    let id = ApprovalId::from(click.value.as_str());
    let approvals = state.rt.approvals();
    let voted = if approving {
        approvals.approve(&id, &principal, None).await
    } else {
        approvals.reject(&id, &principal, "").await
    };
    let counted = match voted {
        Ok(receipt) => {
            state.metrics.voted(approving, receipt.counted);
            receipt.counted
        }
        Err(RuntimeError::Vote(e)) => {
            let reason = match e {
                VoteError::AlreadyResolved { .. } | VoteError::DeadlinePassed { .. } => "resolved",
                _ => "not_an_approver",
            };
            let error = ApiError::from(RuntimeError::Vote(e));
            tell(
                slack,
                &click,
                &format!("Your answer was not counted: {}", error.message),
            );
            return Err(Refusal::new(error, reason).of(&click, &principal).into());
        }
        Err(RuntimeError::NotFound { .. }) => {
            let error = ApiError::not_found("approval request", &click.value);
            tell(
                slack,
                &click,
                "Your answer was not counted: the request does not exist.",
            );
            return Err(Refusal::new(error, "not_found")
                .of(&click, &principal)
                .into());
        }
        Err(e) => return Err(Stop::Failed(e.into())),
    };
    if !counted {
        let error = ApiError::new(
            StatusCode::CONFLICT,
            "already_resolved",
            format!("{principal} has already answered this request; an answer counts once"),
        );
        tell(
            slack,
            &click,
            &format!("Your answer was not counted: {}.", error.message),
        );
        return Err(Refusal::new(error, "already_answered")
            .of(&click, &principal)
            .into());
    }
    let r = approvals
        .get(&id)
        .await
        .map_err(|e| Stop::Failed(e.into()))?;
    let (text, message) = result_message(&r, &principal, approving);
    let update = match click.response_url.as_deref() {
        None => "none",
        Some(url) => match response_url::allowed(url, &slack.api_base) {
            Ok(url) => {
                response_url::send(url, message);
                "sent"
            }
            Err(why) => {
                eprintln!("serve: a Slack message update was not sent: {why}");
                "refused"
            }
        },
    };
    let body = InteractionAnswer {
        request: r.id.to_string(),
        counted: true,
        status: r.status.as_str().to_owned(),
        principal: principal.to_string(),
        text,
        message_update: update.to_owned(),
    };
    crate::server::routes::ok(body).map_err(Stop::Failed)
}

impl Refusal {
    fn with(mut self, key: &str, value: impl Into<Value>) -> Refusal {
        self.refused = self.refused.with(key, value);
        self
    }

    /// Names the click's request, voter and Slack user in the audit entry.
    fn of(mut self, click: &Click, principal: &Principal) -> Refusal {
        self.refused = self
            .refused
            .request(click.value.clone())
            .by(principal)
            .with("slackUser", click.user.as_str())
            .with("actionId", click.action_id.as_str());
        self
    }
}

fn unauthenticated(why: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", why)
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn signing_secret(slack: &SlackConfig) -> Result<Vec<u8>, ApiError> {
    match std::env::var(&slack.signing_secret_env) {
        Ok(s) if !s.is_empty() => Ok(s.into_bytes()),
        _ => {
            eprintln!(
                "serve: the Slack signing secret is not set: the environment variable `{}` (slack.signingSecretEnv) is empty or unset, so no Slack interaction can be verified",
                slack.signing_secret_env
            );
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the Slack signing secret is not set on this server; nothing was changed",
            ))
        }
    }
}

fn read_click(body: &[u8]) -> Result<Click, String> {
    let form = Form::parse_fields(body, &[("payload", MAX_PAYLOAD_CHARS)])
        .map_err(|e| format!("the body is not Slack's form: {e}"))?;
    let payload = form
        .get("payload")
        .ok_or("the body has no `payload` field")?;
    let payload =
        crate::json::parse(payload).map_err(|e| format!("the `payload` is not JSON: {e}"))?;
    Click::read(&payload)
}

/// The message's new text, and the message for `response_url`: the original replaced by the
/// result once the request is resolved; while it waits for others, a note to the voter only,
/// so that the buttons stay for the other approvers.
fn result_message(r: &ApprovalRequest, principal: &Principal, approving: bool) -> (String, Value) {
    let title = response_url::escape(&r.title);
    match r.status {
        ApprovalStatus::Pending => {
            let text = format!(
                "Your {} is counted, as {principal}; “{title}” still waits for other approvers.",
                if approving { "approval" } else { "rejection" }
            );
            let message =
                json!({"response_type": "ephemeral", "replace_original": false, "text": text});
            (text, message)
        }
        status => {
            let text = match status {
                ApprovalStatus::Approved => {
                    let by = r.approved_by();
                    let names: Vec<&str> = by.iter().map(Principal::as_str).collect();
                    format!("Approved by {}: {title}", names.join(", "))
                }
                ApprovalStatus::Rejected => format!("Rejected by {principal}: {title}"),
                other => format!("{}: {title}", other.as_str()),
            };
            let message = json!({"replace_original": true, "text": text});
            (text, message)
        }
    }
}

/// Tells the voter (only) why a click did nothing, through `response_url` when it is Slack's.
fn tell(slack: &SlackConfig, click: &Click, text: &str) {
    if let Some(url) = click.response_url.as_deref()
        && let Ok(url) = response_url::allowed(url, &slack.api_base)
    {
        response_url::send(
            url,
            json!({"response_type": "ephemeral", "replace_original": false, "text": response_url::escape(text)}),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::keys::hmac_sha256;

    fn sign(secret: &[u8], ts: &str, body: &[u8]) -> String {
        let mut m = format!("v0:{ts}:").into_bytes();
        m.extend_from_slice(body);
        format!("v0={}", hex(&hmac_sha256(secret, &m)))
    }

    #[test]
    fn only_this_body_signed_at_about_now_checks() {
        let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"payload=%7B%7D";
        let now = 1_700_000_000;
        let ts = now.to_string();
        let sig = sign(secret, &ts, body);
        assert_eq!(
            check_signature(secret, Some(&ts), Some(&sig), body, now),
            Ok(())
        );
        // Five minutes either way is fine; a second more is stale.
        for skew in [-300, 300] {
            assert_eq!(
                check_signature(secret, Some(&ts), Some(&sig), body, now + skew),
                Ok(())
            );
        }
        assert_eq!(
            check_signature(secret, Some(&ts), Some(&sig), body, now + 301),
            Err(SignatureRefusal::Stale { skew: 301 })
        );
        assert_eq!(
            check_signature(secret, Some(&ts), Some(&sig), body, now - 301),
            Err(SignatureRefusal::Stale { skew: -301 })
        );
        let bad = |ts: Option<&str>, sig: Option<&str>, body: &[u8]| {
            matches!(
                check_signature(secret, ts, sig, body, now),
                Err(SignatureRefusal::Bad(_))
            )
        };
        assert!(bad(Some(&ts), Some(&sig), b"payload=%7B%7D%20"));
        assert!(bad(Some(&(now + 1).to_string()), Some(&sig), body));
        assert!(bad(None, Some(&sig), body));
        assert!(bad(Some(&ts), None, body));
        assert!(bad(Some("-5"), Some(&sig), body));
        assert!(bad(Some(&ts), Some(&sig.replacen("v0=", "v1=", 1)), body));
        assert!(bad(Some(&ts), Some(&sig[..sig.len() - 2]), body));
        assert!(bad(
            Some(&ts),
            Some(&sign(b"another secret", &ts, body)),
            body
        ));
    }

    fn payload(action_id: &str) -> Value {
        json!({
            "type": "block_actions",
            "user": {"id": "U012ABCDEF", "name": "root"},
            "trigger_id": "123.456.abc",
            "response_url": "https://hooks.slack.com/actions/T1/2/x",
            "actions": [{"action_id": action_id, "value": "apr_1", "action_ts": "1700000000.000100"}]
        })
    }

    #[test]
    fn a_click_is_read_from_its_payload_only() {
        let c = Click::read(&payload(SLACK_APPROVE)).unwrap();
        assert_eq!(
            (c.user.as_str(), c.action_id.as_str(), c.value.as_str()),
            ("U012ABCDEF", SLACK_APPROVE, "apr_1")
        );
        assert_ne!(
            c.spend_key(),
            Click::read(&payload(SLACK_REJECT)).unwrap().spend_key()
        );
        assert_eq!(
            c.spend_key(),
            Click::read(&payload(SLACK_APPROVE)).unwrap().spend_key()
        );
        for (change, why) in [
            (json!({"type": "view_submission"}), "block_actions"),
            (json!({"user": {"name": "adam"}}), "user.id"),
            (json!({"user": {"id": "U1 OR 1"}}), "not a Slack user id"),
            (json!({"actions": []}), "0 actions"),
            (
                json!({"actions": [{"action_id": "a", "value": 5}]}),
                "not a string",
            ),
            (json!({"response_url": "x".repeat(3000)}), "over"),
        ] {
            let mut p = payload(SLACK_APPROVE);
            for (k, v) in change.as_object().unwrap() {
                p[k] = v.clone();
            }
            let e = Click::read(&p).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}
