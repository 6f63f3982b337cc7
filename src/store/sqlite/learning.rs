//! The SQL of the learning loop: calls of adaptive classes, their labels, and the overlays.

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::backend;
use crate::model::{
    ExecutionId, LabelSource, LabelTarget, LabelUpdate, LearnedCall, Overlay, Timestamp,
    label_name, parse_label, parse_route, route_name,
};
use crate::store::{CallWindow, StoreError, Versioned};

const COLUMNS: &str = "seq, class, execution_id, action, resource, context_hash, request_id, \
                       confidence, route, label, source, note, at";

pub fn insert_call(t: &rusqlite::Transaction<'_>, c: &LearnedCall) -> Result<(), StoreError> {
    t.execute(
        "INSERT INTO learned_calls (class, execution_id, action, resource, context_hash,
             request_id, confidence, route, label, source, note, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            c.class,
            c.execution_id.as_str(),
            c.action,
            c.resource,
            c.context_hash,
            c.request_id,
            c.confidence,
            route_name(c.route),
            c.label.map(label_name),
            c.source.map(LabelSource::as_str),
            c.note,
            c.at.0,
        ],
    )
    .map_err(backend("record a call for learning"))?;
    Ok(())
}

/// Labels the call a label is for; a later label (a report after a resolution) replaces an
/// earlier one, as it knows more.
pub fn set_label(t: &rusqlite::Transaction<'_>, l: &LabelUpdate) -> Result<(), StoreError> {
    let (column, key) = match &l.target {
        LabelTarget::Request(id) => ("request_id", rusqlite::types::Value::Text(id.clone())),
        LabelTarget::Call(seq) => (
            "seq",
            rusqlite::types::Value::Integer(i64::try_from(*seq).unwrap_or(i64::MAX)),
        ),
    };
    // A resolution of an approval the audit sample opened is an audit label.
    let sql = format!(
        "UPDATE learned_calls SET label = ?1, note = ?3,
             source = CASE WHEN ?2 = 'resolution' AND route = 'audit' THEN 'audit' ELSE ?2 END
         WHERE {column} = ?4"
    );
    t.execute(
        &sql,
        params![label_name(l.label), l.source.as_str(), l.note, key],
    )
    .map_err(backend("label a call"))?;
    Ok(())
}

fn corrupt(seq: i64, reason: &str) -> StoreError {
    StoreError::Corrupt {
        record: "learned call",
        id: seq.to_string(),
        reason: reason.to_owned(),
    }
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<RawCall> {
    Ok(RawCall {
        seq: r.get(0)?,
        class: r.get(1)?,
        execution_id: r.get(2)?,
        action: r.get(3)?,
        resource: r.get(4)?,
        context_hash: r.get(5)?,
        request_id: r.get(6)?,
        confidence: r.get(7)?,
        route: r.get(8)?,
        label: r.get(9)?,
        source: r.get(10)?,
        note: r.get(11)?,
        at: r.get(12)?,
    })
}

struct RawCall {
    seq: i64,
    class: String,
    execution_id: String,
    action: String,
    resource: String,
    context_hash: String,
    request_id: Option<String>,
    confidence: f64,
    route: String,
    label: Option<String>,
    source: Option<String>,
    note: Option<String>,
    at: i64,
}

impl RawCall {
    fn decode(self) -> Result<LearnedCall, StoreError> {
        let route = parse_route(&self.route).ok_or_else(|| corrupt(self.seq, "unknown route"))?;
        let label = match &self.label {
            Some(l) => Some(parse_label(l).ok_or_else(|| corrupt(self.seq, "unknown label"))?),
            None => None,
        };
        let source = match &self.source {
            Some(s) => Some(
                LabelSource::parse(s).ok_or_else(|| corrupt(self.seq, "unknown label source"))?,
            ),
            None => None,
        };
        Ok(LearnedCall {
            seq: u64::try_from(self.seq).unwrap_or(0),
            class: self.class,
            execution_id: ExecutionId::from(self.execution_id),
            action: self.action,
            resource: self.resource,
            context_hash: self.context_hash,
            request_id: self.request_id,
            confidence: self.confidence,
            route,
            label,
            source,
            note: self.note,
            at: Timestamp(self.at),
        })
    }
}

fn collect(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<LearnedCall>, StoreError> {
    let rows = stmt
        .query_map(params, read_row)
        .map_err(backend("read learned calls"))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.map_err(backend("read learned calls"))?.decode()?);
    }
    Ok(out)
}

pub fn learned_calls(c: &mut Connection, w: &CallWindow) -> Result<Vec<LearnedCall>, StoreError> {
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    // The oldest call the window reaches: its `labels`-th latest label, or the
    // `max_calls`-th latest call, whichever is later.
    let by_labels: Option<i64> = c
        .query_row(
            "SELECT seq FROM learned_calls
             WHERE class = ?1 AND label IS NOT NULL AND route != 'auto'
             ORDER BY seq DESC LIMIT 1 OFFSET ?2",
            params![w.class, clamp(w.labels.max(1) - 1)],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend("read learned calls"))?;
    let by_calls: Option<i64> = c
        .query_row(
            "SELECT seq FROM learned_calls WHERE class = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2",
            params![w.class, clamp(w.max_calls.max(1) - 1)],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend("read learned calls"))?;
    let from = by_labels.unwrap_or(0).max(by_calls.unwrap_or(0));
    let sql =
        format!("SELECT {COLUMNS} FROM learned_calls WHERE class = ?1 AND seq >= ?2 ORDER BY seq");
    let mut stmt = c.prepare(&sql).map_err(backend("read learned calls"))?;
    collect(&mut stmt, params![w.class, from])
}

pub fn learned_labels(c: &mut Connection, class: &str) -> Result<u64, StoreError> {
    let n: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM learned_calls
             WHERE class = ?1 AND label IS NOT NULL AND route != 'auto'",
            params![class],
            |r| r.get(0),
        )
        .map_err(backend("count labels"))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub fn learned_call(
    c: &mut Connection,
    target: &LabelTarget,
) -> Result<Option<LearnedCall>, StoreError> {
    let (column, key) = match target {
        LabelTarget::Request(id) => ("request_id", rusqlite::types::Value::Text(id.clone())),
        LabelTarget::Call(seq) => (
            "seq",
            rusqlite::types::Value::Integer(i64::try_from(*seq).unwrap_or(i64::MAX)),
        ),
    };
    let sql = format!("SELECT {COLUMNS} FROM learned_calls WHERE {column} = ?1 LIMIT 1");
    let mut stmt = c.prepare(&sql).map_err(backend("read a learned call"))?;
    Ok(collect(&mut stmt, params![key])?.pop())
}

pub fn latest_learned_call(
    c: &mut Connection,
    key: &[String; 4],
) -> Result<Option<LearnedCall>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM learned_calls
         WHERE execution_id = ?1 AND action = ?2 AND resource = ?3 AND context_hash = ?4
         ORDER BY seq DESC LIMIT 1"
    );
    let mut stmt = c.prepare(&sql).map_err(backend("find a learned call"))?;
    Ok(collect(&mut stmt, params_from_iter(key.iter()))?.pop())
}

pub fn overlays(c: &mut Connection) -> Result<Vec<Versioned<Overlay>>, StoreError> {
    let mut stmt = c
        .prepare("SELECT id, version, body FROM thresholds ORDER BY id")
        .map_err(backend("read thresholds"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(backend("read thresholds"))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, version, body) = row.map_err(backend("read thresholds"))?;
        let record = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
            record: "threshold",
            id,
            reason: e.to_string(),
        })?;
        out.push(Versioned {
            version: u64::try_from(version).unwrap_or(0),
            record,
        });
    }
    Ok(out)
}
