//! A refused policy and its diagnostics, in the JSON form `check --format json` gives them
//! (plus the file, and the JSON path for a rule list).

use serde::Serialize;

use super::json_rules::RuleListProblem;
use crate::diagnostic::{Diagnostic, PolicyError};
use crate::front::Language;
use crate::ir::Principal;
use crate::model::{Timestamp, serialize_language};

/// One problem of a refused policy: where (1-based line and column), what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyDiagnostic {
    /// The text it is in: the name the policy was given, or the JSON rule list's.
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    /// The stable code of the problem, as `check --format json` gives it.
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
    /// The JSON path of the value at fault, for a rule list (`rules[1].minApprovals`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl PolicyDiagnostic {
    pub(crate) fn new(file: &str, d: &Diagnostic, field: Option<String>) -> PolicyDiagnostic {
        PolicyDiagnostic {
            file: file.to_owned(),
            line: d.span.line,
            column: d.span.col,
            end_line: d.span.end_line,
            end_column: d.span.end_col,
            code: d.kind.code(),
            message: d.kind.to_string(),
            help: d.kind.hint(),
            field,
        }
    }

    /// Every diagnostic of a policy text that did not parse or validate.
    pub(crate) fn of_policy(e: &PolicyError) -> Vec<PolicyDiagnostic> {
        e.diagnostics
            .iter()
            .map(|d| PolicyDiagnostic::new(&e.source.origin, d, None))
            .collect()
    }

    /// Every problem of a rule list: in `body_file` when it is in the body, else in
    /// `base_file`, the policy the section was to go into.
    pub(crate) fn of_rule_list(
        problems: &[RuleListProblem],
        body_file: &str,
        base_file: &str,
    ) -> Vec<PolicyDiagnostic> {
        problems
            .iter()
            .map(|p| {
                let file = if p.in_body { body_file } else { base_file };
                PolicyDiagnostic::new(file, &p.diagnostic, p.field.clone())
            })
            .collect()
    }
}

/// A policy that was refused: nothing changed. Kept as the runtime's last error until a later
/// policy is accepted.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{message}")]
pub struct PolicyRejected {
    /// One sentence: how many problems, and the first.
    pub message: String,
    pub diagnostics: Vec<PolicyDiagnostic>,
    /// Who sent it, and when.
    pub principal: Principal,
    pub at: Timestamp,
    /// The language it was in (a rule list's policy is in the live version's).
    #[serde(serialize_with = "serialize_language")]
    pub language: Language,
}

impl PolicyRejected {
    pub(crate) fn new(
        diagnostics: Vec<PolicyDiagnostic>,
        language: Language,
        principal: &Principal,
        at: Timestamp,
    ) -> PolicyRejected {
        let message = match diagnostics.first() {
            None => "the policy was refused".to_owned(),
            Some(d) => {
                let others = match diagnostics.len() {
                    1 => String::new(),
                    2 => " (and 1 more problem)".to_owned(),
                    n => format!(" (and {} more problems)", n - 1),
                };
                let at = d.field.as_ref().map_or_else(
                    || format!("{}:{}:{}", d.file, d.line, d.column),
                    |f| format!("{}: {f}", d.file),
                );
                format!(
                    "the policy was refused, nothing changed: {at}: {}{others}",
                    d.message
                )
            }
        };
        PolicyRejected {
            message,
            diagnostics,
            principal: principal.clone(),
            at,
            language,
        }
    }
}
