//! Printing the IR back as text, in either language: the canonical form `fmt` writes.
//! Printing then parsing gives back the same IR (spans aside), whichever language.

mod dsl;
mod yaml;

pub use dsl::to_dsl;
pub use yaml::to_yaml;

use crate::front::Language;
use crate::ir::PolicyDoc;
use crate::source::Span;

/// The canonical text of a policy in a language. Prefer [`try_print`]: the DSL has no syntax
/// for `adapt` yet, and this prints such a policy to the DSL without it.
pub fn print(doc: &PolicyDoc, language: Language) -> String {
    match language {
        Language::Yaml => to_yaml(doc),
        Language::Dsl => to_dsl(doc),
    }
}

/// A policy that a language cannot express, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {}: {what} cannot be written in the DSL yet; keep this policy in YAML", span.line)]
pub struct Unprintable {
    pub what: String,
    pub span: Span,
}

/// The canonical text of a policy in a language, or what the language cannot express: a
/// policy is never printed with a part of it silently left out.
pub fn try_print(doc: &PolicyDoc, language: Language) -> Result<String, Unprintable> {
    if language == Language::Dsl
        && let Some((i, rule)) = doc
            .escalation
            .iter()
            .flat_map(|s| s.rules.iter().enumerate())
            .find(|(_, r)| r.adapt.is_some())
    {
        return Err(Unprintable {
            what: format!(
                "`adapt` on escalation rule {}",
                rule.id
                    .as_ref()
                    .map_or_else(|| i.to_string(), |id| format!("`{}`", id.node))
            ),
            span: rule.adapt.as_ref().map_or(*rule.span, |a| *a.span),
        });
    }
    Ok(print(doc, language))
}

/// A confidence bound, written so that it reads back as the same `f64`.
fn number(value: f64) -> String {
    format!("{value:?}")
}
