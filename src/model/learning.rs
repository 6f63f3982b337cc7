//! The learning loop's records: every call of an adaptive rule's match class with how it was
//! routed and, once known, its label; and each class's threshold overlay, the value in force
//! beside the policy's, with any proposal waiting for a person.
//!
//! A class is named by its rule's id, or `escalation[i]` for a rule without one, so that the
//! record survives edits that move the rule but keep its id.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ids::ExecutionId;
use super::time::Timestamp;
use crate::learn::{Label, Route};

/// Where a label came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelSource {
    /// A person resolved the approval the policy asked for.
    Resolution,
    /// A person resolved the approval the audit sample asked for.
    Audit,
    /// `report_outcome`, after the fact.
    Report,
}

impl LabelSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LabelSource::Resolution => "resolution",
            LabelSource::Audit => "audit",
            LabelSource::Report => "report",
        }
    }

    pub fn parse(text: &str) -> Option<LabelSource> {
        [
            LabelSource::Resolution,
            LabelSource::Audit,
            LabelSource::Report,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A route's stored name.
pub fn route_name(route: Route) -> &'static str {
    match route {
        Route::Human => "human",
        Route::Audit => "audit",
        Route::Auto => "auto",
    }
}

pub fn parse_route(text: &str) -> Option<Route> {
    match text {
        "human" => Some(Route::Human),
        "audit" => Some(Route::Audit),
        "auto" => Some(Route::Auto),
        _ => None,
    }
}

/// A label's stored name.
pub fn label_name(label: Label) -> &'static str {
    match label {
        Label::Good => "good",
        Label::Bad => "bad",
    }
}

pub fn parse_label(text: &str) -> Option<Label> {
    match text {
        "good" | "ok" => Some(Label::Good),
        "bad" => Some(Label::Bad),
        _ => None,
    }
}

/// One call of an adaptive class.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedCall {
    /// Its place among all such calls, given by the store (0 before it is written).
    pub seq: u64,
    pub class: String,
    pub execution_id: ExecutionId,
    pub action: String,
    pub resource: String,
    pub context_hash: String,
    /// The approval request opened for it, when a person was asked.
    pub request_id: Option<String>,
    pub confidence: f64,
    pub route: Route,
    pub label: Option<Label>,
    pub source: Option<LabelSource>,
    /// The approver's comment or the reporter's note.
    pub note: Option<String>,
    pub at: Timestamp,
}

/// Which call a label is for.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelTarget {
    /// The call an approval request was opened for.
    Request(String),
    /// A call by its sequence number.
    Call(u64),
}

/// A label to write, in the transaction of what caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelUpdate {
    pub target: LabelTarget,
    pub label: Label,
    pub source: LabelSource,
    pub note: Option<String>,
}

/// A lower threshold the learner certified, waiting for a person (`propose` mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Proposal {
    pub id: String,
    pub from: f64,
    pub to: f64,
    /// The counts, the bound, alpha and delta that certified it.
    pub evidence: Value,
    pub at: Timestamp,
}

impl Proposal {
    pub const PREFIX: &'static str = "thp_";

    pub fn new(from: f64, to: f64, evidence: Value, at: Timestamp) -> Proposal {
        Proposal {
            id: format!("{}{}", Self::PREFIX, uuid::Uuid::now_v7().simple()),
            from,
            to,
            evidence,
            at,
        }
    }
}

/// A class's threshold in force, beside the policy's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overlay {
    pub class: String,
    /// The policy's threshold (its band's `lo`) when the overlay was last written: a policy
    /// that declares another one starts the class again from it.
    pub policy: f64,
    pub effective: f64,
    pub proposal: Option<Proposal>,
    pub updated_at: Timestamp,
}
