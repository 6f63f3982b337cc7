//! Updating a Slack message through its interaction's `response_url`. The URL comes in the
//! payload, so it is called only when it points at Slack: `https://hooks.slack.com/`, or the
//! origin (scheme, host and port) of the configured `slack.apiBase`. Anything else would let
//! whoever holds the signing secret make the server send requests where they like.
//!
//! The update is sent after the answer to Slack, which wants one within 3 seconds; no
//! redirect is followed (a redirect could lead anywhere).

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

/// Slack's host for `response_url`s.
pub const SLACK_HOOKS: &str = "hooks.slack.com";

/// How long one update may take before it is given up.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The URL to call, if `response_url` is one of Slack's; why not otherwise.
pub fn allowed(response_url: &str, api_base: &str) -> Result<Url, String> {
    let url = Url::parse(response_url)
        .map_err(|e| format!("`response_url` is not a URL ({e}); it is not called"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("`response_url` carries credentials; it is not called".into());
    }
    let slack_hooks = url.scheme() == "https"
        && url.host_str() == Some(SLACK_HOOKS)
        && url.port_or_known_default() == Some(443);
    let api_origin = Url::parse(api_base).is_ok_and(|base| {
        base.scheme() == url.scheme()
            && base.host_str().is_some()
            && base.host_str() == url.host_str()
            && base.port_or_known_default() == url.port_or_known_default()
    });
    if slack_hooks || api_origin {
        Ok(url)
    } else {
        Err(format!(
            "`response_url` is on `{}`, neither {SLACK_HOOKS} nor the host of `slack.apiBase`; it is not called",
            url.host_str().unwrap_or("no host")
        ))
    }
}

fn client() -> Option<&'static reqwest::Client> {
    static CLIENT: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(SEND_TIMEOUT)
                .build()
                .map_err(|e| eprintln!("serve: no HTTP client for Slack message updates: {e}"))
                .ok()
        })
        .as_ref()
}

/// Posts `message` to `url` in the background; a failure is logged, never the voter's
/// problem (the vote is counted already).
pub fn send(url: Url, message: Value) {
    let Some(client) = client() else {
        return;
    };
    tokio::spawn(async move {
        let host = url.host_str().unwrap_or_default().to_owned();
        match client.post(url).json(&message).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => eprintln!(
                "serve: Slack's response_url on {host} answered {} to a message update",
                r.status()
            ),
            Err(e) => eprintln!("serve: a Slack message update to {host} failed: {e}"),
        }
    });
}

/// Text from an agent made inert in Slack's `mrkdwn`: `<`, `>` and `&` are its control
/// characters (`<!channel>` would notify everyone, `<https://x|y>` disguises a link).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://slack.com/api";

    #[test]
    fn only_slack_hooks_and_the_api_origin_are_called() {
        for ok in [
            "https://hooks.slack.com/actions/T1/2/abc",
            "https://hooks.slack.com:443/actions/x",
            "https://slack.com/anything",
        ] {
            assert!(allowed(ok, BASE).is_ok(), "{ok}");
        }
        for bad in [
            "http://hooks.slack.com/actions/x",
            "https://hooks.slack.com.evil.test/actions/x",
            "https://hooks.slack.com@evil.test/actions/x",
            "https://user:pw@hooks.slack.com/actions/x",
            "https://hooks.slack.com:8443/actions/x",
            "https://evil.test/https://hooks.slack.com/",
            "http://169.254.169.254/latest/meta-data",
            "https://slack.com:444/x",
            "not a url",
            "",
        ] {
            assert!(allowed(bad, BASE).is_err(), "{bad}");
        }
        let local = "http://127.0.0.1:4000/api";
        assert!(allowed("http://127.0.0.1:4000/respond/1", local).is_ok());
        assert!(allowed("http://127.0.0.1:4001/respond/1", local).is_err());
        assert!(allowed("http://localhost:4000/respond/1", local).is_err());
    }

    #[test]
    fn mrkdwn_controls_are_escaped() {
        assert_eq!(
            escape("<!channel> & <https://x|y>"),
            "&lt;!channel&gt; &amp; &lt;https://x|y&gt;"
        );
    }
}
