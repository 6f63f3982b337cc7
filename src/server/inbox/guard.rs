//! Who is looking at the inbox, and whether a form post is really theirs. [`Viewer`] is the
//! signed-in person of a valid session cookie; [`SignedPost`] is a form post of a viewer
//! that came from one of this server's pages: its `Origin` (or `Sec-Fetch-Site`) is this
//! site's, and it carries the session's CSRF token. The `/v1` API never reads the cookie:
//! there only a bearer token counts, so it needs none of this.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::InboxState;
use super::form_body::FormBody;
use super::page::PageError;
use super::session::{COOKIE, Session};
use crate::server::auth::{Caller, Role};
use crate::server::form::Form;
use crate::server::html::{Markup, escape};

/// The name of the hidden field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub session: Session,
    /// The session's role: approver or admin.
    pub role: Role,
    /// The CSRF token of the session's forms.
    pub csrf: String,
}

impl Viewer {
    /// The session of a request's cookie, if it is valid now.
    pub fn of(headers: &HeaderMap, state: &InboxState) -> Option<Viewer> {
        let value = super::session::cookie(headers, COOKIE)?;
        let keys = &state.app.keys;
        let session =
            Session::verify(value, &keys.sessions, state.app.rt.now(), &state.app.tokens).ok()?;
        let role = session.role()?;
        let csrf = session.csrf(&keys.sessions);
        Some(Viewer {
            session,
            role,
            csrf,
        })
    }

    /// The caller the runtime is asked as: the session's principal and role.
    pub fn caller(&self) -> Caller {
        Caller {
            principal: self.session.principal.clone(),
            role: self.role,
        }
    }

    /// The hidden field every form of this viewer carries.
    pub fn csrf_field(&self) -> Markup {
        Markup::trusted(format!(
            "<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">",
            escape(&self.csrf)
        ))
    }
}

/// Not signed in: a page is sent to the sign-in form; anything else is refused.
#[derive(Debug)]
pub struct SignInFirst {
    method: Method,
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        if self.method == Method::GET {
            Redirect::to("/signin").into_response()
        } else {
            PageError::forbidden(
                "you are not signed in, or your session has ended: sign in again and repeat your answer",
            )
            .into_response()
        }
    }
}

impl FromRequestParts<InboxState> for Viewer {
    type Rejection = SignInFirst;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &InboxState,
    ) -> Result<Viewer, SignInFirst> {
        Viewer::of(&parts.headers, state).ok_or_else(|| SignInFirst {
            method: parts.method.clone(),
        })
    }
}

/// Whether a post comes from this site's own pages, as far as the browser says: a
/// `Sec-Fetch-Site` other than `same-origin` is refused, and so is an `Origin` other than
/// this server's (its `publicUrl`, or the `Host` it was asked at). A client that sends
/// neither (not a browser) still needs the CSRF token.
pub fn same_origin(headers: &HeaderMap, public_url: Option<&str>) -> Result<(), PageError> {
    let refused = |why: String| PageError::forbidden(format!("this form post is refused: {why}"));
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if site != "same-origin" {
            return Err(refused(format!(
                "it was sent from another site (Sec-Fetch-Site: {site})"
            )));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        let ours = public_url.is_some_and(|u| origin_of(u) == origin)
            || authority.is_some_and(|a| !host.is_empty() && a.eq_ignore_ascii_case(host));
        if !ours {
            return Err(refused(format!(
                "it was sent from another origin ({origin})"
            )));
        }
    }
    Ok(())
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// A form post of a signed-in person, from this site, with the session's CSRF token (which
/// is taken out of the pairs).
#[derive(Debug)]
pub struct SignedPost {
    pub viewer: Viewer,
    pub form: FormBody,
}

impl FromRequest<InboxState> for SignedPost {
    type Rejection = Response;

    async fn from_request(req: Request, state: &InboxState) -> Result<SignedPost, Response> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        same_origin(&parts.headers, state.app.config.public_url.as_deref())
            .map_err(IntoResponse::into_response)?;
        let req = Request::from_parts(parts, body);
        let FormBody(Form(mut pairs)) = FormBody::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let tokens: Vec<usize> = pairs
            .iter()
            .enumerate()
            .filter(|(_, (k, _))| k == CSRF_FIELD)
            .map(|(i, _)| i)
            .collect();
        let valid = match tokens.as_slice() {
            [i] => viewer
                .session
                .csrf_ok(&state.app.keys.sessions, &pairs[*i].1),
            _ => false,
        };
        if !valid {
            return Err(PageError::new(
                StatusCode::FORBIDDEN,
                "this form post is refused: it does not carry this session's form token; reload the page and try again",
            )
            .into_response());
        }
        pairs.retain(|(k, _)| k != CSRF_FIELD);
        Ok(SignedPost {
            viewer,
            form: FormBody(Form(pairs)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_this_sites_posts_pass() {
        let ok = [
            headers(&[]),
            headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
            ]),
            headers(&[("sec-fetch-site", "same-origin")]),
            headers(&[
                ("host", "internal:1"),
                ("origin", "https://inbox.example.com"),
            ]),
        ];
        for h in &ok {
            assert!(
                same_origin(h, Some("https://inbox.example.com/base")).is_ok(),
                "{h:?}"
            );
        }
        let bad = [
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "same-site")]),
            headers(&[("sec-fetch-site", "none")]),
            headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://evil.example"),
            ]),
            headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]),
            headers(&[("origin", "http://127.0.0.1:8080")]),
        ];
        for h in &bad {
            assert!(same_origin(h, None).is_err(), "{h:?}");
        }
        assert_eq!(
            origin_of("https://a.example:8443/x/y"),
            "https://a.example:8443"
        );
        assert_eq!(origin_of("http://a"), "http://a");
    }
}
