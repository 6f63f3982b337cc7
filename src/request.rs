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

    /// Checks everything decided on: a non-empty action, fields within
    /// [`MAX_FIELD_BYTES`], and a usable confidence.
    pub fn check(&self) -> Result<f64, RequestError> {
        self.check_within(&Limits::default())
    }

    /// [`Request::check`] with other limits.
    pub fn check_within(&self, limits: &Limits) -> Result<f64, RequestError> {
        check_action(&self.action)?;
        limits.check_field("action", &self.action)?;
        limits.check_field("resource", &self.resource)?;
        self.checked_confidence()
    }

    /// Reads a request from JSON text, strictly (see [`crate::json`]): a key given twice is an
    /// error naming it, and a confidence is the double nearest to its text.
    ///
    /// ```
    /// use rekall_policy::Request;
    ///
    /// let r = Request::from_json_str(r#"{"action":"deploy","confidence":0.39999999999999997}"#)?;
    /// assert!(r.confidence.unwrap() < 0.4);
    /// let err = Request::from_json_str(r#"{"action":"delete","action":"read"}"#).unwrap_err();
    /// assert_eq!(err.field, "action");
    /// assert_eq!(err.message, "appears twice; a request names each field once");
    /// # Ok::<(), rekall_policy::RequestError>(())
    /// ```
    pub fn from_json_str(text: &str) -> Result<Request, RequestError> {
        let value = crate::json::parse(text).map_err(json_error)?;
        Request::from_json(&value)
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
            if key.is_empty() {
                return Err(RequestError::new(
                    "request",
                    format!("a key is empty; the fields are {}", FIELDS.join(", ")),
                ));
            }
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

/// A JSON reading error as a request error: a duplicated key is named as the field.
pub(crate) fn json_error(e: crate::json::JsonError) -> RequestError {
    match (e.duplicate_key(), e.duplicate_within()) {
        (Some(""), []) => RequestError::new("request", "the empty key appears twice"),
        (Some(key), []) => RequestError::new(key, "appears twice; a request names each field once"),
        (Some(key), within) => RequestError::new(
            within.first().map_or("request", String::as_str),
            format!(
                "the key `{key}` appears twice in `{}` ({e})",
                within.join(".")
            ),
        ),
        (None, _) => RequestError::new("request", format!("invalid JSON: {e}")),
    }
}

/// The most bytes an `action` or a `resource` may have by default: far beyond any real name,
/// and small enough that no glob matcher can be made to work long on one.
pub const MAX_FIELD_BYTES: usize = 4096;

/// Bounds on what a request may hold. Longer is an error naming the field, never a decision:
/// in the runtime, such a call is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes of UTF-8 an `action` or a `resource` may have.
    pub max_field_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_field_bytes: MAX_FIELD_BYTES,
        }
    }
}

impl Limits {
    pub(crate) fn check_field(&self, field: &str, value: &str) -> Result<(), RequestError> {
        if value.len() > self.max_field_bytes {
            return Err(RequestError::new(
                field,
                format!(
                    "is {} bytes long; the most a request may give is {} bytes",
                    value.len(),
                    self.max_field_bytes
                ),
            ));
        }
        Ok(())
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

pub(crate) use crate::json::kind as json_kind;
