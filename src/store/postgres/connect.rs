//! From a `postgres://` URL to connection settings: the driver's own parameters, plus the
//! store's (`statement_timeout`, `pool_size`, `pool_timeout`) and `sslmode`, which the store
//! reads itself so that TLS is never silently dropped; and the mapping of driver errors to
//! store errors.

use std::time::Duration;

use tokio_postgres::error::SqlState;

use crate::store::StoreError;
use crate::store::url::PostgresUrl;

/// How long a statement may run (server side) and a call may wait for the database (client
/// side, so that a database that stopped answering at all still fails the call), unless the
/// URL says otherwise.
const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections in the pool.
const DEFAULT_POOL_SIZE: usize = 16;
/// How long a call waits for a free connection.
const DEFAULT_POOL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long opening one connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether connections are encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// `sslmode=disable`, `prefer` or none: plain TCP. `prefer` would try TLS first in libpq;
    /// here it is plain text, as on the loopback or a private network where it is used.
    Off,
    /// `sslmode=require`, `verify-ca` or `verify-full`: TLS with the server's certificate
    /// checked against the Mozilla roots, or no connection at all.
    On,
}

/// Everything needed to connect, read from a URL.
#[derive(Clone)]
pub struct Settings {
    pub config: tokio_postgres::Config,
    pub tls: Tls,
    pub statement_timeout: Duration,
    pub pool_size: usize,
    pub pool_timeout: Duration,
    /// The URL with its password masked, for errors.
    pub shown: String,
}

impl Settings {
    pub fn parse(url: &PostgresUrl) -> Result<Settings, StoreError> {
        let shown = url.masked();
        let bad = |reason: String| StoreError::Url {
            url: shown.clone(),
            reason,
        };
        let (base, query) = match url.secret().split_once('?') {
            Some((base, query)) => (base, query),
            None => (url.secret(), ""),
        };
        let mut tls = Tls::Off;
        let mut statement_timeout = DEFAULT_STATEMENT_TIMEOUT;
        let mut pool_size = DEFAULT_POOL_SIZE;
        let mut pool_timeout = DEFAULT_POOL_TIMEOUT;
        let mut passed = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => {
                    tls = match value {
                        "disable" | "prefer" => Tls::Off,
                        "require" | "verify-ca" | "verify-full" => Tls::On,
                        _ => {
                            return Err(bad(format!(
                                "sslmode `{value}` is not one of disable, prefer, require, verify-ca, verify-full"
                            )));
                        }
                    }
                }
                "statement_timeout" => statement_timeout = duration(key, value).map_err(bad)?,
                "pool_timeout" => pool_timeout = duration(key, value).map_err(bad)?,
                "pool_size" => {
                    pool_size = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| {
                            bad(format!(
                                "pool_size `{value}` is not a number of connections from 1 to 1000"
                            ))
                        })?;
                }
                _ => passed.push(pair),
            }
        }
        let rest = if passed.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", passed.join("&"))
        };
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e: tokio_postgres::Error| bad(e.to_string()))?;
        if config.get_dbname().is_none() {
            return Err(bad(
                "the database is missing; write postgres://USER@HOST/DATABASE".into(),
            ));
        }
        config.ssl_mode(match tls {
            Tls::Off => tokio_postgres::config::SslMode::Disable,
            Tls::On => tokio_postgres::config::SslMode::Require,
        });
        config.connect_timeout(CONNECT_TIMEOUT);
        // A peer that vanished (a cut network) is noticed by the kernel, not only by a timeout.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.tcp_user_timeout(statement_timeout);
        if config.get_application_name().is_none() {
            config.application_name("rekall-policy");
        }
        Ok(Settings {
            config,
            tls,
            statement_timeout,
            pool_size,
            pool_timeout,
            shown,
        })
    }

    /// The session options every connection starts with: the statement timeout, and read
    /// only transactions for a store opened only to read.
    pub fn session(&self, read_only: bool) -> tokio_postgres::Config {
        let mut config = self.config.clone();
        let mut options = format!(
            "-c statement_timeout={}",
            self.statement_timeout.as_millis()
        );
        if read_only {
            options.push_str(" -c default_transaction_read_only=on");
        }
        if let Some(given) = self.config.get_options() {
            options = format!("{given} {options}");
        }
        config.options(options);
        config
    }

    /// How long a whole call may take before it is given up as unavailable: the server's
    /// statement timeout and a margin for the round trips around it.
    pub fn call_timeout(&self) -> Duration {
        self.statement_timeout + Duration::from_secs(2)
    }
}

/// A duration in milliseconds (`2500`) or with a unit (`500ms`, `10s`, `1min`).
fn duration(key: &str, value: &str) -> Result<Duration, String> {
    let (number, unit) = value
        .find(|c: char| !c.is_ascii_digit())
        .map_or((value, ""), |i| value.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{key} `{value}` is not a duration such as 5000, 500ms or 10s"))?;
    let d = match unit {
        "" | "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "min" => Duration::from_secs(n.saturating_mul(60)),
        _ => {
            return Err(format!(
                "{key} `{value}` has an unknown unit; use ms, s or min"
            ));
        }
    };
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err(format!(
            "{key} `{value}` must be more than 0 and at most an hour"
        ));
    }
    Ok(d)
}

/// The TLS connector for [`Tls::On`]: rustls with ring and the Mozilla roots.
pub fn rustls(shown: &str) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Open {
        path: shown.to_owned(),
        reason: format!("cannot set up TLS: {e}"),
    })?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Whether an error means the database could not be reached or stopped answering (so that
/// the call may be retried later), rather than that the call itself was wrong.
fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            // 08: connection exceptions; 53: out of connections or memory; 57P0x: the server
            // shuts down or starts up; 57014: the statement timeout (a stuck database).
            c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") || c == "57014"
        }
        None => {
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                if s.is::<std::io::Error>() {
                    return true;
                }
                source = s.source();
            }
            let text = e.to_string();
            text.contains("error connecting") || text.contains("timed out")
        }
    }
}

/// What a driver error is, as a store error for `operation`.
pub fn classify(operation: &'static str, e: &tokio_postgres::Error) -> StoreError {
    let reason = match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => e.to_string(),
    };
    if is_unavailable(e) {
        return StoreError::Unavailable {
            reason: format!("{operation}: {reason}"),
        };
    }
    if matches!(
        e.code(),
        Some(&SqlState::T_R_SERIALIZATION_FAILURE) | Some(&SqlState::T_R_DEADLOCK_DETECTED)
    ) {
        return StoreError::Conflict {
            record: "transaction",
            id: operation.to_owned(),
            expected: None,
        };
    }
    StoreError::Backend { operation, reason }
}

/// Maps a driver error to a store error naming the operation.
pub fn backend(operation: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| classify(operation, &e)
}

/// Whether the error is a unique key refusing a second row.
pub fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreUrl;

    fn settings(url: &str) -> Result<Settings, StoreError> {
        match StoreUrl::parse(url)? {
            StoreUrl::Postgres(u) => Settings::parse(&u),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_the_store_parameters_and_passes_the_rest() {
        let s = settings(
            "postgres://app:pw@db:5433/rekall?statement_timeout=2s&pool_size=4&sslmode=require&application_name=n1",
        )
        .unwrap();
        assert_eq!(s.statement_timeout, Duration::from_secs(2));
        assert_eq!(s.pool_size, 4);
        assert_eq!(s.tls, Tls::On);
        assert_eq!(s.config.get_application_name(), Some("n1"));
        assert_eq!(s.config.get_dbname(), Some("rekall"));
        assert_eq!(
            s.shown,
            "postgres://app:***@db:5433/rekall?statement_timeout=2s&pool_size=4&sslmode=require&application_name=n1"
        );
        let plain = settings("postgres://app@db/rekall?sslmode=prefer").unwrap();
        assert_eq!(plain.tls, Tls::Off);
        assert_eq!(plain.statement_timeout, DEFAULT_STATEMENT_TIMEOUT);
    }

    #[test]
    fn refuses_what_it_cannot_honour_without_showing_the_password() {
        for (url, says) in [
            ("postgres://app:pw@db/rekall?sslmode=maybe", "sslmode"),
            (
                "postgres://app:pw@db/rekall?statement_timeout=soon",
                "statement_timeout",
            ),
            (
                "postgres://app:pw@db/rekall?statement_timeout=0",
                "more than 0",
            ),
            ("postgres://app:pw@db/rekall?pool_size=0", "pool_size"),
            ("postgres://app:pw@db/rekall?frobnicate=1", "frobnicate"),
            ("postgres://app:pw@db", "database is missing"),
        ] {
            let err = settings(url)
                .err()
                .unwrap_or_else(|| panic!("{url} is refused"));
            let text = err.to_string();
            assert!(text.contains(says), "{url}: {text}");
            assert!(!text.contains(":pw@"), "{url}: {text}");
        }
    }
}
