//! `GET /metrics` (admin token): the server's counters in Prometheus text, through
//! `prometheus-client`. Decisions by outcome and their latency, HTTP requests by route and
//! status, votes, notification attempts and failures are counted as they happen; pending
//! approvals are read from the store when scraped, so that every node shows the truth.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::app::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::openapi::Errors;
use crate::ir::Outcome;
use crate::model::{ApprovalStatus, BoxFuture, Notification};
use crate::runtime::{Notifier, NotifyError, Target};
use crate::store::ApprovalFilter;

/// The decision latency buckets, in seconds: from 1 µs, doubling, to about 1 s.
const LATENCY_BUCKETS: (f64, f64, u16) = (1e-6, 2.0, 21);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    /// The route's template (`/v1/approvals/{id}`), never the raw path: ids would make one
    /// series per record.
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VoteLabels {
    choice: &'static str,
    counted: &'static str,
}

/// The server's metrics. Cheap to share; every update is lock-free.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    decisions: Family<OutcomeLabel, Counter>,
    decision_seconds: Histogram,
    http: Family<HttpLabels, Counter>,
    pending: Gauge,
    votes: Family<VoteLabels, Counter>,
    notification_attempts: Counter,
    notification_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("rekall");
        let decisions = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "decisions",
            "Decisions of the policy in force, by outcome",
            decisions.clone(),
        );
        // Every outcome shows from the start, so that a rate over a fresh server is 0, not absent.
        for o in Outcome::ALL {
            decisions
                .get_or_create(&OutcomeLabel {
                    outcome: o.as_str(),
                })
                .inc_by(0);
        }
        let (start, factor, count) = LATENCY_BUCKETS;
        let decision_seconds = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(start, factor, count),
        );
        registry.register(
            "decision_duration_seconds",
            "Time the policy took to decide one request, in seconds",
            decision_seconds.clone(),
        );
        let http = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            http.clone(),
        );
        let pending = Gauge::default();
        registry.register(
            "pending_approvals",
            "Approval requests waiting for votes",
            pending.clone(),
        );
        let votes = Family::<VoteLabels, Counter>::default();
        registry.register(
            "votes",
            "Votes given, by choice and whether they counted",
            votes.clone(),
        );
        let notification_attempts = Counter::default();
        registry.register(
            "notification_attempts",
            "Attempts to deliver a notification",
            notification_attempts.clone(),
        );
        let notification_failures = Counter::default();
        registry.register(
            "notification_failures",
            "Attempts to deliver a notification that failed",
            notification_failures.clone(),
        );
        Metrics {
            registry,
            decisions,
            decision_seconds,
            http,
            pending,
            votes,
            notification_attempts,
            notification_failures,
        }
    }

    /// One decision of the policy; `seconds` is the policy's own time, when it was measured
    /// alone (`/v1/decide`; an escalation check also writes to the store).
    pub fn decided(&self, outcome: Outcome, seconds: Option<f64>) {
        self.decisions
            .get_or_create(&OutcomeLabel {
                outcome: outcome.as_str(),
            })
            .inc();
        if let Some(s) = seconds {
            self.decision_seconds.observe(s);
        }
    }

    /// One vote: `approve` or `reject`, counted or not (a repeat in the same step).
    pub fn voted(&self, approve: bool, counted: bool) {
        self.votes
            .get_or_create(&VoteLabels {
                choice: if approve { "approve" } else { "reject" },
                counted: if counted { "true" } else { "false" },
            })
            .inc();
    }

    /// A notifier that counts the attempts and failures of `inner`.
    pub fn counting(self: &Arc<Self>, inner: Arc<dyn Notifier>) -> Arc<dyn Notifier> {
        Arc::new(CountingNotifier {
            inner,
            metrics: self.clone(),
        })
    }

    /// The text exposition, with `pending` approvals as the store holds them now.
    pub fn render(&self, pending: usize) -> String {
        self.pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
        let mut text = String::new();
        match prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            Ok(()) => text,
            Err(e) => format!("# the metrics could not be written: {e}\n"),
        }
    }
}

#[derive(Debug)]
struct CountingNotifier {
    inner: Arc<dyn Notifier>,
    metrics: Arc<Metrics>,
}

impl Notifier for CountingNotifier {
    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            self.metrics.notification_attempts.inc();
            let result = self.inner.notify(n).await;
            if result.is_err() {
                self.metrics.notification_failures.inc();
            }
            result
        })
    }

    fn targets(&self, n: &Notification) -> Vec<Target> {
        self.inner.targets(n)
    }

    /// Each delivery is an attempt of its own.
    fn notify_target<'a>(
        &'a self,
        n: &'a Notification,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            self.metrics.notification_attempts.inc();
            let result = self.inner.notify_target(n, target).await;
            if result.is_err() {
                self.metrics.notification_failures.inc();
            }
            result
        })
    }
}

/// Counts every answered request by its route's template and status. Requests no route
/// matched count under `unmatched`.
pub async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    state
        .metrics
        .http
        .get_or_create(&HttpLabels {
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// Times one decision of the policy and counts it by outcome.
pub fn timed<T>(
    metrics: &Metrics,
    decide: impl FnOnce() -> T,
    outcome: impl Fn(&T) -> Option<Outcome>,
) -> T {
    let started = Instant::now();
    let result = decide();
    if let Some(o) = outcome(&result) {
        metrics.decided(o, Some(started.elapsed().as_secs_f64()));
    }
    result
}

/// The metrics in Prometheus text; an admin's.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses((status = 200, description = "Prometheus text exposition", content_type = "application/openmetrics-text", body = String), Errors)
)]
pub async fn metrics(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    if !caller.is_admin() {
        return Err(ApiError::forbidden(
            "the metrics are read with an admin token",
        ));
    }
    let pending = state
        .rt
        .approvals()
        .list(ApprovalFilter {
            status: Some(ApprovalStatus::Pending),
            execution: None,
            limit: None,
        })
        .await?
        .len();
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(pending),
    )
        .into_response())
}
