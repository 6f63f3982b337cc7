//! The reading verbs (`approvals list`, `executions list|show`) against stores they must not
//! change: read-only files and folders, a store behind a long writer, other databases, empty
//! files and older schemas; and `store migrate`, the one verb that upgrades or creates one.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use rekall_policy::model::StepSpec;
use rekall_policy::runtime::{ApprovalSpec, ManualClock, Runtime};

use crate::common::{T0, hours, ps, running};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs the binary without the power to write what its permissions forbid: as root, with
/// every capability dropped (root ignores file modes otherwise).
pub(crate) fn cli_unprivileged(args: &[&str]) -> Output {
    let probe = tempfile::NamedTempFile::new().unwrap();
    let mut command = if probe.as_file().metadata().unwrap().uid() == 0 {
        let mut c = Command::new("setpriv");
        c.args(["--bounding-set=-all", "--inh-caps=-all"])
            .arg(env!("CARGO_BIN_EXE_rekall-policy"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
    };
    command
        .args(args)
        .output()
        .expect("the binary runs (as root, this needs util-linux's setpriv)")
}

struct Seeded {
    path: PathBuf,
    url: String,
    execution: String,
    approval: String,
}

/// A store with one execution waiting on an approval whose one-hour deadline passed long ago
/// (the clock stood at 2026-01-01), closed as an agent leaves it.
async fn seeded(dir: &Path) -> Seeded {
    let path = dir.join("agent.db");
    let url = format!("sqlite://{}", path.display());
    let rt = Runtime::builder()
        .store_url(&url)
        .clock(Arc::new(ManualClock::at(T0)))
        .background(false)
        .build()
        .await
        .unwrap();
    let e = running(&rt, "Deploy api@1.4.2").await;
    let gate = ApprovalSpec::gate(
        "Production Deployment Approval",
        StepSpec::new("approval", ps(&["user:adam"])).timeout(hours(1)),
    );
    let h = rt.execution().request_approval(&e.id, gate).await.unwrap();
    let seeded = Seeded {
        path,
        url,
        execution: e.id.to_string(),
        approval: h.id().to_string(),
    };
    drop(h);
    drop(rt);
    // The store's thread closes the database once the last handle is gone.
    for _ in 0..200 {
        if !Path::new(&format!("{}-wal", seeded.path.display())).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    seeded
}

/// Every reading verb answers, shows the store as it is, and leaves its bytes alone.
fn assert_reads(s: &Seeded, run: impl Fn(&[&str]) -> Output) {
    let before = std::fs::read(&s.path).unwrap();
    let out = run(&["approvals", "list", "--store", &s.url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(listed.contains(&s.approval), "{listed}");
    assert!(listed.contains("pending"), "{listed}");
    assert!(
        listed.contains("overdue since 2026-01-01T01:00:00"),
        "a passed deadline is shown, not applied: {listed}"
    );
    let out = run(&["executions", "list", "--store", &s.url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&s.execution));
    let out = run(&["executions", "show", &s.execution, "--store", &s.url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Production Deployment Approval"));
    let out = run(&["executions", "show", "exe_missing", "--store", &s.url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("execution `exe_missing` does not exist"));
    assert_eq!(
        std::fs::read(&s.path).unwrap(),
        before,
        "a read changed the store"
    );
}

#[tokio::test]
async fn reading_verbs_work_on_a_read_only_file_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(dir.path()).await;
    std::fs::set_permissions(&s.path, std::fs::Permissions::from_mode(0o444)).unwrap();
    assert_reads(&s, cli_unprivileged);
    // A vote needs to write, and says why it cannot.
    let out = cli_unprivileged(&[
        "approvals",
        "approve",
        &s.approval,
        "--store",
        &s.url,
        "--as",
        "user:adam",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("readonly"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn reading_verbs_work_in_a_read_only_folder() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(dir.path()).await;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    assert_reads(&s, cli_unprivileged);
    let listed: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(listed.len(), 1, "nothing was created beside the store");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn reading_verbs_answer_while_another_process_holds_a_write_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(dir.path()).await;
    let writer = rusqlite::Connection::open(&s.path).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    writer
        .execute(
            "INSERT INTO audit (at, kind, detail) VALUES (0, 'note', 'held open')",
            [],
        )
        .unwrap();
    let out = cli(&["approvals", "list", "--store", &s.url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&s.approval));
    let out = cli(&["executions", "show", &s.execution, "--store", &s.url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("held open"),
        "an uncommitted write is not seen"
    );
    writer.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn another_database_is_refused_in_one_line_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
             INSERT INTO users (name) VALUES ('ada');",
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let url = format!("sqlite://{}", path.display());
    for args in [
        vec!["approvals", "list", "--store", &url],
        vec!["executions", "list", "--store", &url],
        vec!["executions", "show", "exe_x", "--store", &url],
        vec![
            "approvals",
            "approve",
            "apr_x",
            "--store",
            &url,
            "--as",
            "user:adam",
        ],
        vec!["store", "migrate", "--store", &url],
    ] {
        let out = cli(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("is not a rekall store") && err.contains("(users)"),
            "{args:?}: {err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before, "{args:?} changed it");
    }
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "no journal was left beside it");

    let not_sqlite = dir.path().join("policy.db");
    std::fs::copy("policies/seed.yaml", &not_sqlite).unwrap();
    let out = cli(&[
        "approvals",
        "list",
        "--store",
        &format!("sqlite://{}", not_sqlite.display()),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a SQLite database"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_empty_file_becomes_a_store_only_through_store_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    std::fs::write(&path, b"").unwrap();
    let url = format!("sqlite://{}", path.display());
    for args in [
        vec!["approvals", "list", "--store", &url],
        vec!["executions", "list", "--store", &url],
        vec![
            "approvals",
            "reject",
            "apr_x",
            "--store",
            &url,
            "--as",
            "user:adam",
            "--reason",
            "no",
        ],
    ] {
        let out = cli(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("is empty, not a store"),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            0,
            "{args:?} filled it"
        );
    }
    let out = cli(&["store", "migrate", "--store", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("new store at schema version 5"));
    let out = cli(&["approvals", "list", "--store", &url]);
    assert_eq!(
        text(&out.stdout).trim(),
        "no approval requests",
        "{}",
        text(&out.stderr)
    );
    let out = cli(&["store", "migrate", "--store", &url]);
    assert!(text(&out.stdout).contains("already at schema version 5"));
}

#[test]
fn an_older_schema_is_named_and_only_store_migrate_upgrades_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // What a store looks like whose creation stopped before its first migration.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let url = format!("sqlite://{}", path.display());
    let out = cli(&["approvals", "list", "--store", &url]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("schema is version 0, older") && err.contains("store migrate"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let out = cli(&["store", "migrate", "--store", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("migrated from schema version 0 to 5"),
        "{}",
        text(&out.stdout)
    );
    let out = cli(&["executions", "list", "--store", &url]);
    assert_eq!(
        text(&out.stdout).trim(),
        "no executions",
        "{}",
        text(&out.stderr)
    );
}
