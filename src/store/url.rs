//! Store URLs: `sqlite://PATH` (relative, or absolute as `sqlite:///abs/path`),
//! `sqlite::memory:` (also `sqlite://:memory:`) for a private in-memory store, and
//! `postgres://` or `postgresql://` for a PostgreSQL database (see [`super::postgres`]).

use std::path::PathBuf;

use super::StoreError;

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    SqliteMemory,
    /// A PostgreSQL connection URL, checked further when the store opens it.
    Postgres(PostgresUrl),
}

/// A PostgreSQL URL as given, which may hold a password: shown (by `Debug` and
/// [`PostgresUrl::masked`]) with the password masked.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    /// The URL as given, password included: only for connecting.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`, fit for errors and logs.
    pub fn masked(&self) -> String {
        mask_password(&self.0)
    }
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresUrl({})", self.masked())
    }
}

/// A URL with the password of its user info (`user:PASSWORD@host`) and of a `password=`
/// parameter replaced by `***`.
pub fn mask_password(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

impl StoreUrl {
    pub fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        let bad = |reason: &str| StoreError::Url {
            url: mask_password(url),
            reason: reason.to_owned(),
        };
        if url == "sqlite::memory:" || url == "sqlite://:memory:" {
            return Ok(StoreUrl::SqliteMemory);
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(bad("the path is missing; write sqlite://PATH"));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(PostgresUrl(url.to_owned())));
        }
        match url.split_once("://") {
            Some((scheme, _)) => Err(bad(&format!(
                "the scheme `{scheme}` is not supported; use sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DATABASE"
            ))),
            None => Err(bad(
                "it is not a URL; use sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DATABASE",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlite_urls() {
        assert_eq!(
            StoreUrl::parse("sqlite://data/rekall.db"),
            Ok(StoreUrl::Sqlite(PathBuf::from("data/rekall.db")))
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///var/lib/rekall.db"),
            Ok(StoreUrl::Sqlite(PathBuf::from("/var/lib/rekall.db")))
        );
        assert_eq!(
            StoreUrl::parse("sqlite::memory:"),
            Ok(StoreUrl::SqliteMemory)
        );
        let err = StoreUrl::parse("mysql://db/rekall").unwrap_err();
        assert!(
            err.to_string().contains("`mysql` is not supported"),
            "{err}"
        );
        assert!(StoreUrl::parse("rekall.db").is_err());
        assert!(StoreUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn parses_postgres_urls_and_never_shows_their_password() {
        for url in [
            "postgres://app@db/rekall",
            "postgresql://app@db:5433/rekall",
        ] {
            match StoreUrl::parse(url) {
                Ok(StoreUrl::Postgres(u)) => assert_eq!(u.secret(), url),
                other => panic!("{url}: {other:?}"),
            }
        }
        let Ok(StoreUrl::Postgres(u)) =
            StoreUrl::parse("postgres://app:s3cret@db/rekall?password=other&sslmode=require")
        else {
            panic!("a postgres URL")
        };
        assert_eq!(
            u.masked(),
            "postgres://app:***@db/rekall?password=***&sslmode=require"
        );
        assert!(!format!("{u:?}").contains("s3cret"));
        assert!(!format!("{u:?}").contains("other"));
        let err = StoreUrl::parse("redis://app:s3cret@db").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}
