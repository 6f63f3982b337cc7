//! Reporters for test results: text in the habit of `cargo test`, JSON, and JUnit XML.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::FileResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Junit,
}

/// Renders results; `errors` are files that could not be run at all (already rendered).
pub fn report(format: Format, results: &[FileResult], errors: &[String]) -> String {
    match format {
        Format::Text => text(results, errors),
        Format::Json => {
            serde_json::to_string_pretty(&json_value(results, errors)).unwrap_or_default() + "\n"
        }
        Format::Junit => junit(results, errors),
    }
}

fn totals(results: &[FileResult]) -> (usize, usize) {
    results
        .iter()
        .fold((0, 0), |(p, f), r| (p + r.passed(), f + r.failed()))
}

fn text(results: &[FileResult], errors: &[String]) -> String {
    let mut out = String::new();
    for r in results {
        let n = r.cases.len();
        let _ = writeln!(
            out,
            "running {n} case{} from {} (policy {})",
            if n == 1 { "" } else { "s" },
            r.file.path.display(),
            r.file.policy.display()
        );
        for c in &r.cases {
            let _ = writeln!(
                out,
                "case {} ... {}",
                c.name,
                if c.passed() { "ok" } else { "FAILED" }
            );
        }
        out.push('\n');
    }
    let failures: Vec<_> = results
        .iter()
        .flat_map(|r| r.cases.iter().filter(|c| !c.passed()).map(move |c| (r, c)))
        .collect();
    if !failures.is_empty() {
        out.push_str("failures:\n\n");
        for (r, c) in &failures {
            let _ = writeln!(
                out,
                "---- {}:{}: {} ----",
                r.file.path.display(),
                c.line,
                c.name
            );
            if let Some(e) = &c.request_error {
                let _ = writeln!(out, "  the request was refused: {e}");
            }
            for m in &c.mismatches {
                let _ = writeln!(out, "  {}:", m.field);
                let _ = writeln!(out, "    expected: {}", m.expected);
                let _ = writeln!(out, "    got:      {}", m.got);
            }
            if let Some(reason) = &c.reason {
                let _ = writeln!(out, "  why: {reason}");
            }
            out.push('\n');
        }
    }
    for e in errors {
        out.push_str(e);
        out.push('\n');
    }
    let (passed, failed) = totals(results);
    let status = if failed == 0 && errors.is_empty() {
        "ok"
    } else {
        "FAILED"
    };
    let broken = if errors.is_empty() {
        String::new()
    } else {
        format!(
            ", {} file{} could not be run",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        )
    };
    let _ = writeln!(
        out,
        "test result: {status}. {passed} passed, {failed} failed{broken}"
    );
    out
}

fn json_value(results: &[FileResult], errors: &[String]) -> Value {
    let (passed, failed) = totals(results);
    let files: Vec<Value> = results
        .iter()
        .map(|r| {
            let cases: Vec<Value> = r
                .cases
                .iter()
                .map(|c| {
                    json!({
                        "name": c.name,
                        "line": c.line,
                        "status": if c.passed() { "ok" } else { "failed" },
                        "requestError": c.request_error,
                        "mismatches": c.mismatches.iter().map(|m| json!({"field": m.field, "expected": m.expected, "got": m.got})).collect::<Vec<_>>(),
                        "reason": c.reason,
                    })
                })
                .collect();
            json!({"file": r.file.path.display().to_string(), "policy": r.file.policy.display().to_string(), "cases": cases})
        })
        .collect();
    json!({"files": files, "errors": errors, "passed": passed, "failed": failed})
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn junit(results: &[FileResult], errors: &[String]) -> String {
    let (passed, failed) = totals(results);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"rekall-policy\" tests=\"{}\" failures=\"{failed}\" errors=\"{}\">",
        passed + failed,
        errors.len()
    );
    for r in results {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\">",
            xml_escape(&r.file.path.display().to_string()),
            r.cases.len(),
            r.failed()
        );
        for c in &r.cases {
            let name = xml_escape(&c.name);
            if c.passed() {
                let _ = writeln!(out, "    <testcase name=\"{name}\"/>");
                continue;
            }
            let mut body = String::new();
            if let Some(e) = &c.request_error {
                let _ = writeln!(body, "the request was refused: {e}");
            }
            for m in &c.mismatches {
                let _ = writeln!(body, "{}: expected {}, got {}", m.field, m.expected, m.got);
            }
            let first = body.lines().next().unwrap_or_default().to_owned();
            let _ = writeln!(
                out,
                "    <testcase name=\"{name}\">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                xml_escape(&first),
                xml_escape(&body)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    for e in errors {
        let _ = writeln!(
            out,
            "  <testsuite name=\"errors\" tests=\"1\" errors=\"1\">\n    <testcase name=\"load\">\n      <error message=\"could not be run\">{}</error>\n    </testcase>\n  </testsuite>",
            xml_escape(e)
        );
    }
    out.push_str("</testsuites>\n");
    out
}
