//! The memories API: `runtime.memories()`, and corrections recorded as memories.

use serde_json::json;

use super::Runtime;
use super::error::RuntimeError;
use super::preferences::{self, Suggestion};
use crate::model::{AuditEntry, AuditKind, Correction, Memory, MemoryKind, MemoryQuery, NewMemory};
use crate::store::Transaction;

/// The memories API: `runtime.memories()`.
#[derive(Debug, Clone, Copy)]
pub struct Memories<'a> {
    pub(crate) rt: &'a Runtime,
}

impl Memories<'_> {
    pub async fn create(&self, memory: NewMemory) -> Result<Memory, RuntimeError> {
        let memory = memory.into_memory(self.rt.now())?;
        let tx = Transaction {
            memories: vec![memory.clone()],
            ..Transaction::default()
        };
        self.rt.commit(tx).await?;
        Ok(memory)
    }

    pub async fn query(&self, query: MemoryQuery) -> Result<Vec<Memory>, RuntimeError> {
        Ok(self.rt.store().memories(query).await?)
    }

    /// The suggested preferences: corrections and feedback repeated on one surface at least
    /// `min` times from at least two executions ([`preferences::suggest`]). Reads only.
    pub async fn suggested_preferences(&self, min: usize) -> Result<Vec<Suggestion>, RuntimeError> {
        let mut all = Vec::new();
        for q in preferences::queries() {
            all.extend(self.rt.store().memories(q).await?);
        }
        Ok(preferences::suggest(&all, min))
    }

    /// Records a correction as an episodic memory (tags `correction`, `learning` and its
    /// kind; metadata with the original and corrected output, and the action when known;
    /// importance 0.85) and in the audit log.
    pub async fn record_correction(&self, c: Correction) -> Result<Memory, RuntimeError> {
        if c.kind.trim().is_empty() {
            return Err(RuntimeError::invalid("kind", "must not be empty"));
        }
        let now = self.rt.now();
        let mut new = NewMemory::new(
            MemoryKind::Episodic,
            format!(
                "Correction of {} by {}{}",
                c.kind,
                c.principal,
                c.note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            ),
        )
        .tags(&["correction", "learning", &c.kind])
        .importance(0.85)
        .meta("original", c.original.clone())
        .meta("corrected", c.corrected.clone())
        .meta("correctedBy", json!(c.principal.as_str()));
        if let Some(action) = &c.action {
            new = new.meta("action", json!(action));
        }
        new.execution_id = c.execution_id.clone();
        let memory = new.into_memory(now)?;
        let mut entry = AuditEntry::new(
            AuditKind::Correction,
            now,
            json!({"kind": c.kind, "original": c.original, "corrected": c.corrected, "memory": memory.id}),
        )
        .by(&c.principal);
        entry.execution_id = c.execution_id;
        let tx = Transaction {
            memories: vec![memory.clone()],
            audit: vec![entry],
            ..Transaction::default()
        };
        self.rt.commit(tx).await?;
        Ok(memory)
    }
}
