//! The connection behind [`Store::changes`](crate::store::Store::changes): it `LISTEN`s on
//! `rekall_changes` and bumps a counter on each notification. When the connection is lost
//! (the database restarted, the connection was killed) it reconnects with backoff for as
//! long as the store lives, and bumps once more after each reconnect, since whatever was
//! notified meanwhile is lost.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Socket};

use super::connect::{self, Settings, Tls};

/// The channel every write notifies.
pub const CHANNEL: &str = "rekall_changes";

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const LAST_BACKOFF: Duration = Duration::from_secs(5);

/// Starts listening; returns once the first `LISTEN` is in place (or failed, or took longer
/// than a connection may), so that the store's first commits are already heard.
pub async fn start(settings: Arc<Settings>, stop: watch::Receiver<bool>) -> watch::Receiver<u64> {
    let (changes, receiver) = watch::channel(0u64);
    let (ready, listening) = oneshot::channel();
    tokio::spawn(run(settings, changes, stop, ready));
    let _ = tokio::time::timeout(Duration::from_secs(5), listening).await;
    receiver
}

async fn run(
    settings: Arc<Settings>,
    changes: watch::Sender<u64>,
    mut stop: watch::Receiver<bool>,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let config = settings.session(false);
        let outcome = match settings.tls {
            Tls::Off => {
                listen(
                    &config,
                    tokio_postgres::NoTls,
                    &changes,
                    &mut ready,
                    &mut stop,
                )
                .await
            }
            Tls::On => match connect::rustls(&settings.shown) {
                Ok(tls) => listen(&config, tls, &changes, &mut ready, &mut stop).await,
                Err(e) => Err(e.to_string()),
            },
        };
        match outcome {
            Ok(Listened::Stopped) => return,
            // It was listening: start again quickly.
            Ok(Listened::Lost) => backoff = FIRST_BACKOFF,
            Err(_) => {}
        }
        if stopped(&stop) {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(LAST_BACKOFF);
    }
}

fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

enum Listened {
    /// The store was closed or dropped.
    Stopped,
    /// The connection was lost after `LISTEN`.
    Lost,
}

/// One connection's life: connect, `LISTEN`, bump on each notification until it is lost.
async fn listen<T>(
    config: &tokio_postgres::Config,
    tls: T,
    changes: &watch::Sender<u64>,
    ready: &mut Option<oneshot::Sender<()>>,
    stop: &mut watch::Receiver<bool>,
) -> Result<Listened, String>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (client, mut connection) = config.connect(tls).await.map_err(|e| e.to_string())?;
    let (heard, mut hear) = mpsc::unbounded_channel::<Result<(), String>>();
    // The connection must be polled for the client's queries to go through; its messages
    // are the notifications.
    let pump = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if heard.send(Ok(())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = heard.send(Err(e.to_string()));
                    return;
                }
            }
        }
        let _ = heard.send(Err("the connection closed".into()));
    });
    let listening = client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(|e| e.to_string());
    if let Err(e) = listening {
        pump.abort();
        return Err(e);
    }
    // Anything may have changed while nobody listened.
    changes.send_modify(|n| *n = n.wrapping_add(1));
    if let Some(ready) = ready.take() {
        let _ = ready.send(());
    }
    let outcome = loop {
        tokio::select! {
            message = hear.recv() => match message {
                Some(Ok(())) => changes.send_modify(|n| *n = n.wrapping_add(1)),
                Some(Err(_)) | None => break Listened::Lost,
            },
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break Listened::Stopped;
                }
            }
        }
    };
    drop(client);
    pump.abort();
    Ok(outcome)
}
