//! The YAML front end: text -> spanned YAML tree -> [`crate::ir::PolicyDoc`].

mod json;
mod lower;
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
