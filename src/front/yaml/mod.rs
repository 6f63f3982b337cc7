//! The YAML front end: text -> spanned YAML tree -> [`crate::ir::PolicyDoc`].

mod fast;
mod json;
pub(crate) mod lower;
pub(crate) mod tree;

pub(crate) use json::{duplicate_keys, to_json};

use super::Parsed;

/// Parses YAML policy text into the IR, with every problem found on the way.
pub fn parse(text: &str) -> Parsed {
    let root = match tree::parse(text) {
        Ok(root) => root,
        Err(d) => return Parsed::failed(d),
    };
    let mut lowering = lower::Lowering::new();
    let doc = lowering.document(&root);
    Parsed {
        doc,
        diagnostics: lowering.diagnostics,
        tainted: lowering.tainted,
    }
}

/// For the differential tests: the tree the policy scanner builds from `text` (`None` where it
/// leaves the text to saphyr-parser) and the one saphyr-parser builds (or its error), each
/// printed with every value, style and span.
#[doc(hidden)]
pub fn both_trees(text: &str) -> (Option<String>, Result<String, String>) {
    let fast = fast::parse(text).map(|root| format!("{root:#?}"));
    let events = tree::parse_events(text)
        .map(|root| format!("{root:#?}"))
        .map_err(|d| format!("{d:?}"));
    (fast, events)
}
