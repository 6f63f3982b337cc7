//! `rekall-policy check PATH... [--format text|json]`

use std::path::PathBuf;

use serde_json::{Value, json};

use super::{Format, exit, input};
use crate::diagnostic::PolicyError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy files, directories (every `.yaml`, `.yml` and `.rkl` under them, test files
    /// skipped) or `-` for standard input.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format: located errors for people, or one JSON report for tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// One file's errors as JSON: where each is, its stable code, the message and the hint.
fn errors_json(e: &PolicyError) -> Vec<Value> {
    e.diagnostics
        .iter()
        .map(|d| {
            json!({
                "line": d.span.line,
                "column": d.span.col,
                "endLine": d.span.end_line,
                "endColumn": d.span.end_col,
                "code": d.kind.code(),
                "message": d.kind.to_string(),
                "help": d.kind.hint(),
            })
        })
        .collect()
}

pub fn run(args: &Args) -> u8 {
    if let Err(e) = input::one_stdin(args.paths.iter().map(PathBuf::as_path)) {
        eprintln!("error: {e}");
        return exit::TOOL;
    }
    let mut files = Vec::new();
    for path in &args.paths {
        match input::expand(path) {
            Ok(found) if found.is_empty() => {
                eprintln!(
                    "error: {}: no policy files (.yaml, .yml, .rkl) in this directory",
                    path.display()
                );
                return exit::TOOL;
            }
            Ok(found) => files.extend(found),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return exit::TOOL;
            }
        }
    }
    let mut failed = 0;
    let mut errors = 0;
    let mut checked = 0;
    let mut reports = Vec::new();
    for file in &files {
        if super::skip_test_file(file) {
            continue;
        }
        checked += 1;
        let name = if input::is_stdin(file) {
            input::STDIN_NAME.to_owned()
        } else {
            file.display().to_string()
        };
        match input::read_policy(file) {
            Ok(_) => match args.format {
                Format::Text => println!("{name}: ok"),
                Format::Json => reports.push(json!({"file": name, "valid": true, "errors": []})),
            },
            Err(e) => {
                failed += 1;
                errors += e.diagnostics.len();
                match args.format {
                    Format::Text => print!("{}", super::color::diagnostics(&e.render())),
                    Format::Json => reports
                        .push(json!({"file": name, "valid": false, "errors": errors_json(&e)})),
                }
            }
        }
    }
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "files": reports, "invalid": failed, "errors": errors,
            }))
            .unwrap_or_default()
        ),
        Format::Text if failed > 0 => println!(
            "{errors} error{} in {failed} of {checked} file{}",
            if errors == 1 { "" } else { "s" },
            if checked == 1 { "" } else { "s" }
        ),
        Format::Text => {}
    }
    if failed == 0 { exit::OK } else { exit::INVALID }
}
