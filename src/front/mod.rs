//! Front ends: policy text in a surface language -> the one IR ([`crate::ir`]).

pub mod yaml;

use crate::diagnostic::Diagnostic;
use crate::ir::PolicyDoc;

/// The surface languages a policy can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Yaml,
}

impl Language {
    /// The language a file is written in, by its extension; YAML unless it says otherwise.
    pub fn of_path(path: &std::path::Path) -> Language {
        let _ = path;
        Language::Yaml
    }
}

/// Parses text of the given language into the IR.
pub fn parse(language: Language, text: &str) -> Result<PolicyDoc, Vec<Diagnostic>> {
    match language {
        Language::Yaml => yaml::parse(text),
    }
}
