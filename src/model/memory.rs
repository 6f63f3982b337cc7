//! Memories: what the agent (and the people around it) should remember. Episodic memories of
//! every escalation, approval resolution, feedback answer and correction are written by the
//! runtime itself, in the same transaction as the event, so the learning built on them sees
//! every one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::InvalidInput;
use super::ids::{ExecutionId, MemoryId};
use super::time::Timestamp;
use crate::ir::Principal;

/// The kind of a memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryKind {
    /// Something that happened.
    Episodic,
    /// Something known.
    Semantic,
    /// How to do something.
    Procedural,
}

impl MemoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryKind::Episodic => "episodic",
            MemoryKind::Semantic => "semantic",
            MemoryKind::Procedural => "procedural",
        }
    }
}

impl fmt::Display for MemoryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MemoryKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "episodic" => Ok(MemoryKind::Episodic),
            "semantic" => Ok(MemoryKind::Semantic),
            "procedural" => Ok(MemoryKind::Procedural),
            _ => Err(format!(
                "`{s}` is not a memory type; use episodic, semantic or procedural"
            )),
        }
    }
}

/// A stored memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    pub id: MemoryId,
    #[serde(rename = "type")]
    pub kind: MemoryKind,
    pub content: String,
    pub tags: Vec<String>,
    /// Everything else the memory carries (the product document's `metadata` less `tags`).
    pub metadata: Map<String, Value>,
    /// From 0 to 1.
    pub importance: f64,
    pub execution_id: Option<ExecutionId>,
    pub created_at: Timestamp,
}

/// What `memories.create` takes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMemory {
    pub kind: MemoryKind,
    pub content: String,
    pub tags: Vec<String>,
    pub metadata: Map<String, Value>,
    pub importance: f64,
    pub execution_id: Option<ExecutionId>,
}

impl NewMemory {
    pub fn new(kind: MemoryKind, content: impl Into<String>) -> NewMemory {
        NewMemory {
            kind,
            content: content.into(),
            tags: Vec::new(),
            metadata: Map::new(),
            importance: 0.5,
            execution_id: None,
        }
    }

    pub fn tags(mut self, tags: &[&str]) -> NewMemory {
        self.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        self
    }

    pub fn importance(mut self, importance: f64) -> NewMemory {
        self.importance = importance;
        self
    }

    pub fn meta(mut self, key: &str, value: Value) -> NewMemory {
        self.metadata.insert(key.to_owned(), value);
        self
    }

    pub fn execution(mut self, id: &ExecutionId) -> NewMemory {
        self.execution_id = Some(id.clone());
        self
    }

    /// Checks the fields and makes the record.
    pub(crate) fn into_memory(self, now: Timestamp) -> Result<Memory, InvalidInput> {
        if self.content.trim().is_empty() {
            return Err(InvalidInput::new("content", "must not be empty"));
        }
        if !(0.0..=1.0).contains(&self.importance) {
            return Err(InvalidInput::new(
                "importance",
                format!("is {}; it must be a number from 0 to 1", self.importance),
            ));
        }
        if let Some(i) = self.tags.iter().position(|t| t.trim().is_empty()) {
            return Err(InvalidInput::new(
                format!("metadata.tags[{i}]"),
                "must not be empty",
            ));
        }
        let mut tags = self.tags;
        tags.sort();
        tags.dedup();
        Ok(Memory {
            id: MemoryId::generate(),
            kind: self.kind,
            content: self.content,
            tags,
            metadata: self.metadata,
            importance: self.importance,
            execution_id: self.execution_id,
            created_at: now,
        })
    }
}

/// Which memories to read, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryQuery {
    /// Memories carrying every one of these tags.
    pub tags: Vec<String>,
    pub kind: Option<MemoryKind>,
    /// Created at or after.
    pub since: Option<Timestamp>,
    /// Created before.
    pub until: Option<Timestamp>,
    pub execution: Option<ExecutionId>,
    pub limit: Option<usize>,
}

impl MemoryQuery {
    pub fn tagged(tags: &[&str]) -> MemoryQuery {
        MemoryQuery {
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            ..MemoryQuery::default()
        }
    }
}

/// A person's correction of an agent's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    pub execution_id: Option<ExecutionId>,
    pub principal: Principal,
    /// What kind of output it corrects (such as `commit-message`); repeated corrections of
    /// one kind are what a preference is learned from.
    pub kind: String,
    /// The action whose output it corrects, when known: recorded so that corrections group by it.
    pub action: Option<String>,
    pub original: Value,
    pub corrected: Value,
    pub note: Option<String>,
}
