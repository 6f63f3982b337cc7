//! Front ends: policy text in a surface language -> the one IR ([`crate::ir`]).

mod comments;
pub mod dsl;
pub mod yaml;

use crate::diagnostic::{Diagnostic, ErrorKind};
use crate::ir::PolicyDoc;
use crate::source::Span;

/// The surface languages a policy can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Yaml,
    /// The compact policy language, in `.rkl` files.
    Dsl,
}

impl Language {
    /// The language a file is written in, by its extension: `.yaml` or `.yml` is YAML, `.rkl`
    /// the DSL. Any other extension (or none) is refused rather than read as YAML, where a
    /// `.txt` DSL file would only get a confusing YAML syntax error.
    pub fn of_path(path: &std::path::Path) -> Result<Language, ErrorKind> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Ok(Language::Yaml),
            Some("rkl") => Ok(Language::Dsl),
            Some(other) => Err(ErrorKind::UnknownLanguage {
                found: format!("unknown extension `.{other}`"),
            }),
            None => Err(ErrorKind::UnknownLanguage {
                found: "no extension".into(),
            }),
        }
    }
}

/// What a front end made of a text: the IR (possibly with stand-ins for wrong parts), every
/// problem it found, and the parts those problems were in.
#[derive(Debug)]
pub struct Parsed {
    pub doc: Option<PolicyDoc>,
    pub diagnostics: Vec<Diagnostic>,
    pub tainted: Vec<Span>,
}

impl Parsed {
    /// A text that could not be read into any document.
    pub fn failed(diagnostic: Diagnostic) -> Parsed {
        Parsed {
            doc: None,
            diagnostics: vec![diagnostic],
            tainted: Vec::new(),
        }
    }

    /// The IR if the text had no problems at all.
    pub fn into_result(self) -> Result<PolicyDoc, Vec<Diagnostic>> {
        match self.doc {
            Some(doc) if self.diagnostics.is_empty() => Ok(doc),
            _ => Err(self.diagnostics),
        }
    }
}

/// Parses text of the given language into the IR.
pub fn parse(language: Language, text: &str) -> Parsed {
    let mut parsed = match language {
        Language::Yaml => yaml::parse(text),
        Language::Dsl => dsl::parse(text),
    };
    if let Some(doc) = &mut parsed.doc {
        comments::attach(doc, text, language);
    }
    parsed
}
