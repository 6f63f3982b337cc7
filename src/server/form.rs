//! Form posts (`application/x-www-form-urlencoded`: the inbox's forms, an email link's page,
//! Slack's interaction callback), read strictly: a bound on the number of pairs, every escape
//! valid, UTF-8, each key known and given once unless the caller says it may repeat (a
//! multiselect's options), and, where the caller says so, a bound on each value's length.
//! Anything else is an error naming what is wrong, never a guess.

/// The most pairs a form post may hold: a form's fields and a multiselect's options.
pub const MAX_PAIRS: usize = 1000;

/// The pairs of a form post, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// The pairs of urlencoded bytes, strictly.
    pub fn parse(body: &[u8]) -> Result<Form, String> {
        let text = std::str::from_utf8(body).map_err(|_| "the form post is not UTF-8 text")?;
        parse(text).map(Form)
    }

    /// [`Form::parse`], then [`Form::fields`]: a form of known fields, each at most once and
    /// at most its number of characters.
    pub fn parse_fields(body: &[u8], allowed: &[(&str, usize)]) -> Result<Form, String> {
        let form = Form::parse(body)?;
        form.fields(allowed)?;
        Ok(form)
    }

    /// Refuses a key that `known` does not accept, and a key given twice that `repeats` does
    /// not accept.
    pub fn allow(
        &self,
        known: impl Fn(&str) -> bool,
        repeats: impl Fn(&str) -> bool,
    ) -> Result<(), String> {
        for (i, (key, _)) in self.0.iter().enumerate() {
            if !known(key) {
                return Err(format!(
                    "the form post holds `{key}`, which this form does not have"
                ));
            }
            if !repeats(key) && self.0[..i].iter().any(|(k, _)| k == key) {
                return Err(format!("the form post gives `{key}` twice"));
            }
        }
        Ok(())
    }

    /// Refuses a key not in `allowed`, a key given twice, and a value longer than its
    /// field's number of characters.
    pub fn fields(&self, allowed: &[(&str, usize)]) -> Result<(), String> {
        let max = |key: &str| allowed.iter().find(|(n, _)| *n == key).map(|(_, m)| *m);
        self.allow(|k| max(k).is_some(), |_| false).map_err(|e| {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            if names.is_empty() {
                format!("{e}; it takes no fields")
            } else {
                format!("{e}; its fields are {}", names.join(", "))
            }
        })?;
        for (key, value) in &self.0 {
            let limit = max(key).unwrap_or(0);
            let chars = value.chars().count();
            if chars > limit {
                return Err(format!(
                    "`{key}` has {chars} characters; at most {limit} are taken"
                ));
            }
        }
        Ok(())
    }

    /// The value of `key` (call [`Form::allow`] first, so that it is given once at most).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key` trimmed, when it holds more than white space.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.get(key).map(str::trim).filter(|t| !t.is_empty())
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
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
        assert!(
            Form::parse(b"a=\xff").is_err(),
            "raw bytes that are not UTF-8"
        );
    }

    #[test]
    fn repeats_only_where_allowed() {
        let f = Form(parse("csrf=t&a.tags=x&a.tags=y").unwrap());
        assert!(f.allow(|_| true, |k| k == "a.tags").is_ok());
        assert!(f.allow(|_| true, |_| false).is_err());
        assert!(f.allow(|k| k == "csrf", |_| true).is_err());
        assert_eq!(f.all("a.tags").collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(f.get("csrf"), Some("t"));
    }

    const FIELDS: &[(&str, usize)] = &[("comment", 7), ("payload", 100)];

    #[test]
    fn known_fields_are_read_once_within_their_length() {
        let f = Form::parse_fields(b"comment=ok+%26+go&payload=%7B%7D", FIELDS).unwrap();
        assert_eq!(f.get("comment"), Some("ok & go"));
        assert_eq!(f.get("payload"), Some("{}"));
        assert_eq!(Form::parse_fields(b"", FIELDS).unwrap(), Form::default());
        assert_eq!(
            Form::parse_fields(b"comment=+", FIELDS)
                .unwrap()
                .text("comment"),
            None
        );
    }

    #[test]
    fn unknown_repeated_or_long_fields_are_refused() {
        let e = Form::parse_fields(b"approvedBy=user:mallory", FIELDS).unwrap_err();
        assert!(
            e.contains("`approvedBy`") && e.contains("comment, payload"),
            "{e}"
        );
        let e = Form::parse_fields(b"comment=a&comment=b", FIELDS).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e = Form::parse_fields(b"comment=abcdefgh", FIELDS).unwrap_err();
        assert!(e.contains("8 characters"), "{e}");
        assert!(
            Form::parse_fields(b"x=1", &[])
                .unwrap_err()
                .contains("takes no fields")
        );
    }
}
