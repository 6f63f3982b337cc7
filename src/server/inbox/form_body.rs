//! The inbox's form posts (`application/x-www-form-urlencoded`), read strictly: within the
//! configured body size and a bound on the number of pairs, every escape valid, UTF-8, each
//! key known and given once unless the caller says it may repeat (a multiselect's options).
//! Anything else is a 400 page naming what is wrong, never a guess.

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};

use super::InboxState;
use super::page::PageError;
use crate::server::body::read_bytes;

/// The most pairs a form post may hold: a form's fields and a multiselect's options.
pub const MAX_PAIRS: usize = 1000;

/// The pairs of a form post, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormBody(pub Vec<(String, String)>);

impl FromRequest<InboxState> for FormBody {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &InboxState) -> Result<FormBody, PageError> {
        let urlencoded = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !urlencoded {
            return Err(PageError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a form post must be sent as application/x-www-form-urlencoded",
            ));
        }
        let bytes = read_bytes(req, state.app.limits.body_bytes)
            .await
            .map_err(|e| PageError::new(e.status, e.message))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| PageError::bad_request("the form post is not UTF-8 text"))?;
        parse(text).map(FormBody).map_err(PageError::bad_request)
    }
}

/// The pairs of urlencoded text, strictly.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    if text.is_empty() {
        return Ok(pairs);
    }
    for part in text.split('&') {
        if pairs.len() == MAX_PAIRS {
            return Err(format!("the form post holds more than {MAX_PAIRS} values"));
        }
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let key = decode(key)?;
        if key.is_empty() {
            return Err("the form post holds a value without a name".into());
        }
        pairs.push((key, decode(value)?));
    }
    Ok(pairs)
}

/// `+` as a space and `%XX` as a byte, the whole as UTF-8.
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        "the form post holds a `%` that is not followed by two hex digits"
                            .to_owned()
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "the form post holds escapes that are not UTF-8".into())
}

impl FormBody {
    /// Refuses a key that `known` does not accept, and a key given twice that `repeats` does
    /// not accept.
    pub fn allow(
        &self,
        known: impl Fn(&str) -> bool,
        repeats: impl Fn(&str) -> bool,
    ) -> Result<(), PageError> {
        for (i, (key, _)) in self.0.iter().enumerate() {
            if !known(key) {
                return Err(PageError::bad_request(format!(
                    "the form post holds `{key}`, which this form does not have"
                )));
            }
            if !repeats(key) && self.0[..i].iter().any(|(k, _)| k == key) {
                return Err(PageError::bad_request(format!(
                    "the form post gives `{key}` twice"
                )));
            }
        }
        Ok(())
    }

    /// The value of `key` (call [`FormBody::allow`] first, so that it is given once at most).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_decoded_in_order() {
        assert_eq!(
            parse("a=1&b=x+y%26z&c=&d&a=%C3%A9").unwrap(),
            [
                ("a".into(), "1".into()),
                ("b".into(), "x y&z".into()),
                ("c".into(), String::new()),
                ("d".into(), String::new()),
                ("a".into(), "é".into()),
            ]
        );
        assert_eq!(parse("").unwrap(), []);
    }

    #[test]
    fn bad_escapes_names_and_sizes_are_refused() {
        for bad in ["a=%", "a=%4", "a=%zz", "a=%FF", "=1", "a=1&&b=2", "%C3=1"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let many = vec!["a=1"; MAX_PAIRS + 1].join("&");
        assert!(parse(&many).is_err());
        assert!(parse(&vec!["a=1"; MAX_PAIRS].join("&")).is_ok());
    }

    #[test]
    fn repeats_only_where_allowed() {
        let f = FormBody(parse("csrf=t&a.tags=x&a.tags=y").unwrap());
        assert!(f.allow(|_| true, |k| k == "a.tags").is_ok());
        assert!(f.allow(|_| true, |_| false).is_err());
        assert!(f.allow(|k| k == "csrf", |_| true).is_err());
        assert_eq!(f.all("a.tags").collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(f.get("csrf"), Some("t"));
    }
}
