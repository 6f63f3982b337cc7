//! Server-rendered pages (the inbox, the confirmation pages of email links): one escaping
//! function that every text from outside goes through, and one page shell. An agent's title or
//! description is untrusted input; it reaches a page only as [`escape`]d text, never as markup.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `text` made safe for an HTML text node or a quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Markup that is already safe: built from [`escape`]d text and the program's own tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markup(String);

impl Markup {
    /// The program's own markup (never text from a request).
    pub fn trusted(html: impl Into<String>) -> Markup {
        Markup(html.into())
    }

    /// Text from anywhere, escaped.
    pub fn text(text: &str) -> Markup {
        Markup(escape(text))
    }

    pub fn push(&mut self, more: Markup) {
        self.0.push_str(&more.0);
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The styles every page shares: readable on a phone's width, no external resources.
pub const STYLE: &str = "\
*{box-sizing:border-box}\
body{font:16px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2433;background:#f5f6f8}\
header{background:#1d2433;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}\
header a{color:#fff}\
main{max-width:52rem;margin:0 auto;padding:1rem}\
.card{background:#fff;border:1px solid #dde1e8;border-radius:.5rem;padding:1rem;margin:0 0 1rem}\
.error{background:#fdecec;border-color:#e5a0a0;color:#7a1010}\
.ok{background:#eaf7ee;border-color:#9fd3ae;color:#14532d}\
pre,code{font:14px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}\
pre{background:#f0f2f5;padding:.6rem;overflow-x:auto;border-radius:.3rem;white-space:pre-wrap}\
button,input[type=submit]{font:inherit;padding:.45rem 1rem;border-radius:.35rem;border:1px solid #888;background:#fff;cursor:pointer}\
button.primary{background:#1f6feb;color:#fff;border-color:#1f6feb}\
button.danger{background:#c62828;color:#fff;border-color:#c62828}\
textarea,input,select{font:inherit;max-width:100%}\
textarea{width:100%}\
";

/// A whole page: `title` is text, `body` markup.
pub fn page(title: &str, body: &Markup) -> String {
    styled_page(title, "", "no-referrer", body)
}

/// A whole page with styles of its own after the shared ones (the program's, never text
/// from a request), and its referrer policy (`no-referrer`, or `same-origin` for pages whose
/// forms need the browser to send their `Origin`: under `no-referrer` it sends `null`).
pub fn styled_page(
    title: &str,
    more_style: &'static str,
    referrer: &'static str,
    body: &Markup,
) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"{referrer}\">\
         <title>{} · rekall</title><style>{STYLE}{more_style}</style></head><body>{}</body></html>",
        escape(title),
        body.as_str()
    );
    out
}

/// A page as a response, with the headers every page carries: no caching of what may hold a
/// pending request, no framing by another site, no script or style from elsewhere.
pub fn respond(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_shown_not_run() {
        let hostile = "<script>alert('x')</script> & \"quoted\"";
        assert_eq!(
            escape(hostile),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;"
        );
        let html = page(hostile, &Markup::text(hostile));
        assert!(!html.contains("<script>"), "{html}");
    }
}
