//! The SQL of the policy's versions.

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::backend;
use crate::model::{
    AuditEntry, NewPolicyVersion, PolicyVersion, PolicyVersionInfo, Timestamp, language_name,
    parse_language,
};
use crate::store::StoreError;

const INFO: &str =
    "version, language, sha256, name, principal, request_id, created_at, summary, rollback_of";

fn number(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn latest(c: &Connection) -> Result<Option<u64>, StoreError> {
    let n: Option<i64> = c
        .query_row("SELECT MAX(version) FROM policy_versions", [], |r| r.get(0))
        .map_err(backend("read the latest policy version"))?;
    Ok(n.and_then(|n| u64::try_from(n).ok()))
}

pub fn append(
    c: &mut Connection,
    new: NewPolicyVersion,
    after: Option<u64>,
    audit: &[AuditEntry],
) -> Result<PolicyVersion, StoreError> {
    // IMMEDIATE: the latest is read under the write lock, so no other writer (another process
    // on the file) can take the same number between the read and the insert.
    let t = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend("begin a transaction"))?;
    let found = latest(&t)?;
    if found != after {
        return Err(StoreError::Conflict {
            record: "policy version",
            id: found.map_or_else(|| "none".into(), |n| n.to_string()),
            expected: after,
        });
    }
    let stored = new.numbered(found.map_or(1, |n| n + 1));
    let i = &stored.info;
    t.execute(
        "INSERT INTO policy_versions (version, language, sha256, name, principal, request_id,
             created_at, summary, rollback_of, text)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            number(i.version),
            language_name(i.language),
            i.sha256,
            i.name,
            i.principal.as_str(),
            i.request_id,
            i.created_at.0,
            i.summary,
            i.rollback_of.map(number),
            stored.text,
        ],
    )
    .map_err(backend("store a policy version"))?;
    for entry in audit {
        super::ops::insert_audit(&t, entry)?;
    }
    t.commit().map_err(backend("commit a policy version"))?;
    Ok(stored)
}

fn info(r: &Row<'_>) -> rusqlite::Result<RawInfo> {
    Ok(RawInfo {
        version: r.get(0)?,
        language: r.get(1)?,
        sha256: r.get(2)?,
        name: r.get(3)?,
        principal: r.get(4)?,
        request_id: r.get(5)?,
        created_at: r.get(6)?,
        summary: r.get(7)?,
        rollback_of: r.get(8)?,
    })
}

/// A row as SQLite gives it, before its words are checked.
struct RawInfo {
    version: i64,
    language: String,
    sha256: String,
    name: Option<String>,
    principal: String,
    request_id: Option<String>,
    created_at: i64,
    summary: String,
    rollback_of: Option<i64>,
}

impl RawInfo {
    fn read(self) -> Result<PolicyVersionInfo, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            record: "policy version",
            id: self.version.to_string(),
            reason,
        };
        let version = u64::try_from(self.version)
            .map_err(|_| corrupt(format!("its number {} is negative", self.version)))?;
        let language = parse_language(&self.language)
            .ok_or_else(|| corrupt(format!("unknown language `{}`", self.language)))?;
        let principal = crate::model::Principal::parse(&self.principal)
            .ok_or_else(|| corrupt(format!("`{}` is not a principal", self.principal)))?;
        Ok(PolicyVersionInfo {
            version,
            language,
            sha256: self.sha256,
            name: self.name,
            principal,
            request_id: self.request_id,
            created_at: Timestamp(self.created_at),
            summary: self.summary,
            rollback_of: self.rollback_of.and_then(|n| u64::try_from(n).ok()),
        })
    }
}

pub fn get(c: &mut Connection, wanted: Option<u64>) -> Result<Option<PolicyVersion>, StoreError> {
    let sql = format!(
        "SELECT {INFO}, text FROM policy_versions
         WHERE ?1 IS NULL OR version = ?1 ORDER BY version DESC LIMIT 1"
    );
    let row = c
        .query_row(&sql, params![wanted.map(number)], |r| {
            Ok((info(r)?, r.get::<_, String>(9)?))
        })
        .optional()
        .map_err(backend("read a policy version"))?;
    row.map(|(info, text)| {
        Ok(PolicyVersion {
            info: info.read()?,
            text,
        })
    })
    .transpose()
}

pub fn list(
    c: &mut Connection,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<PolicyVersionInfo>, StoreError> {
    let sql = format!(
        "SELECT {INFO} FROM policy_versions
         WHERE ?1 IS NULL OR version < ?1 ORDER BY version DESC LIMIT ?2"
    );
    let mut stmt = c.prepare(&sql).map_err(backend("list policy versions"))?;
    let rows = stmt
        .query_map(
            params![before.map(number), i64::try_from(limit).unwrap_or(i64::MAX)],
            info,
        )
        .map_err(backend("list policy versions"))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.map_err(backend("list policy versions"))?.read()?);
    }
    Ok(out)
}
