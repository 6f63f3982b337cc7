//! The server's configuration file (contract section 6), read like a policy: every problem is
//! reported with its line and column, unknown keys are refused with the closest known one,
//! and a bad value is named. Flags override what the file says ([`Overrides`]).
//!
//! Relative paths (the policy file, a `sqlite://` store) are read from the working folder,
//! as every other verb reads them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::diagnostic::render_one;
use crate::front::yaml::tree::{self, Node, NodeKind};
use crate::ir::Principal;
use crate::runtime::Channels;
use crate::source::{Source, Span};
use crate::store::StoreUrl;
use crate::suggest;

use super::auth::{Role, TokenEntry};

/// Where `serve` listens when nothing says otherwise: loopback only, so that a first try
/// never exposes the runtime to the network.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The store when nothing says otherwise: a file in the working folder.
pub const DEFAULT_STORE: &str = "sqlite://rekall.db";
/// The largest request body by default (1 MiB).
pub const DEFAULT_BODY_BYTES: usize = 1 << 20;
/// The longest `?wait=` by default, and the most any configuration may allow.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The server's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    /// The base of links in emails and Slack messages.
    pub public_url: Option<String>,
    pub store: String,
    /// The policy to put in force at start.
    pub policy: Option<PathBuf>,
    pub limits: Limits,
    pub tokens: Vec<TokenEntry>,
    /// Per agent principal.
    pub agents: BTreeMap<Principal, AgentSettings>,
    pub email: Option<EmailConfig>,
    pub slack: Option<SlackConfig>,
    /// Generic webhooks by name (each name is also a channel of `notifyVia`).
    pub webhooks: BTreeMap<String, WebhookConfig>,
    /// The channels written to the server's log (standard error) when no real one of that
    /// name is configured (`logChannels`). Without a configuration file: any channel, so
    /// that a first `serve --policy FILE` works; with one, only those it lists.
    pub log_channels: Channels,
    /// The environment variable that holds the secret signing email links.
    pub link_secret_env: Option<String>,
}

/// Bounds on what one request may ask of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body, in bytes.
    pub body_bytes: usize,
    /// The longest `?wait=` (at most [`MAX_WAIT`]).
    pub max_wait: Duration,
    /// How long a request may run (a long-poll: this beyond its wait) before it is answered
    /// 503 `timeout`.
    pub request_timeout: Duration,
    /// The requests one token may make in a period (`ratePerToken`); none: unlimited.
    pub rate_per_token: Option<Rate>,
}

/// `ratePerToken: {requests: 100, per: 1s}`: a token bucket of `requests`, refilled over `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
}

/// The default of `limits.requestTimeout`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: DEFAULT_BODY_BYTES,
            max_wait: MAX_WAIT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            rate_per_token: None,
        }
    }
}

/// What one agent principal may do beyond its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentSettings {
    /// Whether it may submit a stricter policy.
    pub may_tighten_policy: bool,
}

/// Outgoing email over SMTP.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    /// `smtp://host:port` (plain), `smtp://host:port?tls=required` (STARTTLS) or
    /// `smtps://host:port` (TLS); never credentials, which come from the environment.
    pub smtp: String,
    pub from: String,
    pub addresses: BTreeMap<Principal, String>,
    /// The environment variables of the SMTP user name and password (both or neither).
    pub username_env: Option<String>,
    pub password_env: Option<String>,
}

/// A generic webhook: each notification POSTed as JSON, signed with the secret.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub url: String,
    /// The environment variable of the signing secret.
    pub secret_env: String,
}

/// The channel `notifyVia: [webhook]` names: every configured webhook.
pub const ALL_WEBHOOKS: &str = "webhook";
/// Names a webhook may not take, as they are channels of their own.
const RESERVED_CHANNELS: &[&str] = &["email", "slack", ALL_WEBHOOKS, crate::runtime::ALL_CHANNELS];

/// Slack: notifications to a channel, and the interactions of its buttons.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackConfig {
    pub api_base: String,
    pub bot_token_env: String,
    pub signing_secret_env: String,
    pub channel: String,
    /// Slack user id -> principal.
    pub users: BTreeMap<String, Principal>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| unreachable!("a valid address")),
            public_url: None,
            store: DEFAULT_STORE.into(),
            policy: None,
            limits: Limits::default(),
            tokens: Vec::new(),
            agents: BTreeMap::new(),
            email: None,
            slack: None,
            webhooks: BTreeMap::new(),
            log_channels: Channels::Any,
            link_secret_env: None,
        }
    }
}

/// What the command line says over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub store: Option<String>,
    pub policy: Option<PathBuf>,
}

impl Config {
    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            source: Source::new(origin.as_str(), ""),
            problems: vec![Problem::plain(format!("cannot read the file: {e}"))],
        })?;
        Config::parse(&origin, &text)
    }

    /// Reads a configuration from its text; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Config, ConfigError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let source = Source::new(origin, text);
        let fail = |problems| ConfigError {
            source: source.clone(),
            problems,
        };
        let root = tree::parse_events(text).map_err(|d| {
            fail(vec![Problem {
                span: Some(d.span),
                message: d.kind.to_string(),
                hint: d.kind.hint(),
            }])
        })?;
        let mut reader = Reader::default();
        let config = reader.config(&root);
        if reader.problems.is_empty() {
            Ok(config)
        } else {
            reader
                .problems
                .sort_by_key(|p| p.span.map(|s| (s.line, s.col)));
            Err(fail(reader.problems))
        }
    }

    /// The channels a `notifyVia` may name: the configured ones and `logChannels`.
    pub fn channels(&self) -> Channels {
        let Channels::Only(logged) = &self.log_channels else {
            return Channels::Any;
        };
        let mut names = logged.clone();
        if self.email.is_some() {
            names.insert("email".into());
        }
        if self.slack.is_some() {
            names.insert("slack".into());
        }
        if !self.webhooks.is_empty() {
            names.insert(ALL_WEBHOOKS.into());
        }
        names.extend(self.webhooks.keys().cloned());
        Channels::Only(names)
    }

    /// Applies the command line's flags; a bad flag is an error naming it.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), String> {
        if let Some(listen) = &o.listen {
            self.listen = parse_listen(listen).map_err(|e| format!("--listen: {e}"))?;
        }
        if let Some(store) = &o.store {
            StoreUrl::parse(store).map_err(|e| format!("--store: {e}"))?;
            self.store = store.clone();
        }
        if let Some(policy) = &o.policy {
            self.policy = Some(policy.clone());
        }
        Ok(())
    }
}

fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("`{text}` is not an address and port; write it as 127.0.0.1:8080 or [::1]:8080")
    })
}

/// Every problem of one configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub source: Source,
    pub problems: Vec<Problem>,
}

/// One problem, where it is (none when the file could not be read) and how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub span: Option<Span>,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    fn plain(message: String) -> Problem {
        Problem {
            span: None,
            message,
            hint: None,
        }
    }
}

impl fmt::Display for ConfigError {
    /// `FILE:LINE:COL: error: MESSAGE` with the quoted line and the hint, as for policies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for p in &self.problems {
            match p.span {
                Some(span) => {
                    let notes: Vec<(&str, &str)> =
                        p.hint.iter().map(|h| ("help", h.as_str())).collect();
                    render_one(&mut out, &self.source, "error", &p.message, span, &notes);
                }
                None => out.push_str(&format!("{}: error: {}\n", self.source.origin, p.message)),
            }
        }
        f.write_str(&out)
    }
}

impl std::error::Error for ConfigError {}

const TOP_KEYS: &[&str] = &[
    "listen",
    "publicUrl",
    "store",
    "policy",
    "limits",
    "tokens",
    "agents",
    "email",
    "slack",
    "webhooks",
    "logChannels",
    "linkSecretEnv",
];
const LIMIT_KEYS: &[&str] = &["bodyBytes", "maxWait", "requestTimeout", "ratePerToken"];
const RATE_KEYS: &[&str] = &["requests", "per"];
const TOKEN_KEYS: &[&str] = &["principal", "role", "sha256"];
const AGENT_KEYS: &[&str] = &["mayTightenPolicy"];
const EMAIL_KEYS: &[&str] = &["smtp", "from", "addresses", "usernameEnv", "passwordEnv"];
const WEBHOOK_KEYS: &[&str] = &["url", "secretEnv"];
const SLACK_KEYS: &[&str] = &[
    "apiBase",
    "botTokenEnv",
    "signingSecretEnv",
    "channel",
    "users",
];

/// The smallest body limit that leaves room for an ordinary request.
const MIN_BODY_BYTES: usize = 1024;

#[derive(Default)]
struct Reader {
    problems: Vec<Problem>,
}

type Fields<'n> = Vec<(&'static str, &'n Node<'n>)>;

impl Reader {
    fn problem(&mut self, span: Span, message: impl Into<String>, hint: Option<String>) {
        self.problems.push(Problem {
            span: Some(span),
            message: message.into(),
            hint,
        });
    }

    /// The entries of a mapping whose keys are all in `allowed`, each once.
    fn mapping<'n>(
        &mut self,
        node: &'n Node<'n>,
        place: &str,
        allowed: &'static [&'static str],
    ) -> Fields<'n> {
        let NodeKind::Map(entries) = &node.kind else {
            self.problem(
                node.span,
                format!("{place} must be a mapping, found {}", node.describe()),
                Some("write it as `key: value` pairs".into()),
            );
            return Vec::new();
        };
        let mut out: Fields<'n> = Vec::new();
        for (key, value) in entries {
            let NodeKind::Scalar { value: name, .. } = &key.kind else {
                self.problem(key.span, format!("a key in {place} must be a word"), None);
                continue;
            };
            match allowed.iter().find(|k| **k == name.as_ref()) {
                Some(k) if out.iter().any(|(seen, _)| seen == k) => self.problem(
                    key.span,
                    format!("key `{name}` appears twice in {place}"),
                    Some("keep one of them".into()),
                ),
                Some(k) => out.push((k, value)),
                None => {
                    let hint = suggest::closest(name, allowed.iter().copied()).map_or_else(
                        || format!("the keys allowed here are: {}", allowed.join(", ")),
                        |s| format!("did you mean `{s}`?"),
                    );
                    self.problem(
                        key.span,
                        format!("unknown key `{name}` in {place}"),
                        Some(hint),
                    );
                }
            }
        }
        out
    }

    /// The entries of a mapping with free keys (principals, Slack user ids).
    fn free_mapping<'n>(
        &mut self,
        node: &'n Node<'n>,
        key: &str,
    ) -> Vec<(&'n Node<'n>, &'n Node<'n>)> {
        match &node.kind {
            NodeKind::Map(entries) => {
                let mut seen: Vec<&str> = Vec::new();
                let mut out = Vec::new();
                for (k, v) in entries {
                    if let NodeKind::Scalar { value, .. } = &k.kind {
                        if seen.contains(&value.as_ref()) {
                            self.problem(
                                k.span,
                                format!("`{value}` appears twice in `{key}`"),
                                Some("keep one of them".into()),
                            );
                            continue;
                        }
                        seen.push(value);
                    }
                    out.push((k, v));
                }
                out
            }
            _ => {
                self.problem(
                    node.span,
                    format!("`{key}` must be a mapping, found {}", node.describe()),
                    None,
                );
                Vec::new()
            }
        }
    }

    fn string(&mut self, node: &Node<'_>, key: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar { value, plain } => {
                if *plain && tree::plain_type(value) == tree::PlainType::Null {
                    self.problem(
                        node.span,
                        format!("`{key}` must be a string, found nothing"),
                        None,
                    );
                    return None;
                }
                if value.trim().is_empty() {
                    self.problem(node.span, format!("`{key}` must not be empty"), None);
                    return None;
                }
                Some(value.to_string())
            }
            _ => {
                self.problem(
                    node.span,
                    format!("`{key}` must be a string, found {}", node.describe()),
                    None,
                );
                None
            }
        }
    }

    fn principal(&mut self, node: &Node<'_>, key: &str) -> Option<Principal> {
        let text = self.string(node, key)?;
        let p = Principal::parse(&text);
        if p.is_none() {
            self.problem(
                node.span,
                format!("`{text}` is not a principal of the form `kind:name`"),
                Some("write principals as `user:adam` or `agent:deploy-bot`".into()),
            );
        }
        p
    }

    fn boolean(&mut self, node: &Node<'_>, key: &str) -> Option<bool> {
        match &node.kind {
            NodeKind::Scalar { value, plain: true }
                if tree::plain_type(value) == tree::PlainType::Bool =>
            {
                Some(value.eq_ignore_ascii_case("true"))
            }
            _ => {
                self.problem(
                    node.span,
                    format!("`{key}` must be true or false, found {}", node.describe()),
                    None,
                );
                None
            }
        }
    }

    fn config(&mut self, root: &Node<'_>) -> Config {
        let mut config = Config {
            log_channels: Channels::Only(Default::default()),
            ..Config::default()
        };
        for (key, node) in self.mapping(root, "the server configuration", TOP_KEYS) {
            match key {
                "listen" => {
                    if let Some(text) = self.string(node, key) {
                        match parse_listen(&text) {
                            Ok(addr) => config.listen = addr,
                            Err(e) => self.problem(node.span, e, None),
                        }
                    }
                }
                "publicUrl" => {
                    if let Some(url) = self.string(node, key) {
                        if url.starts_with("http://") || url.starts_with("https://") {
                            config.public_url = Some(url.trim_end_matches('/').to_owned());
                        } else {
                            self.problem(
                                node.span,
                                format!(
                                    "`publicUrl` must be an http:// or https:// URL, found `{url}`"
                                ),
                                None,
                            );
                        }
                    }
                }
                "store" => {
                    if let Some(url) = self.string(node, key) {
                        match StoreUrl::parse(&url) {
                            Ok(_) => config.store = url,
                            Err(e) => self.problem(node.span, e.to_string(), None),
                        }
                    }
                }
                "policy" => config.policy = self.string(node, key).map(PathBuf::from),
                "limits" => config.limits = self.limits(node),
                "tokens" => config.tokens = self.tokens(node),
                "agents" => {
                    for (k, v) in self.free_mapping(node, key) {
                        let principal = self.principal(k, "an agent");
                        let mut settings = AgentSettings::default();
                        for (name, value) in self.mapping(v, "an agent's settings", AGENT_KEYS) {
                            if let ("mayTightenPolicy", Some(b)) = (name, self.boolean(value, name))
                            {
                                settings.may_tighten_policy = b;
                            }
                        }
                        if let Some(p) = principal {
                            config.agents.insert(p, settings);
                        }
                    }
                }
                "email" => config.email = self.email(node),
                "slack" => config.slack = self.slack(node),
                "webhooks" => config.webhooks = self.webhooks(node),
                "logChannels" => config.log_channels = Channels::Only(self.log_channels(node)),
                "linkSecretEnv" => config.link_secret_env = self.env_name(node, key),
                _ => {}
            }
        }
        config
    }

    fn limits(&mut self, node: &Node<'_>) -> Limits {
        let mut limits = Limits::default();
        for (key, value) in self.mapping(node, "`limits`", LIMIT_KEYS) {
            if key == "ratePerToken" {
                limits.rate_per_token = self.rate(value);
                continue;
            }
            let Some(text) = self.string(value, key) else {
                continue;
            };
            match key {
                "bodyBytes" => match text.parse::<usize>() {
                    Ok(n) if n >= MIN_BODY_BYTES => limits.body_bytes = n,
                    Ok(n) => self.problem(
                        value.span,
                        format!("`bodyBytes` is {n}; it must be at least {MIN_BODY_BYTES}"),
                        None,
                    ),
                    Err(_) => self.problem(
                        value.span,
                        format!("`bodyBytes` must be a whole number of bytes, found `{text}`"),
                        Some("write it as 1048576 for 1 MiB".into()),
                    ),
                },
                "maxWait" => match crate::ir::Duration::parse(&text) {
                    Ok(d) if d.as_millis() <= MAX_WAIT.as_millis() as u64 => {
                        limits.max_wait = Duration::from_millis(d.as_millis());
                    }
                    Ok(d) => self.problem(
                        value.span,
                        format!("`maxWait` is {d}; a wait may be at most 60s"),
                        None,
                    ),
                    Err(e) => self.problem(
                        value.span,
                        format!("malformed duration `{text}`: {e}"),
                        Some(
                            "write integer milliseconds or a number with one unit: 500ms, 30s, 1m"
                                .into(),
                        ),
                    ),
                },
                "requestTimeout" => {
                    if let Some(d) = self.positive_duration(value.span, key, &text) {
                        limits.request_timeout = d;
                    }
                }
                _ => {}
            }
        }
        limits
    }

    /// `ratePerToken: {requests, per}`, both required.
    fn rate(&mut self, node: &Node<'_>) -> Option<Rate> {
        let (mut requests, mut per) = (None, None);
        let problems_before = self.problems.len();
        for (key, value) in self.mapping(node, "`ratePerToken`", RATE_KEYS) {
            let Some(text) = self.string(value, key) else {
                continue;
            };
            match key {
                "requests" => match text.parse::<u32>() {
                    Ok(n) if n >= 1 => requests = Some(n),
                    _ => self.problem(
                        value.span,
                        format!("`requests` must be a whole number of at least 1, found `{text}`"),
                        None,
                    ),
                },
                "per" => per = self.positive_duration(value.span, key, &text),
                _ => {}
            }
        }
        match (requests, per) {
            (Some(requests), Some(per)) => Some(Rate { requests, per }),
            // A key given but wrong has its own problem already.
            _ if self.problems.len() == problems_before => {
                self.problem(
                    node.span,
                    "`ratePerToken` needs both `requests` and `per`",
                    Some("write it as {requests: 100, per: 1s}".into()),
                );
                None
            }
            _ => None,
        }
    }

    /// A duration above zero (the value of `key`).
    fn positive_duration(&mut self, span: Span, key: &str, text: &str) -> Option<Duration> {
        match crate::ir::Duration::parse(text) {
            Ok(d) if d.as_millis() > 0 => Some(Duration::from_millis(d.as_millis())),
            Ok(_) => {
                self.problem(span, format!("`{key}` must be longer than 0"), None);
                None
            }
            Err(e) => {
                self.problem(
                    span,
                    format!("malformed duration `{text}`: {e}"),
                    Some(
                        "write integer milliseconds or a number with one unit: 500ms, 30s, 1m"
                            .into(),
                    ),
                );
                None
            }
        }
    }

    fn tokens(&mut self, node: &Node<'_>) -> Vec<TokenEntry> {
        let NodeKind::Seq(items) = &node.kind else {
            self.problem(
                node.span,
                format!("`tokens` must be a list, found {}", node.describe()),
                Some("write `- {principal: user:adam, role: approver, sha256: ...}`".into()),
            );
            return Vec::new();
        };
        let mut out: Vec<TokenEntry> = Vec::new();
        for item in items {
            let fields = self.mapping(item, "a token", TOKEN_KEYS);
            let get = |k: &str| fields.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
            let mut missing = false;
            for key in TOKEN_KEYS {
                if get(key).is_none() {
                    self.problem(
                        item.span,
                        format!("a token has no `{key}`"),
                        Some(format!("add `{key}: ...`")),
                    );
                    missing = true;
                }
            }
            if missing {
                continue;
            }
            let (Some(p), Some(r), Some(h)) = (get("principal"), get("role"), get("sha256")) else {
                continue;
            };
            let principal = self.principal(p, "principal");
            let role = self
                .string(r, "role")
                .and_then(|text| match text.parse::<Role>() {
                    Ok(role) => Some(role),
                    Err(e) => {
                        self.problem(r.span, e, None);
                        None
                    }
                });
            let sha256 = self.string(h, "sha256").and_then(|text| match super::auth::parse_sha256(&text) {
                Some(hash) => Some(hash),
                None => {
                    self.problem(
                        h.span,
                        "`sha256` must be 64 hexadecimal digits, the SHA-256 of the token",
                        Some("`rekall-policy token new --principal P --role R` prints the line to paste".into()),
                    );
                    None
                }
            });
            if let (Some(principal), Some(role), Some(sha256)) = (principal, role, sha256) {
                if out.iter().any(|t| t.sha256 == sha256) {
                    self.problem(
                        h.span,
                        "this token hash is listed twice; one token has one principal and role",
                        Some("make a new token for the other entry".into()),
                    );
                    continue;
                }
                out.push(TokenEntry {
                    principal,
                    role,
                    sha256,
                });
            }
        }
        out
    }

    fn env_name(&mut self, node: &Node<'_>, key: &str) -> Option<String> {
        let name = self.string(node, key)?;
        let ok = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if ok {
            Some(name)
        } else {
            self.problem(
                node.span,
                format!("`{key}` names an environment variable; `{name}` is not such a name"),
                Some("use letters, digits and `_`, such as SLACK_BOT_TOKEN".into()),
            );
            None
        }
    }

    fn email(&mut self, node: &Node<'_>) -> Option<EmailConfig> {
        let fields = self.mapping(node, "`email`", EMAIL_KEYS);
        let (mut smtp, mut from, mut addresses) = (None, None, BTreeMap::new());
        let (mut username_env, mut password_env) = (None, None);
        let mut env_spans = Vec::new();
        for (key, value) in fields {
            match key {
                "smtp" => {
                    smtp = self
                        .string(value, key)
                        .filter(|url| match smtp_url_problem(url) {
                            None => true,
                            Some((message, hint)) => {
                                self.problem(value.span, message, hint);
                                false
                            }
                        });
                }
                "from" => {
                    from = self.string(value, key).filter(|text| {
                        let ok = text.parse::<lettre::message::Mailbox>().is_ok();
                        if !ok {
                            self.problem(
                                value.span,
                                format!("`from` must be an email address, found `{text}`"),
                                Some("write it as rekall@example.com or \"Rekall <rekall@example.com>\"".into()),
                            );
                        }
                        ok
                    });
                }
                "addresses" => {
                    for (k, v) in self.free_mapping(value, key) {
                        let principal = self.principal(k, "addresses");
                        let Some(address) = self.string(v, "an address") else {
                            continue;
                        };
                        if address.parse::<lettre::Address>().is_err() {
                            self.problem(
                                v.span,
                                format!("`{address}` is not an email address"),
                                Some("write it as adam@example.com".into()),
                            );
                            continue;
                        }
                        if let Some(p) = principal {
                            addresses.insert(p, address);
                        }
                    }
                }
                "usernameEnv" => {
                    username_env = self.env_name(value, key);
                    env_spans.push(value.span);
                }
                "passwordEnv" => {
                    password_env = self.env_name(value, key);
                    env_spans.push(value.span);
                }
                _ => {}
            }
        }
        for (name, found) in [("smtp", smtp.is_some()), ("from", from.is_some())] {
            if !found {
                self.problem(
                    node.span,
                    format!("`email` has no `{name}`"),
                    Some(format!("add `{name}: ...`")),
                );
            }
        }
        if username_env.is_some() != password_env.is_some()
            && let Some(span) = env_spans.first()
        {
            self.problem(
                *span,
                "`email` needs both `usernameEnv` and `passwordEnv`, or neither",
                Some("name the environment variables of the SMTP user name and password".into()),
            );
        }
        Some(EmailConfig {
            smtp: smtp?,
            from: from?,
            addresses,
            username_env,
            password_env,
        })
    }

    fn webhooks(&mut self, node: &Node<'_>) -> BTreeMap<String, WebhookConfig> {
        let mut out = BTreeMap::new();
        for (k, v) in self.free_mapping(node, "webhooks") {
            let Some(name) = self.channel_name(k, "a webhook's name") else {
                continue;
            };
            if RESERVED_CHANNELS.contains(&name.as_str()) {
                self.problem(
                    k.span,
                    format!("`{name}` is a channel of its own and cannot name a webhook"),
                    Some("give the webhook another name, such as `ops`".into()),
                );
                continue;
            }
            let (mut url, mut secret_env) = (None, None);
            // A key given but wrong has its own problem already.
            let before = self.problems.len();
            for (key, value) in self.mapping(v, "a webhook", WEBHOOK_KEYS) {
                match key {
                    "url" => {
                        url = self.string(value, key).filter(|u| {
                            let ok = reqwest::Url::parse(u).is_ok_and(|p| {
                                matches!(p.scheme(), "http" | "https") && p.has_host()
                            });
                            if !ok {
                                self.problem(
                                    value.span,
                                    format!(
                                        "`url` must be an http:// or https:// URL, found `{u}`"
                                    ),
                                    None,
                                );
                            }
                            ok
                        });
                    }
                    "secretEnv" => secret_env = self.env_name(value, key),
                    _ => {}
                }
            }
            for (key, found) in [("url", url.is_some()), ("secretEnv", secret_env.is_some())] {
                if !found && self.problems.len() == before {
                    self.problem(
                        v.span,
                        format!("the webhook `{name}` has no `{key}`"),
                        Some(format!("add `{key}: ...`; a webhook is always signed")),
                    );
                }
            }
            if let (Some(url), Some(secret_env)) = (url, secret_env) {
                out.insert(name, WebhookConfig { url, secret_env });
            }
        }
        out
    }

    fn log_channels(&mut self, node: &Node<'_>) -> std::collections::BTreeSet<String> {
        let NodeKind::Seq(items) = &node.kind else {
            self.problem(
                node.span,
                format!("`logChannels` must be a list, found {}", node.describe()),
                Some("write it as [email, slack]".into()),
            );
            return Default::default();
        };
        items
            .iter()
            .filter_map(|item| self.channel_name(item, "a channel"))
            .collect()
    }

    /// A word naming a notification channel.
    fn channel_name(&mut self, node: &Node<'_>, key: &str) -> Option<String> {
        let name = self.string(node, key)?;
        let ok = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            && name.starts_with(|c: char| c.is_ascii_lowercase());
        if ok {
            Some(name)
        } else {
            self.problem(
                node.span,
                format!("`{name}` is not a channel name"),
                Some("use lowercase letters, digits, `-` and `_`, starting with a letter".into()),
            );
            None
        }
    }

    fn slack(&mut self, node: &Node<'_>) -> Option<SlackConfig> {
        let fields = self.mapping(node, "`slack`", SLACK_KEYS);
        let mut values: BTreeMap<&str, String> = BTreeMap::new();
        let mut users = BTreeMap::new();
        for (key, value) in fields {
            match key {
                "users" => {
                    for (k, v) in self.free_mapping(value, key) {
                        if let (Some(id), Some(p)) = (
                            self.string(k, "a Slack user id"),
                            self.principal(v, "users"),
                        ) {
                            users.insert(id, p);
                        }
                    }
                }
                "botTokenEnv" | "signingSecretEnv" => {
                    if let Some(v) = self.env_name(value, key) {
                        values.insert(key, v);
                    }
                }
                _ => {
                    if let Some(v) = self.string(value, key) {
                        values.insert(key, v);
                    }
                }
            }
        }
        let mut take = |name: &'static str, reader: &mut Reader| {
            let v = values.remove(name);
            if v.is_none() && name != "apiBase" {
                reader.problem(
                    node.span,
                    format!("`slack` has no `{name}`"),
                    Some(format!("add `{name}: ...`")),
                );
            }
            v
        };
        let api_base = take("apiBase", self).unwrap_or_else(|| "https://slack.com/api".into());
        let bot_token_env = take("botTokenEnv", self);
        let signing_secret_env = take("signingSecretEnv", self);
        let channel = take("channel", self);
        Some(SlackConfig {
            api_base,
            bot_token_env: bot_token_env?,
            signing_secret_env: signing_secret_env?,
            channel: channel?,
            users,
        })
    }
}

/// What is wrong with an `smtp` URL, with a hint: lettre reads it (`smtp://` plain or with
/// `?tls=required` for STARTTLS, `smtps://` for TLS), and it holds no credentials.
fn smtp_url_problem(url: &str) -> Option<(String, Option<String>)> {
    if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
        return Some((
            format!("`smtp` must be an smtp:// or smtps:// URL, found `{url}`"),
            None,
        ));
    }
    if let Ok(parsed) = reqwest::Url::parse(url)
        && (!parsed.username().is_empty() || parsed.password().is_some())
    {
        return Some((
            "`smtp` must not hold credentials".into(),
            Some(
                "name the environment variables that hold them: `usernameEnv` and `passwordEnv`"
                    .into(),
            ),
        ));
    }
    match lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url) {
        Ok(_) => None,
        Err(e) => Some((
            format!("`smtp` is not a usable SMTP URL: {e}"),
            Some("write smtp://HOST:PORT, smtp://HOST:587?tls=required (STARTTLS) or smtps://HOST:465".into()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> String {
        Config::parse("c.yaml", text).unwrap_err().to_string()
    }

    fn assert_has(shown: &str, expected: &[&str]) {
        for e in expected {
            assert!(shown.contains(e), "missing {e:?} in\n{shown}");
        }
    }

    #[test]
    fn webhooks_are_named_channels_with_a_url_and_a_secret() {
        let shown = errors(
            "webhooks:\n  email: {url: \"https://x.example\", secretEnv: S}\n  ops: {url: \"ftp://x\", secretEnv: S}\n  pager: {url: \"https://p.example\"}\n  \"Bad Name\": {url: \"https://x.example\", secretEnv: S}\n  hook: {url: \"https://x.example\", secretEnv: S, secret: abc}\n",
        );
        assert_has(
            &shown,
            &[
                "c.yaml:2:3: error: `email` is a channel of its own and cannot name a webhook",
                "c.yaml:3:14: error: `url` must be an http:// or https:// URL, found `ftp://x`",
                "c.yaml:4:10: error: the webhook `pager` has no `secretEnv`",
                "c.yaml:5:3: error: `Bad Name` is not a channel name",
                "c.yaml:6:50: error: unknown key `secret` in a webhook",
                "did you mean `secretEnv`?",
            ],
        );
        let ok = Config::parse(
            "c.yaml",
            "webhooks:\n  ops: {url: \"https://hooks.example/in\", secretEnv: OPS_SECRET}\nlogChannels: [pagerduty]\n",
        )
        .unwrap();
        assert_eq!(ok.webhooks["ops"].secret_env, "OPS_SECRET");
        let Channels::Only(names) = ok.channels() else {
            panic!("a configuration file lists its channels");
        };
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["ops", "pagerduty", "webhook"]
        );
    }

    #[test]
    fn email_credentials_come_from_the_environment_only() {
        let shown = errors(
            "email: {smtp: \"smtps://user:pw@mail.example:465\", from: \"not an address\", addresses: {\"user:adam\": nope}, usernameEnv: SMTP_USER}\n",
        );
        assert_has(
            &shown,
            &[
                "error: `smtp` must not hold credentials",
                "`usernameEnv` and `passwordEnv`",
                "error: `from` must be an email address, found `not an address`",
                "error: `nope` is not an email address",
                "error: `email` needs both `usernameEnv` and `passwordEnv`, or neither",
            ],
        );
        assert_has(
            &errors("email: {smtp: \"smtp://mail.example:25?tls=sometimes\", from: a@b.c}\n"),
            &["c.yaml:1:15: error: `smtp` is not a usable SMTP URL"],
        );
        let ok = Config::parse(
            "c.yaml",
            "email: {smtp: \"smtp://mail.example:587?tls=required\", from: \"Rekall <r@b.c>\", usernameEnv: U, passwordEnv: P}\n",
        )
        .unwrap();
        let email = ok.email.unwrap();
        assert_eq!(
            (email.username_env.as_deref(), email.password_env.as_deref()),
            (Some("U"), Some("P"))
        );
    }

    #[test]
    fn without_a_file_any_channel_goes_to_the_log_and_with_one_only_the_listed() {
        assert_eq!(Config::default().channels(), Channels::Any);
        assert_eq!(
            Config::parse("c.yaml", "listen: 127.0.0.1:1\n")
                .unwrap()
                .channels(),
            Channels::Only(Default::default())
        );
        assert_has(
            &errors("logChannels: email\n"),
            &["c.yaml:1:14: error: `logChannels` must be a list"],
        );
        assert_has(
            &errors("logChannels: [Email]\n"),
            &["c.yaml:1:15: error: `Email` is not a channel name"],
        );
    }
}

#[cfg(test)]
mod example {
    use super::*;

    #[test]
    fn the_readmes_notification_example_reads() {
        let text = include_str!("../../examples/rekall-server.notify.yaml");
        let config = Config::parse("rekall-server.notify.yaml", text).unwrap();
        assert_eq!(
            config.channels(),
            Channels::Only(
                ["email", "ops", "pagerduty", "slack", "webhook"]
                    .map(String::from)
                    .into()
            )
        );
        let email = config.email.unwrap();
        assert_eq!(email.username_env.as_deref(), Some("SMTP_USERNAME"));
        assert_eq!(email.addresses.len(), 2);
    }
}
