//! Signing in with an approver's or an admin's token, and out. Agents never sign in: they
//! never vote. The sign-in form has its own CSRF token (a random nonce in a short-lived
//! cookie and its HMAC in the form), so that another site cannot sign a browser in as
//! someone else. Every sign-in is audited, a refused one with the channel `inbox` and why,
//! and failures are bounded per client address.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::InboxState;
use super::form_body::FormBody;
use super::guard::{CSRF_FIELD, SignedPost, Viewer, same_origin};
use super::page::{self, PageError, PageResult};
use super::session::{self, COOKIE, Session, csrf_ok, csrf_token, random_hex, set_cookie};
use crate::model::{AuditEntry, AuditKind};
use crate::server::auth::Role;
use crate::server::html::{Markup, escape};

/// The cookie that holds the sign-in form's nonce.
pub const SIGNIN_COOKIE: &str = "rekall_signin";

/// How long a sign-in form may stay open, in seconds.
const SIGNIN_FORM_SECS: i64 = 30 * 60;

/// The longest token looked at; longer text is not a token of this server.
const MAX_TOKEN_BYTES: usize = 256;

const SIGNIN_SCOPE: &[u8] = b"signin";

/// `GET /signin`: the form, or the inbox for someone signed in already.
pub async fn form(State(state): State<InboxState>, headers: HeaderMap) -> PageResult {
    if Viewer::of(&headers, &state).is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    signin_page(&state, StatusCode::OK, None)
}

/// The form with a fresh nonce, and `problem` above it.
fn signin_page(state: &InboxState, status: StatusCode, problem: Option<&str>) -> PageResult {
    let nonce = random_hex().map_err(|e| {
        eprintln!("serve: {e}");
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server could not make a sign-in form",
        )
    })?;
    let csrf = csrf_token(&state.app.keys.sessions, SIGNIN_SCOPE, &nonce);
    let mut body = Markup::trusted("<div class=\"card\"><h1>Sign in</h1>");
    if let Some(problem) = problem {
        body.push(Markup::trusted("<p class=\"card error\" role=\"alert\">"));
        body.push(Markup::text(problem));
        body.push(Markup::trusted("</p>"));
    }
    body.push(Markup::trusted(format!(
        "<p>Sign in with your approver token (made by <code>rekall-policy token new</code>).</p>\
         <form method=\"post\" action=\"/signin\">\
         <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">\
         <div class=\"field\"><label class=\"name\" for=\"token\">Token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" required maxlength=\"{MAX_TOKEN_BYTES}\" \
         autocomplete=\"current-password\" spellcheck=\"false\" style=\"width:100%\"></div>\
         <button class=\"primary\" type=\"submit\">Sign in</button></form></div>",
        escape(&csrf)
    )));
    let mut response = page::signed_out(status, "Sign in", body);
    add_cookie(
        &mut response,
        &set_cookie(SIGNIN_COOKIE, &nonce, SIGNIN_FORM_SECS, state.secure),
    );
    Ok(response)
}

fn add_cookie(response: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The client's IP address, or `unknown` when the server was not started with it (all such
/// clients then share one bound).
pub struct PeerAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<PeerAddress, Self::Rejection> {
        Ok(PeerAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string()),
        ))
    }
}

/// `POST /signin`.
pub async fn submit(
    State(state): State<InboxState>,
    PeerAddress(address): PeerAddress,
    headers: HeaderMap,
    form: FormBody,
) -> PageResult {
    if let Some(wait) = state.throttle.refused(&address, Instant::now()) {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed sign-ins from this address; try again in {seconds} s"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        return Ok(response);
    }
    let refuse = |status: StatusCode, reason: &'static str, shown: &'static str| {
        refused(&state, &address, status, reason, shown)
    };
    if same_origin(&headers, state.app.config.public_url.as_deref()).is_err() {
        return refuse(
            StatusCode::FORBIDDEN,
            "the sign-in was posted from another site",
            "this sign-in was sent from another site; sign in from this page",
        )
        .await;
    }
    form.allow(|k| k == CSRF_FIELD || k == "token", |_| false)?;
    let nonce = session::cookie(&headers, SIGNIN_COOKIE).unwrap_or("");
    let csrf = form.get(CSRF_FIELD).unwrap_or("");
    if nonce.is_empty() || !csrf_ok(&state.app.keys.sessions, SIGNIN_SCOPE, nonce, csrf) {
        return refuse(
            StatusCode::FORBIDDEN,
            "the sign-in form's token is missing or wrong",
            "this sign-in form has expired or was not sent from this page; try again",
        )
        .await;
    }
    let token = form.get("token").unwrap_or("").trim();
    let caller = if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        None
    } else {
        state.app.tokens.authenticate(token)
    };
    let Some(caller) = caller else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "not a configured token",
            "that token is not a valid approver token",
        )
        .await;
    };
    if caller.role == Role::Agent {
        return refuse(
            StatusCode::FORBIDDEN,
            "an agent token cannot sign in",
            "an agent token cannot sign in to the inbox: agents never vote; use your own approver token",
        )
        .await;
    }
    let now = state.app.rt.now();
    let session = Session::new(&caller.principal, caller.role, now).map_err(|e| {
        eprintln!("serve: {e}");
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server could not start a session",
        )
    })?;
    let entry = AuditEntry::new(
        AuditKind::SignedIn,
        now,
        json!({"channel": "inbox", "role": caller.role.as_str(), "address": address}),
    )
    .by(&caller.principal);
    state
        .app
        .rt
        .store()
        .append_audit(vec![entry])
        .await
        .map_err(crate::server::error::ApiError::from)?;
    let mut response = Redirect::to("/").into_response();
    let value = session.sign(&state.app.keys.sessions);
    add_cookie(
        &mut response,
        &set_cookie(COOKIE, &value, session::LIFETIME_MS / 1000, state.secure),
    );
    add_cookie(
        &mut response,
        &set_cookie(SIGNIN_COOKIE, "", 0, state.secure),
    );
    Ok(response)
}

/// A refused sign-in: audited, counted against the address, and the form again with why.
async fn refused(
    state: &InboxState,
    address: &str,
    status: StatusCode,
    reason: &'static str,
    shown: &'static str,
) -> PageResult {
    state.throttle.failed(address, Instant::now());
    let entry = AuditEntry::new(
        AuditKind::AnswerRefused,
        state.app.rt.now(),
        json!({"channel": "inbox", "reason": reason, "address": address}),
    );
    state
        .app
        .rt
        .store()
        .append_audit(vec![entry])
        .await
        .map_err(crate::server::error::ApiError::from)?;
    signin_page(state, status, Some(shown))
}

/// `POST /signout`: the session cookie is dropped. A session is not stored, so a copy of the
/// cookie stays good until it expires or its token is taken out of the configuration.
pub async fn signout(State(state): State<InboxState>, post: SignedPost) -> PageResult {
    post.form.allow(|_| false, |_| false)?;
    let mut response = Redirect::to("/signin").into_response();
    add_cookie(&mut response, &set_cookie(COOKIE, "", 0, state.secure));
    Ok(response)
}
