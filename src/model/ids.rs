//! Typed identifiers. Each kind has a prefix (`exe_`, `apr_`, ...) so that an id pasted into
//! the wrong command is recognised, and a time-ordered body (UUID v7) so that ids sort by
//! creation and work across nodes without coordination.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id.
            pub fn generate() -> $name {
                $name(format!("{}{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            /// Any text: ids read from a user are looked up, not trusted, so a wrong one is
            /// simply not found.
            fn from(s: &str) -> $name {
                $name(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> $name {
                $name(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An execution.
    ExecutionId,
    "exe_"
);
id_type!(
    /// An approval request (a single gate or a chain).
    ApprovalId,
    "apr_"
);
id_type!(
    /// A feedback request (a form).
    FeedbackId,
    "fbk_"
);
id_type!(
    /// A single-use grant issued when a bound approval is approved.
    GrantId,
    "gnt_"
);
id_type!(
    /// A memory.
    MemoryId,
    "mem_"
);
id_type!(
    /// A notification in the outbox.
    NotificationId,
    "ntf_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_distinct() {
        let a = ExecutionId::generate();
        let b = ExecutionId::generate();
        assert!(a.as_str().starts_with("exe_"));
        assert_ne!(a, b);
        assert!(ApprovalId::generate().as_str().starts_with("apr_"));
    }
}
