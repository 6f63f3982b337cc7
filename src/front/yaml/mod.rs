//! The YAML front end: text -> spanned YAML tree -> [`crate::ir::PolicyDoc`].

mod lower;
mod tree;

use crate::diagnostic::Diagnostic;
use crate::ir::PolicyDoc;

/// Parses YAML policy text into the IR, or every problem found on the way.
pub fn parse(text: &str) -> Result<PolicyDoc, Vec<Diagnostic>> {
    let root = tree::parse(text).map_err(|d| vec![d])?;
    let mut lowering = lower::Lowering::new();
    let doc = lowering.document(&root);
    match doc {
        Some(doc) if lowering.diagnostics.is_empty() => Ok(doc),
        _ => Err(lowering.diagnostics),
    }
}
