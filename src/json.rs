//! Strict JSON reading, for every JSON text that comes from outside: requests, form answers,
//! request files, and the HTTP bodies to come.
//!
//! Two readers of one text must never see two different documents, so:
//!
//! - a key that occurs twice in one object is an error naming the key (a plain reader keeps
//!   the last one, so `{"action":"delete","action":"read"}` would be decided as `read` while a
//!   log or a proxy that keeps the first one sees `delete`);
//! - a number is the double nearest to its decimal text (serde_json's `float_roundtrip`
//!   reading; its fast default is off by one ulp for about one text in ten, which matters
//!   exactly at band edges);
//! - nesting is at most [`MAX_DEPTH`] deep (serde_json's own limit), so neither reading nor
//!   dropping a document recurses without bound;
//! - anything after the document, other than white space, is an error.
//!
//! ```
//! use rekall_policy::json;
//!
//! assert_eq!(json::parse(r#"{"confidence":0.39999999999999997}"#)?["confidence"], 0.39999999999999997);
//! let err = json::parse(r#"{"action":"delete","action":"read"}"#).unwrap_err();
//! assert_eq!(err.duplicate_key(), Some("action"));
//! assert_eq!(err.to_string(), "duplicate key `action` at line 1 column 27");
//! # Ok::<(), json::JsonError>(())
//! ```

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The deepest nesting of arrays and objects a document may have.
pub const MAX_DEPTH: usize = 128;

/// Why a text is not strict JSON, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JsonError {
    message: String,
    duplicate: Option<Duplicate>,
    line: usize,
    column: usize,
}

/// A key given twice, and the keys (or array indices) of the object holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Duplicate {
    key: String,
    within: Vec<String>,
}

impl JsonError {
    /// The key that occurs twice in one object, when that is the error.
    pub fn duplicate_key(&self) -> Option<&str> {
        self.duplicate.as_ref().map(|d| d.key.as_str())
    }

    /// Where the object holding the duplicated key is: the keys and array indices from the
    /// top (empty for the top-level object).
    pub fn duplicate_within(&self) -> &[String] {
        self.duplicate.as_ref().map_or(&[], |d| d.within.as_slice())
    }

    /// The 1-based line of the error (0 when the text ended early).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The 1-based column of the error.
    pub fn column(&self) -> usize {
        self.column
    }
}

/// Reads one JSON document strictly (see the module docs).
pub fn parse(text: &str) -> Result<Value, JsonError> {
    let mut reader = serde_json::Deserializer::from_str(text);
    let mut path = Path::default();
    let value = Strict { path: &mut path }
        .deserialize(&mut reader)
        .and_then(|value| reader.end().map(|()| value));
    value.map_err(|e| JsonError {
        message: e.to_string(),
        duplicate: path.duplicate,
        line: e.line(),
        column: e.column(),
    })
}

/// Reads one JSON document that must be an object.
pub fn parse_object(text: &str) -> Result<Map<String, Value>, JsonError> {
    match parse(text)? {
        Value::Object(map) => Ok(map),
        other => Err(JsonError {
            message: format!("expected a JSON object, found {}", kind(&other)),
            duplicate: None,
            line: 1,
            column: 1,
        }),
    }
}

/// A JSON value as a person would name it in an error ("the string \"high\"").
pub(crate) fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => match s.char_indices().nth(60) {
            // Whatever its length, an error quotes the start of it.
            Some((cut, _)) => format!("the string \"{}...\" ({} bytes)", &s[..cut], s.len()),
            None => format!("the string \"{s}\""),
        },
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Builds a [`Value`] as serde_json's own does, refusing duplicate keys. It records where it
/// is and the duplicate key, since serde's error type only carries a message.
struct Strict<'a> {
    path: &'a mut Path,
}

#[derive(Debug, Default)]
struct Path {
    at: Vec<String>,
    duplicate: Option<Duplicate>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        Number::from_f64(n)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number must be finite"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            self.path.at.push(items.len().to_string());
            let item = seq.next_element_seed(Strict {
                path: &mut *self.path,
            })?;
            self.path.at.pop();
            match item {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let message = format!("duplicate key `{key}`");
                self.path.duplicate = Some(Duplicate {
                    key,
                    within: self.path.at.clone(),
                });
                return Err(de::Error::custom(message));
            }
            self.path.at.push(key);
            let value = map.next_value_seed(Strict {
                path: &mut *self.path,
            })?;
            let key = self.path.at.pop().unwrap_or_default();
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Lets `#[derive(Deserialize)]` types hold a strictly read value.
#[derive(Debug, Clone, PartialEq)]
pub struct StrictValue(pub Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<StrictValue, D::Error> {
        Strict {
            path: &mut Path::default(),
        }
        .deserialize(d)
        .map(StrictValue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_every_depth() {
        for text in [
            r#"{"a":1,"a":1}"#,
            r#"{"x":{"a":1,"b":2,"a":3}}"#,
            r#"[{"ok":1},{"a":[],"a":{}}]"#,
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.duplicate_key(), Some("a"), "{text}");
            assert!(!err.duplicate_within().contains(&"a".to_owned()), "{text}");
            assert!(err.to_string().starts_with("duplicate key `a` at line 1"));
        }
        assert_eq!(
            parse(r#"{"a":{"a":1},"b":{"a":2}}"#).unwrap()["b"]["a"],
            2,
            "the same key in different objects is fine"
        );
        let err = parse(r#"{"x":[{},{"y":{"a":1,"a":2}}]}"#).unwrap_err();
        assert_eq!(err.duplicate_within(), ["x", "1", "y"]);
    }

    #[test]
    fn numbers_are_the_nearest_double() {
        for text in [
            "0.39999999999999997",
            "0.9999999999999999",
            "0.30000000000000004",
            "2.2250738585072014e-308",
            "0.1",
        ] {
            let read = parse(text).unwrap().as_f64().unwrap();
            assert_eq!(read, text.parse::<f64>().unwrap(), "{text}");
        }
    }

    #[test]
    fn nesting_and_trailing_text_are_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).unwrap_err().to_string().contains("recursion"));
        let fine = "[".repeat(MAX_DEPTH - 1) + &"]".repeat(MAX_DEPTH - 1);
        assert!(parse(&fine).is_ok());
        assert!(parse("{} {}").is_err());
        assert!(parse(" {} \n").is_ok());
        assert_eq!(
            parse_object("[1]").unwrap_err().to_string(),
            "expected a JSON object, found a list"
        );
    }
}
