//! Generic webhooks: each notification POSTed as JSON with an HMAC-SHA256 signature, as
//! Stripe and Slack sign theirs, so that a receiver can tell it from a forgery and refuse a
//! replay:
//!
//! - `X-Rekall-Timestamp`: seconds since the Unix epoch when it was sent;
//! - `X-Rekall-Signature`: `sha256=` and the hex HMAC-SHA256, keyed with the webhook's
//!   secret, of `{timestamp}.{body}` (the raw body bytes);
//! - `X-Rekall-Notification`: the notification's id, the same on every retry, so that a
//!   receiver can drop a second delivery.

use super::message::Content;
use super::{env_secret, read_limited};
use crate::runtime::NotifyError;
use crate::server::config::WebhookConfig;
use crate::server::keys::hmac_sha256;

pub const TIMESTAMP_HEADER: &str = "X-Rekall-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Rekall-Signature";
pub const NOTIFICATION_HEADER: &str = "X-Rekall-Notification";

#[derive(Clone)]
pub struct Webhook {
    name: String,
    url: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The signature header's value for `body` sent at `timestamp` (seconds).
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let tag = hmac_sha256(secret, &signed);
    format!(
        "sha256={}",
        tag.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

impl Webhook {
    pub fn new(name: &str, config: &WebhookConfig) -> Result<Webhook, String> {
        let secret = env_secret(&format!("webhooks.{name}.secretEnv"), &config.secret_env)?;
        Ok(Webhook {
            name: name.to_owned(),
            url: config.url.clone(),
            secret: secret.into_bytes(),
        })
    }

    pub async fn send(
        &self,
        http: &reqwest::Client,
        content: &Content<'_>,
        now_ms: i64,
    ) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(&content.webhook_body())
            .map_err(|e| NotifyError(format!("the webhook's body: {e}")))?;
        let timestamp = now_ms.div_euclid(1000);
        let response = http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature(&self.secret, timestamp, &body))
            .header(NOTIFICATION_HEADER, content.notification.id.as_str())
            .body(body)
            .send()
            .await
            .map_err(|e| {
                NotifyError(format!(
                    "webhook `{}`: {}",
                    self.name,
                    super::http_error(&e)
                ))
            })?;
        let status = response.status();
        // Read (a bounded part of) the answer, so that the connection is left clean.
        let _ = read_limited(response).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(NotifyError(format!(
                "webhook `{}` answered HTTP {status}",
                self.name
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        let s = signature(b"secret", 1_700_000_000, b"{}");
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64, "{s}");
        assert_ne!(s, signature(b"secret", 1_700_000_001, b"{}"));
        assert_ne!(s, signature(b"secret", 1_700_000_000, b"{ }"));
        assert_ne!(s, signature(b"other", 1_700_000_000, b"{}"));
        assert_eq!(s, signature(b"secret", 1_700_000_000, b"{}"));
    }
}
