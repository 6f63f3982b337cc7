//! The `email` channel: one message per recipient over SMTP (lettre), with a plain-text and
//! an HTML part. lettre encodes every header, and the subject is made one line before, so
//! that no text of a request can add a header.

use std::collections::BTreeMap;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::env_secret;
use super::message::{Content, Links};
use crate::ir::Principal;
use crate::runtime::NotifyError;
use crate::server::config::EmailConfig;

/// How long the SMTP server may take to answer each step.
const SMTP_TIMEOUT: Duration = Duration::from_secs(4);

/// Sends email through the configured SMTP server.
#[derive(Clone)]
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    addresses: BTreeMap<Principal, Address>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("from", &self.from)
            .field("addresses", &self.addresses.len())
            .finish_non_exhaustive()
    }
}

impl Email {
    /// The channel of a configuration that [`crate::server::config`] has checked; the
    /// credentials' environment variables must be set.
    pub fn new(config: &EmailConfig) -> Result<Email, String> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.smtp)
            .map_err(|e| format!("email.smtp: {e}"))?
            .timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(password)) = (&config.username_env, &config.password_env) {
            builder = builder.credentials(Credentials::new(
                env_secret("email.usernameEnv", user)?,
                env_secret("email.passwordEnv", password)?,
            ));
        }
        let from = config
            .from
            .parse()
            .map_err(|e| format!("email.from: {e}"))?;
        let mut addresses = BTreeMap::new();
        for (principal, address) in &config.addresses {
            let address = address
                .parse()
                .map_err(|e| format!("email.addresses of {principal}: {e}"))?;
            addresses.insert(principal.clone(), address);
        }
        Ok(Email {
            transport: builder.build(),
            from,
            addresses,
        })
    }

    /// The message to one recipient; an error when the configuration has no address for it.
    pub fn message(
        &self,
        content: &Content<'_>,
        to: &Principal,
        links: Option<&Links>,
    ) -> Result<Message, NotifyError> {
        let address = self.addresses.get(to).ok_or_else(|| {
            NotifyError(format!(
                "no email address for {to}: add it under `email.addresses`"
            ))
        })?;
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, address.clone()))
            .subject(content.subject())
            .multipart(MultiPart::alternative_plain_html(
                content.email_text(links),
                content.email_html(links),
            ))
            .map_err(|e| NotifyError(format!("the email could not be built: {e}")))
    }

    pub async fn send(&self, message: Message) -> Result<(), NotifyError> {
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| NotifyError(format!("SMTP: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Notification, NotificationId, NotificationKind, Timestamp};

    #[test]
    fn a_title_with_line_breaks_adds_no_header_and_a_recipient_needs_an_address() {
        let adam = Principal::parse("user:adam").unwrap();
        let email = Email::new(&EmailConfig {
            smtp: "smtp://127.0.0.1:9".into(),
            from: "rekall@example.com".into(),
            addresses: [(adam.clone(), "adam@example.com".to_owned())].into(),
            username_env: None,
            password_env: None,
        })
        .unwrap();
        let n = Notification {
            id: NotificationId::from("ntf_1"),
            kind: NotificationKind::ApprovalRequested,
            recipients: vec![adam.clone()],
            channels: vec!["email".into()],
            title: "Deploy\r\nBcc: victim@example.com\r\n\r\n<b>body</b>".into(),
            message: "agent:bot asks for approval".into(),
            priority: None,
            execution_id: None,
            request_id: None,
            created_at: Timestamp(0),
        };
        let content = Content {
            notification: &n,
            about: None,
            public_url: "http://127.0.0.1:9".into(),
        };
        let raw = email.message(&content, &adam, None).unwrap().formatted();
        let raw = String::from_utf8(raw).unwrap();
        let (headers, _) = raw.split_once("\r\n\r\n").unwrap();
        assert!(
            !headers
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{headers}"
        );
        assert!(headers.contains("To: adam@example.com"), "{headers}");
        assert_eq!(
            headers
                .lines()
                .filter(|l| l.starts_with("Subject:"))
                .count(),
            1
        );
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));

        let bob = Principal::parse("user:bob").unwrap();
        let err = email.message(&content, &bob, None).unwrap_err();
        assert!(err.0.contains("no email address for user:bob"), "{err}");
    }
}
