//! Printing the IR back as text, in either language: the canonical form `fmt` writes.
//! Printing then parsing gives back the same IR (spans aside), whichever language.

mod dsl;
mod yaml;

pub use dsl::to_dsl;
pub use yaml::to_yaml;

use crate::front::Language;
use crate::ir::PolicyDoc;

/// The canonical text of a policy in a language.
pub fn print(doc: &PolicyDoc, language: Language) -> String {
    match language {
        Language::Yaml => to_yaml(doc),
        Language::Dsl => to_dsl(doc),
    }
}

/// A confidence bound, written so that it reads back as the same `f64`.
fn number(value: f64) -> String {
    format!("{value:?}")
}
