//! The server's notification channels: email over SMTP, Slack's `chat.postMessage`, signed
//! webhooks, and the log. [`ChannelNotifier`] is the runtime's [`Notifier`]: each
//! notification makes one delivery per channel it asks for (`notifyVia`), and per recipient
//! for email, so that the runtime retries and audits each on its own and a retry never sends
//! again what already went out.
//!
//! A delivery reads the request it is about from the store at that moment (its deadline, who
//! asked, whether it still waits), so that a reminder sent late says what is true then.

pub mod email;
pub mod message;
pub mod slack;
pub mod webhook;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use self::email::Email;
use self::message::{About, Content, Links, RequestKind};
use self::slack::Slack;
use self::webhook::Webhook;
use super::config::{ALL_WEBHOOKS, Config};
use super::keys::Keys;
use super::links::{Choice, LinkClaims};
use crate::ir::Principal;
use crate::model::{
    ApprovalId, ApprovalStatus, BoxFuture, FeedbackId, FeedbackStatus, Notification,
    NotificationKind, Timestamp,
};
use crate::runtime::{Channels, Clock, Notifier, NotifyError, Target};
use crate::store::Store;

/// How long one HTTP delivery may take (the runtime gives each delivery a little more).
const HTTP_TIMEOUT: Duration = Duration::from_secs(4);
/// The most of an answer read back from Slack or a webhook.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The longest an email link lives, even for a request with a later deadline or none.
const MAX_LINK_LIFE: crate::ir::Duration = crate::ir::Duration(3 * 24 * 3600 * 1000);

/// What deliveries need from the running server, known only once its runtime is built and
/// its keys are loaded.
#[derive(Debug, Clone)]
pub struct Context {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<Keys>,
    /// The base of links, without a trailing `/`.
    pub public_url: String,
}

/// Gives a [`ChannelNotifier`] its [`Context`].
#[derive(Debug)]
pub struct Binder(watch::Sender<Option<Arc<Context>>>);

impl Binder {
    pub fn bind(&self, context: Context) {
        self.0.send_replace(Some(Arc::new(context)));
    }
}

/// Delivers notifications to the channels of the server's configuration.
#[derive(Debug)]
pub struct ChannelNotifier {
    email: Option<Email>,
    slack: Option<Slack>,
    webhooks: BTreeMap<String, Webhook>,
    /// The channels written to standard error (those of `logChannels` that are not
    /// configured otherwise).
    logged: Channels,
    http: reqwest::Client,
    context: watch::Receiver<Option<Arc<Context>>>,
}

impl ChannelNotifier {
    /// The channels of `config`; an error names a secret's environment variable that is not
    /// set, so that a misconfigured channel is found at start and not at the first request.
    pub fn new(config: &Config) -> Result<(ChannelNotifier, Binder), String> {
        let email = config.email.as_ref().map(Email::new).transpose()?;
        let slack = config.slack.as_ref().map(Slack::new).transpose()?;
        let mut webhooks = BTreeMap::new();
        for (name, hook) in &config.webhooks {
            webhooks.insert(name.clone(), Webhook::new(name, hook)?);
        }
        let logged = match &config.log_channels {
            Channels::Any => Channels::Any,
            Channels::Only(names) => Channels::Only(
                names
                    .iter()
                    .filter(|n| !configured(config, n))
                    .cloned()
                    .collect(),
            ),
        };
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(HTTP_TIMEOUT)
            // A redirect would send a signed body, or the bot token, somewhere not configured.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("the HTTP client for notifications: {e}"))?;
        let (tx, rx) = watch::channel(None);
        Ok((
            ChannelNotifier {
                email,
                slack,
                webhooks,
                logged,
                http,
                context: rx,
            },
            Binder(tx),
        ))
    }

    /// The channels that only go to the log, for the server to say so at start.
    pub fn logged(&self) -> &Channels {
        &self.logged
    }

    async fn context(&self) -> Result<Arc<Context>, NotifyError> {
        let mut rx = self.context.clone();
        let bound = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| NotifyError("the server stopped before it was ready".into()))?;
        bound
            .clone()
            .ok_or_else(|| NotifyError("the server is not ready".into()))
    }

    async fn deliver(&self, n: &Notification, target: &Target) -> Result<(), NotifyError> {
        let ctx = self.context().await?;
        let content = Content {
            notification: n,
            about: about(&ctx, n).await?,
            public_url: ctx.public_url.clone(),
        };
        let channel = target.channel.as_str();
        match (channel, &target.recipient, &self.email, &self.slack) {
            ("email", Some(to), Some(email), _) => {
                let links = match (&content.about, content.asks_for_vote()) {
                    (Some(a), true) => Some(links(&ctx, a, to)?),
                    _ => None,
                };
                let message = email.message(&content, to, links.as_ref())?;
                email.send(message).await
            }
            ("slack", None, _, Some(slack)) => slack.send(&self.http, &content).await,
            (name, None, _, _) if self.webhooks.contains_key(name) => match self.webhooks.get(name)
            {
                Some(hook) => hook.send(&self.http, &content, ctx.clock.now().0).await,
                None => Err(unconfigured(name)),
            },
            (name, _, _, _) if self.logged.allows(name) => log(n, name),
            (name, _, _, _) => Err(unconfigured(name)),
        }
    }
}

impl Notifier for ChannelNotifier {
    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            for target in self.targets(n) {
                self.deliver(n, &target).await?;
            }
            Ok(())
        })
    }

    fn targets(&self, n: &Notification) -> Vec<Target> {
        let mut out: Vec<Target> = Vec::new();
        for channel in &n.channels {
            match channel.as_str() {
                "email" if self.email.is_some() => {
                    out.extend(n.recipients.iter().map(|p| Target::to("email", p)));
                }
                ALL_WEBHOOKS if !self.webhooks.is_empty() => {
                    out.extend(self.webhooks.keys().map(Target::channel));
                }
                // Slack, a webhook by name, a logged channel, or one not configured (queued
                // under an older configuration): its delivery says which.
                name => out.push(Target::channel(name)),
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        out.retain(|t| seen.insert(t.clone()));
        out
    }

    fn notify_target<'a>(
        &'a self,
        n: &'a Notification,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(self.deliver(n, target))
    }
}

/// Whether `name` is a channel `config` configures for real (not only `logChannels`).
fn configured(config: &Config, name: &str) -> bool {
    match name {
        "email" => config.email.is_some(),
        "slack" => config.slack.is_some(),
        ALL_WEBHOOKS => !config.webhooks.is_empty(),
        other => config.webhooks.contains_key(other),
    }
}

fn unconfigured(name: &str) -> NotifyError {
    NotifyError(format!(
        "the channel `{name}` is not configured on this server"
    ))
}

/// A logged channel: the notification as one JSON line on standard error.
fn log(n: &Notification, channel: &str) -> Result<(), NotifyError> {
    use std::io::Write as _;
    let line = serde_json::to_string(n).map_err(|e| NotifyError(e.to_string()))?;
    writeln!(
        std::io::stderr().lock(),
        "rekall-policy notification via {channel} (logged): {line}"
    )
    .map_err(|e| NotifyError(e.to_string()))
}

/// The request a notification is about, as the store holds it now; none for a notification
/// about no request, or one the store no longer has.
async fn about(ctx: &Context, n: &Notification) -> Result<Option<About>, NotifyError> {
    let Some(id) = &n.request_id else {
        return Ok(None);
    };
    let failed = |e: crate::store::StoreError| NotifyError(format!("reading {id}: {e}"));
    let feedback = matches!(
        n.kind,
        NotificationKind::FeedbackRequested | NotificationKind::FeedbackResolved
    );
    if feedback {
        let found = ctx
            .store
            .feedback(&FeedbackId::from(id.as_str()))
            .await
            .map_err(failed)?;
        return Ok(found.map(|v| {
            let r = v.record;
            About {
                kind: RequestKind::Feedback,
                id: r.id.to_string(),
                asked_by: r.requested_by,
                description: r.description,
                deadline: r.deadline,
                pending: r.status == FeedbackStatus::Pending,
            }
        }));
    }
    let found = ctx
        .store
        .approval(&ApprovalId::from(id.as_str()))
        .await
        .map_err(failed)?;
    Ok(found.map(|v| {
        let r = v.record;
        About {
            kind: RequestKind::Approval,
            id: r.id.to_string(),
            deadline: r.current_step().and_then(|s| s.deadline),
            pending: r.status == ApprovalStatus::Pending,
            asked_by: r.requested_by,
            description: r.description,
        }
    }))
}

/// `approver`'s signed links for the request, living until the open step's deadline and at
/// most [`MAX_LINK_LIFE`].
fn links(ctx: &Context, about: &About, approver: &Principal) -> Result<Links, NotifyError> {
    let cap = ctx.clock.now().after(MAX_LINK_LIFE);
    let expires_at: Timestamp = about.deadline.map_or(cap, |d| d.min(cap));
    let url = |choice| {
        LinkClaims::new(&about.id, approver, choice, expires_at)
            .map(|claims| claims.url(&ctx.public_url, &ctx.keys.links))
            .map_err(NotifyError)
    };
    Ok(Links {
        approve: url(Choice::Approve)?,
        reject: url(Choice::Reject)?,
    })
}

/// The value of the environment variable `name` that the configuration's `key` names: set
/// and not empty, or an error saying which.
pub(crate) fn env_secret(key: &str, name: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => Err(format!("{key}: the environment variable `{name}` is empty")),
        Err(_) => Err(format!(
            "{key}: the environment variable `{name}` is not set (or not UTF-8)"
        )),
    }
}

/// An HTTP answer's body, at most [`MAX_ANSWER_BYTES`] of it.
pub(crate) async fn read_limited(mut response: reqwest::Response) -> Result<String, NotifyError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| NotifyError(format!("reading the answer: {}", http_error(&e))))?
    {
        let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A failed HTTP call in one line, with its cause (reqwest's own message leaves it out).
pub(crate) fn http_error(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "no answer in time"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {cause}")
    }
}

/// A request's `notifyVia` from the API: every name a channel `channels` allows, or a 422
/// naming the first that is not.
pub fn requested_channels(
    channels: &Channels,
    names: Option<Vec<String>>,
) -> Result<Vec<String>, super::error::ApiError> {
    let names = names.unwrap_or_default();
    match channels.refuse(&names) {
        Some(why) => Err(super::error::ApiError::invalid("notifyVia", why)),
        None => Ok(names),
    }
}
