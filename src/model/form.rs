//! Feedback forms: the fields a person fills in, and the check of their answers. A form is
//! checked when it is asked for (so a broken form never reaches a person), and answers are
//! checked field by field, every problem reported at once.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::InvalidInput;

/// A form: its fields in the order they are shown.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Form {
    pub fields: Vec<Field>,
}

/// One field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The key of the answer.
    pub name: String,
    pub label: String,
    #[serde(flatten)]
    pub kind: FieldKind,
    /// Whether an answer is needed. Fields are required unless they say otherwise.
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

/// A field's type, with what it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FieldKind {
    /// A whole number from `min` to `max`, both included.
    Rating {
        min: i64,
        max: i64,
    },
    /// One of the options.
    Select {
        options: Vec<String>,
    },
    /// Any number of distinct options.
    Multiselect {
        options: Vec<String>,
    },
    Text,
    Code {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<String>,
    },
}

impl FieldKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FieldKind::Rating { .. } => "rating",
            FieldKind::Select { .. } => "select",
            FieldKind::Multiselect { .. } => "multiselect",
            FieldKind::Text => "text",
            FieldKind::Code { .. } => "code",
        }
    }
}

impl Field {
    pub fn new(name: impl Into<String>, label: impl Into<String>, kind: FieldKind) -> Field {
        Field {
            name: name.into(),
            label: label.into(),
            kind,
            required: true,
        }
    }

    pub fn rating(name: &str, label: &str, min: i64, max: i64) -> Field {
        Field::new(name, label, FieldKind::Rating { min, max })
    }

    pub fn select(name: &str, label: &str, options: &[&str]) -> Field {
        let options = options.iter().map(|o| (*o).to_owned()).collect();
        Field::new(name, label, FieldKind::Select { options })
    }

    pub fn multiselect(name: &str, label: &str, options: &[&str]) -> Field {
        let options = options.iter().map(|o| (*o).to_owned()).collect();
        Field::new(name, label, FieldKind::Multiselect { options })
    }

    pub fn text(name: &str, label: &str) -> Field {
        Field::new(name, label, FieldKind::Text)
    }

    pub fn code(name: &str, label: &str, language: Option<&str>) -> Field {
        let language = language.map(str::to_owned);
        Field::new(name, label, FieldKind::Code { language })
    }

    pub fn optional(mut self) -> Field {
        self.required = false;
        self
    }
}

/// Something shown with the form, such as generated code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    #[serde(rename = "type")]
    pub kind: String,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl Artifact {
    pub fn code(content: impl Into<String>, language: Option<&str>) -> Artifact {
        Artifact {
            kind: "code".into(),
            content: content.into(),
            language: language.map(str::to_owned),
            title: None,
        }
    }

    pub fn titled(mut self, title: impl Into<String>) -> Artifact {
        self.title = Some(title.into());
        self
    }
}

/// One refused answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    /// The field's name, as in the form.
    pub field: String,
    pub problem: FieldProblem,
}

/// What is wrong with an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldProblem {
    /// A required field has no answer (absent or null).
    Missing,
    /// The answers name a field the form does not have.
    UnknownField { fields: Vec<String> },
    /// The answer is of the wrong JSON type.
    WrongType {
        expected: &'static str,
        found: String,
    },
    /// A rating outside its range.
    OutOfRange { value: String, min: i64, max: i64 },
    /// A value that is not one of the options.
    NotAnOption { value: String, options: Vec<String> },
    /// A multiselect that names an option twice.
    Repeated { value: String },
    /// The answers give this field twice (a reader keeping either one would be guessing).
    GivenTwice,
    /// A text or code answer longer than [`MAX_ANSWER_BYTES`].
    TooLong { bytes: usize, max: usize },
    /// The answers are not a JSON object.
    NotAnObject { reason: String },
}

/// The most bytes a text or code answer may have: room for a long review, not for a file
/// that would fill the store and every approver's inbox.
pub const MAX_ANSWER_BYTES: usize = 64 << 10;

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldProblem::Missing => f.write_str("is required but has no answer"),
            FieldProblem::UnknownField { fields } => {
                write!(
                    f,
                    "is not a field of this form; the fields are {}",
                    fields.join(", ")
                )
            }
            FieldProblem::WrongType { expected, found } => {
                write!(f, "must be {expected}, found {found}")
            }
            FieldProblem::OutOfRange { value, min, max } => {
                write!(f, "{value} is outside the range {min} to {max}")
            }
            FieldProblem::NotAnOption { value, options } => {
                write!(
                    f,
                    "`{value}` is not one of the options: {}",
                    options.join(", ")
                )
            }
            FieldProblem::Repeated { value } => write!(f, "`{value}` is chosen twice"),
            FieldProblem::GivenTwice => f.write_str("is answered twice; give each field once"),
            FieldProblem::TooLong { bytes, max } => {
                write!(f, "is {bytes} bytes long; an answer may have at most {max}")
            }
            FieldProblem::NotAnObject { reason } => write!(
                f,
                "must be a JSON object of answers keyed by field name: {reason}"
            ),
        }
    }
}

impl Form {
    pub fn new(fields: Vec<Field>) -> Form {
        Form { fields }
    }

    /// Checks the form itself: names present and distinct, ratings with `min <= max`,
    /// selects with distinct, non-empty options.
    pub fn check(&self) -> Result<(), InvalidInput> {
        let mut names = HashSet::new();
        for (i, field) in self.fields.iter().enumerate() {
            let at = |what: &str| format!("form.fields[{i}].{what}");
            if field.name.trim().is_empty() {
                return Err(InvalidInput::new(at("name"), "must not be empty"));
            }
            if !names.insert(field.name.as_str()) {
                return Err(InvalidInput::new(
                    at("name"),
                    format!(
                        "`{}` is used by an earlier field; names must be distinct",
                        field.name
                    ),
                ));
            }
            match &field.kind {
                FieldKind::Rating { min, max } if min > max => {
                    return Err(InvalidInput::new(
                        at("min"),
                        format!("{min} is above max {max}"),
                    ));
                }
                FieldKind::Select { options } | FieldKind::Multiselect { options } => {
                    if options.is_empty() {
                        return Err(InvalidInput::new(
                            at("options"),
                            format!("a {} field needs at least one option", field.kind.as_str()),
                        ));
                    }
                    let mut seen = HashSet::new();
                    if let Some(dup) = options.iter().find(|o| !seen.insert(o.as_str())) {
                        return Err(InvalidInput::new(
                            at("options"),
                            format!("`{dup}` is listed twice"),
                        ));
                    }
                }
                _ => {}
            }
        }
        if self.fields.is_empty() {
            return Err(InvalidInput::new(
                "form.fields",
                "a form needs at least one field",
            ));
        }
        Ok(())
    }

    /// Reads answers from JSON text, strictly (see [`crate::json`]), and checks them against
    /// the form. A field answered twice is an error naming it; text that is not a JSON object
    /// is an error of the field `answers`.
    ///
    /// ```
    /// use rekall_policy::model::{Field, Form};
    ///
    /// let form = Form::new(vec![Field::rating("score", "Score", 1, 5)]);
    /// assert!(form.read_answers(r#"{"score": 4}"#).is_ok());
    /// let errors = form.read_answers(r#"{"score": 5, "score": 1}"#).unwrap_err();
    /// assert_eq!(errors[0].to_string(), "score: is answered twice; give each field once");
    /// ```
    pub fn read_answers(&self, text: &str) -> Result<Map<String, Value>, Vec<FieldError>> {
        let answers = crate::json::parse_object(text).map_err(|e| {
            let error = match (e.duplicate_key(), e.duplicate_within()) {
                (Some(key), []) => FieldError {
                    field: key.to_owned(),
                    problem: FieldProblem::GivenTwice,
                },
                (_, within) => FieldError {
                    field: within.first().cloned().unwrap_or_else(|| "answers".into()),
                    problem: FieldProblem::NotAnObject {
                        reason: e.to_string(),
                    },
                },
            };
            vec![error]
        })?;
        self.validate(&answers)?;
        Ok(answers)
    }

    /// Checks answers against the form; every problem is reported, one error per field.
    pub fn validate(&self, answers: &Map<String, Value>) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let names: Vec<String> = self.fields.iter().map(|f| f.name.clone()).collect();
        for key in answers.keys() {
            if !names.contains(key) {
                errors.push(FieldError {
                    field: key.clone(),
                    problem: FieldProblem::UnknownField {
                        fields: names.clone(),
                    },
                });
            }
        }
        for field in &self.fields {
            let problem = match answers.get(&field.name) {
                None | Some(Value::Null) => field.required.then_some(FieldProblem::Missing),
                Some(value) => check_value(&field.kind, value),
            };
            if let Some(problem) = problem {
                errors.push(FieldError {
                    field: field.name.clone(),
                    problem,
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn check_value(kind: &FieldKind, value: &Value) -> Option<FieldProblem> {
    let wrong = |expected: &'static str| {
        Some(FieldProblem::WrongType {
            expected,
            found: crate::request::json_kind(value),
        })
    };
    match kind {
        FieldKind::Rating { min, max } => {
            let Some(n) = value.as_i64().or_else(|| {
                // 4.0 is the rating 4; 4.5 is not a rating.
                value
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            }) else {
                return wrong("a whole number");
            };
            (n < *min || n > *max).then(|| FieldProblem::OutOfRange {
                value: n.to_string(),
                min: *min,
                max: *max,
            })
        }
        FieldKind::Select { options } => {
            let Some(s) = value.as_str() else {
                return wrong("one of the options, as a string");
            };
            not_an_option(s, options)
        }
        FieldKind::Multiselect { options } => {
            let Some(items) = value.as_array() else {
                return wrong("a list of options");
            };
            let mut seen = HashSet::new();
            for item in items {
                let Some(s) = item.as_str() else {
                    return Some(FieldProblem::WrongType {
                        expected: "a list of strings",
                        found: format!("a list holding {}", crate::request::json_kind(item)),
                    });
                };
                if let Some(p) = not_an_option(s, options) {
                    return Some(p);
                }
                if !seen.insert(s) {
                    return Some(FieldProblem::Repeated {
                        value: s.to_owned(),
                    });
                }
            }
            None
        }
        FieldKind::Text | FieldKind::Code { .. } => match value.as_str() {
            Some(s) if s.len() > MAX_ANSWER_BYTES => Some(FieldProblem::TooLong {
                bytes: s.len(),
                max: MAX_ANSWER_BYTES,
            }),
            Some(_) => None,
            None => wrong("a string"),
        },
    }
}

fn not_an_option(value: &str, options: &[String]) -> Option<FieldProblem> {
    (!options.iter().any(|o| o == value)).then(|| FieldProblem::NotAnOption {
        value: value.to_owned(),
        options: options.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> Form {
        Form::new(vec![
            Field::rating("score", "Score", 1, 5),
            Field::select("verdict", "Verdict", &["ship", "hold"]),
            Field::text("notes", "Notes").optional(),
        ])
    }

    #[test]
    fn answers_read_from_text_refuse_a_field_given_twice() {
        let errors = form()
            .read_answers(r#"{"score":5,"verdict":"ship","verdict":"hold"}"#)
            .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "verdict");
        assert_eq!(errors[0].problem, FieldProblem::GivenTwice);
        // A key twice inside an answer is named by the field it is in.
        let errors = form()
            .read_answers(r#"{"score":5,"verdict":"ship","notes":{"a":1,"a":2}}"#)
            .unwrap_err();
        assert_eq!(errors[0].field, "notes");
        let ok = form()
            .read_answers(r#"{"score":5,"verdict":"ship"}"#)
            .unwrap();
        assert_eq!(ok["score"], 5);
    }

    #[test]
    fn answers_that_are_not_an_object_or_too_long_are_refused() {
        for text in ["[1]", "{", "", "{} x"] {
            let errors = form().read_answers(text).unwrap_err();
            assert_eq!(errors[0].field, "answers", "{text}");
            assert!(
                matches!(errors[0].problem, FieldProblem::NotAnObject { .. }),
                "{text}"
            );
        }
        let long = "x".repeat(MAX_ANSWER_BYTES + 1);
        let text = format!(r#"{{"score":5,"verdict":"ship","notes":"{long}"}}"#);
        let errors = form().read_answers(&text).unwrap_err();
        assert_eq!(
            errors[0].problem,
            FieldProblem::TooLong {
                bytes: MAX_ANSWER_BYTES + 1,
                max: MAX_ANSWER_BYTES
            }
        );
        let short = "x".repeat(MAX_ANSWER_BYTES);
        let text = format!(r#"{{"score":5,"verdict":"ship","notes":"{short}"}}"#);
        assert!(form().read_answers(&text).is_ok());
        // An error quotes a long wrong answer by its start only.
        let text = format!(r#"{{"score":"{long}","verdict":"ship"}}"#);
        let message = form().read_answers(&text).unwrap_err()[0].to_string();
        assert!(message.len() < 200, "{message}");
    }
}
