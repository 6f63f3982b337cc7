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
