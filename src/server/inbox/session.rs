//! Inbox sessions: a cookie that holds who signed in, with which role, until when, and a
//! random session id, HMAC'd under the server's session key. Nothing is stored: any node on
//! the same store checks any other's cookie, and a restart keeps everyone signed in. A cookie
//! is good only while its principal still has a configured token of its role, so taking a
//! token out of the configuration ends its sessions at the next restart.
//!
//! Every form carries a CSRF token derived from the session id (its HMAC under the same key),
//! so that a page of another site, which cannot read the page, cannot forge it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::ir::Principal;
use crate::model::Timestamp;
use crate::server::auth::{Role, Tokens};
use crate::server::keys::Key;

/// The session cookie's name.
pub const COOKIE: &str = "rekall_session";

/// How long a session lasts: a working day.
pub const LIFETIME_MS: i64 = 12 * 60 * 60 * 1000;

/// The most bytes of a cookie value that are decoded at all.
const MAX_COOKIE_BYTES: usize = 1024;

const SESSION_CONTEXT: &[u8] = b"rekall inbox session v1";
const CSRF_CONTEXT: &[u8] = b"rekall inbox csrf v1";

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "p")]
    pub principal: Principal,
    /// `approver` or `admin`: agents never sign in.
    #[serde(rename = "r")]
    pub role: String,
    /// Random, 32 hex digits: what the CSRF token is derived from.
    #[serde(rename = "s")]
    pub id: String,
    /// Milliseconds since the Unix epoch after which the cookie is refused.
    #[serde(rename = "e")]
    pub expires_at: Timestamp,
}

/// Why a cookie does not sign anyone in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRefusal {
    /// Not signed by this server, or changed since.
    Tampered,
    Expired,
    /// The principal no longer has a configured token of the session's role.
    Revoked,
}

impl Session {
    /// A new session of `principal` in `role`, from `now`.
    pub fn new(principal: &Principal, role: Role, now: Timestamp) -> Result<Session, String> {
        Ok(Session {
            principal: principal.clone(),
            role: role.as_str().to_owned(),
            id: random_hex()?,
            expires_at: Timestamp(now.0.saturating_add(LIFETIME_MS)),
        })
    }

    /// The role, when it is one that may sign in.
    pub fn role(&self) -> Option<Role> {
        match self.role.parse::<Role>() {
            Ok(role @ (Role::Approver | Role::Admin)) => Some(role),
            _ => None,
        }
    }

    /// The cookie's value: the claims, then their tag, each base64url.
    pub fn sign(&self, key: &Key) -> String {
        let claims = serde_json::to_vec(self).unwrap_or_default();
        let tag = key.sign(&[SESSION_CONTEXT, &claims]);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&claims),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The session a cookie's value holds, if this server signed it, it has not expired at
    /// `now`, and its principal still has a token of its role.
    pub fn verify(
        value: &str,
        key: &Key,
        now: Timestamp,
        tokens: &Tokens,
    ) -> Result<Session, SessionRefusal> {
        if value.len() > MAX_COOKIE_BYTES {
            return Err(SessionRefusal::Tampered);
        }
        let (claims, tag) = value.split_once('.').ok_or(SessionRefusal::Tampered)?;
        let claims = URL_SAFE_NO_PAD
            .decode(claims)
            .map_err(|_| SessionRefusal::Tampered)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| SessionRefusal::Tampered)?;
        if !key.verify(&[SESSION_CONTEXT, &claims], &tag) {
            return Err(SessionRefusal::Tampered);
        }
        let session: Session =
            serde_json::from_slice(&claims).map_err(|_| SessionRefusal::Tampered)?;
        if now > session.expires_at {
            return Err(SessionRefusal::Expired);
        }
        match session.role() {
            Some(role) if tokens.holds(&session.principal, role) => Ok(session),
            _ => Err(SessionRefusal::Revoked),
        }
    }

    /// The CSRF token of this session's forms.
    pub fn csrf(&self, key: &Key) -> String {
        csrf_token(key, b"session", &self.id)
    }

    /// Whether `token` is this session's CSRF token, compared in constant time.
    pub fn csrf_ok(&self, key: &Key, token: &str) -> bool {
        csrf_ok(key, b"session", &self.id, token)
    }
}

/// A CSRF token for `id` in `scope` (a session, or the sign-in form's nonce).
pub fn csrf_token(key: &Key, scope: &[u8], id: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.sign(&[CSRF_CONTEXT, scope, id.as_bytes()]))
}

/// Whether `token` is the CSRF token of `id` in `scope`, compared in constant time.
pub fn csrf_ok(key: &Key, scope: &[u8], id: &str, token: &str) -> bool {
    if token.len() > 64 {
        return false;
    }
    match URL_SAFE_NO_PAD.decode(token) {
        Ok(tag) => key.verify(&[CSRF_CONTEXT, scope, id.as_bytes()], &tag),
        Err(_) => false,
    }
}

/// 16 random bytes in hex.
pub fn random_hex() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random source for a session: {e}"))?;
    Ok(crate::server::auth::hex(&bytes))
}

/// The value of the cookie `name` in a request's `Cookie` headers; `None` when it is absent,
/// or given twice (a second cookie of the same name may have been planted by a sibling
/// domain, and choosing either would be guessing).
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for header in headers.get_all(axum::http::header::COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k == name
            {
                if found.is_some() {
                    return None;
                }
                found = Some(v);
            }
        }
    }
    found
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, for the whole site; Secure when the
/// server is reached over https.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::auth::{TokenEntry, sha256};

    fn tokens() -> Tokens {
        Tokens::new(vec![TokenEntry {
            principal: Principal::parse("user:adam").unwrap(),
            role: Role::Approver,
            sha256: sha256(b"t"),
        }])
    }

    fn adam() -> Principal {
        Principal::parse("user:adam").unwrap()
    }

    #[test]
    fn a_cookie_signs_in_until_it_expires() {
        let key = Key::new(vec![1; 32]);
        let s = Session::new(&adam(), Role::Approver, Timestamp(1_000)).unwrap();
        let cookie = s.sign(&key);
        let end = Timestamp(1_000 + LIFETIME_MS);
        assert_eq!(Session::verify(&cookie, &key, end, &tokens()), Ok(s));
        assert_eq!(
            Session::verify(&cookie, &key, Timestamp(end.0 + 1), &tokens()),
            Err(SessionRefusal::Expired)
        );
    }

    #[test]
    fn a_changed_cookie_another_key_or_a_removed_token_is_refused() {
        let key = Key::new(vec![1; 32]);
        let s = Session::new(&adam(), Role::Approver, Timestamp(0)).unwrap();
        let cookie = s.sign(&key);
        let mut admin = s.clone();
        admin.role = "admin".into();
        let (forged, _) = admin
            .sign(&key)
            .split_once('.')
            .map(|(a, _)| (a.to_owned(), ()))
            .unwrap();
        let (_, tag) = cookie.split_once('.').unwrap();
        let forged = format!("{forged}.{tag}");
        for bad in [forged.as_str(), "", ".", "x.y", &cookie[..cookie.len() - 2]] {
            assert_eq!(
                Session::verify(bad, &key, Timestamp(0), &tokens()),
                Err(SessionRefusal::Tampered),
                "{bad}"
            );
        }
        assert_eq!(
            Session::verify(&cookie, &Key::new(vec![2; 32]), Timestamp(0), &tokens()),
            Err(SessionRefusal::Tampered)
        );
        assert_eq!(
            Session::verify(&cookie, &key, Timestamp(0), &Tokens::new(Vec::new())),
            Err(SessionRefusal::Revoked)
        );
        // A correctly signed admin session for a principal who only holds an approver token.
        assert_eq!(
            Session::verify(&admin.sign(&key), &key, Timestamp(0), &tokens()),
            Err(SessionRefusal::Revoked)
        );
        let mut agent = s.clone();
        agent.role = "agent".into();
        assert_eq!(
            Session::verify(&agent.sign(&key), &key, Timestamp(0), &tokens()),
            Err(SessionRefusal::Revoked)
        );
    }

    #[test]
    fn the_csrf_token_belongs_to_one_session() {
        let key = Key::new(vec![1; 32]);
        let a = Session::new(&adam(), Role::Approver, Timestamp(0)).unwrap();
        let b = Session::new(&adam(), Role::Approver, Timestamp(0)).unwrap();
        assert!(a.csrf_ok(&key, &a.csrf(&key)));
        assert!(!a.csrf_ok(&key, &b.csrf(&key)));
        assert!(!a.csrf_ok(&key, ""));
        assert!(!a.csrf_ok(&key, "not base64!"));
        assert!(
            !csrf_ok(&key, b"signin", &a.id, &a.csrf(&key)),
            "scopes differ"
        );
    }

    #[test]
    fn a_cookie_given_twice_is_no_cookie() {
        let mut h = axum::http::HeaderMap::new();
        h.append("cookie", "a=1; rekall_session=x".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE), Some("x"));
        h.append("cookie", "rekall_session=y".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE), None);
        assert_eq!(cookie(&h, "a"), Some("1"));
        assert!(set_cookie(COOKIE, "v", 5, true).ends_with("; Secure"));
        assert!(set_cookie(COOKIE, "v", 5, false).contains("HttpOnly; SameSite=Strict"));
    }
}
