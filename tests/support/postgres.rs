//! PostgreSQL for the tests: a fresh database per test, on the cluster that
//! `REKALL_TEST_POSTGRES` names (an admin URL), or else on a throwaway cluster that
//! `.ci/postgres start target/pg-test` starts once per test binary (reusing a running one).
//! `REKALL_TEST_BACKEND=postgres` makes the suites' runtimes and servers use it instead of
//! SQLite. Shared by the test binaries through `#[path]`.

#![allow(dead_code)]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The backend the suites run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What `REKALL_TEST_BACKEND` asks for (SQLite when unset).
pub fn backend() -> Backend {
    match std::env::var("REKALL_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Ok("") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("REKALL_TEST_BACKEND=`{other}`: use sqlite or postgres"),
    }
}

/// Whether the suites run on PostgreSQL; a test about SQLite files prints why it skips.
pub fn skip_on_postgres(why: &str) -> bool {
    if backend() == Backend::Postgres {
        eprintln!("skipped on PostgreSQL: {why}");
        return true;
    }
    false
}

/// The admin URL of the cluster the tests use.
pub fn admin_url() -> &'static str {
    static ADMIN: OnceLock<String> = OnceLock::new();
    ADMIN.get_or_init(|| {
        let url = match std::env::var("REKALL_TEST_POSTGRES") {
            Ok(url) if !url.is_empty() => url,
            _ => start_cluster(),
        };
        let cleaned = url.clone();
        // On a thread of its own, not waited for: this may be first called inside a test's
        // runtime, and each drop waits for a checkpoint.
        std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_databases_of_finished_runs(&cleaned));
            }
        });
        url
    })
}

fn start_cluster() -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let script = format!("{root}/.ci/postgres");
    let dir = format!("{root}/target/pg-test");
    let out = std::process::Command::new("bash")
        .args([&script, "start", &dir])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(
        out.status.success(),
        "PostgreSQL is needed for these tests and could not be started by `.ci/postgres start \
         target/pg-test` (it needs Debian's postgresql, or apt-get to install it); set \
         REKALL_TEST_POSTGRES to an admin URL to use a running cluster instead.\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The URL of another database on the admin URL's cluster.
pub fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = admin.split_once('?').unwrap_or((admin, ""));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{name}", &base[..host_end]);
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    url
}

pub async fn admin() -> tokio_postgres::Client {
    connect(admin_url()).await
}

/// A plain connection, outside any store.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A new, empty database; its URL.
pub async fn fresh_database() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "rekall_t_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = admin().await;
    let mut tries = 0;
    loop {
        // Concurrent creations from one template may collide for a moment.
        match admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
            .await
        {
            Ok(()) => break,
            Err(e) if tries < 20 => {
                tries += 1;
                eprintln!("CREATE DATABASE {name}: {e}; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("CREATE DATABASE {name}: {e}"),
        }
    }
    with_database(admin_url(), &name)
}

/// Drops the test databases of test processes that have ended, so that the cluster does not
/// fill up run after run.
async fn drop_databases_of_finished_runs(url: &str) {
    let Ok((client, connection)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await else {
        return;
    };
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let Ok(rows) = client
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'rekall\\_t\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

/// The store URL a suite's test should use: a fresh PostgreSQL database under
/// `REKALL_TEST_BACKEND=postgres`, else the SQLite URL given.
pub async fn store_url_or(sqlite: &str) -> String {
    match backend() {
        Backend::Postgres => fresh_database().await,
        Backend::Sqlite => sqlite.to_owned(),
    }
}

/// The first column of the first row of a query, as bytes, from code that is not async.
pub fn bytes_blocking(url: &str, sql: &str) -> Vec<u8> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(async {
                let c = connect(&url).await;
                c.query_one(sql.as_str(), &[])
                    .await
                    .expect("the query")
                    .get::<_, Vec<u8>>(0)
            })
    })
    .join()
    .expect("a query")
}

/// [`fresh_database`] from code that is not async (a server's configuration).
pub fn fresh_database_blocking() -> String {
    std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(fresh_database())
    })
    .join()
    .expect("a fresh database")
}
