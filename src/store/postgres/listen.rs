//! The connection behind [`Store::changes`](crate::store::Store::changes): it `LISTEN`s on
//! `rekall_changes` and bumps a counter on each notification. When the connection is lost
//! (the database restarted, the connection was killed) it reconnects with backoff for as
//! long as the store lives, and bumps once more after each reconnect, since whatever was
//! notified meanwhile is lost.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Socket};

use super::connect::{self, Settings, Tls};
use crate::store::Changed;

/// How many notifications a slow receiver of [`Changed`] may fall behind before it is told
/// [`Changed::Anything`] instead.
const BACKLOG: usize = 4096;

/// What the listener hands out: the counter of [`crate::store::Store::changes`] and the
/// records of [`crate::store::Store::changed_records`].
pub struct Heard {
    pub changes: watch::Receiver<u64>,
    pub records: broadcast::Sender<Changed>,
}

/// What a notification's payload says was written (see `ops::payload`).
fn parse(payload: &str) -> Changed {
    match payload.strip_prefix('=') {
        Some(keys) => Changed::Records(keys.split_whitespace().map(str::to_owned).collect()),
        None => Changed::Anything,
    }
}

struct Tell {
    changes: watch::Sender<u64>,
    records: broadcast::Sender<Changed>,
}

impl Tell {
    fn tell(&self, changed: Changed) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        // No receiver is no waiter: nothing to tell.
        let _ = self.records.send(changed);
    }
}

/// The channel every write notifies.
pub const CHANNEL: &str = "rekall_changes";

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const LAST_BACKOFF: Duration = Duration::from_secs(5);

/// Starts listening; returns once the first `LISTEN` is in place (or failed, or took longer
/// than a connection may), so that the store's first commits are already heard.
pub async fn start(settings: Arc<Settings>, stop: watch::Receiver<bool>) -> Heard {
    let (changes, receiver) = watch::channel(0u64);
    let (records, _) = broadcast::channel(BACKLOG);
    let (ready, listening) = oneshot::channel();
    let tell = Tell {
        changes,
        records: records.clone(),
    };
    tokio::spawn(run(settings, tell, stop, ready));
    let _ = tokio::time::timeout(Duration::from_secs(5), listening).await;
    Heard {
        changes: receiver,
        records,
    }
}

async fn run(
    settings: Arc<Settings>,
    changes: Tell,
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
    changes: &Tell,
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
    let (heard, mut hear) = mpsc::unbounded_channel::<Result<Changed, String>>();
    // The connection must be polled for the client's queries to go through; its messages
    // are the notifications.
    let pump = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if heard.send(Ok(parse(n.payload()))).is_err() {
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
    changes.tell(Changed::Anything);
    if let Some(ready) = ready.take() {
        let _ = ready.send(());
    }
    let outcome = loop {
        tokio::select! {
            message = hear.recv() => match message {
                Some(Ok(changed)) => changes.tell(changed),
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
