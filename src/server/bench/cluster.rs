//! `rekall-policy bench --cluster --store postgres://...`: several `serve` nodes, each its own
//! process, on one shared store, driven over loopback by many agents and approvers at once
//! for a bounded time. It measures `/v1/decide` on one node and spread over all of them, and
//! approval round trips that cross nodes (the execution, its gate and the parked waiter on one
//! node, the vote on the next), then checks what the run left in the store: every request
//! resolved exactly once, by a listed approver, every vote in the audit log, every waiter
//! answered.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::client::Conn;
use super::stats::Latencies;
use super::{
    APPROVER, Acting, DECIDE_BODIES, Throughput, Trip, hex, round_trip, target_lines, temp_folder,
    throughput,
};
use crate::server::auth;

/// What to run.
#[derive(Debug, Clone)]
pub struct ClusterBenchSettings {
    /// The shared store (a PostgreSQL URL); the run adds its records to it.
    pub store: String,
    /// The policy every node serves.
    pub policy: PathBuf,
    pub nodes: usize,
    /// Connections asking `/v1/decide` at once.
    pub clients: usize,
    /// Approval round trips in flight at once (each an agent and its approver).
    pub agents: usize,
    /// How long each run lasts.
    pub duration: Duration,
}

/// What one run found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterBenchReport {
    pub nodes: usize,
    pub cores: usize,
    pub decide_one_node: Throughput,
    pub decide_all_nodes: Throughput,
    /// All nodes' decisions per second over one node's.
    pub decide_scaling: f64,
    pub round_trips: RoundTrips,
    pub invariants: Invariants,
}

/// Approval round trips: create an execution, start it, ask for a gate, park a waiter on
/// it (all on one node), vote on the next node, the waiter woken.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoundTrips {
    pub agents: usize,
    pub completed: usize,
    pub per_second: f64,
    /// Each whole round trip, from the execution's creation to the waiter's answer.
    pub whole: Latencies,
    /// From the vote sent (on one node) to the waiter's answer (on another).
    pub vote_to_woken: Latencies,
}

/// What the store holds after the run, read back through the API.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invariants {
    pub requests: usize,
    pub resolved_once: usize,
    pub votes_by_listed: usize,
    pub votes_in_audit: usize,
    pub waiters_answered: usize,
    /// What broke an invariant, one line each (empty when all held).
    pub violations: Vec<String>,
}

const AGENT: &str = "agent:bench";
const ADMIN: &str = "user:bench-admin";

struct Tokens {
    agent: String,
    approver: String,
    admin: String,
}

/// One `serve` process.
struct Node {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the nodes, measures, checks, stops them.
pub fn run(settings: &ClusterBenchSettings) -> Result<ClusterBenchReport, String> {
    if !(settings.store.starts_with("postgres://") || settings.store.starts_with("postgresql://")) {
        return Err(format!(
            "--cluster needs a store every node can share: a postgres:// URL, not `{}`",
            settings.store
        ));
    }
    let folder = temp_folder()?;
    let result = run_in(settings, &folder);
    let _ = std::fs::remove_dir_all(&folder);
    result
}

fn run_in(settings: &ClusterBenchSettings, folder: &Path) -> Result<ClusterBenchReport, String> {
    let tokens = Tokens {
        agent: auth::new_token()?,
        approver: auth::new_token()?,
        admin: auth::new_token()?,
    };
    let config = folder.join("node.yaml");
    std::fs::write(&config, node_config(settings, &tokens))
        .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    // One at a time, so that the first migrates the store and puts the policy in force and
    // the others find both done.
    let mut nodes = Vec::with_capacity(settings.nodes);
    for k in 0..settings.nodes.max(1) {
        nodes.push(start_node(&config, k)?);
    }
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let tokens = Arc::new(tokens);
    let clients = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the clients' runtime: {e}"))?;
    let measured = clients.block_on(measure(&addrs, tokens, settings));
    drop(nodes);
    let (one, all, round_trips, invariants) = measured?;
    Ok(ClusterBenchReport {
        nodes: addrs.len(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        decide_scaling: all.per_second / one.per_second.max(f64::MIN_POSITIVE),
        decide_one_node: one,
        decide_all_nodes: all,
        round_trips,
        invariants,
    })
}

fn node_config(settings: &ClusterBenchSettings, tokens: &Tokens) -> String {
    let hash = |t: &str| hex(&auth::sha256(t.as_bytes()));
    // The bench measures the nodes and the store, not a mail or chat service: whatever the
    // policy's `notifyVia`, notifications go to the log.
    format!(
        "listen: 127.0.0.1:0\nstore: {store}\npolicy: {policy}\nlogChannels: [email, slack, webhook]\ntokens:\n  - {{principal: \"{AGENT}\", role: agent, sha256: \"{agent}\"}}\n  - {{principal: \"{APPROVER}\", role: approver, sha256: \"{approver}\"}}\n  - {{principal: \"{ADMIN}\", role: admin, sha256: \"{admin}\"}}\n",
        store = json!(settings.store),
        policy = json!(settings.policy.display().to_string()),
        agent = hash(&tokens.agent),
        approver = hash(&tokens.approver),
        admin = hash(&tokens.admin),
    )
}

fn start_node(config: &Path, k: usize) -> Result<Node, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut child = Command::new(exe)
        .args(["serve", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start node {k}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no standard output")?;
    let mut lines = BufReader::new(stdout);
    let mut first = String::new();
    lines
        .read_line(&mut first)
        .map_err(|e| format!("node {k}: {e}"))?;
    let addr = first
        .find("http://")
        .and_then(|at| first[at + 7..].trim().trim_end_matches('/').parse().ok());
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "node {k} did not start (it printed {:?}); run `rekall-policy serve --config` on the same store to see why",
            first.trim()
        ));
    };
    // Keep reading what it prints, so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.lines() {});
    Ok(Node { child, addr })
}

type Measured = (Throughput, Throughput, RoundTrips, Invariants);

async fn measure(
    addrs: &[SocketAddr],
    tokens: Arc<Tokens>,
    settings: &ClusterBenchSettings,
) -> Result<Measured, String> {
    for &addr in addrs {
        throughput(
            addr,
            "/v1/decide",
            Some(&tokens.agent),
            4,
            Duration::from_millis(300),
        )
        .await?;
    }
    let one = throughput(
        addrs[0],
        "/v1/decide",
        Some(&tokens.agent),
        settings.clients,
        settings.duration,
    )
    .await?;
    let all = spread_decide(addrs, &tokens.agent, settings.clients, settings.duration).await?;
    let (round_trips, made) = round_trips(addrs, &tokens, settings).await?;
    let invariants = check(addrs[0], &tokens, &made).await?;
    Ok((one, all, round_trips, invariants))
}

/// `/v1/decide` with the connections spread over every node, as one throughput.
async fn spread_decide(
    addrs: &[SocketAddr],
    token: &str,
    clients: usize,
    duration: Duration,
) -> Result<Throughput, String> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..clients.max(1) {
        let addr = addrs[k % addrs.len()];
        let token = token.to_owned();
        tasks.spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut times = Vec::new();
            let mut i = k;
            while Instant::now() < deadline {
                let t = Instant::now();
                i = (i + 1) % DECIDE_BODIES.len();
                let (status, body) = conn
                    .send("POST", "/v1/decide", Some(&token), Some(DECIDE_BODIES[i]))
                    .await?;
                if status != 200 {
                    return Err(format!("/v1/decide on {addr} answered {status}: {body}"));
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
        endpoint: format!("/v1/decide on {} nodes", addrs.len()),
        clients,
        requests: all.len() as u64,
        per_second: all.len() as f64 / elapsed,
        latency: Latencies::of(&mut all),
    })
}

async fn round_trips(
    addrs: &[SocketAddr],
    tokens: &Arc<Tokens>,
    settings: &ClusterBenchSettings,
) -> Result<(RoundTrips, Vec<Trip>), String> {
    let started = Instant::now();
    let deadline = started + settings.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..settings.agents.max(1) {
        let home = addrs[k % addrs.len()];
        let other = addrs[(k + 1) % addrs.len()];
        let tokens = tokens.clone();
        tasks.spawn(async move {
            let mut agent = Conn::open(home).await?;
            let mut waiter = Conn::open(home).await?;
            let mut voter = Conn::open(other).await?;
            let mut out = Vec::new();
            while Instant::now() < deadline {
                out.push(one_round_trip(&mut agent, &mut waiter, &mut voter, &tokens).await?);
            }
            Ok::<_, String>(out)
        });
    }
    let mut whole = Vec::new();
    let mut woken = Vec::new();
    let mut made = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        for (w, trip) in joined.map_err(|e| e.to_string())?? {
            whole.push(w);
            woken.push(trip.woken);
            made.push(trip);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((
        RoundTrips {
            agents: settings.agents,
            completed: made.len(),
            per_second: made.len() as f64 / elapsed,
            whole: Latencies::of(&mut whole),
            vote_to_woken: Latencies::of(&mut woken),
        },
        made,
    ))
}

async fn one_round_trip(
    agent: &mut Conn,
    waiter: &mut Conn,
    voter: &mut Conn,
    tokens: &Tokens,
) -> Result<(Duration, Trip), String> {
    let begun = Instant::now();
    let by = Acting {
        agent: &tokens.agent,
        approver: &tokens.approver,
    };
    let trip = round_trip(agent, waiter, voter, &by).await?;
    Ok((begun.elapsed(), trip))
}

/// Reads every request of the run back and checks it.
async fn check(addr: SocketAddr, tokens: &Tokens, made: &[Trip]) -> Result<Invariants, String> {
    let mut conn = Conn::open(addr).await?;
    let mut inv = Invariants {
        requests: made.len(),
        resolved_once: 0,
        votes_by_listed: 0,
        votes_in_audit: 0,
        waiters_answered: 0,
        violations: Vec::new(),
    };
    for m in made {
        if m.told == "approved" {
            inv.waiters_answered += 1;
        } else {
            inv.violations.push(format!(
                "the waiter of {} was told `{}`, not approved",
                m.approval, m.told
            ));
        }
        let (status, body) = conn
            .send(
                "GET",
                &format!("/v1/audit?executionId={}", m.execution),
                Some(&tokens.admin),
                None,
            )
            .await?;
        if status != 200 {
            return Err(format!("the audit log answered {status}: {body}"));
        }
        let page: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let entries = page["items"].as_array().cloned().unwrap_or_default();
        let of = |kind: &str| {
            entries
                .iter()
                .filter(|e| e["kind"] == kind && e["requestId"] == m.approval.as_str())
                .collect::<Vec<_>>()
        };
        let votes = of("vote");
        let resolved = of("approval_resolved");
        if resolved.len() == 1 {
            inv.resolved_once += 1;
        } else {
            inv.violations.push(format!(
                "{} was resolved {} times in the audit log",
                m.approval,
                resolved.len()
            ));
        }
        if votes.len() == 1 {
            inv.votes_in_audit += 1;
        } else {
            inv.violations.push(format!(
                "{} has {} votes in the audit log, not 1",
                m.approval,
                votes.len()
            ));
        }
        if votes.iter().all(|v| v["principal"] == APPROVER) && !votes.is_empty() {
            inv.votes_by_listed += 1;
        } else {
            inv.violations
                .push(format!("{} has a vote by someone unlisted", m.approval));
        }
        let (status, body) = conn
            .send(
                "GET",
                &format!("/v1/approvals/{}", m.approval),
                Some(&tokens.admin),
                None,
            )
            .await?;
        let record: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if status != 200
            || record["status"] != "approved"
            || record["approvedBy"] != json!([APPROVER])
        {
            inv.violations.push(format!(
                "{} reads back as {status} {}",
                m.approval,
                body.chars().take(200).collect::<String>()
            ));
        }
    }
    Ok(inv)
}

/// The report as the text `bench --cluster` prints.
pub fn report_text(r: &ClusterBenchReport) -> String {
    let row = |t: &Throughput| {
        format!(
            "{:<26} {:>7} {:>10.0} {:>9.0} {:>9.0} {:>9.0}\n",
            t.endpoint,
            t.clients,
            t.per_second,
            t.latency.mean_us,
            t.latency.p50_us,
            t.latency.p99_us,
        )
    };
    let mut out = String::from(
        "endpoint                   clients      req/s   mean us    p50 us    p99 us\n",
    );
    out.push_str(&row(&r.decide_one_node));
    out.push_str(&row(&r.decide_all_nodes));
    out.push_str(&format!(
        "decisions on {} nodes / on one: {:.2}x ({} cores in all, shared by the nodes, the store and the clients)\n",
        r.nodes, r.decide_scaling, r.cores
    ));
    let t = &r.round_trips;
    out.push_str(&format!(
        "approval round trips across nodes, {} agents at once: {} in all, {:.0}/s; whole p50 {:.1} ms, p99 {:.1} ms; vote -> waiter woken on another node p50 {:.1} ms, p99 {:.1} ms\n",
        t.agents,
        t.completed,
        t.per_second,
        t.whole.p50_us / 1e3,
        t.whole.p99_us / 1e3,
        t.vote_to_woken.p50_us / 1e3,
        t.vote_to_woken.p99_us / 1e3,
    ));
    let i = &r.invariants;
    out.push_str(&format!(
        "after the run: {} requests, {} resolved exactly once, {} with every vote by a listed approver, {} with their vote in the audit log, {} waiters answered\n",
        i.requests, i.resolved_once, i.votes_by_listed, i.votes_in_audit, i.waiters_answered
    ));
    for v in i.violations.iter().take(20) {
        out.push_str(&format!("VIOLATION: {v}\n"));
    }
    out.push_str(&target_lines(&targets(r)));
    out
}

/// The targets, each with whether this run met it.
pub fn targets(r: &ClusterBenchReport) -> Vec<(&'static str, bool)> {
    vec![
        (
            "approval round trips >= 1,000/s across the nodes",
            r.round_trips.per_second >= 1_000.0,
        ),
        (
            "approval round trip p99 < 50 ms",
            r.round_trips.whole.p99_us < 50_000.0,
        ),
        (
            "decisions on two nodes >= 1.6x one node's",
            r.decide_scaling >= 1.6,
        ),
        ("every invariant held", r.invariants.violations.is_empty()),
    ]
}
