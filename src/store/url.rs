//! Store URLs: `sqlite://PATH` (relative, or absolute as `sqlite:///abs/path`) and
//! `sqlite::memory:` (also `sqlite://:memory:`) for a private in-memory store.

use std::path::PathBuf;

use super::StoreError;

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    SqliteMemory,
}

impl StoreUrl {
    pub fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        let bad = |reason: &str| StoreError::Url {
            url: url.to_owned(),
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
        match url.split_once("://") {
            Some((scheme, _)) => Err(bad(&format!(
                "the scheme `{scheme}` is not supported; use sqlite://PATH or sqlite::memory:"
            ))),
            None => Err(bad("it is not a URL; use sqlite://PATH or sqlite::memory:")),
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
        let err = StoreUrl::parse("postgres://db/rekall").unwrap_err();
        assert!(
            err.to_string().contains("`postgres` is not supported"),
            "{err}"
        );
        assert!(StoreUrl::parse("rekall.db").is_err());
        assert!(StoreUrl::parse("sqlite://").is_err());
    }
}
