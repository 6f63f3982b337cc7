//! Shared test helpers: a runtime on an in-memory store (or a fresh PostgreSQL database under
//! `REKALL_TEST_BACKEND=postgres`) with a manual clock.

use std::sync::Arc;

use rekall_policy::ir::{Duration, Principal};
use rekall_policy::model::{Execution, Timestamp};
use rekall_policy::runtime::{ManualClock, NewExecution, RecordingNotifier, Runtime};

/// 2026-01-01T00:00:00Z: tests start here so that times in failures are readable.
pub const T0: Timestamp = Timestamp(1_767_225_600_000);

pub fn p(s: &str) -> Principal {
    Principal::parse(s).unwrap_or_else(|| panic!("`{s}` is a principal"))
}

pub fn ps(list: &[&str]) -> Vec<Principal> {
    list.iter().map(|s| p(s)).collect()
}

pub fn minutes(n: u64) -> Duration {
    Duration(n * 60_000)
}

pub fn hours(n: u64) -> Duration {
    Duration(n * 3_600_000)
}

/// A runtime on a private in-memory store (or a fresh PostgreSQL database), with a manual
/// clock at [`T0`], a recording notifier and no background loop (tests drive deadlines and
/// deliveries themselves).
pub struct Rig {
    pub rt: Runtime,
    pub clock: ManualClock,
    pub notes: RecordingNotifier,
}

pub async fn rig() -> Rig {
    let clock = ManualClock::at(T0);
    let notes = RecordingNotifier::new();
    let url = crate::postgres::store_url_or("sqlite::memory:").await;
    let rt = Runtime::builder()
        .store_url(&url)
        .clock(Arc::new(clock.clone()))
        .notifier(Arc::new(notes.clone()))
        .background(false)
        .poll_interval(std::time::Duration::from_millis(50))
        .build()
        .await
        .expect("a runtime on a fresh store");
    Rig { rt, clock, notes }
}

/// A started execution.
pub async fn running(rt: &Runtime, name: &str) -> Execution {
    let e = rt
        .execution()
        .create(NewExecution::new(name))
        .await
        .expect("create");
    rt.execution().start(&e.id).await.expect("start")
}

/// Waits for a future with a generous real-time limit, so that a bug shows as a failure
/// rather than a hung test.
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 30s"))
}

/// The URL of the store at `path` for a test that opens it more than once (a restart, a
/// second node, a child process): `sqlite://PATH`, or under `REKALL_TEST_BACKEND=postgres` a
/// PostgreSQL database made for that path (its URL kept in `PATH.postgres-url`, so that every
/// opener, in any process, finds the same one).
pub async fn store_at(path: &std::path::Path) -> String {
    match crate::postgres::backend() {
        crate::postgres::Backend::Sqlite => format!("sqlite://{}", path.display()),
        crate::postgres::Backend::Postgres => {
            let kept = format!("{}.postgres-url", path.display());
            if let Ok(url) = std::fs::read_to_string(&kept) {
                return url;
            }
            let url = crate::postgres::fresh_database().await;
            std::fs::write(&kept, &url).unwrap();
            url
        }
    }
}
