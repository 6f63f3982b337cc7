//! `rekall-policy bench --http`: the server on a loopback port, driven by many keep-alive
//! connections at once. It measures `/v1/decide` beside `/healthz` (the same HTTP parsing,
//! routing and answering, without authentication, body or decision) and the in-process
//! decision, so that what the server adds per decision shows as a difference; and the
//! approval round trip: a waiter parked on `GET /v1/approvals/{id}?wait=`, a vote on another
//! connection, and the time from the vote's first byte sent to the waiter's answer read.
//!
//! The clients speak HTTP/1.1 over raw sockets (`client`): a request is one write, an answer
//! one read of its head and its `Content-Length` body, so the client costs little next to
//! the server it measures. They run on a thread of their own, the server on the runtime's
//! workers.

mod client;
pub mod cluster;
mod stats;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::auth;
use super::config::Config;
use super::{Bound, ServeError};
use crate::policy::Policy;
use crate::request::Request;
use client::Conn;
pub use stats::Latencies;

/// What to measure.
#[derive(Debug, Clone)]
pub struct HttpBenchSettings {
    /// Connections that send requests at once, each waiting for its answer.
    pub clients: usize,
    /// How long each throughput run lasts.
    pub duration: Duration,
    /// Approval round trips to time, one after another.
    pub round_trips: usize,
    /// Round trips run at once, for their rate.
    pub parallel_round_trips: usize,
}

impl Default for HttpBenchSettings {
    fn default() -> Self {
        HttpBenchSettings {
            clients: 32,
            duration: Duration::from_secs(5),
            round_trips: 500,
            parallel_round_trips: 32,
        }
    }
}

/// One throughput run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throughput {
    pub endpoint: String,
    pub clients: usize,
    pub requests: u64,
    pub per_second: f64,
    pub latency: Latencies,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpBenchReport {
    pub health: Throughput,
    pub decide: Throughput,
    /// The policy's decision of the same requests, in process, in nanoseconds.
    pub in_process_ns: f64,
    /// One connection at a time (no queueing): the mean latency of `/healthz` and of
    /// `/v1/decide`, in microseconds.
    pub alone_health_us: f64,
    pub alone_decide_us: f64,
    /// What a `/v1/decide` costs beyond a `/healthz`, in microseconds of processor time:
    /// both runs keep every core busy (server and clients), so a request costs `cores /
    /// rate` of processor time, and the difference is what the token, the strict body, the
    /// decision and its JSON add (the clients' part of it, a slightly longer request,
    /// included). On one connection alone the difference drowns in the wake-ups' noise.
    pub server_overhead_us: f64,
    /// The cores that figure counts.
    pub cores: usize,
    /// From a vote sent to the parked waiter's answer, one round trip at a time.
    pub round_trip: Latencies,
    /// Full round trips (create, park a waiter, vote, woken) per second, several at once.
    pub round_trips_per_second: f64,
    pub parallel_round_trips: usize,
}

/// The tokens of a bench run: made fresh, held only in memory.
struct Tokens {
    agent: String,
    approver: String,
}

const APPROVER: &str = "user:bench-approver";

/// The requests `/v1/decide` is asked, in turn: the seed policy's bands and gates.
const DECIDE_BODIES: [&str; 4] = [
    r#"{"action":"deploy","resource":"staging","confidence":0.93}"#,
    r#"{"action":"deploy","resource":"staging","confidence":0.75}"#,
    r#"{"action":"read","resource":"docs/readme","confidence":0.5}"#,
    r#"{"action":"delete","resource":"db/users","confidence":0.99}"#,
];

/// Starts the server on the policy at `policy` with a store in a fresh temporary folder,
/// measures, stops it and removes the folder.
pub fn run(policy: &Path, settings: &HttpBenchSettings) -> Result<HttpBenchReport, String> {
    let folder = temp_folder()?;
    let result = run_in(policy, &folder, settings);
    let _ = std::fs::remove_dir_all(&folder);
    result
}

fn run_in(
    policy: &Path,
    folder: &Path,
    settings: &HttpBenchSettings,
) -> Result<HttpBenchReport, String> {
    let compiled = Policy::from_path(policy).map_err(|e| e.render())?.compile();
    let tokens = Tokens {
        agent: auth::new_token()?,
        approver: auth::new_token()?,
    };
    let admin = auth::new_token()?;
    let config = bench_config(policy, folder, &tokens, &admin)?;

    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the server's runtime: {e}"))?;
    let bound = server
        .block_on(Bound::new(config))
        .map_err(|e: ServeError| e.to_string())?;
    let addr = bound.local_addr().map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = server.spawn(bound.run(async {
        let _ = stopped.await;
    }));

    let tokens = Arc::new(tokens);
    let measured = std::thread::scope(|scope| {
        let handle = scope.spawn(|| {
            let clients = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the clients' runtime: {e}"))?;
            clients.block_on(measure(addr, tokens.clone(), settings))
        });
        handle
            .join()
            .unwrap_or_else(|_| Err("the clients' thread failed".into()))
    });
    let _ = stop.send(());
    let _ = server.block_on(serving);
    let Measured {
        health,
        decide,
        alone,
        round_trip,
        round_trips_per_second,
    } = measured?;

    let in_process_ns = in_process(&compiled);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let cost = |t: &Throughput| cores as f64 / t.per_second.max(f64::MIN_POSITIVE) * 1e6;
    let overhead = cost(&decide) - cost(&health);
    Ok(HttpBenchReport {
        health,
        decide,
        in_process_ns,
        alone_health_us: alone.0,
        alone_decide_us: alone.1,
        server_overhead_us: overhead,
        cores,
        round_trip,
        round_trips_per_second,
        parallel_round_trips: settings.parallel_round_trips,
    })
}

struct Measured {
    health: Throughput,
    decide: Throughput,
    /// Mean latencies of `/healthz` and `/v1/decide` on one connection alone.
    alone: (f64, f64),
    round_trip: Latencies,
    round_trips_per_second: f64,
}

async fn measure(
    addr: SocketAddr,
    tokens: Arc<Tokens>,
    settings: &HttpBenchSettings,
) -> Result<Measured, String> {
    // A short warm-up: connections, the store's first pages, the allocator.
    throughput(addr, "/healthz", None, 4, Duration::from_millis(200)).await?;
    throughput(
        addr,
        "/v1/decide",
        Some(&tokens.agent),
        4,
        Duration::from_millis(200),
    )
    .await?;
    let health = throughput(addr, "/healthz", None, settings.clients, settings.duration).await?;
    let decide = throughput(
        addr,
        "/v1/decide",
        Some(&tokens.agent),
        settings.clients,
        settings.duration,
    )
    .await?;
    let alone = settings.duration / 2;
    let alone_health = throughput(addr, "/healthz", None, 1, alone).await?;
    let alone_decide = throughput(addr, "/v1/decide", Some(&tokens.agent), 1, alone).await?;
    let mut one = Vec::with_capacity(settings.round_trips);
    let mut agent = Conn::open(addr).await?;
    let mut waiter = Conn::open(addr).await?;
    let mut voter = Conn::open(addr).await?;
    for _ in 0..settings.round_trips {
        one.push(approved_round_trip(&mut agent, &mut waiter, &mut voter, &tokens).await?);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per_task = settings
        .round_trips
        .div_ceil(settings.parallel_round_trips.max(1));
    for _ in 0..settings.parallel_round_trips.max(1) {
        let tokens = tokens.clone();
        tasks.spawn(async move {
            let mut agent = Conn::open(addr).await?;
            let mut waiter = Conn::open(addr).await?;
            let mut voter = Conn::open(addr).await?;
            for _ in 0..per_task {
                approved_round_trip(&mut agent, &mut waiter, &mut voter, &tokens).await?;
            }
            Ok::<usize, String>(per_task)
        });
    }
    let mut done = 0usize;
    while let Some(joined) = tasks.join_next().await {
        done += joined.map_err(|e| e.to_string())??;
    }
    let rate = done as f64 / started.elapsed().as_secs_f64();
    Ok(Measured {
        health,
        decide,
        alone: (alone_health.latency.mean_us, alone_decide.latency.mean_us),
        round_trip: Latencies::of(&mut one),
        round_trips_per_second: rate,
    })
}

/// `clients` connections asking `path` in a closed loop for `duration`.
async fn throughput(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    clients: usize,
    duration: Duration,
) -> Result<Throughput, String> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..clients.max(1) {
        let path = path.to_owned();
        let token = token.map(str::to_owned);
        tasks.spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut times = Vec::new();
            let mut i = k;
            while Instant::now() < deadline {
                let t = Instant::now();
                let (status, _) = match path.as_str() {
                    "/healthz" => conn.send("GET", &path, None, None).await?,
                    _ => {
                        i = (i + 1) % DECIDE_BODIES.len();
                        conn.send("POST", &path, token.as_deref(), Some(DECIDE_BODIES[i]))
                            .await?
                    }
                };
                if status != 200 {
                    return Err(format!("{path} answered {status}"));
                }
                times.push(t.elapsed());
            }
            Ok::<Vec<Duration>, String>(times)
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Throughput {
        endpoint: path.to_owned(),
        clients,
        requests: all.len() as u64,
        per_second: all.len() as f64 / elapsed,
        latency: Latencies::of(&mut all),
    })
}

/// One approval round trip: an execution asks for a gate, a waiter parks on it, the approver
/// votes (on `voter`, which may be another node's connection); what it made, the time from
/// the vote sent to the waiter's answer, and the status the waiter was told.
struct Trip {
    execution: String,
    approval: String,
    woken: Duration,
    told: String,
}

/// The tokens a round trip acts with.
struct Acting<'a> {
    agent: &'a str,
    approver: &'a str,
}

async fn round_trip(
    agent: &mut Conn,
    waiter: &mut Conn,
    voter: &mut Conn,
    by: &Acting<'_>,
) -> Result<Trip, String> {
    let execution = agent
        .json(
            "POST",
            "/v1/executions",
            by.agent,
            &json!({"name": "bench"}),
        )
        .await?;
    let execution = text(&execution, "id")?;
    agent
        .json(
            "POST",
            &format!("/v1/executions/{execution}/start"),
            by.agent,
            &json!({}),
        )
        .await?;
    let approval = agent
        .json(
            "POST",
            &format!("/v1/executions/{execution}/approvals"),
            by.agent,
            &json!({"title": "bench gate", "approvers": [APPROVER]}),
        )
        .await?;
    let approval = text(&approval, "id")?;
    let wait = format!("/v1/approvals/{approval}?wait=30s");
    waiter
        .write_request("GET", &wait, Some(by.agent), None)
        .await?;
    // The waiter's request is read and parked before the vote is sent: a vote that came
    // first would be answered by the waiter's first read, which is not a wake-up.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let sent = Instant::now();
    let (status, receipt) = voter
        .send(
            "POST",
            &format!("/v1/approvals/{approval}/approve"),
            Some(by.approver),
            Some(r#"{"comment":"bench"}"#),
        )
        .await?;
    if status != 200 {
        return Err(format!("the vote answered {status}: {receipt}"));
    }
    let (status, answer) = waiter.read_response().await?;
    let woken = sent.elapsed();
    if status != 200 {
        return Err(format!("the waiter answered {status}: {answer}"));
    }
    let answer: Value =
        serde_json::from_str(&answer).map_err(|e| format!("the waiter's answer: {e}"))?;
    Ok(Trip {
        execution,
        approval,
        woken,
        told: answer["status"].as_str().unwrap_or("").to_owned(),
    })
}

/// A round trip whose waiter must be told `approved`: its wake-up time.
async fn approved_round_trip(
    agent: &mut Conn,
    waiter: &mut Conn,
    voter: &mut Conn,
    tokens: &Tokens,
) -> Result<Duration, String> {
    let by = Acting {
        agent: &tokens.agent,
        approver: &tokens.approver,
    };
    let trip = round_trip(agent, waiter, voter, &by).await?;
    if trip.told != "approved" {
        return Err(format!("the waiter was told `{}`", trip.told));
    }
    Ok(trip.woken)
}

fn text(value: &Value, key: &str) -> Result<String, String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("no `{key}` in {value}"))
}

/// The compiled policy's mean time for the bench's decide requests, in nanoseconds: the
/// least of a few passes.
fn in_process(compiled: &crate::compile::CompiledPolicy) -> f64 {
    let requests: Vec<Request> = DECIDE_BODIES
        .iter()
        .filter_map(|b| Request::from_json_str(b).ok())
        .collect();
    let rounds = 50_000usize;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        let mut sum = 0usize;
        for _ in 0..rounds {
            for r in &requests {
                sum = sum.wrapping_add(
                    compiled
                        .decide(std::hint::black_box(r))
                        .map_or(0, |d| d.outcome() as usize),
                );
            }
        }
        std::hint::black_box(sum);
        let ns = t.elapsed().as_nanos() as f64 / (rounds * requests.len().max(1)) as f64;
        best = best.min(ns);
    }
    best
}

fn bench_config(
    policy: &Path,
    folder: &Path,
    tokens: &Tokens,
    admin: &str,
) -> Result<Config, String> {
    let hash = |t: &str| hex(&auth::sha256(t.as_bytes()));
    let store = folder.join("bench.db");
    let text = format!(
        "listen: 127.0.0.1:0\nstore: {store}\npolicy: {policy}\ntokens:\n  - {{principal: \"agent:bench\", role: agent, sha256: \"{agent}\"}}\n  - {{principal: \"{APPROVER}\", role: approver, sha256: \"{approver}\"}}\n  - {{principal: \"user:bench-admin\", role: admin, sha256: \"{admin}\"}}\n",
        store = json!(format!("sqlite://{}", store.display())),
        policy = json!(policy.display().to_string()),
        agent = hash(&tokens.agent),
        approver = hash(&tokens.approver),
        admin = hash(admin),
    );
    let mut config = Config::parse("bench.yaml", &text).map_err(|e| e.to_string())?;
    // The benchmark measures the server, not a mail or chat service: whatever the policy's
    // `notifyVia`, its notifications go to the log.
    config.log_channels = crate::runtime::Channels::Any;
    Ok(config)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn temp_folder() -> Result<PathBuf, String> {
    let folder = std::env::temp_dir().join(format!(
        "rekall-bench-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&folder)
        .map_err(|e| format!("cannot make {}: {e}", folder.display()))?;
    Ok(folder)
}

/// The report as the text table `bench --http` prints.
pub fn report_text(r: &HttpBenchReport) -> String {
    let row = |t: &Throughput| {
        format!(
            "{:<22} {:>7} {:>10.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0}\n",
            t.endpoint,
            t.clients,
            t.per_second,
            t.latency.mean_us,
            t.latency.p50_us,
            t.latency.p99_us,
            t.latency.p999_us
        )
    };
    let mut out = String::from(
        "endpoint               clients      req/s   mean us    p50 us    p99 us   p999 us\n",
    );
    out.push_str(&row(&r.health));
    out.push_str(&row(&r.decide));
    out.push_str(&format!(
        "one connection alone: /healthz {:.1} us, /v1/decide {:.1} us; in-process decision {:.0} ns\n",
        r.alone_health_us, r.alone_decide_us, r.in_process_ns
    ));
    out.push_str(&format!(
        "the server's own work per decision beyond HTTP: {:.1} us of processor time ({} cores / rate, /v1/decide less /healthz)\n",
        r.server_overhead_us, r.cores
    ));
    let t = &r.round_trip;
    out.push_str(&format!(
        "approval round trip (vote sent -> waiter woken), {} one at a time: mean {:.0} us, p50 {:.0} us, p99 {:.0} us, p999 {:.0} us\n",
        t.count, t.mean_us, t.p50_us, t.p99_us, t.p999_us
    ));
    out.push_str(&format!(
        "full round trips (create, ask, park, vote, woken), {} at once: {:.0}/s\n",
        r.parallel_round_trips, r.round_trips_per_second
    ));
    out.push_str(&target_lines(&targets(r)));
    out
}

/// One line a target: whether this run met it.
fn target_lines(targets: &[(&str, bool)]) -> String {
    targets
        .iter()
        .map(|(what, met)| format!("target {what}: {}\n", if *met { "met" } else { "MISSED" }))
        .collect()
}

/// The issue's targets, each with whether this run met it.
pub fn targets(r: &HttpBenchReport) -> Vec<(&'static str, bool)> {
    vec![
        (
            "/v1/decide >= 50,000 decisions/s",
            r.decide.per_second >= 50_000.0,
        ),
        ("/v1/decide p99 < 2 ms", r.decide.latency.p99_us < 2_000.0),
        (
            "the server's own work < 20 us a decision",
            r.server_overhead_us < 20.0,
        ),
        (
            "approval round trip p50 < 5 ms",
            r.round_trip.p50_us < 5_000.0,
        ),
        (
            "approval round trip p99 < 25 ms",
            r.round_trip.p99_us < 25_000.0,
        ),
    ]
}
