//! `rekall-policy serve`: the runtime over HTTP (the wire contract, `shared/spec/http-api.md`),
//! for agents in any language and for approvers who must be identified.
//!
//! A layer above [`crate::runtime`]: [`config`] reads the server's file, [`auth`] turns a
//! bearer token into a [`auth::Caller`], [`body`] reads bodies strictly, [`error`] maps every
//! failure to the contract's statuses and body, [`routes`] holds the thin handlers, [`wait`]
//! the long-polls, and [`app`] puts them in one router. Nothing here holds state that matters:
//! the store is the truth, so a restarted server (or a second one) answers the same.

pub mod app;
pub mod auth;
pub mod bench;
pub mod body;
pub mod config;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod views;
pub mod wait;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::ir::Principal;
use crate::policy::Policy;
use crate::runtime::{LoadedPolicy, Runtime, RuntimeError};

use app::{AppState, PolicyInfo};
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
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{0}")]
    Token(String),
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
    /// The admin token made for this run, when the configuration has none.
    pub run_token: Option<String>,
}

impl Bound {
    /// Opens the store, puts the policy in force and binds the address.
    pub async fn new(config: Config) -> Result<Bound, ServeError> {
        let path = config.policy.clone().ok_or(ServeError::NoPolicy)?;
        let policy = Policy::from_path(&path).map_err(|e| ServeError::Policy(e.render()))?;
        let loaded = LoadedPolicy::new(&policy);
        let metrics = Arc::new(metrics::Metrics::new());
        let rt = Runtime::builder()
            .store_url(&config.store)
            .policy(loaded.clone())
            .notifier(metrics.counting(Arc::new(crate::runtime::LogNotifier)))
            .build()
            .await?;
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
        let (stopping, stopping_rx) = watch::channel(false);
        let info = PolicyInfo {
            version: loaded.version().to_owned(),
            name: loaded.name().map(str::to_owned),
            language: language_of(&path),
            text: policy.source().text.to_string(),
            file: Some(path.display().to_string()),
            loaded_at: rt.now(),
        };
        let state = AppState {
            rt,
            tokens: Arc::new(Tokens::new(entries)),
            limits: config.limits,
            config: Arc::new(config),
            policy: Arc::new(info),
            stopping: stopping_rx,
            metrics,
        };
        Ok(Bound {
            listener,
            state,
            stopping,
            run_token,
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
            ..
        } = self;
        let rt = state.rt.clone();
        let app = app::router(state);
        let signal = async move {
            shutdown.await;
            // Waiters answer at once; their connections then close like any other.
            let _ = stopping.send(true);
        };
        axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await?;
        // Every request has been answered: wait for the store to finish what it was given
        // (its jobs run in order), then drop the last handle, which closes it.
        rt.store()
            .executions(crate::store::ExecutionFilter {
                status: None,
                limit: Some(1),
            })
            .await
            .map_err(RuntimeError::from)?;
        drop(rt);
        Ok(())
    }
}

fn language_of(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("rkl") => "dsl",
        _ => "yaml",
    }
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
