//! Keeping the policy in force current while the server runs: a reload of the policy file on
//! SIGHUP and when the file changes (its modification time, length and SHA-256 are looked at
//! every [`FILE_POLL`]), and the versions other processes stored, picked up every
//! [`REFRESH_EVERY`].
//!
//! A reload is a change like any other, through [`crate::runtime::Policies::put`] as
//! [`RELOAD_PRINCIPAL`]: a new version, audited; an invalid file is refused, the version in
//! force stays, and the refusal shows as `lastError` at `GET /v1/policy`. A file whose text is
//! the version in force already makes no version.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{RELOAD_PRINCIPAL, system_principal};
use crate::front::Language;
use crate::model::hash_text;
use crate::runtime::{ChangedBy, PolicyChangeError, Runtime};

/// How often the policy file is looked at.
pub const FILE_POLL: Duration = Duration::from_secs(1);

/// How often the store is asked for versions stored by other processes (other nodes).
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);

/// What the file looked like when last read, to tell an edit from nothing.
#[derive(Debug, Clone, PartialEq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

/// The policy file being watched.
#[derive(Debug)]
struct Watched {
    path: PathBuf,
    language: Language,
    seen: Option<Stamp>,
}

/// A `stat` of one small file, once a second: read in place rather than on a blocking thread.
fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    })
}

/// Starts the loop on the SIGHUPs taken by [`hangups`]; it ends when `stopping` turns true.
pub fn spawn(
    rt: Runtime,
    file: Option<PathBuf>,
    mut hangup: Hangups,
    mut stopping: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut watched = match file {
            Some(path) => {
                let language = Language::of_path(&path).unwrap_or(Language::Yaml);
                let seen = stamp(&path);
                Some(Watched {
                    path,
                    language,
                    seen,
                })
            }
            None => None,
        };
        let mut poll = tokio::time::interval(FILE_POLL);
        let mut refresh = tokio::time::interval(REFRESH_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                r = stopping.changed() => if r.is_err() || *stopping.borrow() { break },
                () = next_hangup(&mut hangup) => match watched.as_mut() {
                    Some(w) => reload(&rt, w, "SIGHUP").await,
                    None => refresh_from_store(&rt).await,
                },
                _ = poll.tick() => {
                    if let Some(w) = watched.as_mut() {
                        let now = stamp(&w.path);
                        if now.is_some() && now != w.seen {
                            reload(&rt, w, "a change of the file").await;
                        }
                    }
                }
                _ = refresh.tick() => refresh_from_store(&rt).await,
            }
        }
    })
}

async fn refresh_from_store(rt: &Runtime) {
    match rt.policies().refresh().await {
        Ok(true) => {
            if let Some(v) = rt.policies().current() {
                eprintln!(
                    "rekall-policy serve: policy version {} in force (stored by another process)",
                    v.info.version
                );
            }
        }
        Ok(false) => {}
        Err(e) => eprintln!("rekall-policy serve: the policy's versions could not be read: {e}"),
    }
}

/// Reads the file and puts it in force, unless its text is the version in force already.
async fn reload(rt: &Runtime, w: &mut Watched, why: &str) {
    let seen = stamp(&w.path);
    let text = match std::fs::read_to_string(&w.path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!(
                "rekall-policy serve: {} could not be read on {why}: {e}; the policy in force stays",
                w.path.display()
            );
            return;
        }
    };
    w.seen = seen;
    let live = rt.policies().current();
    if live
        .as_ref()
        .is_some_and(|v| v.info.sha256 == hash_text(&text))
    {
        return;
    }
    let by = ChangedBy::new(system_principal(RELOAD_PRINCIPAL));
    match rt.policies().put(&text, w.language, &by).await {
        Ok(v) => eprintln!(
            "rekall-policy serve: policy version {} in force, from {} on {why}",
            v.info.version,
            w.path.display()
        ),
        Err(PolicyChangeError::Rejected(r)) => eprintln!(
            "rekall-policy serve: {} was refused on {why}, the version in force stays: {}",
            w.path.display(),
            r.message
        ),
        Err(e) => eprintln!(
            "rekall-policy serve: {} could not be put in force on {why}: {e}",
            w.path.display()
        ),
    }
}

/// The process's SIGHUPs, once taken over (none where there are no such signals).
#[cfg(unix)]
pub type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
pub type Hangups = ();

/// Takes SIGHUP over: to be called before the server says it listens, since until then the
/// signal would end the process.
#[cfg(unix)]
pub fn hangups() -> Hangups {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
pub fn hangups() -> Hangups {}

#[cfg(unix)]
async fn next_hangup(h: &mut Hangups) {
    match h {
        Some(s) => {
            if s.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangups) {
    std::future::pending().await
}
