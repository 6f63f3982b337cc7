//! The SQL of the learning loop on PostgreSQL: calls of adaptive classes, their labels, and
//! the overlays.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::Client;
use super::ops::{Param, exec, number, rows};
use crate::model::{
    ExecutionId, LabelSource, LabelTarget, LabelUpdate, LearnedCall, Overlay, Timestamp,
    label_name, parse_label, parse_route, route_name,
};
use crate::store::{CallWindow, StoreError, Versioned};

const COLUMNS: &str = "seq, class, execution_id, action, resource, context_hash, request_id, \
                       confidence, route, label, source, note, at";

pub async fn insert_call(c: &impl GenericClient, call: &LearnedCall) -> Result<(), StoreError> {
    exec(
        c,
        "record a call for learning",
        "INSERT INTO learned_calls (class, execution_id, action, resource, context_hash,
             request_id, confidence, route, label, source, note, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &call.class,
            &call.execution_id.as_str(),
            &call.action,
            &call.resource,
            &call.context_hash,
            &call.request_id,
            &call.confidence,
            &route_name(call.route),
            &call.label.map(label_name),
            &call.source.map(LabelSource::as_str),
            &call.note,
            &call.at.0,
        ],
    )
    .await
    .map(|_| ())
}

/// Labels the call a label is for; a later label replaces an earlier one, as it knows more.
pub async fn set_label(c: &impl GenericClient, l: &LabelUpdate) -> Result<(), StoreError> {
    let label = label_name(l.label);
    let source = l.source.as_str();
    // A resolution of an approval the audit sample opened is an audit label.
    let set = "UPDATE learned_calls SET label = $1, note = $3,
                   source = CASE WHEN $2 = 'resolution' AND route = 'audit' THEN 'audit' ELSE $2 END";
    match &l.target {
        LabelTarget::Request(id) => {
            exec(
                c,
                "label a call",
                &format!("{set} WHERE request_id = $4"),
                &[&label, &source, &l.note, id],
            )
            .await?;
        }
        LabelTarget::Call(seq) => {
            exec(
                c,
                "label a call",
                &format!("{set} WHERE seq = $4"),
                &[&label, &source, &l.note, &number(*seq)],
            )
            .await?;
        }
    }
    Ok(())
}

fn corrupt(seq: i64, reason: &str) -> StoreError {
    StoreError::Corrupt {
        record: "learned call",
        id: seq.to_string(),
        reason: reason.to_owned(),
    }
}

fn decode(r: &Row) -> Result<LearnedCall, StoreError> {
    let seq: i64 = r.get(0);
    let route: String = r.get(8);
    let label: Option<String> = r.get(9);
    let source: Option<String> = r.get(10);
    let route = parse_route(&route).ok_or_else(|| corrupt(seq, "unknown route"))?;
    let label = match &label {
        Some(l) => Some(parse_label(l).ok_or_else(|| corrupt(seq, "unknown label"))?),
        None => None,
    };
    let source = match &source {
        Some(s) => Some(LabelSource::parse(s).ok_or_else(|| corrupt(seq, "unknown label source"))?),
        None => None,
    };
    Ok(LearnedCall {
        seq: u64::try_from(seq).unwrap_or(0),
        class: r.get(1),
        execution_id: ExecutionId::from(r.get::<_, String>(2)),
        action: r.get(3),
        resource: r.get(4),
        context_hash: r.get(5),
        request_id: r.get(6),
        confidence: r.get(7),
        route,
        label,
        source,
        note: r.get(11),
        at: Timestamp(r.get(12)),
    })
}

async fn calls(
    c: &Client,
    operation: &'static str,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Vec<LearnedCall>, StoreError> {
    rows(c, operation, sql, params)
        .await?
        .iter()
        .map(decode)
        .collect()
}

pub async fn learned_calls(c: &Client, w: &CallWindow) -> Result<Vec<LearnedCall>, StoreError> {
    // The oldest call the window reaches: its `labels`-th latest label, or the
    // `max_calls`-th latest call, whichever is later.
    let by_labels = rows(
        c,
        "read learned calls",
        "SELECT seq FROM learned_calls
         WHERE class = $1 AND label IS NOT NULL AND route <> 'auto'
         ORDER BY seq DESC LIMIT 1 OFFSET $2",
        &[&w.class, &number(w.labels.max(1) - 1)],
    )
    .await?
    .first()
    .map(|r| r.get::<_, i64>(0));
    let by_calls = rows(
        c,
        "read learned calls",
        "SELECT seq FROM learned_calls WHERE class = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2",
        &[&w.class, &number(w.max_calls.max(1) - 1)],
    )
    .await?
    .first()
    .map(|r| r.get::<_, i64>(0));
    let from = by_labels.unwrap_or(0).max(by_calls.unwrap_or(0));
    let sql =
        format!("SELECT {COLUMNS} FROM learned_calls WHERE class = $1 AND seq >= $2 ORDER BY seq");
    calls(c, "read learned calls", &sql, &[&w.class, &from]).await
}

pub async fn learned_labels(c: &Client, class: &str) -> Result<u64, StoreError> {
    let found = rows(
        c,
        "count labels",
        "SELECT COUNT(*) FROM learned_calls
         WHERE class = $1 AND label IS NOT NULL AND route <> 'auto'",
        &[&class],
    )
    .await?;
    Ok(found
        .first()
        .map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
}

pub async fn learned_call(
    c: &Client,
    target: &LabelTarget,
) -> Result<Option<LearnedCall>, StoreError> {
    let found = match target {
        LabelTarget::Request(id) => {
            let sql = format!("SELECT {COLUMNS} FROM learned_calls WHERE request_id = $1 LIMIT 1");
            calls(c, "read a learned call", &sql, &[id]).await?
        }
        LabelTarget::Call(seq) => {
            let sql = format!("SELECT {COLUMNS} FROM learned_calls WHERE seq = $1 LIMIT 1");
            calls(c, "read a learned call", &sql, &[&number(*seq)]).await?
        }
    };
    Ok(found.into_iter().next())
}

pub async fn latest_learned_call(
    c: &Client,
    key: &[String; 4],
) -> Result<Option<LearnedCall>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM learned_calls
         WHERE execution_id = $1 AND action = $2 AND resource = $3 AND context_hash = $4
         ORDER BY seq DESC LIMIT 1"
    );
    let found = calls(
        c,
        "find a learned call",
        &sql,
        &[&key[0], &key[1], &key[2], &key[3]],
    )
    .await?;
    Ok(found.into_iter().next())
}

pub async fn overlays(c: &Client) -> Result<Vec<Versioned<Overlay>>, StoreError> {
    let found = rows(
        c,
        "read thresholds",
        "SELECT id, version, body FROM thresholds ORDER BY id",
        &[],
    )
    .await?;
    found
        .iter()
        .map(|r| {
            let id: String = r.get(0);
            Ok(Versioned {
                version: u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
                record: super::ops::decode("threshold", &id, r.get(2))?,
            })
        })
        .collect()
}
