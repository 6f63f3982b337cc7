//! The DSL front end (`.rkl`): the pest grammar in `grammar/policy.pest` -> the same IR as
//! YAML, with spans into the `.rkl` text.

mod build;
mod syntax_error;

use pest::Parser as _;

use super::Parsed;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/policy.pest"]
pub(crate) struct PolicyParser;

/// Parses DSL policy text into the IR, with every problem found on the way.
pub fn parse(text: &str) -> Parsed {
    match PolicyParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let mut builder = build::Builder::new();
            let doc = pairs.next().and_then(|file| builder.file(file));
            Parsed {
                doc,
                diagnostics: builder.diagnostics,
                tainted: builder.tainted,
            }
        }
        Err(e) => Parsed::failed(syntax_error::describe(&e, text)),
    }
}
