//! The records the runtime drives and the store keeps, with their state machines: an
//! execution and its checkpoints, an approval request with its steps and votes, a feedback
//! request and its form, a grant, the audit log's entries, memories and notifications.
//!
//! Every change of a record is a pure function from one record (and the time) to the next,
//! so a store can commit its result under a version check and no rule lives only in one
//! process's memory. Neither the store nor the runtime owns these types: the store persists
//! them and the runtime's services decide when to change them, so that another store or a
//! server can be built on the model alone.

mod approval;
mod audit;
mod binding;
mod error;
mod execution;
mod feedback;
mod form;
mod idempotency;
mod ids;
mod learning;
mod memory;
mod notification;
mod policy_version;
mod serde_words;
mod time;

/// Who acts, as the policy names principals: re-exported so that the store, which sees only the
/// model, can name one.
pub use crate::ir::Principal;
pub use approval::{
    ApprovalRequest, ApprovalStatus, Choice, DueEffect, Step, StepSpec, StepStatus, Vote,
    VoteEffect,
};
pub use audit::{AuditEntry, AuditKind, Origin};
pub use binding::{Binding, Call, Grant, hash_json, hash_text};
pub use error::{ExecutionError, FeedbackError, GrantError, InvalidInput, VoteError};
pub use execution::{
    Checkpoint, CheckpointInterval, Execution, ExecutionConfig, ExecutionStatus, OnFailure,
    Operation, PauseReason, transition,
};
pub use feedback::{FeedbackRequest, FeedbackStatus};
pub use form::{Artifact, Field, FieldError, FieldKind, FieldProblem, Form, MAX_ANSWER_BYTES};
pub use idempotency::{
    IdempotencyRecord, MAX_KEY_CHARS, RETENTION_MS, StoredResponse, request_hash,
};
pub use ids::{ApprovalId, ExecutionId, FeedbackId, GrantId, MemoryId, NotificationId};
pub use learning::{
    LabelSource, LabelTarget, LabelUpdate, LearnedCall, Overlay, Proposal, label_name, parse_label,
    parse_route, route_name,
};
pub use memory::{Correction, Memory, MemoryKind, MemoryQuery, NewMemory};
pub use notification::{Notification, NotificationKind};
pub use policy_version::{
    NewPolicyVersion, PolicyVersion, PolicyVersionInfo, language_name, parse_language,
    serialize_language,
};
pub use time::{BoxFuture, Timestamp};
