//! `rekall-policy serve`: the runtime over HTTP (the wire contract, `shared/spec/http-api.md`),
//! for agents in any language and for approvers who must be identified.
//!
//! A layer above [`crate::runtime`]: [`config`] reads the server's file, [`auth`] turns a
//! bearer token into a [`auth::Caller`], [`body`] reads bodies strictly, [`error`] maps every
//! failure to the contract's statuses and body, [`routes`] holds the thin handlers, [`wait`]
//! the long-polls, and [`app`] puts them in one router. Nothing here holds state that matters:
//! the store is the truth, so a restarted server (or a second one) answers the same.

pub mod answers;
pub mod app;
pub mod auth;
pub mod bench;
pub mod body;
pub mod config;
pub mod error;
pub mod form;
pub mod html;
pub mod idempotency;
pub mod inbox;
pub mod keys;
pub mod limits;
pub mod links;
pub mod metrics;
pub mod notify;
pub mod openapi;
pub mod reload;
pub mod routes;
pub mod tighten;
pub mod views;
pub mod wait;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::front::Language;
use crate::ir::Principal;
use crate::policy::Policy;
use crate::runtime::{ChangedBy, PolicyChangeError, PolicyRejected, Runtime, RuntimeError, Seed};

use app::AppState;
use auth::{Role, TokenEntry, Tokens};
use config::Config;

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The policy to put in force is invalid: its rendered diagnostics.
    #[error("{0}")]
    Policy(String),
    #[error("no policy to put in force: give `--policy FILE` or `policy:` in the configuration")]
    NoPolicy,
    /// The store's policy versions could not be read or written.
    #[error("the policy's versions in the store: {0}")]
    PolicyStore(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{0}")]
    Token(String),
    /// The signing keys of links and sessions could not be had.
    #[error("{0}")]
    Keys(String),
    /// A notification channel could not be set up (a secret's variable is not set).
    #[error("{0}")]
    Notify(String),
    #[error("the server stopped: {0}")]
    Io(#[from] std::io::Error),
}

/// The principal of the token made for a run without configured tokens.
pub const RUN_ADMIN: &str = "user:admin";

/// A server bound to its address, not yet answering.
#[derive(Debug)]
pub struct Bound {
    listener: TcpListener,
    state: AppState,
    stopping: watch::Sender<bool>,
    hangups: reload::Hangups,
    /// The admin token made for this run, when the configuration has none.
    pub run_token: Option<String>,
    /// What the operator should know at start (notifications that only go to the log).
    pub notes: Vec<String>,
}

impl Bound {
    /// Opens the store, puts the policy in force and binds the address.
    pub async fn new(config: Config) -> Result<Bound, ServeError> {
        let metrics = Arc::new(metrics::Metrics::new());
        let (notifier, binder, notes) = notifier(&config)?;
        let rt = Runtime::builder()
            .store_url(&config.store)
            .notifier(metrics.counting(notifier))
            .channels(config.channels())
            .build()
            .await?;
        // The file is read (and its errors rendered, located) before the store is asked:
        // it becomes version 1 when the store holds none, and is ignored after.
        let seed = match &config.policy {
            Some(path) => {
                let policy = Policy::from_path(path).map_err(|e| ServeError::Policy(e.render()))?;
                let language = Language::of_path(path).unwrap_or(Language::Yaml);
                Some((
                    policy.source().text.to_string(),
                    language,
                    path.display().to_string(),
                ))
            }
            None => None,
        };
        let seed = seed.as_ref().map(|(text, language, origin)| Seed {
            text,
            language: *language,
            origin,
            by: ChangedBy::new(system_principal(SEED_PRINCIPAL)),
        });
        match rt.policies().load(seed).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(ServeError::NoPolicy),
            Err(PolicyChangeError::Rejected(r)) => {
                return Err(ServeError::Policy(rejected_text(&r)));
            }
            Err(e) => return Err(ServeError::PolicyStore(e.to_string())),
        }
        let mut entries = config.tokens.clone();
        let run_token = if entries.is_empty() {
            let token = auth::new_token().map_err(ServeError::Token)?;
            entries.push(TokenEntry {
                principal: Principal::parse(RUN_ADMIN)
                    .unwrap_or_else(|| unreachable!("a valid principal")),
                role: Role::Admin,
                sha256: auth::sha256(token.as_bytes()),
            });
            Some(token)
        } else {
            None
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| ServeError::Listen {
                addr: config.listen,
                reason: e.to_string(),
            })?;
        let keys = keys::Keys::load(&rt, config.link_secret_env.as_deref())
            .await
            .map_err(ServeError::Keys)?;
        let keys = Arc::new(keys);
        if let Some(binder) = binder {
            let public_url = match &config.public_url {
                Some(url) => url.clone(),
                None => format!("http://{}", listener.local_addr()?),
            };
            binder.bind(notify::Context {
                store: rt.store().clone(),
                clock: rt.clock().clone(),
                keys: keys.clone(),
                public_url,
            });
        }
        let (stopping, stopping_rx) = watch::channel(false);
        let state = AppState {
            keys,
            rt,
            tokens: Arc::new(Tokens::new(entries)),
            limits: config.limits,
            config: Arc::new(config),
            stopping: stopping_rx,
            metrics,
        };
        Ok(Bound {
            listener,
            state,
            stopping,
            hangups: reload::hangups(),
            run_token,
            notes,
        })
    }

    /// The address it listens on (the port the system chose for `:0`).
    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        Ok(self.listener.local_addr()?)
    }

    /// Answers until `shutdown` completes; then stops accepting, answers every waiter with
    /// the state of its request, lets the requests in flight finish, and closes the store.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Bound {
            listener,
            state,
            stopping,
            hangups,
            ..
        } = self;
        let rt = state.rt.clone();
        let reloader = reload::spawn(
            rt.clone(),
            state.config.policy.clone(),
            hangups,
            state.stopping.clone(),
        );
        let app = app::router(state);
        let signal = async move {
            shutdown.await;
            // Waiters answer at once; their connections then close like any other.
            let _ = stopping.send(true);
        };
        // The peer's address bounds failed inbox sign-ins per client.
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await;
        // A reload under way is a store transaction, applied whole or not at all.
        reloader.abort();
        let _ = reloader.await;
        served?;
        // Every request has been answered: the store finishes what it was given (its jobs
        // run in order), empties its write-ahead log into the database and closes, so that
        // nothing but the database file is left.
        rt.store().close().await.map_err(RuntimeError::from)?;
        drop(rt);
        Ok(())
    }
}

type ChosenNotifier = (
    Arc<dyn crate::runtime::Notifier>,
    Option<notify::Binder>,
    Vec<String>,
);

/// The notifier of a configuration, what binds it to the running server (none for the log
/// notifier), and what to say about it at start. Without a configuration file every channel
/// goes to the log, so that a first `serve --policy FILE` runs whatever its `notifyVia`.
fn notifier(config: &Config) -> Result<ChosenNotifier, ServeError> {
    if config.log_channels == crate::runtime::Channels::Any {
        let note = "notifications are written to standard error: with no configuration file, \
                    every `notifyVia` channel is accepted and logged; configure `email`, \
                    `slack` or `webhooks` in one to send them"
            .to_owned();
        return Ok((Arc::new(crate::runtime::LogNotifier), None, vec![note]));
    }
    let (notifier, binder) = notify::ChannelNotifier::new(config).map_err(ServeError::Notify)?;
    let mut notes = Vec::new();
    if let crate::runtime::Channels::Only(logged) = notifier.logged()
        && !logged.is_empty()
    {
        let names: Vec<&str> = logged.iter().map(String::as_str).collect();
        notes.push(format!(
            "notifications via {} are written to standard error (`logChannels`)",
            names.join(", ")
        ));
    }
    Ok((Arc::new(notifier), Some(binder), notes))
}

/// The principal the configuration's policy file is stored as, when it is the first version.
pub const SEED_PRINCIPAL: &str = "system:config";

/// The principal a reload (SIGHUP, or a change of the policy file) puts a version in as.
pub const RELOAD_PRINCIPAL: &str = "system:reload";

fn system_principal(name: &str) -> Principal {
    Principal::parse(name).unwrap_or_else(|| unreachable!("a valid principal"))
}

/// A refused policy as the command line shows it: each problem at `FILE:LINE:COLUMN`.
fn rejected_text(r: &PolicyRejected) -> String {
    let mut text = String::new();
    for d in &r.diagnostics {
        text.push_str(&format!(
            "{}:{}:{}: error: {}\n",
            d.file, d.line, d.column, d.message
        ));
        if let Some(help) = &d.help {
            text.push_str(&format!("  help: {help}\n"));
        }
    }
    text.push_str(&format!("{}\n", r.message));
    text
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
