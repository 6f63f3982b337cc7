//! A real server for each test: the `rekall-policy serve` binary on 127.0.0.1 with a free
//! port and a SQLite store in a temp folder, asked over real sockets; stopped (and killed if
//! need be) when the test ends, passed or not.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};

use crate::postgres;
use rekall_policy::server::auth::{hex, sha256};

/// The principals the test configuration holds a token for, with their roles.
pub const PRINCIPALS: [(&str, &str); 8] = [
    ("agent:deploy-bot", "agent"),
    ("agent:other-bot", "agent"),
    ("user:adam", "approver"),
    ("user:alice", "approver"),
    ("user:bob", "approver"),
    ("user:carol", "approver"),
    ("user:mallory", "approver"),
    ("user:root", "admin"),
];

pub const BOT: &str = "agent:deploy-bot";
pub const OTHER_BOT: &str = "agent:other-bot";
pub const ADAM: &str = "user:adam";
pub const ALICE: &str = "user:alice";
pub const BOB: &str = "user:bob";
pub const CAROL: &str = "user:carol";
pub const ROOT: &str = "user:root";

/// The token of a principal in the test configuration.
pub fn token(principal: &str) -> String {
    format!("tok-{principal}")
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
}

pub fn seed_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/seed.yaml")
}

/// The store of the server in `dir`: `rekall.db` in it, or under
/// `REKALL_TEST_BACKEND=postgres` a PostgreSQL database made for the folder (its URL kept in
/// the folder, so that a restart in the same folder finds the same store).
/// A test that needs PostgreSQL whatever the backend calls [`use_postgres`] first.
pub fn store_url(dir: &Path) -> String {
    let kept = dir.join("postgres-url");
    if let Ok(url) = std::fs::read_to_string(&kept) {
        return url;
    }
    match postgres::backend() {
        postgres::Backend::Sqlite => format!("sqlite://{}", dir.join("rekall.db").display()),
        postgres::Backend::Postgres => use_postgres(dir),
    }
}

/// Makes the server in `dir` run on a fresh PostgreSQL database; its URL.
pub fn use_postgres(dir: &Path) -> String {
    let url = postgres::fresh_database_blocking();
    std::fs::write(dir.join("postgres-url"), &url).unwrap();
    url
}

/// The test configuration, with `extra` lines appended.
pub fn config_text(dir: &Path, extra: &str) -> String {
    // The seed policy asks for email and Slack; unless a test configures them, they go to
    // the log.
    let mut text = format!(
        "store: {}\npolicy: {}\nlogChannels: [email, slack]\ntokens:\n",
        store_url(dir),
        seed_policy().display()
    );
    for (p, role) in PRINCIPALS {
        text.push_str(&format!(
            "  - {{principal: \"{p}\", role: {role}, sha256: \"{}\"}}\n",
            hex(&sha256(token(p).as_bytes()))
        ));
    }
    text.push_str(extra);
    text
}

/// A running server.
pub struct Server {
    child: Child,
    /// Kept open: the server prints more than its first line, and a closed pipe would end it.
    _stdout: BufReader<ChildStdout>,
    pub base: String,
    /// What it printed after the address (the run's admin token, with no tokens configured).
    pub printed: Vec<String>,
    pub dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Server {
    /// A server on the test configuration in a fresh folder.
    pub fn start(extra_config: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        Server::start_in(dir, extra_config)
    }

    /// A server on the test configuration in `dir`, whose store may hold an earlier run.
    pub fn start_in(dir: tempfile::TempDir, extra_config: &str) -> Server {
        Server::start_in_env(dir, extra_config, &[])
    }

    /// A server on the test configuration in a fresh folder, with these environment
    /// variables set (secrets that the configuration names by variable).
    pub fn start_env(extra_config: &str, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        Server::start_in_env(dir, extra_config, env)
    }

    /// [`Server::start_in`] with these environment variables set.
    pub fn start_in_env(
        dir: tempfile::TempDir,
        extra_config: &str,
        env: &[(&str, &str)],
    ) -> Server {
        let config = dir.path().join("rekall-server.yaml");
        std::fs::write(&config, config_text(dir.path(), extra_config)).unwrap();
        let args = [
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ];
        Server::spawn_env(dir, &args, 0, env)
    }

    /// Runs `rekall-policy ARGS` in `dir` and waits until it says where it listens, reading
    /// `more` lines after that.
    pub fn spawn(dir: tempfile::TempDir, args: &[&str], more: usize) -> Server {
        Server::spawn_env(dir, args, more, &[])
    }

    /// [`Server::spawn`] with these environment variables set.
    pub fn spawn_env(
        dir: tempfile::TempDir,
        args: &[&str],
        more: usize,
        env: &[(&str, &str)],
    ) -> Server {
        let mut child = bin()
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(at) = line.find("http://") else {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            let _ = child.kill();
            panic!("the server did not start: {line}{err}");
        };
        let base = line[at..].trim().to_owned();
        let mut printed = Vec::new();
        for _ in 0..more {
            let mut l = String::new();
            stdout.read_line(&mut l).unwrap();
            printed.push(l.trim().to_owned());
        }
        Server {
            child,
            _stdout: stdout,
            base,
            printed,
            dir,
            client: reqwest::Client::new(),
        }
    }

    /// Sends SIGTERM and waits for the process to end.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }

    /// The process id, to send it a signal.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process (SIGKILL: no shutdown at all) and waits for it to end.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// The folder of a server that has ended, for a restart on the same store.
    pub fn into_dir(mut self) -> tempfile::TempDir {
        assert!(
            self.child.try_wait().unwrap().is_some(),
            "the server still runs"
        );
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    /// A GET as `principal` that runs on its own (a waiter beside the test's other calls).
    pub fn detached_get(
        &self,
        path: &str,
        principal: &str,
    ) -> impl std::future::Future<Output = Reply> + Send + 'static {
        let req = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token(principal));
        async move { Reply::of(req.send().await.unwrap()).await }
    }

    /// The server's standard error so far (after it ended).
    pub fn stderr(&mut self) -> String {
        let mut err = String::new();
        if let Some(mut s) = self.child.stderr.take() {
            s.read_to_string(&mut err).unwrap();
        }
        err
    }

    /// A request as `principal` (none: no token), with a JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        principal: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(p) = principal {
            req = req.bearer_auth(token(p));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Reply::of(req.send().await.unwrap()).await
    }

    /// A request with a raw body and headers.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        principal: Option<&str>,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(p) = principal {
            req = req.bearer_auth(token(p));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Reply::of(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, principal: &str) -> Reply {
        self.call(Method::GET, path, Some(principal), None).await
    }

    pub async fn post(&self, path: &str, principal: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(principal), Some(body))
            .await
    }

    /// A running execution of `agent`.
    pub async fn running(&self, agent: &str, name: &str) -> String {
        let e = self
            .post("/v1/executions", agent, json!({"name": name}))
            .await
            .ok(201);
        let id = e["id"].as_str().unwrap().to_owned();
        self.post(&format!("/v1/executions/{id}/start"), agent, json!({}))
            .await
            .ok(200);
        id
    }

    /// A pending single gate on a running execution of `agent`, approved by `approvers`.
    pub async fn gate(&self, agent: &str, approvers: &[&str]) -> (String, String) {
        let exe = self.running(agent, "gated work").await;
        let a = self
            .post(
                &format!("/v1/executions/{exe}/approvals"),
                agent,
                json!({"title": "Production Deployment Approval", "approvers": approvers}),
            )
            .await
            .ok(201);
        (exe, a["id"].as_str().unwrap().to_owned())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An answer: its status, headers and JSON body (`Null` when it has none).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    async fn of(r: reqwest::Response) -> Reply {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// The body, after checking the status.
    pub fn ok(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        self.body
    }

    /// The error's code and field, after checking the status and the error's shape.
    pub fn error(self, status: u16) -> (String, Option<String>) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        let e = &self.body["error"];
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.body
        );
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert!(
            keys.iter()
                .all(|k| ["code", "message", "field"].contains(&k.as_str())),
            "{keys:?}"
        );
        (
            e["code"].as_str().unwrap().to_owned(),
            e["field"].as_str().map(str::to_owned),
        )
    }
}
