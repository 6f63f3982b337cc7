//! The policy's versions: every policy ever put in force by the runtime, numbered 1, 2, 3...
//! in the store, with its text, who put it there and why. The store never changes or deletes
//! one; going back to an old policy (a rollback) is a new version holding the old text, so the
//! history says what was in force at every moment.

use serde::{Serialize, Serializer};

use super::time::Timestamp;
use crate::front::Language;
use crate::ir::Principal;

/// A stored version, without its text: what a history lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVersionInfo {
    /// 1 for the first version, then one more for each; never reused.
    pub version: u64,
    #[serde(serialize_with = "serialize_language")]
    pub language: Language,
    /// SHA-256 of the text, hex: two versions with the same text have the same hash.
    pub sha256: String,
    /// The policy's `name`, if it has one.
    pub name: Option<String>,
    /// Who put it in force.
    pub principal: Principal,
    /// The `X-Request-Id` of the request that made it, when it came over HTTP.
    pub request_id: Option<String>,
    pub created_at: Timestamp,
    /// One line on what changed from the version before (rules added and removed by section).
    pub summary: String,
    /// The version whose text this one brought back, for a rollback.
    pub rollback_of: Option<u64>,
}

/// A stored version with its text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVersion {
    #[serde(flatten)]
    pub info: PolicyVersionInfo,
    /// The policy as stored: what was put, or, for a JSON rule list, the policy it made,
    /// printed in the language of the version it changed.
    pub text: String,
}

/// A version to store: everything but its number, which the store gives.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPolicyVersion {
    pub language: Language,
    pub text: String,
    pub name: Option<String>,
    pub principal: Principal,
    pub request_id: Option<String>,
    pub created_at: Timestamp,
    pub summary: String,
    pub rollback_of: Option<u64>,
}

impl NewPolicyVersion {
    /// The stored version this becomes under `number`.
    pub fn numbered(self, number: u64) -> PolicyVersion {
        PolicyVersion {
            info: PolicyVersionInfo {
                version: number,
                language: self.language,
                sha256: super::hash_text(&self.text),
                name: self.name,
                principal: self.principal,
                request_id: self.request_id,
                created_at: self.created_at,
                summary: self.summary,
                rollback_of: self.rollback_of,
            },
            text: self.text,
        }
    }
}

/// How a language is named in stored records and on the wire: `yaml` or `dsl`.
pub fn language_name(language: Language) -> &'static str {
    match language {
        Language::Yaml => "yaml",
        Language::Dsl => "dsl",
    }
}

/// The language a stored name means; `None` for any other text (a corrupt record).
pub fn parse_language(name: &str) -> Option<Language> {
    match name {
        "yaml" => Some(Language::Yaml),
        "dsl" => Some(Language::Dsl),
        _ => None,
    }
}

/// Serializes a language by [`language_name`], for serde's `serialize_with`.
pub fn serialize_language<S: Serializer>(language: &Language, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(language_name(*language))
}
