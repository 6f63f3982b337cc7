//! Request bodies and query strings, read strictly: the body through the project's strict
//! JSON reader (a key given twice is refused, nesting is bounded), within the configured size,
//! and every field through [`Obj`], which names the JSON path of whatever is wrong.
//!
//! Shape errors (an unknown key, a wrong JSON type) are 400 `bad_request`; a value of the
//! right type that is not allowed is 422 `invalid_field`. A body that names a principal
//! (`approvedBy`, `principal`) is refused: the principal is always the token's.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use http_body_util::{BodyExt, Limited};
use serde_json::{Map, Value};

use super::app::AppState;
use super::error::ApiError;
use crate::ir::{Duration, Principal};

/// Keys that would say who is acting; refused wherever they appear at the top of a body.
const PRINCIPAL_KEYS: [&str; 3] = ["approvedBy", "principal", "agent"];

/// A JSON object body. An empty body reads as `{}`, for the calls whose fields are all
/// optional (`POST .../start`).
#[derive(Debug)]
pub struct Json(pub Obj);

impl FromRequest<AppState> for Json {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Json, ApiError> {
        let bytes = read_bytes(req, state.limits.body_bytes).await?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ApiError::bad_json("the body is not UTF-8 text"))?;
        if text.trim().is_empty() {
            return Ok(Json(Obj::new(Map::new(), "")));
        }
        let value = crate::json::parse(text).map_err(|e| {
            let err = ApiError::bad_json(format!("the body is not valid JSON: {e}"));
            match e.duplicate_key() {
                Some(key) => {
                    let mut path: Vec<&str> =
                        e.duplicate_within().iter().map(String::as_str).collect();
                    path.push(key);
                    err.field(path.join("."))
                }
                None => err,
            }
        })?;
        match value {
            Value::Object(map) => Ok(Json(Obj::new(map, ""))),
            other => Err(ApiError::bad_json(format!(
                "the body must be a JSON object, found {}",
                crate::json::kind(&other)
            ))),
        }
    }
}

/// The body's bytes, at most `limit` of them (declared or not): over it is 413.
pub async fn read_bytes(req: Request, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    Ok(Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::too_large(limit)
            } else {
                ApiError::bad_json(format!("the body could not be read: {e}"))
            }
        })?
        .to_bytes())
}

/// A JSON object being read, with where it is in the body.
#[derive(Debug, Clone)]
pub struct Obj {
    map: Map<String, Value>,
    path: String,
}

impl Obj {
    pub fn new(map: Map<String, Value>, path: &str) -> Obj {
        Obj {
            map,
            path: path.to_owned(),
        }
    }

    /// The object itself, for a reader of its own (such as a policy request).
    pub fn into_map(self) -> Map<String, Value> {
        self.map
    }

    /// The JSON path of a key of this object.
    pub fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Refuses any key not in `allowed`, and (at the top) any key naming a principal.
    pub fn allow(&self, allowed: &[&str]) -> Result<(), ApiError> {
        for key in self.map.keys() {
            if self.path.is_empty() && PRINCIPAL_KEYS.contains(&key.as_str()) {
                return Err(ApiError::bad_request(
                    self.at(key),
                    format!(
                        "`{key}` may not be given: the principal is the one the token stands for"
                    ),
                ));
            }
            if !allowed.contains(&key.as_str()) {
                let hint = crate::suggest::closest(key, allowed.iter().copied())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_else(|| {
                        if allowed.is_empty() {
                            "; this body takes no fields".into()
                        } else {
                            format!("; the fields are {}", allowed.join(", "))
                        }
                    });
                return Err(ApiError::bad_request(
                    self.at(key),
                    format!("unknown field `{key}`{hint}"),
                ));
            }
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&self, key: &str, expected: &str, found: &Value) -> ApiError {
        ApiError::bad_request(
            self.at(key),
            format!(
                "`{}` must be {expected}, found {}",
                self.at(key),
                crate::json::kind(found)
            ),
        )
    }

    /// A value as it is (absent or null: `None`).
    pub fn value(&self, key: &str) -> Option<Value> {
        self.get(key).cloned()
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A string that must be given and not be blank.
    pub fn str(&self, key: &str) -> Result<String, ApiError> {
        match self.opt_str(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(ApiError::invalid(
                self.at(key),
                format!("`{}` must not be empty", self.at(key)),
            )),
            None => Err(ApiError::invalid(
                self.at(key),
                format!("`{}` is required", self.at(key)),
            )),
        }
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| ApiError::invalid(self.at(key), "is not a finite number")),
            Some(other) => Err(self.wrong(key, "a number", other)),
        }
    }

    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
                ApiError::invalid(
                    self.at(key),
                    format!(
                        "`{}` must be a whole number of at least 0, found {n}",
                        self.at(key)
                    ),
                )
            }),
            Some(other) => Err(self.wrong(key, "a whole number", other)),
        }
    }

    /// A duration: milliseconds, or a duration string (`"1h"`).
    pub fn opt_duration(&self, key: &str) -> Result<Option<Duration>, ApiError> {
        let text = match self.get(key) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(self.wrong(key, "milliseconds or a duration such as \"1h\"", other));
            }
        };
        Duration::parse(&text).map(Some).map_err(|e| {
            ApiError::invalid(
                self.at(key),
                format!("`{text}` is not a duration: {e}; give milliseconds or a duration such as \"30s\""),
            )
        })
    }

    pub fn opt_obj(&self, key: &str) -> Result<Option<Obj>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj::new(map.clone(), &self.at(key)))),
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }

    /// A list's items, each with its path.
    pub fn opt_list(&self, key: &str) -> Result<Option<Vec<(String, Value)>>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("{}[{i}]", self.at(key)), v.clone()))
                    .collect(),
            )),
            Some(other) => Err(self.wrong(key, "a list", other)),
        }
    }

    /// A list of objects.
    pub fn opt_objs(&self, key: &str) -> Result<Option<Vec<Obj>>, ApiError> {
        let Some(items) = self.opt_list(key)? else {
            return Ok(None);
        };
        items
            .into_iter()
            .map(|(path, v)| match v {
                Value::Object(map) => Ok(Obj::new(map, &path)),
                other => Err(ApiError::bad_request(
                    path.clone(),
                    format!(
                        "`{path}` must be an object, found {}",
                        crate::json::kind(&other)
                    ),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    pub fn opt_strs(&self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        let Some(items) = self.opt_list(key)? else {
            return Ok(None);
        };
        items
            .into_iter()
            .map(|(path, v)| match v {
                Value::String(s) => Ok(s),
                other => Err(ApiError::bad_request(
                    path.clone(),
                    format!(
                        "`{path}` must be a string, found {}",
                        crate::json::kind(&other)
                    ),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A list of principals (`user:adam`).
    pub fn opt_principals(&self, key: &str) -> Result<Option<Vec<Principal>>, ApiError> {
        let Some(names) = self.opt_strs(key)? else {
            return Ok(None);
        };
        names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                Principal::parse(name).ok_or_else(|| {
                    ApiError::invalid(
                        format!("{}[{i}]", self.at(key)),
                        format!("`{name}` is not a principal of the form `kind:name` (such as user:adam)"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// A query string, read strictly: each parameter known, given once.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl FromRequestParts<AppState> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Params, ApiError> {
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|q| Params(q.0))
            .map_err(|_| {
                ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the query string cannot be read: write it as key=value pairs joined by &",
                )
            })
    }
}

impl Params {
    /// Refuses parameters not in `allowed`, and any given twice.
    pub fn allow(&self, allowed: &[&str]) -> Result<(), ApiError> {
        for (i, (key, _)) in self.0.iter().enumerate() {
            if !allowed.contains(&key.as_str()) {
                let known = if allowed.is_empty() {
                    "this endpoint takes none".to_owned()
                } else {
                    format!("the parameters are {}", allowed.join(", "))
                };
                return Err(ApiError::bad_request(
                    key.clone(),
                    format!("unknown query parameter `{key}`; {known}"),
                ));
            }
            if self.0[..i].iter().any(|(k, _)| k == key) {
                return Err(ApiError::bad_request(
                    key.clone(),
                    format!("the query parameter `{key}` is given twice"),
                ));
            }
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter parsed with `parse`, whose error message is given to the caller as 422.
    pub fn parsed<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ApiError> {
        self.get(key)
            .map(|v| parse(v).map_err(|e| ApiError::invalid(key, e)))
            .transpose()
    }
}
