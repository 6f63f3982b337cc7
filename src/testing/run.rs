//! Running a test file's cases against its policy.

use serde_json::Value;

use super::TestFile;
use crate::ir::Duration;
use crate::{Policy, Request};

/// One expected field that came out otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub field: String,
    pub expected: Value,
    pub got: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub name: String,
    pub line: u32,
    pub mismatches: Vec<Mismatch>,
    /// The request was refused, so there was no decision to compare.
    pub request_error: Option<String>,
    /// The decision's one-line reason, to show beside a failure.
    pub reason: Option<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty() && self.request_error.is_none()
    }
}

#[derive(Debug, Clone)]
pub struct FileResult {
    pub file: TestFile,
    pub cases: Vec<CaseResult>,
}

impl FileResult {
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed()).count()
    }

    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

/// Runs every case of a file against its (already loaded) policy.
pub fn run_file(file: TestFile, policy: &Policy) -> FileResult {
    let cases = file.cases.iter().map(|case| {
        let mut result = CaseResult {
            name: case.name.clone(),
            line: case.line,
            mismatches: Vec::new(),
            request_error: None,
            reason: None,
        };
        let decision = Request::from_json(&case.request).and_then(|r| policy.decide(&r));
        match decision {
            Err(e) => result.request_error = Some(e.to_string()),
            Ok(decision) => {
                let got = serde_json::to_value(decision).unwrap_or(Value::Null);
                for (field, expected) in &case.expect {
                    let actual = got.get(field).cloned().unwrap_or(Value::Null);
                    if !same(field, expected, &actual) {
                        result.mismatches.push(Mismatch {
                            field: field.clone(),
                            expected: expected.clone(),
                            got: actual,
                        });
                    }
                }
                result.reason = Some(decision.reason());
            }
        }
        result
    });
    let cases = cases.collect();
    FileResult { file, cases }
}

/// Equality of an expected and an actual field: numbers by value (so `1` equals `1.0`) and
/// durations either as milliseconds or as written (`1h`).
fn same(field: &str, expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(text), Value::Number(ms)) if matches!(field, "timeout" | "remindEvery") => {
            Duration::parse(text).is_ok_and(|d| Some(d.as_millis()) == ms.as_u64())
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(field, x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            // A chain step may be given in part; the fields it names must match.
            a.iter()
                .all(|(k, v)| b.get(k).is_some_and(|w| same(k, v, w)))
        }
        _ => expected == actual,
    }
}
