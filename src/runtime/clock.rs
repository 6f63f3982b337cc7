//! Time for the runtime: a [`Clock`] to read and sleep on, so that deadlines of hours can be
//! tested with a [`ManualClock`] instead of waiting, and [`Timestamp`]s that are stored as
//! plain milliseconds since the Unix epoch (comparable across processes and nodes).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::ir::Duration;

/// A point in time: milliseconds since the Unix epoch, UTC.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// This time plus a duration, saturating instead of overflowing: a deadline too far away
    /// to represent is as good as none.
    pub fn after(self, d: Duration) -> Timestamp {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with milliseconds, such as `2026-01-02T03:04:05.006Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A boxed future, as the object-safe traits of the runtime return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the runtime reads the time and waits for deadlines.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    fn now(&self) -> Timestamp;

    /// Resolves once [`Clock::now`] has reached `deadline`.
    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'_, ()>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Timestamp(ms)
    }

    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Sleep in bounded slices: the wall clock may jump, and a deadline is re-read
            // against it rather than trusted to a single long timer.
            loop {
                let left = deadline.0.saturating_sub(self.now().0);
                if left <= 0 {
                    return;
                }
                let slice = u64::try_from(left.min(60_000)).unwrap_or(60_000);
                tokio::time::sleep(std::time::Duration::from_millis(slice)).await;
            }
        })
    }
}

/// A clock that moves only when told to, for tests and simulations. Clones share the time.
///
/// ```
/// use rekall_policy::runtime::{Clock, ManualClock, Timestamp};
/// use rekall_policy::ir::Duration;
///
/// let clock = ManualClock::at(Timestamp(1_000));
/// clock.advance(Duration(3_600_000));
/// assert_eq!(clock.now(), Timestamp(3_601_000));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<Timestamp>>,
}

impl ManualClock {
    pub fn at(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Arc::new(watch::Sender::new(start)),
        }
    }

    /// Moves the time forward; sleepers whose deadline is reached wake up.
    pub fn advance(&self, by: Duration) {
        self.now.send_modify(|t| *t = t.after(by));
    }

    /// Sets the time; it may not go backwards, since stored deadlines assume it does not.
    pub fn set(&self, to: Timestamp) {
        self.now.send_modify(|t| *t = (*t).max(to));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'_, ()> {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // `wait_for` checks the current value first, so a deadline already passed
            // returns at once. The sender lives as long as `self`, so it cannot close.
            let _ = rx.wait_for(|t| *t >= deadline).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp(1_767_323_045_006).to_string(),
            "2026-01-02T03:04:05.006Z"
        );
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59.999Z");
    }

    #[tokio::test]
    async fn manual_clock_wakes_sleepers() {
        let clock = ManualClock::at(Timestamp(0));
        let c2 = clock.clone();
        let sleeper = tokio::spawn(async move { c2.sleep_until(Timestamp(5_000)).await });
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration(5_000));
        tokio::time::timeout(std::time::Duration::from_secs(5), sleeper)
            .await
            .expect("the sleeper wakes when the time is reached")
            .expect("the sleeper does not panic");
        clock.set(Timestamp(1));
        assert_eq!(clock.now(), Timestamp(5_000), "time never goes backwards");
    }
}
