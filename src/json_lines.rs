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

/// The most bytes one line may have: a request is a few hundred bytes, and its fields at most
/// 4 KiB each; a longer line is an error about that line, read past without being held.
pub const MAX_LINE_BYTES: usize = 1 << 20;

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
        let (read, complete) = read_line_within(&mut reader, &mut buf, MAX_LINE_BYTES)?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        if !complete {
            each(
                number,
                Err(format!(
                    "the line is {read} bytes long; a line may have at most {MAX_LINE_BYTES}"
                )),
            );
            continue;
        }
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

/// Reads one line into `buf`, keeping at most `max` bytes of it (and its line break). Returns
/// how many bytes the line had, and whether it fitted.
fn read_line_within(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, bool)> {
    let mut total = 0;
    let mut fits = true;
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((total, fits));
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (&available[..=at], true),
            None => (available, false),
        };
        let used = chunk.len();
        total += used;
        if fits && buf.len() + used <= max + 1 {
            buf.extend_from_slice(chunk);
        } else {
            fits = false;
            buf.clear();
        }
        reader.consume(used);
        if done {
            return Ok((total, fits));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_over_the_limit_is_an_error_and_is_not_held() {
        let mut log = b"{\"action\":\"a\"}\n".to_vec();
        log.extend(std::iter::repeat_n(b'x', 3 * MAX_LINE_BYTES));
        log.extend(b"\n{\"action\":\"b\"}\n");
        let mut seen = Vec::new();
        let reader = std::io::BufReader::with_capacity(4096, &log[..]);
        for_each_line(reader, |n, text| seen.push((n, text.map(str::to_owned)))).unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], (1, Ok("{\"action\":\"a\"}".to_owned())));
        let err = seen[1].1.as_ref().unwrap_err();
        assert!(err.contains("at most 1048576"), "{err}");
        assert_eq!(seen[2], (3, Ok("{\"action\":\"b\"}".to_owned())));
        // Exactly at the limit is fine.
        let line = vec![b' '; MAX_LINE_BYTES];
        let mut n = 0;
        for_each_line(&line[..], |_, t| {
            assert!(t.is_ok());
            n += 1
        })
        .unwrap();
        assert_eq!(n, 0, "a blank line is skipped");
    }

    #[test]
    fn reading_keeps_at_most_the_limit() {
        let long = vec![b'y'; 5 * MAX_LINE_BYTES];
        let mut buf = Vec::new();
        let mut reader = std::io::BufReader::new(&long[..]);
        let (read, fits) = read_line_within(&mut reader, &mut buf, MAX_LINE_BYTES).unwrap();
        assert_eq!((read, fits), (5 * MAX_LINE_BYTES, false));
        assert!(
            buf.capacity() <= 2 * MAX_LINE_BYTES + 8192,
            "{}",
            buf.capacity()
        );
    }
}
