//! The approver inbox at `/` of `serve`: server-rendered pages with a little JavaScript, no
//! build step, usable on a phone's width.
//!
//! - [`signin`]: sign in with an approver's or admin's token, and out; [`session`] is the
//!   signed cookie that follows, [`guard`] who is looking and whether a form post is theirs
//!   (CSRF token and origin), [`throttle`] the bound on failed sign-ins.
//! - [`list`] what waits for the person now, [`approval`] one approval request and the vote,
//!   [`feedback`] a feedback form, [`history`] their past answers.
//! - [`changes`] the long-poll that `/inbox.js` asks so that pages update by themselves when a
//!   request is resolved elsewhere (the API, an email link, Slack).
//!
//! Every handler asks the runtime what the API's handler asks, with the same rule of who may
//! see what ([`crate::server::routes`]); the pages only show it. Every text from an agent
//! reaches a page through [`crate::server::html::escape`].

pub mod approval;
pub mod changes;
pub mod feedback;
pub mod form_body;
pub mod guard;
pub mod history;
pub mod list;
pub mod page;
pub mod session;
pub mod signin;
pub mod throttle;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::app::AppState;
use page::PageError;

/// What the inbox's handlers share: the application's state and the sign-in throttle.
#[derive(Debug, Clone)]
pub struct InboxState {
    pub app: AppState,
    pub throttle: Arc<throttle::Throttle>,
    /// Whether cookies are marked `Secure`: when the server is reached over https.
    pub secure: bool,
}

/// The inbox's routes, to merge into the application's router.
pub fn router(state: &AppState) -> Router<AppState> {
    let inbox = InboxState {
        app: state.clone(),
        throttle: Arc::new(throttle::Throttle::default()),
        secure: state
            .config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://")),
    };
    Router::new()
        .route("/", get(list::show))
        .route("/signin", get(signin::form).post(signin::submit))
        .route("/signout", axum::routing::post(signin::signout))
        .route("/approvals/{id}", get(approval::show).post(approval::vote))
        .route("/feedback/{id}", get(feedback::show).post(feedback::submit))
        .route("/history", get(history::show))
        .route("/inbox/changes", get(changes::changes))
        .route("/inbox.js", get(script))
        .with_state(inbox)
}

/// The inbox's script: shows form problems next to their fields, and keeps pages up to date.
pub const SCRIPT: &str = include_str!("inbox.js");

async fn script() -> Response {
    let mut response = SCRIPT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A request's id in a page's path: at most 128 bytes, or the page is a 404.
#[derive(Debug, Clone)]
pub struct PageId(pub String);

impl FromRequestParts<InboxState> for PageId {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &InboxState,
    ) -> Result<PageId, PageError> {
        let not_found = || PageError::new(StatusCode::NOT_FOUND, "there is no such request");
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        if id.is_empty() || id.len() > 128 {
            return Err(not_found());
        }
        Ok(PageId(id))
    }
}
