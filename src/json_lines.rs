//! JSON Lines of requests, as `eval --input` and `diff --requests` read them (a log exported
//! by the runtime, or one written by hand): one request per line, numbered from 1.
//!
//! A line is judged alone: a line that is not UTF-8 text, not JSON or not a request is an error
//! about that line, and the lines after it are still read, so one bad byte in a log does not
//! hide the decisions after it. A byte-order mark before the first line is skipped (editors on
//! Windows write one). Each line is read strictly, with [`crate::json::parse`]: a key given
//! twice is refused naming the key, and a number is the double nearest to its text.
//!
//! ```
//! use rekall_policy::json_lines;
//!
//! let log = b"\xEF\xBB\xBF{\"action\":\"deploy\"}\n\xFF\n\n{\"action\":\"a\",\"action\":\"b\"}\n";
//! let mut seen = Vec::new();
//! json_lines::for_each_line(&log[..], |n, text| {
//!     seen.push((n, text.map(|t| json_lines::request(t).map(|r| r.request.action))));
//! })?;
//! assert_eq!(seen[0], (1, Ok(Ok("deploy".to_owned()))));
//! assert!(seen[1].1.as_ref().unwrap_err().contains("not UTF-8"));
//! let dup = seen[2].1.as_ref().unwrap().as_ref().unwrap_err();
//! assert_eq!((seen[2].0, dup.field.as_deref()), (4, Some("action")));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::BufRead;

use serde_json::Value;

use crate::request::{self, Request};

/// Calls `each` for every line that is not blank, with its 1-based number and its text
/// (without the line break), or why it is not text. Only a failure to read is an error.
pub fn for_each_line(
    mut reader: impl BufRead,
    mut each: impl FnMut(usize, Result<&str, String>),
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        number += 1;
        let mut bytes = buf.as_slice();
        if number == 1 {
            bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
        }
        match std::str::from_utf8(bytes) {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => each(number, Ok(text.trim_end_matches(['\n', '\r']))),
            Err(e) => each(number, Err(format!("not UTF-8 text: {e}"))),
        }
    }
}

/// A line read as a request, with the `id` it carries to be echoed back.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLine {
    pub request: Request,
    pub id: Option<Value>,
}

/// Why a line is not a request: the field to blame, when there is one, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub field: Option<String>,
    pub message: String,
    /// The line's `id`, when it is a JSON object that has one.
    pub id: Option<Value>,
}

/// Reads one line's text as a request.
pub fn request(text: &str) -> Result<RequestLine, LineError> {
    let value = crate::json::parse(text).map_err(|e| {
        let (field, message) = if e.duplicate_key().is_some() {
            let e = request::json_error(e);
            (Some(e.field), e.message)
        } else {
            (None, format!("invalid JSON: {e}"))
        };
        LineError {
            field,
            message,
            id: None,
        }
    })?;
    let id = value.get("id").cloned();
    match Request::from_json(&value) {
        Ok(request) => Ok(RequestLine { request, id }),
        Err(e) => Err(LineError {
            field: Some(e.field),
            message: e.message,
            id,
        }),
    }
}
