//! The signed links of approval emails (contract section 5): one per choice, each bound to
//! (request, approver, choice), expiring, and single-use. A link's token carries its claims
//! and their HMAC under the server's link key; nothing about a link is stored until it is
//! used, when its nonce is spent in the store so that a replay is refused.
//!
//! `GET /links/{token}` only shows a confirmation page (mail scanners fetch links); the
//! `POST` from that page votes.
//!
//! Slack's buttons carry the request id as their `value` and [`SLACK_APPROVE`] or
//! [`SLACK_REJECT`] as their `action_id`; the voter is never in the payload's text but the
//! Slack user the configuration maps.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::keys::Key;
use crate::ir::Principal;
use crate::model::Timestamp;

/// The `action_id` of a Slack message's Approve button.
pub const SLACK_APPROVE: &str = "rekall_approve";
/// The `action_id` of a Slack message's Reject button.
pub const SLACK_REJECT: &str = "rekall_reject";

/// The path under which email links are answered.
pub const LINK_PATH: &str = "/links";

/// What a link votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Choice {
    Approve,
    Reject,
}

impl Choice {
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Approve => "approve",
            Choice::Reject => "reject",
        }
    }
}

/// What a link's token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    /// The approval request.
    #[serde(rename = "r")]
    pub request: String,
    /// The one approver who may use it.
    #[serde(rename = "a")]
    pub approver: Principal,
    #[serde(rename = "c")]
    pub choice: Choice,
    /// Milliseconds since the Unix epoch after which it is refused.
    #[serde(rename = "e")]
    pub expires_at: Timestamp,
    /// Random: what is spent when the link is used.
    #[serde(rename = "n")]
    pub nonce: String,
}

/// Why a link's token is refused before anything else is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// Not a token this server signed, or changed since.
    Tampered,
    /// Signed, but past its time.
    Expired,
}

impl LinkClaims {
    /// Claims for a new link, with a fresh nonce.
    pub fn new(
        request: &str,
        approver: &Principal,
        choice: Choice,
        expires_at: Timestamp,
    ) -> Result<LinkClaims, String> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| format!("no random source for a link: {e}"))?;
        Ok(LinkClaims {
            request: request.to_owned(),
            approver: approver.clone(),
            choice,
            expires_at,
            nonce: nonce.iter().map(|b| format!("{b:02x}")).collect(),
        })
    }

    /// The token: the claims, then their tag, each base64url.
    pub fn sign(&self, key: &Key) -> String {
        let claims = serde_json::to_vec(self).unwrap_or_default();
        let tag = key.sign(&[b"rekall email link v1", &claims]);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&claims),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The claims of a token this server signed, if it has not expired at `now`.
    pub fn verify(token: &str, key: &Key, now: Timestamp) -> Result<LinkClaims, LinkRefusal> {
        let claims = LinkClaims::verify_signature(token, key)?;
        if now > claims.expires_at {
            return Err(LinkRefusal::Expired);
        }
        Ok(claims)
    }

    /// The claims of a token this server signed, expired or not: whom and what an expired link
    /// was for, so that its refusal can say so. Never a reason to act on it.
    pub fn verify_signature(token: &str, key: &Key) -> Result<LinkClaims, LinkRefusal> {
        // A token is short; anything long is not ours and is not decoded.
        if token.len() > 1024 {
            return Err(LinkRefusal::Tampered);
        }
        let (claims, tag) = token.split_once('.').ok_or(LinkRefusal::Tampered)?;
        let claims = URL_SAFE_NO_PAD
            .decode(claims)
            .map_err(|_| LinkRefusal::Tampered)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| LinkRefusal::Tampered)?;
        if !key.verify(&[b"rekall email link v1", &claims], &tag) {
            return Err(LinkRefusal::Tampered);
        }
        serde_json::from_slice(&claims).map_err(|_| LinkRefusal::Tampered)
    }

    /// The link's address under the server's public URL.
    pub fn url(&self, public_url: &str, key: &Key) -> String {
        format!(
            "{}{LINK_PATH}/{}",
            public_url.trim_end_matches('/'),
            self.sign(key)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> LinkClaims {
        LinkClaims::new(
            "apr_1",
            &Principal::parse("user:adam").unwrap(),
            Choice::Approve,
            Timestamp(1_000),
        )
        .unwrap()
    }

    #[test]
    fn a_token_checks_until_it_expires() {
        let key = Key::new(vec![7; 32]);
        let c = claims();
        let token = c.sign(&key);
        assert_eq!(LinkClaims::verify(&token, &key, Timestamp(1_000)), Ok(c));
        assert_eq!(
            LinkClaims::verify(&token, &key, Timestamp(1_001)),
            Err(LinkRefusal::Expired)
        );
    }

    #[test]
    fn a_changed_token_or_another_key_is_tampered() {
        let key = Key::new(vec![7; 32]);
        let c = claims();
        let token = c.sign(&key);
        let mut other = c.clone();
        other.choice = Choice::Reject;
        let (_, tag) = token.split_once('.').unwrap();
        let (forged_claims, _) = other
            .sign(&key)
            .split_once('.')
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .unwrap();
        let forged = format!("{forged_claims}.{tag}");
        for bad in [forged.as_str(), "", ".", "abc", &token[..token.len() - 1]] {
            assert_eq!(
                LinkClaims::verify(bad, &key, Timestamp(0)),
                Err(LinkRefusal::Tampered),
                "{bad}"
            );
        }
        assert_eq!(
            LinkClaims::verify(&token, &Key::new(vec![8; 32]), Timestamp(0)),
            Err(LinkRefusal::Tampered)
        );
        assert_ne!(claims(), claims(), "every link has its own nonce");
        assert!(c.url("http://h:1/", &key).starts_with("http://h:1/links/"));
    }
}
