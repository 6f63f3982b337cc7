//! What every inbox page shares: the header with the signed-in person and the sign-out form,
//! the error page, and how times are shown. Text from a request reaches markup only through
//! [`Markup::text`] or [`escape`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::guard::Viewer;
use crate::model::Timestamp;
use crate::server::error::ApiError;
use crate::server::html::{self, Markup, escape};

/// The inbox's styles, after the shared ones.
pub const STYLE: &str = "\
header .brand{font-weight:700;text-decoration:none}\
header .who{margin-left:auto;opacity:.85}\
header form{margin:0}\
header button{padding:.25rem .7rem;font-size:.9rem}\
h1{font-size:1.35rem;margin:.2rem 0 .6rem;overflow-wrap:anywhere}\
h2{font-size:1.05rem;margin:1rem 0 .4rem}\
.meta{color:#4a5568;font-size:.92rem;display:flex;flex-wrap:wrap;gap:.3rem 1rem;margin:.3rem 0}\
.item h2{margin:0 0 .2rem;font-size:1.1rem;overflow-wrap:anywhere}\
.item a{color:#1d4ed8;text-decoration:none}\
.badge{display:inline-block;border-radius:1rem;padding:0 .55rem;font-size:.8rem;border:1px solid #cbd2dc;background:#f0f2f5}\
.p-high,.p-critical{background:#fdecec;border-color:#e5a0a0;color:#7a1010}\
.p-low{background:#eef6ff}\
.s-approved,.s-submitted{background:#eaf7ee;border-color:#9fd3ae}\
.s-rejected,.s-timed_out,.s-cancelled{background:#fdecec;border-color:#e5a0a0}\
.steps{list-style:none;padding:0;margin:.3rem 0;display:flex;flex-wrap:wrap;gap:.3rem}\
.steps li{border:1px solid #dde1e8;border-radius:.3rem;padding:.1rem .5rem;font-size:.88rem}\
.steps li.current{border-color:#1f6feb;background:#eef4ff}\
.text{white-space:pre-wrap;overflow-wrap:anywhere}\
dl.call{display:grid;grid-template-columns:max-content 1fr;gap:.25rem .8rem;margin:0}\
dl.call dt{font-weight:600}dl.call dd{margin:0;overflow-wrap:anywhere}\
table{border-collapse:collapse;width:100%;font-size:.92rem}\
td,th{border-bottom:1px solid #e2e6ec;padding:.3rem .4rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}\
.table{overflow-x:auto}\
.lang{font-size:.8rem;color:#4a5568;margin:.2rem 0}\
.field{margin:0 0 1rem}\
.field label.name,.field legend{font-weight:600;display:block;margin-bottom:.2rem}\
.field fieldset{border:0;padding:0;margin:0}\
.field .option{display:block;padding:.15rem 0}\
.field-error{color:#b91c1c;margin:.2rem 0 0;font-size:.92rem}\
.field-error:empty{display:none}\
.invalid input,.invalid textarea,.invalid select{border-color:#b91c1c}\
textarea.code{font:14px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;min-height:8rem}\
.actions{display:flex;gap:.6rem;flex-wrap:wrap;margin-top:.6rem}\
.empty{color:#4a5568}\
.notice{position:sticky;top:0}\
.pager{display:flex;justify-content:flex-end}\
@media (max-width:30rem){main{padding:.6rem}.card{padding:.75rem}dl.call{grid-template-columns:1fr}\
table,tbody,tr,td{display:block}thead{display:none}tr{border-bottom:1px solid #e2e6ec;padding:.3rem 0}\
td{border:0;padding:.1rem 0}td[data-label]::before{content:attr(data-label) \": \";font-weight:600}}\
";

/// An inbox page for a signed-in person.
pub fn signed_in(viewer: &Viewer, title: &str, body: Markup) -> Response {
    signed_in_with(viewer, StatusCode::OK, title, body)
}

/// An inbox page with another status than 200 (a refused answer shown with the request).
pub fn signed_in_with(viewer: &Viewer, status: StatusCode, title: &str, body: Markup) -> Response {
    let mut all = Markup::trusted(
        "<header><a class=\"brand\" href=\"/\">rekall inbox</a><a href=\"/history\">History</a>",
    );
    all.push(Markup::trusted(format!(
        "<span class=\"who\">{} · {}</span>",
        escape(viewer.session.principal.as_str()),
        escape(&viewer.session.role)
    )));
    all.push(Markup::trusted(format!(
        "<form method=\"post\" action=\"/signout\">{}<button type=\"submit\">Sign out</button></form></header>",
        viewer.csrf_field().as_str()
    )));
    all.push(Markup::trusted("<main>"));
    all.push(body);
    all.push(Markup::trusted(
        "</main><script src=\"/inbox.js\" defer></script>",
    ));
    respond(status, title, &all)
}

/// A page for someone not signed in (the sign-in form, an error before sign-in).
pub fn signed_out(status: StatusCode, title: &str, body: Markup) -> Response {
    let mut all =
        Markup::trusted("<header><a class=\"brand\" href=\"/\">rekall inbox</a></header><main>");
    all.push(body);
    all.push(Markup::trusted(
        "</main><script src=\"/inbox.js\" defer></script>",
    ));
    respond(status, title, &all)
}

/// The inbox's pages carry `Referrer-Policy: same-origin` instead of the shared
/// `no-referrer`: under `no-referrer` a browser sends `Origin: null` with a form post, and the
/// posts' origin check needs the real one. No address leaves the site either way.
fn respond(status: StatusCode, title: &str, all: &Markup) -> Response {
    let mut response = html::respond(status, html::styled_page(title, STYLE, REFERRER, all));
    response.headers_mut().insert(
        axum::http::header::REFERRER_POLICY,
        axum::http::HeaderValue::from_static(REFERRER),
    );
    response
}

const REFERRER: &str = "same-origin";

/// An error as a page: its status and a sentence saying what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn forbidden(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::FORBIDDEN, message)
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError::new(e.status, e.message)
    }
}

impl From<crate::runtime::RuntimeError> for PageError {
    fn from(e: crate::runtime::RuntimeError) -> PageError {
        ApiError::from(e).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = self
            .status
            .canonical_reason()
            .unwrap_or("Refused")
            .to_owned();
        let mut body = Markup::trusted("<div class=\"card error\"><h1>");
        body.push(Markup::text(&title));
        body.push(Markup::trusted("</h1><p>"));
        body.push(Markup::text(&self.message));
        body.push(Markup::trusted(
            "</p><p><a href=\"/\">Back to the inbox</a></p></div>",
        ));
        signed_out(self.status, &title, body)
    }
}

/// What inbox handlers answer.
pub type PageResult = Result<Response, PageError>;

/// A time as people read it, in UTC to the minute: `2026-01-02 03:04 UTC`.
pub fn when(t: Timestamp) -> String {
    let text = t.to_string();
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => text,
    }
}

/// How long until `deadline` from `now`, roughly: `2 d 3 h left`, `5 min left`, `overdue`.
pub fn time_left(deadline: Timestamp, now: Timestamp) -> String {
    let ms = deadline.0.saturating_sub(now.0);
    if ms <= 0 {
        return "overdue".into();
    }
    let minutes = ms / 60_000;
    let (d, h, m) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    match (d, h, m) {
        (0, 0, 0) => "under a minute left".into(),
        (0, 0, m) => format!("{m} min left"),
        (0, h, m) => format!("{h} h {m} min left"),
        (d, h, _) => format!("{d} d {h} h left"),
    }
}

/// A `<time>` of a deadline with the time left.
pub fn deadline(deadline: Option<Timestamp>, now: Timestamp) -> Markup {
    match deadline {
        Some(t) => Markup::trusted(format!(
            "<span>Deadline <time datetime=\"{}\">{}</time> ({})</span>",
            escape(&t.to_string()),
            escape(&when(t)),
            escape(&time_left(t, now))
        )),
        None => Markup::trusted("<span>No deadline</span>"),
    }
}

/// A badge: `class` is one of the program's class names, `text` any text.
pub fn badge(class: &str, text: &str) -> Markup {
    Markup::trusted(format!(
        "<span class=\"badge {}\">{}</span>",
        escape(class),
        escape(text)
    ))
}

/// Principals as a comma-separated text.
pub fn names<'a>(principals: impl IntoIterator<Item = &'a crate::ir::Principal>) -> String {
    let all: Vec<&str> = principals.into_iter().map(|p| p.as_str()).collect();
    if all.is_empty() {
        "nobody".into()
    } else {
        all.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_left_read_as_people_say_them() {
        let now = Timestamp(0);
        let min = 60_000;
        assert_eq!(time_left(Timestamp(-1), now), "overdue");
        assert_eq!(time_left(Timestamp(0), now), "overdue");
        assert_eq!(time_left(Timestamp(30_000), now), "under a minute left");
        assert_eq!(time_left(Timestamp(5 * min), now), "5 min left");
        assert_eq!(time_left(Timestamp(65 * min), now), "1 h 5 min left");
        assert_eq!(
            time_left(Timestamp((24 * 60 + 61) * min), now),
            "1 d 1 h left"
        );
        assert_eq!(when(Timestamp(0)), "1970-01-01 00:00 UTC");
    }

    #[tokio::test]
    async fn an_error_page_escapes_its_message() {
        let r = PageError::bad_request("<script>x</script>").into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()["referrer-policy"], "same-origin");
        let body = http_body_util::BodyExt::collect(r.into_body())
            .await
            .unwrap()
            .to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("&lt;script&gt;x&lt;/script&gt;"), "{text}");
        assert!(!text.contains("<script>x"), "{text}");
    }
}
