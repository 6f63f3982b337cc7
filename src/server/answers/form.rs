//! `application/x-www-form-urlencoded` bodies, read strictly: only the fields a form has, each
//! at most once and within its length, so that a hand-made body cannot slip in a second value
//! or a field that some later reader would trust.

use std::collections::BTreeMap;

/// A form's fields by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(BTreeMap<String, String>);

impl Form {
    /// The fields of `body`: each of `allowed` (name, most characters) at most once, nothing
    /// else. The error names what is wrong.
    pub fn parse(body: &[u8], allowed: &[(&str, usize)]) -> Result<Form, String> {
        let mut fields = BTreeMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            let Some((_, max)) = allowed.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
                return Err(if names.is_empty() {
                    format!("unknown field `{name}`: this form takes no fields")
                } else {
                    format!(
                        "unknown field `{name}`; the fields are {}",
                        names.join(", ")
                    )
                });
            };
            let chars = value.chars().count();
            if chars > *max {
                return Err(format!(
                    "`{name}` has {chars} characters; at most {max} are taken"
                ));
            }
            if fields
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                return Err(format!("`{name}` is given more than once"));
            }
        }
        Ok(Form(fields))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A field's text, or none when it is missing or only white space.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[(&str, usize)] = &[("comment", 7), ("payload", 100)];

    #[test]
    fn known_fields_are_read_once_within_their_length() {
        let f = Form::parse(b"comment=ok+%26+go&payload=%7B%7D", FIELDS).unwrap();
        assert_eq!(f.get("comment"), Some("ok & go"));
        assert_eq!(f.get("payload"), Some("{}"));
        assert_eq!(Form::parse(b"", FIELDS).unwrap(), Form::default());
        assert_eq!(
            Form::parse(b"comment=+", FIELDS).unwrap().text("comment"),
            None
        );
    }

    #[test]
    fn unknown_repeated_or_long_fields_are_refused() {
        let e = Form::parse(b"approvedBy=user:mallory", FIELDS).unwrap_err();
        assert!(e.contains("unknown field `approvedBy`"), "{e}");
        let e = Form::parse(b"comment=a&comment=b", FIELDS).unwrap_err();
        assert!(e.contains("more than once"), "{e}");
        let e = Form::parse(b"comment=abcdefgh", FIELDS).unwrap_err();
        assert!(e.contains("8 characters"), "{e}");
        assert!(
            Form::parse(b"x=1", &[])
                .unwrap_err()
                .contains("takes no fields")
        );
    }
}
