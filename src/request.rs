//! A request: "may I do this now?" (spec section 3).

use serde_json::{Map, Value};

use crate::suggest;

/// What an agent asks about. Build it with [`Request::new`] and the setters, or read it from
/// JSON with [`Request::from_json`]. It is checked when decided: an invalid request never gets a
/// decision.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    /// Required and non-empty, such as `deploy`.
    pub action: String,
    /// Defaults to `""`.
    pub resource: String,
    /// In [0, 1]; absent means 0.0, the most cautious value.
    pub confidence: Option<f64>,
    /// Carried to humans and to the audit log; never part of matching.
    pub context: Value,
}

/// Why a request was refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RequestError {
    /// The JSON name of the offending field (`action`, `resource`, `confidence`, `context`), or
    /// `request` for the request as a whole.
    pub field: String,
    pub message: String,
}

impl RequestError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        RequestError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The fields a JSON request may have. `id` is not matched on; it is echoed back so that the
/// lines of a batch can be told apart.
const FIELDS: [&str; 5] = ["action", "resource", "confidence", "context", "id"];

impl Request {
    pub fn new(action: impl Into<String>) -> Self {
        Request {
            action: action.into(),
            ..Request::default()
        }
    }

    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = resource.into();
        self
    }

    pub fn confidence(mut self, confidence: f64) -> Self {
        self.confidence = Some(confidence);
        self
    }

    pub fn context(mut self, context: Value) -> Self {
        self.context = context;
        self
    }

    /// The confidence to decide with, or why it cannot be used.
    pub fn checked_confidence(&self) -> Result<f64, RequestError> {
        check_confidence(self.confidence)
    }

    /// Checks everything decided on: a non-empty action and a usable confidence.
    pub fn check(&self) -> Result<f64, RequestError> {
        check_action(&self.action)?;
        self.checked_confidence()
    }

    /// Reads a request from a JSON object, refusing unknown fields (a typo such as
    /// `confidnce` must not silently become the default).
    pub fn from_json(value: &Value) -> Result<Request, RequestError> {
        let Value::Object(map) = value else {
            return Err(RequestError::new(
                "request",
                format!(
                    "a request must be a JSON object, found {}",
                    json_kind(value)
                ),
            ));
        };
        for key in map.keys() {
            if !FIELDS.contains(&key.as_str()) {
                let hint = suggest::closest(key, FIELDS)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("; the fields are {}", FIELDS.join(", ")));
                return Err(RequestError::new(
                    key.clone(),
                    format!("unknown field{hint}"),
                ));
            }
        }
        let action = match map.get("action") {
            None => {
                return Err(RequestError::new(
                    "action",
                    "is missing; every request names an action",
                ));
            }
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(RequestError::new(
                    "action",
                    format!("must be a string, found {}", json_kind(other)),
                ));
            }
        };
        check_action(&action)?;
        let resource = match map.get("resource") {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(RequestError::new(
                    "resource",
                    format!("must be a string, found {}", json_kind(other)),
                ));
            }
        };
        let confidence = match map.get("confidence") {
            None => None,
            Some(Value::Number(n)) => Some(
                n.as_f64()
                    .ok_or_else(|| RequestError::new("confidence", "is not a finite number"))?,
            ),
            Some(other) => {
                return Err(RequestError::new(
                    "confidence",
                    format!(
                        "must be a number between 0 and 1, found {}",
                        json_kind(other)
                    ),
                ));
            }
        };
        check_confidence(confidence)?;
        Ok(Request {
            action,
            resource,
            confidence,
            context: map.get("context").cloned().unwrap_or(Value::Null),
        })
    }

    /// The request as JSON, in the form [`Request::from_json`] reads.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("action".into(), Value::String(self.action.clone()));
        map.insert("resource".into(), Value::String(self.resource.clone()));
        if let Some(c) = self.confidence {
            map.insert(
                "confidence".into(),
                serde_json::Number::from_f64(c).map_or(Value::Null, Value::Number),
            );
        }
        if !self.context.is_null() {
            map.insert("context".into(), self.context.clone());
        }
        Value::Object(map)
    }
}

pub(crate) fn check_action(action: &str) -> Result<(), RequestError> {
    if action.is_empty() {
        return Err(RequestError::new("action", "must not be empty"));
    }
    Ok(())
}

/// Absent means 0.0. NaN, infinities and values outside [0, 1] are refused: a confidence the
/// agent cannot state is not one to decide on.
pub(crate) fn check_confidence(confidence: Option<f64>) -> Result<f64, RequestError> {
    match confidence {
        None => Ok(0.0),
        Some(c) if c.is_nan() => Err(RequestError::new(
            "confidence",
            "is NaN; it must be a number between 0 and 1",
        )),
        Some(c) if c.is_infinite() => Err(RequestError::new(
            "confidence",
            format!("is {c}; it must be a number between 0 and 1"),
        )),
        Some(c) if !(0.0..=1.0).contains(&c) => Err(RequestError::new(
            "confidence",
            format!("is {c}; it must be between 0 and 1"),
        )),
        Some(c) => Ok(c),
    }
}

/// A JSON value as a person would name it in an error ("the string \"high\"").
pub(crate) fn json_kind(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string \"{s}\""),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}
