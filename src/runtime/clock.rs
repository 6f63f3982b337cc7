//! Time for the runtime: a [`Clock`] to read and sleep on, so that deadlines of hours can be
//! tested with a [`ManualClock`] instead of waiting.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::ir::Duration;
use crate::model::{BoxFuture, Timestamp};

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
/// use rekall_policy::model::Timestamp;
/// use rekall_policy::runtime::{Clock, ManualClock};
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
