//! The SQL of the policy's versions on PostgreSQL.

use tokio_postgres::Row;

use super::Client;
use super::connect::backend;
use super::ops::{NO_RECORD, exec, insert_audit, notify, number, rows};
use crate::model::{
    AuditEntry, NewPolicyVersion, PolicyVersion, PolicyVersionInfo, Principal, Timestamp,
    language_name, parse_language,
};
use crate::store::StoreError;

/// The advisory lock under which a version is numbered: the latest is read and the next
/// inserted by one writer at a time.
const VERSION_LOCK: i64 = 0x7265_6b61_6c6c_0003;

const INFO: &str =
    "version, language, sha256, name, principal, request_id, created_at, summary, rollback_of";

pub async fn append(
    c: &mut Client,
    new: NewPolicyVersion,
    after: Option<u64>,
    audit: &[AuditEntry],
) -> Result<PolicyVersion, StoreError> {
    let t = c
        .transaction()
        .await
        .map_err(backend("begin a transaction"))?;
    exec(
        &t,
        "take the policy version lock",
        "SELECT pg_advisory_xact_lock($1)",
        &[&VERSION_LOCK],
    )
    .await?;
    let found = rows(
        &t,
        "read the latest policy version",
        "SELECT MAX(version) FROM policy_versions",
        &[],
    )
    .await?
    .first()
    .and_then(|r| r.get::<_, Option<i64>>(0))
    .and_then(|n| u64::try_from(n).ok());
    if found != after {
        return Err(StoreError::Conflict {
            record: "policy version",
            id: found.map_or_else(|| "none".into(), |n| n.to_string()),
            expected: after,
        });
    }
    let stored = new.numbered(found.map_or(1, |n| n + 1));
    let i = &stored.info;
    exec(
        &t,
        "store a policy version",
        "INSERT INTO policy_versions (version, language, sha256, name, principal, request_id,
             created_at, summary, rollback_of, text)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &number(i.version),
            &language_name(i.language),
            &i.sha256,
            &i.name,
            &i.principal.as_str(),
            &i.request_id,
            &i.created_at.0,
            &i.summary,
            &i.rollback_of.map(number),
            &stored.text,
        ],
    )
    .await?;
    if audit.is_empty() {
        notify(&t, NO_RECORD).await?;
    } else {
        insert_audit(&t, audit, NO_RECORD).await?;
    }
    t.commit()
        .await
        .map_err(backend("commit a policy version"))?;
    Ok(stored)
}

fn info(r: &Row) -> Result<PolicyVersionInfo, StoreError> {
    let raw: i64 = r.get(0);
    let corrupt = |reason: String| StoreError::Corrupt {
        record: "policy version",
        id: raw.to_string(),
        reason,
    };
    let version =
        u64::try_from(raw).map_err(|_| corrupt(format!("its number {raw} is negative")))?;
    let language: String = r.get(1);
    let language = parse_language(&language)
        .ok_or_else(|| corrupt(format!("unknown language `{language}`")))?;
    let principal: String = r.get(4);
    let principal = Principal::parse(&principal)
        .ok_or_else(|| corrupt(format!("`{principal}` is not a principal")))?;
    Ok(PolicyVersionInfo {
        version,
        language,
        sha256: r.get(2),
        name: r.get(3),
        principal,
        request_id: r.get(5),
        created_at: Timestamp(r.get(6)),
        summary: r.get(7),
        rollback_of: r
            .get::<_, Option<i64>>(8)
            .and_then(|n| u64::try_from(n).ok()),
    })
}

pub async fn get(c: &Client, wanted: Option<u64>) -> Result<Option<PolicyVersion>, StoreError> {
    let sql = format!(
        "SELECT {INFO}, text FROM policy_versions
         WHERE $1::bigint IS NULL OR version = $1 ORDER BY version DESC LIMIT 1"
    );
    let found = rows(c, "read a policy version", &sql, &[&wanted.map(number)]).await?;
    found
        .first()
        .map(|r| {
            Ok(PolicyVersion {
                info: info(r)?,
                text: r.get(9),
            })
        })
        .transpose()
}

pub async fn list(
    c: &Client,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<PolicyVersionInfo>, StoreError> {
    let sql = format!(
        "SELECT {INFO} FROM policy_versions
         WHERE $1::bigint IS NULL OR version < $1 ORDER BY version DESC LIMIT $2"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    rows(
        c,
        "list policy versions",
        &sql,
        &[&before.map(number), &limit],
    )
    .await?
    .iter()
    .map(info)
    .collect()
}
