//! Failed sign-ins, bounded per client address: each failure takes one request from the
//! address's token bucket (the one the API's rate limit uses), and an address whose bucket is
//! empty is refused before its next token is even looked at, until the bucket refills. A
//! person who mistypes a token a few times is not slowed; guessing is.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::server::config::Rate;
use crate::server::limits::RateLimiter;

/// Failures an address may have in a burst, and the time the bucket takes to refill.
pub const FAILURES: Rate = Rate {
    requests: 10,
    per: Duration::from_secs(300),
};

/// The most addresses remembered as refused; past it, the ones whose time is over are
/// forgotten first.
const MAX_BLOCKED: usize = 10_000;

#[derive(Debug)]
pub struct Throttle {
    failures: RateLimiter,
    blocked: Mutex<HashMap<String, Instant>>,
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle::new(FAILURES)
    }
}

impl Throttle {
    pub fn new(rate: Rate) -> Throttle {
        Throttle {
            failures: RateLimiter::new(rate),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    /// How long `address` must wait before it may try again, if it must.
    pub fn refused(&self, address: &str, now: Instant) -> Option<Duration> {
        let blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        blocked
            .get(address)
            .and_then(|until| until.checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
    }

    /// Counts a failed sign-in of `address`.
    pub fn failed(&self, address: &str, now: Instant) {
        if let Err(wait) = self.failures.take(address, now) {
            let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
            if blocked.len() >= MAX_BLOCKED {
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(address.to_owned(), now + wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_failures_until_the_bucket_refills() {
        let t = Throttle::new(Rate {
            requests: 2,
            per: Duration::from_secs(20),
        });
        let t0 = Instant::now();
        t.failed("a", t0);
        assert_eq!(t.refused("a", t0), None);
        t.failed("a", t0);
        assert_eq!(t.refused("a", t0), None, "two failures are the burst");
        t.failed("a", t0);
        assert_eq!(t.refused("a", t0), Some(Duration::from_secs(10)));
        assert_eq!(t.refused("b", t0), None, "another address is not held up");
        assert_eq!(t.refused("a", t0 + Duration::from_secs(10)), None);
    }
}
