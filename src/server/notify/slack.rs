//! The `slack` channel: one `chat.postMessage` per notification to the configured channel,
//! with the recipients' mapped Slack users mentioned. Slack answers 200 with `{"ok": false,
//! "error"}` when it refuses: that is a failed delivery too.

use std::collections::BTreeMap;

use serde_json::Value;

use super::message::Content;
use super::{env_secret, read_limited};
use crate::ir::Principal;
use crate::runtime::NotifyError;
use crate::server::config::SlackConfig;

#[derive(Clone)]
pub struct Slack {
    url: String,
    bot_token: String,
    channel: String,
    /// Principal -> Slack user id, the configuration's `users` turned around.
    users: BTreeMap<Principal, String>,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack")
            .field("url", &self.url)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl Slack {
    pub fn new(config: &SlackConfig) -> Result<Slack, String> {
        let users = config
            .users
            .iter()
            .map(|(id, p)| (p.clone(), id.clone()))
            .collect();
        Ok(Slack {
            url: format!("{}/chat.postMessage", config.api_base.trim_end_matches('/')),
            bot_token: env_secret("slack.botTokenEnv", &config.bot_token_env)?,
            channel: config.channel.clone(),
            users,
        })
    }

    pub async fn send(
        &self,
        http: &reqwest::Client,
        content: &Content<'_>,
    ) -> Result<(), NotifyError> {
        let recipients = &content.notification.recipients;
        let mentions: Vec<&str> = recipients
            .iter()
            .filter_map(|p| self.users.get(p).map(String::as_str))
            .collect();
        let unmapped: Vec<&Principal> = recipients
            .iter()
            .filter(|p| !self.users.contains_key(*p))
            .collect();
        let body = content.slack_message(&self.channel, &mentions, &unmapped);
        let response = http
            .post(&self.url)
            .bearer_auth(&self.bot_token)
            .json(&body)
            .send()
            .await
            .map_err(|e| NotifyError(format!("Slack: {}", super::http_error(&e))))?;
        let status = response.status();
        let text = read_limited(response).await?;
        if !status.is_success() {
            return Err(NotifyError(format!("Slack answered HTTP {status}")));
        }
        let answer: Value = serde_json::from_str(&text)
            .map_err(|_| NotifyError("Slack answered something that is not JSON".into()))?;
        if answer["ok"] == Value::Bool(true) {
            Ok(())
        } else {
            let error = answer["error"].as_str().unwrap_or("no reason given");
            Err(NotifyError(format!(
                "Slack refused the message: {}",
                super::message::one_line(error, 200)
            )))
        }
    }
}
