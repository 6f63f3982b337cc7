//! The tables that hold versioned records, as both backends name them.

/// The tables that hold versioned records.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    Executions,
    Approvals,
    Feedback,
    Grants,
    Thresholds,
}

impl Table {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Executions => "executions",
            Table::Approvals => "approvals",
            Table::Feedback => "feedback",
            Table::Grants => "grants",
            Table::Thresholds => "thresholds",
        }
    }

    /// The record's name in errors.
    pub(crate) fn record(self) -> &'static str {
        match self {
            Table::Executions => "execution",
            Table::Approvals => "approval",
            Table::Feedback => "feedback",
            Table::Grants => "grant",
            Table::Thresholds => "threshold",
        }
    }

    /// The column that names the execution a row belongs to.
    pub(crate) fn execution_column(self) -> &'static str {
        match self {
            Table::Executions => "id",
            _ => "execution_id",
        }
    }
}
