//! Hardening at the edge: a per-token rate limit (a token bucket, 429 with `Retry-After`), a
//! time limit on every request (a long-poll gets its wait on top), and the last line: a
//! handler that panics is answered 500 with the error body and logged, never a dropped
//! connection. Body size and field lengths are bounded where bodies are read.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;

use super::auth::Tokens;
use super::config::{Limits, Rate};
use super::error::ApiError;

/// A token bucket per key: `requests` at most in a burst, refilled evenly over `per`.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(rate: Rate) -> RateLimiter {
        RateLimiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request of `key`'s allowance at `now`; when none is left, how long until
    /// one is.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.rate.requests);
        let per_token = self.rate.per.as_secs_f64() / capacity;
        // A poisoned lock only means another request panicked while holding it; the buckets
        // are plain numbers, still consistent.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed / per_token).min(capacity);
        bucket.at = now.max(bucket.at);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) * per_token))
        }
    }
}

/// What the edge layers share.
#[derive(Debug, Clone)]
pub struct Edge {
    pub tokens: Arc<Tokens>,
    pub limits: Limits,
    pub limiter: Option<Arc<RateLimiter>>,
}

impl Edge {
    pub fn new(tokens: Arc<Tokens>, limits: Limits) -> Edge {
        Edge {
            tokens,
            limits,
            limiter: limits.rate_per_token.map(|r| Arc::new(RateLimiter::new(r))),
        }
    }
}

/// Whole seconds for `Retry-After`, rounded up and at least 1.
fn retry_after(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// 429 for a token past its rate; requests without a valid token pass on, to be refused
/// by authentication.
pub async fn rate_limit(State(edge): State<Edge>, req: Request, next: Next) -> Response {
    if let Some(limiter) = &edge.limiter
        && let Some(caller) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| edge.tokens.from_header(v))
        && let Err(wait) = limiter.take(caller.principal.as_str(), Instant::now())
    {
        let seconds = retry_after(wait).max(1);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("this token's rate limit was hit; try again in {seconds} s"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    next.run(req).await
}

/// Whether a request is a long-poll (`?wait=` in its query).
fn is_long_poll(req: &Request) -> bool {
    req.uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "wait" || p.starts_with("wait=")))
}

/// The time a request may take: the configured limit, plus the longest wait for a long-poll.
pub fn deadline(limits: &Limits, long_poll: bool) -> Duration {
    if long_poll {
        limits.request_timeout + limits.max_wait
    } else {
        limits.request_timeout
    }
}

/// Answers 503 `timeout` for a request that runs past its time.
pub async fn time_limit(State(edge): State<Edge>, req: Request, next: Next) -> Response {
    let limit = deadline(&edge.limits, is_long_poll(&req));
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request ran longer than {} ms; it may have taken effect: retry it with the same Idempotency-Key",
                limit.as_millis()
            ),
        )
        .into_response(),
    }
}

/// The last line: a handler's panic becomes a 500 with the error body, and a line in the log.
pub async fn catch_panic(req: Request, next: Next) -> Response {
    let what = format!("{} {}", req.method(), req.uri().path());
    match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            eprintln!("serve: {what} panicked: {message}");
            ApiError::internal().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::middleware;
    use axum::routing::get;
    use proptest::prelude::*;
    use tower::ServiceExt as _;

    fn limiter(requests: u32, per_ms: u64) -> RateLimiter {
        RateLimiter::new(Rate {
            requests,
            per: Duration::from_millis(per_ms),
        })
    }

    #[test]
    fn a_burst_takes_the_bucket_then_waits_for_one_refill() {
        let l = limiter(3, 3000);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.take("a", t0), Ok(()));
        }
        let wait = l.take("a", t0).unwrap_err();
        assert_eq!(wait.as_millis(), 1000, "one request's worth of the period");
        assert_eq!(retry_after(wait), 1);
        // Another key has its own bucket.
        assert_eq!(l.take("b", t0), Ok(()));
        // After one refill, exactly one more.
        let t1 = t0 + Duration::from_millis(1000);
        assert_eq!(l.take("a", t1), Ok(()));
        assert!(l.take("a", t1).is_err());
    }

    proptest! {
        /// Over any arrival times, no key gets more than the burst plus what the elapsed time
        /// refills, and a request is refused only when that allowance is used up.
        #[test]
        fn never_more_than_the_rate_allows(
            requests in 1u32..20,
            per_ms in 1u64..5000,
            gaps in proptest::collection::vec(0u64..500, 1..200),
        ) {
            let l = limiter(requests, per_ms);
            let t0 = Instant::now();
            let mut now = t0;
            let mut allowed = 0u64;
            for gap in gaps {
                now += Duration::from_millis(gap);
                if l.take("k", now).is_ok() {
                    allowed += 1;
                }
                let elapsed = now.duration_since(t0).as_secs_f64();
                let bound = f64::from(requests) + elapsed * f64::from(requests) / (per_ms as f64 / 1000.0);
                prop_assert!(allowed as f64 <= bound + 1e-9, "{allowed} > {bound}");
            }
        }
    }

    #[test]
    fn a_retry_after_is_whole_seconds_rounded_up() {
        assert_eq!(retry_after(Duration::from_millis(1)), 1);
        assert_eq!(retry_after(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after(Duration::from_millis(1001)), 2);
    }

    #[test]
    fn a_long_poll_gets_its_wait_on_top() {
        let limits = Limits {
            request_timeout: Duration::from_secs(30),
            max_wait: Duration::from_secs(60),
            ..Limits::default()
        };
        assert_eq!(deadline(&limits, false), Duration::from_secs(30));
        assert_eq!(deadline(&limits, true), Duration::from_secs(90));
        let req = |uri: &str| Request::builder().uri(uri).body(Body::empty()).unwrap();
        assert!(is_long_poll(&req("/v1/approvals/x?wait=30s")));
        assert!(is_long_poll(&req("/v1/approvals/x?a=1&wait")));
        assert!(!is_long_poll(&req("/v1/approvals/x?waiting=1")));
        assert!(!is_long_poll(&req("/v1/approvals/x")));
    }

    async fn body_of(r: Response) -> serde_json::Value {
        let bytes = http_body_util::BodyExt::collect(r.into_body())
            .await
            .unwrap()
            .to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_error_body() {
        async fn boom() -> &'static str {
            panic!("a bug")
        }
        let app: Router = Router::new()
            .route("/boom", get(boom))
            .route("/fine", get(|| async { "fine" }))
            .layer(middleware::from_fn(catch_panic));
        let r = app
            .clone()
            .oneshot(Request::builder().uri("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body_of(r).await["error"]["code"], "internal");
        let r = app
            .oneshot(Request::builder().uri("/fine").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_past_its_time_answers_503_timeout_and_a_long_poll_does_not() {
        let limits = Limits {
            request_timeout: Duration::from_secs(1),
            max_wait: Duration::from_secs(60),
            ..Limits::default()
        };
        let edge = Edge::new(Arc::new(Tokens::new(Vec::new())), limits);
        // Paused time: the sleeps pass in order without waiting, so nothing here is timed.
        let app: Router = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    "late"
                }),
            )
            .layer(middleware::from_fn_with_state(edge, time_limit));
        let r = app
            .clone()
            .oneshot(Request::builder().uri("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().contains_key(header::RETRY_AFTER));
        assert_eq!(body_of(r).await["error"]["code"], "timeout");
        let r = app
            .oneshot(
                Request::builder()
                    .uri("/slow?wait=2s")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}
