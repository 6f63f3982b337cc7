//! The audit API: reading the log the store keeps (see [`crate::model::AuditEntry`]) and
//! exporting its decisions as the JSON Lines that `rekall-policy eval --input` reads.

use super::Runtime;
use super::error::RuntimeError;
use crate::model::{AuditEntry, AuditKind, ExecutionId};
use crate::store::AuditFilter;

/// The audit API: `runtime.audit()`.
#[derive(Debug, Clone, Copy)]
pub struct Audit<'a> {
    pub(crate) rt: &'a Runtime,
}

impl Audit<'_> {
    pub async fn query(&self, filter: AuditFilter) -> Result<Vec<AuditEntry>, RuntimeError> {
        Ok(self.rt.store().audit(filter).await?)
    }

    /// Everything recorded about one execution, oldest first.
    pub async fn for_execution(&self, id: &ExecutionId) -> Result<Vec<AuditEntry>, RuntimeError> {
        self.query(AuditFilter {
            execution: Some(id.clone()),
            ..AuditFilter::default()
        })
        .await
    }

    /// The requests of every recorded decision (of one execution, or all), one JSON object
    /// per line with `action`, `resource`, `confidence` and `context`: the input of
    /// `rekall-policy eval --input` and `diff --requests`.
    pub async fn export_decisions(
        &self,
        execution: Option<&ExecutionId>,
    ) -> Result<String, RuntimeError> {
        let entries = self
            .query(AuditFilter {
                execution: execution.cloned(),
                kind: Some(AuditKind::Decision.as_str().to_owned()),
                ..AuditFilter::default()
            })
            .await?;
        let mut out = String::new();
        for entry in entries {
            if let Some(request) = entry.detail.get("request") {
                out.push_str(&request.to_string());
                out.push('\n');
            }
        }
        Ok(out)
    }
}
