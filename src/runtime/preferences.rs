//! Preference suggestions: corrections and feedback that people keep giving with the same tags
//! on the same action surface as a suggested preference, for a person to read and decide on.
//! Nothing here applies or writes anything: a suggestion is a listing, never a change.
//!
//! A memory counts when it is tagged `correction` or `feedback`. Its surface is what the memory
//! records: the `action` of its metadata (corrections of a known action), else the `subject`
//! (the title of the feedback request answered), with its whole tag set (tags are stored sorted
//! and without repeats, so their order never matters). A surface is suggested once it holds at
//! least `min` memories from at least [`MIN_EXECUTIONS`] distinct executions: one execution
//! repeating itself is one situation, not a preference.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::model::{ExecutionId, Memory, MemoryId, MemoryQuery, Timestamp};

/// The fewest occurrences a surface needs unless asked otherwise.
pub const DEFAULT_MIN: usize = 3;
/// The fewest distinct executions a surface needs.
pub const MIN_EXECUTIONS: usize = 2;
/// How many examples a suggestion shows, newest first.
pub const EXAMPLES: usize = 3;
/// The tags that make a memory a correction or a piece of feedback.
pub const SIGNAL_TAGS: [&str; 2] = ["correction", "feedback"];

/// What the runtime and the store are asked for: every memory carrying one of
/// [`SIGNAL_TAGS`] (a query matches memories with all of its tags, hence one query a tag).
pub fn queries() -> Vec<MemoryQuery> {
    SIGNAL_TAGS
        .iter()
        .map(|t| MemoryQuery::tagged(&[t]))
        .collect()
}

/// Where repeated signals land: an action or a feedback subject, with a tag set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Surface {
    /// The action the memories record (metadata `action`), if any.
    pub action: Option<String>,
    /// The feedback subject the memories record (metadata `subject`) when no action is.
    pub subject: Option<String>,
    /// The memories' tags, sorted.
    pub tags: Vec<String>,
}

/// One memory shown as an example of a suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Example {
    pub memory: MemoryId,
    /// The memory's text, as written (agent text: escape it before printing it on a terminal).
    pub content: String,
    /// A correction's original output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<Value>,
    /// A correction's corrected output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrected: Option<Value>,
    pub created_at: Timestamp,
}

/// A suggested preference: a surface that people corrected or commented on repeatedly.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    #[serde(flatten)]
    pub surface: Surface,
    pub count: usize,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
    /// The distinct executions the memories came from, sorted.
    pub executions: Vec<ExecutionId>,
    /// Up to [`EXAMPLES`] of the memories, newest first.
    pub examples: Vec<Example>,
}

/// The suggested preferences among `memories`, most repeated first, then by surface. A memory
/// given twice (as both queries return one tagged `correction` and `feedback`) counts once;
/// memories that are neither corrections nor feedback are ignored. A `min` of 0 is the same as
/// 1: a surface exists only once a memory lands on it.
pub fn suggest(memories: &[Memory], min: usize) -> Vec<Suggestion> {
    let mut seen = BTreeSet::new();
    let mut groups: BTreeMap<Surface, Vec<&Memory>> = BTreeMap::new();
    for m in memories {
        if !is_signal(m) || !seen.insert(&m.id) {
            continue;
        }
        groups.entry(surface_of(m)).or_default().push(m);
    }
    let mut out: Vec<Suggestion> = groups
        .into_iter()
        .filter_map(|(surface, group)| suggestion(surface, group, min))
        .collect();
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.surface.cmp(&b.surface))
    });
    out
}

fn is_signal(m: &Memory) -> bool {
    m.tags.iter().any(|t| SIGNAL_TAGS.contains(&t.as_str()))
}

fn surface_of(m: &Memory) -> Surface {
    let text = |key: &str| {
        m.metadata
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let action = text("action");
    let subject = if action.is_some() {
        None
    } else {
        text("subject")
    };
    let mut tags = m.tags.clone();
    tags.sort();
    tags.dedup();
    Surface {
        action,
        subject,
        tags,
    }
}

fn suggestion(surface: Surface, mut group: Vec<&Memory>, min: usize) -> Option<Suggestion> {
    let executions: BTreeSet<&ExecutionId> = group
        .iter()
        .filter_map(|m| m.execution_id.as_ref())
        .collect();
    if group.len() < min || executions.len() < MIN_EXECUTIONS {
        return None;
    }
    group.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    let first_at = group.iter().map(|m| m.created_at).min()?;
    let last_at = group.iter().map(|m| m.created_at).max()?;
    let examples = group
        .iter()
        .take(EXAMPLES)
        .map(|m| Example {
            memory: m.id.clone(),
            content: m.content.clone(),
            original: m.metadata.get("original").cloned(),
            corrected: m.metadata.get("corrected").cloned(),
            created_at: m.created_at,
        })
        .collect();
    Some(Suggestion {
        surface,
        count: group.len(),
        first_at,
        last_at,
        executions: executions.into_iter().cloned().collect(),
        examples,
    })
}
